"""The extension's API: reservations, completion, history, batch status, deletion, errors."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from flask import Flask
from werkzeug.test import Client

from backend.store import StoreError, utcnow

ID = re.compile(r"^[A-Za-z0-9_-]{24,}$")


def error_of(response) -> dict:
    assert response.is_json, response.data
    return response.get_json()["error"]


def reserve(client, headers) -> dict:
    response = client.post("/api/v1/messages", json={}, headers=headers)
    assert response.status_code == 201, response.data
    return response.get_json()


def test_reserve_hands_out_an_unguessable_id_and_its_urls(client, auth):
    first, second = reserve(client, auth), reserve(client, auth)
    assert ID.match(first["id"]) and first["id"] != second["id"]
    assert first["pixel_url"] == f"http://mailtick.test/p/{first['id']}.gif"
    assert first["click_base"] == f"http://mailtick.test/c/{first['id']}"
    assert first["expires_at"].endswith("Z")


def test_reserve_accepts_no_body_at_all(client, auth):
    assert client.post("/api/v1/messages", headers=auth).status_code == 201


def test_a_reservation_is_not_history_until_completed(client, auth):
    reserve(client, auth)
    assert client.get("/api/v1/messages", headers=auth).get_json()["messages"] == []


def test_complete_registers_the_message(client, auth):
    reserved = reserve(client, auth)
    body = {
        "subject": "Offer",
        "recipients": {"to": ["a@example.com"], "cc": ["b@example.com"], "bcc": ["c@example.com"]},
        "links": ["https://example.com/x", "https://example.com/y?z=1"],
        "sent_at": "2026-11-27T09:30:00Z",
        "gmail_message_id": "18C2F0A1B2C3D4E5",
        "gmail_thread_id": "#18c2f0a1b2c3d4e0",
    }
    response = client.patch(f"/api/v1/messages/{reserved['id']}", json=body, headers=auth)
    assert response.status_code == 200
    message = response.get_json()
    assert message["subject"] == "Offer" and message["state"] == "tracked"
    assert message["recipients"] == body["recipients"]
    assert message["sent_at"].startswith("2026-11-27T09:30:00")
    assert message["gmail_message_id"] == "18c2f0a1b2c3d4e5"
    assert message["gmail_thread_id"] == "18c2f0a1b2c3d4e0"
    assert [link["url"] for link in message["links"]] == body["links"]
    assert message["links"][1]["tracked_url"] == (
        f"http://mailtick.test/c/{reserved['id']}/1?u=https%3A%2F%2Fexample.com%2Fy%3Fz%3D1"
    )
    assert message["opens"] == 0 and message["clicks"] == 0 and message["last_open_at"] is None


def test_complete_is_idempotent_and_partial(client, auth, sent_message):
    message = sent_message(subject="First")
    path = f"/api/v1/messages/{message['id']}"
    again = client.patch(path, json={"gmail_thread_id": "abc123"}, headers=auth).get_json()
    assert again["subject"] == "First" and again["gmail_thread_id"] == "abc123"
    assert again["sent_at"] == message["sent_at"]
    assert again["links"] == message["links"]
    once_more = client.patch(path, json={"gmail_thread_id": "abc123"}, headers=auth).get_json()
    assert once_more == again


def test_complete_defaults_sent_at_to_now(client, auth):
    reserved = reserve(client, auth)
    message = client.patch(
        f"/api/v1/messages/{reserved['id']}", json={"subject": "x"}, headers=auth
    ).get_json()
    assert message["sent_at"] is not None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"subject": 5}, "subject"),
        ({"subject": "x" * 2001}, "subject"),
        ({"recipients": ["a@example.com"]}, "recipients"),
        ({"recipients": {"to": "a@example.com"}}, "recipients.to"),
        ({"recipients": {"to": ["not an address"]}}, "recipients.to"),
        ({"recipients": {"reply_to": []}}, "recipients"),
        ({"links": "https://example.com"}, "links"),
        ({"links": ["ftp://example.com/file"]}, "links"),
        ({"links": ["https://example.com"] * 501}, "links"),
        ({"sent_at": "yesterday"}, "sent_at"),
        ({"sent_at": 1700000000}, "sent_at"),
        ({"gmail_message_id": 12345}, "gmail_message_id"),
        ({"gmail_thread_id": "<script>"}, "gmail_thread_id"),
        ({"to": ["a@example.com"]}, "to"),
    ],
)
def test_complete_rejects_wrong_types_with_a_message_naming_the_field(client, auth, body, field):
    reserved = reserve(client, auth)
    response = client.patch(f"/api/v1/messages/{reserved['id']}", json=body, headers=auth)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_field" and error["field"] == field
    assert f"'{field}'" in error["message"]
    # Nothing was changed by the refused request.
    assert (
        client.get(f"/api/v1/messages/{reserved['id']}", headers=auth).get_json()["sent_at"] is None
    )


def test_complete_rejects_unknown_fields(client, auth):
    reserved = reserve(client, auth)
    response = client.patch(
        f"/api/v1/messages/{reserved['id']}", json={"subjekt": "x"}, headers=auth
    )
    assert response.status_code == 400
    assert "subjekt" in error_of(response)["message"]


def test_malformed_json_gets_a_json_error(client, auth):
    reserved = reserve(client, auth)
    response = client.patch(
        f"/api/v1/messages/{reserved['id']}",
        data="{subject: 'x'",
        headers=auth,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"


def test_a_json_array_body_is_refused(client, auth):
    response = client.post("/api/v1/messages/status", json=["x"], headers=auth)
    assert response.status_code == 400
    assert "JSON object" in error_of(response)["message"]


def test_a_body_that_is_not_json_is_refused(client, auth):
    response = client.post(
        "/api/v1/messages/status",
        data="ids=1",
        headers=auth,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert "application/json" in error_of(response)["message"]


def test_oversized_bodies_get_413_json(client, auth):
    reserved = reserve(client, auth)
    response = client.patch(
        f"/api/v1/messages/{reserved['id']}", json={"subject": "x" * 300_000}, headers=auth
    )
    assert response.status_code == 413
    assert "too large" in error_of(response)["message"]


def test_unknown_routes_and_methods_answer_json(client, auth):
    missing = client.get("/api/v1/nothing-here", headers=auth)
    assert missing.status_code == 404 and "openapi" in error_of(missing)["message"]
    wrong = client.put("/api/v1/messages", headers=auth)
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/v1/messages"),
        ("get", "/api/v1/messages"),
        ("get", "/api/v1/messages/" + "A" * 24),
        ("patch", "/api/v1/messages/" + "A" * 24),
        ("delete", "/api/v1/messages/" + "A" * 24),
        ("post", "/api/v1/messages/status"),
        ("delete", "/api/v1/account"),
        ("get", "/api/v1/me"),
        ("delete", "/api/v1/token"),
    ],
)
def test_every_private_route_needs_a_token(client, method, path):
    for headers in ({}, {"Authorization": "Bearer mt_wrong"}, {"Authorization": "Basic abc"}):
        response = getattr(client, method)(path, headers=headers, json={})
        assert response.status_code == 401, (path, headers)
        assert "token" in error_of(response)["message"]


def test_another_users_message_behaves_exactly_like_a_missing_one(client, users, sent_message):
    mine = sent_message(headers=users.headers("owner@example.com"))
    intruder = users.headers("intruder@example.com")
    path = f"/api/v1/messages/{mine['id']}"
    missing = f"/api/v1/messages/{'Z' * 24}"
    for method, kwargs in (("get", {}), ("patch", {"json": {"subject": "pwned"}}), ("delete", {})):
        theirs = getattr(client, method)(path, headers=intruder, **kwargs)
        nothing = getattr(client, method)(missing, headers=intruder, **kwargs)
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.get_json() == nothing.get_json()
    status = client.post("/api/v1/messages/status", json={"ids": [mine["id"]]}, headers=intruder)
    assert status.get_json() == {"statuses": []}
    assert client.get("/api/v1/messages", headers=intruder).get_json()["messages"] == []
    owner = users.headers("owner@example.com")
    assert client.get(path, headers=owner).get_json()["subject"] == mine["subject"]


def test_history_is_newest_first_with_cursor_paging(client, auth):
    start = utcnow() - timedelta(hours=1)
    ids = []
    for n in range(7):
        reserved = reserve(client, auth)
        sent_at = (start + timedelta(minutes=n // 2)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )  # ties on purpose
        client.patch(
            f"/api/v1/messages/{reserved['id']}",
            json={"subject": f"m{n}", "sent_at": sent_at},
            headers=auth,
        )
        ids.append(reserved["id"])
    seen, cursor = [], None
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/messages?{query}", headers=auth).get_json()
        assert len(page["messages"]) <= 3
        seen += page["messages"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and len({m["id"] for m in seen}) == 7
    keys = [(m["sent_at"], m["id"]) for m in seen]
    assert keys == sorted(keys, reverse=True)
    assert seen[0]["subject"] in {"m6"}


def test_history_search_matches_subject_and_recipients(client, auth, sent_message):
    sent_message(subject="Invoice 42", to=["billing@acme.test"])
    sent_message(subject="Lunch?", to=["friend@example.com"])
    sent_message(subject="100% off_sale", to=["x@example.com"])
    by_subject = client.get("/api/v1/messages?q=invoice", headers=auth).get_json()["messages"]
    assert [m["subject"] for m in by_subject] == ["Invoice 42"]
    by_recipient = client.get("/api/v1/messages?q=FRIEND@", headers=auth).get_json()["messages"]
    assert [m["subject"] for m in by_recipient] == ["Lunch?"]
    wildcard = client.get("/api/v1/messages?q=%25", headers=auth).get_json()["messages"]
    assert [m["subject"] for m in wildcard] == ["100% off_sale"]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=ten", "cursor=bogus!!"])
def test_history_rejects_bad_parameters(client, auth, query):
    response = client.get(f"/api/v1/messages?{query}", headers=auth)
    assert response.status_code == 400
    assert error_of(response)["field"] in {"limit", "cursor"}


def test_detail_lists_events_oldest_first(client, auth, sent_message, settle):
    message = sent_message()
    client.get(f"/p/{message['id']}.gif", headers={"User-Agent": "Reader/1"})
    client.get(message["links"][0]["tracked_url"].removeprefix("http://mailtick.test"))
    settle()
    detail = client.get(f"/api/v1/messages/{message['id']}", headers=auth).get_json()
    assert [e["kind"] for e in detail["events"]] == ["open", "click"]
    assert detail["events"][0]["user_agent"] == "Reader/1"
    assert detail["events"][1]["link_index"] == 0
    assert detail["opens"] == 1 and detail["clicks"] == 1
    assert detail["first_open_at"] == detail["last_open_at"]
    assert [e["class"] for e in detail["events"]] == ["human", "human"]
    assert "ip" not in detail["events"][0]


def test_status_answers_many_messages_in_one_call(client, auth, users, sent_message, settle):
    opened = sent_message()
    quiet = sent_message()
    client.patch(
        f"/api/v1/messages/{quiet['id']}",
        json={"gmail_message_id": "aa11", "gmail_thread_id": "bb22"},
        headers=auth,
    )
    theirs = sent_message(headers=users.headers("other@example.com"))
    client.get(f"/p/{opened['id']}.gif", headers={"User-Agent": "Reader/1"})
    client.get(f"/p/{opened['id']}.gif", headers={"User-Agent": "Reader/2"})
    settle()
    response = client.post(
        "/api/v1/messages/status",
        json={
            "ids": [opened["id"], theirs["id"], "missing-but-well-formed-id"],
            "gmail_ids": ["BB22"],
        },
        headers=auth,
    )
    assert response.status_code == 200
    statuses = {s["id"]: s for s in response.get_json()["statuses"]}
    assert set(statuses) == {opened["id"], quiet["id"]}
    assert statuses[opened["id"]]["state"] == "opened" and statuses[opened["id"]]["opens"] == 2
    assert (
        statuses[quiet["id"]]["state"] == "tracked"
        and statuses[quiet["id"]]["gmail_thread_id"] == "bb22"
    )
    by_message_id = client.post(
        "/api/v1/messages/status", json={"gmail_ids": ["aa11"]}, headers=auth
    )
    assert [s["id"] for s in by_message_id.get_json()["statuses"]] == [quiet["id"]]


def test_status_caps_a_call_at_200_ids(client, auth):
    ok = client.post(
        "/api/v1/messages/status",
        json={"ids": ["x" * 24] * 150, "gmail_ids": ["a"] * 50},
        headers=auth,
    )
    assert ok.status_code == 200
    too_many = client.post(
        "/api/v1/messages/status",
        json={"ids": ["x" * 24] * 150, "gmail_ids": ["a"] * 51},
        headers=auth,
    )
    assert too_many.status_code == 400
    assert "at most 200" in error_of(too_many)["message"]


def test_status_rejects_wrong_shapes(client, auth):
    assert (
        client.post("/api/v1/messages/status", json={"ids": "abc"}, headers=auth).status_code == 400
    )
    assert (
        client.post("/api/v1/messages/status", json={"ids": [1, 2]}, headers=auth).status_code
        == 400
    )
    assert client.post("/api/v1/messages/status", json={"idz": []}, headers=auth).status_code == 400


def route_only_client(app):
    """A client for the Flask app without the middleware that answers ahead of it."""
    return Client(lambda environ, start_response: Flask.wsgi_app(app, environ, start_response))


STATUS_BODIES = [
    {"ids": []},
    {"gmail_ids": ["AA11", "#bb22", "not a gmail id!"]},
    {"ids": ["missing-but-well-formed-id", "bad id"], "gmail_ids": []},
]


def test_status_is_answered_ahead_of_flask_with_the_routes_exact_bytes(
    app, client, auth, users, sent_message, settle
):
    opened, quiet = sent_message(), sent_message()
    client.patch(
        f"/api/v1/messages/{quiet['id']}",
        json={"gmail_message_id": "aa11", "gmail_thread_id": "bb22"},
        headers=auth,
    )
    reserved = reserve(client, auth)
    theirs = sent_message(headers=users.headers("other@example.com"))
    client.get(f"/p/{opened['id']}.gif", headers={"User-Agent": "Reader/1"})
    settle()
    ids = [opened["id"], quiet["id"], reserved["id"], theirs["id"]]
    bodies = [*STATUS_BODIES, {"ids": ids}, {"ids": ids, "gmail_ids": ["aa11"]}]
    route = route_only_client(app)
    expected = [route.post("/api/v1/messages/status", json=body, headers=auth) for body in bodies]
    statuses = {status["id"]: status for status in expected[-1].json["statuses"]}
    assert set(statuses) == {opened["id"], quiet["id"], reserved["id"]}
    assert statuses[opened["id"]]["first_open_at"].endswith("Z")

    def refuse():
        raise AssertionError("a well-formed status call reached the Flask route")

    app.view_functions["api.statuses"] = refuse
    for body, want in zip(bodies, expected, strict=True):
        got = client.post("/api/v1/messages/status", json=body, headers=auth)
        assert got.status_code == want.status_code == 200, got.data
        assert got.data == want.data
        for header in ("Content-Type", "Content-Length"):
            assert got.headers[header] == want.headers[header]
    charset = client.post(
        "/api/v1/messages/status",
        data=json.dumps({"ids": ids}),
        content_type="application/json; charset=utf-8",
        headers=auth,
    )
    assert charset.data == expected[-2].data


@pytest.mark.parametrize(
    "request_kwargs, status, words",
    [
        ({"json": {"ids": ["x" * 24]}}, 401, "token"),
        ({"json": ["x"]}, 400, "JSON object"),
        ({"json": {"idz": []}}, 400, "Unknown field"),
        ({"json": {"ids": ["x" * 24] * 201}}, 400, "at most 200"),
        ({"data": "{ids: [", "content_type": "application/json"}, 400, "not valid JSON"),
        ({"data": b"\xff\xfe", "content_type": "application/json"}, 400, "not valid JSON"),
        ({"data": "ids=1", "content_type": "text/plain"}, 415, "application/json"),
        ({"json": {"ids": ["x" * 300_000]}}, 413, "too large"),
    ],
)
def test_status_calls_out_of_the_ordinary_get_the_routes_error(
    app, client, auth, request_kwargs, status, words
):
    reached = []
    route = app.view_functions["api.statuses"]
    app.view_functions["api.statuses"] = lambda: reached.append(1) or route()
    headers = {} if status == 401 else auth
    response = client.post("/api/v1/messages/status", headers=headers, **request_kwargs)
    assert response.status_code == status
    assert words in error_of(response)["message"]
    assert reached == [1] or status == 413  # Flask refuses a large body before any route


def test_a_store_failing_under_the_status_call_gets_the_routes_503(
    client, auth, store, monkeypatch
):
    def failing(*args):
        raise StoreError("SQLite: disk I/O error")

    monkeypatch.setattr(store, "states", failing)
    response = client.post("/api/v1/messages/status", json={"ids": ["x" * 24]}, headers=auth)
    assert response.status_code == 503
    assert "try again" in error_of(response)["message"]


def test_delete_message_removes_it_and_its_hits(client, auth, store, sent_message):
    message = sent_message()
    client.get(f"/p/{message['id']}.gif")
    assert client.delete(f"/api/v1/messages/{message['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/messages/{message['id']}", headers=auth).status_code == 404
    assert client.delete(f"/api/v1/messages/{message['id']}", headers=auth).status_code == 404
    # Its click links stop redirecting: nothing is left to point anywhere.
    link = message["links"][0]["tracked_url"].removeprefix("http://mailtick.test")
    assert client.get(link).status_code == 200


def test_delete_account_removes_everything(client, users, sent_message):
    headers = users.headers("leaving@example.com")
    message = sent_message(headers=headers)
    client.get(f"/p/{message['id']}.gif")
    assert client.delete("/api/v1/account", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    fresh = users.headers("leaving@example.com")
    assert client.get("/api/v1/messages", headers=fresh).get_json()["messages"] == []
    assert client.get(f"/api/v1/messages/{message['id']}", headers=fresh).status_code == 404


def test_me_and_sign_out(client, auth):
    assert client.get("/api/v1/me", headers=auth).get_json()["email"] == "sender@example.com"
    assert client.delete("/api/v1/token", headers=auth).status_code == 204
    assert client.get("/api/v1/me", headers=auth).status_code == 401


def test_reservations_never_completed_expire(client, auth, store):
    stale = reserve(client, auth)
    kept = reserve(client, auth)
    client.patch(f"/api/v1/messages/{kept['id']}", json={"subject": "sent"}, headers=auth)
    later = utcnow() + timedelta(days=4)
    assert store.purge_reservations(later) == 1
    assert client.get(f"/api/v1/messages/{stale['id']}", headers=auth).status_code == 404
    assert client.get(f"/api/v1/messages/{kept['id']}", headers=auth).status_code == 200


def test_server_info_and_health(client):
    info = client.get("/api/v1/server").get_json()
    assert info["service"] == "mailtick" and info["store"] == "sqlite"
    assert info["google_sign_in"] is False and info["sign_in_url"] is None
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["status"] == "ok"


def test_health_is_503_while_the_store_is_down(app, client, store):
    from backend.store import StoreError

    class Down:
        def ping(self):
            raise StoreError("down")

    app.extensions["mailtick.store"] = Down()
    response = client.get("/healthz")
    assert response.status_code == 503
    app.extensions["mailtick.store"] = store


def test_root_page_says_what_runs_and_how_to_connect(client):
    html = client.get("/").get_data(as_text=True)
    assert "Mailtick" in html and "sqlite" in html
    assert "http://mailtick.test" in html
    assert "mailtick token create" in html


def test_cron_purge_needs_cron_or_the_admin_token(settings, monkeypatch):
    import dataclasses

    from backend import create_app

    app = create_app(dataclasses.replace(settings, admin_token="admin-secret"))
    client = app.test_client()
    assert client.get("/cron/purge").status_code == 403
    assert client.get("/cron/purge", headers={"X-Appengine-Cron": "true"}).status_code == 403
    assert client.get("/cron/purge", headers={"Authorization": "Bearer wrong"}).status_code == 403
    ok = client.get("/cron/purge", headers={"Authorization": "Bearer admin-secret"})
    assert ok.status_code == 200
    assert ok.get_json() == {"purged_reservations": 0, "purged_hits": 0, "purged_activity": 0}
    monkeypatch.setenv("GAE_ENV", "standard")
    assert client.get("/cron/purge", headers={"X-Appengine-Cron": "true"}).status_code == 200
    app.extensions["mailtick.background"].stop()
    app.extensions["mailtick.spool"].stop()
