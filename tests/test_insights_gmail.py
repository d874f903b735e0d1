# ruff: noqa: F811 - the spec fixture is imported by name and taken as an argument
"""Replies found through the Gmail API (scope gmail.metadata), against googleapiclient's
HttpMockSequence: Google's token endpoint and users.threads.get answer from here, and every
request is recorded, so the tests also see what Mailtick asked for. Nothing leaves the machine.
"""

from __future__ import annotations

import base64
import hashlib
import json
import types
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from google_keys import RecordingHttp, make_key
from test_auth import CLIENT_ID, CLIENT_SECRET, EMAIL_SCOPE, FakeGoogle
from test_openapi import check, spec  # noqa: F401 - the spec fixture, by name

from backend import close_app, create_app
from backend.insights import gmail, reminders
from backend.notify import gmail as grants
from backend.store import utcnow

THREAD = "18c2f0a1b2c30000"
TRACKED = "18c2f0a1b2c30001"
USER = "sender@example.com"
CONFIG = types.SimpleNamespace(
    google_sign_in=True, google_client_id="client-id", google_client_secret="client-secret"
)


def ok(body) -> tuple[dict, str]:
    return {"status": "200", "content-type": "application/json"}, json.dumps(body)


def failure(status: int, reason: str = "error") -> tuple[dict, str]:
    body = {"error": {"code": status, "message": reason, "errors": [{"reason": reason}]}}
    return {"status": str(status), "content-type": "application/json"}, json.dumps(body)


def item(gmail_id, sender, at, labels=("INBOX",)) -> dict:
    return {
        "id": gmail_id,
        "threadId": THREAD,
        "labelIds": list(labels),
        "internalDate": str(int(at.timestamp() * 1000)),
        "payload": {"headers": [{"name": "From", "value": sender}]},
    }


def _tracked(store, message_id="m" * 24, cc=(), due_ago=timedelta(minutes=1)):
    """A message sent to Alice two days ago, with a reminder due `due_ago`."""
    account = store.ensure_account(USER, utcnow())
    # Whole seconds: Gmail's internalDate has milliseconds.
    sent_at = (utcnow() - timedelta(days=2)).replace(microsecond=0)
    store.reserve(account.id, message_id, sent_at, sent_at + timedelta(days=3))
    message = store.complete(
        account.id,
        message_id,
        {
            "subject": "Offer",
            "to": ["alice@example.com"],
            "cc": list(cc),
            "sent_at": sent_at,
            "gmail_message_id": TRACKED,
            "gmail_thread_id": THREAD,
        },
    )
    store.set_reminder(account.id, message.id, utcnow() - due_ago, sent_at)
    return message


@pytest.fixture
def tracked(store):
    """A message to Alice with Bob in copy, sent two days ago, its reminder due."""
    return _tracked(store, cc=["Bob@Example.com"])


def thread(message, *extra) -> dict:
    """The thread as Gmail shows it: an earlier message from Alice, the tracked one (SENT),
    the user's own follow-up (SENT), a stranger, then whatever the test adds."""
    sent = message.sent_at
    return {
        "id": THREAD,
        "messages": [
            item("18c2f0a1b2c2ffff", "Alice <alice@example.com>", sent - timedelta(days=1)),
            item(TRACKED, f"Me <{USER}>", sent, labels=("SENT",)),
            item("18c2f0a1b2c30002", USER, sent + timedelta(hours=1), labels=("SENT",)),
            item("18c2f0a1b2c30003", "Eve <eve@example.org>", sent + timedelta(hours=2)),
            *extra,
        ],
    }


def test_only_recipients_messages_after_sending_are_replies_and_only_metadata_is_asked(tracked):
    reply_at = tracked.sent_at + timedelta(hours=5)
    mock = RecordingHttp(
        [
            ok(
                thread(
                    tracked,
                    item("18c2f0a1b2c30005", '"Bob B." <bob@example.com>', reply_at),
                    item(
                        "18C2F0A1B2C30004",
                        "Alice <ALICE@example.com>",
                        reply_at - timedelta(hours=1),
                    ),
                )
            )
        ]
    )
    found = gmail.thread_replies(tracked, USER, http=mock)
    assert found == [
        ("18c2f0a1b2c30004", "alice@example.com", reply_at - timedelta(hours=1)),
        ("18c2f0a1b2c30005", "bob@example.com", reply_at),
    ]
    [(method, uri, _, _)] = mock.requests
    parts = urlsplit(uri)
    assert (method, parts.path) == ("GET", f"/gmail/v1/users/me/threads/{THREAD}")
    assert parse_qs(parts.query) == {
        "format": ["metadata"],
        "metadataHeaders": ["From"],
        "alt": ["json"],
    }


