"""The activity feed: settings, the calm rules, GET /api/v1/events and its cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend import close_app, create_app
from backend.notify import feed
from backend.notify.prefs import collapse_key, in_quiet_hours, local_day, should_notify
from backend.store import Activity, utcnow
from backend.user_settings import effective

THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0"
OUTLOOK = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Microsoft Outlook 16.0.17928; Pro"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Mobile/15E148"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
APPLE_PREFETCH = "Mozilla/5.0"
SCANNER = "python-requests/2.32.3"


@pytest.fixture
def notifier(app):
    return app.extensions["mailtick.notifier"]


@pytest.fixture
def open_as(client):
    def hit(message, agent, address="198.51.100.7"):
        response = client.get(
            f"/p/{message['id']}.gif",
            headers={"User-Agent": agent},
            environ_base={"REMOTE_ADDR": address},
        )
        assert response.status_code == 200

    return hit


@pytest.fixture
def click_as(client):
    def hit(message, index, agent, address="198.51.100.7"):
        url = message["links"][index]["tracked_url"].removeprefix("http://mailtick.test")
        response = client.get(
            url, headers={"User-Agent": agent}, environ_base={"REMOTE_ADDR": address}
        )
        assert response.status_code == 302

    return hit


@pytest.fixture
def deliver(settle, notifier):
    """Classify what arrived and run the notifier's pass, as their threads do."""

    def run(now=None):
        settle()
        return notifier.drain(now)

    return run


def events(client, auth, after=None, limit=None):
    query = {}
    if after is not None:
        query["after"] = after
    if limit is not None:
        query["limit"] = limit
    response = client.get("/api/v1/events", query_string=query, headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# Settings.


def test_notification_settings_default_to_calm(client, auth):
    got = client.get("/api/v1/settings", headers=auth).get_json()
    assert {k: got[k] for k in ("notify_mode", "quiet_hours", "time_zone")} == {
        "notify_mode": "first",
        "quiet_hours": None,
        "time_zone": "UTC",
    }
    assert (got["email_digest"], got["email_instant"]) == (False, False)


def test_notification_settings_are_kept(client, auth):
    quiet = {"start": "22:00", "end": "07:30", "time_zone": "Europe/Berlin"}
    body = {"notify_mode": "every", "quiet_hours": quiet, "time_zone": "Asia/Kolkata"}
    body |= {"email_digest": True, "email_instant": True}
    answer = client.patch("/api/v1/settings", json=body, headers=auth)
    assert answer.status_code == 200
    got = client.get("/api/v1/settings", headers=auth).get_json()
    assert {k: got[k] for k in body} == body
    off = client.patch("/api/v1/settings", json={"quiet_hours": None}, headers=auth).get_json()
    assert off["quiet_hours"] is None and off["notify_mode"] == "every"


@pytest.mark.parametrize(
    "body, words",
    [
        ({"notify_mode": "always"}, "'first'"),
        ({"notify_mode": None}, "'first'"),
        ({"time_zone": "Mars/Olympus"}, "IANA"),
        ({"time_zone": "../../etc/passwd"}, "IANA"),
        ({"time_zone": 3}, "IANA"),
        ({"quiet_hours": {"start": "22:00", "end": "07:00"}}, "object like"),
        ({"quiet_hours": "22-07"}, "object like"),
        ({"quiet_hours": {"start": "24:00", "end": "07:00", "time_zone": "UTC"}}, "24-hour"),
        ({"quiet_hours": {"start": "7:00", "end": "08:00", "time_zone": "UTC"}}, "24-hour"),
        ({"quiet_hours": {"start": "07:00", "end": "07:00", "time_zone": "UTC"}}, "different"),
        ({"quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Nowhere"}}, "IANA"),
        ({"email_digest": "yes"}, "true or false"),
        ({"email_instant": 1}, "true or false"),
    ],
)
def test_bad_notification_settings_are_refused_and_nothing_changes(client, auth, body, words):
    response = client.patch("/api/v1/settings", json=body, headers=auth)
    error = response.get_json()["error"]
    assert response.status_code == 400 and words in error["message"], error
    assert error["field"] == next(iter(body))
    got = client.get("/api/v1/settings", headers=auth).get_json()
    assert (got["notify_mode"], got["quiet_hours"], got["time_zone"]) == ("first", None, "UTC")


# The calm rules, with the time injected.


