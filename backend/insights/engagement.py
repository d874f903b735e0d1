"""How contacts engage with the user's tracked emails: opened, how soon, replied.

Pure functions over messages and replies; the Gmail add-on's contact card
(backend/addon/engagement.py) shares the basic rules below with the API's insights.

A pixel cannot tell recipients apart: an open of an email to Alice with Bob in copy may be
Bob's. So opens count for a contact only on emails *attributable* to them: emails whose only
recipient they are (the sole `to`, nobody in cc or bcc). Replies carry their sender, so they
count on every email sent to the contact.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..store import Message, Reply

# A contact "reads but never replies" after opening at least this many attributable emails,
# at least this share of them, with no reply to any email sent to them ...
READS_MIN_OPENED = 3
READS_MIN_SHARE = 0.5
# ... counting only emails sent at least this long ago: a reply to yesterday's email may
# still come.
REPLY_GRACE = timedelta(days=2)


def recipients(message: Message) -> set[str]:
    """Every address the message went to, lower-case."""
    return {address.strip().lower() for address in message.to + message.cc + message.bcc}


def sole_recipient(message: Message) -> str | None:
    """The address of an email's only recipient (sole `to`, no cc, no bcc), else None."""
    if len(message.to) == 1 and not message.cc and not message.bcc:
        return message.to[0].strip().lower()
    return None


def opened(message: Message) -> bool:
    """A counted open or click: a click proves an open even when images were blocked."""
    return bool(message.opens or message.clicks)


def first_open_delay(message: Message) -> timedelta | None:
    """How long after sending the first real open came, when both are known."""
    if message.sent_at is None or message.first_open_at is None:
        return None
    if message.first_open_at < message.sent_at:
        return None  # a clock that was off when sent_at was reported
    return message.first_open_at - message.sent_at


def median_delay(messages: Iterable[Message]) -> timedelta | None:
    """The median time to the first open over the messages that have one."""
    delays = [d.total_seconds() for m in messages if (d := first_open_delay(m)) is not None]
    return timedelta(seconds=statistics.median(delays)) if delays else None


@dataclass(frozen=True)
class Engagement:
    contact: str
    sent: int  # tracked emails with the contact among the recipients
    attributable: int  # of those, emails to the contact alone
    opened: int  # attributable emails opened
    median_first_open: timedelta | None  # over the opened attributable emails
    replied: int  # emails (of `sent`) the contact replied to
    last_sent_at: datetime | None
    reads_but_never_replies: bool

    @property
    def open_rate(self) -> float | None:
        return self.opened / self.attributable if self.attributable else None

    @property
    def reply_rate(self) -> float | None:
        return self.replied / self.sent if self.sent else None


def engagement(
    contact: str,
    messages: Sequence[Message],
    replied_by: dict[str, set[str]],
    now: datetime,
    replies_seen: bool = True,
) -> Engagement:
    """One contact's engagement with `messages` (the user's sent emails; others are skipped).

    `replied_by` maps a message id to the addresses that replied to it. `replies_seen` says
    whether replies can be known at all for this user (see docs/insights.md): without it
    nobody is marked as reading but never replying.
    """
    contact = contact.strip().lower()
    sent = [m for m in messages if m.sent_at is not None and contact in recipients(m)]
    alone = [m for m in sent if sole_recipient(m) == contact]
    read = [m for m in alone if opened(m)]
    replied = [m for m in sent if contact in replied_by.get(m.id, ())]
    settled = [m for m in read if now - m.sent_at >= REPLY_GRACE]
    silent = (
        replies_seen
        and not replied
        and len(settled) >= READS_MIN_OPENED
        and len(read) >= READS_MIN_SHARE * len(alone)
    )
    return Engagement(
        contact=contact,
        sent=len(sent),
        attributable=len(alone),
        opened=len(read),
        median_first_open=median_delay(read),
        replied=len(replied),
        last_sent_at=max((m.sent_at for m in sent), default=None),
        reads_but_never_replies=silent,
    )


def replied_by(replies: Iterable[Reply]) -> dict[str, set[str]]:
    """Message id -> the addresses that replied to it."""
    found: dict[str, set[str]] = {}
    for reply in replies:
        found.setdefault(reply.message_id, set()).add(reply.sender)
    return found


def contacts(
    messages: Sequence[Message],
    replies: Iterable[Reply],
    now: datetime,
    own_address: str = "",
    replies_seen: bool = True,
) -> list[Engagement]:
    """Every recipient of `messages` but the user, most emailed first (then by address)."""
    by_reply = replied_by(replies)
    by_contact: dict[str, list[Message]] = {}
    for message in messages:
        if message.sent_at is not None:
            for address in recipients(message):
                by_contact.setdefault(address, []).append(message)
    by_contact.pop(own_address.strip().lower(), None)
    found = [engagement(a, sent, by_reply, now, replies_seen) for a, sent in by_contact.items()]
    return sorted(found, key=lambda e: (-e.sent, e.contact))
