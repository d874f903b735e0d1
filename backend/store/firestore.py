"""The production store: Cloud Firestore (native mode), shaped around Firestore's limits.

Data model (every document id is random or a hash, so no key range is written in order):

    accounts/{account_id}                {email, created_at, settings: {...}}
    account_emails/{sha256(email)}       {account_id, email, created_at}   one per address
    tokens/{token_hash}                  {account_id, email, account_created_at, label, created_at}
    messages/{message_id}                {account_id, created_at, expires_at, subject, to, cc, bcc,
                                          links, sent_at, gmail_message_id, gmail_thread_id, search}
    messages/{message_id}/shards/{0..N-1}  {opens, first_open_us, last_open_us, clicks,
                                            link_clicks: {"<index>": n}, machine_opens}
    messages/{message_id}/hits/{hit_id}  the raw hit, plus expires_at for a TTL policy and a
                                         random `bucket` for the purge's index
    pending/{hit_id}                     {message_id, hit_id, at, bucket}: one per hit the
                                         classifier has yet to see
    messages/{message_id}/replies/{gmail_message_id}, messages/{message_id}/reminder/{message_id}
                                         replies seen in its thread and its follow-up
                                         reminder (insights, issue 7; see their region below)

A hit never writes its message document: it creates its own document (create() fails if the
hit was recorded before, which makes replays harmless) and bumps one randomly chosen shard with
Increment / Minimum / Maximum transforms. Readers add the shards up. An unclassified hit also
creates its pending marker in the same atomic batch; apply_verdicts() classifies the hit, bumps
a shard and deletes the marker in one transaction that first checks the hit is still
unclassified, so two workers never count one hit twice. `sent_at` is absent until a message is
completed and `expires_at` is cleared then, as in the SQLite store, so history and the purge of
stale reservations are plain indexed queries (see firestore.indexes.json).

Times that only grow (a hit's `at`) would cap a collection at about 500 writes a second if
indexed alone, so the queries over every hit (the pending markers, the purge of old hits) use
the sharded-timestamp layout: a random `bucket` before `at` in a composite index, queried with
`bucket in [0..BUCKETS-1]`, and no single-field index on `at` at those scopes. Within one
message's hits, `at` is indexed (collection scope): each message is its own key range.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from google.api_core import retry as retries
from google.api_core.exceptions import (
    Aborted,
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    GoogleAPIError,
    InternalServerError,
    NotFound,
    ResourceExhausted,
    ServiceUnavailable,
)
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import GoogleAuthError
from google.cloud import firestore
from google.cloud.firestore import FieldFilter, Increment, Maximum, Minimum, Query

from ..classify import MACHINE_OPEN_CLASSES
from . import (
    DEFAULT_RETENTION_DAYS,
    REMINDER_ACKED,
    REMINDER_CANCELLED,
    REMINDER_DUE,
    REMINDER_SCHEDULED,
    Account,
    Activity,
    Hit,
    Message,
    PushSubscription,
    Reminder,
    Reply,
    Store,
    StoreError,
    decode_cursor,
    encode_cursor,
    iso,
    parse_iso,
    utcnow,
)

# Only ever raise this: readers add up shards 0..SHARDS-1, so lowering it would hide counts.
# Four shards take about four sustained writes a second per message (a burst of opens from a
# big list is absorbed by retries), while a status call for 200 messages reads 1,000 documents.
SHARDS = 4
# Random buckets that spread the time-ordered index entries of every hit and pending marker
# (see the module docstring): about 500 sustained writes a second each. Only ever raise this:
# queries ask for buckets 0..BUCKETS-1, so lowering it would hide documents.
BUCKETS = 8
# A history search reads at most this many messages per call (Firestore has no substring
# search); a page that stops early still carries a cursor, so the caller can go on.
SEARCH_SCAN = 1000
SEARCH_CHUNK = 200
# A hit is up to three writes (its document, its pending marker, a shard): 150 hits stay under
# Firestore's 500 writes per commit. Spool batches of 200 go in two commits.
HIT_BATCH = 150
# Verdicts applied per transaction: a hit update and a marker delete each, plus one shard.
VERDICT_BATCH = 200
# Firestore's limit on values in one `in` filter.
IN_LIMIT = 30
DELETE_BATCH = 400
PURGE_BATCH = 200
# Feed items added per transaction: an item, plus a state document per message and the head.
ACTIVITY_BATCH = 150
ACTIVITY_TRIES = 5

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RESERVED_ID = re.compile(r"__.*__", re.DOTALL)


def _valid_id(value: str) -> bool:
    """Whether a string can be a Firestore document id (else nothing can be stored under it)."""
    return (
        isinstance(value, str)
        and 0 < len(value.encode()) <= 1500
        and "/" not in value
        and value not in (".", "..")
        and not _RESERVED_ID.fullmatch(value)
    )


def _hit_doc_id(hit_id: str) -> str:
    # Server-made hit ids are always valid; a foreign one (from an old spool) still gets a
    # stable document id, so that it is recorded once like any other.
    return hit_id if _valid_id(hit_id) else "h-" + hashlib.sha256(hit_id.encode()).hexdigest()


def _email_key(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _from_micros(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(microseconds=value)


def _dt(value) -> datetime | None:
    """A Firestore timestamp as a plain aware datetime, as the SQLite store returns them."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def _search_text(subject: str, to: list, cc: list, bcc: list) -> str:
    return "\n".join([subject, *to, *cc, *bcc]).lower()


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class FirestoreStore(Store):
    kind = "firestore"

    def __init__(
        self,
        project: str,
        database: str = "(default)",
        *,
        emulator_host: str | None = None,
        shards: int = SHARDS,
        search_scan: int = SEARCH_SCAN,
        timeout: float = 10.0,
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ):
        """Describe the store; the client is created on first use, never here.

        `emulator_host` points this store alone at a Firestore emulator (tests); without it
        the client follows FIRESTORE_EMULATOR_HOST or Application Default Credentials.
        Each hit is written with `expires_at` `retention_days` ahead, for a TTL policy.
        """
        self.project = project
        self.database = database
        self.emulator_host = emulator_host
        self.shards = shards
        self.search_scan = search_scan
        self.timeout = timeout
        self.retention = timedelta(days=retention_days)
        self._client = None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **options) -> FirestoreStore:
        prefix = "firestore://"
        rest = url[len(prefix) :] if url.startswith(prefix) else ""
        parts = rest.split("/")
        if not rest or len(parts) > 2 or not all(parts):
            raise ValueError(
                f"a Firestore store URL looks like firestore://PROJECT or"
                f" firestore://PROJECT/DATABASE, got {url!r}"
            )
        return cls(parts[0], parts[1] if len(parts) == 2 else "(default)", **options)

    # The client, created lazily so that importing or configuring the app touches no network.
    @property
    def db(self):
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
                client = self._client
        return client

    def _make_client(self):
        try:
            if self.emulator_host:
                client = firestore.Client(
                    project=self.project,
                    database=self.database,
                    credentials=AnonymousCredentials(),
                )
                # The client reads the emulator address from the environment only; setting it
                # on this client keeps other clients (and other tests) on their own target.
                client._emulator_host = self.emulator_host
            else:
                client = firestore.Client(project=self.project, database=self.database)
        except GoogleAuthError as exc:
            raise StoreError(
                f"cannot reach Firestore project {self.project!r}: {exc}. On App Engine this"
                " works by itself; elsewhere run `gcloud auth application-default login`."
            ) from exc
        return client

    @property
    def _retry(self):
        # Bounded, unlike the client's defaults (up to 300 s), so that a request fails over to
        # the spool or a 503 in seconds when Firestore is unreachable.
        return retries.Retry(
            predicate=retries.if_exception_type(
                ServiceUnavailable,
                DeadlineExceeded,
                InternalServerError,
                ResourceExhausted,
                Aborted,
            ),
            initial=0.05,
            maximum=1.0,
            multiplier=2.0,
            timeout=self.timeout,
        )

    @property
    def _opts(self) -> dict:
        return {"retry": self._retry, "timeout": self.timeout}

    @contextmanager
    def _errors(self, what: str):
        """Turn the client's failures into StoreError."""
        try:
            yield
        except GoogleAPIError as exc:
            raise StoreError(f"Firestore: {what}: {exc}") from exc

    def _transaction(self, what: str, fn, *args):
        """Run fn(transaction, *args) in a Firestore transaction, retried on contention."""
        with self._errors(what):
            try:
                return firestore.transactional(fn)(self.db.transaction(), *args)
            except ValueError as exc:
                # The client's way of saying the transaction kept conflicting.
                if "transaction" in str(exc).lower():
                    raise StoreError(f"Firestore: {what}: {exc}") from exc
                raise

    def _option(self, **kwargs):
        return self.db.write_option(**kwargs)

    def ping(self) -> None:
        with self._errors("ping"):
            self.db.collection("mailtick").document("ping").get(**self._opts)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # References.
    def _messages(self):
        return self.db.collection("messages")

    def _message_ref(self, message_id: str):
        return self._messages().document(message_id)

    def _pending(self):
        return self.db.collection("pending")

    def _shard_refs(self, message_id: str) -> list:
        shards = self._message_ref(message_id).collection("shards")
        return [shards.document(str(n)) for n in range(self.shards)]

    # Accounts and tokens.
    def ensure_account(self, email: str, now: datetime) -> Account:
        email = email.strip().lower()
        email_ref = self.db.collection("account_emails").document(_email_key(email))
        with self._errors("ensure account"):
            for _ in range(5):
                snap = email_ref.get(**self._opts)
                if snap.exists:
                    data = snap.to_dict()
                    return Account(data["account_id"], data["email"], _dt(data["created_at"]))
                account_id = secrets.token_urlsafe(12)
                batch = self.db.batch()
                # Both create()s fail if their document exists: one account per address even
                # when two sign-ins race, with no query involved.
                batch.create(
                    email_ref, {"account_id": account_id, "email": email, "created_at": now}
                )
                batch.create(
                    self.db.collection("accounts").document(account_id),
                    {"email": email, "created_at": now},
                )
                try:
                    batch.commit(**self._opts)
                except AlreadyExists:
                    continue  # someone else created it first: read theirs
                return Account(account_id, email, now)
        raise StoreError(f"Firestore: could not create the account for {email}")

    def get_account(self, account_id: str) -> Account | None:
        if not _valid_id(account_id):
            return None
        with self._errors("get account"):
            snap = self.db.collection("accounts").document(account_id).get(**self._opts)
        if not snap.exists:
            return None
        data = snap.to_dict()
        return Account(account_id, data["email"], _dt(data["created_at"]))

    def delete_account(self, account_id: str) -> None:
        if not _valid_id(account_id):
            return
        tokens = self.db.collection("tokens").where(
            filter=FieldFilter("account_id", "==", account_id)
        )
        account_ref = self.db.collection("accounts").document(account_id)
        with self._errors("delete account"):
            # Tokens first, so a half-done deletion can only sign the user out.
            self._delete_query(tokens)

            def remove(transaction):
                snap = account_ref.get(transaction=transaction)
                # Reading the account makes a concurrent add_token or reserve conflict with
                # this deletion instead of slipping in after the sweeps.
                late_tokens = list(transaction.get(tokens.select([])))
                if snap.exists:
                    email = snap.get("email")
                    transaction.delete(
                        self.db.collection("account_emails").document(_email_key(email))
                    )
                    transaction.delete(account_ref)
                for token in late_tokens:
                    transaction.delete(token.reference)

            self._transaction("delete account", remove)
            owned = self._messages().where(filter=FieldFilter("account_id", "==", account_id))
            while True:
                page = list(owned.select([]).limit(DELETE_BATCH).stream(**self._opts))
                for snap in page:
                    self._remove_message(snap.reference)
                if len(page) < DELETE_BATCH:
                    break
            self._remove_notification_data(account_id)

    def add_token(self, account_id: str, token_hash: str, now: datetime, label: str = "") -> None:
        if not _valid_id(account_id) or not _valid_id(token_hash):
            raise StoreError("Firestore: add token: no such account or a malformed token hash")
        account_ref = self.db.collection("accounts").document(account_id)
        token_ref = self.db.collection("tokens").document(token_hash)

        def add(transaction):
            account = account_ref.get(transaction=transaction)
            if not account.exists:
                raise StoreError(f"Firestore: add token: no account {account_id}")
            transaction.create(
                token_ref,
                {
                    "account_id": account_id,
                    # Copied so that authenticating a request is one read.
                    "email": account.get("email"),
                    "account_created_at": account.get("created_at"),
                    "label": label,
                    "created_at": now,
                },
            )

        self._transaction("add token", add)

    def account_for_token(self, token_hash: str) -> Account | None:
        if not _valid_id(token_hash):
            return None
        with self._errors("look up token"):
            snap = self.db.collection("tokens").document(token_hash).get(**self._opts)
        if not snap.exists:
            return None
        data = snap.to_dict()
        return Account(data["account_id"], data["email"], _dt(data["account_created_at"]))

    def revoke_token(self, token_hash: str) -> bool:
        if not _valid_id(token_hash):
            return False
        with self._errors("revoke token"):
            try:
                self.db.collection("tokens").document(token_hash).delete(
                    option=self._option(exists=True), timeout=self.timeout
                )
            except NotFound:
                return False
        return True

    # Messages.
    def reserve(
        self, account_id: str, message_id: str, now: datetime, expires_at: datetime
    ) -> None:
        if not _valid_id(message_id) or not _valid_id(account_id):
            raise StoreError(f"Firestore: reserve: {message_id!r} cannot be a document id")
        account_ref = self.db.collection("accounts").document(account_id)

        def create(transaction):
            if not account_ref.get(transaction=transaction).exists:
                raise StoreError(f"Firestore: reserve: no account {account_id}")
            transaction.create(
                self._message_ref(message_id),
                {
                    "account_id": account_id,
                    "created_at": now,
                    "expires_at": expires_at,
                    "subject": "",
                    "to": [],
                    "cc": [],
                    "bcc": [],
                    "links": [],
                    "gmail_message_id": None,
                    "gmail_thread_id": None,
                    "search": "",
                },
            )

        self._transaction("reserve", create)

    def complete(self, account_id: str, message_id: str, changes: dict) -> Message | None:
        if not _valid_id(message_id):
            return None
        ref = self._message_ref(message_id)

        def update(transaction):
            snap = ref.get(transaction=transaction)
            if not snap.exists or snap.get("account_id") != account_id:
                return False
            data = snap.to_dict()
            fields = {
                key: list(changes[key]) for key in ("to", "cc", "bcc", "links") if key in changes
            }
            for key in ("subject", "sent_at", "gmail_message_id", "gmail_thread_id"):
                if key in changes:
                    fields[key] = changes[key]
            merged = {**data, **fields}
            fields["search"] = _search_text(
                merged["subject"], merged["to"], merged["cc"], merged["bcc"]
            )
            if merged.get("sent_at") is not None:
                fields["expires_at"] = None
            transaction.update(ref, fields)
            return True

        if not self._transaction("complete", update):
            return None
        return self.message(account_id, message_id)

    def _load(self, snaps: list) -> list[Message]:
        """Messages from their snapshots, with aggregates from their shards (one read call)."""
        if not snaps:
            return []
        refs = [ref for snap in snaps for ref in self._shard_refs(snap.id)]
        totals: dict[str, list] = {}
        for shard in self.db.get_all(refs, **self._opts):
            if shard.exists:
                totals.setdefault(shard.reference.parent.parent.id, []).append(shard.to_dict())
        return [_message(snap, totals.get(snap.id, [])) for snap in snaps]

    def message(self, account_id: str, message_id: str) -> Message | None:
        found = self.message_by_id(message_id)
        return found if found is not None and found.account_id == account_id else None

    def message_by_id(self, message_id: str) -> Message | None:
        if not _valid_id(message_id):
            return None
        ref = self._message_ref(message_id)
        with self._errors("get message"):
            # The message and its shards in one round trip.
            snaps = {
                snap.reference.path: snap
                for snap in self.db.get_all([ref, *self._shard_refs(message_id)], **self._opts)
            }
        snap = snaps.get(ref.path)
        if snap is None or not snap.exists:
            return None
        shards = [s.to_dict() for path, s in snaps.items() if path != ref.path and s.exists]
        return _message(snap, shards)

    def link_target(self, message_id: str, index: int) -> str | None:
        if not _valid_id(message_id):
            return None
        with self._errors("get link"):
            snap = self._message_ref(message_id).get(field_paths=["links"], **self._opts)
        if not snap.exists:
            return None
        links = snap.to_dict().get("links") or []
        return links[index] if 0 <= index < len(links) else None

    def messages(
        self, account_id: str, limit: int, cursor: str | None = None, query: str = ""
    ) -> tuple[list[Message], str | None]:
        after = None
        if cursor:
            sent_at, last_id = decode_cursor(cursor)
            if not _valid_id(last_id):
                raise ValueError("cursor is not one this server handed out")
            after = {"sent_at": parse_iso(sent_at), "__name__": last_id}
        # Needs the composite index (account_id, sent_at desc, __name__ desc). Ordering on
        # sent_at leaves out reserved messages, which have no sent_at yet.
        history = (
            self._messages()
            .where(filter=FieldFilter("account_id", "==", account_id))
            .order_by("sent_at", direction=Query.DESCENDING)
            .order_by("__name__", direction=Query.DESCENDING)
        )

        def position(snap) -> dict:
            return {"sent_at": snap.get("sent_at"), "__name__": snap.id}

        def read(start, count) -> list:
            page = history.start_after(start) if start else history
            return list(page.limit(count).stream(**self._opts))

        with self._errors("history"):
            if not query:
                found = read(after, limit + 1)
                page, more = found[:limit], len(found) > limit
            else:
                needle, page, more, exhausted, scanned = query.lower(), [], False, False, 0
                while not more and not exhausted and scanned < self.search_scan:
                    count = min(SEARCH_CHUNK, self.search_scan - scanned)
                    found = read(after, count)
                    for snap in found:
                        if needle in snap.get("search"):
                            if len(page) == limit:
                                more = True
                                break
                            page.append(snap)
                        scanned += 1
                        after = position(snap)
                    exhausted = len(found) < count
                if not more and not exhausted:
                    # The scan stopped at its bound: go on after the last message read, even
                    # though this page may hold fewer than `limit` matches (or none).
                    bound = encode_cursor(iso(_dt(after["sent_at"])), after["__name__"])
                    return self._load(page), bound
            messages = self._load(page)
        next_cursor = (
            encode_cursor(iso(messages[-1].sent_at), messages[-1].id) if more and messages else None
        )
        return messages, next_cursor

    def statuses(
        self, account_id: str, ids: Sequence[str], gmail_ids: Sequence[str]
    ) -> list[Message]:
        ids = [i for i in dict.fromkeys(ids) if _valid_id(i)]
        gmail_ids = [i for i in dict.fromkeys(gmail_ids) if isinstance(i, str)]
        found: dict = {}
        with self._errors("statuses"):
            if ids:
                for snap in self.db.get_all([self._message_ref(i) for i in ids], **self._opts):
                    if snap.exists and snap.get("account_id") == account_id:
                        found[snap.id] = snap
            for field in ("gmail_message_id", "gmail_thread_id"):
                for chunk in _chunks(gmail_ids, IN_LIMIT):
                    matches = (
                        self._messages()
                        .where(filter=FieldFilter("account_id", "==", account_id))
                        .where(filter=FieldFilter(field, "in", chunk))
                    )
                    for snap in matches.stream(**self._opts):
                        found.setdefault(snap.id, snap)
            return self._load(list(found.values()))

    def delete_message(self, account_id: str, message_id: str) -> bool:
        if not _valid_id(message_id):
            return False
        ref = self._message_ref(message_id)
        with self._errors("delete message"):
            for _ in range(5):
                snap = ref.get(field_paths=["account_id"], **self._opts)
                if not snap.exists or snap.get("account_id") != account_id:
                    return False
                try:
                    # Only the version just checked: a concurrent deletion answers False.
                    ref.delete(
                        option=self._option(last_update_time=snap.update_time),
                        timeout=self.timeout,
                    )
                except (FailedPrecondition, NotFound):
                    continue
                self._remove_children(ref)
                self._remove_message_activity(account_id, message_id)
                return True
        raise StoreError(f"Firestore: message {message_id} kept changing while being deleted")

    def purge_reservations(self, now: datetime) -> int:
        expired = self._messages().where(filter=FieldFilter("expires_at", "<", now))
        purged = 0
        with self._errors("purge reservations"):
            cursor = None
            while True:
                query = expired.order_by("expires_at").order_by("__name__").limit(PURGE_BATCH)
                if cursor is not None:
                    query = query.start_after(cursor)
                page = list(query.stream(**self._opts))
                for snap in page:
                    # Completing a message clears expires_at, so only reservations match.
                    cursor = snap
                    try:
                        # A completion in the meantime changes update_time and saves it.
                        snap.reference.delete(
                            option=self._option(last_update_time=snap.update_time),
                            timeout=self.timeout,
                        )
                    except (FailedPrecondition, NotFound):
                        continue
                    self._remove_children(snap.reference)
                    purged += 1
                if len(page) < PURGE_BATCH:
                    return purged

    def _remove_message(self, ref) -> None:
        ref.delete(timeout=self.timeout)
        self._remove_children(ref)

    def _remove_children(self, ref) -> None:
        # After the message itself, so that hits arriving meanwhile find no message. Replies
        # and the reminder (issue 7) go with their message too.
        for name in ("hits", "shards", REPLIES, REMINDER):
            self._delete_query(ref.collection(name))

    def _delete_query(self, query) -> int:
        """Delete every document the query finds, a batch at a time; return how many."""
        deleted = 0
        while True:
            page = list(query.select([]).limit(DELETE_BATCH).stream(**self._opts))
            if not page:
                return deleted
            batch = self.db.batch()
            for snap in page:
                batch.delete(snap.reference)
            batch.commit(**self._opts)
            deleted += len(page)
            if len(page) < DELETE_BATCH:
                return deleted

    # Hits.
    def record_hits(self, hits: Sequence[Hit]) -> None:
        unique: dict[str, Hit] = {}
        for hit in hits:
            # As in SQLite: the first of two hits with one id wins; unknown messages are dropped
            # (an id Firestore cannot hold cannot name a message).
            if _valid_id(hit.message_id):
                unique.setdefault(hit.id, hit)
        with self._errors("record hits"):
            for chunk in _chunks(list(unique.values()), HIT_BATCH):
                self._record_chunk(chunk)

    def _hit_ref(self, hit: Hit):
        return self._message_ref(hit.message_id).collection("hits").document(_hit_doc_id(hit.id))

    def _record_chunk(self, hits: list[Hit]) -> None:
        message_refs = {hit.message_id: self._message_ref(hit.message_id) for hit in hits}
        hit_refs = {hit.id: self._hit_ref(hit) for hit in hits}
        exists = self._existing([*message_refs.values(), *hit_refs.values()])
        new = [
            hit
            for hit in hits
            if message_refs[hit.message_id].path in exists and hit_refs[hit.id].path not in exists
        ]
        if not new:
            return
        try:
            self._write_hits(new, hit_refs)
        except AlreadyExists:
            # Another process recorded some of these meanwhile (a spool replay racing the
            # original write): one hit per commit, so each counts exactly once.
            for hit in new:
                try:
                    self._write_hits([hit], hit_refs)
                except AlreadyExists:
                    pass

    def _existing(self, refs: list) -> set[str]:
        """The paths of those documents that exist, in one read call."""
        found = self.db.get_all(refs, field_paths=[], **self._opts)
        return {snap.reference.path for snap in found if snap.exists}

    def _write_hits(self, hits: list[Hit], hit_refs: dict) -> None:
        expires_at = utcnow() + self.retention
        batch = self.db.batch()
        totals: dict[str, _Totals] = {}
        for hit in hits:
            bucket = secrets.randbelow(BUCKETS)
            ref = hit_refs[hit.id]
            batch.create(ref, _hit_data(hit, expires_at, bucket))
            if not hit.cls:
                # In the same batch: a pending hit always has its marker, and a replayed hit
                # (whose create() fails) never gets a second one.
                batch.create(
                    self._pending().document(ref.id),
                    {
                        "message_id": hit.message_id,
                        "hit_id": ref.id,
                        "at": hit.at,
                        "bucket": bucket,
                    },
                )
            totals.setdefault(hit.message_id, _Totals()).add(
                hit.kind, hit.at, hit.link_index, hit.counted, hit.cls
            )
        for message_id, total in totals.items():
            self._bump(batch, message_id, total)
        # Atomic: if any hit document exists already, no counter moves.
        batch.commit(**self._opts)

    def _bump(self, writer, message_id: str, total: _Totals) -> None:
        """Add a message's totals to one randomly chosen shard, in a batch or transaction."""
        update = total.update()
        if update:
            shard = self._shard_refs(message_id)[secrets.randbelow(self.shards)]
            writer.set(shard, update, merge=True)

    def hits(self, account_id: str, message_id: str) -> list[Hit]:
        if not _valid_id(message_id):
            return []
        ref = self._message_ref(message_id)
        with self._errors("get hits"):
            snap = ref.get(field_paths=["account_id"], **self._opts)
            if not snap.exists or snap.get("account_id") != account_id:
                return []
            found = [_hit(s) for s in ref.collection("hits").stream(**self._opts)]
        return sorted(found, key=lambda hit: (hit.at, hit.id))

    def pending_hits(self, before: datetime, limit: int = 500) -> list[Hit]:
        # One indexed query on the markers, oldest first: the composite index (bucket, at) of
        # firestore.indexes.json, every bucket at once with `in`. Not a page read in document
        # order and filtered here: with more markers waiting than a page holds, such a page
        # is a random sample, and the oldest hits could wait indefinitely. Not `at` indexed
        # alone: every hit writes a marker, and a lone index on a growing time would cap
        # hits at ~500 a second; the random bucket spreads the entries over BUCKETS ranges.
        markers = (
            self._pending()
            .where(filter=FieldFilter("bucket", "in", list(range(BUCKETS))))
            .where(filter=FieldFilter("at", "<=", before))
            .order_by("at")
            .order_by("__name__")
            .limit(limit)
        )
        with self._errors("pending hits"):
            found = list(markers.stream(**self._opts))
            if not found:
                return []
            refs = [
                self._message_ref(m.get("message_id")).collection("hits").document(m.get("hit_id"))
                for m in found
            ]
            snaps = {s.reference.path: s for s in self.db.get_all(refs, **self._opts)}
            hits, stale = [], []
            for marker, ref in zip(found, refs, strict=True):
                snap = snaps.get(ref.path)
                if snap is None or not snap.exists or snap.get("cls"):
                    # Its hit went with its message (whose deletion leaves markers to this
                    # pass), the purge or the TTL policy, or was classified: drop the marker.
                    stale.append(marker.reference)
                else:
                    hits.append(_hit(snap))
            for chunk in _chunks(stale, DELETE_BATCH):
                batch = self.db.batch()
                for ref in chunk:
                    batch.delete(ref)
                batch.commit(**self._opts)
        return sorted(hits, key=lambda hit: (hit.at, hit.id))

    def hits_between(self, message_id: str, start: datetime, end: datetime) -> list[Hit]:
        if not _valid_id(message_id):
            return []
        # The single-field index on hits.at, collection scope: one message's hits only.
        query = (
            self._message_ref(message_id)
            .collection("hits")
            .where(filter=FieldFilter("at", ">=", start))
            .where(filter=FieldFilter("at", "<=", end))
            .order_by("at")
        )
        with self._errors("hits between"):
            found = [_hit(snap) for snap in query.stream(**self._opts)]
        return sorted(found, key=lambda hit: (hit.at, hit.id))

    def apply_verdicts(self, hits: Sequence[Hit]) -> list[Hit]:
        unclassified = [hit.id for hit in hits if not hit.cls]
        if unclassified:
            raise ValueError(f"apply_verdicts needs classified hits; no class on {unclassified}")
        by_message: dict[str, dict[str, Hit]] = {}
        for hit in hits:
            if _valid_id(hit.message_id):
                # The first verdict for a hit wins, as the first write does in SQLite.
                by_message.setdefault(hit.message_id, {}).setdefault(hit.id, hit)
        applied: list[Hit] = []
        for message_id, verdicts in by_message.items():
            for chunk in _chunks(list(verdicts.values()), VERDICT_BATCH):
                applied += self._transaction("apply verdicts", self._apply_chunk, message_id, chunk)
        return applied

    def _apply_chunk(self, transaction, message_id: str, verdicts: list[Hit]) -> list[Hit]:
        """One message's verdicts in one transaction (re-run from the top on contention)."""
        message_ref = self._message_ref(message_id)
        refs = {hit.id: self._hit_ref(hit) for hit in verdicts}
        # Reading the hits makes a worker applying the same verdicts conflict with this one;
        # reading the message, a deletion of the message.
        snaps = {
            snap.reference.path: snap for snap in transaction.get_all([message_ref, *refs.values()])
        }
        message_exists = snaps[message_ref.path].exists
        total, applied = _Totals(), []
        for hit in verdicts:
            ref = refs[hit.id]
            snap = snaps.get(ref.path)
            if not message_exists or snap is None or not snap.exists:
                transaction.delete(self._pending().document(ref.id))
                continue
            stored = snap.to_dict()
            if stored.get("cls"):
                continue  # classified already: its marker went then
            transaction.update(
                ref,
                {
                    "cls": hit.cls,
                    "counted": hit.counted,
                    "client": hit.client,
                    "device": hit.device,
                    "ip": hit.ip,
                },
            )
            transaction.delete(self._pending().document(ref.id))
            total.add(
                stored["kind"],
                _dt(stored["at"]),
                stored.get("link_index"),
                hit.counted and not stored.get("counted"),
                hit.cls,
            )
            applied.append(hit)
        self._bump(transaction, message_id, total)
        return applied

    def purge_hits(self, before: datetime) -> int:
        # A collection-group query over every message's hits with the composite index
        # (bucket, at): works whether or not a TTL policy on expires_at has deleted them first.
        # Hits written before hits had a bucket are left to the TTL policy.
        expired = (
            self.db.collection_group("hits")
            .where(filter=FieldFilter("bucket", "in", list(range(BUCKETS))))
            .where(filter=FieldFilter("at", "<", before))
        )
        with self._errors("purge hits"):
            return self._delete_query(expired)

    # Settings.
    def get_settings(self, account_id: str) -> dict:
        if not _valid_id(account_id):
            return {}
        with self._errors("get settings"):
            snap = (
                self.db.collection("accounts")
                .document(account_id)
                .get(field_paths=["settings"], **self._opts)
            )
        return dict(snap.to_dict().get("settings") or {}) if snap.exists else {}

    def put_settings(self, account_id: str, changes: dict) -> dict:
        if not _valid_id(account_id):
            raise StoreError(f"Firestore: put settings: no account {account_id!r}")
        ref = self.db.collection("accounts").document(account_id)

        def merge(transaction):
            snap = ref.get(field_paths=["settings"], transaction=transaction)
            if not snap.exists:
                raise StoreError(f"Firestore: put settings: no account {account_id}")
            merged = {**(snap.to_dict().get("settings") or {}), **changes}
            # The whole map, so that keys with dots in them stay keys, not field paths.
            transaction.update(ref, {"settings": merged})
            return merged

        return self._transaction("put settings", merge)

    # --- Notifications (issue 5): activity feed, push subscriptions, marks, secrets. ---------
    #
    #   accounts/{account_id}/activity/{hit_id}      an item of the feed, with its `seq`
    #   accounts/{account_id}/activity_state/head    {seq}: the account's last position
    #   accounts/{account_id}/activity_state/m-{message_id}
    #                                               {opened, open_day, open_count,
    #                                                clicks: {"<link>": [day, count]}}
    #   accounts/{account_id}/marks/{key}            {created_at}: created once, with create()
    #   accounts/{account_id}.credentials            {name: value}, beside the settings
    #   push_subscriptions/{sha256(endpoint)}        {account_id, endpoint, p256dh, auth,
    #                                                created_at}
    #   server_secrets/{name}                        {value}: created once, with create()
    #
    # Positions come from the head document, read and written in the transaction that adds
    # the items: a later item is committed after an earlier one, so a reader who sees it sees
    # every item before it. Items are added once per classification pass and account, so the
    # head takes about one write a second per account and process, far under Firestore's limit
    # per document. `seq` is indexed per account (collection scope): each account's items are
    # their own key range; only `at` has a collection-group index, for the purge.

    def _account_ref(self, account_id: str):
        return self.db.collection("accounts").document(account_id)

    def _activity(self, account_id: str):
        return self._account_ref(account_id).collection("activity")

    def _activity_state(self, account_id: str):
        return self._account_ref(account_id).collection("activity_state")

    def append_activity(
        self, account_id: str, items: Sequence[Activity], decide: Callable[[Activity], bool]
    ) -> list[Activity]:
        if not _valid_id(account_id):
            return []
        unique: dict[str, Activity] = {}
        for item in items:
            if _valid_id(item.message_id):
                unique.setdefault(item.id, item)
        added: list[Activity] = []
        for chunk in _chunks(list(unique.values()), ACTIVITY_BATCH):
            for attempt in range(1, ACTIVITY_TRIES + 1):
                try:
                    added += self._transaction(
                        "append activity", self._append_chunk, account_id, chunk, decide
                    )
                    break
                except StoreError as exc:
                    # The client retries a conflicting transaction at once; several processes
                    # adding to one account's feed together need a pause to fall apart.
                    if not isinstance(exc.__cause__, ValueError) or attempt == ACTIVITY_TRIES:
                        raise
                    time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 - jitter
        return added

    def _append_chunk(self, transaction, account_id, items, decide) -> list[Activity]:
        head_ref = self._activity_state(account_id).document("head")
        item_refs = {
            item.id: self._activity(account_id).document(_hit_doc_id(item.id)) for item in items
        }
        message_ids = list(dict.fromkeys(item.message_id for item in items))
        message_refs = {m: self._message_ref(m) for m in message_ids}
        state_refs = {m: self._activity_state(account_id).document(f"m-{m}") for m in message_ids}
        refs = [head_ref, *item_refs.values(), *message_refs.values(), *state_refs.values()]
        snaps = {snap.reference.path: snap for snap in transaction.get_all(refs)}

        def data(ref) -> dict | None:
            snap = snaps.get(ref.path)
            return snap.to_dict() if snap is not None and snap.exists else None

        seq = (data(head_ref) or {}).get("seq", 0)
        states = {m: data(ref) or {} for m, ref in state_refs.items()}
        owned = {
            m
            for m, ref in message_refs.items()
            if (data(ref) or {}).get("account_id") == account_id
        }
        touched, added = set(), []
        for item in items:
            if data(item_refs[item.id]) is not None or item.message_id not in owned:
                continue  # added before (a retry), or the message is gone or not this account's
            item = replace(item, account_id=account_id)
            state = states[item.message_id]
            if item.kind == "clicked":
                clicks = state.setdefault("clicks", {})
                link = "none" if item.link_index is None else str(item.link_index)
                day, count = clicks.get(link, ["", 0])
                item.first = not clicks.get(link)
                item.count_today = count + 1 if day == item.day else 1
                clicks[link] = [item.day, item.count_today]
            else:
                item.first = not state.get("opened")
                item.kind = "opened" if item.first else "reopened"
                same_day = state.get("open_day") == item.day
                item.count_today = state.get("open_count", 0) + 1 if same_day else 1
                state.update(opened=True, open_day=item.day, open_count=item.count_today)
            seq += 1
            item.seq = seq
            item.notify = bool(decide(item))
            transaction.create(item_refs[item.id], _activity_data(item))
            touched.add(item.message_id)
            added.append(item)
        for message_id in touched:
            transaction.set(state_refs[message_id], states[message_id])
        if added:
            transaction.set(head_ref, {"seq": seq})
        return added

    def activity(self, account_id: str, after: int | None, limit: int) -> list[Activity]:
        if not _valid_id(account_id):
            return []
        feed = self._activity(account_id)
        if after is None:
            query = feed.order_by("seq", direction=Query.DESCENDING).limit(limit)
        else:
            query = feed.where(filter=FieldFilter("seq", ">", after)).order_by("seq").limit(limit)
        with self._errors("activity"):
            found = [_activity_item(snap) for snap in query.stream(**self._opts)]
        return sorted(found, key=lambda item: item.seq)

    def activity_head(self, account_id: str) -> int:
        if not _valid_id(account_id):
            return 0
        with self._errors("activity head"):
            snap = self._activity_state(account_id).document("head").get(**self._opts)
        return snap.get("seq") if snap.exists else 0

    def activity_between(
        self, account_id: str, start: datetime, end: datetime, limit: int = 1000
    ) -> list[Activity]:
        if not _valid_id(account_id):
            return []
        query = (
            self._activity(account_id)
            .where(filter=FieldFilter("at", ">=", start))
            .where(filter=FieldFilter("at", "<", end))
            .order_by("at")
            .limit(limit)
        )
        with self._errors("activity between"):
            found = [_activity_item(snap) for snap in query.stream(**self._opts)]
        # Ordered by `at` alone in the query, so that the single-field index serves it.
        return sorted(found, key=lambda item: (item.at, item.seq))

    def purge_activity(self, before: datetime) -> int:
        expired = self.db.collection_group("activity").where(filter=FieldFilter("at", "<", before))
        with self._errors("purge activity"):
            return self._delete_query(expired)

    def _remove_message_activity(self, account_id: str, message_id: str) -> None:
        self._delete_query(
            self._activity(account_id).where(filter=FieldFilter("message_id", "==", message_id))
        )
        self._activity_state(account_id).document(f"m-{message_id}").delete(**self._opts)

    def _remove_notification_data(self, account_id: str) -> None:
        for name in ("activity", "activity_state", "marks"):
            self._delete_query(self._account_ref(account_id).collection(name))
        self._delete_query(
            self.db.collection("push_subscriptions").where(
                filter=FieldFilter("account_id", "==", account_id)
            )
        )

    def _subscription_ref(self, endpoint: str):
        return self.db.collection("push_subscriptions").document(_email_key(endpoint))

    def add_push_subscription(
        self, account_id: str, endpoint: str, p256dh: str, auth: str, now: datetime
    ) -> None:
        if not _valid_id(account_id):
            raise StoreError(f"Firestore: add push subscription: no account {account_id!r}")
        account_ref, ref = self._account_ref(account_id), self._subscription_ref(endpoint)

        def add(transaction):
            if not account_ref.get(field_paths=[], transaction=transaction).exists:
                raise StoreError(f"Firestore: add push subscription: no account {account_id}")
            transaction.set(
                ref,
                {
                    "account_id": account_id,
                    "endpoint": endpoint,
                    "p256dh": p256dh,
                    "auth": auth,
                    "created_at": now,
                },
            )

        self._transaction("add push subscription", add)

    def push_subscriptions(self, account_id: str) -> list[PushSubscription]:
        query = self.db.collection("push_subscriptions").where(
            filter=FieldFilter("account_id", "==", account_id)
        )
        with self._errors("push subscriptions"):
            found = [snap.to_dict() for snap in query.stream(**self._opts)]
        subscriptions = [
            PushSubscription(
                d["account_id"], d["endpoint"], d["p256dh"], d["auth"], _dt(d["created_at"])
            )
            for d in found
        ]
        return sorted(subscriptions, key=lambda s: (s.created_at, s.endpoint))

    def remove_push_subscription(self, endpoint: str, account_id: str | None = None) -> bool:
        ref = self._subscription_ref(endpoint)

        def remove(transaction):
            snap = ref.get(transaction=transaction)
            if not snap.exists or account_id is not None and snap.get("account_id") != account_id:
                return False
            transaction.delete(ref)
            return True

        return self._transaction("remove push subscription", remove)

    def _mark_ref(self, account_id: str, key: str):
        doc_id = key if _valid_id(key) else "k-" + _email_key(key)
        return self._account_ref(account_id).collection("marks").document(doc_id)

    def claim_mark(self, account_id: str, key: str, now: datetime) -> bool:
        if not _valid_id(account_id):
            return False
        with self._errors("claim mark"):
            try:
                self._mark_ref(account_id, key).create({"created_at": now}, **self._opts)
            except AlreadyExists:
                return False
        return True

    def release_mark(self, account_id: str, key: str) -> None:
        if not _valid_id(account_id):
            return
        with self._errors("release mark"):
            self._mark_ref(account_id, key).delete(**self._opts)

    def server_secret(self, name: str, value: str) -> str:
        ref = self.db.collection("server_secrets").document(name)
        with self._errors("server secret"):
            try:
                ref.create({"value": value}, **self._opts)
                return value
            except AlreadyExists:
                return ref.get(**self._opts).get("value")

    def put_credential(self, account_id: str, name: str, value: str | None) -> None:
        if not _valid_id(account_id):
            raise StoreError(f"Firestore: put credential: no account {account_id!r}")
        ref = self._account_ref(account_id)

        def put(transaction):
            snap = ref.get(field_paths=["credentials"], transaction=transaction)
            if not snap.exists:
                raise StoreError(f"Firestore: put credential: no account {account_id}")
            credentials = dict(snap.to_dict().get("credentials") or {})
            if value is None:
                credentials.pop(name, None)
            else:
                credentials[name] = value
            transaction.update(ref, {"credentials": credentials})

        self._transaction("put credential", put)

    def credential(self, account_id: str, name: str) -> str | None:
        if not _valid_id(account_id):
            return None
        with self._errors("credential"):
            snap = self._account_ref(account_id).get(field_paths=["credentials"], **self._opts)
        return (snap.to_dict().get("credentials") or {}).get(name) if snap.exists else None

    def accounts_with_setting(self, name: str, value) -> list[Account]:
        query = self.db.collection("accounts").where(
            filter=FieldFilter(f"settings.`{name}`", "==", value)
        )
        with self._errors("accounts with setting"):
            found = [
                Account(snap.id, snap.get("email"), _dt(snap.get("created_at")))
                for snap in query.select(["email", "created_at"]).stream(**self._opts)
            ]
        return sorted(found, key=lambda a: (a.created_at, a.id))

    # --- Insights (issue 7): replies and follow-up reminders. ------------------------------
    #
    #   messages/{message_id}/replies/{gmail_message_id}   {account_id, message_id, sender, at,
    #                                                       gmail_message_id, source,
    #                                                       recorded_at}: create() once
    #   messages/{message_id}/reminder/{message_id}        {account_id, message_id, due_at,
    #                                                       status, created_at, fired_at,
    #                                                       acked_at, cancelled_at,
    #                                                       cancel_reason}
    #
    # Both live under their message, so deleting it (or the account) deletes them. Neither
    # touches the message document or its shards, so they never contend with hits. They are
    # written at the pace people reply and set reminders, so `due_at` needs no sharded
    # buckets. Collection-group queries (indexes in firestore.indexes.json): replies by
    # account; reminders by (status, due_at) for the reminder job, by (account_id, status,
    # due_at) for the extension. A reply cancels the reminder in the transaction that records
    # it; firing writes the reminder only in the version it read before looking for replies,
    # so a reply recorded in between (which changes that version) stops it.

    def _reminder_ref(self, message_id: str):
        return self._message_ref(message_id).collection(REMINDER).document(message_id)

    def record_reply(self, account_id: str, reply: Reply) -> tuple[Reply, bool] | None:
        if not _valid_id(reply.message_id) or not _valid_id(account_id):
            return None
        message_ref = self._message_ref(reply.message_id)
        reply_ref = message_ref.collection(REPLIES).document(_hit_doc_id(reply.gmail_message_id))
        reminder_ref = self._reminder_ref(reply.message_id)

        def run(transaction):
            snaps = {
                snap.reference.path: snap
                for snap in transaction.get_all([message_ref, reply_ref, reminder_ref])
            }
            message = snaps[message_ref.path]
            if not message.exists or message.get("account_id") != account_id:
                return None
            known = snaps[reply_ref.path]
            if known.exists:
                kept, created = _reply(known.to_dict()), False
            else:
                kept, created = replace(reply, account_id=account_id), True
                transaction.create(reply_ref, _reply_data(kept))
            reminder = snaps[reminder_ref.path]
            if reminder.exists and reminder.get("status") in (REMINDER_SCHEDULED, REMINDER_DUE):
                transaction.update(reminder_ref, _cancelled(reply.recorded_at, "reply"))
            return kept, created

        return self._transaction("record reply", run)

    def replies(self, account_id: str, message_id: str | None = None) -> list[Reply]:
        if not _valid_id(account_id) or message_id is not None and not _valid_id(message_id):
            return []
        with self._errors("replies"):
            if message_id is None:
                query = self.db.collection_group(REPLIES).where(
                    filter=FieldFilter("account_id", "==", account_id)
                )
            else:
                query = (
                    self._message_ref(message_id)
                    .collection(REPLIES)
                    .where(filter=FieldFilter("account_id", "==", account_id))
                )
            found = [_reply(snap.to_dict()) for snap in query.stream(**self._opts)]
        return sorted(found, key=lambda r: (r.at, r.message_id, r.gmail_message_id))

    def set_reminder(
        self, account_id: str, message_id: str, due_at: datetime, now: datetime
    ) -> Reminder | None:
        if not _valid_id(message_id):
            return None
        message_ref = self._message_ref(message_id)
        reminder = Reminder(message_id, account_id, due_at, REMINDER_SCHEDULED, now)

        def run(transaction):
            snap = message_ref.get(field_paths=["account_id"], transaction=transaction)
            if not snap.exists or snap.get("account_id") != account_id:
                return None
            transaction.set(self._reminder_ref(message_id), _reminder_data(reminder))
            return reminder

        return self._transaction("set reminder", run)

    def reminder(self, account_id: str, message_id: str) -> Reminder | None:
        if not _valid_id(message_id):
            return None
        with self._errors("reminder"):
            snap = self._reminder_ref(message_id).get(**self._opts)
        if not snap.exists or snap.get("account_id") != account_id:
            return None
        return _reminder(snap.to_dict())

    def _change_reminder(self, what, account_id, message_id, statuses, changes):
        """Apply `changes` to the reminder if it is the account's and in `statuses`."""
        if not _valid_id(message_id):
            return None
        ref = self._reminder_ref(message_id)

        def run(transaction):
            snap = ref.get(transaction=transaction)
            if not snap.exists or snap.get("account_id") != account_id:
                return None
            if snap.get("status") not in statuses:
                return None
            transaction.update(ref, changes)
            return _reminder({**snap.to_dict(), **changes})

        return self._transaction(what, run)

    def cancel_reminder(
        self, account_id: str, message_id: str, now: datetime, reason: str = "user"
    ) -> Reminder | None:
        return self._change_reminder(
            "cancel reminder",
            account_id,
            message_id,
            (REMINDER_SCHEDULED, REMINDER_DUE),
            _cancelled(now, reason),
        )

    def ack_reminder(self, account_id: str, message_id: str, now: datetime) -> Reminder | None:
        return self._change_reminder(
            "ack reminder",
            account_id,
            message_id,
            (REMINDER_DUE,),
            {"status": REMINDER_ACKED, "acked_at": now},
        )

    def reminders(self, account_id: str, status: str, limit: int = 200) -> list[Reminder]:
        if not _valid_id(account_id):
            return []
        query = (
            self.db.collection_group(REMINDER)
            .where(filter=FieldFilter("account_id", "==", account_id))
            .where(filter=FieldFilter("status", "==", status))
            .order_by("due_at")
            .limit(limit)
        )
        with self._errors("reminders"):
            found = [_reminder(snap.to_dict()) for snap in query.stream(**self._opts)]
        return sorted(found, key=lambda r: (r.due_at, r.message_id))

    def scheduled_reminders(self, before: datetime, limit: int = 200) -> list[Reminder]:
        query = (
            self.db.collection_group(REMINDER)
            .where(filter=FieldFilter("status", "==", REMINDER_SCHEDULED))
            .where(filter=FieldFilter("due_at", "<=", before))
            .order_by("due_at")
            .limit(limit)
        )
        with self._errors("scheduled reminders"):
            found = [_reminder(snap.to_dict()) for snap in query.stream(**self._opts)]
        return sorted(found, key=lambda r: (r.due_at, r.message_id))

    def fire_reminder(self, message_id: str, now: datetime) -> Reminder | None:
        if not _valid_id(message_id):
            return None
        ref = self._reminder_ref(message_id)
        replies = self._message_ref(message_id).collection(REPLIES).select([]).limit(1)
        with self._errors("fire reminder"):
            snap = ref.get(**self._opts)
            if not snap.exists or snap.get("status") != REMINDER_SCHEDULED:
                return None
            if _dt(snap.get("due_at")) > now:
                return None  # moved later meanwhile
            replied = bool(list(replies.stream(**self._opts)))
            changes = (
                _cancelled(now, "reply") if replied else {"status": REMINDER_DUE, "fired_at": now}
            )
            try:
                # Only the version just read: several workers firing at once, a reply
                # cancelling, or the user moving the reminder all change it, and then this
                # one does nothing. (A transaction would do as well, but every worker would
                # contend for the same document every pass.)
                ref.update(
                    changes,
                    option=self._option(last_update_time=snap.update_time),
                    timeout=self.timeout,
                )
            except (FailedPrecondition, NotFound):
                return None
        return None if replied else _reminder({**snap.to_dict(), **changes})

    # --- end of Insights (issue 7) -------------------------------------------------------


