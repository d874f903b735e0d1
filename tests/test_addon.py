"""The Gmail add-on (HTTP runtime): request checks, each trigger's card, the compose action.

Google is faked only where Mailtick talks to it: the certificate endpoint google-auth verifies ID
tokens against (served with `responses`; the tokens are signed with RSA keys made here), and the
Gmail API (googleapiclient's HttpMockSequence). Any other outgoing request fails.
"""

from __future__ import annotations

import base64
import datetime
import json
import struct
import time
import zlib
from dataclasses import replace
from datetime import UTC, timedelta
from pathlib import Path

import jsonschema
import pytest
import responses
from google.auth import jwt
from google.oauth2 import id_token as google_id_token
from google_keys import SigningKey, make_key
from googleapiclient.http import HttpMockSequence

from backend import cli
from backend.addon import cards, engagement, gmail, verify
from backend.addon.manifest import PLACEHOLDER, descriptor
from backend.store import Hit, Message, utcnow

ROOT = Path(__file__).resolve().parent.parent
BASE = "http://mailtick.test"  # conftest's base URL
SERVICE_ACCOUNT = "service-123456789012@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
ADDON_CLIENT_ID = "123456789012-addon0fake.apps.googleusercontent.com"
USER = "sender@example.com"
CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
ENDPOINTS = ("homepage", "message", "timeline", "compose", "compose/track")
GMAIL_HEX = "18c2f0a1b2c3d4e5"
THREAD_HEX = "18c2f0a1b2c30000"


# --- A fake Google ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def google_key() -> SigningKey:
    return make_key("google-key-1")


@pytest.fixture(scope="module")
def rotated_key() -> SigningKey:
    return make_key("google-key-2")


@pytest.fixture(scope="module")
def stranger_key() -> SigningKey:
    """A key Google never published, under the name of Google's."""
    return make_key("google-key-1")


def b64(data) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class FakeGoogle:
    """Google's certificate endpoint, and the tokens Google would put on add-on requests."""

    def __init__(self, mock: responses.RequestsMock, key: SigningKey):
        self.mock = mock
        self.published = [key]
        self.key = key
        mock.add_callback(responses.GET, CERTS_URL, callback=self._certs)

    def _certs(self, request):
        body = {key.kid: key.cert_pem for key in self.published}
        return 200, {"Cache-Control": "public, max-age=22000, must-revalidate"}, json.dumps(body)

    @property
    def cert_fetches(self) -> int:
        return sum(1 for call in self.mock.calls if call.request.url == CERTS_URL)

    def token(self, key: SigningKey | None = None, **claims) -> str:
        now = int(time.time())
        body = {"iss": "https://accounts.google.com", "iat": now, "exp": now + 3600, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode((key or self.key).signer, body).decode()

    def system(self, path: str = "homepage", **claims) -> str:
        """The bearer token Google sends: the add-on's service account, for this endpoint."""
        return self.token(
            **{
                "aud": f"{BASE}/addon/{path}",
                "azp": "108341234567890123456",
                "sub": "108341234567890123456",
                "email": SERVICE_ACCOUNT,
                "email_verified": True,
                **claims,
            }
        )

    def user(self, email: str = USER, **claims) -> str:
        """The user's ID token in the event, issued to the add-on's OAuth client."""
        return self.token(
            **{
                "aud": ADDON_CLIENT_ID,
                "azp": ADDON_CLIENT_ID,
                "sub": "110169484474386276334",
                "email": email,
                "email_verified": True,
                **claims,
            }
        )


@pytest.fixture
def settings(settings):
    """conftest's settings, with the add-on configured."""
    return replace(settings, addon_service_account=SERVICE_ACCOUNT, addon_client_id=ADDON_CLIENT_ID)


@pytest.fixture
def google(google_key):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeGoogle(mock, google_key)


def no_gmail():
    raise AssertionError("this test did not expect a Gmail API call")


@pytest.fixture(autouse=True)
def gmail_api(app):
    """Answer the app's Gmail API calls with the given (headers, body) pairs, in order."""
    app.extensions["mailtick.addon"].gmail_http = no_gmail

    def answer(*replies) -> HttpMockSequence:
        mock = HttpMockSequence(list(replies))
        app.extensions["mailtick.addon"].gmail_http = lambda: mock
        return mock

    return answer


def gmail_message(
    message_id=GMAIL_HEX,
    thread_id=THREAD_HEX,
    sender="Alice Example <alice@example.com>",
    to=USER,
    subject="Re: Quarterly numbers",
    labels=("INBOX", "UNREAD"),
    sent_at: datetime.datetime | None = None,
) -> tuple[dict, str]:
    """A users.messages.get answer in metadata format, as the Gmail API gives it."""
    sent_at = sent_at or datetime.datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    headers = [
        {"name": "From", "value": sender},
        {"name": "To", "value": to},
        {"name": "Subject", "value": subject},
        {"name": "Message-ID", "value": "<CAF=abc123@mail.gmail.com>"},
    ]
    body = {
        "id": message_id,
        "threadId": thread_id,
        "labelIds": list(labels),
        "snippet": "",
        "historyId": "987654",
        "internalDate": str(int(sent_at.timestamp() * 1000)),
        "sizeEstimate": 5120,
        "payload": {"mimeType": "multipart/alternative", "headers": headers},
    }
    return {"status": "200", "content-type": "application/json"}, json.dumps(body)


def event(google: FakeGoogle, *, user_token: str | None = None, gmail_part=None, **common):
    """An event object as Google posts it to an HTTP add-on endpoint."""
    found = {
        "commonEventObject": {
            "hostApp": "GMAIL",
            "platform": "WEB",
            "userLocale": "en-GB",
            **common,
        },
        "authorizationEventObject": {
            "userOAuthToken": "ya29.a0AfB_user-oauth-token",
            "userIdToken": user_token if user_token is not None else google.user(),
            "systemIdToken": google.system(),
        },
    }
    if gmail_part is not None:
        found["gmail"] = gmail_part
    return found


def open_event(google, message_id=GMAIL_HEX, thread_id=THREAD_HEX, **common):
    """The contextual trigger's event: a message open in Gmail."""
    return event(
        google,
        gmail_part={
            "messageId": message_id,
            "threadId": thread_id,
            "accessToken": "AKCWx0Q-gmail-message-token",
        },
        **common,
    )


def call(client, google: FakeGoogle, path: str, body: dict | None = None, token: str | None = None):
    token = google.system(path) if token is None else token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"/addon/{path}", json=body or event(google), headers=headers)


