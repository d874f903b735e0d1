"""The popup (history) and the options page (server, sign-in, default, connection check)."""

from __future__ import annotations

import socket
import time

from .conftest import api, tracked_message
from .gmail_server import GMAIL_PROXY_UA
from .test_checkmarks import wait_until_opened

HOSTILE = "<img src=x onerror=alert(1)>"


def make_history(server, token: str, count: int) -> None:
    for i in range(count):
        reserved = api(server, token, "POST", "/api/v1/messages", {}).json()
        body = {
            "subject": f"Weekly report {i:03d}",
            "recipients": {"to": [f"r{i}@example.com"], "cc": [], "bcc": []},
            "links": [],
            "sent_at": f"2026-11-{1 + i // 60:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:00Z",
        }
        assert api(server, token, "PATCH", f"/api/v1/messages/{reserved['id']}", body).ok


def test_popup_history_is_escaped_paged_searchable_and_opens_gmail(browser):
    token = browser.connect()
    make_history(browser.server, token, 120)
    hostile = api(browser.server, token, "POST", "/api/v1/messages", {}).json()
    api(
        browser.server,
        token,
        "PATCH",
        f"/api/v1/messages/{hostile['id']}",
        {
            "subject": HOSTILE,
            "recipients": {"to": ["<b>x</b>@example.com"], "cc": [], "bcc": []},
            "links": [],
            "sent_at": "2026-11-26T12:00:00Z",
            "gmail_thread_id": "18c2f0a1b2c3d4e5",
            "gmail_message_id": "18c2f0a1b2c3d4e5",
        },
    ).raise_for_status()
    browser.server.hit_pixel(hostile["pixel_url"])
    wait_until_opened(browser.server, token, hostile["id"])

    popup = browser.new_page()
    dialogs = []
    popup.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    popup.goto(browser.url("popup/popup.html"))
    rows = popup.locator("#list li")
    rows.nth(49).wait_for()
    assert rows.count() == 50
    first = rows.first
    assert first.locator(".subject-text").inner_text() == HOSTILE, "newest first, shown as text"
    assert popup.locator("#list img, #list b").count() == 0
    assert "<b>x</b>@example.com" in first.locator(".recipients").inner_text()
    assert first.locator(".mark[data-state=opened] svg").count() == 2
    assert first.locator(".meta").inner_text().startswith("Opened once")
    assert rows.nth(1).locator(".meta").inner_text().startswith("Tracked, not opened yet")

    started = time.monotonic()
    popup.click("#more")
    rows.nth(99).wait_for()
    popup.click("#more")
    rows.nth(120).wait_for()
    assert time.monotonic() - started < 5
    assert rows.count() == 121
    assert popup.locator("#more").is_hidden()

    popup.fill("#search", "report 007")
    popup.wait_for_function("() => document.querySelectorAll('#list li').length === 1")
    assert rows.first.locator(".subject-text").inner_text() == "Weekly report 007"
    with browser.context.expect_page() as opened:
        rows.first.locator("button.row").click()
    assert opened.value.url.startswith("https://mail.google.com/mail/u/0/#search/")

    popup.fill("#search", "")
    rows.nth(49).wait_for()
    with browser.context.expect_page() as opened:
        rows.first.locator("button.row").click()
    assert opened.value.url == "https://mail.google.com/mail/u/0/#all/18c2f0a1b2c3d4e5"
    assert dialogs == []


def test_popup_says_how_to_start(browser):
    popup = browser.new_page()
    popup.goto(browser.url("popup/popup.html"))
    popup.locator("#notice").wait_for()
    assert "not connected to a server" in popup.locator("#notice").inner_text()

    browser.connect()
    popup.reload()
    popup.get_by_text("No tracked emails yet").wait_for()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_options_connect_check_and_default(browser):
    page = browser.new_page()
    page.goto(browser.url("options/options.html"))
    status = page.locator("#connection")

    page.fill("#server", "ftp://example.com")
    page.click("#save-server")
    page.get_by_text("not a web address").wait_for()

    page.fill("#server", f"http://127.0.0.1:{closed_port()}")
    page.click("#save-server")
    page.get_by_text("Could not reach a server at").wait_for()
    assert status.get_attribute("data-state") == "error"

    page.fill("#server", browser.server.url)
    page.click("#save-server")
    page.get_by_text("The server is reachable").wait_for()
    google = browser.server.url + "/api/v1/server"
    offers_google = api(browser.server, "", "GET", "/api/v1/server").json()["google_sign_in"]
    assert page.locator("#google").is_visible() == offers_google, google

    page.fill("#token", "mt_not-a-real-token")
    page.click("#save-token")
    page.get_by_text("does not accept this token").wait_for()

    page.fill("#token", browser.server.token(browser.account))
    page.click("#save-token")
    page.get_by_text(f"Connected as {browser.account} to {browser.server.url}.").wait_for()
    assert status.get_attribute("data-state") == "ok"
    assert page.locator("#token").input_value() == "", "the token is not left on screen"
    assert browser.storage("server") == browser.server.url

    page.uncheck("#track-default")
    deadline = time.monotonic() + 5
    while browser.storage("trackByDefault") is not False and time.monotonic() < deadline:
        time.sleep(0.1)
    gmail = browser.open_gmail()
    gmail.click("#compose-button")
    gmail.locator(".mailtick-toggle[data-mailtick-state=off]").wait_for()


