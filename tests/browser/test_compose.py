"""Track on send: pixel first, links tracked, Gmail ids learnt, check marks turning green."""

from __future__ import annotations

import re
import time

import pytest

from .conftest import api

SEND = ".IZ .Up div > div[role=button]:not(.Uo):not([aria-haspopup=true])"
LINKS_HTML = (
    ' <a href="https://example.com/report?q=1&amp;x=2">report</a>'
    ' <a href="mailto:bob@example.com">mail me</a> <a href="tel:+4912345">call</a>'
    ' <a href="https://example.org/">site</a>'
)
PIXEL = re.compile(
    r'^<img src="(?P<url>http://127\.0\.0\.1:\d+/p/(?P<id>[A-Za-z0-9_-]{22,})\.gif)" alt=""'
    r' width="1" height="1" style="[^"]*opacity:0[^"]*">'
)


def write_email(page, subject: str, to="bob@example.com", html=LINKS_HTML, tracked=True):
    """Open a compose window and fill it like a person would (links pasted into the body)."""
    page.click("#compose-button")
    compose = page.locator(".AD .M9").last
    state = "ready" if tracked else "unavailable"
    compose.locator(f".mailtick-toggle[data-mailtick-state={state}]").wait_for()
    compose.locator(".anm[name=to] input").fill(to)
    compose.locator(".anm[name=to] input").press("Enter")
    compose.locator("input[name=subjectbox]").fill(subject)
    body = compose.locator("[g_editable=true]")
    body.click()
    page.keyboard.type("Hello Bob,")
    body.evaluate("(b, html) => b.insertAdjacentHTML('beforeend', html)", html)
    return compose


def sent_html(page, n: int = 1) -> str:
    page.wait_for_function(f"() => window.__sent.length >= {n}")
    return page.evaluate(f"() => window.__sent[{n - 1}].html")


