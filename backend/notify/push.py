"""Web Push: the server's VAPID key, and encrypted pushes to the extension's service worker.

Payloads are encrypted for each subscription (RFC 8291, aes128gcm) and signed with VAPID
(RFC 8292) by pywebpush. Push is only a fast path: every item is in the feed, which the
extension reads to catch up, so a push that fails loses nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..store import Activity, PushSubscription, Store
from .feed import event_json

log = logging.getLogger(__name__)

# The name the generated key is kept under in the store.
VAPID_SECRET = "vapid_private_key"  # noqa: S105 - a name, not the secret
# A push message may carry 4096 bytes, encryption included; stay well under it.
MAX_PAYLOAD = 3000
MAX_SUBJECT = 200
MAX_RECIPIENTS = 5
# How long a push service keeps a message for a browser that is offline: past it, the feed.
TTL = 24 * 3600
TIMEOUT = 10
# Push services that browsers subscribe with. The server posts only to these, so that a
# token holder cannot make it send requests into the network it runs in.
PUSH_HOSTS = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    ".push.apple.com",
    ".notify.windows.com",
)
B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def new_private_key() -> str:
    """A fresh P-256 private key as VAPID tools print it: the raw 32 bytes, base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _b64encode(key.private_numbers().private_value.to_bytes(32, "big"))


def load_vapid(text: str):
    """A py_vapid key from a raw (base64url), DER (base64url) or PEM private key."""
    from py_vapid import Vapid

    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("MAILTICK_VAPID_PRIVATE_KEY must be an EC P-256 key")
        return Vapid(key)
    return Vapid.from_string(text)


class Pusher:
    """Sends the account's notify-worthy feed items to each of its browsers."""

    def __init__(self, store: Store, *, private_key: str = "", subject: str, session=None):
        """`private_key` as configured (else the store's, made on first use); `subject` is the
        VAPID contact (mailto: or https:). `session` is a requests.Session (tests)."""
        self.store = store
        self.configured_key = private_key
        self.subject = subject
        self.session = session
        self._vapid = None

    @property
    def vapid(self):
        if self._vapid is None:
            if self.configured_key:
                self._vapid = load_vapid(self.configured_key)
            else:
                # Every process asks the store: the first key stored is the one all use.
                self._vapid = load_vapid(self.store.server_secret(VAPID_SECRET, new_private_key()))
        return self._vapid

    def public_key(self) -> str:
        """The key a browser subscribes with (PushManager's applicationServerKey), base64url."""
        point = self.vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return _b64encode(point)

    def push(self, account_id: str, items: list[Activity]) -> int:
        """Push each item to each of the account's subscriptions; return how many arrived.

        Subscriptions the push service says are gone (404, 410) are dropped. Failures are
        logged, never raised: the feed has every item.
        """
        if not items:
            return 0
        subscriptions = self.store.push_subscriptions(account_id)
        delivered = 0
        for subscription in subscriptions:
            for item in items:
                outcome = self._send(subscription, item)
                if outcome == "gone":
                    self.store.remove_push_subscription(subscription.endpoint, account_id)
                    break
                delivered += outcome == "ok"
        return delivered

    def _send(self, subscription: PushSubscription, item: Activity) -> str:
        from pywebpush import WebPushException, webpush

        try:
            webpush(
                subscription_info={
                    "endpoint": subscription.endpoint,
                    "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                },
                data=payload(item),
                vapid_private_key=self.vapid,
                vapid_claims={"sub": self.subject},
                ttl=TTL,
                timeout=TIMEOUT,
                headers={"Topic": topic(item), "Urgency": "high"},
                requests_session=self.session,
            )
        except WebPushException as exc:
            status = exc.status_code
            if status in (404, 410):
                log.info("push subscription gone (%s); dropped it", status)
                return "gone"
            log.warning("push failed (%s); the feed still has the item", status or exc.message)
            return "failed"
        except Exception as exc:  # the network, a malformed stored key: the feed covers it
            log.warning("push failed (%s); the feed still has the item", type(exc).__name__)
            return "failed"
        return "ok"


def payload(item: Activity) -> str:
    """The JSON a push carries: the feed item, shortened to fit a push message."""
    event = event_json(item)
    event["subject"] = event["subject"][:MAX_SUBJECT]
    recipients = event["recipients"]
    everyone = len(recipients["to"]) + len(recipients["cc"]) + len(recipients["bcc"])
    kept = {}
    room = MAX_RECIPIENTS
    for key in ("to", "cc", "bcc"):
        kept[key] = [address[:254] for address in recipients[key][:room]]
        room -= len(kept[key])
    event["recipients"] = kept
    event["recipients_more"] = everyone - sum(len(v) for v in kept.values())
    body = {"v": 1, "type": "activity", "event": event, "truncated": False}
    text = json.dumps(body, separators=(",", ":"))
    if len(text.encode()) <= MAX_PAYLOAD:
        return text
    # A very long URL: say what happened; the extension reads the rest from the feed.
    short = {k: event[k] for k in ("id", "kind", "message_id", "at", "notify", "collapse_key")}
    return json.dumps({"v": 1, "type": "activity", "event": short, "truncated": True})


def topic(item: Activity) -> str:
    """The push Topic header: a push service keeps only the newest undelivered message of a
    topic, so re-opens waiting for an offline browser collapse into one (32 URL-safe chars)."""
    from .prefs import collapse_key

    return _b64encode(hashlib.sha256(collapse_key(item).encode()).digest())[:32]


def check_subscription(data, *, allow_local: bool = False) -> tuple[str, str, str]:
    """(endpoint, p256dh, auth) from a PushSubscription's JSON; ValueError says what is wrong.

    `allow_local` also accepts http://127.0.0.1 endpoints (tests run a push service there).
    """
    if not isinstance(data, dict) or not isinstance(data.get("endpoint"), str):
        raise ValueError("'endpoint' must be the subscription's endpoint URL.")
    endpoint = data["endpoint"]
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    local = allow_local and parts.scheme == "http" and host == "127.0.0.1"
    known = parts.scheme == "https" and any(
        host == h or (h.startswith(".") and host.endswith(h)) for h in PUSH_HOSTS
    )
    if len(endpoint) > 2048 or not (local or known):
        raise ValueError(
            "'endpoint' must be an https URL of a browser push service (Chrome's is"
            " https://fcm.googleapis.com/...)."
        )
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise ValueError("'keys' must hold the subscription's 'p256dh' and 'auth' keys.")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    for name, value, size in (("p256dh", p256dh, 65), ("auth", auth, 16)):
        if not isinstance(value, str) or not B64URL.match(value):
            raise ValueError(f"'keys.{name}' must be base64url text, as getKey() gives it.")
        if len(_b64decode(value)) != size:
            raise ValueError(f"'keys.{name}' must be {size} bytes.")
    if _b64decode(p256dh)[0] != 4:
        raise ValueError("'keys.p256dh' must be an uncompressed P-256 point.")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64decode(p256dh))
    except ValueError:
        raise ValueError("'keys.p256dh' is not a point on P-256.") from None
    return endpoint, p256dh.rstrip("="), auth.rstrip("=")
