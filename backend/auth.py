"""API tokens, and Google sign-in that ends by handing a token to the extension."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
from urllib.parse import urlencode

from flask import Blueprint, current_app, g, make_response, redirect, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .errors import ApiError
from .store import Account, Store, utcnow

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

TOKEN_PREFIX = "mt_"  # noqa: S105 - a prefix that marks Mailtick tokens, not a secret
GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
EXTENSION_ID = re.compile(r"^[a-p]{32}$")
STATE_MAX_AGE = 600
STATE_COOKIE = "mailtick_oauth"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(store: Store, account: Account, label: str = "") -> str:
    """Make a new API token for the account; only its hash is kept, so show it once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    store.add_token(account.id, hash_token(token), utcnow(), label)
    return token


def authenticated(view):
    """Require `Authorization: Bearer <token>` and put the caller's account in g.account."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                "unauthorized",
                "Send an API token as 'Authorization: Bearer <token>'. Get one with"
                " 'mailtick token create EMAIL' or by signing in from the extension's options.",
            )
        token_hash = hash_token(token)
        account = current_app.extensions["mailtick.store"].account_for_token(token_hash)
        if account is None:
            raise ApiError(
                401,
                "invalid_token",
                "This API token is not valid: it was revoked, mistyped, or belongs to another"
                " server. Create a new one and paste it into the extension's options.",
            )
        g.account = account
        g.token_hash = token_hash
        return view(*args, **kwargs)

    return wrapper


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="mailtick-google-state")


def _flow(state: str | None = None):
    from google_auth_oauthlib.flow import Flow

    settings = current_app.config["MAILTICK"]
    flow = Flow.from_client_config(
        {
            "web": {
                "client_id": settings.google_client_id,
                "client_secret": settings.google_client_secret,
                "auth_uri": GOOGLE_AUTH_URI,
                "token_uri": GOOGLE_TOKEN_URI,
            }
        },
        # Sign-in asks only who the user is; features that need Gmail ask for more later.
        scopes=["openid", "https://www.googleapis.com/auth/userinfo.email"],
        redirect_uri=f"{settings.base_url}/auth/google/callback",
        state=state,
        autogenerate_code_verifier=False,
    )
    return flow


def _sign_in_off():
    raise ApiError(
        503,
        "sign_in_off",
        "Google sign-in is not configured on this server. Its operator can set"
        " MAILTICK_GOOGLE_CLIENT_ID, MAILTICK_GOOGLE_CLIENT_SECRET and MAILTICK_EXTENSION_IDS;"
        " until then, create a token with 'mailtick token create EMAIL'.",
    )


@bp.get("/auth/google/start")
def google_start():
    settings = current_app.config["MAILTICK"]
    if not settings.google_sign_in:
        _sign_in_off()
    extension_id = request.args.get("extension_id", "")
    if not EXTENSION_ID.match(extension_id) or extension_id not in settings.extension_ids:
        raise ApiError(
            400,
            "unknown_extension",
            "This extension is not allowed to sign in here. The server's operator must add its"
            " id to MAILTICK_EXTENSION_IDS.",
        )
    nonce = secrets.token_urlsafe(16)
    state = _serializer().dumps({"ext": extension_id, "nonce": nonce})
    url, _ = _flow(state).authorization_url(prompt="select_account", include_granted_scopes="true")
    response = redirect(url)
    # Binds the answer to the browser that asked, so nobody can sign another person in.
    response.set_cookie(
        STATE_COOKIE,
        nonce,
        max_age=STATE_MAX_AGE,
        httponly=True,
        secure=settings.base_url.startswith("https://"),
        samesite="Lax",
        path="/auth/google",
    )
    return response


@bp.get("/auth/google/callback")
def google_callback():
    settings = current_app.config["MAILTICK"]
    if not settings.google_sign_in:
        _sign_in_off()
    try:
        state = _serializer().loads(request.args.get("state", ""), max_age=STATE_MAX_AGE)
    except SignatureExpired as exc:
        raise ApiError(400, "sign_in_expired", "Sign-in took too long. Start again.") from exc
    except BadSignature as exc:
        raise ApiError(400, "bad_state", "This sign-in link is not one this server made.") from exc
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, state["nonce"]):
        raise ApiError(
            400, "bad_state", "Sign-in must finish in the browser window that started it."
        )
    target = f"https://{state['ext']}.chromiumapp.org/"
    if "error" in request.args:
        return _finish(target, {"error": f"Google said: {request.args['error']}"})
    if "code" not in request.args:
        raise ApiError(400, "missing_code", "Google's answer carried no authorization code.")
    token, email = _exchange(request.args["code"], state["ext"])
    if token is None:
        return _finish(target, {"error": email})
    return _finish(target, {"token": token, "email": email})


def _exchange(code: str, extension_id: str) -> tuple[str | None, str]:
    """Trade the code for an ID token, verify it, and issue an API token for its address."""
    import google.auth.transport.requests
    from google.oauth2 import id_token

    settings = current_app.config["MAILTICK"]
    flow = _flow()
    try:
        flow.fetch_token(code=code)
    except Exception as exc:
        log.warning("Google token exchange failed: %s", exc)
        return None, "Google did not accept the sign-in. Try again."
    raw = flow.oauth2session.token.get("id_token")
    if not raw:
        return None, "Google's answer carried no ID token."
    try:
        claims = id_token.verify_oauth2_token(
            raw, google.auth.transport.requests.Request(), audience=settings.google_client_id
        )
    except Exception as exc:
        log.warning("rejected an ID token: %s", exc)
        return None, "Google's ID token did not verify."
    if claims.get("iss") not in GOOGLE_ISSUERS:
        return None, "The ID token was not issued by Google."
    if not claims.get("email") or not claims.get("email_verified"):
        return None, "Your Google account has no verified email address."
    store = current_app.extensions["mailtick.store"]
    account = store.ensure_account(claims["email"], utcnow())
    return issue_token(store, account, label=f"google sign-in ({extension_id})"), account.email


def _finish(target: str, fragment: dict):
    # The token travels in the fragment: it never reaches a server log or a Referer header.
    response = make_response(redirect(f"{target}#{urlencode(fragment)}"))
    response.delete_cookie(STATE_COOKIE, path="/auth/google")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