def test_recorded_replies_cancel_the_reminder_once(tracked, store):
    reply_at = tracked.sent_at + timedelta(hours=5)
    answer = thread(tracked, item("18c2f0a1b2c30004", "alice@example.com", reply_at))
    now = utcnow()
    new = gmail.check_replies(store, tracked, USER, now, http=RecordingHttp([ok(answer)]))
    assert [(r.gmail_message_id, r.sender, r.at, r.source) for r in new] == [
        ("18c2f0a1b2c30004", "alice@example.com", reply_at, "gmail_api")
    ]
    reminder = store.reminder(tracked.account_id, tracked.id)
    assert (reminder.status, reminder.cancel_reason) == ("cancelled", "reply")
    # Asked again, Gmail shows the same reply: nothing new is recorded.
    assert gmail.check_replies(store, tracked, USER, now, http=RecordingHttp([ok(answer)])) == []
    assert len(store.replies(tracked.account_id, tracked.id)) == 1


def test_a_thread_without_replies_leaves_the_reminder(tracked, store):
    assert (
        gmail.check_replies(
            store, tracked, USER, utcnow(), http=RecordingHttp([ok(thread(tracked))])
        )
        == []
    )
    assert store.reminder(tracked.account_id, tracked.id).status == "scheduled"


def test_a_deleted_thread_has_no_replies_and_a_refusal_is_an_error(tracked):
    assert gmail.thread_replies(tracked, USER, http=RecordingHttp([failure(404, "notFound")])) == []
    with pytest.raises(gmail.GmailError):
        gmail.thread_replies(
            tracked, USER, http=RecordingHttp([failure(403, "insufficientPermissions")])
        )
    with pytest.raises(gmail.GmailError):
        gmail.thread_replies(tracked, USER, http=RecordingHttp([({"status": "200"}, "not json")]))


def test_nothing_is_asked_without_a_thread_id(tracked):
    mock = RecordingHttp([])
    assert gmail.thread_replies(replace(tracked, gmail_thread_id=None), USER, http=mock) == []
    assert mock.requests == []


def test_the_checker_refreshes_the_users_grant_and_signs_the_call(tracked, store):
    reply_at = tracked.sent_at + timedelta(hours=5)
    mock = RecordingHttp(
        [
            ok({"access_token": "ya29.fresh", "expires_in": 3600, "token_type": "Bearer"}),
            ok(thread(tracked, item("18c2f0a1b2c30004", "alice@example.com", reply_at))),
        ]
    )
    tokens = []
    check = gmail.reply_checker(
        store,
        CONFIG,
        lambda account_id: tokens.append(account_id) or "1//refresh",
        http=lambda: mock,
    )
    new = check(tracked)
    assert [r.gmail_message_id for r in new] == ["18c2f0a1b2c30004"]
    assert tokens == [tracked.account_id]
    (refresh, _, _, body), (_, uri, headers, _) = mock.requests
    assert refresh == "POST"
    form = parse_qs(body if isinstance(body, str) else body.decode())
    assert (form["grant_type"], form["refresh_token"], form["client_id"]) == (
        ["refresh_token"],
        ["1//refresh"],
        ["client-id"],
    )
    assert form["scope"] == [gmail.SCOPE]
    assert uri.startswith("https://gmail.googleapis.com/gmail/v1/users/me/threads/")
    assert headers["authorization"] == "Bearer ya29.fresh"


def test_the_checker_asks_nothing_for_users_without_a_grant(tracked, store):
    mock = RecordingHttp([])
    check = gmail.reply_checker(store, CONFIG, lambda _account_id: None, http=lambda: mock)
    assert check(tracked) == [] and mock.requests == []
    off = types.SimpleNamespace(**{**vars(CONFIG), "google_sign_in": False})
    check = gmail.reply_checker(store, off, lambda _account_id: "1//refresh", http=lambda: mock)
    assert check(tracked) == [] and mock.requests == []