# --- What a valid answer looks like -----------------------------------------------------------

# Written from Google's JSON card reference for the HTTP runtime, narrowed to what Mailtick
# sends: an unknown property or a misplaced widget fails the test.
ACTION = {
    "type": "object",
    "required": ["function"],
    "additionalProperties": False,
    "properties": {
        "function": {"type": "string", "pattern": "^https?://"},
        "parameters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "value"],
                "additionalProperties": False,
                "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
            },
        },
    },
}
ON_CLICK = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
    "properties": {"action": ACTION},
}
BUTTON = {
    "type": "object",
    "required": ["text", "onClick"],
    "additionalProperties": False,
    "properties": {"text": {"type": "string", "minLength": 1}, "onClick": ON_CLICK},
}
WIDGET = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
    "properties": {
        "textParagraph": {
            "type": "object",
            "required": ["text"],
            "additionalProperties": False,
            "properties": {"text": {"type": "string", "minLength": 1}},
        },
        "decoratedText": {
            "type": "object",
            "required": ["text"],
            "additionalProperties": False,
            "properties": {
                "text": {"type": "string", "minLength": 1},
                "topLabel": {"type": "string"},
                "bottomLabel": {"type": "string"},
                "wrapText": {"type": "boolean"},
                "onClick": ON_CLICK,
            },
        },
        "buttonList": {
            "type": "object",
            "required": ["buttons"],
            "additionalProperties": False,
            "properties": {"buttons": {"type": "array", "minItems": 1, "items": BUTTON}},
        },
        "textInput": {
            "type": "object",
            "required": ["name"],
            "anyOf": [{"required": ["label"]}, {"required": ["hintText"]}],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "label": {"type": "string"},
                "hintText": {"type": "string"},
                "value": {"type": "string"},
            },
        },
    },
}
CARD = {
    "type": "object",
    "required": ["sections"],
    "additionalProperties": False,
    "properties": {
        "header": {
            "type": "object",
            "required": ["title"],
            "additionalProperties": False,
            "properties": {"title": {"type": "string"}, "subtitle": {"type": "string"}},
        },
        "name": {"type": "string"},
        "sections": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["widgets"],
                "additionalProperties": False,
                "properties": {
                    "header": {"type": "string"},
                    "widgets": {"type": "array", "minItems": 1, "items": WIDGET},
                },
            },
        },
    },
}
CARD_RESPONSE = {
    "type": "object",
    "required": ["renderActions"],
    "additionalProperties": False,
    "properties": {
        "renderActions": {
            "type": "object",
            "required": ["action"],
            "additionalProperties": False,
            "properties": {
                "action": {
                    "type": "object",
                    "required": ["navigations"],
                    "additionalProperties": False,
                    "properties": {
                        "navigations": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["pushCard"],
                                "additionalProperties": False,
                                "properties": {"pushCard": CARD},
                            },
                        }
                    },
                }
            },
        }
    },
}
DRAFT_RESPONSE = {
    "type": "object",
    "required": ["renderActions"],
    "additionalProperties": False,
    "properties": {
        "renderActions": {
            "type": "object",
            "required": ["hostAppAction"],
            "additionalProperties": False,
            "properties": {
                "hostAppAction": {
                    "type": "object",
                    "required": ["gmailAction"],
                    "additionalProperties": False,
                    "properties": {
                        "gmailAction": {
                            "type": "object",
                            "required": ["updateDraftActionMarkup"],
                            "additionalProperties": False,
                            "properties": {
                                "updateDraftActionMarkup": {
                                    "type": "object",
                                    "required": ["updateBody"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "updateBody": {
                                            "type": "object",
                                            "required": ["insertContents", "type"],
                                            "additionalProperties": False,
                                            "properties": {
                                                "type": {
                                                    "enum": [
                                                        "IN_PLACE_INSERT",
                                                        "INSERT_AT_START",
                                                        "INSERT_AT_END",
                                                    ]
                                                },
                                                "insertContents": {
                                                    "type": "array",
                                                    "minItems": 1,
                                                    "items": {
                                                        "type": "object",
                                                        "required": ["content", "contentType"],
                                                        "additionalProperties": False,
                                                        "properties": {
                                                            "content": {"type": "string"},
                                                            "contentType": {
                                                                "enum": [
                                                                    "TEXT",
                                                                    "MUTABLE_HTML",
                                                                    "IMMUTABLE_HTML",
                                                                ]
                                                            },
                                                        },
                                                    },
                                                },
                                            },
                                        }
                                    },
                                }
                            },
                        }
                    },
                }
            },
        }
    },
}


def strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def actions(value):
    """Every action in a card, as (function, {parameters})."""
    if isinstance(value, dict):
        if "function" in value:
            yield value["function"], {p["key"]: p["value"] for p in value.get("parameters", [])}
        for item in value.values():
            yield from actions(item)
    elif isinstance(value, list):
        for item in value:
            yield from actions(item)


def card_of(response, app) -> dict:
    """Check a response is a valid card whose buttons all call add-on endpoints; return it."""
    assert response.status_code == 200, response.data
    body = response.get_json()
    jsonschema.validate(body, CARD_RESPONSE)
    posts = {
        f"{BASE}{rule.rule}" for rule in app.url_map.iter_rules() if "POST" in (rule.methods or ())
    }
    for function, _ in actions(body):
        assert function in posts, function
    return body["renderActions"]["action"]["navigations"][0]["pushCard"]


def widgets(card: dict) -> list[dict]:
    return [widget for section in card["sections"] for widget in section["widgets"]]


def texts(card: dict) -> str:
    return "\n".join(strings(card))


def rows(card: dict) -> list[dict]:
    return [w["decoratedText"] for w in widgets(card) if "decoratedText" in w]


def assert_refused(response):
    assert response.status_code == 401
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == "unauthorized"
    assert "renderActions" not in response.get_data(as_text=True)


# --- Tracked messages to show -----------------------------------------------------------------


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def account(store):
    return store.ensure_account(USER, utcnow())


@pytest.fixture
def tracked(store, account):
    """Put a sent message in the store; returns a function that makes one and gives it back."""
    serial = iter(range(10**6))

    def make(
        subject="Quarterly numbers",
        to=("alice@example.com",),
        cc=(),
        sent_at=None,
        links=(),
        gmail_id=None,
        thread_id=None,
        owner=None,
        opens=(),
        clicks=(),
    ) -> Message:
        owner = owner or account
        message_id = f"msg{next(serial):04d}".ljust(22, "x")
        sent_at = sent_at or at(20, 9)
        store.reserve(owner.id, message_id, sent_at, sent_at + timedelta(days=3))
        store.complete(
            owner.id,
            message_id,
            {
                "subject": subject,
                "to": list(to),
                "cc": list(cc),
                "bcc": [],
                "links": list(links),
                "sent_at": sent_at,
                "gmail_message_id": gmail_id,
                "gmail_thread_id": thread_id,
            },
        )
        hits = [
            Hit(id=f"{message_id}-o{n}", message_id=message_id, kind="open", at=moment)
            for n, moment in enumerate(opens)
        ]
        hits += [
            Hit(
                id=f"{message_id}-c{n}",
                message_id=message_id,
                kind="click",
                at=moment,
                link_index=index,
                url=list(links)[index],
            )
            for n, (moment, index) in enumerate(clicks)
        ]
        store.record_hits(hits)
        return store.message(owner.id, message_id)

    return make


# --- Security ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_request_without_a_bearer_token_gets_401_and_no_data(client, google, tracked, path):
    tracked(subject="Secret plans")
    response = client.post(f"/addon/{path}", json=event(google))
    assert_refused(response)
    assert "Secret plans" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_token_for_another_endpoint_is_refused(client, google, path):
    # Google's token for one endpoint must not open another: the audience is the exact URL.
    other = "timeline" if path != "timeline" else "homepage"
    assert_refused(call(client, google, path, token=google.system(other)))


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": "https://evil.example/addon/homepage"}, id="another-host"),
        pytest.param({"aud": ADDON_CLIENT_ID}, id="the-user-audience"),
        pytest.param(
            {"email": "service-999@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"},
            id="another-add-on",
        ),
        pytest.param({"email": USER}, id="a-user-not-the-service-account"),
        pytest.param({"email_verified": False}, id="unverified"),
        pytest.param(
            {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, id="expired"
        ),
        pytest.param({"iss": "https://evil.example"}, id="another-issuer"),
    ],
)
def test_a_google_token_that_does_not_check_out_is_refused(client, google, tracked, claims):
    tracked(subject="Secret plans")
    response = call(client, google, "homepage", token=google.system(**claims))
    assert_refused(response)
    assert "Secret plans" not in response.get_data(as_text=True)


