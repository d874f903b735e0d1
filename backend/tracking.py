"""The pixel and click endpoints: the hot path, public, never an error page for a recipient.

The pixel is served by PixelMiddleware ahead of Flask; clicks are an ordinary Flask route.
"""

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


def hit_from_environ(environ: dict, message_id: str, kind: str, trusted: list, **extra) -> Hit:
    """A raw, unclassified hit from a WSGI request: the background pass decides if it counts."""
    headers = {}
    for name in KEPT_HEADERS:
        value = environ.get(WSGI_NAMES[name])
        if value is not None:
            headers[name] = value[:512]
    return Hit(
        id=secrets.token_urlsafe(12),
        message_id=message_id,
        kind=kind,
        at=utcnow(),
        ip=client_ip(environ.get("REMOTE_ADDR") or "", headers.get("X-Forwarded-For", ""), trusted),
        user_agent=environ.get("HTTP_USER_AGENT", "")[:512],
        method=environ.get("REQUEST_METHOD", "GET"),
        headers=headers,
        counted=False,
        **extra,
    )


WSGI_NAMES = {name: "HTTP_" + name.upper().replace("-", "_") for name in KEPT_HEADERS}


def keep(hit: Hit, spool, store) -> None:
    """Make a hit durable before answering: the spool first, the store if the spool fails.

    The spool's append is a buffered write to a local file (safe once it returns, even if the
    process dies); its thread writes batches to the store a moment later. Writing each hit to
    the store on the request thread made every pixel wait for the store's write lock.
    """
    try:
        spool.append(hit)
    except Exception as exc:
        log.warning("spool refused hit %s (%s); writing it to the store directly", hit.id, exc)
        try:
            store.record_hits([hit])
        except Exception:
            log.exception("lost hit %s: neither the spool nor the store took it", hit.id)


class PixelMiddleware:
    """Serve /p/<id>.gif before Flask: the hottest path, kept to a few microseconds of work.

    Always the GIF with 200, for known, unknown and malformed ids alike, and whatever happens
    to the spool or store.
    """

    def __init__(self, wsgi_app, flask_app):
        self.wsgi_app = wsgi_app
        self.extensions = flask_app.extensions

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if not path.startswith("/p/") or method not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        name = path[3:]
        message_id = name[:-4] if name.endswith(".gif") else ""
        if message_id and ID_PATTERN.match(message_id):
            try:
                hit = hit_from_environ(
                    environ, message_id, "open", self.extensions["mailtick.trusted_proxies"]
                )
                keep(hit, self.extensions["mailtick.spool"], self.extensions["mailtick.store"])
            except Exception:
                log.exception("could not keep a hit for %s", message_id)
        start_response("200 OK", list(PIXEL_HEADERS.items()))
        return [] if method == "HEAD" else [PIXEL]


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
            hit = hit_from_environ(
                request.environ,
                message_id,
                "click",
                current_app.extensions["mailtick.trusted_proxies"],
                link_index=int(index),
                url=destination,
            )
            keep(
                hit,
                current_app.extensions["mailtick.spool"],
                current_app.extensions["mailtick.store"],
            )
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