def item(kind="opened", first=True, day="2026-11-02", **fields) -> Activity:
    return Activity(
        id="h1",
        account_id="a",
        message_id="m1",
        kind=kind,
        at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        day=day,
        first=first,
        **fields,
    )


def prefs(**changes) -> dict:
    return effective(changes)


NOON = datetime(2026, 11, 2, 12, tzinfo=UTC)


def test_first_mode_notifies_first_opens_and_first_clicks_only():
    calm = prefs()
    assert should_notify(item("opened", first=True), calm, NOON)
    assert not should_notify(item("reopened", first=False, count_today=3), calm, NOON)
    assert should_notify(item("clicked", first=True, link_index=0), calm, NOON)
    assert not should_notify(item("clicked", first=False, link_index=0), calm, NOON)


def test_every_mode_notifies_everything_and_off_nothing():
    for kind, first in (("opened", True), ("reopened", False), ("clicked", False)):
        assert should_notify(item(kind, first=first), prefs(notify_mode="every"), NOON)
        assert not should_notify(item(kind, first=first), prefs(notify_mode="off"), NOON)


def test_quiet_hours_run_past_midnight_in_the_users_zone():
    quiet = {"start": "22:00", "end": "07:00", "time_zone": "Europe/Berlin"}  # UTC+1 in November
    at = lambda h, m=0: datetime(2026, 11, 2, h, m, tzinfo=UTC)  # noqa: E731
    assert in_quiet_hours(at(21, 0), quiet)  # 22:00 in Berlin
    assert not in_quiet_hours(at(20, 59), quiet)
    assert in_quiet_hours(at(2), quiet)
    assert in_quiet_hours(at(5, 59), quiet)  # 06:59
    assert not in_quiet_hours(at(6, 0), quiet)  # 07:00
    assert not in_quiet_hours(at(6), None)
    daytime = {"start": "12:00", "end": "13:30", "time_zone": "UTC"}
    assert in_quiet_hours(at(12, 45), daytime) and not in_quiet_hours(at(13, 30), daytime)
    # In summer Berlin is UTC+2: the same local hours are an hour earlier in UTC.
    assert in_quiet_hours(datetime(2026, 7, 1, 20, 0, tzinfo=UTC), quiet)


def test_nothing_notifies_in_quiet_hours_even_in_every_mode():
    quiet = {"start": "11:00", "end": "13:00", "time_zone": "UTC"}
    for mode in ("first", "every"):
        assert not should_notify(item(), prefs(notify_mode=mode, quiet_hours=quiet), NOON)
        later = NOON + timedelta(hours=1)
        assert should_notify(item(), prefs(notify_mode=mode, quiet_hours=quiet), later)


def test_reopens_collapse_per_message_and_day_and_clicks_per_link():
    assert collapse_key(item("opened")) == collapse_key(item("reopened", first=False))
    assert collapse_key(item("reopened")) != collapse_key(item("reopened", day="2026-11-03"))
    assert collapse_key(item("clicked", link_index=0)) != collapse_key(
        item("clicked", link_index=1)
    )
    assert collapse_key(item("clicked", link_index=0)) != collapse_key(item("opened"))


def test_the_day_is_the_users_day():
    late = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)
    assert local_day(late, "UTC") == "2026-11-02"
    assert local_day(late, "Asia/Kolkata") == "2026-11-03"
    assert local_day(late, "America/Los_Angeles") == "2026-11-02"


# The feed through the API.


def test_a_readers_open_and_click_become_feed_items(
    client, auth, sent_message, open_as, click_as, deliver
):
    message = sent_message(subject="Proposal", to=("alice@example.com", "bob@example.com"))
    open_as(message, THUNDERBIRD)
    click_as(message, 0, THUNDERBIRD, address="198.51.100.9")
    added = deliver()
    assert [i.kind for i in added] == ["opened", "clicked"]

    page = events(client, auth)
    opened, clicked = page["events"]
    assert (opened["kind"], opened["message_id"], opened["subject"]) == (
        "opened",
        message["id"],
        "Proposal",
    )
    assert opened["recipients"] == {
        "to": ["alice@example.com", "bob@example.com"],
        "cc": [],
        "bcc": [],
    }
    assert (opened["class"], opened["client"], opened["device"]) == (
        "human",
        "Thunderbird 128",
        "computer (Linux)",
    )
    assert (opened["first"], opened["count_today"], opened["notify"]) == (True, 1, True)
    assert (opened["url"], opened["link_index"]) == (None, None)
    assert opened["collapse_key"] == f"open:{message['id']}:{opened['day']}"
    assert (clicked["kind"], clicked["link_index"]) == ("clicked", 0)
    assert clicked["url"] == "https://example.com/report?q=1&x=2"
    assert clicked["notify"] is True
    assert page["more"] is False
    # Nothing new: the same cursor comes back, with nothing.
    again = events(client, auth, after=page["cursor"])
    assert (again["events"], again["cursor"], again["more"]) == ([], page["cursor"], False)


