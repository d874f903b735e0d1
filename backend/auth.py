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
GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
# Sign-in asks only who the user is; features that need Gmail ask for more later.
GOOGLE_SCOPES = ("openid", "email")
GOOGLE_TIMEOUT = 10  # seconds; a request thread must not hang on Google
# Google's and our clocks differ a little; a freshly minted ID token must not look early.
CLOCK_SKEW = 30
EXTENSION_ID = re.compile(r"^[a-p]{32}\Z")
GOOGLE_ERROR = re.compile(r"^[a-z_]{1,40}\Z")
STATE_MAX_AGE = 600
STATE_COOKIE = "mailtick_oauth"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(store: Store, account: Account, label: str = "") -> str:
    """Make a new API token for the account; only its hash is kept, so show it once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    store.add_token(account.id, hash_token(token), utcnow(), label)
    return token


def account_for_authorization(store: Store, header: str) -> tuple[Account, str]:
    """The account an `Authorization: Bearer <token>` header names, and the token's hash.

    Raises a 401 ApiError that says how to get a token when there is none or it is not valid.
    """
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
    account = store.account_for_token(token_hash)
    if account is None:
        raise ApiError(
            401,
            "invalid_token",
            "This API token is not valid: it was revoked, mistyped, or belongs to another"
            " server. Create a new one and paste it into the extension's options.",
        )
    return account, token_hash


def authenticated(view):
    """Require `Authorization: Bearer <token>` and put the caller's account in g.account."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.account, g.token_hash = account_for_authorization(
            current_app.extensions["mailtick.store"], request.headers.get("Authorization", "")
        )
        return view(*args, **kwargs)

    return wrapper


class SignInError(Exception):
    """Sign-in failed after the state checked out: tell the extension, in words."""


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    settings = current_app.config["MAILTICK"]
    # Every gunicorn worker must accept what another signed. Without MAILTICK_SECRET_KEY each
    # process draws its own random key, so fall back to the one secret they all share whenever
    # sign-in is on: the OAuth client secret (itsdangerous derives a separate key from it).
    key = settings.secret_key or f"google-client-secret:{settings.google_client_secret}"
    return URLSafeTimedSerializer(key, salt=f"mailtick-google-{purpose}")


def _flow(code_verifier: str):
    from google_auth_oauthlib.flow import Flow

    settings = current_app.config["MAILTICK"]
    return Flow.from_client_config(
        {
            "web": {
                "client_id": settings.google_client_id,
                "client_secret": settings.google_client_secret,
                "auth_uri": GOOGLE_AUTH_URI,
                "token_uri": GOOGLE_TOKEN_URI,
            }
        },
        scopes=list(GOOGLE_SCOPES),
        redirect_uri=f"{settings.base_url}/auth/google/callback",
        code_verifier=code_verifier,
        autogenerate_code_verifier=False,
    )


def _sign_in_off():
    raise ApiError(
        503,
        "sign_in_off",
        "Google sign-in is not configured on this server. Its operator can set"
        " MAILTICK_GOOGLE_CLIENT_ID, MAILTICK_GOOGLE_CLIENT_SECRET and MAILTICK_EXTENSION_IDS;"
        " until then, create a token with 'mailtick token create EMAIL'.",
    )


def _check_extension(extension_id: str) -> None:
    if not EXTENSION_ID.match(extension_id):
        raise ApiError(
            400,
            "bad_extension_id",
            "Pass extension_id=<the extension's id>: 32 letters from a to p, as"
            " chrome://extensions shows it. The server's operator allows ids in"
            " MAILTICK_EXTENSION_IDS.",
        )
    if extension_id not in current_app.config["MAILTICK"].extension_ids:
        raise ApiError(
            400,
            "unknown_extension",
            f"The extension {extension_id} is not allowed to sign in here. The server's"
            " operator must add its id to MAILTICK_EXTENSION_IDS.",
        )


@bp.get("/auth/google/start")
def google_start():
    """Send the browser to Google, remembering in a cookie who asked and the PKCE verifier."""
    settings = current_app.config["MAILTICK"]
    if not settings.google_sign_in:
        _sign_in_off()
    extension_id = request.args.get("extension_id", "")
    _check_extension(extension_id)
    nonce = secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(64)  # 86 characters; RFC 7636 asks for 43 to 128
    state = _serializer("state").dumps({"ext": extension_id, "nonce": nonce})
    url, _ = _flow(verifier).authorization_url(
        state=state,
        # Only an ID token is wanted: no refresh token, and none of the scopes that other
        # features were granted earlier.
        access_type="online",
        prompt="select_account",
    )
    response = redirect(url)
    response.headers["Cache-Control"] = "no-store"
    # Binds the answer to the browser that asked, so nobody can sign another person in, and
    # keeps the verifier away from the URL, so a code seen in transit cannot be redeemed.
    response.set_cookie(
        STATE_COOKIE,
        _serializer("browser").dumps({"nonce": nonce, "verifier": verifier}),
        max_age=STATE_MAX_AGE,
        httponly=True,
        secure=settings.base_url.startswith("https://"),
        samesite="Lax",
        path="/auth/google",
    )
    return response


