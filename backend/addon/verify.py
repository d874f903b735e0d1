"""Check that an add-on request comes from Google for this deployment, and who its user is.

Google signs every request to an add-on endpoint with an ID token of the deployment's service
account, whose audience is the exact endpoint URL. The event in the body carries the user's own
ID token, issued to the add-on's OAuth client. Both are verified with google-auth against
Google's certificates; anything that does not check out is refused.
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Where google-auth's verify_oauth2_token fetches the certificates Google signs ID tokens with.
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
# Google's and our clocks differ a little; a token minted this second must not look early.
CLOCK_SKEW = 30
TIMEOUT = 10  # seconds; a request thread must not hang on Google
# Google says how long to keep its certificates (Cache-Control max-age); these bound that.
DEFAULT_MAX_AGE = 3600
LONGEST_MAX_AGE = 6 * 3600
# A token that fails against certificates this old is retried once with fresh ones, in case
# Google rotated its keys; no sooner, so bad tokens cannot make us hammer Google.
REFETCH_AFTER = 60
MAX_AGE = re.compile(r"max-age=(\d+)")


class Rejected(Exception):
    """The request is not one to answer. The message is for the log, never for the caller."""


class Unavailable(Exception):
    """Google's certificates could not be fetched, so nothing can be verified right now."""


class CertCache:
    """A google-auth transport request that keeps Google's certificates for their max-age.

    verify_oauth2_token fetches the certificates on every call, and every add-on request
    verifies two tokens: without this each click in Gmail would wait on two fetches.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._request = None
        # url -> (fetched at, good until, response)
        self._kept: dict[str, tuple[float, float, object]] = {}

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        if method != "GET":
            return self._transport()(
                url, method=method, body=body, headers=headers, timeout=TIMEOUT
            )
        with self._lock:  # one fetch at a time: the others then find it kept
            now = self.clock()
            kept = self._kept.get(url)
            if kept and kept[1] > now:
                return kept[2]
            response = self._transport()(url, method="GET", headers=headers, timeout=TIMEOUT)
            if response.status == 200:
                self._kept[url] = (now, now + _max_age(response.headers), response)
            return response

    def forget_old(self) -> bool:
        """Drop certificates fetched over REFETCH_AFTER seconds ago; True if any were."""
        with self._lock:
            now = self.clock()
            old = [url for url, kept in self._kept.items() if now - kept[0] >= REFETCH_AFTER]
            for url in old:
                del self._kept[url]
            return bool(old)

    def _transport(self):
        if self._request is None:
            import google.auth.transport.requests

            self._request = google.auth.transport.requests.Request()
        return self._request


def _max_age(headers) -> float:
    found = MAX_AGE.search(str(headers.get("cache-control", "")))
    if not found:
        return DEFAULT_MAX_AGE
    return min(int(found.group(1)), LONGEST_MAX_AGE)


def _claims(token: str, audience: str, certs: CertCache) -> dict:
    """Verify signature, expiry, issuer and audience; return the token's claims."""
    import google.auth.exceptions
    from google.oauth2 import id_token

    for attempt in (1, 2):
        try:
            return dict(
                id_token.verify_oauth2_token(
                    token, certs, audience=audience, clock_skew_in_seconds=CLOCK_SKEW
                )
            )
        except google.auth.exceptions.TransportError as exc:
            raise Unavailable(str(exc)) from exc
        except (google.auth.exceptions.GoogleAuthError, ValueError, KeyError, TypeError) as exc:
            if attempt == 1 and certs.forget_old():
                continue
            raise Rejected(f"{type(exc).__name__}: {exc}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _verified(claims: dict) -> bool:
    # Google sends a boolean; older tokens carried the string "true".
    return claims.get("email_verified") in (True, "true")


def google_request(token: str, *, audience: str, service_account: str, certs: CertCache) -> None:
    """Raise Rejected unless `token` is Google's ID token of our add-on service account."""
    if not token:
        raise Rejected("no bearer token")
    claims = _claims(token, audience, certs)
    sender = claims.get("email")
    if not isinstance(sender, str) or sender.lower() != service_account.lower():
        raise Rejected(f"signed for {sender!r}, not the add-on's service account")
    if not _verified(claims):
        raise Rejected("the service account's email is not verified")


def user_email(token, *, client_id: str, certs: CertCache) -> str:
    """The verified address of the user a Google ID token issued to our add-on names."""
    if not isinstance(token, str) or not token:
        raise Rejected("the event carries no user ID token")
    claims = _claims(token, client_id, certs)
    address = claims.get("email")
    if not isinstance(address, str) or not _verified(claims):
        raise Rejected("the user's ID token has no verified email address")
    _, parsed = email.utils.parseaddr(address)
    if parsed != address or "@" not in address:
        raise Rejected("the user's ID token has a malformed email address")
    return address
