"""Consent to the user's own Gmail, per purpose, and the grants kept for it.

Incremental consent: a signed-in user asks the API for a one-time link (sending:
POST /api/v1/notifications/gmail; reply detection: POST /api/v1/insights/gmail), the browser
follows it to Google asking for that purpose's scope only (plus `openid email`, already
granted at sign-in, to learn which account answered), and the callback keeps the refresh
token, encrypted, with the account under the purpose's credential name. The grant must come
from the Google account of the Mailtick account's own address.

Every purpose shares the two routes (so the operator registers one redirect URI); the
purpose travels signed in the link and the state, and each has its own browser cookie, so
two grants started in one browser do not overwrite each other.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from flask import Blueprint, current_app, jsonify, redirect, render_template_string, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..auth import (
    CLOCK_SKEW,
    GOOGLE_AUTH_URI,
    GOOGLE_TIMEOUT,
    GOOGLE_TOKEN_URI,
)
from ..errors import ApiError
from ..insights.gmail import SCOPE as GMAIL_METADATA_SCOPE
from ..store import Account, Store
from .mail import GMAIL_SEND_SCOPE, GmailMailer, gmail_credentials

log = logging.getLogger(__name__)
bp = Blueprint("gmail_send", __name__)

GRANT_MAX_AGE = 600
COOKIE_PATH = "/auth/google/gmail"


@dataclass(frozen=True)
class Purpose:
    """What a Gmail grant is for: the scope it asks, where its token is kept, what it says."""

    name: str
    scope: str
    credential: str
    cookie: str
    salt: str  # of the browser cookie's signature
    key_info: bytes  # derives the key that encrypts the kept refresh token
    what: str  # "sending (gmail.send)": for messages to the user
    on_title: str
    on_message: str
    off_message: str


SEND = Purpose(
    name="send",
    scope=GMAIL_SEND_SCOPE,
    credential="gmail_send",
    cookie="mailtick_gmail",
    salt="mailtick-gmail",
    key_info=b"mailtick gmail grant\x00",
    what="sending (gmail.send)",
    on_title="Gmail sending is on",
    on_message="Mailtick will send your notification emails from it.",
    off_message="Gmail sending stays off: Google gave no permission.",
)
REPLIES = Purpose(
    name="replies",
    scope=GMAIL_METADATA_SCOPE,
    credential="gmail_metadata",
    cookie="mailtick_gmail_replies",
    salt="mailtick-gmail-replies",
    key_info=b"mailtick gmail grant\x00replies\x00",
    what="reading who wrote in your threads (gmail.metadata)",
    on_title="Reply detection is on",
    on_message="Mailtick will look in your tracked threads for replies (senders and dates only,"
    " never a body) before a follow-up reminder falls due.",
    off_message="Reply detection through Gmail stays off: Google gave no permission.",
)
PURPOSES = {purpose.name: purpose for purpose in (SEND, REPLIES)}

# Kept for callers of the single-purpose module: sending.
CREDENTIAL = SEND.credential
SCOPES = ("openid", "email", GMAIL_SEND_SCOPE)
COOKIE = SEND.cookie

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Mailtick</title></head>
<body style="font-family:sans-serif;max-width:36em;margin:3em auto">
<h1>{{ title }}</h1><p>{{ message }}</p><p>You can close this tab.</p></body></html>"""


def _secret(config) -> str:
    # Shared by every instance: the configured secret key, else the OAuth client secret
    # (itsdangerous and the key derivation below each derive their own keys from it).
    return config.secret_key or f"google-client-secret:{config.google_client_secret}"


def _serializer(salt: str) -> URLSafeTimedSerializer:
    config = current_app.config["MAILTICK"]
    return URLSafeTimedSerializer(_secret(config), salt=salt)


def _signed(kind: str) -> URLSafeTimedSerializer:
    """The grant link's and the state's signer, shared by all purposes: the purpose is in the
    signed payload (absent: sending, as links made before purposes existed)."""
    return _serializer(f"mailtick-gmail-{kind}")


def _browser(purpose: Purpose) -> URLSafeTimedSerializer:
    return _serializer(f"{purpose.salt}-browser")