def test_a_token_signed_by_a_key_google_never_published_is_refused(client, google, stranger_key):
    token = google.token(
        stranger_key,
        aud=f"{BASE}/addon/homepage",
        email=SERVICE_ACCOUNT,
        email_verified=True,
    )
    assert_refused(call(client, google, "homepage", token=token))


def test_an_unsigned_token_is_refused(client, google):
    # alg "none": the claims are right, there is no signature at all.
    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": f"{BASE}/addon/homepage",
        "email": SERVICE_ACCOUNT,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': google.key.kid})}.{b64(claims)}."
    assert_refused(call(client, google, "homepage", token=token))


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_a_malformed_bearer_token_is_refused(client, google, token):
    response = client.post(
        "/addon/homepage", json=event(google), headers={"Authorization": f"Bearer {token}"}
    )
    assert_refused(response)


def test_a_token_sent_under_another_scheme_is_refused(client, google):
    headers = {"Authorization": f"Basic {google.system()}"}
    assert_refused(client.post("/addon/homepage", json=event(google), headers=headers))


@pytest.mark.parametrize(
    "user_token",
    [
        pytest.param("", id="missing"),
        pytest.param("user", id="wrong-audience"),
        pytest.param("unverified", id="unverified-email"),
        pytest.param("stranger", id="forged"),
        pytest.param("expired", id="expired"),
    ],
)
def test_the_user_id_token_must_check_out_too(client, google, store, stranger_key, user_token):
    now = int(time.time())
    token = {
        "": "",
        "user": google.user(aud="1234567890-mailtick-extension.apps.googleusercontent.com"),
        "unverified": google.user(email_verified=False),
        "stranger": google.token(
            stranger_key, aud=ADDON_CLIENT_ID, email=USER, email_verified=True
        ),
        "expired": google.user(iat=now - 7200, exp=now - 3600),
    }[user_token]
    body = event(google, user_token=token, gmail_part={"toRecipients": ["alice@example.com"]})
    response = call(client, google, "compose/track", body)
    assert_refused(response)
    # Nothing was registered for anyone.
    account = store.ensure_account(USER, utcnow())
    assert store.messages(account.id, 10) == ([], None)


def test_a_body_that_is_not_an_event_is_refused(client, google):
    response = client.post(
        "/addon/homepage",
        data="[]",
        content_type="application/json",
        headers={"Authorization": f"Bearer {google.system()}"},
    )
    assert_refused(response)


def test_the_add_on_is_off_until_configured(app, settings, google):
    from backend import close_app, create_app

    off = create_app(replace(settings, addon_service_account="", addon_client_id=""))
    try:
        response = off.test_client().post(
            "/addon/homepage",
            json=event(google),
            headers={"Authorization": f"Bearer {google.system()}"},
        )
    finally:
        close_app(off)
    assert response.status_code == 503
    message = response.get_json()["error"]["message"]
    assert "MAILTICK_ADDON_SERVICE_ACCOUNT" in message and "MAILTICK_ADDON_CLIENT_ID" in message


def test_the_certificates_are_fetched_once_while_google_says_they_are_fresh(app, client, google):
    for _ in range(3):
        card_of(call(client, google, "homepage"), app)
    # Three requests, six tokens verified, one fetch.
    assert google.cert_fetches == 1


def test_a_key_google_rotated_in_is_found_by_fetching_the_certificates_again(
    app, client, google, rotated_key
):
    clock = [1000.0]
    app.extensions["mailtick.addon"].certs = verify.CertCache(clock=lambda: clock[0])
    card_of(call(client, google, "homepage"), app)
    # Google publishes a new key and signs with it.
    google.published.append(rotated_key)
    google.key = rotated_key
    # Certificates fetched a moment ago are trusted as they are: no fetch per bad token.
    clock[0] += 5
    assert_refused(call(client, google, "homepage"))
    assert google.cert_fetches == 1
    clock[0] += verify.REFETCH_AFTER
    card_of(call(client, google, "homepage"), app)
    assert google.cert_fetches == 2


def test_the_verifier_reads_the_certificates_where_google_auth_does():
    assert verify.GOOGLE_CERTS_URL == google_id_token._GOOGLE_OAUTH2_CERTS_URL == CERTS_URL


# --- Homepage ---------------------------------------------------------------------------------


