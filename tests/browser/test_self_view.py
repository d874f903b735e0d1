"""The sender's own views never count: pixels held back in Gmail, the server told who looks.

The fixture shows pixels as Gmail does, through its image proxy
(`https://ci3.googleusercontent.com/meips/...#<pixel url>`), and its stand-in proxy fetches the
pixel with Google's user agent whenever the page lets the image load.
"""

from __future__ import annotations

import time

from .conftest import api, tracked_message
from .gmail_server import GMAIL_PROXY_UA
from .test_checkmarks import wait_until_opened
from .test_compose import SEND

THREAD = "18c3000000000a01"
REPLY_THREAD = "18c3000000000c03"
THEIRS = "18c3000000000b02"
SETTLE_S = 5  # opens are classified 3 s after they arrive: wait past that


def body_with(pixel_url: str, text: str) -> str:
    return f'<img src="{pixel_url}" alt="" width="1" height="1"><div dir="ltr">{text}</div>'


def watch_signals(browser) -> list[list[str]]:
    """The ids of every self-view signal the extension's worker sends, one list per request."""
    signals: list[list[str]] = []
    browser.context.on(
        "request",
        lambda r: (
            r.url.endswith("/api/v1/messages/self-views")
            and signals.append(r.post_data_json["ids"])
        ),
    )
    return signals


