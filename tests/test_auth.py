"""API tokens, the `mailtick token` commands, and Google sign-in against a fake Google.

Only Google's endpoints are faked (with `responses`): the token endpoint, which checks the
client's credentials, the redirect URI and the PKCE verifier the way Google does, and the
certificate endpoint google-auth verifies ID tokens against. ID tokens are signed with an RSA
key made here. Any other outgoing request fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import types
from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urlsplit

import itsdangerous.timed
import pytest
import responses
from google.auth import jwt
from google_keys import SigningKey, make_key

from backend import cli, create_app
from backend.auth import STATE_COOKIE, STATE_MAX_AGE, hash_token

CLIENT_ID = "1234567890-mailtick.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-test-client-secret"  # noqa: S105 - a fake for the fake Google
EXT = "abcdefghijklmnopabcdefghijklmnop"
OTHER_EXT = "ponmlkjihgfedcbaponmlkjihgfedcba"
AUTH_ENDPOINT = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"
# Where google.oauth2.id_token.verify_oauth2_token fetches Google's signing certificates.
CERTS_ENDPOINT = "https://www.googleapis.com/oauth2/v1/certs"
CALLBACK = "http://mailtick.test/auth/google/callback"
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"


def error_of(response) -> dict:
    assert response.is_json, response.data
    return response.get_json()["error"]


# --- A fake Google ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def google_key() -> SigningKey:
    return make_key("google-key-1")


@pytest.fixture(scope="module")
def stranger_key() -> SigningKey:
    """A key Google never published."""
    return make_key("stranger-key")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class FakeGoogle:
    """Google's authorization server, as far as Mailtick talks to it."""

    def __init__(self, mock: responses.RequestsMock, key: SigningKey):
        self.key = key
        self.grants: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        # What Google says it granted: it names `email` by its long form.
        self.granted_scope: str | None = f"openid {EMAIL_SCOPE}"
        # Google hands one out when offline access to Gmail is granted (tests that ask set it).
        self.refresh_token: str | None = None
        self.certs_status = 200
        mock.add_callback(responses.POST, TOKEN_ENDPOINT, callback=self._token)
        mock.add_callback(responses.GET, CERTS_ENDPOINT, callback=self._certs)

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "azp": CLIENT_ID,
            "aud": CLIENT_ID,
            "sub": "110169484474386276334",
            "email": "Ada.Lovelace@gmail.com",
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not None}

    def id_token(self, key: SigningKey | None = None, kid: str | None = None, **claims) -> str:
        key = key or self.key
        return jwt.encode(key.signer, self.claims(**claims), key_id=kid).decode()

    def authorize(self, authorization_url: str, id_token: str | None = None, **claims) -> str:
        """Play the user consenting on Google's page; return the code Google would send back."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
        code = f"4/0A-fake-code-{len(self.grants)}"
        self.grants[code] = {
            "redirect_uri": query["redirect_uri"],
            "challenge": query.get("code_challenge"),
            "id_token": id_token if id_token is not None else self.id_token(**claims),
        }
        return code

    def _token(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        self.token_requests.append(form)

        def refuse(error, description):
            return 400, {}, json.dumps({"error": error, "error_description": description})

        basic = request.headers.get("Authorization", "")
        sent_in_body = (form.get("client_id"), form.get("client_secret"))
        expected = b64(f"{CLIENT_ID}:{CLIENT_SECRET}".encode())
        if basic.removeprefix("Basic ").rstrip("=") != expected and sent_in_body != (
            CLIENT_ID,
            CLIENT_SECRET,
        ):
            return refuse("invalid_client", "Unauthorized")
        grant = self.grants.pop(form.get("code", ""), None)  # a code works once
        if form.get("grant_type") != "authorization_code" or grant is None:
            return refuse("invalid_grant", "Malformed auth code.")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return refuse("redirect_uri_mismatch", "Bad Request")
        if grant["challenge"] is not None:
            verifier = form.get("code_verifier", "")
            if b64(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
                return refuse("invalid_grant", "Invalid code verifier.")
        body = {
            "access_token": "ya29.fake-access-token",
            "expires_in": 3599,
            "token_type": "Bearer",
        }
        if grant["id_token"] is not None:
            body["id_token"] = grant["id_token"]
        if self.granted_scope is not None:
            body["scope"] = self.granted_scope
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _certs(self, request):
        return (
            self.certs_status,
            {"Content-Type": "application/json"},
            json.dumps({self.key.kid: self.key.cert_pem}),
        )


@pytest.fixture
def google(google_key):
    # Unmatched requests raise ConnectionError: nothing but these two endpoints is reachable.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeGoogle(mock, google_key)


# --- Apps with sign-in on ---------------------------------------------------------------------


@pytest.fixture
def settings(settings):
    """This module's `app` has Google sign-in configured for one extension."""
    return replace(
        settings,
        google_client_id=CLIENT_ID,
        google_client_secret=CLIENT_SECRET,
        extension_ids=(EXT,),
    )


