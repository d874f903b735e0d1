"""/api/v1: the JSON API the extension (and anyone with a token) uses."""

from __future__ import annotations

import io
import logging
import re
import secrets
from datetime import timedelta
from urllib.parse import quote, urlsplit

import orjson
from flask import Blueprint, Response, current_app, g, jsonify, request

from . import __version__, privacy, user_settings  # noqa: F401 - privacy registers its settings
from .auth import account_for_authorization, authenticated
from .classify import SELF_VIEW
from .errors import ApiError
from .openapi import document
from .store import (
    COMPLETION_FIELDS,
    Hit,
    Message,
    Status,
    StoreError,
    decode_cursor,
    iso,
    parse_iso,
    utcnow,
)
from .tracking import ID_PATTERN, new_id

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")
STATUS_PATH = "/api/v1/messages/status"

MAX_STATUS_IDS = 200
MAX_PAGE = 200
MAX_RECIPIENTS = 500
MAX_LINKS = 500
GMAIL_ID = re.compile(r"^[A-Za-z0-9:_#-]{1,80}$")
# Tracking ids joined with commas, every one of them as ID_PATTERN wants it (or none at all).
_ID = ID_PATTERN.pattern.removeprefix("^").removesuffix("$")
ID_LIST = re.compile(f"(?:{_ID}(?:,{_ID})*)?")


def store():
    return current_app.extensions["mailtick.store"]


def settings():
    return current_app.config["MAILTICK"]


def message_json(message: Message, *, events: list | None = None) -> dict:
    base = settings().base_url
    click_base = f"{base}/c/{message.id}"
    body = {
        **status_json(Status.of(message)),
        "subject": message.subject,
        "recipients": {"to": message.to, "cc": message.cc, "bcc": message.bcc},
        "sent_at": iso(message.sent_at),
        "created_at": iso(message.created_at),
        "links": [
            {
                "url": url,
                "tracked_url": f"{click_base}/{index}?u={quote(url, safe='')}",
                "clicks": message.link_clicks.get(index, 0),
            }
            for index, url in enumerate(message.links)
        ],
        "pixel_url": f"{base}/p/{message.id}.gif",
    }
    if events is not None:
        body["events"] = [
            {
                "kind": hit.kind,
                "at": iso(hit.at),
                "class": hit.cls or "pending",
                "counted": hit.counted,
                "client": hit.client,
                "device": hit.device,
                "link_index": hit.link_index,
                "url": hit.url,
                "user_agent": hit.user_agent,
            }
            for hit in events
            if hit.kind != SELF_VIEW
        ]
    return body


def status_json(status: Status) -> dict:
    return {
        "id": status.id,
        "gmail_message_id": status.gmail_message_id,
        "gmail_thread_id": status.gmail_thread_id,
        "state": status.state,
        "opens": status.opens,
        "first_open_at": status.first_open_at,
        "last_open_at": status.last_open_at,
        "clicks": status.clicks,
        "machine_opens": status.machine_opens,
    }


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    if not request.get_data(cache=True):
        return {}
    if not request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send the body as JSON with 'Content-Type: application/json'.",
        )
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(
            400, "malformed_json", "The body is not valid JSON. Check quotes and commas."
        )
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", 'The body must be a JSON object, like {"ids": [...]}.')
    return data


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", f"'{field}' {message}", field=field)


