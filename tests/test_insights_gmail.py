"""Replies found through the Gmail API (scope gmail.metadata), against googleapiclient's
HttpMockSequence: Google's token endpoint and users.threads.get answer from here, and every
request is recorded, so the tests also see what Mailtick asked for. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import types
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from googleapiclient.http import HttpMockSequence

from backend import close_app, create_app
from backend.insights import gmail, reminders
from backend.store import utcnow

THREAD = "18c2f0a1b2c30000"
TRACKED = "18c2f0a1b2c30001"
USER = "sender@example.com"
CONFIG = types.SimpleNamespace(
    google_sign_in=True, google_client_id="client-id", google_client_secret="client-secret"
)


class Recorded(HttpMockSequence):
    """HttpMockSequence that remembers each request (method, URL, headers, body)."""

    def __init__(self, responses):
        super().__init__(responses)
        self.requests = []

    def request(self, uri, method="GET", body=None, headers=None, redirections=1, **kwargs):
        self.requests.append((method, uri, dict(headers or {}), body))
        return super().request(uri, method, body, headers, redirections)


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
    mock = Recorded(
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
    new = gmail.check_replies(store, tracked, USER, now, http=Recorded([ok(answer)]))
    assert [(r.gmail_message_id, r.sender, r.at, r.source) for r in new] == [
        ("18c2f0a1b2c30004", "alice@example.com", reply_at, "gmail_api")
    ]
    reminder = store.reminder(tracked.account_id, tracked.id)
    assert (reminder.status, reminder.cancel_reason) == ("cancelled", "reply")
    # Asked again, Gmail shows the same reply: nothing new is recorded.
    assert gmail.check_replies(store, tracked, USER, now, http=Recorded([ok(answer)])) == []
    assert len(store.replies(tracked.account_id, tracked.id)) == 1


def test_a_thread_without_replies_leaves_the_reminder(tracked, store):
    assert (
        gmail.check_replies(store, tracked, USER, utcnow(), http=Recorded([ok(thread(tracked))]))
        == []
    )
    assert store.reminder(tracked.account_id, tracked.id).status == "scheduled"


def test_a_deleted_thread_has_no_replies_and_a_refusal_is_an_error(tracked):
    assert gmail.thread_replies(tracked, USER, http=Recorded([failure(404, "notFound")])) == []
    with pytest.raises(gmail.GmailError):
        gmail.thread_replies(
            tracked, USER, http=Recorded([failure(403, "insufficientPermissions")])
        )
    with pytest.raises(gmail.GmailError):
        gmail.thread_replies(tracked, USER, http=Recorded([({"status": "200"}, "not json")]))


def test_nothing_is_asked_without_a_thread_id(tracked):
    mock = Recorded([])
    assert gmail.thread_replies(replace(tracked, gmail_thread_id=None), USER, http=mock) == []
    assert mock.requests == []


def test_the_checker_refreshes_the_users_grant_and_signs_the_call(tracked, store):
    reply_at = tracked.sent_at + timedelta(hours=5)
    mock = Recorded(
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
    mock = Recorded([])
    check = gmail.reply_checker(store, CONFIG, lambda _account_id: None, http=lambda: mock)
    assert check(tracked) == [] and mock.requests == []
    off = types.SimpleNamespace(**{**vars(CONFIG), "google_sign_in": False})
    check = gmail.reply_checker(store, off, lambda _account_id: "1//refresh", http=lambda: mock)
    assert check(tracked) == [] and mock.requests == []


def test_a_revoked_grant_makes_the_reminder_wait_then_fire(tracked, store):
    def revoked():
        return Recorded([failure(400, "invalid_grant")] * 2)

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
            Recorded([ok({"access_token": "ya29.a", "expires_in": 3600}), ok(thread(message))]),
            Recorded(
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
