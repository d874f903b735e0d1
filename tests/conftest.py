"""Shared fixtures: an app on a fresh SQLite store, a client, tokens, and a real gunicorn server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from backend import create_app
from backend.auth import issue_token
from backend.store import utcnow
from backend.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "http://mailtick.test"


@pytest.fixture
def settings(tmp_path):
    """Settings for an app on its own SQLite file; tests copy and change them, never mutate."""
    from backend.config import Settings

    return Settings(data_dir=tmp_path, base_url=BASE_URL, testing=True, background_interval=0)


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    app.extensions["mailtick.background"].stop()
    app.extensions["mailtick.spool"].stop()
    app.extensions["mailtick.store"].close()


@pytest.fixture
def settle(app):
    """Classify every recorded hit now, as the background pass does once hits have settled."""

    def run(after: timedelta = timedelta(minutes=1)):
        app.extensions["mailtick.spool"].drain()
        return app.extensions["mailtick.background"].run_once(utcnow() + after)

    return run


@pytest.fixture
def flush(app):
    """Write spooled hits to the store now, as the spool's thread does within 0.25 s."""
    return app.extensions["mailtick.spool"].drain


@pytest.fixture
def store(app):
    return app.extensions["mailtick.store"]


@pytest.fixture
def client(app):
    return app.test_client()


class Users:
    """Make accounts and their bearer headers."""

    def __init__(self, store):
        self.store = store

    def token(self, email: str = "sender@example.com") -> str:
        account = self.store.ensure_account(email, utcnow())
        return issue_token(self.store, account)

    def headers(self, email: str = "sender@example.com") -> dict:
        return {"Authorization": f"Bearer {self.token(email)}"}


@pytest.fixture
def users(store):
    return Users(store)


@pytest.fixture
def auth(users):
    """Bearer headers for the default sender."""
    return users.headers()


@pytest.fixture
def sent_message(client, auth):
    """Reserve and complete a message with two links; returns its API representation."""

    def make(
        subject="Quarterly numbers",
        to=("alice@example.com",),
        links=None,
        headers=None,
        sent_at=None,
    ):
        headers = headers or auth
        # Sent an hour ago by default: recipients' hits in a test come well after delivery.
        sent_at = sent_at or utcnow() - timedelta(hours=1)
        reserved = client.post("/api/v1/messages", json={}, headers=headers).get_json()
        body = {
            "subject": subject,
            "recipients": {"to": list(to), "cc": [], "bcc": []},
            "links": list(
                links
                if links is not None
                else ["https://example.com/report?q=1&x=2", "http://example.org/path?a=1&b=%2F#top"]
            ),
            "sent_at": sent_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        response = client.patch(f"/api/v1/messages/{reserved['id']}", json=body, headers=headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The real backend under gunicorn, on 127.0.0.1, with its own SQLite store."""

    def __init__(self, data_dir: Path, port: int | None = None, workers: int = 1, extra_env=None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None
        self.log_path = data_dir / "server.log"
        self._store: SQLiteStore | None = None

    @property
    def env(self) -> dict:
        env = {
            **os.environ,
            "MAILTICK_DATA_DIR": str(self.data_dir),
            "MAILTICK_BASE_URL": self.url,
            "MAILTICK_STORE": f"sqlite:///{self.data_dir / 'mailtick.db'}",
            **self.extra_env,
        }
        env.pop("FIRESTORE_EMULATOR_HOST", None)
        return env

    def start(self) -> None:
        with open(self.log_path, "a") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "backend.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--threads",
                    "8",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    @property
    def store(self) -> SQLiteStore:
        if self._store is None:
            self._store = SQLiteStore(self.data_dir / "mailtick.db")
        return self._store

    def token(self, email: str = "sender@example.com") -> str:
        return Users(self.store).token(email)

    def hit_pixel(
        self,
        pixel_url: str,
        user_agent: str = "Mozilla/5.0 (X11; Linux x86_64)"
        " AppleWebKit/537.36 (KHTML, like Gecko) Thunderbird/128.0",
    ) -> requests.Response:
        return requests.get(pixel_url, headers={"User-Agent": user_agent}, timeout=10)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("live"))
    server.start()
    yield server
    server.stop()
    if server._store:
        server._store.close()
