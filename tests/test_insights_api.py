"""The insights API: best time to send and engagement from the caller's own history."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import pytest
from test_insights import ALICE, BERLIN, tue_to_thu_mornings, utc

from backend.insights import besttime
from backend.store import Hit, Reply, utcnow


def email(store, account, sent, to=(ALICE,), cc=(), first_open=None, machine_open=None):
    """A sent tracked email, with its opens recorded as the classifier would leave them."""
    message_id = secrets.token_urlsafe(18)
    store.reserve(account.id, message_id, sent, sent + timedelta(days=3))
    store.complete(
        account.id,
        message_id,
        {"subject": "Hello", "to": list(to), "cc": list(cc), "bcc": [], "sent_at": sent},
    )
    hits = []
    if machine_open:  # Apple's prefetch on delivery: never a real open
        hits.append(
            Hit(
                secrets.token_urlsafe(9),
                message_id,
                "open",
                machine_open,
                user_agent="Mozilla/5.0",
                counted=False,
                cls="apple_mpp",
            )
        )
    if first_open:
        hits.append(
            Hit(
                secrets.token_urlsafe(9),
                message_id,
                "open",
                first_open,
                counted=True,
                cls="gmail_proxy",
            )
        )
        # Re-reading later: not the first open, so not in the matrix.
        hits.append(
            Hit(
                secrets.token_urlsafe(9),
                message_id,
                "open",
                first_open + timedelta(hours=30),
                counted=True,
                cls="gmail_proxy",
            )
        )
    store.record_hits(hits)
    return message_id


@pytest.fixture
def history(store, auth):
    """Eight emails to Alice alone, sent 5 hours before their first open Tue-Thu 8-10 Berlin
    time (across the March change), each prefetched by Apple a minute after sending; one to
    Alice and Bob opened at 23:00 Berlin time; one to Bob, never opened."""
    account = store.ensure_account("sender@example.com", utcnow())
    for opened in tue_to_thu_mornings(BERLIN):
        sent = opened - timedelta(hours=5)
        email(store, account, sent, first_open=opened, machine_open=sent + timedelta(minutes=1))
    email(
        store,
        account,
        utc(2026, 3, 2, 12),
        to=(ALICE, "bob@example.com"),
        first_open=utc(2026, 3, 2, 22),
    )
    email(store, account, utc(2026, 3, 3, 12), to=("bob@example.com",))
    return account


def test_a_recipients_insights_in_the_users_time_zone(client, auth, history):
    assert (
        client.patch(
            "/api/v1/settings", json={"time_zone": "Europe/Berlin"}, headers=auth
        ).status_code
        == 200
    )
    response = client.get(f"/api/v1/insights/recipients/{ALICE.upper()}", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["address"], body["time_zone"], body["basis"]) == (
        ALICE,
        "Europe/Berlin",
        "first_open",
    )
    # Only first real opens of emails to Alice alone: no prefetch at 03:00Z (04:00/05:00
    # local), no re-read, nothing from the email that also went to Bob.
    grid = body["matrix"]
    assert len(grid) == 7 and all(len(row) == 24 for row in grid)
    assert sum(map(sum, grid)) == body["opened"] == 8
    assert sum(grid[d][h] for d in (1, 2, 3) for h in (8, 9)) == 8
    assert body["hint"] == "alice@example.com usually opens your email Tue–Thu, 8–10"
    assert body["no_hint_reason"] is None and body["min_opened"] == besttime.MIN_OPENED
    assert body["peak_windows"] == {
        "days": {"first": 1, "last": 3, "label": "Tue–Thu", "opens": 8, "share": 1.0},
        "hours": {"start": 8, "end": 10, "label": "8–10", "opens": 8, "share": 1.0},
    }
    suggested = datetime.fromisoformat(body["suggested_send_at"].replace("Z", "+00:00"))
    in_berlin = suggested.astimezone(BERLIN)
    assert (in_berlin.weekday() in (1, 2, 3), in_berlin.hour, in_berlin.minute) == (True, 8, 0)
    assert suggested > utcnow()
    assert datetime.fromisoformat(body["suggested_send_local"]) == suggested
    assert body["engagement"] == {
        "address": ALICE,
        "emails_sent": 9,
        "emails_alone": 8,
        "opened": 8,
        "open_rate": 1.0,
        "median_first_open_seconds": 5 * 3600,
        "replied": 0,
        "reply_rate": 0.0,
        "reads_but_never_replies": False,  # no reply was ever seen for this user
        "last_sent_at": "2026-04-22T02:15:00.000000Z",  # 09:15 CEST less 5 hours
    }
    assert body["replies_seen"] is False


def test_the_matrix_follows_the_time_zone_setting(client, auth, history):
    utc_body = client.get(f"/api/v1/insights/recipients/{ALICE}", headers=auth).get_json()
    assert utc_body["time_zone"] == "UTC"
    # In UTC the same opens fall at 7 and 8 in winter, 6 and 7 in summer: 2 at 6, 4 at 7,
    # 2 at 8. Two hours hold 75% of them: 6-8 and 7-9 alike; the earlier wins.
    assert utc_body["peak_windows"]["hours"]["label"] == "6–8"
    client.patch("/api/v1/settings", json={"time_zone": "America/New_York"}, headers=auth)
    ny = client.get(f"/api/v1/insights/recipients/{ALICE}", headers=auth).get_json()
    assert ny["hint"] == "alice@example.com usually opens your email Tue–Thu, 2–4"


def test_overall_insights_count_every_emails_first_open(client, auth, history):
    client.patch("/api/v1/settings", json={"time_zone": "Europe/Berlin"}, headers=auth)
    body = client.get("/api/v1/insights/overall", headers=auth).get_json()
    assert body["emails"] == {"sent": 10, "opened": 9}
    assert body["opened"] == 9
    assert body["matrix"][0][23] == 1  # the email to Alice and Bob: Monday 23:00 Berlin
    assert body["hint"] == "Your email is usually opened Tue–Thu, 8–10"
    assert "address" not in body and "engagement" not in body


def test_a_recipient_with_little_data_gets_the_reason_instead_of_a_hint(client, auth, store):
    account = store.ensure_account("sender@example.com", utcnow())
    for opened in tue_to_thu_mornings(BERLIN, weeks=besttime.MIN_OPENED - 1):
        email(store, account, opened - timedelta(hours=1), first_open=opened)
    body = client.get(f"/api/v1/insights/recipients/{ALICE}", headers=auth).get_json()
    assert (body["hint"], body["no_hint_reason"], body["suggested_send_at"]) == (
        None,
        "not_enough_data",
        None,
    )
    assert body["peak_windows"] == {"days": None, "hours": None}
    assert body["opened"] == besttime.MIN_OPENED - 1


def test_another_users_recipients_are_empty(client, users, history):
    other = users.headers("mallory@example.com")
    body = client.get(f"/api/v1/insights/recipients/{ALICE}", headers=other).get_json()
    assert body["opened"] == 0 and body["engagement"]["emails_sent"] == 0
    assert body["no_hint_reason"] == "not_enough_data"
    assert client.get("/api/v1/insights/overall", headers=other).get_json()["emails"] == {
        "sent": 0,
        "opened": 0,
    }
    assert client.get("/api/v1/insights/contacts", headers=other).get_json()["contacts"] == []


def test_contacts_list_engagement_and_mark_readers_who_never_reply(client, auth, history, store):
    body = client.get("/api/v1/insights/contacts", headers=auth).get_json()
    assert [
        (c["address"], c["emails_sent"], c["reads_but_never_replies"]) for c in body["contacts"]
    ] == [(ALICE, 9, False), ("bob@example.com", 2, False)]
    assert (body["total"], body["emails_considered"], body["replies_seen"]) == (2, 10, False)
    # Once replies are seen at all (Bob answered once), Alice's silence means something.
    bobs = store.messages(history.id, 200, None, "bob@example.com")[0]
    to_bob = next(m for m in bobs if m.to == ["bob@example.com"])
    store.record_reply(
        history.id,
        Reply(
            to_bob.id,
            "",
            "18c0ffee",
            "bob@example.com",
            to_bob.sent_at + timedelta(hours=1),
            "extension",
            utcnow(),
        ),
    )
    body = client.get("/api/v1/insights/contacts?limit=1", headers=auth).get_json()
    assert body["replies_seen"] is True and body["total"] == 2
    assert [(c["address"], c["reads_but_never_replies"]) for c in body["contacts"]] == [
        (ALICE, True)
    ]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/insights/recipients/not-an-address", "address"),
        ("/api/v1/insights/recipients/a%20b@example.com", "address"),
        ("/api/v1/insights/contacts?limit=0", "limit"),
        ("/api/v1/insights/contacts?limit=many", "limit"),
    ],
)
def test_bad_insight_requests_get_json_errors(client, auth, path, field):
    response = client.get(path, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_insights_need_a_token(client):
    for path in (
        "/api/v1/insights/overall",
        f"/api/v1/insights/recipients/{ALICE}",
        "/api/v1/insights/contacts",
    ):
        assert client.get(path).status_code == 401
