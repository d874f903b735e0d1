"""/api/v1 routes for notifications: the activity feed, push subscriptions, email status."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from ..auth import authenticated
from ..errors import ApiError
from ..store import utcnow
from . import feed
from .gmail import SEND, forget, grant_link_response
from .push import check_subscription

bp = Blueprint("notify_api", __name__, url_prefix="/api/v1")

MAX_EVENTS = 200


def _store():
    return current_app.extensions["mailtick.store"]


def _notifier():
    return current_app.extensions["mailtick.notifier"]


def _config():
    return current_app.config["MAILTICK"]


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", f"'{field}' {message}", field=field)


def _body() -> dict:
    from ..api import json_body

    return json_body()


@bp.get("/events")
@authenticated
def events():
    """The account's activity feed after a cursor, oldest first (see docs/notifications.md)."""
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        raise _invalid("limit", "must be a whole number.") from None
    if not 1 <= limit <= MAX_EVENTS:
        raise _invalid("limit", f"must be between 1 and {MAX_EVENTS}.")
    store = _store()
    after = None
    if request.args.get("after"):
        try:
            after = feed.decode_cursor(request.args["after"])
        except ValueError:
            raise _invalid("after", "is not a cursor this server handed out.") from None
    # Read the head first: every item up to it is committed, so the page cannot end past it.
    head = store.activity_head(g.account.id)
    if after is not None and after > head:
        raise ApiError(
            409,
            "cursor_ahead",
            "This cursor is ahead of your activity feed: the server's data was reset or moved."
            " Start again without 'after' (you may see recent items again; they keep their ids).",
        )
    items = [item for item in store.activity(g.account.id, after, limit) if item.seq <= head]
    if len(items) < limit:
        # Nothing else is up to the head: items missing below it went with their message.
        position = head
    else:
        position = items[-1].seq
    return jsonify(
        events=[feed.event_json(item) for item in items],
        cursor=feed.encode_cursor(position),
        more=position < head,
    )


@bp.get("/push/key")
@authenticated
def push_key():
    """The server's VAPID public key, as PushManager.subscribe() takes applicationServerKey."""
    return jsonify(public_key=_notifier().pusher.public_key())


@bp.post("/push/subscriptions")
@authenticated
def subscribe():
    """Keep the extension's PushSubscription (its toJSON()) for the account."""
    data = _body()
    unknown = sorted(set(data) - {"endpoint", "expirationTime", "keys"})
    if unknown:
        raise ApiError(
            400,
            "unknown_field",
            f"Unknown field(s): {', '.join(unknown)}. Send the PushSubscription's toJSON().",
        )
    try:
        endpoint, p256dh, auth = check_subscription(data, allow_local=_config().testing)
    except ValueError as exc:
        raise ApiError(400, "invalid_subscription", str(exc)) from None
    _store().add_push_subscription(g.account.id, endpoint, p256dh, auth, utcnow())
    response = jsonify(endpoint=endpoint)
    response.status_code = 201
    return response


@bp.delete("/push/subscriptions")
@authenticated
def unsubscribe():
    """Forget one of the account's push subscriptions, named by its endpoint."""
    data = _body()
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise _invalid("endpoint", "must be the subscription's endpoint URL.")
    if not _store().remove_push_subscription(endpoint, g.account.id):
        raise ApiError(404, "not_found", "No push subscription with this endpoint is yours.")
    return "", 204


@bp.get("/notifications")
@authenticated
def status():
    """What can reach this account: push, SMTP, Gmail (for the extension's options page)."""
    config, store = _config(), _store()
    return jsonify(
        push={
            "public_key": _notifier().pusher.public_key(),
            "subscriptions": len(store.push_subscriptions(g.account.id)),
        },
        email={
            "smtp": _notifier().smtp is not None,
            "gmail_available": config.google_sign_in,
            "gmail_granted": bool(store.credential(g.account.id, SEND.credential)),
        },
    )


@bp.post("/notifications/gmail")
@authenticated
def gmail_grant():
    """A one-time link (10 minutes) that asks Google to let Mailtick send from the user's
    Gmail; open it in a browser tab."""
    return grant_link_response(_config(), g.account, SEND, "Sending from Gmail")


@bp.delete("/notifications/gmail")
@authenticated
def gmail_forget():
    """Forget the Gmail grant; emails go through SMTP again, if it is configured."""
    forget(_store(), g.account.id, SEND)
    return "", 204
