"""Follow-up reminders: find the ones that fell due with no reply, and fire them.

A reminder is kept by the store with its message (scheduled -> due -> acked, or cancelled by
the user or a reply). `due_reminders()` fires the scheduled ones whose time has come: each
becomes `due`, which the extension lists (GET /api/v1/reminders?status=due) until the user
acknowledges it, and each is handed to the functions registered with `listen()` (the
notification routes: toolbar push, email). Several processes may run it at once: the store
fires a reminder once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from ..store import Message, Reminder, Store

log = logging.getLogger(__name__)

# Reminders fired per pass; the rest wait for the next pass (a minute later).
PASS_LIMIT = 200
# When the Gmail API cannot be asked whether a reply came, a reminder waits for a later pass
# (a false "no reply yet" is worse than a late one), but not longer than this after its time.
CHECK_PATIENCE = timedelta(hours=1)


@dataclass(frozen=True)
class ReminderItem:
    """A reminder that just fell due, with what a notification says about it."""

    reminder: Reminder
    message: Message

    @property
    def account_id(self) -> str:
        return self.reminder.account_id

    def text(self) -> str:
        """'No reply yet from alice@example.com to "Offer" (sent Tue 24 Nov).'"""
        who = ", ".join(self.message.to or self.message.cc or self.message.bcc) or "anyone"
        subject = self.message.subject or "(no subject)"
        sent = self.message.sent_at.strftime("%a %d %b") if self.message.sent_at else "?"
        return f"No reply yet from {who} to \u201c{subject}\u201d (sent {sent} UTC)."


def thread_url(message: Message, account_email: str) -> str | None:
    """Gmail's web address of the message's thread, in the right account, when known."""
    if not message.gmail_thread_id:
        return None
    return (
        f"https://mail.google.com/mail/?authuser={quote(account_email, safe='@')}"
        f"#all/{quote(message.gmail_thread_id, safe='')}"
    )


def due_reminders(
    store: Store,
    now: datetime,
    *,
    check_replies: Callable[[Message], object] | None = None,
    limit: int = PASS_LIMIT,
) -> list[ReminderItem]:
    """Fire the reminders due by `now` whose message has no reply; return those fired here.

    `check_replies(message)`, when given, looks for replies first (the Gmail API, for users
    who granted it) and records them, so that a reply nobody reported still cancels.
    """
    fired: list[ReminderItem] = []
    for reminder in store.scheduled_reminders(now, limit):
        message = store.message_by_id(reminder.message_id)
        if message is None:
            continue  # deleted meanwhile, and its reminder with it
        if check_replies is not None:
            try:
                check_replies(message)
            except Exception as exc:
                if now - reminder.due_at < CHECK_PATIENCE:
                    log.warning("reminder %s waits: no reply check: %s", reminder.id, exc)
                    continue
                log.warning("reminder %s fires without a reply check: %s", reminder.id, exc)
        done = store.fire_reminder(reminder.message_id, now)
        if done is not None:
            fired.append(ReminderItem(done, message))
    return fired


# Functions called with the reminders each pass fired: the notification routes register here.
_listeners: list[Callable[[Store, list[ReminderItem]], None]] = []


def listen(callback: Callable[[Store, list[ReminderItem]], None]) -> None:
    """Have `callback(store, items)` called with every batch of reminders that fell due."""
    if callback not in _listeners:
        _listeners.append(callback)


def run(
    store: Store,
    now: datetime,
    *,
    check_replies: Callable[[Message], object] | None = None,
) -> list[ReminderItem]:
    """One pass: fire due reminders, then hand them to the listeners (one failing listener
    never stops the others; the reminders stay listed as due for the extension anyway)."""
    items = due_reminders(store, now, check_replies=check_replies)
    if items:
        log.info("%d follow-up reminder(s) fell due", len(items))
        for callback in list(_listeners):
            try:
                callback(store, items)
            except Exception:
                log.exception("a reminder listener failed")
    return items