def wait_for(page, condition, what: str, timeout: float = 10):
    """Poll `condition`; Playwright delivers events (requests seen) only while it is called, so
    wait through the page rather than with time.sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def detail(server, token: str, tracking_id: str) -> dict:
    return api(server, token, "GET", f"/api/v1/messages/{tracking_id}").json()


def conversation_image(page, n: int):
    return page.locator("div.adn.ads").nth(n).locator("div.a3s img")


def test_senders_own_view_stays_grey_until_a_recipient_opens(browser):
    token = browser.connect()
    mine = tracked_message(browser.server, token, "Our offer", THREAD)
    # In the same thread, a colleague on the same Mailtick server answered with their own
    # tracked email: the user reading that one is the colleague's reader, and must count.
    colleague = browser.server.token(f"colleague-{browser.account}")
    theirs = tracked_message(browser.server, colleague, "Re: Our offer", THEIRS)
    gmail = browser.gmail
    gmail.add_sent("Our offer", ["carol@example.com"], body_with(mine["pixel_url"], "Hi"), THREAD)
    gmail.add_sent(
        "Re: Our offer", ["me@example.com"], body_with(theirs["pixel_url"], "Yo"), THREAD, THEIRS
    )
    signals = watch_signals(browser)

    page = browser.open_gmail()
    row = page.locator(f"tr.zA:has([data-legacy-thread-id='{THREAD}'])")
    row.click()
    conversation_image(page, 0).and_(page.locator("img[data-mailtick-src]")).wait_for(
        state="attached"
    )
    wait_for(page, lambda: signals, "the self-view signal")
    assert signals == [[mine["id"], theirs["id"]]], "one batch for the render"
    # The sender's own pixel is held back; the colleague's is theirs and loads like any image.
    assert conversation_image(page, 0).get_attribute("src") is None
    assert (
        conversation_image(page, 0)
        .get_attribute("data-mailtick-src")
        .startswith("https://ci3.googleusercontent.com/meips/")
    )
    page.wait_for_function(
        "() => (document.querySelectorAll('div.adn.ads')[1].querySelector('div.a3s img').src"
        " || '').includes('/meips/')"
    )
    wait_for(
        page, lambda: theirs["pixel_url"] in gmail.proxy_fetches, "the colleague's pixel to load"
    )
    mark = page.locator("div.adn.ads").first.locator(".mailtick-check")
    mark.and_(page.locator("[data-mailtick-state=tracked]")).wait_for()

    # Gmail's proxy fetching the sender's pixel around the signal (the fixture builds this view
    # off-page, so Chromium may already have asked for it before the hold) is the sender's own.
    assert browser.server.hit_pixel(mine["pixel_url"], GMAIL_PROXY_UA).status_code == 200
    fetched_at = time.monotonic()

    # Back to the list and into the thread again: held again, and no second signal so soon.
    page.evaluate("() => { location.hash = '#sent'; }")
    row.wait_for()
    row.click()
    conversation_image(page, 0).and_(page.locator("img[data-mailtick-src]")).wait_for(
        state="attached"
    )
    page.wait_for_timeout(500)
    assert signals == [[mine["id"], theirs["id"]]], "a signal per message at most every 30 s"

    wait_until_opened(browser.server, colleague, theirs["id"])
    page.wait_for_timeout(max(0, SETTLE_S - (time.monotonic() - fetched_at)) * 1000)
    wait_for(
        page,
        lambda: all(
            e["class"] != "pending" for e in detail(browser.server, token, mine["id"])["events"]
        ),
        "the sender's hits to be classified",
    )
    message = detail(browser.server, token, mine["id"])
    proxy_hits = [e for e in message["events"] if e["user_agent"] == GMAIL_PROXY_UA]
    assert proxy_hits, message["events"]
    assert {(e["class"], e["counted"]) for e in message["events"]} == {("self", False)}
    assert (message["state"], message["opens"]) == ("tracked", 0)

    page.evaluate("() => { location.hash = '#sent'; }")
    grey = row.locator(".mailtick-check[data-mailtick-state=tracked]")
    grey.wait_for()
    assert grey.locator("svg").count() == 1
    assert grey.get_attribute("title") == "Tracked, not opened yet"

    # A recipient's own mail client turns it green.
    browser.server.hit_pixel(mine["pixel_url"])
    wait_until_opened(browser.server, token, mine["id"])
    green = row.locator(".mailtick-check[data-mailtick-state=opened]")
    green.wait_for()
    assert green.locator("svg").count() == 2


def test_view_right_after_replying_never_loads_the_pixel(browser):
    token = browser.connect()
    first = tracked_message(browser.server, token, "Plans", REPLY_THREAD)
    browser.gmail.add_sent(
        "Plans", ["carol@example.com"], body_with(first["pixel_url"], "Hi"), REPLY_THREAD
    )
    signals = watch_signals(browser)
    page = browser.open_gmail(view=f"#sent/{REPLY_THREAD}")
    wait_for(page, lambda: [first["id"]] in signals, "the signal for the opened message")

    page.locator("span.ams").click()
    reply = page.locator(".ip .M9")
    reply.locator(".mailtick-toggle[data-mailtick-state=ready]").wait_for()
    reply.locator("[g_editable=true]").click()
    page.keyboard.type("Sounds good.")
    # Quoted text in the reply shows the first message's pixel: dropped at once.
    assert reply.locator("img").count() == 0
    reply.locator(SEND).click()

    # Gmail adds the sent reply to the open conversation, in place, under its draft id, with
    # its pixel behind the image proxy. The hold sees it before Chromium asks for it.
    new = page.locator("div.adn.ads[data-message-id^='#msg-a:']")
    new.locator("div.a3s img[data-mailtick-src]").wait_for(state="attached")
    held = new.locator("div.a3s img").get_attribute("data-mailtick-src")
    reply_id = held.rsplit("/p/", 1)[1].removesuffix(".gif")
    assert reply_id != first["id"]
    wait_for(page, lambda: [reply_id] in signals, "the signal for the sent reply")
    # A held pixel still tells the check marks which message this is.
    new.locator(".mailtick-check[data-mailtick-state=tracked]").wait_for()
    page.wait_for_timeout(500)
    assert not [u for u in browser.gmail.proxy_fetches if reply_id in u], (
        browser.gmail.proxy_fetches
    )
    assert new.locator("div.a3s img").get_attribute("src") is None
