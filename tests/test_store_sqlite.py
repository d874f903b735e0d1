"""What only the SQLite store does: its schema migrations, WAL mode and its URL."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from backend.store import StoreError, open_store
from backend.store import sqlite as sqlite_module
from backend.store.sqlite import MIGRATIONS, SQLiteStore

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def user_version(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def tables(path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_fresh_file_is_migrated_to_the_latest_schema(tmp_path):
    path = tmp_path / "nested" / "mailtick.db"
    store = SQLiteStore(path)
    assert store.schema_version() == len(MIGRATIONS) == user_version(path)
    assert {"accounts", "tokens", "messages", "link_clicks", "hits"} <= tables(path)
    store.close()


def test_reopening_keeps_the_data_and_runs_no_migration_twice(tmp_path):
    path = tmp_path / "mailtick.db"
    store = SQLiteStore(path)
    account = store.ensure_account("alice@example.com", T0)
    store.close()

    # Were the first migration run again, its CREATE TABLE would fail on the existing tables.
    again = SQLiteStore(path)
    assert again.schema_version() == len(MIGRATIONS)
    assert again.get_account(account.id).email == "alice@example.com"
    again.close()


def test_a_new_migration_is_applied_once_on_the_next_start(tmp_path, monkeypatch):
    path = tmp_path / "mailtick.db"
    SQLiteStore(path).close()
    newer = [
        *MIGRATIONS,
        "CREATE TABLE extra (id TEXT PRIMARY KEY); INSERT INTO extra VALUES ('x')",
    ]
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", newer)

    for _ in range(2):
        store = SQLiteStore(path)
        assert store.schema_version() == len(newer)
        assert store.db.execute("SELECT count(*) FROM extra").fetchone()[0] == 1
        store.close()


def test_a_failing_migration_leaves_the_previous_version(tmp_path, monkeypatch):
    path = tmp_path / "mailtick.db"
    SQLiteStore(path).close()
    broken = [*MIGRATIONS, "CREATE TABLE half (id TEXT); CREATE TABLE broken (syntax error here"]
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", broken)
    with pytest.raises(sqlite3.Error):
        SQLiteStore(path)
    assert user_version(path) == len(MIGRATIONS)
    assert "half" not in tables(path)


def test_a_database_from_a_newer_mailtick_is_refused(tmp_path):
    path = tmp_path / "mailtick.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer"):
        SQLiteStore(path)


def test_every_connection_runs_in_wal_mode(tmp_path):
    path = tmp_path / "mailtick.db"
    store = SQLiteStore(path)
    store.ensure_account("alice@example.com", T0)
    modes = [store.db.execute("PRAGMA journal_mode").fetchone()[0]]

    def other_thread():
        modes.append(store.db.execute("PRAGMA journal_mode").fetchone()[0])

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert modes == ["wal", "wal"]
    # Each connection also reads through a memory map, which this SQLite build must allow.
    assert store.db.execute("PRAGMA mmap_size").fetchone()[0] == sqlite_module.MMAP_SIZE
    # The mode is persistent in the file, so every gunicorn worker's connection shares it.
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (tmp_path / "mailtick.db-wal").exists()
    store.close()


def test_concurrent_writers_from_threads_do_not_lose_hits(tmp_path):
    from backend.store import Hit

    store = SQLiteStore(tmp_path / "mailtick.db")
    account = store.ensure_account("alice@example.com", T0)
    store.reserve(account.id, "m" * 24, T0, T0 + timedelta(days=3))

    def writer(n):
        for i in range(25):
            store.record_hits([Hit(id=f"{n}-{i}", message_id="m" * 24, kind="open", at=T0)])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.message(account.id, "m" * 24).opens == 100
    store.close()


def test_store_urls_name_relative_and_absolute_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///data/relative.db")
    absolute = open_store(f"sqlite:///{tmp_path}/absolute.db")
    assert (relative.kind, relative.path) == ("sqlite", "data/relative.db")
    assert absolute.path == f"{tmp_path}/absolute.db"
    assert (tmp_path / "data" / "relative.db").exists() and (tmp_path / "absolute.db").exists()
    relative.close()
    absolute.close()
    for bad in ("sqlite:///", "sqlite://relative.db", "postgres://db"):
        with pytest.raises(ValueError):
            open_store(bad)


def store_at_version(path, version: int):
    """A store on a file migrated only up to `version`, as an older Mailtick left it, with
    Alice and one reserved message ("m" * 24); and Alice's account."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite_module, "MIGRATIONS", MIGRATIONS[:version])
        old = SQLiteStore(path)
    assert old.schema_version() == version
    account = old.ensure_account("alice@example.com", T0)
    old.reserve(account.id, "m" * 24, T0, T0 + timedelta(days=3))
    return old, account


