"""/addon: Mailtick as a Google Workspace add-on for Gmail (HTTP runtime).

Google calls these endpoints with an event object: the homepage trigger (the user's tracked
emails), the contextual trigger (a message is open), the compose action (track a draft) and the
card buttons. Every call must carry Google's ID token for this deployment and the user's ID
token (see verify.py); anything else gets 401 and no data. See docs/addon.md.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Blueprint, Response, current_app, g, jsonify, request

from .. import privacy
from ..errors import ApiError
from ..store import Message, decode_cursor, utcnow
from ..tracking import ID_PATTERN, new_id
from . import cards, gmail, logo, verify
from .engagement import contact_engagement, recipients

log = logging.getLogger(__name__)
bp = Blueprint("addon", __name__, url_prefix="/addon")

PAGE_SIZE = 10
# A contact's engagement is summed over at most this many of the latest emails sent to them.
CONTACT_MESSAGES = 50
CONTACT_PAGES = 5
MAX_SUBJECT = 2000
MAX_RECIPIENTS = 500
# An email registered from the compose window is matched to the sent message it became when
# the user opens that message, if it was sent within this long of the pixel's insertion.
SEND_WINDOW = timedelta(days=2)


@dataclass
class AddonState:
    """The add-on's per-app parts; tests swap `gmail_http` for googleapiclient's HttpMock."""

    certs: verify.CertCache = field(default_factory=verify.CertCache)
    gmail_http: Callable[[], object] = gmail.default_http


@bp.record_once
def _bind(setup_state) -> None:
    app = setup_state.app
    app.extensions["mailtick.addon"] = AddonState()
    if not app.config["MAILTICK"].addon:
        log.info(
            "Gmail add-on is off (set MAILTICK_ADDON_SERVICE_ACCOUNT and"
            " MAILTICK_ADDON_CLIENT_ID to enable; see docs/addon.md)"
        )


def _store():
    return current_app.extensions["mailtick.store"]


class Event:
    """The add-on event object Google posts, read defensively."""

    def __init__(self, data: dict):
        self.data = data
        common = data.get("commonEventObject")
        self.common = common if isinstance(common, dict) else {}
        found = data.get("gmail")
        self.gmail = found if isinstance(found, dict) else {}

    def _text(self, mapping: dict, key: str) -> str:
        value = mapping.get(key)
        return value if isinstance(value, str) else ""

    def parameter(self, key: str) -> str:
        parameters = self.common.get("parameters")
        return self._text(parameters, key) if isinstance(parameters, dict) else ""

    def form_value(self, name: str) -> str:
        try:
            value = self.common["formInputs"][name]["stringInputs"]["value"][0]
        except (KeyError, IndexError, TypeError):
            return ""
        return value if isinstance(value, str) else ""

    def recipients(self, key: str) -> list[str]:
        found = self.gmail.get(key)
        if not isinstance(found, list):
            return []
        return gmail.addresses(", ".join(x for x in found if isinstance(x, str)))[:MAX_RECIPIENTS]

    @property
    def user_oauth_token(self) -> str:
        auth = self.data.get("authorizationEventObject")
        return self._text(auth, "userOAuthToken") if isinstance(auth, dict) else ""

    def context(self) -> cards.Context:
        tz, name = timedelta(0), "UTC"
        zone = self.common.get("timeZone")
        if isinstance(zone, dict) and isinstance(zone.get("offset"), int):
            offset = zone["offset"]
            if abs(offset) <= 18 * 3600 * 1000:
                tz = timedelta(milliseconds=offset)
                name = self._text(zone, "id") or _utc_offset(tz)
        return cards.Context(current_app.config["MAILTICK"].base_url, utcnow(), tz, name)


def _utc_offset(tz: timedelta) -> str:
    minutes = int(tz.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def from_google(view):
    """Answer only Google's calls for this deployment; put the user's account in g.account."""

    @functools.wraps(view)
    def wrapper():
        settings = current_app.config["MAILTICK"]
        if not settings.addon:
            raise ApiError(
                503,
                "addon_off",
                "The Gmail add-on is not configured on this server. Its operator can set"
                " MAILTICK_ADDON_SERVICE_ACCOUNT and MAILTICK_ADDON_CLIENT_ID (see docs/addon.md).",
            )
        certs = current_app.extensions["mailtick.addon"].certs
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            verify.google_request(
                token.strip() if scheme.lower() == "bearer" else "",
                # Google signs for the URL in the deployment, which is built on our base URL.
                audience=settings.base_url + request.path,
                service_account=settings.addon_service_account,
                certs=certs,
            )
            data = request.get_json(silent=True, force=True)
            if not isinstance(data, dict):
                raise verify.Rejected("the body is not an event object")
            auth = data.get("authorizationEventObject")
            email = verify.user_email(
                auth.get("userIdToken") if isinstance(auth, dict) else None,
                client_id=settings.addon_client_id,
                certs=certs,
            )
        except verify.Rejected as exc:
            # Cut short: google-auth quotes a malformed token whole in its message.
            log.warning("refused a request to %s: %.120s", request.path, str(exc))
            raise ApiError(
                401,
                "unauthorized",
                "This address answers only Mailtick's Gmail add-on, called by Google.",
            ) from None
        except verify.Unavailable as exc:
            log.warning("could not fetch Google's certificates: %s", exc)
            raise ApiError(
                503, "google_unreachable", "Could not reach Google to check this request."
            ) from None
        g.account = _store().ensure_account(email, utcnow())
        g.event = Event(data)
        response = jsonify(view(g.event.context()))
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapper


@bp.get("/logo.png")
def logo_png():
    response = Response(logo.png(), mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.post("/homepage")
@from_google
def homepage(ctx: cards.Context) -> dict:
    """The homepage trigger, and its "Older emails" button (parameter `cursor`)."""
    cursor = g.event.parameter("cursor") or None
    if cursor:
        try:
            decode_cursor(cursor)
        except ValueError:
            cursor = None  # not ours: start from the newest
    page, next_cursor = _store().messages(g.account.id, PAGE_SIZE, cursor)
    return cards.push(cards.history(page, next_cursor, ctx))


@bp.post("/timeline")
@from_google
def timeline(ctx: cards.Context) -> dict:
    """A card button: one tracked email's timeline (parameter `id`)."""
    message_id = g.event.parameter("id")
    message = _store().message(g.account.id, message_id) if ID_PATTERN.match(message_id) else None
    if message is None:
        return cards.push(cards.explanation("This tracked email is gone.", ctx))
    return cards.push(cards.timeline(message, _store().hits(g.account.id, message.id), ctx))