def test_the_homepage_lists_recent_tracked_emails_with_state_opens_and_last_open(
    app, client, google, tracked, store, users
):
    tracked("Not yet read", sent_at=at(19, 8))
    tracked("Read twice", sent_at=at(20, 8), opens=[at(20, 9, 5), at(21, 14, 30)])
    stranger = store.ensure_account("someone-else@example.com", utcnow())
    tracked("Not mine", owner=stranger, sent_at=at(21, 8))
    card = card_of(call(client, google, "homepage"), app)
    listed = rows(card)
    assert [row["text"] for row in listed] == ["Read twice", "Not yet read"]
    assert listed[0]["topLabel"] == "Opened · to alice@example.com"
    assert listed[0]["bottomLabel"] == "Opened 2× · last 21 Nov 14:30"
    assert listed[1]["topLabel"] == "Not opened yet · to alice@example.com"
    assert listed[1]["bottomLabel"] == "Not opened yet"
    assert "Not mine" not in texts(card)


def test_the_homepage_shows_times_in_the_users_time_zone(app, client, google, tracked):
    tracked("Read", sent_at=at(20, 8), opens=[at(21, 14, 30)])
    body = event(google, timeZone={"id": "Asia/Kolkata", "offset": 19800000})
    card = card_of(call(client, google, "homepage", body), app)
    assert rows(card)[0]["bottomLabel"] == "Opened 1× · last 21 Nov 20:00"


def test_a_tracked_email_in_the_list_opens_its_timeline(app, client, google, tracked):
    message = tracked("Quarterly numbers")
    card = card_of(call(client, google, "homepage"), app)
    function, parameters = next(actions(rows(card)[0]))
    assert function == f"{BASE}/addon/timeline"
    assert parameters == {"id": message.id}
    opened = card_of(call(client, google, "timeline", event(google, parameters=parameters)), app)
    assert opened["name"] == "timeline"
    assert "Quarterly numbers" in texts(opened)


def test_the_homepage_pages_through_older_emails(app, client, google, tracked):
    for n in range(12):
        tracked(f"Email {n:02d}", sent_at=at(1, 8) + timedelta(hours=n))
    first = card_of(call(client, google, "homepage"), app)
    assert [row["text"] for row in rows(first)] == [f"Email {n:02d}" for n in range(11, 1, -1)]
    (function, parameters), *_ = [a for a in actions(first) if "cursor" in a[1]]
    assert function == f"{BASE}/addon/homepage"
    second = card_of(call(client, google, "homepage", event(google, parameters=parameters)), app)
    assert [row["text"] for row in rows(second)] == ["Email 01", "Email 00"]
    assert not [a for a in actions(second) if "cursor" in a[1]]


def test_a_cursor_that_is_not_ours_starts_from_the_newest(app, client, google, tracked):
    tracked("Newest")
    body = event(google, parameters={"cursor": "bm90LWEtY3Vyc29y"})
    card = card_of(call(client, google, "homepage", body), app)
    assert [row["text"] for row in rows(card)] == ["Newest"]


def test_the_homepage_explains_how_to_start_when_nothing_is_tracked(app, client, google):
    card = card_of(call(client, google, "homepage"), app)
    assert "Track this email" in texts(card)


def test_the_timeline_of_another_users_email_is_not_shown(app, client, google, tracked, store):
    stranger = store.ensure_account("someone-else@example.com", utcnow())
    theirs = tracked("Their secret", owner=stranger)
    body = event(google, parameters={"id": theirs.id})
    card = card_of(call(client, google, "timeline", body), app)
    assert "Their secret" not in texts(card)
    assert "gone" in texts(card)


def test_hostile_subjects_and_addresses_are_escaped(app, client, google, tracked):
    hostile = '<b>Q3</b> <a href="https://evil.example">win</a> & "more"'
    message = tracked(
        hostile,
        to=('eve"<img src=x>@evil.example',),
        links=["https://example.com/?a=1&b=<2>"],
        gmail_id=GMAIL_HEX,
        clicks=[(at(20, 10), 0)],
    )
    homepage = json.dumps(card_of(call(client, google, "homepage"), app))
    body = event(google, parameters={"id": message.id})
    timeline = json.dumps(card_of(call(client, google, "timeline", body), app))
    for shown in (homepage, timeline):
        assert "<b>Q3" not in shown and "<a href" not in shown and "<img" not in shown
        assert "&lt;b&gt;Q3&lt;/b&gt; &lt;a href=&quot;https://evil.example&quot;&gt;win" in shown
        assert "eve&quot;&lt;img src=x&gt;@evil.example" in shown
    assert "https://example.com/?a=1&amp;b=&lt;2&gt;" in timeline


# --- The message open in Gmail ----------------------------------------------------------------