def wait_for_message(server, token: str, subject: str, want=lambda m: True, timeout: float = 15):
    """Poll the history until the message with `subject` satisfies `want`; return it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        messages = api(server, token, "GET", "/api/v1/messages?limit=50").json()["messages"]
        last = [m for m in messages if m["subject"] == subject]
        if last and want(last[0]):
            return last[0]
        time.sleep(0.25)
    raise AssertionError(f"message {subject!r} never satisfied the condition; last seen {last}")


def check_tracked_body(html: str, server_url: str) -> str:
    m = PIXEL.match(html)
    assert m, f"the pixel is not the first element of the body: {html[:300]}"
    assert m["url"] == f"{server_url}/p/{m['id']}.gif"
    click = f"{server_url}/c/{m['id']}"
    assert f'href="{click}/0?u=https%3A%2F%2Fexample.com%2Freport%3Fq%3D1%26x%3D2"' in html
    assert f'href="{click}/1?u=https%3A%2F%2Fexample.org%2F"' in html
    assert 'href="mailto:bob@example.com"' in html
    assert 'href="tel:+4912345"' in html
    assert html.count("<img") == 1
    return m["id"]


WORDS = {
    "en": {"on": "Tracking on", "opened": "Opened once"},
    "hi": {"on": "ट्रैकिंग चालू", "opened": "एक बार खोला गया"},
}


# Gmail in English, German and Hindi; the extension's own words in English or Hindi.
@pytest.mark.parametrize(("hl", "ui_lang"), [("en", "en"), ("de", "en"), ("hi", "hi")])
def test_send_by_mouse_tracks_and_check_turns_green(browser, hl, ui_lang):
    token = browser.connect()
    page = browser.open_gmail(hl)
    subject = f"Quarterly numbers ({hl})"
    compose = write_email(page, subject)
    assert compose.locator(".mailtick-toggle").inner_text() == WORDS[ui_lang]["on"]
    page.locator(SEND).click()

    html = sent_html(page)
    tracking_id = check_tracked_body(html, browser.server.url)
    row = page.locator("tr.zA").filter(has_text=subject)
    row.locator(".mailtick-check[data-mailtick-state=tracked]").wait_for()
    # What reached Gmail's server is that same body, at [8][1] of the message array.
    assert browser.gmail.sends[0][0][0][2][0][0][8][1] == html
    assert row.locator(".mailtick-check svg").count() == 1
    assert page.locator("tr.zA .mailtick-check").count() == 1, "untracked rows show nothing"
    thread = row.locator("[data-legacy-thread-id]").get_attribute("data-legacy-thread-id")

    message = wait_for_message(browser.server, token, subject, lambda m: m["gmail_thread_id"])
    assert message["id"] == tracking_id
    assert message["gmail_thread_id"] == thread
    assert message["gmail_message_id"] == thread  # a new thread's first message shares its id
    assert message["recipients"]["to"] == ["bob@example.com"]
    assert [link["url"] for link in message["links"]] == [
        "https://example.com/report?q=1&x=2",
        "https://example.org/",
    ]
    assert message["opens"] == 0, "the sender's own browser must not count as an open"

    assert browser.server.hit_pixel(message["pixel_url"]).status_code == 200
    mark = row.locator(".mailtick-check[data-mailtick-state=opened]")
    mark.wait_for()
    assert mark.locator("svg").count() == 2
    assert mark.get_attribute("title").startswith(WORDS[ui_lang]["opened"])


@pytest.mark.parametrize("route", ["ctrl+enter", "enter-on-send", "space-on-send"])
def test_send_by_keyboard_is_tracked(browser, route):
    token = browser.connect()
    page = browser.open_gmail()
    subject = f"Keyboard {route}"
    compose = write_email(page, subject)
    if route == "ctrl+enter":
        compose.locator("[g_editable=true]").press("Control+Enter")
    else:
        compose.locator(SEND).focus()
        page.keyboard.press("Enter" if route == "enter-on-send" else "Space")

    tracking_id = check_tracked_body(sent_html(page), browser.server.url)
    message = wait_for_message(browser.server, token, subject, lambda m: m["gmail_thread_id"])
    assert message["id"] == tracking_id
    page.locator("tr.zA").filter(has_text=subject).locator(".mailtick-check").wait_for()


def test_reply_with_send_and_archive_drops_the_quoted_pixel(browser):
    token = browser.connect()
    page = browser.open_gmail()
    write_email(page, "Original")
    page.locator(SEND).click()
    first_id = check_tracked_body(sent_html(page), browser.server.url)
    first = wait_for_message(browser.server, token, "Original", lambda m: m["gmail_message_id"])

    # The conversation view shows the pixel through Gmail's proxy; its check mark is there too.
    page.locator("tr.zA").filter(has_text="Original").click()
    page.locator("div.adn.ads .mailtick-check[data-mailtick-state=tracked]").wait_for()
    page.locator("span.ams").click()
    reply = page.locator(".ip .M9")
    reply.locator(".mailtick-toggle[data-mailtick-state=ready]").wait_for()
    body = reply.locator("[g_editable=true]")
    body.click()
    page.keyboard.type("Thanks!")
    body.evaluate(
        "b => b.firstChild.insertAdjacentHTML('beforeend', ' <a href=\"https://new.example/\">new</a>')"
    )
    reply.locator(".IZ .Up div > div[role=button].Uo").click()

    html = sent_html(page, 2)
    m = PIXEL.match(html)
    assert m and m["id"] != first_id
    assert first_id + ".gif" not in html, "the quoted message's pixel rode along"
    assert html.count("<img") == 1
    assert f'href="{browser.server.url}/c/{m["id"]}/0?u=https%3A%2F%2Fnew.example%2F"' in html
    # The quoted copy of the first message keeps its own (already tracked) links.
    assert f'href="{browser.server.url}/c/{first_id}/0?u=' in html
    assert page.evaluate("() => window.__sent[1].archive") is True
    second = wait_for_message(
        browser.server, token, "Re: Original", lambda m: m["gmail_message_id"]
    )
    assert second["gmail_thread_id"] == first["gmail_thread_id"]
    assert [(link["url"], link["clicks"]) for link in second["links"]] == [
        ("https://new.example/", 0)
    ]


def test_tracking_off_sends_untouched(browser):
    token = browser.connect()
    page = browser.open_gmail()
    compose = write_email(page, "Private")
    compose.locator(".mailtick-toggle").click()
    assert compose.locator(".mailtick-toggle").get_attribute("data-mailtick-state") == "off"
    compose.locator(SEND).click()
    html = sent_html(page)
    assert "<img" not in html
    assert 'href="https://example.org/"' in html
    page.locator("tr.zA").filter(has_text="Private").wait_for()
    time.sleep(1)
    history = api(browser.server, token, "GET", "/api/v1/messages").json()["messages"]
    assert history == []


def test_server_down_at_send_sends_untracked(browser, server_down):
    browser.connect()
    page = browser.open_gmail()
    compose = write_email(page, "Sent while the server is down", tracked=False)
    toggle = compose.locator(".mailtick-toggle")
    assert "server unreachable" in toggle.inner_text()
    compose.locator(SEND).click()

    html = sent_html(page)
    assert "<img" not in html
    assert 'href="https://example.com/report?q=1&amp;x=2"' in html
    page.locator("#toast [role=alert]").wait_for()
    page.locator("tr.zA").filter(has_text="Sent while the server is down").wait_for()
    assert page.locator("tr.zA .mailtick-check").count() == 0
    assert browser.storage("completionQueue") in (None, {})


def test_completion_survives_a_stopped_worker(browser, live_server):
    token = browser.connect()
    page = browser.open_gmail()
    write_email(page, "Queued while offline")
    live_server.stop()
    try:
        page.locator(SEND).click()
        tracking_id = check_tracked_body(sent_html(page), live_server.url)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            queue = browser.storage("completionQueue") or {}
            if queue.get(tracking_id, {}).get("fields", {}).get("gmail_thread_id"):
                break
            time.sleep(0.2)
        fields = queue[tracking_id]["fields"]
        assert fields["subject"] == "Queued while offline"
        assert fields["gmail_thread_id"]

        # Nothing else may wake the worker: close Gmail, then stop the worker the way a developer
        # would (Playwright's attached debugger would keep it alive through an idle timeout).
        page.close()
        internals = browser.new_page()
        internals.goto("chrome://serviceworker-internals/")
        worker = internals.locator(".serviceworker-registration", has_text=browser.extension_id)
        worker.locator("[data-command=stop]").click()
        worker.get_by_text("Running Status: STOPPED").wait_for()
    finally:
        live_server.start()

    message = wait_for_message(
        live_server, token, "Queued while offline", lambda m: m["gmail_thread_id"], timeout=30
    )
    assert message["id"] == tracking_id
    assert message["gmail_thread_id"] == fields["gmail_thread_id"]
    # Only the worker's alarm could have woken it: no Gmail page or popup was open.
    internals.reload()
    worker.get_by_text("Running Status: RUNNING").wait_for()
    browser.refresh_worker()
    deadline = time.monotonic() + 10
    while browser.storage("completionQueue") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert browser.storage("completionQueue") == {}
