"""Insights for the extension: best time to send, engagement, replies, follow-up reminders.

Routes under /api/v1 (token required) and the reminder job at /cron/reminders. Everything is
computed from the caller's own messages: another user's address is simply one the caller
never wrote to, and another user's message is a 404. See docs/insights.md and docs/api.md.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, current_app, g, jsonify, request

from .. import user_settings
from ..api import GMAIL_ID, invalid, json_body
from ..auth import authenticated
from ..cron import _check as check_cron  # the cron blueprint's guard: cron or admin token
from ..errors import ApiError
from ..notify.gmail import REPLIES, forget, grant_link_response, refresh_token_of
from ..store import (
    REMINDER_CANCELLED,
    REMINDER_DUE,
    REMINDER_SCHEDULED,
    REMINDER_STATUSES,
    Message,
    Reminder,
    Reply,
    iso,
    parse_iso,
    utcnow,
)
from ..tracking import ID_PATTERN
from . import besttime, engagement, gmail, reminders

log = logging.getLogger(__name__)
bp = Blueprint("insights", __name__)

# Insights read at most this many of the latest sent emails (in pages of PAGE): recent habits
# are the ones that matter, and the answer stays quick.
MAX_MESSAGES = 1000
PAGE = 200
MAX_CONTACTS = 200
# A reply dated this long before its message was sent is no reply to it; a little less is
# a clock that was off.
CLOCK_SKEW = timedelta(minutes=5)
REMINDER_DAYS = (1, 3, 7)
# How often each process's background thread looks for reminders that fell due.
REMINDER_EVERY = 60.0
MAX_REMINDER_AHEAD = timedelta(days=365)


@bp.record_once
def _bind(setup_state) -> None:
    """Fire due reminders from each process's background thread too, so that a server with
    no cron (`mailtick serve` on a laptop) reminds on time; App Engine's cron calls
    /cron/reminders. The store fires each reminder once however many processes try."""
    app = setup_state.app
    store = app.extensions["mailtick.store"]

    def job():
        reminders.run(store, utcnow(), check_replies=app.extensions.get("mailtick.reply_checker"))

    app.extensions["mailtick.background"].jobs.append((REMINDER_EVERY, job))
    # Makes the Gmail API's transport for each check; None: httplib2 (tests: an HttpMock).
    app.extensions.setdefault("mailtick.reply_checker_http", None)
    # check(message) that asks the Gmail API for replies before a reminder fires, for the
    # users who granted gmail.metadata (POST /api/v1/insights/gmail); for the others it asks
    # nothing and only reported replies count. None without Google sign-in.
    if "mailtick.reply_checker" not in app.extensions:
        config = app.config["MAILTICK"]
        app.extensions["mailtick.reply_checker"] = (
            _gmail_checker(app, store, config) if config.google_sign_in else None
        )


def _gmail_checker(app, store, config):
    def token_of(account_id: str) -> str | None:
        return refresh_token_of(store, config, account_id, REPLIES)

    def transport():
        make = app.extensions.get("mailtick.reply_checker_http")
        return make() if make else None

    return gmail.reply_checker(store, config, token_of, http=transport)


def _store():
    return current_app.extensions["mailtick.store"]


def _history(query: str = "") -> list[Message]:
    """The caller's latest sent emails (all, or those whose search text holds `query`)."""
    found, cursor = [], None
    # A bounded number of calls: on Firestore a search reads at most 1,000 messages a call
    # and may return a short page, so a rare address is looked for in the latest 5,000.
    for _ in range(MAX_MESSAGES // PAGE):
        page, cursor = _store().messages(g.account.id, PAGE, cursor, query)
        found += page
        if cursor is None or len(found) >= MAX_MESSAGES:
            break
    return found[:MAX_MESSAGES]


def _zone() -> tuple[str, ZoneInfo]:
    """The caller's `time_zone` setting (registered with the notification settings, which
    check it is an IANA name), as a zoneinfo zone: daylight saving comes with it."""
    name = user_settings.effective(_store().get_settings(g.account.id)).get("time_zone", "UTC")
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):  # the zone left the tz database
        return "UTC", ZoneInfo("UTC")


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _best_time_json(first_opens, subject: str = "") -> dict:
    name, zone = _zone()
    now = utcnow()
    found = besttime.best_time(first_opens, zone, now, subject)
    days, hours = found.peak.days, found.peak.hours
    return {
        "time_zone": name,
        "basis": "first_open",
        "weekdays": list(besttime.WEEKDAYS),
        "matrix": found.matrix,
        "opened": found.opened,
        "min_opened": besttime.MIN_OPENED,
        "peak_windows": {
            "days": None
            if days is None
            else {
                "first": days.start,
                "last": (days.start + days.length - 1) % 7,
                "label": besttime.days_text(days),
                "opens": days.opens,
                "share": _rate(days.share),
            },
            "hours": None
            if hours is None
            else {
                "start": hours.start,
                "end": hours.end,
                "label": besttime.hours_text(hours),
                "opens": hours.opens,
                "share": _rate(hours.share),
            },
        },
        "hint": found.hint,
        "no_hint_reason": found.reason,
        "suggested_send_at": iso(found.suggested_at),
        "suggested_send_local": found.suggested_at.astimezone(zone).isoformat()
        if found.suggested_at
        else None,
        "in_peak_now": found.in_peak_now,
    }


