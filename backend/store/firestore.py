"""The production store: Cloud Firestore (native mode), shaped around Firestore's limits.

Data model (every document id is random or a hash, so no key range is written in order):

    accounts/{account_id}                {email, created_at}
    account_emails/{sha256(email)}       {account_id, email, created_at}   one per address
    tokens/{token_hash}                  {account_id, email, account_created_at, label, created_at}
    messages/{message_id}                {account_id, created_at, expires_at, subject, to, cc, bcc,
                                          links, sent_at, gmail_message_id, gmail_thread_id, search}
    messages/{message_id}/shards/{0..N-1}  {opens, first_open_us, last_open_us, clicks,
                                            link_clicks: {"<index>": n}}
    messages/{message_id}/hits/{hit_id}  the raw hit, plus expires_at for a TTL policy

A hit never writes its message document: it creates its own document (create() fails if the
hit was recorded before, which makes replays harmless) and bumps one randomly chosen shard with
Increment / Minimum / Maximum transforms. Readers add the shards up. `sent_at` is absent until
a message is completed and `expires_at` is cleared then, as in the SQLite store, so history
and the purge of stale reservations are plain indexed queries (see firestore.indexes.json).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
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

from . import (
    Account,
    Hit,
    Message,
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
# Individual hits are kept this long once a TTL policy on hits.expires_at is switched on;
# aggregates live in the shards and stay.
HIT_RETENTION = timedelta(days=90)
# A history search reads at most this many messages per call (Firestore has no substring
# search); a page that stops early still carries a cursor, so the caller can go on.
SEARCH_SCAN = 1000
SEARCH_CHUNK = 200
# Spool batches are 200 hits; each hit is two writes at most.
HIT_BATCH = 200
# Firestore's limit on values in one `in` filter.
IN_LIMIT = 30
DELETE_BATCH = 400
PURGE_BATCH = 200

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
    ):
        """Describe the store; the client is created on first use, never here.

        `emulator_host` points this store alone at a Firestore emulator (tests); without it
        the client follows FIRESTORE_EMULATOR_HOST or Application Default Credentials.
        """
        self.project = project
        self.database = database
        self.emulator_host = emulator_host
        self.shards = shards
        self.search_scan = search_scan
        self.timeout = timeout
        self._client = None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> FirestoreStore:
        prefix = "firestore://"
        rest = url[len(prefix) :] if url.startswith(prefix) else ""
        parts = rest.split("/")
        if not rest or len(parts) > 2 or not all(parts):
            raise ValueError(
                f"a Firestore store URL looks like firestore://PROJECT or"
                f" firestore://PROJECT/DATABASE, got {url!r}"
            )
        return cls(parts[0], parts[1] if len(parts) == 2 else "(default)")

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
        if snap is None or not snap.exists or snap.get("account_id") != account_id:
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
        # After the message itself, so that hits arriving meanwhile find no message.
        for name in ("hits", "shards"):
            self._delete_query(ref.collection(name))

    def _delete_query(self, query) -> None:
        while True:
            page = list(query.select([]).limit(DELETE_BATCH).stream(**self._opts))
            if not page:
                return
            batch = self.db.batch()
            for snap in page:
                batch.delete(snap.reference)
            batch.commit(**self._opts)
            if len(page) < DELETE_BATCH:
                return

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
        now = utcnow()
        batch = self.db.batch()
        totals: dict[str, dict] = {}
        for hit in hits:
            batch.create(hit_refs[hit.id], _hit_data(hit, now + HIT_RETENTION))
            if not hit.counted:
                continue
            total = totals.setdefault(hit.message_id, {"opens": [], "clicks": {}})
            if hit.kind == "open":
                total["opens"].append(_micros(hit.at))
            else:
                total["click_count"] = total.get("click_count", 0) + 1
                if hit.link_index is not None:
                    index = str(hit.link_index)
                    total["clicks"][index] = total["clicks"].get(index, 0) + 1
        for message_id, total in totals.items():
            update: dict = {}
            if total["opens"]:
                update["opens"] = Increment(len(total["opens"]))
                update["first_open_us"] = Minimum(min(total["opens"]))
                update["last_open_us"] = Maximum(max(total["opens"]))
            if total.get("click_count"):
                update["clicks"] = Increment(total["click_count"])
            if total["clicks"]:
                update["link_clicks"] = {i: Increment(n) for i, n in total["clicks"].items()}
            shard = self._shard_refs(message_id)[secrets.randbelow(self.shards)]
            batch.set(shard, update, merge=True)
        # Atomic: if any hit document exists already, no counter moves.
        batch.commit(**self._opts)

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


def _hit_data(hit: Hit, expires_at: datetime) -> dict:
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
    )
