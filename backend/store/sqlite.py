"""The embedded store: one SQLite file in WAL mode, shared by every gunicorn worker."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import orjson

from ..classify import MACHINE_OPEN_CLASSES
from . import (
    DEFAULT_RETENTION_DAYS,
    Account,
    Activity,
    Hit,
    Message,
    PushSubscription,
    Reminder,
    Reply,
    Status,
    Store,
    StoreError,
    decode_cursor,
    encode_cursor,
    iso,
    parse_iso,
)

log = logging.getLogger(__name__)

# Each entry moves the schema one version up; applied in order at start, never edited.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        label TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    );
    CREATE INDEX tokens_account ON tokens(account_id);
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        subject TEXT NOT NULL DEFAULT '',
        recipients TEXT NOT NULL DEFAULT '{"to": [], "cc": [], "bcc": []}',
        links TEXT NOT NULL DEFAULT '[]',
        sent_at TEXT,
        gmail_message_id TEXT,
        gmail_thread_id TEXT,
        opens INTEGER NOT NULL DEFAULT 0,
        first_open_at TEXT,
        last_open_at TEXT,
        clicks INTEGER NOT NULL DEFAULT 0,
        search TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX messages_history ON messages(account_id, sent_at DESC, id DESC);
    CREATE INDEX messages_gmail_message ON messages(account_id, gmail_message_id);
    CREATE INDEX messages_gmail_thread ON messages(account_id, gmail_thread_id);
    CREATE INDEX messages_reserved ON messages(expires_at) WHERE sent_at IS NULL;
    CREATE TABLE link_clicks (
        message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        link_index INTEGER NOT NULL,
        clicks INTEGER NOT NULL,
        PRIMARY KEY (message_id, link_index)
    ) WITHOUT ROWID;
    CREATE TABLE hits (
        id TEXT PRIMARY KEY,
        message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        ip TEXT NOT NULL DEFAULT '',
        user_agent TEXT NOT NULL DEFAULT '',
        method TEXT NOT NULL DEFAULT 'GET',
        link_index INTEGER,
        url TEXT,
        headers TEXT NOT NULL DEFAULT '{}',
        counted INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX hits_message ON hits(message_id, at);
    """,
    # Hits are classified in the background: unclassified ones (cls = '') are pending.
    # Hits from before classification existed were judged when recorded, so they get a class
    # that says so instead of becoming pending (and being counted a second time).
    """
    ALTER TABLE hits ADD COLUMN cls TEXT NOT NULL DEFAULT '';
    ALTER TABLE hits ADD COLUMN client TEXT NOT NULL DEFAULT '';
    ALTER TABLE hits ADD COLUMN device TEXT NOT NULL DEFAULT '';
    UPDATE hits SET cls = CASE WHEN counted THEN 'human' ELSE 'duplicate' END;
    CREATE INDEX hits_pending ON hits(at) WHERE cls = '';
    CREATE INDEX hits_at ON hits(at);
    ALTER TABLE messages ADD COLUMN machine_opens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
    """,
    # 3: notifications (issue 5). The activity feed: `seq` is AUTOINCREMENT, so positions only
    # grow and are never reused, and SQLite's single writer commits them in order.
    """
    CREATE TABLE activity (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        day TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        recipients TEXT NOT NULL DEFAULT '{"to": [], "cc": [], "bcc": []}',
        link_index INTEGER,
        url TEXT,
        cls TEXT NOT NULL DEFAULT '',
        client TEXT NOT NULL DEFAULT '',
        device TEXT NOT NULL DEFAULT '',
        gmail_message_id TEXT,
        gmail_thread_id TEXT,
        first INTEGER NOT NULL DEFAULT 0,
        count_today INTEGER NOT NULL DEFAULT 0,
        notify INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX activity_feed ON activity(account_id, seq);
    CREATE INDEX activity_message ON activity(message_id, kind, day);
    CREATE INDEX activity_at ON activity(account_id, at);
    CREATE INDEX activity_purge ON activity(at);
    CREATE TABLE push_subscriptions (
        endpoint TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        p256dh TEXT NOT NULL,
        auth TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX push_subscriptions_account ON push_subscriptions(account_id, created_at);
    CREATE TABLE marks (
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (account_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE server_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE accounts ADD COLUMN credentials TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE accounts ADD COLUMN activity_head INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: insights (issue 7). Replies seen in tracked threads, and one follow-up reminder per
    # message; both go with their message. `replies` is keyed by the reply's own Gmail id, so
    # reporting a reply twice keeps it once.
    """
    CREATE TABLE replies (
        message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        gmail_message_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        sender TEXT NOT NULL,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (message_id, gmail_message_id)
    ) WITHOUT ROWID;
    CREATE INDEX replies_account ON replies(account_id, at);
    CREATE TABLE reminders (
        message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
        account_id TEXT NOT NULL,
        due_at TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        fired_at TEXT,
        acked_at TEXT,
        cancelled_at TEXT,
        cancel_reason TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX reminders_scheduled ON reminders(due_at) WHERE status = 'scheduled';
    CREATE INDEX reminders_account ON reminders(account_id, status, due_at);
    """,
    # 5: hits without an index on their random id alone. Every hit the spool writes went into
    # that index at a random place, dirtying a page of its own in each batch: a third of the
    # cost of storing a hit. Uniqueness now lives in the index by message and time, which the
    # classifier's reads need anyway; a hit written twice has the same message, time and id,
    # so it is still kept once. SQLite cannot drop a primary key, so the table is rebuilt,
    # keeping each row's rowid (and so the order the purge and the tests see).
    """
    CREATE TABLE hits_new (
        id TEXT NOT NULL,
        message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        ip TEXT NOT NULL DEFAULT '',
        user_agent TEXT NOT NULL DEFAULT '',
        method TEXT NOT NULL DEFAULT 'GET',
        link_index INTEGER,
        url TEXT,
        headers TEXT NOT NULL DEFAULT '{}',
        counted INTEGER NOT NULL DEFAULT 1,
        cls TEXT NOT NULL DEFAULT '',
        client TEXT NOT NULL DEFAULT '',
        device TEXT NOT NULL DEFAULT ''
    );
    INSERT INTO hits_new (rowid, id, message_id, kind, at, ip, user_agent, method, link_index, url,
        headers, counted, cls, client, device)
        SELECT rowid, id, message_id, kind, at, ip, user_agent, method, link_index, url, headers,
        counted, cls, client, device FROM hits ORDER BY rowid;
    DROP TABLE hits;
    ALTER TABLE hits_new RENAME TO hits;
    CREATE UNIQUE INDEX hits_message ON hits(message_id, at, id);
    CREATE INDEX hits_pending ON hits(at) WHERE cls = '';
    CREATE INDEX hits_at ON hits(at);
    """,
]

# How much of the database file connections read through a memory map (SQLite reads the rest).
MMAP_SIZE = 256 * 1024 * 1024

# purge_hits deletes this many hits per transaction, so hit writes never wait long on it.
PURGE_CHUNK = 5000


def _search_text(subject: str, recipients: dict) -> str:
    parts = [
        subject,
        *recipients.get("to", []),
        *recipients.get("cc", []),
        *recipients.get("bcc", []),
    ]
    return "\n".join(parts).lower()


class SQLiteStore(Store):
    kind = "sqlite"

    def __init__(self, path: str | Path, *, retention_days: int = DEFAULT_RETENTION_DAYS):
        """Open (and migrate) the database file; `retention_days` is accepted for symmetry
        with Firestore only: here raw hits go when purge_hits() is called."""
        self.path = str(path)
        self.retention_days = retention_days
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    @classmethod
    def from_url(cls, url: str, **options) -> SQLiteStore:
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ValueError(
                f"a SQLite store URL looks like sqlite:///path/to/file.db, got {url!r}"
            )
        # As in SQLAlchemy: sqlite:///relative/path.db, sqlite:////absolute/path.db
        return cls(url[len(prefix) :], **options)

    # Connections: one per thread, because sqlite3 connections must not be shared.
    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                # check_same_thread=False only so close() may close every thread's connection.
                conn = sqlite3.connect(
                    self.path, timeout=10, isolation_level=None, check_same_thread=False
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a crash of the process; only power loss can undo the
            # last commits, which is the trade every embedded WAL deployment makes.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            # Checkpoint (and so fsync the database) every ~16 MB of WAL instead of ~4 MB: the
            # spool writes in batches, and a checkpoint stalls the writer that triggers it.
            conn.execute("PRAGMA wal_autocheckpoint=4000")
            # Read the file through one shared memory map instead of copying pages into each
            # connection's own cache: every gunicorn worker's threads and spool hold a
            # connection, and each commit by one of them sends the others back to the file for
            # their pages; through the map that costs a pointer, not a read() and a copy.
            # Measured in docs/performance.md.
            conn.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _migrate(self) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                # Written by a newer Mailtick: guessing at its schema could corrupt it.
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this Mailtick"
                    f" understands ({len(MIGRATIONS)}); upgrade Mailtick to open it"
                )
            if 0 < version < len(MIGRATIONS):
                log.info(
                    "upgrading the schema of %s from version %d to %d; a large file takes a"
                    " while (about 10 s for a million hits)",
                    self.path,
                    version,
                    len(MIGRATIONS),
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _run(self, fn, *, write: bool = False):
        """Run fn(db) in a transaction, turning SQLite's failures into StoreError."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {exc}") from exc

    def ping(self) -> None:
        try:
            self.db.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # Accounts and tokens.
    def ensure_account(self, email: str, now: datetime) -> Account:
        email = email.strip().lower()

        def run(db):
            row = db.execute("SELECT * FROM accounts WHERE email = ?", (email,)).fetchone()
            if row is None:
                account_id = secrets.token_urlsafe(12)
                db.execute(
                    "INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)",
                    (account_id, email, iso(now)),
                )
                return Account(account_id, email, now)
            return _account(row)

        return self._run(run, write=True)

    def get_account(self, account_id: str) -> Account | None:
        row = self._run(
            lambda db: db.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        )
        return _account(row) if row else None

    def delete_account(self, account_id: str) -> None:
        self._run(
            lambda db: db.execute("DELETE FROM accounts WHERE id = ?", (account_id,)), write=True
        )

    def add_token(self, account_id: str, token_hash: str, now: datetime, label: str = "") -> None:
        self._run(
            lambda db: db.execute(
                "INSERT INTO tokens (hash, account_id, label, created_at) VALUES (?, ?, ?, ?)",
                (token_hash, account_id, label, iso(now)),
            ),
            write=True,
        )

    def account_for_token(self, token_hash: str) -> Account | None:
        # Every API call asks this. One SELECT is atomic by itself, so it runs without the
        # BEGIN and COMMIT that _run adds (two statements fewer per call).
        try:
            rows = self.db.execute(
                "SELECT accounts.* FROM tokens JOIN accounts ON accounts.id = tokens.account_id"
                " WHERE tokens.hash = ?",
                (token_hash,),
            ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {exc}") from exc
        return _account(rows[0]) if rows else None

    def revoke_token(self, token_hash: str) -> bool:
        cur = self._run(
            lambda db: db.execute("DELETE FROM tokens WHERE hash = ?", (token_hash,)), write=True
        )
        return cur.rowcount > 0

    # Messages.
    def reserve(
        self, account_id: str, message_id: str, now: datetime, expires_at: datetime
    ) -> None:
        self._run(
            lambda db: db.execute(
                "INSERT INTO messages (id, account_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (message_id, account_id, iso(now), iso(expires_at)),
            ),
            write=True,
        )

    def complete(self, account_id: str, message_id: str, changes: dict) -> Message | None:
        def run(db):
            row = db.execute(
                "SELECT * FROM messages WHERE id = ? AND account_id = ?", (message_id, account_id)
            ).fetchone()
            if row is None:
                return None
            recipients = json.loads(row["recipients"])
            for key in ("to", "cc", "bcc"):
                if key in changes:
                    recipients[key] = list(changes[key])
            subject = changes.get("subject", row["subject"])
            sent_at = iso(changes["sent_at"]) if "sent_at" in changes else row["sent_at"]
            db.execute(
                "UPDATE messages SET subject = ?, recipients = ?, links = ?, sent_at = ?,"
                " gmail_message_id = ?, gmail_thread_id = ?, search = ?,"
                " expires_at = CASE WHEN ? IS NULL THEN expires_at ELSE NULL END"
                " WHERE id = ?",
                (
                    subject,
                    json.dumps(recipients),
                    json.dumps(changes["links"]) if "links" in changes else row["links"],
                    sent_at,
                    changes.get("gmail_message_id", row["gmail_message_id"]),
                    changes.get("gmail_thread_id", row["gmail_thread_id"]),
                    _search_text(subject, recipients),
                    sent_at,
                    message_id,
                ),
            )
            return self._load(db, message_id)

        return self._run(run, write=True)

    def _load(self, db, message_id: str) -> Message | None:
        row = db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return None
        return self._attach_clicks(db, [_message(row)])[0]

    def _attach_clicks(self, db, messages: list[Message]) -> list[Message]:
        clicked = [m for m in messages if m.clicks]
        if clicked:
            by_id = {m.id: m for m in clicked}
            marks = ",".join("?" * len(by_id))
            for row in db.execute(
                f"SELECT * FROM link_clicks WHERE message_id IN ({marks})",  # noqa: S608 - only ? marks
                list(by_id),
            ):
                by_id[row["message_id"]].link_clicks[row["link_index"]] = row["clicks"]
        return messages

    def message(self, account_id: str, message_id: str) -> Message | None:
        def run(db):
            found = self._load(db, message_id)
            return found if found and found.account_id == account_id else None

        return self._run(run)

    def link_target(self, message_id: str, index: int) -> str | None:
        row = self._run(
            lambda db: db.execute(
                "SELECT links FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        )
        if row is None:
            return None
        links = json.loads(row["links"])
        return links[index] if 0 <= index < len(links) else None

    def messages(
        self, account_id: str, limit: int, cursor: str | None = None, query: str = ""
    ) -> tuple[list[Message], str | None]:
        sql = "SELECT * FROM messages WHERE account_id = ? AND sent_at IS NOT NULL"
        params: list = [account_id]
        if cursor:
            sent_at, last_id = decode_cursor(cursor)
            sql += " AND (sent_at < ? OR (sent_at = ? AND id < ?))"
            params += [sent_at, sent_at, last_id]
        if query:
            escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            sql += " AND search LIKE ? ESCAPE '\\'"
            params.append(f"%{escaped}%")
        sql += " ORDER BY sent_at DESC, id DESC LIMIT ?"
        params.append(limit + 1)

        def run(db):
            rows = db.execute(sql, params).fetchall()
            return self._attach_clicks(db, [_message(row) for row in rows[:limit]]), len(
                rows
            ) > limit

        page, more = self._run(run)
        next_cursor = encode_cursor(iso(page[-1].sent_at), page[-1].id) if more and page else None
        return page, next_cursor

    def _status_query(self, columns: str, account_id, ids, gmail_ids):
        """One query per kind of id, each on its own index, joined with UNION.

        Written as one WHERE with ORs, SQLite picked the account's index and read every message
        of the account on each call, however many it had.
        """
        ids, gmail_ids = list(dict.fromkeys(ids)), list(dict.fromkeys(gmail_ids))
        parts, params = [], []
        if ids:
            # `+account_id` keeps the planner on the primary key; the owner is still checked.
            marks = ",".join("?" * len(ids))
            parts.append(
                f"SELECT {columns} FROM messages WHERE id IN ({marks}) AND +account_id = ?"  # noqa: S608
            )
            params += [*ids, account_id]
        if gmail_ids:
            marks = ",".join("?" * len(gmail_ids))
            for column in ("gmail_message_id", "gmail_thread_id"):
                parts.append(
                    f"SELECT {columns} FROM messages"  # noqa: S608 - fixed names and ? marks only
                    f" WHERE account_id = ? AND {column} IN ({marks})"
                )
                params += [account_id, *gmail_ids]
        if not parts:
            return None, []
        return " UNION ".join(parts), params

    def statuses(
        self, account_id: str, ids: Sequence[str], gmail_ids: Sequence[str]
    ) -> list[Message]:
        sql, params = self._status_query("*", account_id, ids, gmail_ids)
        if sql is None:
            return []

        def run(db):
            return self._attach_clicks(db, [_message(row) for row in db.execute(sql, params)])

        return self._run(run)

    def states(self, account_id: str, ids: Sequence[str], gmail_ids: Sequence[str]) -> list[Status]:
        # The check marks of a whole Sent page in one read of eight columns: no recipients,
        # links or per-link clicks to decode, and the times handed on as the text iso() stored.
        columns = (
            "id, gmail_message_id, gmail_thread_id, opens, first_open_at, last_open_at, clicks,"
            " machine_opens"
        )
        sql, params = self._status_query(
            f"{columns}, sent_at IS NOT NULL AS completed", account_id, ids, gmail_ids
        )
        if sql is None:
            return []
        # Folded into one JSON row: sqlite3 lets go of the GIL and takes it back around every
        # row it steps to, and with the worker's other threads waiting for it each row was a
        # thread switch. One row, one switch (measured in docs/performance.md).
        packed = f"SELECT json_group_array(json_array({columns}, completed)) FROM ({sql})"  # noqa: S608
        try:
            [(rows,)] = self.db.execute(packed, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {exc}") from exc
        return [Status(*row[:8], bool(row[8])) for row in orjson.loads(rows)]

    def delete_message(self, account_id: str, message_id: str) -> bool:
        cur = self._run(
            lambda db: db.execute(
                "DELETE FROM messages WHERE id = ? AND account_id = ?", (message_id, account_id)
            ),
            write=True,
        )
        return cur.rowcount > 0

    def purge_reservations(self, now: datetime) -> int:
        cur = self._run(
            lambda db: db.execute(
                "DELETE FROM messages WHERE sent_at IS NULL AND expires_at < ?", (iso(now),)
            ),
            write=True,
        )
        return cur.rowcount

    # Hits.
    def record_hits(self, hits: Sequence[Hit]) -> None:
        def run(db):
            for hit in hits:
                cur = db.execute(
                    "INSERT OR IGNORE INTO hits (id, message_id, kind, at, ip, user_agent, method,"
                    " link_index, url, headers, counted, cls, client, device)"
                    " SELECT ?, id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM messages WHERE id = ?",
                    (
                        hit.id,
                        hit.kind,
                        iso(hit.at),
                        hit.ip,
                        hit.user_agent,
                        hit.method,
                        hit.link_index,
                        hit.url,
                        orjson.dumps(hit.headers).decode(),
                        int(hit.counted),
                        hit.cls,
                        hit.client,
                        hit.device,
                        hit.message_id,
                    ),
                )
                if cur.rowcount != 1:
                    continue  # already recorded, or unknown message
                _count(db, hit.message_id, hit.kind, hit.at, hit.link_index, hit.counted, hit.cls)

        self._run(run, write=True)

    def hits(self, account_id: str, message_id: str) -> list[Hit]:
        rows = self._run(
            lambda db: db.execute(
                "SELECT hits.* FROM hits JOIN messages ON messages.id = hits.message_id"
                " WHERE hits.message_id = ? AND messages.account_id = ? ORDER BY hits.at, hits.id",
                (message_id, account_id),
            ).fetchall()
        )
        return [_hit(row) for row in rows]

    def pending_hits(self, before: datetime, limit: int = 500) -> list[Hit]:
        # The literal cls = '' (not a parameter) is what lets SQLite use the partial index,
        # which holds only the few hits waiting for the classifier.
        rows = self._run(
            lambda db: db.execute(
                "SELECT * FROM hits INDEXED BY hits_pending WHERE cls = '' AND at <= ?"
                " ORDER BY at, id LIMIT ?",
                (iso(before), limit),
            ).fetchall()
        )
        return [_hit(row) for row in rows]

    def message_by_id(self, message_id: str) -> Message | None:
        return self._run(lambda db: self._load(db, message_id))

    def hits_between(self, message_id: str, start: datetime, end: datetime) -> list[Hit]:
        rows = self._run(
            lambda db: db.execute(
                "SELECT * FROM hits WHERE message_id = ? AND at >= ? AND at <= ? ORDER BY at, id",
                (message_id, iso(start), iso(end)),
            ).fetchall()
        )
        return [_hit(row) for row in rows]

    def apply_verdicts(self, hits: Sequence[Hit]) -> list[Hit]:
        _check_verdicts(hits)

        def run(db):
            applied = []
            for hit in hits:
                row = _stored_hit(db, hit)
                # One write transaction: a hit another worker classified first, or one listed
                # twice here, no longer has cls = '' and is left alone.
                if row is None or row["cls"]:
                    continue  # classified already, or gone with its message or the purge
                db.execute(
                    "UPDATE hits SET cls = ?, counted = ?, client = ?, device = ?, ip = ?"
                    " WHERE rowid = ?",
                    (hit.cls, int(hit.counted), hit.client, hit.device, hit.ip, row["rowid"]),
                )
                _count(
                    db,
                    row["message_id"],
                    row["kind"],
                    parse_iso(row["at"]),
                    row["link_index"],
                    hit.counted and not row["counted"],
                    hit.cls,
                )
                applied.append(hit)
            return applied

        return self._run(run, write=True)

    def purge_hits(self, before: datetime) -> int:
        purged = 0
        while True:
            # In chunks, each its own short transaction, so the pixel's writes never queue
            # behind one long delete.
            cur = self._run(
                lambda db: db.execute(
                    "DELETE FROM hits WHERE rowid IN"
                    " (SELECT rowid FROM hits INDEXED BY hits_at WHERE at < ? LIMIT ?)",
                    (iso(before), PURGE_CHUNK),
                ),
                write=True,
            )
            purged += cur.rowcount
            if cur.rowcount < PURGE_CHUNK:
                return purged

    # Settings.
    def get_settings(self, account_id: str) -> dict:
        row = self._run(
            lambda db: db.execute(
                "SELECT settings FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
        )
        return json.loads(row["settings"]) if row else {}

    def put_settings(self, account_id: str, changes: dict) -> dict:
        def run(db):
            row = db.execute("SELECT settings FROM accounts WHERE id = ?", (account_id,)).fetchone()
            if row is None:
                raise StoreError(f"SQLite: put settings: no account {account_id}")
            merged = {**json.loads(row["settings"]), **changes}
            db.execute(
                "UPDATE accounts SET settings = ? WHERE id = ?", (json.dumps(merged), account_id)
            )
            return merged

        return self._run(run, write=True)

    # --- Notifications (issue 5): activity feed, push subscriptions, marks, secrets. ---------

    def append_activity(
        self, account_id: str, items: Sequence[Activity], decide: Callable[[Activity], bool]
    ) -> list[Activity]:
        def run(db):
            added = []
            for item in items:
                if db.execute("SELECT 1 FROM activity WHERE id = ?", (item.id,)).fetchone():
                    continue  # added before: a retry
                item = replace(item, account_id=account_id)
                if item.kind == "clicked":
                    same = db.execute(
                        "SELECT count(*) AS n, sum(day = ?) AS today FROM activity"
                        " WHERE message_id = ? AND kind = 'clicked' AND link_index IS ?",
                        (item.day, item.message_id, item.link_index),
                    ).fetchone()
                else:
                    same = db.execute(
                        "SELECT count(*) AS n, sum(day = ?) AS today FROM activity"
                        " WHERE message_id = ? AND kind IN ('opened', 'reopened')",
                        (item.day, item.message_id),
                    ).fetchone()
                    item.kind = "reopened" if same["n"] else "opened"
                item.first = not same["n"]
                item.count_today = (same["today"] or 0) + 1
                item.notify = bool(decide(item))
                cur = db.execute(
                    "INSERT INTO activity (id, account_id, message_id, kind, at, day, subject,"
                    " recipients, link_index, url, cls, client, device, gmail_message_id,"
                    " gmail_thread_id, first, count_today, notify)"
                    " SELECT ?, ?, id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM messages"
                    " WHERE id = ? AND account_id = ?",
                    (
                        item.id,
                        account_id,
                        item.kind,
                        iso(item.at),
                        item.day,
                        item.subject,
                        json.dumps({"to": item.to, "cc": item.cc, "bcc": item.bcc}),
                        item.link_index,
                        item.url,
                        item.cls,
                        item.client,
                        item.device,
                        item.gmail_message_id,
                        item.gmail_thread_id,
                        int(item.first),
                        item.count_today,
                        int(item.notify),
                        item.message_id,
                        account_id,
                    ),
                )
                if cur.rowcount != 1:
                    continue  # the message is gone, or not this account's
                item.seq = cur.lastrowid
                added.append(item)
            if added:
                # Kept apart from the items, so that a purge cannot take the position back.
                db.execute(
                    "UPDATE accounts SET activity_head = ? WHERE id = ?",
                    (added[-1].seq, account_id),
                )
            return added

        return self._run(run, write=True)

    def activity(self, account_id: str, after: int | None, limit: int) -> list[Activity]:
        if after is None:
            sql = "SELECT * FROM activity WHERE account_id = ? ORDER BY seq DESC LIMIT ?"
            params: tuple = (account_id, limit)
        else:
            sql = "SELECT * FROM activity WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT ?"
            params = (account_id, after, limit)
        rows = self._run(lambda db: db.execute(sql, params).fetchall())
        return sorted((_activity(row) for row in rows), key=lambda item: item.seq)

    def activity_head(self, account_id: str) -> int:
        row = self._run(
            lambda db: db.execute(
                "SELECT activity_head FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
        )
        return row["activity_head"] if row else 0

    def activity_between(
        self, account_id: str, start: datetime, end: datetime, limit: int = 1000
    ) -> list[Activity]:
        rows = self._run(
            lambda db: db.execute(
                "SELECT * FROM activity WHERE account_id = ? AND at >= ? AND at < ?"
                " ORDER BY at, seq LIMIT ?",
                (account_id, iso(start), iso(end), limit),
            ).fetchall()
        )
        return [_activity(row) for row in rows]

    def purge_activity(self, before: datetime) -> int:
        cur = self._run(
            lambda db: db.execute("DELETE FROM activity WHERE at < ?", (iso(before),)),
            write=True,
        )
        return cur.rowcount

    def add_push_subscription(
        self, account_id: str, endpoint: str, p256dh: str, auth: str, now: datetime
    ) -> None:
        def run(db):
            if not db.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone():
                raise StoreError(f"SQLite: add push subscription: no account {account_id}")
            db.execute(
                "INSERT INTO push_subscriptions (endpoint, account_id, p256dh, auth, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET"
                " account_id = excluded.account_id, p256dh = excluded.p256dh,"
                " auth = excluded.auth, created_at = excluded.created_at",
                (endpoint, account_id, p256dh, auth, iso(now)),
            )

        self._run(run, write=True)

    def push_subscriptions(self, account_id: str) -> list[PushSubscription]:
        rows = self._run(
            lambda db: db.execute(
                "SELECT * FROM push_subscriptions WHERE account_id = ?"
                " ORDER BY created_at, endpoint",
                (account_id,),
            ).fetchall()
        )
        return [
            PushSubscription(
                row["account_id"],
                row["endpoint"],
                row["p256dh"],
                row["auth"],
                parse_iso(row["created_at"]),
            )
            for row in rows
        ]

    def remove_push_subscription(self, endpoint: str, account_id: str | None = None) -> bool:
        if account_id is None:
            sql, params = "DELETE FROM push_subscriptions WHERE endpoint = ?", (endpoint,)
        else:
            sql = "DELETE FROM push_subscriptions WHERE endpoint = ? AND account_id = ?"
            params = (endpoint, account_id)
        return self._run(lambda db: db.execute(sql, params), write=True).rowcount > 0

    def claim_mark(self, account_id: str, key: str, now: datetime) -> bool:
        cur = self._run(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO marks (account_id, key, created_at)"
                " SELECT id, ?, ? FROM accounts WHERE id = ?",
                (key, iso(now), account_id),
            ),
            write=True,
        )
        return cur.rowcount == 1

    def release_mark(self, account_id: str, key: str) -> None:
        self._run(
            lambda db: db.execute(
                "DELETE FROM marks WHERE account_id = ? AND key = ?", (account_id, key)
            ),
            write=True,
        )

    def server_secret(self, name: str, value: str) -> str:
        def run(db):
            db.execute(
                "INSERT OR IGNORE INTO server_secrets (name, value) VALUES (?, ?)", (name, value)
            )
            return db.execute(
                "SELECT value FROM server_secrets WHERE name = ?", (name,)
            ).fetchone()["value"]

        return self._run(run, write=True)

    def put_credential(self, account_id: str, name: str, value: str | None) -> None:
        def run(db):
            row = db.execute(
                "SELECT credentials FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
            if row is None:
                raise StoreError(f"SQLite: put credential: no account {account_id}")
            credentials = json.loads(row["credentials"])
            if value is None:
                credentials.pop(name, None)
            else:
                credentials[name] = value
            db.execute(
                "UPDATE accounts SET credentials = ? WHERE id = ?",
                (json.dumps(credentials), account_id),
            )

        self._run(run, write=True)

    def credential(self, account_id: str, name: str) -> str | None:
        row = self._run(
            lambda db: db.execute(
                "SELECT credentials FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
        )
        return json.loads(row["credentials"]).get(name) if row else None

    def accounts_with_setting(self, name: str, value) -> list[Account]:
        rows = self._run(
            lambda db: db.execute(
                "SELECT id, email, created_at, settings FROM accounts ORDER BY created_at, id"
            ).fetchall()
        )
        # Settings are a JSON text per account; compare in Python so that true is never 1.
        return [
            _account(row)
            for row in rows
            if name in (found := json.loads(row["settings"]))
            and found[name] == value
            and type(found[name]) is type(value)
        ]

    # --- Insights (issue 7): replies and follow-up reminders. ------------------------------

    def record_reply(self, account_id: str, reply: Reply) -> tuple[Reply, bool] | None:
        def run(db):
            owner = db.execute(
                "SELECT account_id FROM messages WHERE id = ?", (reply.message_id,)
            ).fetchone()
            if owner is None or owner["account_id"] != account_id:
                return None
            cur = db.execute(
                "INSERT OR IGNORE INTO replies (message_id, gmail_message_id, account_id,"
                " sender, at, source, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    reply.message_id,
                    reply.gmail_message_id,
                    account_id,
                    reply.sender,
                    iso(reply.at),
                    reply.source,
                    iso(reply.recorded_at),
                ),
            )
            kept = db.execute(
                "SELECT * FROM replies WHERE message_id = ? AND gmail_message_id = ?",
                (reply.message_id, reply.gmail_message_id),
            ).fetchone()
            db.execute(
                "UPDATE reminders SET status = 'cancelled', cancelled_at = ?,"
                " cancel_reason = 'reply' WHERE message_id = ? AND status IN ('scheduled', 'due')",
                (iso(reply.recorded_at), reply.message_id),
            )
            return _reply(kept), cur.rowcount == 1

        return self._run(run, write=True)

    def replies(self, account_id: str, message_id: str | None = None) -> list[Reply]:
        sql, params = "SELECT * FROM replies WHERE account_id = ?", [account_id]
        if message_id is not None:
            sql += " AND message_id = ?"
            params.append(message_id)
        sql += " ORDER BY at, message_id, gmail_message_id"
        return [_reply(row) for row in self._run(lambda db: db.execute(sql, params).fetchall())]

    def set_reminder(
        self, account_id: str, message_id: str, due_at: datetime, now: datetime
    ) -> Reminder | None:
        def run(db):
            cur = db.execute(
                "INSERT INTO reminders (message_id, account_id, due_at, status, created_at)"
                " SELECT id, account_id, ?, 'scheduled', ? FROM messages"
                " WHERE id = ? AND account_id = ?"
                " ON CONFLICT (message_id) DO UPDATE SET due_at = excluded.due_at,"
                " status = 'scheduled', created_at = excluded.created_at, fired_at = NULL,"
                " acked_at = NULL, cancelled_at = NULL, cancel_reason = ''",
                (iso(due_at), iso(now), message_id, account_id),
            )
            return _load_reminder(db, message_id) if cur.rowcount else None

        return self._run(run, write=True)

    def reminder(self, account_id: str, message_id: str) -> Reminder | None:
        found = self._run(lambda db: _load_reminder(db, message_id))
        return found if found is not None and found.account_id == account_id else None

    def cancel_reminder(
        self, account_id: str, message_id: str, now: datetime, reason: str = "user"
    ) -> Reminder | None:
        def run(db):
            cur = db.execute(
                "UPDATE reminders SET status = 'cancelled', cancelled_at = ?, cancel_reason = ?"
                " WHERE message_id = ? AND account_id = ? AND status IN ('scheduled', 'due')",
                (iso(now), reason, message_id, account_id),
            )
            return _load_reminder(db, message_id) if cur.rowcount else None

        return self._run(run, write=True)

    def reminders(self, account_id: str, status: str, limit: int = 200) -> list[Reminder]:
        rows = self._run(
            lambda db: db.execute(
                "SELECT * FROM reminders WHERE account_id = ? AND status = ?"
                " ORDER BY due_at, message_id LIMIT ?",
                (account_id, status, limit),
            ).fetchall()
        )
        return [_reminder(row) for row in rows]

    def scheduled_reminders(self, before: datetime, limit: int = 200) -> list[Reminder]:
        # The literal status lets SQLite use the partial index of scheduled reminders only.
        rows = self._run(
            lambda db: db.execute(
                "SELECT * FROM reminders WHERE status = 'scheduled' AND due_at <= ?"
                " ORDER BY due_at, message_id LIMIT ?",
                (iso(before), limit),
            ).fetchall()
        )
        return [_reminder(row) for row in rows]

    def fire_reminder(self, message_id: str, now: datetime) -> Reminder | None:
        def run(db):
            row = db.execute(
                "SELECT 1 FROM reminders WHERE message_id = ? AND status = 'scheduled'"
                " AND due_at <= ?",
                (message_id, iso(now)),
            ).fetchone()
            if row is None:
                return None  # fired, cancelled or moved later meanwhile
            replied = db.execute(
                "SELECT 1 FROM replies WHERE message_id = ? LIMIT 1", (message_id,)
            ).fetchone()
            if replied:
                db.execute(
                    "UPDATE reminders SET status = 'cancelled', cancelled_at = ?,"
                    " cancel_reason = 'reply' WHERE message_id = ?",
                    (iso(now), message_id),
                )
                return None
            db.execute(
                "UPDATE reminders SET status = 'due', fired_at = ? WHERE message_id = ?",
                (iso(now), message_id),
            )
            return _load_reminder(db, message_id)

        return self._run(run, write=True)

    def ack_reminder(self, account_id: str, message_id: str, now: datetime) -> Reminder | None:
        def run(db):
            cur = db.execute(
                "UPDATE reminders SET status = 'acked', acked_at = ?"
                " WHERE message_id = ? AND account_id = ? AND status = 'due'",
                (iso(now), message_id, account_id),
            )
            return _load_reminder(db, message_id) if cur.rowcount else None

        return self._run(run, write=True)

    # --- end of Insights (issue 7) -------------------------------------------------------


def _stored_hit(db, hit: Hit) -> sqlite3.Row | None:
    """The stored row of a hit, found through the (message, time, id) index that keeps hits
    unique. Every stored time is the text iso() wrote, so the hit's own time finds it."""
    return db.execute(
        "SELECT rowid, * FROM hits WHERE message_id = ? AND at = ? AND id = ?",
        (hit.message_id, iso(hit.at), hit.id),
    ).fetchone()


def _check_verdicts(hits: Sequence[Hit]) -> None:
    unclassified = [hit.id for hit in hits if not hit.cls]
    if unclassified:
        raise ValueError(f"apply_verdicts needs classified hits; no class on {unclassified}")


def _count(db, message_id, kind, at, link_index, counted, cls) -> None:
    """Move a message's aggregates for one hit newly recorded or classified."""
    if kind == "open" and cls in MACHINE_OPEN_CLASSES:
        db.execute(
            "UPDATE messages SET machine_opens = machine_opens + 1 WHERE id = ?", (message_id,)
        )
    if not counted:
        return
    if kind == "open":
        moment = iso(at)
        db.execute(
            "UPDATE messages SET opens = opens + 1,"
            " first_open_at = min(coalesce(first_open_at, ?), ?),"
            " last_open_at = max(coalesce(last_open_at, ?), ?) WHERE id = ?",
            (moment, moment, moment, moment, message_id),
        )
    elif kind == "click":
        db.execute("UPDATE messages SET clicks = clicks + 1 WHERE id = ?", (message_id,))
        if link_index is None:
            # A click that names no link still proves an open; without this guard the NOT
            # NULL failure would reject the batch, and a spooled batch would be retried forever.
            return
        db.execute(
            "INSERT INTO link_clicks (message_id, link_index, clicks) VALUES (?, ?, 1)"
            " ON CONFLICT (message_id, link_index) DO UPDATE SET clicks = clicks + 1",
            (message_id, link_index),
        )
    # Other kinds (the extension's self-view signal) are evidence for the classifier only.


@functools.cache
def _decoding(cls) -> tuple[tuple[str, str], ...]:
    """How each field of a dataclass comes back from its row: a time is stored as iso() text,
    a flag as 0 or 1, anything else as it is."""
    return tuple(
        (f.name, "time" if "datetime" in str(f.type) else "flag" if f.type == "bool" else "")
        for f in dataclasses.fields(cls)
    )


def _from_row(cls, row, **decoded):
    """A dataclass from a row of its table. `decoded` gives the fields kept otherwise (JSON);
    a field with no column (one the store attaches later) takes its default."""
    values = {}
    for name, kind in _decoding(cls):
        if name in decoded:
            continue
        try:
            value = row[name]
        except IndexError:
            continue
        values[name] = (
            parse_iso(value) if kind == "time" else bool(value) if kind == "flag" else value
        )
    return cls(**values, **decoded)


def _recipients(row) -> dict:
    recipients = json.loads(row["recipients"])
    return {"to": recipients.get("to", []), "cc": recipients.get("cc", []),
            "bcc": recipients.get("bcc", [])}  # fmt: skip


def _account(row) -> Account:
    return _from_row(Account, row)


def _message(row) -> Message:
    return _from_row(Message, row, **_recipients(row), links=json.loads(row["links"]))


def _hit(row) -> Hit:
    # Spelled out rather than _from_row: classification reads a message's recent hits on every
    # pass, and the generic reader costs a third more per row.
    return Hit(
        id=row["id"],
        message_id=row["message_id"],
        kind=row["kind"],
        at=parse_iso(row["at"]),
        ip=row["ip"],
        user_agent=row["user_agent"],
        method=row["method"],
        link_index=row["link_index"],
        url=row["url"],
        headers=json.loads(row["headers"]),
        counted=bool(row["counted"]),
        cls=row["cls"],
        client=row["client"],
        device=row["device"],
    )


def _activity(row) -> Activity:
    return _from_row(Activity, row, **_recipients(row))


# --- Insights (issue 7) ------------------------------------------------------------------


def _reply(row) -> Reply:
    return _from_row(Reply, row)


def _reminder(row) -> Reminder:
    return _from_row(Reminder, row)


def _load_reminder(db, message_id: str) -> Reminder | None:
    row = db.execute("SELECT * FROM reminders WHERE message_id = ?", (message_id,)).fetchone()
    return _reminder(row) if row else None
