"""Sending notification emails from the user's own Gmail: consent, and the kept grant.

Incremental consent: a signed-in user asks the API for a one-time link
(POST /api/v1/notifications/gmail), the browser follows it to Google asking for the
`gmail.send` scope only (plus `openid email`, already granted at sign-in, to learn which
account answered), and the callback keeps the refresh token, encrypted, with the account.
The grant must come from the Google account of the Mailtick account's own address.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets

from flask import Blueprint, current_app, redirect, render_template_string, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..auth import (
    CLOCK_SKEW,
    GOOGLE_AUTH_URI,
    GOOGLE_TIMEOUT,
    GOOGLE_TOKEN_URI,
)
from ..errors import ApiError
from ..store import Account, Store
from .mail import GMAIL_SEND_SCOPE, GmailMailer, gmail_credentials

log = logging.getLogger(__name__)
bp = Blueprint("gmail_send", __name__)

CREDENTIAL = "gmail_send"
SCOPES = ("openid", "email", GMAIL_SEND_SCOPE)
GRANT_MAX_AGE = 600
COOKIE = "mailtick_gmail"
COOKIE_PATH = "/auth/google/gmail"

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Mailtick</title></head>
<body style="font-family:sans-serif;max-width:36em;margin:3em auto">
<h1>{{ title }}</h1><p>{{ message }}</p><p>You can close this tab.</p></body></html>"""


def _secret(config) -> str:
    # Shared by every instance: the configured secret key, else the OAuth client secret
    # (itsdangerous and the key derivation below each derive their own keys from it).
    return config.secret_key or f"google-client-secret:{config.google_client_secret}"


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    config = current_app.config["MAILTICK"]
    return URLSafeTimedSerializer(_secret(config), salt=f"mailtick-gmail-{purpose}")


def _fernet(config):
    from cryptography.fernet import Fernet

    digest = hashlib.sha256(b"mailtick gmail grant\x00" + _secret(config).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def keep_refresh_token(store: Store, config, account_id: str, refresh_token: str) -> None:
    """Store the refresh token encrypted: a copy of the database alone cannot send mail."""
    token = _fernet(config).encrypt(refresh_token.encode()).decode()
    store.put_credential(account_id, CREDENTIAL, token)


def refresh_token_of(store: Store, config, account_id: str) -> str | None:
    """The account's Gmail refresh token, or None (none kept, or the server's secret changed)."""
    from cryptography.fernet import InvalidToken

    kept = store.credential(account_id, CREDENTIAL)
    if not kept:
        return None
    try:
        return _fernet(config).decrypt(kept.encode()).decode()
    except InvalidToken:
        log.warning("the Gmail grant of account %s no longer decrypts; ask again", account_id)
        return None


def gmail_sender(store: Store, config, account: Account, *, http=None):
    """send(email) through the account's own Gmail, or None if it granted nothing."""
    if not config.google_sign_in:
        return None
    refresh_token = refresh_token_of(store, config, account.id)
    if not refresh_token:
        return None
    mailer = GmailMailer(
        gmail_credentials(refresh_token, config.google_client_id, config.google_client_secret),
        http=http,
    )
    return lambda email: mailer.send(email, account.email)


def grant_url(config, account: Account) -> str:
    """A link, valid for 10 minutes, that starts Gmail consent for this account."""
    grant = _serializer("grant").dumps({"account": account.id})
    return f"{config.base_url}/auth/google/gmail/start?grant={grant}"


def _flow(verifier: str):
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
        scopes=list(SCOPES),
        redirect_uri=f"{config.base_url}/auth/google/gmail/callback",
        code_verifier=verifier,
        autogenerate_code_verifier=False,
    )