def _engagement_json(found: engagement.Engagement) -> dict:
    median = found.median_first_open
    return {
        "address": found.contact,
        "emails_sent": found.sent,
        "emails_alone": found.attributable,
        "opened": found.opened,
        "open_rate": _rate(found.open_rate),
        "median_first_open_seconds": None if median is None else round(median.total_seconds()),
        "replied": found.replied,
        "reply_rate": _rate(found.reply_rate),
        "reads_but_never_replies": found.reads_but_never_replies,
        "last_sent_at": iso(found.last_sent_at),
    }


def _address(raw: str) -> str:
    address = raw.strip().lower()
    if "@" not in address or len(address) > 320 or any(c.isspace() or c == "/" for c in address):
        raise invalid("address", f"has {raw[:100]!r}, which is not an email address.")
    return address


@bp.get("/api/v1/insights/overall")
@authenticated
def overall():
    """When the caller's email, to anyone, is first opened."""
    history = _history()
    sent = [m for m in history if m.sent_at is not None]
    body = _best_time_json([m.first_open_at for m in sent if m.first_open_at is not None])
    body["emails"] = {"sent": len(sent), "opened": sum(1 for m in sent if engagement.opened(m))}
    return jsonify(body)


@bp.get("/api/v1/insights/recipients/<address>")
@authenticated
def recipient(address: str):
    """When one recipient first opens the caller's email, and how they engage with it."""
    address = _address(address)
    history = [m for m in _history(address) if address in engagement.recipients(m)]
    alone = [m for m in history if engagement.sole_recipient(m) == address]
    body = {"address": address}
    body.update(
        _best_time_json([m.first_open_at for m in alone if m.first_open_at is not None], address)
    )
    replies = _store().replies(g.account.id)
    found = engagement.engagement(
        address, history, engagement.replied_by(replies), utcnow(), bool(replies)
    )
    body["engagement"] = _engagement_json(found)
    body["replies_seen"] = bool(replies)
    return jsonify(body)


@bp.get("/api/v1/insights/contacts")
@authenticated
def contacts():
    """Every contact the caller tracked email to, with their engagement, most emailed first."""
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        raise invalid("limit", "must be a whole number.") from None
    if not 1 <= limit <= MAX_CONTACTS:
        raise invalid("limit", f"must be between 1 and {MAX_CONTACTS}.")
    history = _history()
    replies = _store().replies(g.account.id)
    found = engagement.contacts(history, replies, utcnow(), g.account.email, bool(replies))
    return jsonify(
        contacts=[_engagement_json(e) for e in found[:limit]],
        total=len(found),
        emails_considered=len(history),
        replies_seen=bool(replies),
    )


# Replies.


def _sent_message(message_id: str) -> Message:
    message = _store().message(g.account.id, message_id) if ID_PATTERN.match(message_id) else None
    if message is None:
        raise ApiError(404, "not_found", "No tracked message with this id belongs to you.")
    if message.sent_at is None:
        raise ApiError(
            409,
            "not_sent",
            "This message is reserved but not sent yet: complete it (PATCH) first.",
        )
    return message


def _reply_json(reply: Reply) -> dict:
    return {
        "message_id": reply.message_id,
        "gmail_message_id": reply.gmail_message_id,
        "from": reply.sender,
        "at": iso(reply.at),
        "source": reply.source,
        "recorded_at": iso(reply.recorded_at),
    }