def _string_list(value, field: str, limit: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid(field, "must be a list of strings.")
    if len(value) > limit:
        raise invalid(field, f"may hold at most {limit} entries; it has {len(value)}.")
    return value


def _address_list(value, field: str) -> list[str]:
    addresses = [item.strip() for item in _string_list(value, field, MAX_RECIPIENTS)]
    for address in addresses:
        if "@" not in address or len(address) > 320 or any(c.isspace() for c in address):
            raise invalid(field, f"has {address!r}, which is not an email address.")
    return addresses


def parse_completion(data: dict) -> dict:
    """Check a completion body field by field, returning the store changes it asks for."""
    unknown = sorted(set(data) - {"subject", "recipients", "links", "sent_at", *COMPLETION_FIELDS})
    if unknown:
        raise ApiError(
            400,
            "unknown_field",
            f"Unknown field(s): {', '.join(unknown)}. Allowed: subject, recipients, links,"
            " sent_at, gmail_message_id, gmail_thread_id.",
        )
    changes: dict = {}
    if "subject" in data:
        if not isinstance(data["subject"], str):
            raise invalid("subject", "must be a string.")
        if len(data["subject"]) > 2000:
            raise invalid("subject", "may be at most 2000 characters long.")
        changes["subject"] = data["subject"]
    if "recipients" in data:
        recipients = data["recipients"]
        if not isinstance(recipients, dict):
            raise invalid(
                "recipients", 'must be an object like {"to": [...], "cc": [], "bcc": []}.'
            )
        extra = set(recipients) - {"to", "cc", "bcc"}
        if extra:
            raise invalid(
                "recipients", f"may only have to, cc and bcc, not {', '.join(sorted(extra))}."
            )
        for key in ("to", "cc", "bcc"):
            if key in recipients:
                changes[key] = _address_list(recipients[key], f"recipients.{key}")
    for key in ("to", "cc", "bcc"):
        if key in data:
            raise invalid(key, "goes inside 'recipients'.")
    if "links" in data:
        links = _string_list(data["links"], "links", MAX_LINKS)
        for url in links:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 4096:
                raise invalid("links", f"has {url[:100]!r}; only http(s) URLs can be tracked.")
        changes["links"] = links
    if "sent_at" in data:
        try:
            sent_at = parse_iso(data["sent_at"]) if isinstance(data["sent_at"], str) else None
        except ValueError:
            sent_at = None
        if sent_at is None:
            raise invalid("sent_at", "must be an ISO 8601 time, like 2026-11-27T09:30:00Z.")
        changes["sent_at"] = sent_at
    for key in ("gmail_message_id", "gmail_thread_id"):
        if key in data:
            value = data[key]
            if value is not None and (not isinstance(value, str) or not GMAIL_ID.match(value)):
                raise invalid(
                    key, "must be Gmail's id as a string (like '18c2f0a1b2c3d4e5') or null."
                )
            changes[key] = value.lower().lstrip("#") if value else None
    return changes


def _message_or_404(message_id: str) -> Message:
    message = store().message(g.account.id, message_id) if ID_PATTERN.match(message_id) else None
    if message is None:
        raise ApiError(404, "not_found", "No tracked message with this id belongs to you.")
    return message


@bp.get("/server")
def server_info():
    config = settings()
    return jsonify(
        service="mailtick",
        version=__version__,
        store=config.store_kind,
        base_url=config.base_url,
        google_sign_in=config.google_sign_in,
        sign_in_url=f"{config.base_url}/auth/google/start" if config.google_sign_in else None,
    )


@bp.get("/openapi.json")
def openapi():
    return jsonify(document(settings().base_url, __version__))


@bp.get("/me")
@authenticated
def me():
    return jsonify(email=g.account.email, account_id=g.account.id)


@bp.delete("/token")
@authenticated
def sign_out():
    store().revoke_token(g.token_hash)
    return "", 204


@bp.post("/messages")
@authenticated
def reserve():
    json_body()  # an empty object today; still refuse a body that is not JSON
    now = utcnow()
    expires_at = now + timedelta(days=settings().reservation_days)
    message_id = new_id()
    store().reserve(g.account.id, message_id, now, expires_at)
    base = settings().base_url
    response = jsonify(
        id=message_id,
        pixel_url=f"{base}/p/{message_id}.gif",
        click_base=f"{base}/c/{message_id}",
        expires_at=iso(expires_at),
    )
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/messages/{message_id}"
    return response


@bp.patch("/messages/<message_id>")
@authenticated
def complete(message_id: str):
    changes = parse_completion(json_body())
    current = _message_or_404(message_id)
    if current.sent_at is None and "sent_at" not in changes:
        changes["sent_at"] = utcnow()
    updated = store().complete(g.account.id, message_id, changes)
    if updated is None:  # deleted between the two calls
        raise ApiError(404, "not_found", "No tracked message with this id belongs to you.")
    return jsonify(message_json(updated))


@bp.get("/messages")
@authenticated
def history():
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        raise invalid("limit", "must be a whole number.") from None
    if not 1 <= limit <= MAX_PAGE:
        raise invalid("limit", f"must be between 1 and {MAX_PAGE}.")
    cursor = request.args.get("cursor") or None
    if cursor:
        try:
            decode_cursor(cursor)
        except ValueError:
            raise invalid(
                "cursor", "is not one this server handed out; start without it."
            ) from None
    query = request.args.get("q", "").strip()[:200]
    page, next_cursor = store().messages(g.account.id, limit, cursor, query)
    return jsonify(messages=[message_json(m) for m in page], next_cursor=next_cursor)


@bp.get("/messages/<message_id>")
@authenticated
def detail(message_id: str):
    message = _message_or_404(message_id)
    return jsonify(message_json(message, events=store().hits(g.account.id, message_id)))


def requested_ids(data: dict) -> tuple[list[str], list[str]]:
    """The tracking and Gmail ids a body names in `ids` and `gmail_ids` (200 at most in all)."""
    unknown = sorted(set(data) - {"ids", "gmail_ids"})
    if unknown:
        raise ApiError(
            400,
            "unknown_field",
            f"Unknown field(s): {', '.join(unknown)}. Send ids and/or gmail_ids.",
        )
    ids = _string_list(data.get("ids", []), "ids", MAX_STATUS_IDS)
    gmail_ids = _string_list(data.get("gmail_ids", []), "gmail_ids", MAX_STATUS_IDS)
    if len(ids) + len(gmail_ids) > MAX_STATUS_IDS:
        raise ApiError(
            400,
            "too_many_ids",
            f"Ask for at most {MAX_STATUS_IDS} ids in one call; this asked for"
            f" {len(ids) + len(gmail_ids)}. Split the request.",
        )
    # A page's ids are nearly always all well formed: one match over them all is much cheaper
    # than one a piece, and only a list with a bad id is filtered one by one.
    if not ID_LIST.fullmatch(",".join(ids)):
        ids = [i for i in ids if ID_PATTERN.match(i)]
    gmail_ids = [i.lower().lstrip("#") for i in gmail_ids if GMAIL_ID.match(i)]
    return ids, gmail_ids


def statuses_body(found: list[Status]) -> bytes:
    """The status call's answer: compact JSON and a newline, as jsonify writes it.

    Encoded with orjson, ten times faster than the standard library on this answer (8 against
    110 us for 50 statuses). Every value is ASCII, so the bytes are those jsonify wrote.
    """
    return orjson.dumps({"statuses": [status_json(status) for status in found]}) + b"\n"


@bp.post("/messages/status")
@authenticated
def statuses():
    found = store().states(g.account.id, *requested_ids(json_body()))
    return Response(statuses_body(found), mimetype="application/json")


class StatusMiddleware:
    """Answer a well-formed batch status call before Flask, the way the pixel is answered.

    Every Gmail page that shows check marks asks for this, and Flask's request handling cost
    about half of the call. Only a request that passes the very checks the route makes is
    answered here, with the bytes the route would send. Anything else (no or a bad token, a body
    that is not a JSON object of ids, too large a body, a store error) goes on to the Flask route
    unchanged, which answers with the error that says what to fix.
    """

    def __init__(self, wsgi_app, flask_app):
        self.wsgi_app = wsgi_app
        self.store = flask_app.extensions["mailtick.store"]
        self.max_body = flask_app.config["MAX_CONTENT_LENGTH"]

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != STATUS_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        body = self._answer(environ)
        if body is None:
            return self.wsgi_app(environ, start_response)
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _answer(self, environ) -> bytes | None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if not 0 < length <= self.max_body or not _is_json_mimetype(mimetype):
            return None
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)  # the route reads it again if it answers
        try:
            account, _ = account_for_authorization(
                self.store, environ.get("HTTP_AUTHORIZATION", "")
            )
            data = orjson.loads(raw)
            if not isinstance(data, dict):
                return None
            return statuses_body(self.store.states(account.id, *requested_ids(data)))
        except (ApiError, StoreError, ValueError):
            return None  # the route answers with the error that says what to fix
        except Exception:
            log.exception("status call failed ahead of Flask; the route answers it")
            return None