def test_a_revoked_grant_makes_the_reminder_wait_then_fire(tracked, store):
    def revoked():
        return RecordingHttp([failure(400, "invalid_grant")] * 2)

    check = gmail.reply_checker(store, CONFIG, lambda _account_id: "1//revoked", http=revoked)
    with pytest.raises(gmail.GmailError):
        check(tracked)
    due_at = store.reminder(tracked.account_id, tracked.id).due_at
    assert reminders.due_reminders(store, due_at + timedelta(minutes=5), check_replies=check) == []
    later = due_at + reminders.CHECK_PATIENCE
    fired = reminders.due_reminders(store, later, check_replies=check)
    assert [item.reminder.id for item in fired] == [tracked.id]


def test_the_cron_route_checks_gmail_before_firing(settings):
    app = create_app(
        replace(
            settings,
            admin_token="admin-secret",
            google_client_id="client-id",
            google_client_secret="client-secret",
        )
    )
    store = app.extensions["mailtick.store"]
    message = _tracked(store, due_ago=timedelta(minutes=2))
    replied = _tracked(store, "r" * 24)
    reply_at = replied.sent_at + timedelta(hours=3)
    answers = iter(
        [
            RecordingHttp(
                [ok({"access_token": "ya29.a", "expires_in": 3600}), ok(thread(message))]
            ),
            RecordingHttp(
                [
                    ok({"access_token": "ya29.b", "expires_in": 3600}),
                    ok(thread(replied, item("18c2f0a1b2c30004", "alice@example.com", reply_at))),
                ]
            ),
        ]
    )
    app.extensions["mailtick.reply_checker"] = gmail.reply_checker(
        store, app.config["MAILTICK"], lambda _account_id: "1//refresh", http=lambda: next(answers)
    )
    client = app.test_client()
    response = client.get("/cron/reminders", headers={"Authorization": "Bearer admin-secret"})
    assert response.get_json() == {"fired": [message.id]}
    reminder = store.reminder(replied.account_id, replied.id)
    assert (reminder.status, reminder.cancel_reason) == ("cancelled", "reply")
    assert [r.source for r in store.replies(replied.account_id, replied.id)] == ["gmail_api"]
    close_app(app)


# --- The grant: a signed-in user lets Mailtick look for replies in their Gmail ---------------
#
# Google's OAuth endpoints are the fake Google of the sign-in tests (`responses`); the Gmail
# API, token refresh included, answers from HttpMockSequence through the app's transport hook.

ADA = "ada.lovelace@gmail.com"  # the fake Google's ID tokens name Ada.Lovelace@gmail.com
REFRESH_TOKEN = "1//0g-metadata-refresh-token"  # noqa: S105 - the fake Google's
PREFIX = "/api/v1"


@pytest.fixture(scope="module")
def google_key():
    return make_key("google-key-replies")


@pytest.fixture
def google(google_key):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        google = FakeGoogle(mock, google_key)
        # Granting gmail.metadata (incrementally), with a refresh token.
        google.granted_scope = f"openid {EMAIL_SCOPE} {gmail.SCOPE}"
        google.refresh_token = REFRESH_TOKEN
        yield google


@pytest.fixture
def signin_app(settings):
    app = create_app(
        replace(
            settings,
            admin_token="admin-secret",
            google_client_id=CLIENT_ID,
            google_client_secret=CLIENT_SECRET,
        )
    )
    yield app
    close_app(app)


def headers_for(app, email):
    from conftest import Users

    return Users(app.extensions["mailtick.store"]).headers(email)


def start_grant(client, headers):
    """Ask the API for the link and follow it; return Google's authorization URL's query."""
    url = client.post(f"{PREFIX}/insights/gmail", headers=headers).get_json()["url"]
    assert url.startswith("http://mailtick.test/auth/google/gmail/start?grant=")
    start = client.get(url.removeprefix("http://mailtick.test"))
    assert start.status_code == 302, start.data
    return start.headers["Location"]