def _parse_reply(data: dict, message: Message) -> tuple[str, object, str]:
    unknown = sorted(set(data) - {"from", "at", "gmail_message_id"})
    if unknown:
        raise ApiError(
            400,
            "unknown_field",
            f"Unknown field(s): {', '.join(unknown)}. Send from, at and gmail_message_id.",
        )
    for key in ("from", "at", "gmail_message_id"):
        if key not in data:
            raise invalid(key, "is required.")
    sender = data["from"]
    if not isinstance(sender, str):
        raise invalid("from", "must be the sender's email address.")
    sender = _address(sender) if "@" in sender else ""
    if not sender:
        raise invalid("from", "must be the sender's email address.")
    if sender == g.account.email:
        raise invalid("from", "is your own address: only someone else's message is a reply.")
    try:
        at = parse_iso(data["at"]) if isinstance(data["at"], str) else None
    except ValueError:
        at = None
    if at is None:
        raise invalid("at", "must be an ISO 8601 time, like 2026-11-27T09:30:00Z.")
    if at < message.sent_at - CLOCK_SKEW:
        raise invalid("at", "is before the message was sent, so it cannot be a reply to it.")
    if at > utcnow() + CLOCK_SKEW:
        raise invalid("at", "is in the future.")
    gmail_id = data["gmail_message_id"]
    if not isinstance(gmail_id, str) or not GMAIL_ID.match(gmail_id):
        raise invalid(
            "gmail_message_id", "must be Gmail's id of the reply, like '18c2f0a1b2c3d4e5'."
        )
    gmail_id = gmail_id.lower().lstrip("#")
    if gmail_id == message.gmail_message_id:
        raise invalid("gmail_message_id", "is the tracked message itself, not a reply to it.")
    return sender, at, gmail_id


@bp.post("/api/v1/messages/<message_id>/replies")
@authenticated
def report_reply(message_id: str):
    """The extension saw a reply in a tracked thread (idempotent by the reply's Gmail id)."""
    data = json_body()
    message = _sent_message(message_id)
    sender, at, gmail_id = _parse_reply(data, message)
    now = utcnow()
    kept = _store().record_reply(
        g.account.id, Reply(message.id, g.account.id, gmail_id, sender, at, "extension", now)
    )
    if kept is None:  # deleted between the two calls
        raise ApiError(404, "not_found", "No tracked message with this id belongs to you.")
    reply, created = kept
    reminder = _store().reminder(g.account.id, message.id)
    response = jsonify(
        reply=_reply_json(reply),
        created=created,
        reminder=_reminder_json(reminder, message) if reminder else None,
    )
    response.status_code = 201 if created else 200
    return response


@bp.get("/api/v1/messages/<message_id>/replies")
@authenticated
def list_replies(message_id: str):
    message = _sent_message(message_id)
    return jsonify(replies=[_reply_json(r) for r in _store().replies(g.account.id, message.id)])


# Reply detection through Gmail: the user's grant of gmail.metadata.


def _gmail_status() -> dict:
    config = current_app.config["MAILTICK"]
    granted = bool(_store().credential(g.account.id, REPLIES.credential))
    return {
        "available": config.google_sign_in,
        "granted": granted,
        # What the reminder job will do: the grant is kept and still decrypts.
        "on": config.google_sign_in
        and granted
        and refresh_token_of(_store(), config, g.account.id, REPLIES) is not None,
        "scope": gmail.SCOPE,
    }


@bp.get("/api/v1/insights/gmail")
@authenticated
def gmail_status():
    """Whether replies are looked for in the caller's Gmail (they granted gmail.metadata)."""
    return jsonify(_gmail_status())


@bp.post("/api/v1/insights/gmail")
@authenticated
def gmail_grant():
    """A one-time link (10 minutes) that asks Google to let Mailtick see who wrote in the
    user's Gmail threads (gmail.metadata); open it in a browser tab."""
    return grant_link_response(
        current_app.config["MAILTICK"], g.account, REPLIES, "Reply detection through Gmail"
    )


@bp.delete("/api/v1/insights/gmail")
@authenticated
def gmail_forget():
    """Forget the gmail.metadata grant: only replies the extension reports count again."""
    forget(_store(), g.account.id, REPLIES)
    return "", 204


# Reminders.


def _reminder_json(reminder: Reminder, message: Message | None) -> dict:
    body = {
        "id": reminder.id,
        "message_id": reminder.message_id,
        "status": reminder.status,
        "due_at": iso(reminder.due_at),
        "created_at": iso(reminder.created_at),
        "fired_at": iso(reminder.fired_at),
        "acked_at": iso(reminder.acked_at),
        "cancelled_at": iso(reminder.cancelled_at),
        "cancel_reason": reminder.cancel_reason or None,
        "message": None,
        "thread_url": None,
    }
    if message is not None:
        body["message"] = {
            "subject": message.subject,
            "recipients": {"to": message.to, "cc": message.cc, "bcc": message.bcc},
            "sent_at": iso(message.sent_at),
            "gmail_message_id": message.gmail_message_id,
            "gmail_thread_id": message.gmail_thread_id,
        }
        body["thread_url"] = reminders.thread_url(message, g.account.email)
    return body