@pytest.fixture
def make_app():
    """Build further apps (another worker, another configuration) and close them afterwards."""
    made = []

    def make(settings):
        made.append(create_app(settings))
        return made[-1]

    yield make
    for app in made:
        app.extensions["mailtick.spool"].stop()
        app.extensions["mailtick.store"].close()


def start(client, extension_id: str = EXT):
    response = client.get("/auth/google/start", query_string={"extension_id": extension_id})
    assert response.status_code == 302, response.data
    return response


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def fragment_of(response, extension_id: str = EXT) -> dict:
    assert response.status_code == 302, response.data
    location = response.headers["Location"]
    target, _, fragment = location.partition("#")
    assert target == f"https://{extension_id}.chromiumapp.org/"
    return {k: v[0] for k, v in parse_qs(fragment).items()}


def callback(client, **params):
    return client.get(f"/auth/google/callback?{urlencode(params)}")


def sign_in(client, google, id_token=None, **claims):
    """Start in this browser, consent at the fake Google, come back; return the callback answer."""
    location = start(client).headers["Location"]
    code = google.authorize(location, id_token=id_token, **claims)
    return callback(client, code=code, state=query_of(location)["state"])


def token_count(store) -> int:
    return store.db.execute("SELECT count(*) FROM tokens").fetchone()[0]


# --- API tokens -------------------------------------------------------------------------------