def _is_json_mimetype(mimetype: str) -> bool:
    # What Flask's request.is_json accepts.
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


@bp.post("/messages/self-views")
@authenticated
def self_views():
    """The sender's own Gmail is showing these messages: proxy fetches now are not opens."""
    now = utcnow()
    found = store().states(g.account.id, *requested_ids(json_body()))
    store().record_hits(
        [
            Hit(
                id=secrets.token_urlsafe(12),
                message_id=message.id,
                kind=SELF_VIEW,
                at=now,
                counted=False,
                cls="self",
            )
            for message in found
        ]
    )
    response = jsonify(recorded=[message.id for message in found])
    response.status_code = 202
    return response


@bp.get("/settings")
@authenticated
def get_settings():
    return jsonify(user_settings.effective(store().get_settings(g.account.id)))


@bp.patch("/settings")
@authenticated
def update_settings():
    changes = user_settings.parse(json_body())
    return jsonify(user_settings.effective(store().put_settings(g.account.id, changes)))


@bp.delete("/messages/<message_id>")
@authenticated
def delete(message_id: str):
    if not ID_PATTERN.match(message_id) or not store().delete_message(g.account.id, message_id):
        raise ApiError(404, "not_found", "No tracked message with this id belongs to you.")
    return "", 204


@bp.delete("/account")
@authenticated
def delete_account():
    store().delete_account(g.account.id)
    return "", 204
