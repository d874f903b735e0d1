"""Open truth through the API: the sender's views, machine prefetches and scanners never count."""

from __future__ import annotations

from datetime import timedelta

from backend.store import utcnow

GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)


def status(client, auth, message) -> dict:
    answer = client.post("/api/v1/messages/status", json={"ids": [message["id"]]}, headers=auth)
    return answer.get_json()["statuses"][0]


def test_the_senders_own_view_never_counts_and_a_recipient_still_does(
    client, auth, sent_message, settle, monkeypatch
):
    message = sent_message()
    signal = client.post("/api/v1/messages/self-views", json={"ids": [message["id"]]}, headers=auth)
    assert signal.status_code == 202 and signal.get_json()["recorded"] == [message["id"]]
    client.get(f"/p/{message['id']}.gif", headers={"User-Agent": GMAIL})
    settle()
    assert status(client, auth, message)["state"] == "tracked"
    detail = client.get(f"/api/v1/messages/{message['id']}", headers=auth).get_json()
    assert [e["class"] for e in detail["events"]] == ["self"]  # the signal itself is not listed

    # The recipient opens it in Gmail ten minutes later: a real open.
    later = utcnow() + timedelta(minutes=10)
    monkeypatch.setattr("backend.tracking.utcnow", lambda: later)
    client.get(f"/p/{message['id']}.gif", headers={"User-Agent": GMAIL})
    settle(timedelta(minutes=15))
    after = status(client, auth, message)
    assert after["state"] == "opened" and after["opens"] == 1


def test_a_proxy_fetch_right_after_sending_is_the_sender(client, auth, sent_message, settle):
    message = sent_message(sent_at=utcnow())
    client.get(f"/p/{message['id']}.gif", headers={"User-Agent": GMAIL})
    settle()
    assert status(client, auth, message)["state"] == "tracked"


def test_self_views_are_recorded_only_for_the_callers_messages(client, users, sent_message, settle):
    theirs = sent_message(headers=users.headers("owner@example.com"))
    intruder = users.headers("intruder@example.com")
    answer = client.post(
        "/api/v1/messages/self-views", json={"ids": [theirs["id"]]}, headers=intruder
    )
    assert answer.status_code == 202 and answer.get_json()["recorded"] == []
    client.get(f"/p/{theirs['id']}.gif", headers={"User-Agent": GMAIL})
    settle()
    owner = users.headers("owner@example.com")
    assert status(client, owner, theirs)["state"] == "opened"  # a stranger cannot hide opens


def test_apple_prefetch_is_probably_opened_not_green(client, auth, sent_message, settle):
    message = sent_message()
    client.get(
        f"/p/{message['id']}.gif",
        headers={"User-Agent": "Mozilla/5.0"},
        environ_base={"REMOTE_ADDR": "17.58.1.2"},
    )
    settle()
    answer = status(client, auth, message)
    assert answer["state"] == "tracked" and answer["opens"] == 0 and answer["machine_opens"] == 1


def test_a_link_scanner_sweep_does_not_count_but_a_person_does(client, auth, sent_message, settle):
    message = sent_message(
        links=["https://example.com/a", "https://example.com/b", "https://example.com/c"]
    )
    for link in message["links"]:
        client.get(
            link["tracked_url"].removeprefix("http://mailtick.test"),
            headers={"User-Agent": CHROME},
            environ_base={"REMOTE_ADDR": "52.30.1.1"},
        )
    settle()
    assert status(client, auth, message)["clicks"] == 0
    detail = client.get(f"/api/v1/messages/{message['id']}", headers=auth).get_json()
    assert {e["class"] for e in detail["events"]} == {"scanner"}


def test_a_gateway_fetch_from_microsofts_network_is_a_scanner(client, auth, sent_message, settle):
    message = sent_message()
    client.get(
        f"/p/{message['id']}.gif",
        headers={"User-Agent": CHROME},
        environ_base={"REMOTE_ADDR": "40.107.3.4"},
    )
    settle()
    assert status(client, auth, message)["state"] == "tracked"


def test_raw_hits_expire_but_aggregates_stay(app, client, auth, sent_message, settle):
    message = sent_message()
    client.get(f"/p/{message['id']}.gif", headers={"User-Agent": CHROME})
    settle()
    worker = app.extensions["mailtick.background"]
    assert worker.clean_up(utcnow() + timedelta(days=30))["purged_hits"] == 0
    assert worker.clean_up(utcnow() + timedelta(days=91))["purged_hits"] == 1
    detail = client.get(f"/api/v1/messages/{message['id']}", headers=auth).get_json()
    assert detail["events"] == [] and detail["opens"] == 1 and detail["state"] == "opened"
