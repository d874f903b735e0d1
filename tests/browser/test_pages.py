"""The popup (history) and the options page (server, sign-in, default, connection check)."""

from __future__ import annotations

import socket
import time

from .conftest import api
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
        rows.first.locator("button").click()
    assert opened.value.url.startswith("https://mail.google.com/mail/u/0/#search/")

    popup.fill("#search", "")
    rows.nth(49).wait_for()
    with browser.context.expect_page() as opened:
        rows.first.locator("button").click()
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