def test_reopens_are_in_the_feed_but_do_not_notify_by_default(
    client, auth, sent_message, open_as, deliver
):
    message = sent_message()
    for agent in (THUNDERBIRD, OUTLOOK, IPHONE):
        open_as(message, agent)
    deliver()
    page = events(client, auth)["events"]
    assert [(e["kind"], e["count_today"], e["notify"]) for e in page] == [
        ("opened", 1, True),
        ("reopened", 2, False),
        ("reopened", 3, False),
    ]
    assert len({e["collapse_key"] for e in page}) == 1


def test_every_mode_notifies_reopens_and_off_mode_nothing(
    client, auth, sent_message, open_as, deliver
):
    client.patch("/api/v1/settings", json={"notify_mode": "every"}, headers=auth)
    message = sent_message()
    open_as(message, THUNDERBIRD)
    open_as(message, OUTLOOK)
    deliver()
    client.patch("/api/v1/settings", json={"notify_mode": "off"}, headers=auth)
    open_as(message, IPHONE)
    deliver()
    assert [e["notify"] for e in events(client, auth)["events"]] == [True, True, False]


def test_quiet_hours_hold_notifications_at_classification_time(
    client, auth, sent_message, open_as, deliver
):
    quiet = {"start": "11:00", "end": "13:00", "time_zone": "UTC"}
    client.patch("/api/v1/settings", json={"quiet_hours": quiet}, headers=auth)
    first, second = sent_message(), sent_message()
    open_as(first, THUNDERBIRD)
    deliver(now=NOON)
    open_as(second, THUNDERBIRD)
    deliver(now=NOON + timedelta(hours=2))
    feed_ = events(client, auth)["events"]
    assert [(e["message_id"], e["kind"], e["notify"]) for e in feed_] == [
        (first["id"], "opened", False),
        (second["id"], "opened", True),
    ]


def test_the_sender_machines_and_scanners_never_appear(
    client, auth, sent_message, open_as, click_as, deliver
):
    message = sent_message()
    # The sender's own Gmail shows the message: their proxy fetch is a self view.
    client.post("/api/v1/messages/self-views", json={"ids": [message["id"]]}, headers=auth)
    open_as(message, GMAIL_PROXY, address="66.249.84.1")
    open_as(message, APPLE_PREFETCH, address="17.58.0.1")
    open_as(message, SCANNER, address="203.0.113.5")
    click_as(message, 1, SCANNER, address="203.0.113.5")
    assert deliver() == []
    assert events(client, auth)["events"] == []
    # A duplicate of a real open within a minute is not a second item either.
    open_as(message, THUNDERBIRD)
    open_as(message, THUNDERBIRD)
    deliver()
    assert [e["kind"] for e in events(client, auth)["events"]] == ["opened"]


def test_the_feed_is_each_accounts_own(client, users, sent_message, open_as, deliver):
    alice, bob = users.headers("alice-sender@example.com"), users.headers("bob-sender@example.com")
    open_as(sent_message(headers=alice), THUNDERBIRD)
    open_as(sent_message(headers=bob), OUTLOOK)
    deliver()
    assert [e["client"] for e in events(client, alice)["events"]] == ["Thunderbird 128"]
    assert [e["client"] for e in events(client, bob)["events"]] == ["Outlook 2016"]


def test_the_cursor_never_repeats_or_skips_an_item(client, auth, sent_message, open_as, deliver):
    messages = [sent_message(subject=f"m{n}") for n in range(3)]
    seen, cursor = [], events(client, auth)["cursor"]  # an empty feed's cursor
    agents = [THUNDERBIRD, OUTLOOK, IPHONE]
    for round_ in range(3):
        for message in messages:
            open_as(message, agents[round_])
        deliver()
        # Page through with a small limit until told there is no more.
        while True:
            page = events(client, auth, after=cursor, limit=2)
            seen += [e["id"] for e in page["events"]]
            cursor = page["cursor"]
            if not page["more"]:
                break
    everything = [e["id"] for e in events(client, auth, limit=200)["events"]]
    assert len(everything) == 9
    assert seen == everything  # every item once, in feed order