class _Totals:
    """What some hits add to one message's shard."""

    def __init__(self):
        self.opens: list[int] = []
        self.clicks = 0
        self.link_clicks: dict[str, int] = {}
        self.machine_opens = 0

    def add(self, kind, at, link_index, counted, cls) -> None:
        if kind == "open" and cls in MACHINE_OPEN_CLASSES:
            self.machine_opens += 1
        if not counted:
            return
        if kind == "open":
            self.opens.append(_micros(at))
        elif kind == "click":
            self.clicks += 1
            if link_index is not None:
                index = str(link_index)
                self.link_clicks[index] = self.link_clicks.get(index, 0) + 1
        # Other kinds (the extension's self-view signal) are evidence for the classifier only.

    def update(self) -> dict:
        update: dict = {}
        if self.opens:
            update["opens"] = Increment(len(self.opens))
            update["first_open_us"] = Minimum(min(self.opens))
            update["last_open_us"] = Maximum(max(self.opens))
        if self.clicks:
            update["clicks"] = Increment(self.clicks)
        if self.link_clicks:
            update["link_clicks"] = {i: Increment(n) for i, n in self.link_clicks.items()}
        if self.machine_opens:
            update["machine_opens"] = Increment(self.machine_opens)
        return update


def _hit_data(hit: Hit, expires_at: datetime, bucket: int) -> dict:
    return {
        "id": hit.id,
        "message_id": hit.message_id,
        "kind": hit.kind,
        "at": hit.at,
        "ip": hit.ip,
        "user_agent": hit.user_agent,
        "method": hit.method,
        "link_index": hit.link_index,
        "url": hit.url,
        "headers": dict(hit.headers),
        "counted": hit.counted,
        "cls": hit.cls,
        "client": hit.client,
        "device": hit.device,
        "expires_at": expires_at,
        "bucket": bucket,
    }