def test_an_open_tracked_email_shows_its_timeline_of_opens_and_clicks(
    app, client, google, tracked, gmail_api
):
    message = tracked(
        "Quarterly numbers",
        links=["https://example.com/report", "https://example.org/deck"],
        gmail_id=GMAIL_HEX,
        thread_id=THREAD_HEX,
        opens=[at(20, 9, 5), at(20, 15, 0)],
        clicks=[(at(20, 9, 7), 1)],
    )
    api = gmail_api(
        gmail_message(sender=f"Sender <{USER}>", to="alice@example.com", labels=("SENT",))
    )
    card = card_of(call(client, google, "message", open_event(google)), app)
    assert card["name"] == "timeline"
    timeline = [row for row in rows(card) if row.get("topLabel", "").startswith("2")]
    assert [row["text"] for row in timeline] == [
        "Opened",
        "Clicked https://example.org/deck",
        "Opened",
    ]
    assert [row["topLabel"] for row in timeline] == ["20 Nov 09:05", "20 Nov 09:07", "20 Nov 15:00"]
    assert message.subject in texts(card)
    # The open message was looked up with the narrowest call: its headers, not its body.
    (uri, method, _, headers), *rest = api.request_sequence
    assert not rest
    assert method == "GET"
    assert uri.startswith(f"https://gmail.googleapis.com/gmail/v1/users/me/messages/{GMAIL_HEX}?")
    assert "format=metadata" in uri
    assert headers["Authorization"] == "Bearer ya29.a0AfB_user-oauth-token"
    assert headers["X-Goog-Gmail-Access-Token"] == "AKCWx0Q-gmail-message-token"


def test_the_timeline_labels_each_hit_with_its_class_and_device():
    message = Message(
        id="m" * 22,
        account_id="a",
        created_at=at(20, 8),
        subject="Hello",
        to=["alice@example.com"],
        links=["https://example.com/a"],
        sent_at=at(20, 8),
        opens=1,
        machine_opens=1,
    )
    hits = [
        Hit("1", message.id, "open", at(20, 8, 1), cls="self", counted=False),
        Hit("2", message.id, "open", at(20, 8, 2), cls="apple_mpp", counted=False),
        Hit("3", message.id, "open", at(20, 9), cls="gmail_proxy", client="Gmail", device="phone"),
        Hit("4", message.id, "click", at(20, 9, 1), link_index=0, cls="human",
            client="Chrome", device="<b>desktop</b>"),
        Hit("5", message.id, "click", at(20, 9, 1), link_index=0, cls="scanner", counted=False),
        Hit("6", message.id, "self_view", at(20, 9, 2)),
    ]  # fmt: skip
    card = cards.timeline(message, hits, cards.Context(BASE, at(27, 0)))
    jsonschema.validate(cards.push(card), CARD_RESPONSE)
    shown = [(row["text"], row["bottomLabel"]) for row in rows(card) if "bottomLabel" in row]
    assert shown == [
        ("Opened", "You, looking at your own email · not counted"),
        ("Opened", "Apple Mail fetched it: probably opened · not counted"),
        ("Opened", "Opened in Gmail (through Google's image proxy) · Gmail · phone"),
        (
            "Clicked https://example.com/a",
            "Opened by a reader · Chrome · &lt;b&gt;desktop&lt;/b&gt;",
        ),
        ("Clicked https://example.com/a", "A security scanner, not a person · not counted"),
    ]
    assert "probably opened, not proof" in texts(card)


def test_gmail_ids_in_the_add_on_s_decimal_form_find_the_tracked_email(
    app, client, google, tracked, gmail_api
):
    tracked("Quarterly numbers", gmail_id=GMAIL_HEX, thread_id=THREAD_HEX)
    api = gmail_api(gmail_message(sender=USER, labels=("SENT",)))
    body = open_event(
        google,
        message_id=f"msg-f:{int(GMAIL_HEX, 16)}",
        thread_id=f"thread-f:{int(THREAD_HEX, 16)}",
    )
    card = card_of(call(client, google, "message", body), app)
    assert card["name"] == "timeline"
    assert f"/messages/{GMAIL_HEX}?" in api.request_sequence[0][0]


def test_without_gmail_s_answer_the_event_s_id_still_finds_the_tracked_email(
    app, client, google, tracked, gmail_api
):
    tracked("Quarterly numbers", gmail_id=GMAIL_HEX)
    error = {"error": {"code": 403, "message": "Insufficient Permission", "status": "DENIED"}}
    gmail_api(({"status": "403", "content-type": "application/json"}, json.dumps(error)))
    card = card_of(call(client, google, "message", open_event(google)), app)
    assert card["name"] == "timeline"


def test_an_untracked_message_gets_an_explanation_and_the_way_home(app, client, google, gmail_api):
    gmail_api(({"status": "500"}, "backend error"))
    card = card_of(call(client, google, "message", open_event(google)), app)
    assert card["name"] == "explain"
    assert (f"{BASE}/addon/homepage", {}) in list(actions(card))


def test_an_untracked_email_the_user_sent_says_so(app, client, google, gmail_api):
    gmail_api(gmail_message(sender=f"Me <{USER}>", to="bob@example.com", labels=("SENT",)))
    card = card_of(call(client, google, "message", open_event(google)), app)
    assert card["name"] == "explain"
    assert "you sent is not tracked" in texts(card)