def _page(title: str, message: str, status: int = 200):
    response = current_app.response_class(
        render_template_string(PAGE, title=title, message=message), status=status
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


def _off():
    raise ApiError(
        503,
        "gmail_off",
        "Sending from Gmail needs Google sign-in on this server (MAILTICK_GOOGLE_CLIENT_ID and"
        " MAILTICK_GOOGLE_CLIENT_SECRET, with the gmail.send scope on the consent screen).",
    )


@bp.get("/auth/google/gmail/start")
def start():
    """Send the browser to Google for the gmail.send scope, bound to this browser by a cookie."""
    config = current_app.config["MAILTICK"]
    if not config.google_sign_in:
        _off()
    try:
        grant = _serializer("grant").loads(request.args.get("grant", ""), max_age=GRANT_MAX_AGE)
    except SignatureExpired:
        return _page("Link expired", "Start again from Mailtick's options.", 400)
    except BadSignature:
        return _page("Not a Mailtick link", "Start again from Mailtick's options.", 400)
    store = current_app.extensions["mailtick.store"]
    account = store.get_account(grant["account"])
    if account is None:
        return _page("No such account", "Sign in to Mailtick again.", 400)
    nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(64)
    state = _serializer("state").dumps({"account": account.id, "nonce": nonce})
    url, _ = _flow(verifier).authorization_url(
        state=state,
        access_type="offline",  # a refresh token, so that the digest can go out at night
        prompt="consent",  # Google sends a refresh token only with fresh consent
        include_granted_scopes="true",
        login_hint=account.email,
    )
    response = redirect(url)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        COOKIE,
        _serializer("browser").dumps({"nonce": nonce, "verifier": verifier}),
        max_age=GRANT_MAX_AGE,
        httponly=True,
        secure=config.base_url.startswith("https://"),
        samesite="Lax",
        path=COOKIE_PATH,
    )
    return response


@bp.get("/auth/google/gmail/callback")
def callback():
    """Keep the grant if it is for the account's own address and includes gmail.send."""
    config = current_app.config["MAILTICK"]
    if not config.google_sign_in:
        _off()
    try:
        state = _serializer("state").loads(request.args.get("state", ""), max_age=GRANT_MAX_AGE)
        browser = _serializer("browser").loads(
            request.cookies.get(COOKIE, ""), max_age=GRANT_MAX_AGE
        )
    except BadSignature:
        return _page("Start again", "This answer is not for a request from this browser.", 400)
    if not hmac.compare_digest(browser["nonce"], state["nonce"]):
        return _page("Start again", "This answer is not for a request from this browser.", 400)
    if "error" in request.args or not request.args.get("code"):
        return _page("Not turned on", "Gmail sending stays off: Google gave no permission.")
    store = current_app.extensions["mailtick.store"]
    account = store.get_account(state["account"])
    if account is None:
        return _page("No such account", "Sign in to Mailtick again.", 400)
    try:
        email, refresh_token = _exchange(request.args["code"], browser["verifier"])
    except GrantError as exc:
        return _page("Not turned on", str(exc), 400)
    if email.lower() != account.email:
        return _page(
            "Wrong Google account",
            f"Grant this from the Google account {account.email}, the one you use Mailtick with.",
            400,
        )
    keep_refresh_token(store, config, account.id, refresh_token)
    log.info("account %s granted gmail.send", account.id)
    return _page("Gmail sending is on", "Mailtick will send your notification emails from it.")


class GrantError(Exception):
    """Google's answer cannot be used; the message tells the user."""


def _exchange(code: str, verifier: str) -> tuple[str, str]:
    """Trade the code for tokens; return the verified address and the refresh token."""
    import google.auth.exceptions
    import google.auth.transport.requests
    import requests
    from google.oauth2 import id_token
    from oauthlib.oauth2 import OAuth2Error

    config = current_app.config["MAILTICK"]
    try:
        token = _flow(verifier).fetch_token(code=code, timeout=GOOGLE_TIMEOUT)
    except Warning as changed:  # granted scopes named differently, or more: checked below
        token = getattr(changed, "token", None)
        if token is None:
            raise
    except (OAuth2Error, requests.RequestException) as exc:
        log.warning("Gmail grant: token exchange failed: %s", type(exc).__name__)
        raise GrantError("Google did not accept the grant. Try again.") from exc
    scope = token.get("scope") or ""
    granted = scope.split() if isinstance(scope, str) else list(scope)
    if GMAIL_SEND_SCOPE not in granted:
        raise GrantError("Google did not grant sending (gmail.send). Tick it and try again.")
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