def _hit(snap) -> Hit:
    data = snap.to_dict()
    return Hit(
        id=data["id"],
        message_id=data["message_id"],
        kind=data["kind"],
        at=_dt(data["at"]),
        ip=data["ip"],
        user_agent=data["user_agent"],
        method=data["method"],
        link_index=data["link_index"],
        url=data["url"],
        headers=data["headers"] or {},
        counted=data["counted"],
        cls=data.get("cls", ""),
        client=data.get("client", ""),
        device=data.get("device", ""),
    )


def _message(snap, shards: list[dict]) -> Message:
    data = snap.to_dict()
    firsts = [s["first_open_us"] for s in shards if s.get("first_open_us") is not None]
    lasts = [s["last_open_us"] for s in shards if s.get("last_open_us") is not None]
    link_clicks: dict[int, int] = {}
    for shard in shards:
        for index, count in (shard.get("link_clicks") or {}).items():
            link_clicks[int(index)] = link_clicks.get(int(index), 0) + count
    return Message(
        id=snap.id,
        account_id=data["account_id"],
        created_at=_dt(data["created_at"]),
        expires_at=_dt(data.get("expires_at")),
        subject=data.get("subject", ""),
        to=list(data.get("to") or []),
        cc=list(data.get("cc") or []),
        bcc=list(data.get("bcc") or []),
        links=list(data.get("links") or []),
        sent_at=_dt(data.get("sent_at")),
        gmail_message_id=data.get("gmail_message_id"),
        gmail_thread_id=data.get("gmail_thread_id"),
        opens=sum(s.get("opens", 0) for s in shards),
        first_open_at=_from_micros(min(firsts)) if firsts else None,
        last_open_at=_from_micros(max(lasts)) if lasts else None,
        clicks=sum(s.get("clicks", 0) for s in shards),
        link_clicks=link_clicks,
        machine_opens=sum(s.get("machine_opens", 0) for s in shards),
    )