def _parse_due(data: dict, now) -> object:
    unknown = sorted(set(data) - {"due_at", "after_days"})
    if unknown:
        raise ApiError(
            400,
            "unknown_field",
            f"Unknown field(s): {', '.join(unknown)}. Send due_at or after_days.",
        )
    if ("due_at" in data) == ("after_days" in data):
        raise ApiError(
            400,
            "invalid_body",
            'Send exactly one of {"due_at": "2026-11-30T09:00:00Z"} and {"after_days": 3}.',
        )
    if "after_days" in data:
        days = data["after_days"]
        if isinstance(days, bool) or days not in REMINDER_DAYS:
            raise invalid("after_days", "must be 1, 3 or 7.")
        return now + timedelta(days=days)
    try:
        due_at = parse_iso(data["due_at"]) if isinstance(data["due_at"], str) else None
    except ValueError:
        due_at = None
    if due_at is None:
        raise invalid("due_at", "must be an ISO 8601 time, like 2026-11-30T09:00:00Z.")
    if due_at <= now:
        raise invalid("due_at", "must be in the future.")
    if due_at > now + MAX_REMINDER_AHEAD:
        raise invalid("due_at", "may be at most a year ahead.")
    return due_at


@bp.put("/api/v1/messages/<message_id>/reminder")
@authenticated
def set_reminder(message_id: str):
    """Remind the caller at due_at (or after_days from now) unless a reply comes first."""
    data = json_body()
    now = utcnow()
    due_at = _parse_due(data, now)
    message = _sent_message(message_id)
    if _store().replies(g.account.id, message.id):
        raise ApiError(
            409, "already_replied", "This email has a reply already; there is nothing to chase."
        )
    reminder = _store().set_reminder(g.account.id, message.id, due_at, now)
    if reminder is None:
        raise ApiError(404, "not_found", "No tracked message with this id belongs to you.")
    return jsonify(_reminder_json(reminder, message))


@bp.get("/api/v1/messages/<message_id>/reminder")
@authenticated
def get_reminder(message_id: str):
    message = _sent_message(message_id)
    reminder = _store().reminder(g.account.id, message.id)
    if reminder is None:
        raise ApiError(404, "no_reminder", "This message has no reminder.")
    return jsonify(_reminder_json(reminder, message))


@bp.delete("/api/v1/messages/<message_id>/reminder")
@authenticated
def cancel_reminder(message_id: str):
    message = _sent_message(message_id)
    if _store().cancel_reminder(g.account.id, message.id, utcnow()) is None:
        raise ApiError(404, "no_reminder", "This message has no scheduled or due reminder.")
    return "", 204


@bp.get("/api/v1/reminders")
@authenticated
def list_reminders():
    """The caller's reminders in one state (default: due, i.e. fired and not acknowledged)."""
    status = request.args.get("status", REMINDER_DUE)
    if status not in REMINDER_STATUSES:
        raise invalid("status", f"must be one of {', '.join(REMINDER_STATUSES)}.")
    found = _store().reminders(g.account.id, status)
    messages = {m.id: m for m in _store().statuses(g.account.id, [r.id for r in found], [])}
    return jsonify(reminders=[_reminder_json(r, messages.get(r.id)) for r in found])


@bp.post("/api/v1/reminders/<reminder_id>/ack")
@authenticated
def ack_reminder(reminder_id: str):
    """The user saw a due reminder: stop listing it (idempotent)."""
    json_body()
    current = (
        _store().reminder(g.account.id, reminder_id) if ID_PATTERN.match(reminder_id) else None
    )
    if current is None or current.status == REMINDER_CANCELLED:
        raise ApiError(404, "not_found", "No reminder with this id belongs to you.")
    if current.status == REMINDER_SCHEDULED:
        raise ApiError(409, "not_due", "This reminder has not fallen due yet.")
    acked = _store().ack_reminder(g.account.id, reminder_id, utcnow()) or _store().reminder(
        g.account.id, reminder_id
    )
    message = _store().message(g.account.id, reminder_id)
    return jsonify(_reminder_json(acked, message))


# The reminder job.


@bp.get("/cron/reminders")
def cron_reminders():
    """Fire the follow-up reminders that fell due with no reply (App Engine cron)."""
    check_cron()
    checker = current_app.extensions.get("mailtick.reply_checker")
    items = reminders.run(_store(), utcnow(), check_replies=checker)
    return jsonify(fired=[item.reminder.id for item in items])