@bp.post("/message")
@from_google
def open_message(ctx: cards.Context) -> dict:
    """The Gmail contextual trigger: the message open in Gmail, tracked or from a contact."""
    opened = _open_message(g.event)
    # Gmail's ids for the open message, and for its conversation, in every form we may know.
    message_ids = _id_forms(g.event.gmail.get("messageId")) | {opened.id if opened else None}
    thread_ids = _id_forms(g.event.gmail.get("threadId")) | {opened.thread_id if opened else None}
    message_ids.discard(None)
    thread_ids.discard(None)
    known = sorted(message_ids | thread_ids)
    tracked = _store().statuses(g.account.id, [], known) if known else []
    exact = [m for m in tracked if m.gmail_message_id in message_ids]
    if exact:
        return _timeline_card(exact[0], ctx)
    if opened and _sent_by_user(opened):
        linked = _link_registered(opened)
        if linked:
            return _timeline_card(linked, ctx)
        return cards.push(
            cards.explanation(
                "This email you sent is not tracked. Track the next one from the compose"
                " window: open Mailtick from the add-on menu and choose Track this email.",
                ctx,
                related=tracked,
            )
        )
    if opened and opened.sender:
        sent = _sent_to(opened.sender)
        stats = contact_engagement(opened.sender, sent, _hits_of(sent), ctx.tz)
        return cards.push(cards.engagement(stats, tracked, ctx))
    if tracked:
        return _timeline_card(tracked[0], ctx)
    return cards.push(
        cards.explanation(
            "Mailtick has nothing on this message. Open a tracked email you sent to see who"
            " opened it, or an email from a contact to see how they read yours.",
            ctx,
        )
    )


def _id_forms(value) -> set:
    """A Gmail id as the extension stores it (hex) and as the event wrote it."""
    if not isinstance(value, str) or not value.strip():
        return set()
    return {gmail.hex_id(value), value.strip().lower().lstrip("#")[:80]}


def _timeline_card(message: Message, ctx: cards.Context) -> dict:
    return cards.push(cards.timeline(message, _store().hits(g.account.id, message.id), ctx))


