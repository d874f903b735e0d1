"""Check marks on rows Gmail already shows: batched, idempotent, nothing on untracked mail."""

from __future__ import annotations

import time

from .conftest import api, tracked_message

OPENED_THREAD = "18c2f0a1b2c3d4e5"  # seeded rows of the fake Gmail's Sent list
TRACKED_THREAD = "18c2e9f0a0b1c2d3"
UNTRACKED_THREAD = "18c2e0000000abcd"


def wait_until_opened(server, token: str, tracking_id: str, opens: int = 1) -> None:
    """Hits are classified a few seconds after they arrive; wait until the server counts them."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        message = api(server, token, "GET", f"/api/v1/messages/{tracking_id}").json()
        if message["opens"] >= opens:
            return
        time.sleep(0.25)
    raise AssertionError(f"the server never counted {opens} open(s): {message}")


def row(page, thread: str):
    return page.locator(f"tr.zA:has([data-legacy-thread-id='{thread}'])")


def test_one_status_call_per_render_and_idempotent_marks(browser):
    token = browser.connect()
    browser.settings(refreshSeconds=600)  # no timed refresh during this test
    opened = tracked_message(browser.server, token, "Lunch on Friday?", OPENED_THREAD)
    tracked_message(browser.server, token, "Slides", TRACKED_THREAD)
    browser.server.hit_pixel(opened["pixel_url"])
    wait_until_opened(browser.server, token, opened["id"])
    calls = []
    status_url = "/api/v1/messages/status"
    browser.context.on(
        "request", lambda r: r.url.endswith(status_url) and calls.append(r.post_data_json)
    )

    page = browser.open_gmail()
    row(page, OPENED_THREAD).locator(".mailtick-check[data-mailtick-state=opened]").wait_for()
    row(page, TRACKED_THREAD).locator(".mailtick-check[data-mailtick-state=tracked]").wait_for()
    assert row(page, OPENED_THREAD).locator(".mailtick-check svg").count() == 2
    assert row(page, TRACKED_THREAD).locator(".mailtick-check svg").count() == 1
    title = row(page, OPENED_THREAD).locator(".mailtick-check").get_attribute("title")
    assert title.startswith("Opened once"), title
    assert row(page, UNTRACKED_THREAD).locator(".mailtick-check").count() == 0
    page.wait_for_timeout(1000)  # not time.sleep: Playwright reports requests only while called
    assert len(calls) == 1, calls
    assert {OPENED_THREAD, TRACKED_THREAD, UNTRACKED_THREAD} <= set(calls[0]["gmail_ids"])

    # Gmail rebuilds rows all the time: the marks come back, once each, with no new request.
    page.evaluate(
        """() => {
          const body = document.querySelector('[gh=tl] tbody');
          body.replaceChildren(...[...body.children].map(r => {
            const copy = r.cloneNode(true);
            copy.querySelectorAll('.mailtick-check').forEach(m => m.remove());
            return copy;
          }));
        }"""
    )
    row(page, OPENED_THREAD).locator(".mailtick-check").wait_for()
    page.wait_for_timeout(500)
    assert page.locator("tr.zA .mailtick-check").count() == 2
    assert len(calls) == 1, "re-applying marks to rebuilt rows must not ask the server again"

    # A change of view is a new render: exactly one more batched call.
    page.evaluate("() => { location.hash = '#inbox'; }")
    page.wait_for_function("() => !document.querySelector('tr.zA')")
    page.evaluate("() => { location.hash = '#sent'; }")
    row(page, OPENED_THREAD).locator(".mailtick-check[data-mailtick-state=opened]").wait_for()
    page.wait_for_timeout(1000)
    assert len(calls) == 2, calls


def test_marks_follow_new_activity(browser):
    token = browser.connect()  # refreshes every 2 s
    message = tracked_message(browser.server, token, "Slides", TRACKED_THREAD)
    page = browser.open_gmail()
    mark = row(page, TRACKED_THREAD).locator(".mailtick-check")
    mark.locator("xpath=self::*[@data-mailtick-state='tracked']").wait_for()
    # Two readers (the server counts the same reader again within a minute only once).
    browser.server.hit_pixel(message["pixel_url"])
    browser.server.hit_pixel(message["pixel_url"], user_agent="Mozilla/5.0 (iPhone) Mobile/15E148")
    wait_until_opened(browser.server, token, message["id"], opens=2)
    row(page, TRACKED_THREAD).locator(".mailtick-check[data-mailtick-state=opened]").wait_for()
    assert mark.get_attribute("title").startswith("Opened 2 times, last")


def test_signed_out_shows_nothing_and_breaks_nothing(browser):
    page = browser.open_gmail()
    page.click("#compose-button")
    toggle = page.locator(".mailtick-toggle[data-mailtick-state=unavailable]")
    toggle.wait_for()
    assert "connect Mailtick" in toggle.inner_text()
    assert page.locator(".mailtick-check").count() == 0