def test_without_a_cursor_the_newest_items_come_oldest_first(
    client, auth, sent_message, open_as, deliver
):
    message = sent_message()
    for agent in (THUNDERBIRD, OUTLOOK, IPHONE):
        open_as(message, agent)
    deliver()
    everything = events(client, auth)["events"]
    newest = events(client, auth, limit=2)
    assert [e["id"] for e in newest["events"]] == [e["id"] for e in everything[1:]]
    assert newest["more"] is False
    assert events(client, auth, after=newest["cursor"])["events"] == []


def test_the_cursor_survives_a_restart_and_finds_what_came_meanwhile(
    settings, sent_message, client, auth, open_as, deliver
):
    message = sent_message()
    open_as(message, THUNDERBIRD)
    deliver()
    cursor = events(client, auth)["cursor"]
    open_as(message, OUTLOOK)
    deliver()
    # Another process on the same database (a restart, another gunicorn worker).
    other = create_app(settings)
    try:
        page = events(other.test_client(), auth, after=cursor)
        assert [e["kind"] for e in page["events"]] == ["reopened"]
    finally:
        close_app(other)


def test_items_of_a_deleted_message_leave_no_gap_the_cursor_waits_on(
    client, auth, sent_message, open_as, deliver
):
    kept, deleted = sent_message(), sent_message()
    open_as(kept, THUNDERBIRD)
    cursor = events(client, auth)["cursor"]
    deliver()
    open_as(deleted, THUNDERBIRD)
    deliver()
    client.delete(f"/api/v1/messages/{deleted['id']}", headers=auth)
    page = events(client, auth, after=cursor, limit=1)
    assert [e["message_id"] for e in page["events"]] == [kept["id"]]
    last = events(client, auth, after=page["cursor"], limit=1)
    assert (last["events"], last["more"]) == ([], False)


def test_a_store_failure_loses_no_item(
    app, notifier, store, sent_message, open_as, settle, monkeypatch, client, auth
):
    message = sent_message()
    open_as(message, THUNDERBIRD)
    from backend.store import StoreError

    def down(*args, **kwargs):
        raise StoreError("SQLite: database is locked")

    with monkeypatch.context() as patch:
        patch.setattr(store, "append_activity", down)
        settle()
        assert notifier.drain() == []
    [item] = notifier.drain()  # the next pass writes what the failed one could not
    assert item.kind == "opened"
    assert notifier.drain() == []
    assert len(events(client, auth)["events"]) == 1


@pytest.mark.parametrize(
    "query, code",
    [
        ({"after": "not-a-cursor"}, "invalid_field"),
        ({"after": feed.encode_cursor(0)[:-2] + "!!"}, "invalid_field"),
        ({"limit": "0"}, "invalid_field"),
        ({"limit": "201"}, "invalid_field"),
        ({"limit": "ten"}, "invalid_field"),
    ],
)
def test_bad_feed_parameters_are_refused(client, auth, query, code):
    response = client.get("/api/v1/events", query_string=query, headers=auth)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code


def test_a_cursor_ahead_of_the_feed_is_refused_with_what_to_do(client, auth):
    response = client.get(
        "/api/v1/events", query_string={"after": feed.encode_cursor(5)}, headers=auth
    )
    assert response.status_code == 409
    assert "without 'after'" in response.get_json()["error"]["message"]


def test_cursors_are_opaque_and_checked():
    assert feed.decode_cursor(feed.encode_cursor(42)) == 42
    for bad in ("", "eyJ2IjoxfQ", feed.encode_cursor(-1), "e30", "bnVsbA"):
        with pytest.raises(ValueError):
            feed.decode_cursor(bad)


def test_the_feed_needs_a_token(client):
    assert client.get("/api/v1/events").status_code == 401


def test_feed_items_go_when_the_retention_passes(app, client, auth, sent_message, open_as, deliver):
    open_as(sent_message(), THUNDERBIRD)
    deliver()
    worker = app.extensions["mailtick.background"]
    assert worker.clean_up(utcnow() + timedelta(days=30))["purged_activity"] == 0
    assert worker.clean_up(utcnow() + timedelta(days=91))["purged_activity"] == 1
    assert events(client, auth)["events"] == []