def grant(app, google, headers, client=None):
    client = client or app.test_client()
    location = start_grant(client, headers)
    state = parse_qs(urlsplit(location).query)["state"][0]
    code = google.authorize(location)
    answer = client.get("/auth/google/gmail/callback", query_string={"code": code, "state": state})
    return location, answer


def test_granting_gmail_metadata_keeps_the_token_encrypted_and_turns_detection_on(
    signin_app, google, settings
):
    store = signin_app.extensions["mailtick.store"]
    headers = headers_for(signin_app, ADA)
    client = signin_app.test_client()
    before = client.get(f"{PREFIX}/insights/gmail", headers=headers).get_json()
    assert before == {"available": True, "granted": False, "on": False, "scope": gmail.SCOPE}

    location, answer = grant(signin_app, google, headers, client)
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    # Only gmail.metadata is asked (openid email: to learn which account answered).
    assert set(query["scope"].split()) == {"openid", "email", gmail.SCOPE}
    assert query["redirect_uri"] == "http://mailtick.test/auth/google/gmail/callback"
    assert (query["access_type"], query["prompt"], query["login_hint"]) == (
        "offline",
        "consent",
        ADA,
    )
    assert query["include_granted_scopes"] == "true"
    # PKCE: the verifier never travels in the URL; Google got the one matching the challenge.
    assert query["code_challenge_method"] == "S256" and "code_verifier" not in query
    [exchange] = google.token_requests
    verifier = exchange["code_verifier"]
    assert verifier not in location
    digest = hashlib.sha256(verifier.encode()).digest()
    assert base64.urlsafe_b64encode(digest).decode().rstrip("=") == query["code_challenge"]
    assert answer.status_code == 200 and b"Reply detection is on" in answer.data
    assert answer.headers["Cache-Control"] == "no-store"

    account = store.ensure_account(ADA, utcnow())
    kept = store.credential(account.id, "gmail_metadata")
    assert kept and REFRESH_TOKEN not in kept
    assert store.credential(account.id, "gmail_send") is None  # sending was not granted
    config = signin_app.config["MAILTICK"]
    assert grants.refresh_token_of(store, config, account.id, grants.REPLIES) == REFRESH_TOKEN
    # Not findable anywhere on disk, while the address next to it is (the search works).
    files = [p.read_bytes() for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any(ADA.encode() in data for data in files)
    assert not any(REFRESH_TOKEN.encode() in data for data in files)
    # The send purpose's key cannot read it: each purpose has its own key.
    from cryptography.fernet import InvalidToken

    with pytest.raises(InvalidToken):
        grants._fernet(config, grants.SEND).decrypt(kept.encode())

    after = client.get(f"{PREFIX}/insights/gmail", headers=headers).get_json()
    assert (after["granted"], after["on"]) == (True, True)
    notifications = client.get(f"{PREFIX}/notifications", headers=headers).get_json()
    assert notifications["email"]["gmail_granted"] is False  # another purpose


def test_a_replies_grant_from_another_google_account_is_refused(signin_app, google):
    store = signin_app.extensions["mailtick.store"]
    headers = headers_for(signin_app, "someone.else@example.com")
    _, answer = grant(signin_app, google, headers)
    assert answer.status_code == 400 and b"Wrong Google account" in answer.data
    account = store.ensure_account("someone.else@example.com", utcnow())
    assert store.credential(account.id, "gmail_metadata") is None


def test_a_grant_without_gmail_metadata_is_not_kept(signin_app, google):
    google.granted_scope = f"openid {EMAIL_SCOPE}"  # the user unticked it
    store = signin_app.extensions["mailtick.store"]
    _, answer = grant(signin_app, google, headers_for(signin_app, ADA))
    assert answer.status_code == 400 and b"gmail.metadata" in answer.data
    assert store.credential(store.ensure_account(ADA, utcnow()).id, "gmail_metadata") is None


def test_the_replies_callback_needs_this_purposes_cookie_from_the_browser_that_started(
    signin_app, google
):
    store = signin_app.extensions["mailtick.store"]
    headers = headers_for(signin_app, ADA)
    client = signin_app.test_client()
    location = start_grant(client, headers)
    assert client.get_cookie("mailtick_gmail_replies", path="/auth/google/gmail") is not None
    state = parse_qs(urlsplit(location).query)["state"][0]
    code = google.authorize(location)
    # Another browser that started a grant of sending has a Gmail cookie, not this one.
    stranger = signin_app.test_client()
    url = stranger.post(f"{PREFIX}/notifications/gmail", headers=headers).get_json()["url"]
    assert stranger.get(url.removeprefix("http://mailtick.test")).status_code == 302
    answer = stranger.get(
        "/auth/google/gmail/callback", query_string={"code": code, "state": state}
    )
    assert answer.status_code == 400 and google.token_requests == []
    # Nor does a browser that started a grant of reply detection of its own: its cookie is
    # bound to its own state.
    other = signin_app.test_client()
    start_grant(other, headers)
    answer = other.get("/auth/google/gmail/callback", query_string={"code": code, "state": state})
    assert answer.status_code == 400 and google.token_requests == []
    # A forged or tampered state is refused too.
    forged = client.get(
        "/auth/google/gmail/callback", query_string={"code": code, "state": state[:-2] + "xx"}
    )
    assert forged.status_code == 400 and google.token_requests == []
    assert store.credential(store.ensure_account(ADA, utcnow()).id, "gmail_metadata") is None
    # The browser that started it finishes it.
    answer = client.get("/auth/google/gmail/callback", query_string={"code": code, "state": state})
    assert answer.status_code == 200 and b"Reply detection is on" in answer.data


def gmail_answers(app, *transports):
    """Have the app's reply checker talk to these HttpMockSequences, one per check."""
    made = []
    queue = list(transports)

    def make():
        made.append(queue.pop(0))
        return made[-1]

    app.extensions["mailtick.reply_checker_http"] = make
    return made


def cron(app):
    response = app.test_client().get(
        "/cron/reminders", headers={"Authorization": "Bearer admin-secret"}
    )
    assert response.status_code == 200, response.data
    return response.get_json()["fired"]


def test_a_due_reminder_is_cancelled_by_a_reply_gmail_finds_for_a_user_who_granted(
    signin_app, google
):
    store = signin_app.extensions["mailtick.store"]
    headers = headers_for(signin_app, ADA)
    assert grant(signin_app, google, headers)[1].status_code == 200
    ada = store.ensure_account(ADA, utcnow())
    replied = _tracked_for(store, ADA, "a" * 24)
    other = _tracked_for(store, USER, "b" * 24)  # a user who granted nothing
    reply_at = replied.sent_at + timedelta(hours=3)
    made = gmail_answers(
        signin_app,
        RecordingHttp(
            [
                ok({"access_token": "ya29.replies", "expires_in": 3600}),
                ok(
                    thread(replied, item("18c2f0a1b2c30004", "Alice <alice@example.com>", reply_at))
                ),
            ]
        ),
    )
    assert cron(signin_app) == [other.id]
    # Gmail was asked once, for Ada, with her kept grant, for her thread's metadata only.
    [transport] = made
    (_, _, _, body), (_, uri, sent_headers, _) = transport.requests
    form = parse_qs(body if isinstance(body, str) else body.decode())
    assert form["refresh_token"] == [REFRESH_TOKEN] and form["scope"] == [gmail.SCOPE]
    assert urlsplit(uri).path == f"/gmail/v1/users/me/threads/{THREAD}"
    assert sent_headers["authorization"] == "Bearer ya29.replies"
    reminder = store.reminder(ada.id, replied.id)
    assert (reminder.status, reminder.cancel_reason) == ("cancelled", "reply")
    assert store.reminder(other.account_id, other.id).status == "due"
    # Engagement counts the reply Gmail found.
    body = signin_app.test_client().get(
        f"{PREFIX}/insights/recipients/alice@example.com", headers=headers
    )
    found = body.get_json()
    assert found["replies_seen"] is True
    assert (found["engagement"]["replied"], found["engagement"]["emails_sent"]) == (1, 1)
    replies = signin_app.test_client().get(
        f"{PREFIX}/messages/{replied.id}/replies", headers=headers
    )
    assert [(r["from"], r["source"]) for r in replies.get_json()["replies"]] == [
        ("alice@example.com", "gmail_api")
    ]


def test_forgetting_the_grant_stops_asking_gmail(signin_app, google):
    store = signin_app.extensions["mailtick.store"]
    config = signin_app.config["MAILTICK"]
    headers = headers_for(signin_app, ADA)
    client = signin_app.test_client()
    assert grant(signin_app, google, headers, client)[1].status_code == 200
    ada = store.ensure_account(ADA, utcnow())
    grants.keep_refresh_token(store, config, ada.id, "1//send", grants.SEND)
    assert client.delete(f"{PREFIX}/insights/gmail", headers=headers).status_code == 204
    assert store.credential(ada.id, "gmail_metadata") is None
    assert grants.refresh_token_of(store, config, ada.id, grants.SEND) == "1//send"  # kept
    status = client.get(f"{PREFIX}/insights/gmail", headers=headers).get_json()
    assert (status["granted"], status["on"]) == (False, False)
    message = _tracked_for(store, ADA, "c" * 24)
    made = gmail_answers(signin_app, RecordingHttp([]))
    assert cron(signin_app) == [message.id]  # fired at once, without asking Gmail
    assert made == []


def test_a_grant_revoked_at_google_makes_the_reminder_wait(signin_app, google):
    store = signin_app.extensions["mailtick.store"]
    assert grant(signin_app, google, headers_for(signin_app, ADA))[1].status_code == 200
    message = _tracked_for(store, ADA, "d" * 24)
    revoked = ({"status": "400", "content-type": "application/json"}, '{"error": "invalid_grant"}')
    made = gmail_answers(signin_app, RecordingHttp([revoked]))
    assert cron(signin_app) == []  # no answer from Gmail: waits for a later pass
    assert len(made) == 1
    assert store.reminder(message.account_id, message.id).status == "scheduled"


def test_without_sign_in_there_is_no_reply_checker_and_no_grant(app, client, auth, spec):
    assert app.extensions["mailtick.reply_checker"] is None
    answer = client.post(f"{PREFIX}/insights/gmail", headers=auth)
    check(spec, "/insights/gmail", "post", answer)
    assert answer.status_code == 503
    assert "gmail.metadata" in answer.get_json()["error"]["message"]
    status = client.get(f"{PREFIX}/insights/gmail", headers=auth)
    check(spec, "/insights/gmail", "get", status)
    assert status.get_json() == {
        "available": False,
        "granted": False,
        "on": False,
        "scope": gmail.SCOPE,
    }
    unauthorized = client.post(f"{PREFIX}/insights/gmail")
    check(spec, "/insights/gmail", "post", unauthorized)
    assert unauthorized.status_code == 401


def test_the_grant_routes_answer_as_documented(signin_app, google):
    client = signin_app.test_client()
    spec = client.get(f"{PREFIX}/openapi.json").get_json()
    headers = headers_for(signin_app, ADA)
    assert grant(signin_app, google, headers, client)[1].status_code == 200
    calls = [
        ("get", lambda: client.get(f"{PREFIX}/insights/gmail", headers=headers)),
        ("post", lambda: client.post(f"{PREFIX}/insights/gmail", headers=headers)),
        ("delete", lambda: client.delete(f"{PREFIX}/insights/gmail", headers=headers)),
        ("get", lambda: client.get(f"{PREFIX}/insights/gmail")),
    ]
    statuses = []
    for method, call in calls:
        response = call()
        statuses.append(response.status_code)
        check(spec, "/insights/gmail", method, response)
    assert statuses == [200, 200, 204, 401]


def _tracked_for(store, email, message_id):
    """A message from `email` to Alice, sent two days ago, with a reminder due a minute ago."""
    account = store.ensure_account(email, utcnow())
    sent_at = (utcnow() - timedelta(days=2)).replace(microsecond=0)
    store.reserve(account.id, message_id, sent_at, sent_at + timedelta(days=3))
    message = store.complete(
        account.id,
        message_id,
        {
            "subject": "Offer",
            "to": ["alice@example.com"],
            "sent_at": sent_at,
            "gmail_message_id": TRACKED,
            "gmail_thread_id": THREAD,
        },
    )
    store.set_reminder(account.id, message.id, utcnow() - timedelta(minutes=1), sent_at)
    return message
