"""The storage interface every backend view talks to, and the registry of implementations.

Nothing here knows about HTTP. Implementations: ``sqlite`` (embedded, the default) and
``firestore`` (production). The same contract tests (tests/test_store_contract.py) run
against both.
"""

from __future__ import annotations

import abc
import base64
import importlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# How long raw hits are kept unless a store is told otherwise (docs/privacy.md).
DEFAULT_RETENTION_DAYS = 90


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """Format a moment as a fixed-width UTC string, so that text order is time order."""
    if moment is None:
        return None
    # isoformat() gives the same text for UTC as strftime(ISO_FORMAT), a third faster; every
    # time in every answer passes through here.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


_CURSOR_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def encode_cursor(sent_at: str, message_id: str) -> str:
    """The history cursor after a message: opaque to clients, the same for every store."""
    raw = json.dumps([sent_at, message_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """Read a history cursor; ValueError if it is not one a store made."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sent_at, message_id = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(sent_at, str) or not isinstance(message_id, str):
            raise TypeError
        # Stores compare or parse the time, so it must be one iso() wrote; message ids are
        # URL-safe (tracking ids), and a path-like one would be misread by Firestore.
        datetime.strptime(sent_at, ISO_FORMAT)
        if not _CURSOR_ID.fullmatch(message_id):
            raise ValueError
        return sent_at, message_id
    except (ValueError, TypeError) as exc:
        raise ValueError("cursor is not one this server handed out") from exc


class StoreError(Exception):
    """The store could not do what was asked (unreachable, locked, misconfigured)."""


@dataclass
class Account:
    id: str
    email: str
    created_at: datetime


@dataclass
class Message:
    """A tracked email: what the owner registered plus aggregates of its real hits."""

    id: str
    account_id: str
    created_at: datetime
    expires_at: datetime | None = None
    subject: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    sent_at: datetime | None = None
    gmail_message_id: str | None = None
    gmail_thread_id: str | None = None
    opens: int = 0
    first_open_at: datetime | None = None
    last_open_at: datetime | None = None
    clicks: int = 0
    link_clicks: dict[int, int] = field(default_factory=dict)
    # Opens by machines that fetch every image (Apple Mail Privacy Protection): "probably opened".
    machine_opens: int = 0

    @property
    def completed(self) -> bool:
        return self.sent_at is not None

    @property
    def state(self) -> str:
        if self.opens or self.clicks:
            return "opened"
        return "tracked" if self.completed else "reserved"


class Status(NamedTuple):
    """What a check mark needs of a message: the batch status call's answer, nothing more.

    Made for the wire: a status call builds 50 to 200 of these, so it is a named tuple (three
    times faster to make than a frozen dataclass) and its times are already the text iso()
    writes, which is what a store keeps, so a store that keeps text hands it through without a
    round trip through datetime (that round trip was a fifth of the call's cost).
    """

    id: str
    gmail_message_id: str | None
    gmail_thread_id: str | None
    opens: int
    first_open_at: str | None  # as iso() writes it
    last_open_at: str | None
    clicks: int
    machine_opens: int
    completed: bool

    @property
    def state(self) -> str:
        if self.opens or self.clicks:
            return "opened"
        return "tracked" if self.completed else "reserved"

    @classmethod
    def of(cls, message: Message) -> Status:
        return cls(
            id=message.id,
            gmail_message_id=message.gmail_message_id,
            gmail_thread_id=message.gmail_thread_id,
            opens=message.opens,
            first_open_at=iso(message.first_open_at),
            last_open_at=iso(message.last_open_at),
            clicks=message.clicks,
            machine_opens=message.machine_opens,
            completed=message.completed,
        )


@dataclass
class Hit:
    """One request for a pixel or a click link, kept raw."""

    id: str
    message_id: str
    kind: str  # "open" or "click"
    at: datetime
    ip: str = ""
    user_agent: str = ""
    method: str = "GET"
    link_index: int | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Whether the hit counts as a reader's open or click in the aggregates.
    counted: bool = True
    # What the hit was (see backend/classify.py): human, gmail_proxy, apple_mpp, yahoo_proxy,
    # scanner, self, duplicate; "" while unclassified.
    cls: str = ""
    # The reader's mail client and device as parsed from the user agent, when it tells.
    client: str = ""
    device: str = ""

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "message_id": self.message_id,
            "kind": self.kind,
            "at": iso(self.at),
            "ip": self.ip,
            "user_agent": self.user_agent,
            "method": self.method,
            "link_index": self.link_index,
            "url": self.url,
            "headers": self.headers,
            "counted": self.counted,
            "cls": self.cls,
            "client": self.client,
            "device": self.device,
        }

    @classmethod
    def from_json(cls, data: dict) -> Hit:
        return cls(
            id=data["id"],
            message_id=data["message_id"],
            kind=data["kind"],
            at=parse_iso(data["at"]),
            ip=data.get("ip", ""),
            user_agent=data.get("user_agent", ""),
            method=data.get("method", "GET"),
            link_index=data.get("link_index"),
            url=data.get("url"),
            headers=data.get("headers") or {},
            counted=data.get("counted", True),
            cls=data.get("cls", ""),
            client=data.get("client", ""),
            device=data.get("device", ""),
        )


# --- Insights (issue 7): replies seen in tracked threads, follow-up reminders. -------------

# A reminder's life: scheduled -> due (fired: no reply came in time) -> acked (the user saw it);
# scheduled or due -> cancelled (by the user, or by a reply).
REMINDER_SCHEDULED = "scheduled"
REMINDER_DUE = "due"
REMINDER_ACKED = "acked"
REMINDER_CANCELLED = "cancelled"
REMINDER_STATUSES = (REMINDER_SCHEDULED, REMINDER_DUE, REMINDER_ACKED, REMINDER_CANCELLED)


@dataclass(frozen=True)
class Reply:
    """A message from a recipient in a tracked email's thread, after it was sent."""

    message_id: str  # the tracked message replied to
    account_id: str
    gmail_message_id: str  # the reply's own Gmail id: what makes reporting it idempotent
    sender: str  # lower-case address
    at: datetime
    source: str  # "extension" or "gmail_api"
    recorded_at: datetime


@dataclass(frozen=True)
class Reminder:
    """A follow-up reminder on a sent message: one per message, so its id is the message's."""

    message_id: str
    account_id: str
    due_at: datetime
    status: str  # one of REMINDER_STATUSES
    created_at: datetime
    fired_at: datetime | None = None
    acked_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str = ""  # "user" or "reply" when cancelled

    @property
    def id(self) -> str:
        return self.message_id


# --- end of Insights (issue 7) -----------------------------------------------------------


# Fields a completion may set; anything else in the request is refused by the API layer.
COMPLETION_FIELDS = (
    "subject",
    "to",
    "cc",
    "bcc",
    "links",
    "sent_at",
    "gmail_message_id",
    "gmail_thread_id",
)


class Store(abc.ABC):
    """What Mailtick needs from a database. Every method is safe to call from many threads."""

    kind: str = ""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise StoreError unless the store answers."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    # Accounts and tokens.
    @abc.abstractmethod
    def ensure_account(self, email: str, now: datetime) -> Account:
        """Return the account for this address, creating it if needed."""

    @abc.abstractmethod
    def get_account(self, account_id: str) -> Account | None: ...

    @abc.abstractmethod
    def delete_account(self, account_id: str) -> None:
        """Remove the account, its tokens, its messages and their hits."""

    @abc.abstractmethod
    def add_token(
        self, account_id: str, token_hash: str, now: datetime, label: str = ""
    ) -> None: ...

    @abc.abstractmethod
    def account_for_token(self, token_hash: str) -> Account | None: ...

    @abc.abstractmethod
    def revoke_token(self, token_hash: str) -> bool:
        """Forget a token; True if it existed."""

    # Messages.
    @abc.abstractmethod
    def reserve(
        self, account_id: str, message_id: str, now: datetime, expires_at: datetime
    ) -> None:
        """Create an empty message owned by the account; it expires unless completed."""

    @abc.abstractmethod
    def complete(self, account_id: str, message_id: str, changes: dict) -> Message | None:
        """Apply the given COMPLETION_FIELDS; None if missing or not the account's."""

    @abc.abstractmethod
    def message(self, account_id: str, message_id: str) -> Message | None:
        """The account's message, or None (another account's message is missing too)."""

    @abc.abstractmethod
    def link_target(self, message_id: str, index: int) -> str | None:
        """The destination registered as link `index` of a message, for the click redirect."""

    @abc.abstractmethod
    def messages(
        self, account_id: str, limit: int, cursor: str | None = None, query: str = ""
    ) -> tuple[list[Message], str | None]:
        """Sent messages, newest first, and the cursor of the next page (None at the end)."""

    @abc.abstractmethod
    def statuses(
        self, account_id: str, ids: Sequence[str], gmail_ids: Sequence[str]
    ) -> list[Message]:
        """The account's messages with these tracking ids or Gmail message/thread ids."""

    def states(self, account_id: str, ids: Sequence[str], gmail_ids: Sequence[str]) -> list[Status]:
        """What `statuses` finds, reduced to what check marks need; stores may do it leaner."""
        return [Status.of(message) for message in self.statuses(account_id, ids, gmail_ids)]

    @abc.abstractmethod
    def delete_message(self, account_id: str, message_id: str) -> bool: ...

    @abc.abstractmethod
    def purge_reservations(self, now: datetime) -> int:
        """Drop reserved messages never completed whose expiry has passed; return how many."""

    # Hits.
    @abc.abstractmethod
    def record_hits(self, hits: Sequence[Hit]) -> None:
        """Keep hits and update their messages' aggregates.

        Idempotent by hit id, so a spooled hit may be written again safely. Hits for
        messages that do not exist are dropped. A counted open adds to `opens` and the
        first/last open, a counted click to `clicks` and its link's count; an open of a class
        in MACHINE_OPEN_CLASSES adds to `machine_opens`, counted or not. A hit whose `cls` is
        "" is pending: pending_hits() finds it until apply_verdicts() classifies it. The hot
        path records pending hits uncounted, so that only their verdict counts them.
        """

    @abc.abstractmethod
    def hits(self, account_id: str, message_id: str) -> list[Hit]:
        """The raw hits of the account's message, oldest first."""

    @abc.abstractmethod
    def pending_hits(self, before: datetime, limit: int = 500) -> list[Hit]:
        """Unclassified hits (`cls == ""`) of every account with `at <= before`.

        Oldest first (ties by id), at most `limit`. For the background classifier only.
        """

    @abc.abstractmethod
    def message_by_id(self, message_id: str) -> Message | None:
        """A message with its aggregates, whoever owns it. Internal use only: no owner check."""

    @abc.abstractmethod
    def hits_between(self, message_id: str, start: datetime, end: datetime) -> list[Hit]:
        """Every hit of the message (any kind, self-view signals too) with start <= at <= end.

        Oldest first (ties by id), whoever owns the message; [] for an unknown message.
        """

    @abc.abstractmethod
    def apply_verdicts(self, hits: Sequence[Hit]) -> list[Hit]:
        """Store the classifier's verdicts; return the hits this call applied.

        Each hit carries its verdict: `cls` (not ""), `counted`, `client`, `device` and the
        truncated `ip`. A verdict is applied only to a hit whose stored copy is still
        unclassified, atomically with its aggregates, so a hit two workers classify at once
        is applied once. Applying stores those five fields and then counts the hit as
        record_hits() counts a recorded one: opens and first/last open, or clicks per link,
        if `counted`; `machine_opens` for an open of a class in MACHINE_OPEN_CLASSES. The
        hit's kind, time and link are the stored ones. A hit that was already counted when
        it was recorded (an unclassified hit recorded with counted=True, as spooled before
        classification existed) is not counted a second time. Hits whose message or hit is
        gone are skipped. Raises ValueError, applying nothing, if a hit carries no class.
        """

    @abc.abstractmethod
    def purge_hits(self, before: datetime) -> int:
        """Delete the raw hits with `at < before`; return how many. Aggregates stay."""

    # --- Insights (issue 7): replies and follow-up reminders. ------------------------------
    # Both go with their message: deleting the message or the account deletes them.

    @abc.abstractmethod
    def record_reply(self, account_id: str, reply: Reply) -> tuple[Reply, bool] | None:
        """Keep a reply to the account's message `reply.message_id`; None if not theirs.

        Idempotent by (message, reply.gmail_message_id): the reply as first kept, and whether
        this call kept it. Atomically with it, the message's reminder, if scheduled or due, is
        cancelled with reason "reply" (also when the reply was known already).
        """

    @abc.abstractmethod
    def replies(self, account_id: str, message_id: str | None = None) -> list[Reply]:
        """The account's replies (only the message's, when given), oldest first."""

    @abc.abstractmethod
    def set_reminder(
        self, account_id: str, message_id: str, due_at: datetime, now: datetime
    ) -> Reminder | None:
        """Schedule the message's reminder for `due_at`, replacing any earlier one of it.

        None if the message is not the account's. The store does not check for replies.
        """

    @abc.abstractmethod
    def reminder(self, account_id: str, message_id: str) -> Reminder | None:
        """The message's reminder in whatever state, if the message is the account's."""

    @abc.abstractmethod
    def cancel_reminder(
        self, account_id: str, message_id: str, now: datetime, reason: str = "user"
    ) -> Reminder | None:
        """Cancel the message's reminder if scheduled or due; the cancelled one, else None."""

    @abc.abstractmethod
    def reminders(self, account_id: str, status: str, limit: int = 200) -> list[Reminder]:
        """The account's reminders in `status`, earliest due first, at most `limit`."""

    @abc.abstractmethod
    def scheduled_reminders(self, before: datetime, limit: int = 200) -> list[Reminder]:
        """Every account's scheduled reminders with `due_at <= before`, earliest first.

        For the reminder job only: no owner check.
        """

    @abc.abstractmethod
    def fire_reminder(self, message_id: str, now: datetime) -> Reminder | None:
        """Mark a reminder due (fired at `now`) and return it, atomically, if it is still
        scheduled, `due_at <= now` and its message has no reply. A scheduled reminder whose
        message has a reply is cancelled (reason "reply") instead. None unless fired here, so
        two processes firing one reminder fire it once."""

    @abc.abstractmethod
    def ack_reminder(self, account_id: str, message_id: str, now: datetime) -> Reminder | None:
        """Mark the account's due reminder of the message as acknowledged; None if not due."""

    # --- end of Insights (issue 7) -------------------------------------------------------

    # Per-account settings.
    @abc.abstractmethod
    def get_settings(self, account_id: str) -> dict:
        """The account's settings (a JSON object); {} if none or no such account."""

    @abc.abstractmethod
    def put_settings(self, account_id: str, changes: dict) -> dict:
        """Merge top-level keys into the account's settings and return all of them.

        Raises StoreError if the account does not exist. Settings go with the account.
        """

    # --- Notifications (issue 5): activity feed, push subscriptions, marks, secrets. ---------
    # Stores keep these with the account: deleting the account deletes them, and a message's
    # activity goes with the message.

    @abc.abstractmethod
    def append_activity(
        self, account_id: str, items: Sequence[Activity], decide: Callable[[Activity], bool]
    ) -> list[Activity]:
        """Add a reader's opens and clicks to the account's feed; return the items added.

        Items come oldest first, each with `id` its hit's id, `kind` "opened" (an open) or
        "clicked", and `day` the reader's local day. Atomically for the account, the store
        skips items whose id is in the feed already (a retry adds nothing twice) and sets on
        each new item: `kind` "reopened" for an open of a message that has an open in the feed;
        `first` (the message's first open, or the first click on that link of the message);
        `count_today` (this item included: opens of the message, or clicks on that link, on
        `day`); `seq`, one more than the account's last, so that a reader who sees an item sees
        every item before it; then `notify = decide(item)`.
        """

    @abc.abstractmethod
    def activity(self, account_id: str, after: int | None, limit: int) -> list[Activity]:
        """The account's items with `seq > after`, oldest first, at most `limit`.

        With `after` None: the newest `limit` items, still oldest first.
        """

    @abc.abstractmethod
    def activity_head(self, account_id: str) -> int:
        """The `seq` of the account's newest item ever added; 0 before the first."""

    @abc.abstractmethod
    def activity_between(
        self, account_id: str, start: datetime, end: datetime, limit: int = 1000
    ) -> list[Activity]:
        """The account's items with `start <= at < end`, oldest first, at most `limit`."""

    @abc.abstractmethod
    def purge_activity(self, before: datetime) -> int:
        """Delete every account's items with `at < before`; return how many."""

    @abc.abstractmethod
    def add_push_subscription(
        self, account_id: str, endpoint: str, p256dh: str, auth: str, now: datetime
    ) -> None:
        """Keep a browser's push subscription for the account (an endpoint has one owner:
        subscribing it again, from any account, replaces it). StoreError if no such account."""

    @abc.abstractmethod
    def push_subscriptions(self, account_id: str) -> list[PushSubscription]:
        """The account's push subscriptions, oldest first."""

    @abc.abstractmethod
    def remove_push_subscription(self, endpoint: str, account_id: str | None = None) -> bool:
        """Forget a subscription (only if it is this account's, when given); True if it was."""

    @abc.abstractmethod
    def claim_mark(self, account_id: str, key: str, now: datetime) -> bool:
        """Set a once-only mark (a day's digest sent); True only for the call that set it."""

    @abc.abstractmethod
    def release_mark(self, account_id: str, key: str) -> None:
        """Remove a mark, so that the work it guarded may be tried again."""

    @abc.abstractmethod
    def server_secret(self, name: str, value: str) -> str:
        """The server-wide secret kept under `name`, storing `value` if there is none yet.

        Every process gets the same answer: the first value stored wins.
        """

    @abc.abstractmethod
    def put_credential(self, account_id: str, name: str, value: str | None) -> None:
        """Keep (or with None, forget) a credential of the account; StoreError if no account."""

    @abc.abstractmethod
    def credential(self, account_id: str, name: str) -> str | None: ...

    @abc.abstractmethod
    def accounts_with_setting(self, name: str, value) -> list[Account]:
        """Every account whose stored setting `name` equals `value` (a bool or a string)."""


# --- Notifications (issue 5): what the activity feed and push keep. -------------------------

ACTIVITY_KINDS = ("opened", "reopened", "clicked")


@dataclass
class Activity:
    """One item of an account's activity feed: a reader's counted open or click."""

    id: str  # the hit's id
    account_id: str
    message_id: str
    kind: str  # one of ACTIVITY_KINDS
    at: datetime  # when the reader opened or clicked
    day: str = ""  # the reader's time as a day of the account's time zone, YYYY-MM-DD
    subject: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    link_index: int | None = None
    url: str | None = None
    cls: str = ""
    client: str = ""
    device: str = ""
    gmail_message_id: str | None = None
    gmail_thread_id: str | None = None
    # Set by the store when the item is added (see Store.append_activity).
    seq: int = 0
    first: bool = False
    count_today: int = 0
    notify: bool = False


@dataclass(frozen=True)
class PushSubscription:
    """A browser's Web Push subscription: where to post, and the keys to encrypt for."""

    account_id: str
    endpoint: str
    p256dh: str
    auth: str
    created_at: datetime


STORES = {
    "sqlite": "backend.store.sqlite:SQLiteStore",
    "firestore": "backend.store.firestore:FirestoreStore",
}


def open_store(url: str, **options) -> Store:
    """Open the store a URL names: ``sqlite:///path/to.db`` or ``firestore://PROJECT``.

    `options` go to the store's constructor; every store takes ``retention_days`` (how long
    raw hits are kept: Firestore stamps each hit with its expiry for a TTL policy).
    """
    kind = url.split(":", 1)[0]
    if kind not in STORES:
        raise ValueError(
            f"MAILTICK_STORE {url!r} names no known store; use sqlite:///PATH or firestore://PROJECT"
        )
    module_name, class_name = STORES[kind].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_url(url, **options)