def _fernet(config, purpose: Purpose):
    from cryptography.fernet import Fernet

    digest = hashlib.sha256(purpose.key_info + _secret(config).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def keep_refresh_token(
    store: Store, config, account_id: str, refresh_token: str, purpose: Purpose = SEND
) -> None:
    """Store the refresh token encrypted: a copy of the database alone cannot use it."""
    token = _fernet(config, purpose).encrypt(refresh_token.encode()).decode()
    store.put_credential(account_id, purpose.credential, token)


def refresh_token_of(store: Store, config, account_id: str, purpose: Purpose = SEND) -> str | None:
    """The account's refresh token for the purpose, or None (none kept, or the server's
    secret changed)."""
    from cryptography.fernet import InvalidToken

    kept = store.credential(account_id, purpose.credential)
    if not kept:
        return None
    try:
        return _fernet(config, purpose).decrypt(kept.encode()).decode()
    except InvalidToken:
        log.warning(
            "the Gmail %s grant of account %s no longer decrypts; ask again",
            purpose.name,
            account_id,
        )
        return None


def forget(store: Store, account_id: str, purpose: Purpose) -> None:
    """Drop the kept grant. Not revoked at Google: with incremental consent one token holds
    every Gmail scope the user granted Mailtick, and revoking it would end the others too."""
    store.put_credential(account_id, purpose.credential, None)


def gmail_sender(store: Store, config, account: Account, *, http=None):
    """send(email) through the account's own Gmail, or None if it granted nothing."""
    if not config.google_sign_in:
        return None
    refresh_token = refresh_token_of(store, config, account.id, SEND)
    if not refresh_token:
        return None
    mailer = GmailMailer(
        gmail_credentials(refresh_token, config.google_client_id, config.google_client_secret),
        http=http,
    )
    return lambda email: mailer.send(email, account.email)


def grant_url(config, account: Account, purpose: Purpose = SEND) -> str:
    """A link, valid for 10 minutes, that starts Gmail consent for this account and purpose."""
    grant = _signed("grant").dumps({"account": account.id, "purpose": purpose.name})
    return f"{config.base_url}/auth/google/gmail/start?grant={grant}"


def grant_link_response(config, account: Account, purpose: Purpose, needs: str):
    """The API's answer to "give me a grant link": the link, or a 503 naming what is missing."""
    if not config.google_sign_in:
        scope = purpose.scope.rsplit("/", 1)[-1]
        raise ApiError(
            503,
            "gmail_off",
            f"{needs} needs Google sign-in on this server (MAILTICK_GOOGLE_CLIENT_ID and"
            f" MAILTICK_GOOGLE_CLIENT_SECRET, with the {scope} scope on the consent screen).",
        )
    response = jsonify(url=grant_url(config, account, purpose))
    response.headers["Cache-Control"] = "no-store"
    return response


def _purpose_of(payload: dict) -> Purpose | None:
    return PURPOSES.get(payload.get("purpose", SEND.name))


def _flow(verifier: str, purpose: Purpose):
    from google_auth_oauthlib.flow import Flow

    config = current_app.config["MAILTICK"]
    return Flow.from_client_config(
        {
            "web": {
                "client_id": config.google_client_id,
                "client_secret": config.google_client_secret,
                "auth_uri": GOOGLE_AUTH_URI,
                "token_uri": GOOGLE_TOKEN_URI,
            }
        },
        scopes=["openid", "email", purpose.scope],
        redirect_uri=f"{config.base_url}/auth/google/gmail/callback",
        code_verifier=verifier,
        autogenerate_code_verifier=False,
    )


def _page(title: str, message: str, status: int = 200, purpose: Purpose | None = None):
    response = current_app.response_class(
        render_template_string(PAGE, title=title, message=message), status=status
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    if purpose is not None:
        response.delete_cookie(purpose.cookie, path=COOKIE_PATH)
    return response


def _off():
    raise ApiError(
        503,
        "gmail_off",
        "Gmail access needs Google sign-in on this server (MAILTICK_GOOGLE_CLIENT_ID and"
        " MAILTICK_GOOGLE_CLIENT_SECRET, with the gmail.send and gmail.metadata scopes on the"
        " consent screen).",
    )


@bp.get("/auth/google/gmail/start")
def start():
    """Send the browser to Google for the purpose's scope, bound to this browser by a cookie."""
    config = current_app.config["MAILTICK"]
    if not config.google_sign_in:
        _off()
    try:
        grant = _signed("grant").loads(request.args.get("grant", ""), max_age=GRANT_MAX_AGE)
    except SignatureExpired:
        return _page("Link expired", "Start again from Mailtick's options.", 400)
    except BadSignature:
        return _page("Not a Mailtick link", "Start again from Mailtick's options.", 400)
    purpose = _purpose_of(grant)
    if purpose is None:
        return _page("Not a Mailtick link", "Start again from Mailtick's options.", 400)
    store = current_app.extensions["mailtick.store"]
    account = store.get_account(grant["account"])
    if account is None:
        return _page("No such account", "Sign in to Mailtick again.", 400)
    nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(64)
    state = _signed("state").dumps({"account": account.id, "nonce": nonce, "purpose": purpose.name})
    url, _ = _flow(verifier, purpose).authorization_url(
        state=state,
        access_type="offline",  # a refresh token: the digest and reminders run at night
        prompt="consent",  # Google sends a refresh token only with fresh consent
        include_granted_scopes="true",
        login_hint=account.email,
    )
    response = redirect(url)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        purpose.cookie,
        _browser(purpose).dumps({"nonce": nonce, "verifier": verifier}),
        max_age=GRANT_MAX_AGE,
        httponly=True,
        secure=config.base_url.startswith("https://"),
        samesite="Lax",
        path=COOKIE_PATH,
    )
    return response


@bp.get("/auth/google/gmail/callback")
def callback():
    """Keep the grant if it is for the account's own address and includes the scope asked."""
    config = current_app.config["MAILTICK"]
    if not config.google_sign_in:
        _off()
    elsewhere = "This answer is not for a request from this browser."
    try:
        state = _signed("state").loads(request.args.get("state", ""), max_age=GRANT_MAX_AGE)
    except BadSignature:
        return _page("Start again", elsewhere, 400)
    purpose = _purpose_of(state)
    if purpose is None:
        return _page("Start again", elsewhere, 400)
    try:
        browser = _browser(purpose).loads(
            request.cookies.get(purpose.cookie, ""), max_age=GRANT_MAX_AGE
        )
    except BadSignature:
        return _page("Start again", elsewhere, 400, purpose)
    if not hmac.compare_digest(browser["nonce"], state["nonce"]):
        return _page("Start again", elsewhere, 400, purpose)
    if "error" in request.args or not request.args.get("code"):
        return _page("Not turned on", purpose.off_message, purpose=purpose)
    store = current_app.extensions["mailtick.store"]
    account = store.get_account(state["account"])
    if account is None:
        return _page("No such account", "Sign in to Mailtick again.", 400, purpose)
    try:
        email, refresh_token = _exchange(request.args["code"], browser["verifier"], purpose)
    except GrantError as exc:
        return _page("Not turned on", str(exc), 400, purpose)
    if email.lower() != account.email:
        return _page(
            "Wrong Google account",
            f"Grant this from the Google account {account.email}, the one you use Mailtick with.",
            400,
            purpose,
        )
    keep_refresh_token(store, config, account.id, refresh_token, purpose)
    log.info("account %s granted %s", account.id, purpose.scope.rsplit("/", 1)[-1])
    return _page(purpose.on_title, purpose.on_message, purpose=purpose)


class GrantError(Exception):
    """Google's answer cannot be used; the message tells the user."""


def _exchange(code: str, verifier: str, purpose: Purpose) -> tuple[str, str]:
    """Trade the code for tokens; return the verified address and the refresh token."""
    import google.auth.exceptions
    import google.auth.transport.requests
    import requests
    from google.oauth2 import id_token
    from oauthlib.oauth2 import OAuth2Error

    config = current_app.config["MAILTICK"]
    try:
        token = _flow(verifier, purpose).fetch_token(code=code, timeout=GOOGLE_TIMEOUT)
    except Warning as changed:  # granted scopes named differently, or more: checked below
        token = getattr(changed, "token", None)
        if token is None:
            raise
    except (OAuth2Error, requests.RequestException) as exc:
        log.warning("Gmail grant: token exchange failed: %s", type(exc).__name__)
        raise GrantError("Google did not accept the grant. Try again.") from exc
    scope = token.get("scope") or ""
    granted = scope.split() if isinstance(scope, str) else list(scope)
    if purpose.scope not in granted:
        raise GrantError(f"Google did not grant {purpose.what}. Tick it and try again.")
    if not token.get("refresh_token"):
        raise GrantError("Google sent no refresh token. Try again.")
    fetch = functools.partial(google.auth.transport.requests.Request(), timeout=GOOGLE_TIMEOUT)
    try:
        claims = id_token.verify_oauth2_token(
            token.get("id_token") or "",
            fetch,
            audience=config.google_client_id,
            clock_skew_in_seconds=CLOCK_SKEW,
        )
    except (google.auth.exceptions.GoogleAuthError, ValueError, KeyError) as exc:
        log.warning("Gmail grant: ID token did not verify: %s", exc)
        raise GrantError("Google's answer did not verify. Try again.") from exc
    if claims.get("email_verified") not in (True, "true") or not claims.get("email"):
        raise GrantError("This Google account has no verified address.")
    return claims["email"], token["refresh_token"]