@bp.get("/auth/google/callback")
def google_callback():
    """Check that this browser started the sign-in, then hand the extension a token or an error."""
    settings = current_app.config["MAILTICK"]
    if not settings.google_sign_in:
        _sign_in_off()
    try:
        state = _serializer("state").loads(request.args.get("state", ""), max_age=STATE_MAX_AGE)
    except SignatureExpired as exc:
        raise ApiError(400, "sign_in_expired", "Sign-in took too long. Start again.") from exc
    except BadSignature as exc:
        raise ApiError(400, "bad_state", "This sign-in link is not one this server made.") from exc
    try:
        browser = _serializer("browser").loads(
            request.cookies.get(STATE_COOKIE, ""), max_age=STATE_MAX_AGE
        )
    except BadSignature:
        browser = None
    if not browser or not hmac.compare_digest(browser["nonce"], state["nonce"]):
        raise ApiError(
            400, "bad_state", "Sign-in must finish in the browser window that started it."
        )
    # The operator may have removed the extension since the sign-in started.
    _check_extension(state["ext"])
    target = f"https://{state['ext']}.chromiumapp.org/"
    if "error" in request.args:
        return _finish(target, {"error": _google_error(request.args["error"])})
    if not request.args.get("code"):
        raise ApiError(400, "missing_code", "Google's answer carried no authorization code.")
    try:
        email = _verified_email(request.args["code"], browser["verifier"])
    except SignInError as exc:
        return _finish(target, {"error": str(exc)})
    store = current_app.extensions["mailtick.store"]
    account = store.ensure_account(email, utcnow())
    token = issue_token(store, account, label=f"google sign-in ({state['ext']})")
    return _finish(target, {"token": token, "email": account.email})


def _google_error(code: str) -> str:
    if code == "access_denied":
        return "You cancelled signing in with Google."
    # The rest of the query is not ours to repeat to the extension verbatim.
    return f"Google could not sign you in ({code if GOOGLE_ERROR.match(code) else 'error'})."


def _verified_email(code: str, verifier: str) -> str:
    """Trade the code for Google's ID token, verify it, and return its verified address."""
    import google.auth.exceptions
    import google.auth.transport.requests
    import requests
    from google.oauth2 import id_token
    from oauthlib.oauth2 import OAuth2Error

    settings = current_app.config["MAILTICK"]
    unreachable = "Could not reach Google to finish signing in. Try again."
    try:
        token = _flow(verifier).fetch_token(code=code, timeout=GOOGLE_TIMEOUT)
    except Warning as changed:
        # oauthlib raises when the granted scopes differ from those asked for, which they
        # always do: Google names `email` by its long form, and may add scopes granted to
        # other features. Only the ID token is used and it is checked below, so accept what
        # was granted, as OAUTHLIB_RELAX_TOKEN_SCOPE would, but for this exchange alone.
        token = getattr(changed, "token", None)
        if token is None:
            raise
    except OAuth2Error as exc:  # Google answered with an error, or with no access token
        log.warning("Google refused the authorization code: %s", exc)
        raise SignInError("Google did not accept the sign-in. Try again.") from exc
    except requests.RequestException as exc:
        log.warning("Google's token endpoint did not answer: %s", exc)
        raise SignInError(unreachable) from exc
    raw = token.get("id_token")
    if not raw:
        raise SignInError("Google's answer carried no ID token. Try again.")
    # verify_oauth2_token fetches Google's certificates without a timeout of its own.
    fetch = functools.partial(google.auth.transport.requests.Request(), timeout=GOOGLE_TIMEOUT)
    try:
        # Checks the signature against Google's certificates, expiry, audience and issuer.
        claims = id_token.verify_oauth2_token(
            raw, fetch, audience=settings.google_client_id, clock_skew_in_seconds=CLOCK_SKEW
        )
    except google.auth.exceptions.TransportError as exc:
        log.warning("could not fetch Google's certificates: %s", exc)
        raise SignInError(unreachable) from exc
    except (google.auth.exceptions.GoogleAuthError, ValueError, KeyError) as exc:
        log.warning("rejected an ID token: %s", exc)
        raise SignInError("Google's ID token did not verify. Try again.") from exc
    email = claims.get("email")
    # Google sends a boolean; older tokens carried the string "true" (and "false").
    verified = claims.get("email_verified") in (True, "true")
    if not isinstance(email, str) or not email or not verified:
        raise SignInError("Your Google account has no verified email address.")
    return email


def _finish(target: str, fragment: dict):
    # The token travels in the fragment: it never reaches a server log or a Referer header.
    response = make_response(redirect(f"{target}#{urlencode(fragment)}"))
    response.delete_cookie(STATE_COOKIE, path="/auth/google")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