APPLE_MPP_UA = "Mozilla/5.0"


def test_popup_and_marks_tell_readers_from_machines_and_the_sender(browser):
    token = browser.connect()
    server = browser.server
    tracked_message(server, token, "Nothing yet")
    prefetched = tracked_message(server, token, "Only Apple", thread="18c2e9f0a0b1c2d3")
    read = tracked_message(server, token, "Read for real")
    # The sender's own Gmail looked (signal, then Google's proxy), then the recipient read it
    # twice within a minute in Thunderbird, and Apple Mail prefetched the other one.
    sv = api(server, token, "POST", "/api/v1/messages/self-views", {"ids": [read["id"]]})
    assert sv.status_code == 202
    server.hit_pixel(read["pixel_url"], GMAIL_PROXY_UA)
    server.hit_pixel(read["pixel_url"])
    server.hit_pixel(read["pixel_url"])
    server.hit_pixel(prefetched["pixel_url"], APPLE_MPP_UA)
    wait_until_opened(server, token, read["id"])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        events = [
            e
            for m in (read, prefetched)
            for e in api(server, token, "GET", f"/api/v1/messages/{m['id']}").json()["events"]
        ]
        if len(events) == 4 and all(e["class"] != "pending" for e in events):
            break
        time.sleep(0.25)
    assert sorted(e["class"] for e in events) == ["apple_mpp", "duplicate", "human", "self"]

    popup = browser.new_page()
    popup.goto(browser.url("popup/popup.html"))
    rows = popup.locator("#list > li")
    rows.nth(2).wait_for()
    by_subject = {
        rows.nth(i).locator(".subject-text").inner_text(): rows.nth(i) for i in range(rows.count())
    }
    meta = {s: r.locator(".meta").inner_text() for s, r in by_subject.items()}
    assert meta["Read for real"].startswith("Opened once"), meta
    assert meta["Only Apple"].startswith("Probably opened (machine prefetch)"), meta
    assert meta["Nothing yet"].startswith("Tracked, not opened yet"), meta
    assert by_subject["Read for real"].locator(".mark svg").count() == 2
    assert by_subject["Only Apple"].locator(".mark[data-state=tracked] svg").count() == 1

    # Expanding a row lists its events, newest first, each with what it was.
    row = by_subject["Read for real"]
    row.locator(".expand").click()
    assert row.locator(".expand").get_attribute("aria-expanded") == "true"
    items = row.locator(".events .event")
    items.nth(2).wait_for()
    assert items.locator(".event-class").all_inner_texts() == ["Repeat", "Read", "You"]
    assert items.nth(1).locator(".event-who").inner_text() == "Thunderbird 128 · computer (Linux)"
    assert items.nth(1).get_attribute("data-counted") == "true"
    assert items.nth(2).get_attribute("data-counted") == "false"
    row.locator(".expand").click()
    assert row.locator(".events").is_hidden()

    # Hovering shows them too, as the row's tooltip.
    apple = by_subject["Only Apple"]
    apple.hover()
    popup.wait_for_function(
        "() => [...document.querySelectorAll('#list > li .row')]"
        ".some(b => b.title.includes('Apple Mail prefetch'))"
    )
    assert "Opened · Apple Mail prefetch" in apple.locator(".row").get_attribute("title")
    assert popup.locator("#list > li[data-state=machine]").count() == 1

    # In Gmail, the prefetched message keeps one grey check that says why.
    gmail = browser.open_gmail()
    mark = gmail.locator("tr.zA:has([data-legacy-thread-id='18c2e9f0a0b1c2d3']) .mailtick-check")
    mark.and_(gmail.locator("[data-mailtick-state=tracked]")).wait_for()
    assert mark.get_attribute("title") == "Probably opened (machine prefetch)"
    assert mark.locator("svg").count() == 1


def test_sign_out_revokes_the_token_on_the_server(browser):
    token = browser.connect()
    assert api(browser.server, token, "GET", "/api/v1/me").status_code == 200
    page = browser.new_page()
    page.goto(browser.url("options/options.html"))
    page.locator("#sign-out").wait_for(state="visible")
    page.click("#sign-out")
    deadline = time.monotonic() + 10
    while browser.storage("token") and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert not browser.storage("token"), "the token is forgotten in the extension"
    answer = api(browser.server, token, "GET", "/api/v1/me")
    assert answer.status_code == 401, "the server no longer accepts the signed-out token"
    # The page hides the button once its connection check (a round trip) has come back.
    page.locator("#sign-out").wait_for(state="hidden", timeout=10_000)