def _open_message(event: Event) -> gmail.OpenMessage | None:
    """The open message's headers from the Gmail API, or None if Gmail will not tell."""
    message_id = event.gmail.get("messageId")
    message_token = event.gmail.get("accessToken")
    if not (isinstance(message_id, str) and isinstance(message_token, str)):
        return None
    if not event.user_oauth_token:
        return None
    try:
        return gmail.open_message(
            gmail.hex_id(message_id) or message_id,
            user_token=event.user_oauth_token,
            message_token=message_token,
            http=current_app.extensions["mailtick.addon"].gmail_http(),
        )
    except gmail.GmailError as exc:
        log.warning("could not read the open message's headers: %s", exc)
        return None


def _sent_by_user(opened: gmail.OpenMessage) -> bool:
    return "SENT" in opened.labels or opened.sender == g.account.email.lower()


def _sent_to(contact: str) -> list[Message]:
    """The user's latest tracked emails with `contact` among the recipients."""
    found, cursor = [], None
    for _ in range(CONTACT_PAGES):
        page, cursor = _store().messages(g.account.id, 100, cursor, contact)
        found += [m for m in page if contact in recipients(m)]
        if cursor is None or len(found) >= CONTACT_MESSAGES:
            break
    return found[:CONTACT_MESSAGES]


def _hits_of(messages: list[Message]) -> dict:
    return {m.id: _store().hits(g.account.id, m.id) for m in messages}


def _link_registered(opened: gmail.OpenMessage) -> Message | None:
    """Find the email tracked from the compose window that became `opened`, and link them.

    The compose action cannot know the id Gmail gives the message when it is sent. The first
    time the user opens the sent message, match it by recipients, subject and time, and keep
    its Gmail ids, subject and real send time, so later lookups are direct.
    """
    if opened.sent_at is None or not opened.recipients:
        return None
    query = opened.recipients[0]
    page, _ = _store().messages(g.account.id, 100, None, query)
    everyone = set(opened.recipients)
    candidates = [
        m
        for m in page
        if m.gmail_message_id is None
        and m.sent_at is not None
        and abs(m.sent_at - opened.sent_at) <= SEND_WINDOW
        and recipients(m) & everyone
        and (not m.subject.strip() or m.subject.strip() == opened.subject.strip())
    ]
    if not candidates:
        return None
    best = min(candidates, key=lambda m: abs(m.sent_at - opened.sent_at))
    changes = {
        "gmail_message_id": opened.id,
        "gmail_thread_id": opened.thread_id,
        "sent_at": opened.sent_at,
    }
    if not best.subject.strip():
        changes["subject"] = opened.subject[:MAX_SUBJECT]
    return _store().complete(g.account.id, best.id, changes) or best


@bp.post("/compose")
@from_google
def compose(ctx: cards.Context) -> dict:
    """The compose trigger's "Track this email" action: the card with the button."""
    event = g.event
    return cards.push(
        cards.compose(
            event.recipients("toRecipients"),
            event.recipients("ccRecipients"),
            event.recipients("bccRecipients"),
            ctx,
        )
    )


@bp.post("/compose/track")
@from_google
def track(ctx: cards.Context) -> dict:
    """Register the draft as a tracked email and insert its pixel into the draft."""
    event = g.event
    store = _store()
    everyone = [
        *event.recipients("toRecipients"),
        *event.recipients("ccRecipients"),
        *event.recipients("bccRecipients"),
    ]
    if not privacy.trackable(everyone, store.get_settings(g.account.id)):
        # The same rule as the extension's: one excluded recipient keeps the email untracked.
        return cards.push(
            cards.explanation(
                "Not tracked: a recipient of this draft is on your never-track list, or at an"
                " EU/EEA domain while you chose not to track those. Nothing was added to the"
                " draft.",
                ctx,
            )
        )
    now = utcnow()
    message_id = new_id()
    store.reserve(g.account.id, message_id, now, now + timedelta(days=1))
    # No send hook exists: the insertion is the best guess of the send time until the user
    # opens the sent message (see _link_registered).
    store.complete(
        g.account.id,
        message_id,
        {
            "subject": event.form_value("subject").strip()[:MAX_SUBJECT],
            "to": event.recipients("toRecipients"),
            "cc": event.recipients("ccRecipients"),
            "bcc": event.recipients("bccRecipients"),
            "sent_at": now,
        },
    )
    pixel = f"{ctx.base_url}/p/{message_id}.gif"
    return cards.update_draft(
        f'<img src="{cards.esc(pixel)}" width="1" height="1" alt=""'
        ' style="display:block;width:1px;height:1px;border:0">'
    )