def test_a_message_from_a_contact_shows_their_engagement_with_the_users_emails(
    app, client, google, tracked, gmail_api
):
    # Four tracked emails to Alice: opened after 10 minutes, 1 hour and 3 hours; one unread.
    tracked("One", sent_at=at(2, 8), opens=[at(2, 8, 10), at(2, 14, 20)])
    tracked("Two", sent_at=at(3, 9), opens=[at(3, 10)], clicks=[], links=[])
    tracked("Three", sent_at=at(4, 7), cc=("bob@example.com",), opens=[at(4, 10)])
    tracked("Four", sent_at=at(5, 7))
    # Opens by someone else must not count as Alice's.
    tracked("To Carol", to=("carol@example.com",), sent_at=at(6, 7), opens=[at(6, 23)])
    in_thread = tracked("Quarterly numbers", to=("dave@example.com",), thread_id=THREAD_HEX)
    gmail_api(gmail_message(sender='"Alice Example" <Alice@Example.com>'))
    body = open_event(google, timeZone={"id": "Europe/Berlin", "offset": 3600000})
    card = card_of(call(client, google, "message", body), app)
    assert card["name"] == "contact"
    shown = [w["textParagraph"]["text"] for w in widgets(card) if "textParagraph" in w]
    assert shown[:3] == [
        "Opened 3 of 4 tracked emails you sent them",
        "Usually opens 1 hour after you send.",
        "Opens most at 11:00–12:00 (2), 09:00–10:00 (1), 15:00–16:00 (1), Europe/Berlin.",
    ]
    assert "1 of these email also went to others" in texts(card)
    assert rows(card)[0] == {"text": "alice@example.com", "wrapText": True, "topLabel": "From"}
    # The tracked email in the same conversation is one tap away.
    assert (f"{BASE}/addon/timeline", {"id": in_thread.id}) in list(actions(card))


def test_contact_engagement_counts_machine_opens_apart():
    def message(n, **fields):
        return Message(
            id=f"m{n}".ljust(22, "x"),
            account_id="a",
            created_at=at(1, 8),
            to=["alice@example.com"],
            sent_at=at(n, 8),
            **fields,
        )

    messages = [
        message(1, opens=1, first_open_at=at(1, 8, 30)),
        message(2, machine_opens=1),
        message(3, clicks=1, first_open_at=at(3, 9, 30)),
        message(4),
    ]
    stats = engagement.contact_engagement("ALICE@example.com", messages, {})
    assert (stats.sent, stats.opened, stats.probably_opened, stats.clicked) == (4, 2, 1, 1)
    assert stats.first_open_after == timedelta(minutes=60)
    card = cards.engagement(stats, [], cards.Context(BASE, at(27, 0)))
    assert "1 more probably opened (Apple Mail)." in texts(card)


def test_a_contact_never_emailed_is_said_so(app, client, google, gmail_api):
    gmail_api(gmail_message(sender="newcomer@example.net"))
    card = card_of(call(client, google, "message", open_event(google)), app)
    assert "You have not sent them a tracked email yet." in texts(card)


# --- Compose ----------------------------------------------------------------------------------


def compose_event(google, subject=None, **recipients):
    gmail_part = {
        "toRecipients": ["Alice Example <alice@example.com>"],
        "ccRecipients": ["bob@example.com"],
        "bccRecipients": [],
        "accessToken": "AKCWx0Q-compose-token",
        **recipients,
    }
    form = {}
    if subject is not None:
        form = {"formInputs": {"subject": {"stringInputs": {"value": [subject]}}}}
    return event(google, gmail_part=gmail_part, **form)


def test_the_compose_action_offers_to_track_the_draft(app, client, google):
    card = card_of(call(client, google, "compose", compose_event(google)), app)
    assert "alice@example.com, bob@example.com" in texts(card)
    assert [w["textInput"]["name"] for w in widgets(card) if "textInput" in w] == ["subject"]
    assert (f"{BASE}/addon/compose/track", {}) in list(actions(card))


def test_tracking_a_draft_inserts_the_pixel_and_registers_the_message(
    app, client, google, store, account
):
    before = utcnow()
    response = call(client, google, "compose/track", compose_event(google, "Lunch on Friday?"))
    assert response.status_code == 200
    body = response.get_json()
    jsonschema.validate(body, DRAFT_RESPONSE)
    update = body["renderActions"]["hostAppAction"]["gmailAction"]["updateDraftActionMarkup"]
    (inserted,) = update["updateBody"]["insertContents"]
    assert inserted["contentType"] == "MUTABLE_HTML"
    (message,), _ = store.messages(account.id, 10)
    assert inserted["content"].startswith(f'<img src="{BASE}/p/{message.id}.gif" ')
    assert 'width="1" height="1" alt=""' in inserted["content"]
    assert message.subject == "Lunch on Friday?"
    assert (message.to, message.cc, message.bcc) == (["alice@example.com"], ["bob@example.com"], [])
    assert before <= message.sent_at <= utcnow()
    # The pixel it inserted is one the tracking endpoint serves.
    assert client.get(f"/p/{message.id}.gif").mimetype == "image/gif"