def _document(record, *, leave_out: tuple[str, ...] = ()) -> dict:
    """A dataclass as a Firestore document: every field but those the path already says."""
    data = dataclasses.asdict(record)
    for name in leave_out:
        data.pop(name)
    return data


def _record(cls, data: dict, **known):
    """A dataclass read back from its document, timestamps as plain UTC datetimes.

    Fields the document lacks (written before the field existed) take their defaults.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    values = {
        name: _dt(value) if isinstance(value, datetime) else value
        for name, value in data.items()
        if name in names
    }
    return cls(**values, **known)


def _activity_data(item: Activity) -> dict:
    # The account is the document's grandparent in the path.
    return _document(item, leave_out=("account_id",))


def _activity_item(snap) -> Activity:
    return _record(Activity, snap.to_dict(), account_id=snap.reference.parent.parent.id)


# --- Insights (issue 7) ------------------------------------------------------------------

REPLIES = "replies"
REMINDER = "reminder"


def _reply_data(reply: Reply) -> dict:
    return _document(reply)


def _reply(data: dict) -> Reply:
    return _record(Reply, data)


def _reminder_data(reminder: Reminder) -> dict:
    return _document(reminder)


def _reminder(data: dict) -> Reminder:
    return _record(Reminder, data)


def _cancelled(now: datetime, reason: str) -> dict:
    return {"status": REMINDER_CANCELLED, "cancelled_at": now, "cancel_reason": reason}
