"""The pixel and click endpoints: the hot path, public, never an error page for a recipient."""

from __future__ import annotations

import base64
import ipaddress
import logging
import re
import secrets
from html import escape
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request

from .store import Hit, utcnow

log = logging.getLogger(__name__)
bp = Blueprint("tracking", __name__)

# The classic 43-byte transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")

PIXEL_HEADERS = {
    "Content-Type": "image/gif",
    "Content-Length": str(len(PIXEL)),
    "Cache-Control": "no-store, no-cache, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# Request headers kept with each hit: what tells a person from a proxy, prefetcher or scanner.
KEPT_HEADERS = (
    "Accept",
    "Accept-Language",
    "Accept-Encoding",
    "Referer",
    "Via",
    "From",
    "X-Forwarded-For",
    "Sec-Fetch-Site",
    "Sec-Fetch-Mode",
    "Sec-Fetch-Dest",
    "Sec-Purpose",
    "Purpose",
    "X-Moz",
    "X-Mailtick-Self",
)


def new_id() -> str:
    """A tracking id: 144 random bits, URL-safe."""
    return secrets.token_urlsafe(18)


def client_ip(remote_addr: str, forwarded_for: str, trusted: list) -> str:
    """The address of whoever made the request.

    X-Forwarded-For is believed only when the direct peer is a configured trusted proxy, and
    then read from the right, skipping further trusted hops, so a client cannot forge it.
    """
    if not trusted or not _in(remote_addr, trusted) or not forwarded_for:
        return remote_addr
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else remote_addr


def _in(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def make_hit(message_id: str, kind: str, **extra) -> Hit:
    headers = {
        name: request.headers[name][:512] for name in KEPT_HEADERS if name in request.headers
    }
    return Hit(
        id=secrets.token_urlsafe(12),
        message_id=message_id,
        kind=kind,
        at=utcnow(),
        ip=client_ip(
            request.remote_addr or "",
            request.headers.get("X-Forwarded-For", ""),
            current_app.extensions["mailtick.trusted_proxies"],
        ),
        user_agent=request.headers.get("User-Agent", "")[:512],
        method=request.method,
        headers=headers,
        **extra,
    )


def record(hit: Hit) -> None:
    """Write a hit to the store, or to the spool when the store fails. Never raises."""
    store = current_app.extensions["mailtick.store"]
    try:
        store.record_hits([hit])
    except Exception as exc:
        log.warning("store refused hit %s (%s); spooling it", hit.id, exc)
        current_app.extensions["mailtick.spool"].append(hit)


@bp.route("/p/<path:name>", methods=["GET", "HEAD"])
def pixel(name: str):
    message_id = name.removesuffix(".gif")
    if name.endswith(".gif") and ID_PATTERN.match(message_id):
        try:
            record(make_hit(message_id, "open"))
        except Exception:  # the spool failing too must still not break the image
            log.exception("could not keep a hit for %s", message_id)
    return Response(PIXEL, headers=PIXEL_HEADERS)


@bp.route("/c/<message_id>/<index>")
def click(message_id: str, index: str):
    destination = request.args.get("u", "")
    registered = None
    if ID_PATTERN.match(message_id) and index.isdigit() and len(index) < 6:
        try:
            registered = current_app.extensions["mailtick.store"].link_target(
                message_id, int(index)
            )
        except Exception:
            log.exception("link lookup failed for %s/%s", message_id, index)
    if registered is not None and registered == destination and _is_web_url(destination):
        try:
            record(make_hit(message_id, "click", link_index=int(index), url=destination))
        except Exception:
            log.exception("could not keep a click for %s", message_id)
        response = Response(status=302, headers={"Location": destination})
    else:
        response = Response(_interstitial(destination), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _interstitial(destination: str) -> str:
    """A plain page that names where the link goes, so a person can still go on by choice."""
    if _is_web_url(destination):
        target = escape(destination, quote=True)
        body = (
            "<p>This link was not recognised, so you were not sent on automatically."
            " It points to:</p>"
            f'<p><code>{target}</code></p><p><a href="{target}" rel="noopener noreferrer">'
            "Continue to this address</a> only if you trust it.</p>"
        )
    elif destination:
        body = (
            "<p>This link points to an address that is not a web page, so it is shown only"
            f" as text:</p><p><code>{escape(destination)}</code></p>"
        )
    else:
        body = "<p>This link is incomplete: it does not say where it leads.</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="robots" content="noindex"><title>Link</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;"
        "padding:0 1rem}code{word-break:break-all}</style></head><body>"
        f"{body}</body></html>"
    )