def test_a_v1_database_migrates_without_making_old_hits_pending(tmp_path):
    from backend.store import Hit

    path = tmp_path / "mailtick.db"
    old, account = store_at_version(path, 1)
    old.close()
    # Hits as version 1 kept them: no class, judged counted or not when recorded.
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO hits (id, message_id, kind, at, counted) VALUES (?, ?, 'open', ?, ?)",
            [
                ("h1", "m" * 24, "2026-11-02T09:30:00.000000Z", 1),
                ("h2", "m" * 24, "2026-11-02T09:31:00.000000Z", 0),
            ],
        )
        db.execute("UPDATE messages SET opens = 1 WHERE id = ?", ("m" * 24,))

    store = SQLiteStore(path)
    assert store.schema_version() == len(MIGRATIONS) >= 2
    later = T0 + timedelta(days=1)
    assert store.pending_hits(later) == []
    assert [(h.id, h.cls, h.counted) for h in store.hits(account.id, "m" * 24)] == [
        ("h1", "human", True),
        ("h2", "duplicate", False),
    ]
    message = store.message(account.id, "m" * 24)
    assert (message.opens, message.machine_opens) == (1, 0)
    assert store.get_settings(account.id) == {}
    # Hits recorded from now on are pending until classified, as on a fresh database.
    store.record_hits([Hit(id="h3", message_id="m" * 24, kind="open", at=T0, counted=False)])
    assert [h.id for h in store.pending_hits(later)] == ["h3"]
    store.close()


def test_a_v4_database_keeps_its_hits_when_they_lose_the_index_on_their_id(tmp_path):
    from dataclasses import replace

    from backend.store import Hit

    path = tmp_path / "mailtick.db"
    old, account = store_at_version(path, 4)
    hits = [
        Hit(id="b", message_id="m" * 24, kind="open", at=T0, ip="192.0.2.7", counted=False),
        Hit(id="a", message_id="m" * 24, kind="open", at=T0, headers={"Via": "1.1 google"}),
        Hit(id="c", message_id="m" * 24, kind="click", at=T0, link_index=0, url="https://x.y/"),
    ]
    old.record_hits([replace(hits[1], cls="human"), replace(hits[2], cls="human"), hits[0]])
    old.close()

    store = SQLiteStore(path)
    assert store.schema_version() == len(MIGRATIONS) >= 5
    kept = store.hits(account.id, "m" * 24)
    assert [(h.id, h.cls) for h in kept] == [("a", "human"), ("b", ""), ("c", "human")]
    assert kept[0].headers == {"Via": "1.1 google"} and kept[2].url == "https://x.y/"
    # The pending hit is still found and classified; written again, no hit is kept twice.
    [pending] = store.pending_hits(T0 + timedelta(minutes=1))
    assert store.apply_verdicts([replace(pending, cls="human", counted=True)]) != []
    store.record_hits(hits)
    assert [h.id for h in store.hits(account.id, "m" * 24)] == ["a", "b", "c"]
    message = store.message(account.id, "m" * 24)
    assert (message.opens, message.clicks) == (2, 1)
    indexes = {
        row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'hits'")
    }
    assert indexes == {"hits", "hits_message", "hits_pending", "hits_at"}
    store.close()


def test_a_verdict_finds_its_hit_through_the_index_not_a_scan(tmp_path):
    from backend.store import Hit
    from backend.store.sqlite import _stored_hit

    store = SQLiteStore(tmp_path / "plan.db")
    account = store.ensure_account("alice@example.com", T0)
    store.reserve(account.id, "m" * 24, T0, T0 + timedelta(days=3))
    hit = Hit(id="h1", message_id="m" * 24, kind="open", at=T0, counted=False)
    store.record_hits([hit])
    plans = []
    store.db.set_trace_callback(plans.append)
    assert _stored_hit(store.db, hit)["id"] == "h1"
    store.db.set_trace_callback(None)
    [query] = plans  # one look-up, by message, time and id
    plan = " | ".join(row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {query}"))
    assert "hits_message (message_id=? AND at=? AND id=?)" in plan and "SCAN" not in plan
    store.close()


def test_purge_hits_deletes_in_chunks(tmp_path, monkeypatch):
    from backend.store import Hit

    monkeypatch.setattr(sqlite_module, "PURGE_CHUNK", 3)
    store = SQLiteStore(tmp_path / "mailtick.db")
    account = store.ensure_account("alice@example.com", T0)
    store.reserve(account.id, "m" * 24, T0, T0 + timedelta(days=3))
    store.record_hits(
        [Hit(id=f"h{n}", message_id="m" * 24, kind="open", at=T0, cls="human") for n in range(7)]
    )
    assert store.purge_hits(T0 + timedelta(seconds=1)) == 7
    assert store.hits(account.id, "m" * 24) == []
    assert store.message(account.id, "m" * 24).opens == 7
    store.close()


def test_store_options_pass_through_open_store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/options.db", retention_days=7)
    assert (store.kind, store.retention_days) == ("sqlite", 7)
    store.close()
    default = open_store(f"sqlite:///{tmp_path}/default.db")
    assert default.retention_days == 90
    default.close()


def test_status_lookups_use_each_ids_own_index_not_a_scan_of_the_account(tmp_path):
    """The batch status call must not read every message of the account (it did once)."""
    from backend.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "plan.db")
    sql, params = store._status_query("id", "account", ["a" * 24, "b" * 24], ["18aa", "18bb"])
    plan = " | ".join(row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "sqlite_autoindex_messages_1 (id=?)" in plan
    assert "messages_gmail_message (account_id=? AND gmail_message_id=?)" in plan
    assert "messages_gmail_thread (account_id=? AND gmail_thread_id=?)" in plan
    assert "messages_history" not in plan and "SCAN" not in plan
    store.close()