def test_a_request_without_a_token_is_told_how_to_get_one(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "unauthorized"
    assert "Authorization: Bearer" in error["message"]
    assert "mailtick token create" in error["message"]


@pytest.mark.parametrize(
    "header",
    ["Bearer mt_not-a-token-this-server-made", "Bearer garbage", "Bearer \u00e9\u00e9"],
)
def test_an_unknown_token_is_refused_with_what_to_do(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "invalid_token"
    assert "Create a new one" in error["message"]


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "mt_abc"])
def test_a_malformed_authorization_header_is_refused(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_tokens_are_random_and_name_their_account(client, users):
    first, second = users.token("ada@example.com"), users.token("ada@example.com")
    assert first != second and len(first) >= 40
    for token in (first, second):
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.get_json()["email"] == "ada@example.com"


def test_a_revoked_token_is_refused(client, users, store):
    token = users.token()
    assert store.revoke_token(hash_token(token))
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_token"


def test_delete_token_revokes_only_the_presented_token(client, users):
    kept, dropped = users.headers(), users.headers()
    assert client.delete("/api/v1/token", headers=dropped).status_code == 204
    assert client.get("/api/v1/me", headers=dropped).status_code == 401
    assert client.get("/api/v1/me", headers=kept).status_code == 200
    assert client.delete("/api/v1/token", headers=dropped).status_code == 401


@pytest.fixture
def cli_env(app, monkeypatch):
    """Point the `mailtick` command at the same SQLite file as `app`."""
    settings = app.config["MAILTICK"]
    monkeypatch.setenv("MAILTICK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MAILTICK_STORE", settings.store_url)


def test_cli_token_create_prints_a_working_token_last(cli_env, client, capsys):
    assert cli.main(["token", "create", "Grace@Example.com"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    token = lines[-1]
    assert token.startswith("mt_") and " " not in token
    assert "grace@example.com" in lines[0]
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json()["email"] == "grace@example.com"


def test_cli_token_create_reuses_the_account(cli_env, client, capsys):
    cli.main(["token", "create", "grace@example.com"])
    cli.main(["token", "create", "grace@example.com"])
    tokens = [line for line in capsys.readouterr().out.splitlines() if line.startswith("mt_")]
    ids = {
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {t}"}).get_json()["account_id"]
        for t in tokens
    }
    assert len(tokens) == 2 and len(ids) == 1


def test_cli_token_revoke(cli_env, client, capsys):
    cli.main(["token", "create", "grace@example.com"])
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert cli.main(["token", "revoke", token]) == 0
    assert "Revoked" in capsys.readouterr().out
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert cli.main(["token", "revoke", token]) == 1
    assert "No such token" in capsys.readouterr().err


# --- Google sign-in: configuration ------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/auth/google/start?extension_id=" + EXT, "/auth/google/callback"]
)
def test_sign_in_is_off_with_a_clear_message_until_configured(make_app, settings, path):
    app = make_app(replace(settings, google_client_id="", google_client_secret=""))
    response = app.test_client().get(path)
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "sign_in_off"
    assert "MAILTICK_GOOGLE_CLIENT_ID" in error["message"]
    assert "mailtick token create" in error["message"]


@pytest.mark.parametrize(
    "extension_id",
    ["", "abc", EXT.upper(), EXT[:-1] + "z", EXT + "a", "../" + EXT[3:], OTHER_EXT],
)
def test_start_refuses_an_extension_that_is_not_configured(client, google, extension_id):
    response = client.get("/auth/google/start", query_string={"extension_id": extension_id})
    assert response.status_code == 400
    assert "MAILTICK_EXTENSION_IDS" in error_of(response)["message"]
    assert "Set-Cookie" not in response.headers


def test_start_without_an_extension_id_says_what_is_missing(client):
    response = client.get("/auth/google/start")
    assert response.status_code == 400
    assert "extension_id" in error_of(response)["message"]


# --- Google sign-in: the flow -----------------------------------------------------------------


def test_start_sends_the_browser_to_google_with_a_signed_state_and_a_pkce_challenge(client):
    response = start(client)
    location = response.headers["Location"]
    assert location.startswith(AUTH_ENDPOINT + "?")
    query = query_of(location)
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert query["response_type"] == "code"
    assert set(query["scope"].split()) == {"openid", "email"}
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    # Sign-in wants neither a refresh token nor scopes granted earlier for other features.
    assert query.get("access_type", "online") == "online"
    assert "include_granted_scopes" not in query
    assert len(query["state"]) > 20
    assert response.headers["Cache-Control"] == "no-store"

    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{STATE_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/auth/google" in cookie
    assert f"Max-Age={STATE_MAX_AGE}" in cookie
    assert "Secure" not in cookie  # this server runs on plain http


def test_each_start_gets_its_own_state_and_challenge(client):
    first, second = (query_of(start(client).headers["Location"]) for _ in range(2))
    assert first["state"] != second["state"]
    assert first["code_challenge"] != second["code_challenge"]


def test_the_cookie_is_secure_when_the_server_is_on_https(make_app, settings):
    app = make_app(replace(settings, base_url="https://mailtick.example"))
    response = start(app.test_client())
    assert "Secure" in response.headers["Set-Cookie"]
    assert query_of(response.headers["Location"])["redirect_uri"] == (
        "https://mailtick.example/auth/google/callback"
    )


@pytest.mark.parametrize(
    "granted",
    [
        f"openid {EMAIL_SCOPE}",  # what Google really answers to `openid email`
        "openid email",
        f"{EMAIL_SCOPE} openid https://www.googleapis.com/auth/gmail.readonly",
        None,
    ],
    ids=["long-form", "as-asked", "more-than-asked", "not-said"],
)
def test_sign_in_hands_a_working_token_to_the_extension(client, google, store, settings, granted):
    google.granted_scope = granted
    response = sign_in(client, google)
    answer = fragment_of(response)
    assert set(answer) == {"token", "email"}
    assert answer["email"] == "ada.lovelace@gmail.com"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert f"{STATE_COOKIE}=;" in response.headers["Set-Cookie"]  # cleared

    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {answer['token']}"})
    assert me.status_code == 200
    assert me.get_json()["email"] == "ada.lovelace@gmail.com"

    # The exchange proved the code with the verifier behind the challenge, over Basic auth.
    [exchange] = google.token_requests
    assert exchange["redirect_uri"] == CALLBACK and exchange["code_verifier"]
    assert "client_secret" not in exchange
    # The scope check was relaxed for this exchange only, not for the whole process.
    assert "OAUTHLIB_RELAX_TOKEN_SCOPE" not in os.environ


def test_the_token_is_stored_only_as_a_hash(client, google, store, app):
    token = fragment_of(sign_in(client, google))["token"]
    files = list(app.config["MAILTICK"].data_dir.glob("mailtick.db*"))
    contents = b"".join(path.read_bytes() for path in files)
    assert hash_token(token).encode() in contents  # we are looking in the right place
    assert token.encode() not in contents
    assert token.removeprefix("mt_").encode() not in contents


def test_the_same_google_account_signs_in_to_the_same_mailtick_account(app, google):
    first, second = app.test_client(), app.test_client()
    tokens = [fragment_of(sign_in(browser, google))["token"] for browser in (first, second)]
    assert tokens[0] != tokens[1]
    accounts = {
        first.get("/api/v1/me", headers={"Authorization": f"Bearer {t}"}).get_json()["account_id"]
        for t in tokens
    }
    assert len(accounts) == 1


def test_a_local_account_with_the_same_address_is_the_one_signed_in(client, users, google):
    local = client.get("/api/v1/me", headers=users.headers("ada.lovelace@gmail.com")).get_json()
    token = fragment_of(sign_in(client, google))["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert me["account_id"] == local["account_id"]


def test_another_worker_finishes_what_one_started(make_app, settings, google):
    """gunicorn runs several workers; without MAILTICK_SECRET_KEY each has its own random key."""
    assert not settings.secret_key
    starter, finisher = make_app(settings), make_app(settings)
    browser = starter.test_client()
    location = start(browser).headers["Location"]
    code = google.authorize(location)
    # The same browser (same cookie jar) lands on the other worker.
    browser.application = finisher
    response = callback(browser, code=code, state=query_of(location)["state"])
    assert "token" in fragment_of(response)


# --- Google sign-in: what is refused ----------------------------------------------------------


def test_a_tampered_state_is_refused(client, google, store):
    location = start(client).headers["Location"]
    code = google.authorize(location)
    state = query_of(location)["state"]
    tampered = state[:-3] + ("AAA" if state[-3:] != "AAA" else "BBB")
    response = callback(client, code=code, state=tampered)
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_state"
    assert google.token_requests == [] and token_count(store) == 0


def test_a_state_signed_by_another_server_is_refused(client, make_app, settings, google, store):
    elsewhere = make_app(replace(settings, google_client_secret="another-secret")).test_client()
    location = start(elsewhere).headers["Location"]
    code = google.authorize(location)
    client.set_cookie(
        STATE_COOKIE,
        elsewhere.get_cookie(STATE_COOKIE, path="/auth/google").value,
        path="/auth/google",
    )
    response = callback(client, code=code, state=query_of(location)["state"])
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_state"
    assert google.token_requests == [] and token_count(store) == 0


def test_a_missing_state_is_refused(client, google):
    start(client)
    response = callback(client, code="4/0A-anything")
    assert response.status_code == 400
    assert google.token_requests == []


@pytest.fixture
def later(monkeypatch):
    """Move itsdangerous' clock (which times the state and cookie) forward, without sleeping."""

    def move(seconds: int):
        now = time.time() + seconds
        monkeypatch.setattr(itsdangerous.timed, "time", types.SimpleNamespace(time=lambda: now))

    return move


def test_an_expired_state_is_refused(client, google, store, later):
    location = start(client).headers["Location"]
    code = google.authorize(location)
    later(STATE_MAX_AGE + 5)
    response = callback(client, code=code, state=query_of(location)["state"])
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "sign_in_expired" and "Start again" in error["message"]
    assert google.token_requests == [] and token_count(store) == 0


def test_a_slow_but_timely_sign_in_succeeds(client, google, later):
    location = start(client).headers["Location"]
    code = google.authorize(location)
    later(STATE_MAX_AGE - 5)
    response = callback(client, code=code, state=query_of(location)["state"])
    assert "token" in fragment_of(response)


def test_finishing_in_a_browser_without_the_cookie_is_refused(app, google, store):
    victim, attacker = app.test_client(), app.test_client()
    location = start(attacker).headers["Location"]
    code = google.authorize(location, email="attacker@gmail.com")
    # Login CSRF: the attacker gets the victim's browser to finish the attacker's sign-in.
    response = callback(victim, code=code, state=query_of(location)["state"])
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "bad_state" and "browser window that started it" in error["message"]
    assert google.token_requests == [] and token_count(store) == 0


def test_finishing_with_another_sign_ins_cookie_is_refused(app, google, store):
    victim, attacker = app.test_client(), app.test_client()
    start(victim)  # the victim has a cookie of their own
    location = start(attacker).headers["Location"]
    code = google.authorize(location, email="attacker@gmail.com")
    response = callback(victim, code=code, state=query_of(location)["state"])
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_state"
    assert google.token_requests == [] and token_count(store) == 0


def test_a_forged_cookie_is_refused(client, google, store):
    location = start(client).headers["Location"]
    code = google.authorize(location)
    client.set_cookie(STATE_COOKIE, "forged", path="/auth/google")
    response = callback(client, code=code, state=query_of(location)["state"])
    assert response.status_code == 400
    assert google.token_requests == [] and token_count(store) == 0


def test_a_code_from_an_earlier_start_fails_the_pkce_check(client, google, store):
    """A stolen code is useless without the verifier that only this browser's cookie holds."""
    first = start(client).headers["Location"]
    code = google.authorize(first)
    second = start(client).headers["Location"]  # the cookie now belongs to the second start
    response = callback(client, code=code, state=query_of(second)["state"])
    assert "error" in fragment_of(response)
    assert len(google.token_requests) == 1 and token_count(store) == 0


def test_replaying_a_finished_callback_is_refused(client, google, store):
    location = start(client).headers["Location"]
    code = google.authorize(location)
    state = query_of(location)["state"]
    assert "token" in fragment_of(callback(client, code=code, state=state))
    # The first answer cleared the cookie, and a new start gets a cookie of its own.
    assert callback(client, code=code, state=state).status_code == 400
    start(client)
    assert callback(client, code=code, state=state).status_code == 400
    assert len(google.token_requests) == 1 and token_count(store) == 1


def test_google_refusing_the_code_ends_with_an_error_for_the_extension(client, google, store):
    location = start(client).headers["Location"]
    response = callback(client, code="4/0A-never-issued", state=query_of(location)["state"])
    answer = fragment_of(response)
    assert set(answer) == {"error"} and "Try again" in answer["error"]
    assert token_count(store) == 0


def test_the_user_cancelling_at_google_ends_with_an_error(client, google, store):
    location = start(client).headers["Location"]
    response = callback(client, error="access_denied", state=query_of(location)["state"])
    answer = fragment_of(response)
    assert set(answer) == {"error"} and "cancel" in answer["error"].lower()
    assert google.token_requests == [] and token_count(store) == 0
    assert f"{STATE_COOKIE}=;" in response.headers["Set-Cookie"]


def test_an_odd_error_from_google_is_not_echoed(client, google):
    location = start(client).headers["Location"]
    response = callback(
        client, error="<script>alert(1)</script>", state=query_of(location)["state"]
    )
    answer = fragment_of(response)
    assert "<" not in answer["error"]


def test_a_callback_without_code_or_error_is_refused(client, google, store):
    location = start(client).headers["Location"]
    response = callback(client, state=query_of(location)["state"])
    assert response.status_code == 400
    assert error_of(response)["code"] == "missing_code"
    assert token_count(store) == 0


def test_an_extension_removed_while_signing_in_gets_nothing(make_app, settings, google):
    settings = replace(settings, secret_key="the operator's MAILTICK_SECRET_KEY")
    browser = make_app(settings).test_client()
    location = start(browser).headers["Location"]
    code = google.authorize(location)
    browser.application = make_app(replace(settings, extension_ids=(OTHER_EXT,)))
    response = callback(browser, code=code, state=query_of(location)["state"])
    assert response.status_code == 400
    assert "MAILTICK_EXTENSION_IDS" in error_of(response)["message"]
    assert google.token_requests == []


def unsigned(google: FakeGoogle) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": google.key.kid}).encode())
    return f"{header}.{b64(json.dumps(google.claims()).encode())}."


def resigned_as_hs256(google: FakeGoogle) -> str:
    """The classic confusion: an HMAC signature keyed with the public certificate."""
    import hmac

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": google.key.kid}).encode())
    body = f"{header}.{b64(json.dumps(google.claims()).encode())}"
    mac = hmac.new(google.key.cert_pem.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{b64(mac)}"


BAD_ID_TOKENS = {
    "wrong-audience": lambda g, k: g.id_token(aud="someone-else.apps.googleusercontent.com"),
    "wrong-issuer": lambda g, k: g.id_token(iss="https://accounts.evil.example"),
    "no-issuer": lambda g, k: g.id_token(iss=None),
    "expired": lambda g, k: g.id_token(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "issued-in-the-future": lambda g, k: g.id_token(
        iat=int(time.time()) + 3600, exp=int(time.time()) + 7200
    ),
    "signed-by-another-key": lambda g, k: g.id_token(key=k, kid=g.key.kid),
    "unknown-key-id": lambda g, k: g.id_token(key=k),
    "unsigned": lambda g, k: unsigned(g),
    "hs256-with-the-public-cert": lambda g, k: resigned_as_hs256(g),
    "email-not-verified": lambda g, k: g.id_token(email_verified=False),
    "email-verified-says-false": lambda g, k: g.id_token(email_verified="false"),
    "no-email": lambda g, k: g.id_token(email=None, email_verified=None),
    "not-a-jwt": lambda g, k: "not-a-jwt",
}


@pytest.mark.parametrize("make_token", BAD_ID_TOKENS.values(), ids=BAD_ID_TOKENS.keys())
def test_an_id_token_that_does_not_verify_gets_no_api_token(
    client, google, stranger_key, store, make_token
):
    response = sign_in(client, google, id_token=make_token(google, stranger_key))
    answer = fragment_of(response)
    assert set(answer) == {"error"} and answer["error"]
    assert token_count(store) == 0
    assert store.db.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0


def test_a_token_answer_without_an_id_token_gets_no_api_token(client, google, store):
    location = start(client).headers["Location"]
    code = google.authorize(location)
    google.grants[code]["id_token"] = None
    response = callback(client, code=code, state=query_of(location)["state"])
    assert "error" in fragment_of(response)
    assert token_count(store) == 0


def test_google_being_unreachable_ends_with_an_error(client, store):
    # No fake Google at all: every outgoing request fails.
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        location = start(client).headers["Location"]
        response = callback(client, code="4/0A-code", state=query_of(location)["state"])
    assert fragment_of(response)["error"].startswith("Could not reach Google")
    assert token_count(store) == 0


def test_google_certificates_being_unavailable_ends_with_an_error(client, google, store):
    google.certs_status = 503
    answer = fragment_of(sign_in(client, google))
    assert answer["error"].startswith("Could not reach Google")
    assert token_count(store) == 0