def test_a_draft_tracked_from_compose_is_linked_when_the_sent_email_is_opened(
    app, client, google, store, account, gmail_api
):
    call(client, google, "compose/track", compose_event(google))  # no subject typed
    (registered,), _ = store.messages(account.id, 10)
    sent = registered.sent_at.replace(microsecond=0) + timedelta(minutes=2)
    gmail_api(
        gmail_message(
            sender=f"Sender <{USER}>",
            to="Alice Example <alice@example.com>",
            subject="Lunch on Friday?",
            labels=("SENT",),
            sent_at=sent,
        )
    )
    card = card_of(call(client, google, "message", open_event(google)), app)
    assert card["name"] == "timeline"
    linked = store.message(account.id, registered.id)
    assert (linked.gmail_message_id, linked.gmail_thread_id) == (GMAIL_HEX, THREAD_HEX)
    assert linked.subject == "Lunch on Friday?"
    assert linked.sent_at == sent
    assert "Lunch on Friday?" in texts(card)


# --- Deployment descriptor, logo --------------------------------------------------------------


def urls_in(document) -> list[str]:
    return [s for s in strings(document) if s.startswith(("http://", "https://"))]


def test_mailtick_addon_manifest_prints_the_descriptor_on_the_given_base_url(app, capsys):
    assert cli.main(["addon", "manifest", "--base-url", "https://track.example.org/"]) == 0
    document = json.loads(capsys.readouterr().out)
    scopes = set(document.pop("oauthScopes"))
    endpoints = urls_in(document)
    assert endpoints and all(
        url.startswith("https://track.example.org/addon/") for url in endpoints
    )
    # Every endpoint the descriptor names is one the app serves, with the method Google uses.
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods}
    gmail = document["addOns"]["gmail"]
    posts = [
        document["addOns"]["common"]["homepageTrigger"]["runFunction"],
        gmail["contextualTriggers"][0]["onTriggerFunction"],
        gmail["composeTrigger"]["selectActions"][0]["runFunction"],
    ]
    for url in posts:
        assert (url.removeprefix("https://track.example.org"), "POST") in routes
    logo = document["addOns"]["common"]["logoUrl"].removeprefix("https://track.example.org")
    assert (logo, "GET") in routes
    assert gmail["contextualTriggers"][0]["unconditional"] == {}
    assert gmail["composeTrigger"]["draftAccess"] == "METADATA"
    google = "https://www.googleapis.com/auth/"
    assert {
        google + "gmail.addons.execute",
        google + "gmail.addons.current.message.metadata",
        google + "gmail.addons.current.action.compose",
        google + "userinfo.email",
        "openid",
    } <= scopes
    # Nothing wider than the open message's headers and the draft being written.
    assert not {s for s in scopes if "readonly" in s or "modify" in s or "mail.google" in s}


def test_the_checked_in_manifest_is_the_descriptor_for_the_placeholder():
    checked_in = json.loads((ROOT / "manifest.json").read_text())
    assert checked_in == descriptor(PLACEHOLDER)
    endpoints = urls_in(checked_in["addOns"])
    assert endpoints and all(url.startswith(f"{PLACEHOLDER}/addon/") for url in endpoints)


@pytest.mark.parametrize("base_url", ["http://track.example.org", "track.example.org"])
def test_the_manifest_needs_an_https_base_url(capsys, base_url):
    assert cli.main(["addon", "manifest", "--base-url", base_url]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "https://" in captured.err


def test_the_logo_is_a_png(client):
    response = client.get("/addon/logo.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    data = response.data
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (96, 96, 8, 6)
    pixels = zlib.decompress(data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8])
    assert len(pixels) == height * (1 + width * 4)


def test_gmail_ids_are_read_in_every_form_the_add_on_may_get():
    assert gmail.hex_id(GMAIL_HEX.upper()) == GMAIL_HEX
    assert gmail.hex_id(f"msg-f:{int(GMAIL_HEX, 16)}") == GMAIL_HEX
    assert gmail.hex_id(f"thread-f:{int(THREAD_HEX, 16)}") == THREAD_HEX
    assert gmail.hex_id("msg-a:r-1234567") is None
    assert gmail.hex_id("not an id") is None
    assert gmail.hex_id(None) is None


@pytest.mark.parametrize(
    "choice, bcc",
    [({"never_track": ["example.com"]}, []), ({"skip_eea": True}, ["kunde@firma.de"])],
)
def test_a_draft_to_an_excluded_recipient_is_not_tracked(
    app, client, google, store, account, choice, bcc
):
    store.put_settings(account.id, choice)
    body = call(
        client, google, "compose/track", compose_event(google, bccRecipients=bcc)
    ).get_json()
    assert "updateDraftActionMarkup" not in str(body)
    assert "Not tracked" in str(body)
    assert store.messages(account.id, 10) == ([], None)
