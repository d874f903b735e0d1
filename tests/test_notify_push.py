"""Web Push, end to end on this machine: a subscription whose keys the test made, a push
service on 127.0.0.1 that records what it receives, and decryption in the test."""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from test_notify_feed import OUTLOOK, SCANNER, THUNDERBIRD, events

from backend import close_app, create_app
from backend.notify.push import check_subscription, new_private_key


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PushService:
    """A push service on 127.0.0.1: records each POST and answers with a chosen status."""

    def __init__(self):
        self.received: list[dict] = []
        self.status: dict[str, int] = {}  # path -> status; 201 otherwise
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                service.received.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                self.send_response(service.status.get(self.path, 201))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Browser:
    """What a browser keeps for a subscription: an ECDH key pair and an auth secret."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def subscription(self) -> dict:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64(point), "auth": b64(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


@pytest.fixture
def push_service():
    service = PushService()
    yield service
    service.close()


@pytest.fixture
def browser(push_service):
    return Browser(f"{push_service.url}/push/browser-1")


@pytest.fixture
def subscribed(client, auth, browser):
    response = client.post("/api/v1/push/subscriptions", json=browser.subscription(), headers=auth)
    assert response.status_code == 201, response.get_json()
    return browser


@pytest.fixture
def deliver(settle, app):
    def run():
        settle()
        return app.extensions["mailtick.notifier"].drain()

    return run


@pytest.fixture
def open_as(client):
    def hit(message, agent):
        client.get(f"/p/{message['id']}.gif", headers={"User-Agent": agent})

    return hit


def test_a_first_open_is_pushed_encrypted_and_signed(
    client, auth, sent_message, open_as, deliver, push_service, subscribed
):
    message = sent_message(subject="Proposal", to=("alice@example.com",))
    open_as(message, THUNDERBIRD)
    [item] = deliver()
    [request] = push_service.received
    assert request["path"] == "/push/browser-1"
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-encoding"] == "aes128gcm"
    assert int(headers["ttl"]) > 0 and headers["urgency"] == "high"
    assert len(headers["topic"]) <= 32
    assert b"Proposal" not in request["body"]  # encrypted, not merely encoded

    payload = subscribed.decrypt(request["body"])
    assert (payload["v"], payload["type"], payload["truncated"]) == (1, "activity", False)
    event = payload["event"]
    [from_feed] = events(client, auth)["events"]
    assert event == {**from_feed, "recipients_more": 0}
    assert (event["id"], event["kind"], event["notify"]) == (item.id, "opened", True)
    assert event["subject"] == "Proposal" and event["message_id"] == message["id"]

    # Signed with the server's VAPID key, for this push service's origin.
    authorization = headers["authorization"]
    assert Vapid02.verify(authorization)
    key = client.get("/api/v1/push/key", headers=auth).get_json()["public_key"]
    assert f"k={key}" in authorization
    token = authorization.split("t=", 1)[1].split(",", 1)[0]
    claims = json.loads(unb64(token.split(".")[1]))
    assert claims["aud"] == push_service.url
    assert claims["sub"] == "mailto:mailtick@localhost"


def test_items_that_do_not_notify_are_not_pushed(
    sent_message, open_as, deliver, push_service, subscribed
):
    message = sent_message()
    open_as(message, THUNDERBIRD)
    open_as(message, OUTLOOK)  # a re-open: in the feed, collapsed, no notification
    open_as(message, SCANNER)  # never in the feed at all
    assert [i.kind for i in deliver()] == ["opened", "reopened"]
    assert len(push_service.received) == 1


def test_every_subscription_of_the_account_gets_it_and_no_one_elses(
    client, auth, users, sent_message, open_as, deliver, push_service, subscribed
):
    second = Browser(f"{push_service.url}/push/browser-2")
    client.post("/api/v1/push/subscriptions", json=second.subscription(), headers=auth)
    stranger = Browser(f"{push_service.url}/push/stranger")
    other = users.headers("someone-else@example.com")
    client.post("/api/v1/push/subscriptions", json=stranger.subscription(), headers=other)
    open_as(sent_message(), THUNDERBIRD)
    deliver()
    by_path = {r["path"]: r for r in push_service.received}
    assert set(by_path) == {"/push/browser-1", "/push/browser-2"}
    assert subscribed.decrypt(by_path["/push/browser-1"]["body"])["event"]["kind"] == "opened"
    assert second.decrypt(by_path["/push/browser-2"]["body"])["event"]["kind"] == "opened"


@pytest.mark.parametrize("status", [404, 410])
def test_a_subscription_the_push_service_calls_gone_is_dropped(
    client, auth, sent_message, open_as, deliver, push_service, subscribed, status
):
    push_service.status["/push/browser-1"] = status
    open_as(sent_message(), THUNDERBIRD)
    deliver()
    assert len(push_service.received) == 1
    assert (
        client.get("/api/v1/notifications", headers=auth).get_json()["push"]["subscriptions"] == 0
    )
    assert len(events(client, auth)["events"]) == 1


def test_a_failing_push_service_loses_nothing(
    client, auth, sent_message, open_as, deliver, push_service, subscribed
):
    push_service.status["/push/browser-1"] = 500
    open_as(sent_message(), THUNDERBIRD)
    deliver()
    assert len(push_service.received) == 1
    # The subscription stays, and the feed has the item for the extension's catch-up.
    assert (
        client.get("/api/v1/notifications", headers=auth).get_json()["push"]["subscriptions"] == 1
    )
    assert [e["kind"] for e in events(client, auth)["events"]] == ["opened"]


def test_an_unreachable_push_service_loses_nothing(
    client, auth, sent_message, open_as, deliver, push_service
):
    gone = Browser(f"{push_service.url}/push/x")
    push_service.close()  # nothing listens there any more
    client.post("/api/v1/push/subscriptions", json=gone.subscription(), headers=auth)
    open_as(sent_message(), THUNDERBIRD)
    assert [i.kind for i in deliver()] == ["opened"]
    assert [e["kind"] for e in events(client, auth)["events"]] == ["opened"]


def test_a_long_item_is_cut_to_fit_a_push_message(
    client, auth, sent_message, open_as, deliver, push_service, subscribed
):
    many = tuple(f"person{n}@example.com" for n in range(40))
    message = sent_message(subject="S" * 1500, to=many)
    open_as(message, THUNDERBIRD)
    deliver()
    event = subscribed.decrypt(push_service.received[0]["body"])["event"]
    assert event["subject"] == "S" * 200
    assert event["recipients"]["to"] == list(many[:5]) and event["recipients_more"] == 35


def test_the_key_is_made_once_and_shared_by_every_process(settings, client, auth):
    key = client.get("/api/v1/push/key", headers=auth).get_json()["public_key"]
    assert len(unb64(key)) == 65 and unb64(key)[0] == 4
    other = create_app(settings)
    try:
        assert (
            other.test_client().get("/api/v1/push/key", headers=auth).get_json()["public_key"]
            == key
        )
    finally:
        close_app(other)


def test_a_configured_key_is_used(settings, client, auth):
    stored = client.get("/api/v1/push/key", headers=auth).get_json()["public_key"]
    private = new_private_key()
    expected = Vapid02.from_raw(private.encode()).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    app = create_app(replace(settings, vapid_private_key=private))
    try:
        key = app.test_client().get("/api/v1/push/key", headers=auth).get_json()["public_key"]
        assert key == b64(expected) != stored
    finally:
        close_app(app)


def test_unsubscribing_takes_only_ones_own(client, auth, users, subscribed):
    endpoint = subscribed.endpoint
    other = users.headers("someone-else@example.com")
    gone = client.delete("/api/v1/push/subscriptions", json={"endpoint": endpoint}, headers=other)
    assert gone.status_code == 404
    assert (
        client.delete(
            "/api/v1/push/subscriptions", json={"endpoint": endpoint}, headers=auth
        ).status_code
        == 204
    )
    assert (
        client.delete(
            "/api/v1/push/subscriptions", json={"endpoint": endpoint}, headers=auth
        ).status_code
        == 404
    )
    assert client.delete("/api/v1/push/subscriptions", json={}, headers=auth).status_code == 400


def good(endpoint="https://fcm.googleapis.com/fcm/send/abc:def") -> dict:
    return {**Browser(endpoint).subscription()}


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda s: s.pop("endpoint"), "endpoint"),
        (lambda s: s.update(endpoint="http://fcm.googleapis.com/fcm/send/x"), "https URL"),
        (lambda s: s.update(endpoint="https://169.254.169.254/latest/meta-data"), "push service"),
        (lambda s: s.update(endpoint="https://evil.example/fcm.googleapis.com"), "push service"),
        (lambda s: s.update(endpoint="http://127.0.0.1:9/push"), "push service"),
        (lambda s: s.pop("keys"), "keys"),
        (lambda s: s["keys"].update(auth=b64(b"short")), "16 bytes"),
        (lambda s: s["keys"].update(p256dh="not base64!"), "base64url"),
        (lambda s: s["keys"].update(p256dh=b64(b"\x04" + b"\x01" * 64)), "P-256"),
        (lambda s: s["keys"].update(p256dh=b64(b"\x02" + b"\x01" * 64)), "uncompressed"),
    ],
)
def test_subscriptions_are_checked(change, words):
    subscription = good()
    change(subscription)
    with pytest.raises(ValueError, match=words):
        check_subscription(subscription)


def test_known_push_services_are_accepted():
    for endpoint in (
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "https://web.push.apple.com/abc",
        "https://wns2-by3p.notify.windows.com/w/?token=abc",
    ):
        assert check_subscription(good(endpoint))[0] == endpoint


def test_the_api_refuses_a_bad_subscription_with_a_reason(client, auth):
    response = client.post("/api/v1/push/subscriptions", json={**good(), "extra": 1}, headers=auth)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "unknown_field"
    bad = good()
    bad["keys"]["auth"] = "AAAA"
    response = client.post("/api/v1/push/subscriptions", json=bad, headers=auth)
    assert response.status_code == 400
    assert "16 bytes" in response.get_json()["error"]["message"]


def test_outside_tests_a_local_endpoint_is_refused(settings, auth):
    app = create_app(replace(settings, testing=False))
    try:
        local = Browser("http://127.0.0.1:9/push/x").subscription()
        answer = app.test_client().post("/api/v1/push/subscriptions", json=local, headers=auth)
        assert answer.status_code == 400
    finally:
        close_app(app)


def test_a_configured_key_that_is_no_key_stops_the_start(settings):
    with pytest.raises(ValueError, match="MAILTICK_VAPID_PRIVATE_KEY"):
        create_app(replace(settings, vapid_private_key="not-a-key"))
