"""Replies reported by the extension, follow-up reminders, and the job that fires them.

Time is injected: reminders are fired by calling the job with a chosen `now`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from backend import cli, close_app, create_app
from backend.insights import reminders
from backend.store import Reply, utcnow

ISO = "%Y-%m-%dT%H:%M:%S.%fZ"
REPLY_ID = "18c2f0a1b2c3d4e5"


def error_of(response) -> dict:
    assert response.is_json, response.data
    return response.get_json()["error"]


def stamp(moment) -> str:
    return moment.strftime(ISO)


@pytest.fixture
def account(store, auth):
    return store.ensure_account("sender@example.com", utcnow())


@pytest.fixture
def message(client, auth, sent_message):
    """A message sent an hour ago to Alice, with Gmail ids."""
    made = sent_message()
    client.patch(
        f"/api/v1/messages/{made['id']}",
        json={"gmail_message_id": "18c2f0a1b2c30001", "gmail_thread_id": "18c2f0a1b2c30000"},
        headers=auth,
    )
    return made


def report(client, auth, message_id, **fields):
    body = {
        "from": "Alice@Example.com",
        "at": stamp(utcnow() - timedelta(minutes=10)),
        "gmail_message_id": REPLY_ID,
        **fields,
    }
    return client.post(f"/api/v1/messages/{message_id}/replies", json=body, headers=auth)


# Replies.


def test_a_reported_reply_is_kept_once(client, auth, message):
    first = report(client, auth, message["id"])
    assert first.status_code == 201
    body = first.get_json()
    assert body["created"] is True and body["reminder"] is None
    assert body["reply"]["from"] == "alice@example.com"
    assert body["reply"]["gmail_message_id"] == REPLY_ID
    assert body["reply"]["source"] == "extension"
    again = report(client, auth, message["id"], gmail_message_id="#18C2F0A1B2C3D4E5")
    assert again.status_code == 200 and again.get_json()["created"] is False
    listed = client.get(f"/api/v1/messages/{message['id']}/replies", headers=auth).get_json()
    assert [r["gmail_message_id"] for r in listed["replies"]] == [REPLY_ID]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from": "alice"}, "from"),
        ({"from": 7}, "from"),
        ({"from": "sender@example.com"}, "from"),  # the user's own message is no reply
        ({"at": "yesterday"}, "at"),
        ({"at": "2020-01-01T00:00:00Z"}, "at"),  # before the message was sent
        ({"at": stamp(utcnow() + timedelta(days=1))}, "at"),
        ({"gmail_message_id": "not an id!"}, "gmail_message_id"),
        ({"gmail_message_id": "18c2f0a1b2c30001"}, "gmail_message_id"),  # the message itself
    ],
)
def test_bad_replies_are_refused_with_the_field(client, auth, message, change, field):
    response = report(client, auth, message["id"], **change)
    assert response.status_code == 400
    assert error_of(response)["field"] == field
    assert client.get(f"/api/v1/messages/{message['id']}/replies", headers=auth).get_json() == {
        "replies": []
    }


def test_reply_bodies_must_be_whole_json(client, auth, message):
    url = f"/api/v1/messages/{message['id']}/replies"
    assert error_of(client.post(url, json={}, headers=auth))["field"] == "from"
    unknown = client.post(url, json={"from": "a@b.c", "text": "hi"}, headers=auth)
    assert (unknown.status_code, error_of(unknown)["code"]) == (400, "unknown_field")
    malformed = client.post(url, data="{", headers={**auth, "Content-Type": "application/json"})
    assert (malformed.status_code, error_of(malformed)["code"]) == (400, "malformed_json")
    assert client.post(url, data="from=a", headers=auth).status_code == 415


def test_replies_to_another_users_or_an_unsent_message_are_refused(client, auth, users, message):
    other = users.headers("mallory@example.com")
    assert report(client, other, message["id"]).status_code == 404
    assert client.get(f"/api/v1/messages/{message['id']}/replies", headers=other).status_code == 404
    assert report(client, auth, "Q" * 24).status_code == 404
    reserved = client.post("/api/v1/messages", json={}, headers=auth).get_json()
    response = report(client, auth, reserved["id"])
    assert (response.status_code, error_of(response)["code"]) == (409, "not_sent")


# Reminders through the API.


def test_a_reminder_after_days_counts_from_now_and_can_be_read_and_cancelled(client, auth, message):
    url = f"/api/v1/messages/{message['id']}/reminder"
    before = utcnow()
    response = client.put(url, json={"after_days": 3}, headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    due = body["due_at"]
    assert stamp(before + timedelta(days=3)) <= due <= stamp(utcnow() + timedelta(days=3))
    assert (body["id"], body["message_id"], body["status"]) == (message["id"],) * 2 + ("scheduled",)
    assert body["message"]["subject"] == "Quarterly numbers"
    assert body["message"]["recipients"]["to"] == ["alice@example.com"]
    assert body["thread_url"] == (
        "https://mail.google.com/mail/?authuser=sender@example.com#all/18c2f0a1b2c30000"
    )
    assert client.get(url, headers=auth).get_json() == body
    assert client.delete(url, headers=auth).status_code == 204
    cancelled = client.get(url, headers=auth).get_json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "user")
    assert client.delete(url, headers=auth).status_code == 404


def test_a_reminder_at_a_date_replaces_the_earlier_one(client, auth, message):
    url = f"/api/v1/messages/{message['id']}/reminder"
    client.put(url, json={"after_days": 1}, headers=auth)
    due = stamp(utcnow() + timedelta(days=10))
    body = client.put(url, json={"due_at": due}, headers=auth).get_json()
    assert (body["status"], body["due_at"]) == ("scheduled", due)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "invalid_body", None),
        ({"after_days": 3, "due_at": "2030-01-01T00:00:00Z"}, "invalid_body", None),
        ({"after_days": 2}, "invalid_field", "after_days"),
        ({"after_days": True}, "invalid_field", "after_days"),
        ({"after_days": "3"}, "invalid_field", "after_days"),
        ({"due_at": "soon"}, "invalid_field", "due_at"),
        ({"due_at": "2020-01-01T00:00:00Z"}, "invalid_field", "due_at"),
        ({"due_at": "2099-01-01T00:00:00Z"}, "invalid_field", "due_at"),
        ({"after_days": 3, "note": "x"}, "unknown_field", None),
    ],
)
def test_bad_reminders_are_refused(client, auth, message, body, code, field):
    url = f"/api/v1/messages/{message['id']}/reminder"
    response = client.put(url, json=body, headers=auth)
    assert response.status_code == 400
    assert error_of(response)["code"] == code
    assert error_of(response).get("field") == field
    assert client.get(url, headers=auth).status_code == 404


def test_reminders_only_on_ones_own_sent_messages(client, auth, users, message):
    other = users.headers("mallory@example.com")
    url = f"/api/v1/messages/{message['id']}/reminder"
    assert client.put(url, json={"after_days": 1}, headers=other).status_code == 404
    client.put(url, json={"after_days": 1}, headers=auth)
    assert client.get(url, headers=other).status_code == 404
    assert client.delete(url, headers=other).status_code == 404
    assert client.get(url, headers=auth).get_json()["status"] == "scheduled"
    reserved = client.post("/api/v1/messages", json={}, headers=auth).get_json()
    response = client.put(
        f"/api/v1/messages/{reserved['id']}/reminder", json={"after_days": 1}, headers=auth
    )
    assert (response.status_code, error_of(response)["code"]) == (409, "not_sent")
    assert (
        client.put(
            "/api/v1/messages/not-an-id/reminder", json={"after_days": 1}, headers=auth
        ).status_code
        == 404
    )


def test_a_reply_cancels_the_reminder_and_none_can_be_set_after_it(client, auth, message):
    url = f"/api/v1/messages/{message['id']}/reminder"
    client.put(url, json={"after_days": 3}, headers=auth)
    body = report(client, auth, message["id"]).get_json()
    assert (body["reminder"]["status"], body["reminder"]["cancel_reason"]) == (
        "cancelled",
        "reply",
    )
    response = client.put(url, json={"after_days": 3}, headers=auth)
    assert (response.status_code, error_of(response)["code"]) == (409, "already_replied")


# The job, with injected time.


def test_reminders_fire_when_due_and_are_listed_until_acknowledged(client, auth, message, store):
    url = f"/api/v1/messages/{message['id']}/reminder"
    due = client.put(url, json={"after_days": 1}, headers=auth).get_json()["due_at"]
    due_at = utcnow() + timedelta(days=1)
    assert reminders.due_reminders(store, due_at - timedelta(hours=1)) == []
    assert client.get("/api/v1/reminders", headers=auth).get_json() == {"reminders": []}

    fired = reminders.due_reminders(store, due_at + timedelta(minutes=1))
    assert [item.reminder.id for item in fired] == [message["id"]]
    assert fired[0].message.subject == "Quarterly numbers"
    assert fired[0].text().startswith("No reply yet from alice@example.com to \u201cQuarterly")
    # Fired once: the next pass finds nothing.
    assert reminders.due_reminders(store, due_at + timedelta(minutes=2)) == []

    listed = client.get("/api/v1/reminders?status=due", headers=auth).get_json()["reminders"]
    assert [(r["id"], r["status"], r["due_at"]) for r in listed] == [(message["id"], "due", due)]
    assert listed[0]["fired_at"] is not None
    assert listed[0]["message"]["gmail_thread_id"] == "18c2f0a1b2c30000"
    acked = client.post(f"/api/v1/reminders/{message['id']}/ack", headers=auth)
    assert acked.status_code == 200 and acked.get_json()["status"] == "acked"
    # Acknowledging again is harmless; the list is empty.
    assert client.post(f"/api/v1/reminders/{message['id']}/ack", headers=auth).status_code == 200
    assert client.get("/api/v1/reminders", headers=auth).get_json() == {"reminders": []}
    acked_list = client.get("/api/v1/reminders?status=acked", headers=auth).get_json()
    assert [r["id"] for r in acked_list["reminders"]] == [message["id"]]


def test_a_reply_before_the_due_time_means_no_reminder(client, auth, message, store):
    client.put(f"/api/v1/messages/{message['id']}/reminder", json={"after_days": 1}, headers=auth)
    report(client, auth, message["id"])
    assert reminders.due_reminders(store, utcnow() + timedelta(days=2)) == []
    assert client.get("/api/v1/reminders?status=due", headers=auth).get_json() == {"reminders": []}


def test_acknowledging_needs_a_due_reminder_of_ones_own(client, auth, users, message, store):
    ack = f"/api/v1/reminders/{message['id']}/ack"
    assert client.post(ack, headers=auth).status_code == 404  # none yet
    client.put(f"/api/v1/messages/{message['id']}/reminder", json={"after_days": 1}, headers=auth)
    response = client.post(ack, headers=auth)
    assert (response.status_code, error_of(response)["code"]) == (409, "not_due")
    reminders.due_reminders(store, utcnow() + timedelta(days=2))
    other = users.headers("mallory@example.com")
    assert client.post(ack, headers=other).status_code == 404
    assert client.get("/api/v1/reminders", headers=other).get_json() == {"reminders": []}
    assert client.post("/api/v1/reminders/not-an-id/ack", headers=auth).status_code == 404
    bad = client.get("/api/v1/reminders?status=soon", headers=auth)
    assert (bad.status_code, error_of(bad)["field"]) == (400, "status")
    assert client.get("/api/v1/reminders").status_code == 401


def test_a_failing_reply_check_delays_a_reminder_for_an_hour_at_most(message, store, account):
    store.set_reminder(account.id, message["id"], utcnow(), utcnow())
    due_at = store.reminder(account.id, message["id"]).due_at

    def unreachable(_message):
        raise OSError("Gmail is down")

    soon = due_at + timedelta(minutes=30)
    assert reminders.due_reminders(store, soon, check_replies=unreachable) == []
    assert store.reminder(account.id, message["id"]).status == "scheduled"
    late = due_at + reminders.CHECK_PATIENCE
    fired = reminders.due_reminders(store, late, check_replies=unreachable)
    assert [item.reminder.id for item in fired] == [message["id"]]


def test_a_reply_the_check_finds_stops_the_reminder(message, store, account):
    store.set_reminder(account.id, message["id"], utcnow(), utcnow())
    seen = []

    def finds_a_reply(found):
        seen.append(found.id)
        reply = Reply(found.id, "", REPLY_ID, "alice@example.com", utcnow(), "gmail_api", utcnow())
        store.record_reply(found.account_id, reply)

    assert (
        reminders.due_reminders(store, utcnow() + timedelta(minutes=1), check_replies=finds_a_reply)
        == []
    )
    assert seen == [message["id"]]
    assert store.reminder(account.id, message["id"]).cancel_reason == "reply"


def test_listeners_get_each_batch_and_one_failing_does_not_stop_another(
    message, store, account, monkeypatch
):
    monkeypatch.setattr(reminders, "_listeners", [])
    got = []

    def broken(_store, _items):
        raise RuntimeError("push service down")

    reminders.listen(broken)
    reminders.listen(lambda _store, items: got.append([i.reminder.id for i in items]))
    store.set_reminder(account.id, message["id"], utcnow(), utcnow())
    fired = reminders.run(store, utcnow() + timedelta(minutes=1))
    assert got == [[message["id"]]] and [i.reminder.id for i in fired] == [message["id"]]
    assert reminders.run(store, utcnow() + timedelta(minutes=2)) == []
    assert got == [[message["id"]]]  # nothing new: listeners are not called


# The cron route and the command.


def test_the_cron_route_fires_due_reminders_for_cron_or_the_admin(settings, monkeypatch):
    app = create_app(replace(settings, admin_token="admin-secret"))
    client = app.test_client()
    store = app.extensions["mailtick.store"]
    account = store.ensure_account("sender@example.com", utcnow())
    store.reserve(account.id, "m" * 24, utcnow(), utcnow() + timedelta(days=3))
    store.complete(account.id, "m" * 24, {"to": ["alice@example.com"], "sent_at": utcnow()})
    store.set_reminder(account.id, "m" * 24, utcnow() - timedelta(minutes=1), utcnow())
    assert client.get("/cron/reminders").status_code == 403
    assert client.get("/cron/reminders", headers={"X-Appengine-Cron": "true"}).status_code == 403
    ok = client.get("/cron/reminders", headers={"Authorization": "Bearer admin-secret"})
    assert (ok.status_code, ok.get_json()) == (200, {"fired": ["m" * 24]})
    monkeypatch.setenv("GAE_ENV", "standard")
    again = client.get("/cron/reminders", headers={"X-Appengine-Cron": "true"})
    assert (again.status_code, again.get_json()) == (200, {"fired": []})
    close_app(app)


def test_the_background_thread_has_the_reminder_job(app):
    jobs = app.extensions["mailtick.background"].jobs
    assert [every for every, _ in jobs] == [60.0]


def test_mailtick_reminders_fires_and_prints_them(tmp_path, monkeypatch, capsys):
    from backend.store.sqlite import SQLiteStore

    path = tmp_path / "mailtick.db"
    store = SQLiteStore(path)
    account = store.ensure_account("sender@example.com", utcnow())
    store.reserve(account.id, "m" * 24, utcnow(), utcnow() + timedelta(days=3))
    store.complete(
        account.id,
        "m" * 24,
        {"subject": "Offer", "to": ["alice@example.com"], "sent_at": utcnow()},
    )
    store.set_reminder(account.id, "m" * 24, utcnow() - timedelta(minutes=1), utcnow())
    store.close()
    monkeypatch.setenv("MAILTICK_STORE", f"sqlite:///{path}")
    assert cli.main(["reminders"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        "m" * 24 + "  No reply yet from alice@example.com to \u201cOffer\u201d"
    )
    assert out[-1] == "1 reminder(s) fell due."
    assert cli.main(["reminders"]) == 0
    assert capsys.readouterr().out.splitlines() == ["0 reminder(s) fell due."]
