# ruff: noqa: F811 - the spec fixture is imported by name and taken as an argument
"""The notification routes' answers fit the OpenAPI document (tests/test_openapi.py's check)."""

from __future__ import annotations

from test_notify_push import Browser
from test_openapi import PREFIX, checked_statuses, spec  # noqa: F401 - the spec fixture, by name

THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0"


def test_notification_answers_fit_the_documented_schemas(
    app,
    client,
    auth,
    spec,
    sent_message,
    settle,  # noqa: F811
):
    message = sent_message()
    client.get(f"/p/{message['id']}.gif", headers={"User-Agent": THUNDERBIRD})
    client.get(
        message["links"][0]["tracked_url"].removeprefix("http://mailtick.test"),
        headers={"User-Agent": THUNDERBIRD},
    )
    settle()
    app.extensions["mailtick.notifier"].drain()
    browser = Browser("https://fcm.googleapis.com/fcm/send/test-endpoint").subscription()
    quiet = {"start": "22:00", "end": "07:00", "time_zone": "Europe/Berlin"}
    calls = [
        ("/events", "get", lambda: client.get(f"{PREFIX}/events", headers=auth)),
        ("/events", "get", lambda: client.get(f"{PREFIX}/events?limit=1", headers=auth)),
        ("/events", "get", lambda: client.get(f"{PREFIX}/events?limit=0", headers=auth)),
        (
            "/events",
            "get",
            lambda: client.get(f"{PREFIX}/events?after=eyJ2IjoxLCJzZXEiOjk5OX0", headers=auth),
        ),
        ("/events", "get", lambda: client.get(f"{PREFIX}/events")),
        ("/push/key", "get", lambda: client.get(f"{PREFIX}/push/key", headers=auth)),
        (
            "/push/subscriptions",
            "post",
            lambda: client.post(f"{PREFIX}/push/subscriptions", json=browser, headers=auth),
        ),
        (
            "/push/subscriptions",
            "post",
            lambda: client.post(f"{PREFIX}/push/subscriptions", json={"keys": {}}, headers=auth),
        ),
        ("/notifications", "get", lambda: client.get(f"{PREFIX}/notifications", headers=auth)),
        (
            "/push/subscriptions",
            "delete",
            lambda: client.delete(
                f"{PREFIX}/push/subscriptions", json={"endpoint": browser["endpoint"]}, headers=auth
            ),
        ),
        (
            "/push/subscriptions",
            "delete",
            lambda: client.delete(
                f"{PREFIX}/push/subscriptions", json={"endpoint": browser["endpoint"]}, headers=auth
            ),
        ),
        (
            "/notifications/gmail",
            "post",
            lambda: client.post(f"{PREFIX}/notifications/gmail", headers=auth),
        ),
        (
            "/notifications/gmail",
            "delete",
            lambda: client.delete(f"{PREFIX}/notifications/gmail", headers=auth),
        ),
        (
            "/settings",
            "patch",
            lambda: client.patch(
                f"{PREFIX}/settings",
                json={"notify_mode": "every", "quiet_hours": quiet, "email_digest": True},
                headers=auth,
            ),
        ),
        ("/settings", "get", lambda: client.get(f"{PREFIX}/settings", headers=auth)),
    ]
    statuses = checked_statuses(spec, calls)
    assert statuses == [200, 200, 400, 409, 401, 200, 201, 400, 200, 204, 404, 503, 204, 200, 200]
    events = client.get(f"{PREFIX}/events", headers=auth).get_json()["events"]
    assert [e["kind"] for e in events] == ["opened", "clicked"]
