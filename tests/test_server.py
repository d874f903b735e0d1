"""The real thing: gunicorn serving the app, the CLI's demo against it, configuration errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from conftest import ROOT

from backend.config import Settings
from backend.store import open_store


def test_gunicorn_serves_health_pixel_and_root(live_server):
    health = requests.get(f"{live_server.url}/healthz", timeout=5)
    assert health.json() == {"status": "ok", "store": "sqlite", "version": "0.1.0"}
    pixel = requests.get(f"{live_server.url}/p/{'x' * 24}.gif", timeout=5)
    assert pixel.status_code == 200 and len(pixel.content) == 43
    assert "Set-Cookie" not in pixel.headers
    assert "gunicorn" in pixel.headers.get("Server", "")
    assert live_server.url in requests.get(live_server.url, timeout=5).text


def test_gunicorn_serves_the_status_call_ahead_of_flask_and_its_errors_behind(live_server):
    # Under gunicorn the body is a socket stream: the route must still read what was consumed.
    headers = {"Authorization": f"Bearer {live_server.token('status@example.com')}"}
    url = f"{live_server.url}/api/v1/messages/status"
    reserved = requests.post(f"{live_server.url}/api/v1/messages", headers=headers, timeout=5)
    message_id = reserved.json()["id"]
    found = requests.post(url, json={"ids": [message_id]}, headers=headers, timeout=5)
    assert found.status_code == 200
    assert [status["state"] for status in found.json()["statuses"]] == ["reserved"]
    garbled = requests.post(
        url,
        data='{"ids": [',
        headers={**headers, "Content-Type": "application/json"},
        timeout=5,
    )
    assert garbled.status_code == 400 and garbled.json()["error"]["code"] == "malformed_json"
    unknown = requests.post(url, json={"idz": [message_id]}, headers=headers, timeout=5)
    assert unknown.status_code == 400 and "idz" in unknown.json()["error"]["message"]


def test_demo_walks_a_message_to_opened(live_server):
    token = live_server.token("demo@example.com")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "demo",
            "--server",
            live_server.url,
            "--token",
            token,
        ],
        cwd=ROOT,
        env=live_server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "tracked, not opened yet" in result.stdout
    assert lines[-1].strip().startswith("Gmail shows: ✓✓ opened 1 time, 1 click")
    assert "redirected 302 to https://example.com/pricing?plan=team" in result.stdout


def test_demo_says_clearly_when_the_server_is_not_there(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "demo",
            "--server",
            "http://127.0.0.1:9",
            "--token",
            "mt_x",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "MAILTICK_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "http://127.0.0.1:9" in result.stderr + result.stdout


@pytest.mark.parametrize(
    "env, words",
    [
        ({"MAILTICK_STORE": "postgres://db"}, "sqlite:///PATH or firestore://PROJECT"),
        ({"MAILTICK_BASE_URL": "mailtick.example.com"}, "must start with http"),
        ({"MAILTICK_TRUSTED_PROXIES": "not-a-network"}, "not an address or network"),
    ],
)
def test_configuration_mistakes_are_named(tmp_path, env, words):
    with pytest.raises(ValueError, match=words):
        settings = Settings.from_env({"MAILTICK_DATA_DIR": str(tmp_path), **env})
        open_store(settings.store_url)


def test_default_store_is_sqlite_in_the_data_folder(tmp_path):
    settings = Settings.from_env({"MAILTICK_DATA_DIR": str(tmp_path)})
    assert settings.store_url == f"sqlite:///{tmp_path / 'mailtick.db'}"
    assert settings.base_url == "http://127.0.0.1:8080"
    assert settings.trusted_proxies == ()


def test_store_urls_follow_sqlalchemy_convention(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel/x.db")
    absolute = open_store(f"sqlite:///{tmp_path}/abs/y.db")
    assert relative.path == "rel/x.db" and (tmp_path / "rel" / "x.db").exists()
    assert (tmp_path / "abs" / "y.db").exists()
    relative.close()
    absolute.close()


def test_purge_drops_stale_reservations_and_expired_hits(tmp_path, monkeypatch, capsys):
    from datetime import timedelta

    from backend.cli import main
    from backend.store import Hit, utcnow

    monkeypatch.setenv("MAILTICK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MAILTICK_RETENTION_DAYS", "30")
    store = open_store(Settings.from_env().store_url)
    account = store.ensure_account("a@example.com", utcnow())
    long_ago = utcnow() - timedelta(days=40)
    store.reserve(account.id, "S" * 24, long_ago, long_ago + timedelta(days=3))
    store.reserve(account.id, "K" * 24, long_ago, long_ago + timedelta(days=3))
    store.complete(account.id, "K" * 24, {"subject": "kept", "sent_at": long_ago})
    store.record_hits([Hit(id="old", message_id="K" * 24, kind="open", at=long_ago, cls="human")])
    assert main(["purge"]) == 0
    out = capsys.readouterr().out
    assert "Dropped 1 reservation(s)" in out and "1 raw hit(s) older than 30 days" in out
    kept = store.message(account.id, "K" * 24)
    assert kept.opens == 1 and store.hits(account.id, "K" * 24) == []
    assert store.message(account.id, "S" * 24) is None
    store.close()


def test_serve_upgrades_the_sqlite_schema_before_gunicorn_starts_workers(
    tmp_path, monkeypatch, caplog
):
    """A migration that rebuilds a large table must not run inside a booting worker, which
    gunicorn kills after its timeout while the other workers wait for the lock."""
    import sqlite3

    from gunicorn.app.base import BaseApplication

    from backend.cli import main
    from backend.store import sqlite as sqlite_module

    path = tmp_path / "mailtick.db"
    full = sqlite_module.MIGRATIONS
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", full[:4])
    sqlite_module.SQLiteStore(path).close()
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", full)

    seen = []

    def run(app):  # where gunicorn would fork its workers
        with sqlite3.connect(path) as db:
            seen.append(db.execute("PRAGMA user_version").fetchone()[0])

    monkeypatch.setattr(BaseApplication, "run", run)
    monkeypatch.setenv("MAILTICK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MAILTICK_STORE", raising=False)
    with caplog.at_level("INFO", logger="backend.store.sqlite"):
        assert main(["serve", "--port", "0"]) == 0
    assert seen == [len(full)]
    assert f"from version 4 to {len(full)}" in caplog.text
