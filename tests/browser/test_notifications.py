"""Toolbar notifications: a recipient's open becomes a chrome.notifications entry and a badge,
once, whether it came by push or by the feed catch-up, and across a stopped worker."""

from __future__ import annotations

import base64
import json
import time

from .conftest import api, tracked_message

THREAD = "18c2f0a1b2c3d4e0"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Thunderbird/{}"


def until(what: str, probe, timeout: float = 10, every: float = 0.2):
    """Poll `probe` until it returns something truthy; fail saying `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")


def server_feed(server, token: str, after: str) -> list[dict]:
    answer = api(server, token, "GET", f"/api/v1/events?after={after}&limit=200")
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def badge(browser) -> str:
    return browser.worker.evaluate("chrome.action.getBadgeText({})")


def shown_ids(browser) -> list[str]:
    return sorted(browser.worker.evaluate("chrome.notifications.getAll().then(Object.keys)"))


def start(browser, **extra) -> tuple[str, str]:
    """Connect, and wait for the worker's first catch-up to set the feed's starting point."""
    token = browser.connect(**extra)
    state = until("the first cursor", lambda: browser.storage("feedState"))
    return token, state["cursor"]


def test_a_pushed_open_notifies_once_and_the_feed_does_not_repeat_it(browser, live_server):
    token, cursor = start(browser, feedMinutes=30)  # only the push may show it at first
    message = tracked_message(live_server, token, "Proposal <b>Q4</b>", THREAD)
    live_server.hit_pixel(message["pixel_url"], UA.format("128.0"))
    (event,) = until("the open in the feed", lambda: server_feed(live_server, token, cursor))
    assert event["kind"] == "opened" and event["notify"] is True
    assert browser.storage("notifySeen") is None, "the feed must not have run yet"

    # Exercise the worker's real `push` listener with the payload the server would push.
    browser.worker.evaluate(
        """payload => {
            self.__created = [];
            const create = chrome.notifications.create;
            chrome.notifications.create = (...args) => {
                self.__created.push(args);
                return create(...args);
            };
            self.dispatchEvent(new PushEvent('push', {data: JSON.stringify(payload)}));
        }""",
        {"v": 1, "type": "activity", "event": {**event, "recipients_more": 0}, "truncated": False},
    )
    key = event["collapse_key"]
    until("the notification", lambda: key in shown_ids(browser))
    created = browser.worker.evaluate("self.__created")
    assert len(created) == 1
    notification_id, options = created[0]
    assert notification_id == key
    assert options["title"] == "carol@example.com opened “Proposal <b>Q4</b>”"
    assert options["message"].startswith("at ")
    assert options["iconUrl"].endswith("/icons/128.png")
    assert badge(browser) == "1"
    target = browser.storage("notifyTargets")[key]
    assert target["url"] == f"https://mail.google.com/mail/u/0/#all/{THREAD}"

    # The same item by push again, then by the feed: nothing new.
    browser.worker.evaluate(
        "payload => self.dispatchEvent(new PushEvent('push', {data: JSON.stringify(payload)}))",
        {"v": 1, "type": "activity", "event": event, "truncated": False},
    )
    browser.settings(feedMinutes=0.05)  # the catch-up runs now, then every 3 s
    until("the feed to pass the open", lambda: browser.storage("feedState")["cursor"] != cursor)
    time.sleep(1)
    assert browser.storage("notifySeen") == [event["id"]]
    assert browser.worker.evaluate("self.__created.length") == 1
    assert badge(browser) == "1"

    # A cursor past the feed's end (the server's data was restored): start again, repeat nothing.
    ahead = json.dumps({"v": 1, "seq": 10**9}, separators=(",", ":")).encode()
    bogus = base64.urlsafe_b64encode(ahead).decode().rstrip("=")
    browser.settings(feedState={"cursor": bogus})
    until("a valid cursor again", lambda: browser.storage("feedState")["cursor"] != bogus)
    fresh = browser.storage("feedState")["cursor"]
    assert api(live_server, token, "GET", f"/api/v1/events?after={fresh}").ok
    assert browser.storage("notifySeen") == [event["id"]]
    assert badge(browser) == "1"

    # Opening the popup clears the badge.
    popup = browser.new_page()
    popup.goto(browser.url("popup/popup.html"))
    until("the badge to clear", lambda: badge(browser) == "")
    assert browser.storage("notifyUnseen") == 0


def test_catch_up_after_a_stopped_worker_delivers_exactly_the_missed_opens(browser, live_server):
    token, cursor = start(browser, feedMinutes=0.05)
    message = tracked_message(live_server, token, "Offer", THREAD)
    live_server.hit_pixel(message["pixel_url"], UA.format("128.0"))
    events = until("the open in the server's feed", lambda: server_feed(live_server, token, cursor))
    key = events[0]["collapse_key"]
    until("the notification from the feed", lambda: key in shown_ids(browser), timeout=15)
    target = browser.storage("notifyTargets")[key]
    assert target["title"] == "carol@example.com opened “Offer”"
    assert target["message"].startswith("at ")
    assert badge(browser) == "1"

    # Stop the worker as a developer would (Playwright's debugger would keep it alive).
    internals = browser.new_page()
    internals.goto("chrome://serviceworker-internals/")
    worker = internals.locator(".serviceworker-registration", has_text=browser.extension_id)
    worker.locator("[data-command=stop]").click()
    worker.get_by_text("Running Status: STOPPED").wait_for()

    # Two more readers (other user agents: not duplicates) open it meanwhile.
    live_server.hit_pixel(message["pixel_url"], UA.format("129.0"))
    live_server.hit_pixel(message["pixel_url"], UA.format("130.0"))
    events = until(
        "three items in the server's feed",
        lambda: (e := server_feed(live_server, token, cursor)) and len(e) == 3 and e,
    )
    assert [e["kind"] for e in events] == ["opened", "reopened", "reopened"]
    assert {e["collapse_key"] for e in events} == {key}

    # Only the alarm can wake the worker now.
    def running():
        internals.reload()
        return worker.get_by_text("Running Status: RUNNING").count() > 0

    until("the alarm to restart the worker", running, timeout=15, every=0.5)
    browser.refresh_worker()
    until("the badge to count the missed opens", lambda: badge(browser) == "3")
    target = browser.storage("notifyTargets")[key]
    assert target["message"].startswith("Opened again, 3 times today (last at ")
    assert key in shown_ids(browser), "updated in place, not replaced by another"
    assert shown_ids(browser) == [key]
    time.sleep(4)  # more alarms: still nothing twice
    assert browser.storage("notifySeen") == [e["id"] for e in events]
    assert badge(browser) == "3"


def test_options_notifications_section_saves_to_the_server(browser, live_server):
    token, _ = start(browser)
    page = browser.new_page()
    page.goto(browser.url("options/options.html"))
    mode = page.locator("#notify-mode")
    until("the section to load", lambda: mode.is_enabled(), timeout=10)
    assert mode.input_value() == "first"
    reach = page.locator("#notify-reach li")
    until("what reaches the user", lambda: reach.count() >= 2)
    assert "Chrome notifications" in reach.first.inner_text()

    page.locator("#time-zone").fill("Mars/Olympus")
    page.locator("#save-notifications").click()
    assert "Not a time zone: Mars/Olympus" in page.locator("#notify-status").inner_text()

    mode.select_option("every")
    page.locator("#quiet").check()
    page.locator("#quiet-start").fill("21:30")
    page.locator("#time-zone").fill("Asia/Kolkata")
    page.locator("#email-digest").check()
    page.locator("#save-notifications").click()
    page.locator("#notify-status", has_text="Saved.").wait_for()
    saved = api(live_server, token, "GET", "/api/v1/settings").json()
    assert saved["notify_mode"] == "every"
    assert saved["quiet_hours"] == {"start": "21:30", "end": "07:00", "time_zone": "Asia/Kolkata"}
    assert saved["time_zone"] == "Asia/Kolkata"
    assert saved["email_digest"] is True and saved["email_instant"] is False
    assert "21:30" in page.locator("#notify-reach").inner_text()


def test_new_activity_redraws_open_gmail_check_marks_at_once(browser, live_server):
    # No timed refresh of the marks during the test: only the new activity can redraw them.
    token, cursor = start(browser, feedMinutes=30)
    browser.settings(refreshSeconds=600)
    message = tracked_message(live_server, token, "Renewal", THREAD)
    browser.gmail.add_sent("Renewal", ["carol@example.com"], "<p>Hello</p>", THREAD)
    page = browser.open_gmail()
    row = page.locator(f"tr.zA:has([data-legacy-thread-id='{THREAD}'])")
    row.locator(".mailtick-check[data-mailtick-state=tracked]").wait_for()

    live_server.hit_pixel(message["pixel_url"], UA.format("128.0"))
    until("the open in the feed", lambda: server_feed(live_server, token, cursor))
    browser.settings(feedMinutes=0.05)  # the worker's catch-up brings the open now
    row.locator(".mailtick-check[data-mailtick-state=opened]").wait_for(timeout=10_000)
