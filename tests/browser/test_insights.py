"""Insights in the extension: the compose hint, the popup's heatmap and contacts, reminders set
from the compose and cancelled by a reply Gmail shows, and due reminders raised and acknowledged."""

from __future__ import annotations

import datetime as dt
import secrets
import time

from backend.store import Hit

from .conftest import api
from .test_compose import SEND, wait_for_message, write_email

ALICE = "alice@example.com"
CAROL = "carol@example.com"
# Tuesdays at 07:00 UTC, three to eight weeks back; each first opened at 08:30 (hour 8).
FIRST_TUESDAY = dt.datetime(2026, 10, 6, 7, 0, tzinfo=dt.UTC)


def sent_message(server, token: str, to: str, sent_at: dt.datetime, subject: str) -> str:
    """A tracked email completed through the API as sent at `sent_at`, to `to` alone."""
    made = api(server, token, "POST", "/api/v1/messages", {})
    assert made.status_code == 201, made.text
    message_id = made.json()["id"]
    done = api(
        server,
        token,
        "PATCH",
        f"/api/v1/messages/{message_id}",
        {
            "subject": subject,
            "recipients": {"to": [to]},
            "sent_at": sent_at.isoformat().replace("+00:00", "Z"),
            "gmail_thread_id": f"{secrets.randbits(56):x}",
        },
    )
    assert done.status_code == 200, done.text
    return message_id


def seed_history(server, token: str, opened: int = 6) -> list[str]:
    """`opened` emails to Alice alone, each first opened by a person on a Tuesday at 08:30 UTC."""
    ids = []
    for week in range(opened):
        sent_at = FIRST_TUESDAY + dt.timedelta(weeks=week)
        message_id = sent_message(server, token, ALICE, sent_at, f"Weekly {week}")
        server.store.record_hits(
            [
                Hit(
                    id=secrets.token_urlsafe(12),
                    message_id=message_id,
                    kind="open",
                    at=sent_at + dt.timedelta(hours=1, minutes=30),
                    cls="human",
                    counted=True,
                )
            ]
        )
        ids.append(message_id)
    return ids


def wait_until(check, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: never happened (last: {last!r})")


def test_compose_hint_for_a_known_recipient_offers_schedule_send(browser):
    token = browser.connect()
    seed_history(browser.server, token)
    expected = api(browser.server, token, "GET", f"/api/v1/insights/recipients/{ALICE}").json()
    assert expected["peak_windows"]["hours"]["start"] == 8, expected
    page = browser.open_gmail()

    page.click("#compose-button")
    compose = page.locator(".AD .M9").last
    compose.locator(".anm[name=to] input").fill(ALICE)
    compose.locator(".anm[name=to] input").press("Enter")
    hint = compose.locator(".mailtick-hint:not([hidden])")
    hint.wait_for()
    assert hint.locator(".mailtick-hint-text").inner_text() == (
        f"{ALICE} usually opens your email Tue, 8–9"
    )
    when = hint.locator(".mailtick-hint-when")
    assert when.get_attribute("data-mailtick-at") == expected["suggested_send_local"]
    assert "08:00" in when.inner_text()

    # The offer opens Gmail's own schedule-send menu (the button beside Send).
    compose.locator("[aria-haspopup=true]").evaluate(
        "b => b.addEventListener('click', () => { window.__scheduleOpened = true; })"
    )
    hint.locator(".mailtick-hint-schedule").click()
    page.wait_for_function("() => window.__scheduleOpened === true")

    # A second recipient: the insight is no longer one person's, the hint goes.
    compose.locator(".anm[name=cc] input").fill(CAROL)
    compose.locator(".anm[name=cc] input").press("Enter")
    compose.locator(".mailtick-hint[hidden][data-mailtick-address='']").wait_for(state="attached")

    # Sending is never held up by the hint: the email goes out tracked at once.
    compose.locator("input[name=subjectbox]").fill("With hint")
    compose.locator("[g_editable=true]").click()
    page.keyboard.type("Hello")
    compose.locator(SEND).click()
    page.wait_for_function("() => window.__sent.length === 1")
    assert "/p/" in page.evaluate("() => window.__sent[0].html")


def test_popup_draws_the_heatmap_and_marks_who_reads_but_never_replies(browser):
    token = browser.connect()
    seed_history(browser.server, token)
    # Carol replied once: replies are seen, so Alice's silence means something.
    carol = sent_message(
        browser.server, token, CAROL, FIRST_TUESDAY + dt.timedelta(days=1), "For Carol"
    )
    reply = api(
        browser.server,
        token,
        "POST",
        f"/api/v1/messages/{carol}/replies",
        {"from": CAROL, "at": "2026-10-08T09:00:00Z", "gmail_message_id": "18c2f0a1b2c3d4e5"},
    )
    assert reply.status_code == 201, reply.text

    page = browser.new_page()
    page.goto(browser.url("popup/popup.html#insights"))
    picture = page.locator("#heatmap svg")
    picture.wait_for()
    assert page.locator("#heatmap svg rect").count() == 7 * 24
    assert picture.get_attribute("data-peak-day") == "1"
    assert picture.get_attribute("data-peak-hour") == "8"
    peak = page.locator("#heatmap svg rect[data-day='1'][data-hour='8']")
    assert peak.get_attribute("data-count") == "6"
    assert peak.get_attribute("data-level") == "4"
    # Carol's email was never opened: one shaded cell, the rest blank.
    assert page.locator("#heatmap svg rect[data-level='0']").count() == 7 * 24 - 1
    assert page.locator("#peak").inner_text() == "Your email is usually opened Tue, 8–9"
    assert page.locator("#peak").get_attribute("data-kind") == "peak"

    alice = page.locator(f"#contact-list li[data-address='{ALICE}']")
    alice.wait_for()
    assert alice.get_attribute("data-reads-but-never-replies") == "true"
    assert alice.locator(".contact-nrr").inner_text() == "Reads, never replies"
    assert "6 sent · 100% opened · first open after 2 h · 0% replied" in alice.inner_text()
    carol_item = page.locator(f"#contact-list li[data-address='{CAROL}']")
    assert carol_item.get_attribute("data-reads-but-never-replies") == "false"
    assert carol_item.locator(".contact-nrr").count() == 0


def test_popup_says_why_there_is_no_suggestion(browser):
    token = browser.connect()
    seed_history(browser.server, token, opened=3)
    page = browser.new_page()
    page.goto(browser.url("popup/popup.html#insights"))
    page.locator("#peak[data-kind=none]").wait_for()
    assert "3 of the 6 opened emails" in page.locator("#peak").inner_text()
    assert page.locator("#heatmap svg rect[data-level='4']").count() == 1


def test_reminder_from_compose_is_cancelled_by_a_reply_shown_in_gmail(browser):
    token = browser.connect()
    page = browser.open_gmail()
    compose = write_email(page, "Proposal", to=ALICE)
    compose.locator(".mailtick-remind-select").select_option("3")
    before = dt.datetime.now(dt.UTC)
    compose.locator(SEND).click()

    message = wait_for_message(browser.server, token, "Proposal", lambda m: m["gmail_thread_id"])
    path = f"/api/v1/messages/{message['id']}/reminder"
    reminder = wait_until(
        lambda: (r := api(browser.server, token, "GET", path)).status_code == 200 and r.json(),
        "the reminder chosen in the compose reached the server",
    )
    assert reminder["status"] == "scheduled"
    due = dt.datetime.fromisoformat(reminder["due_at"].replace("Z", "+00:00"))
    assert dt.timedelta(days=3) <= due - before < dt.timedelta(days=3, minutes=1)

    thread = message["gmail_thread_id"]
    # Someone else in the thread first: not a recipient, not a reply to report.
    browser.gmail.add_reply(thread, "mallory@example.com", "<p>me too</p>")
    answer = browser.gmail.add_reply(thread, ALICE, "<p>Sounds good</p>")
    page.evaluate(f"() => {{ location.hash = '#sent/{thread}'; }}")
    page.wait_for_function("() => window.__fixture && window.__fixture.ready")
    page.locator(f"span.gD[email='{ALICE}']").wait_for()

    replies_path = f"/api/v1/messages/{message['id']}/replies"
    replies = wait_until(
        lambda: api(browser.server, token, "GET", replies_path).json()["replies"],
        "the reply shown in Gmail was reported",
    )
    assert [(r["from"], r["gmail_message_id"], r["source"]) for r in replies] == [
        (ALICE, answer["msg"], "extension")
    ]
    reminder = api(browser.server, token, "GET", path).json()
    assert (reminder["status"], reminder["cancel_reason"]) == ("cancelled", "reply")
    assert f"{thread}:{answer['msg']}" in browser.storage("repliesReported")


def test_due_reminder_is_notified_and_acknowledged_in_the_popup(browser):
    token = browser.connect(reminderPollMinutes=0.02)
    message_id = sent_message(
        browser.server, token, ALICE, dt.datetime.now(dt.UTC) - dt.timedelta(days=4), "Chase me"
    )
    due_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    put = api(
        browser.server,
        token,
        "PUT",
        f"/api/v1/messages/{message_id}/reminder",
        {"due_at": due_at.isoformat().replace("+00:00", "Z")},
    )
    assert put.status_code == 200, put.text
    assert browser.server.store.fire_reminder(message_id, due_at + dt.timedelta(seconds=1))

    note = f"reminder:{message_id}"
    wait_until(
        lambda: note in browser.worker.evaluate("() => chrome.notifications.getAll()"),
        "the alarm raised the reminder's notification",
        timeout=15,
    )
    page = browser.new_page()
    page.goto(browser.url("popup/popup.html#insights"))
    item = page.locator(f"#due-list li[data-id='{message_id}']")
    item.wait_for()
    assert "Chase me" in item.inner_text()
    wait_until(
        lambda: (
            api(browser.server, token, "GET", f"/api/v1/messages/{message_id}/reminder").json()[
                "status"
            ]
            == "acked"
        ),
        "the reminder shown in the popup was acknowledged",
    )
    wait_until(
        lambda: note not in browser.worker.evaluate("() => chrome.notifications.getAll()"),
        "the acknowledged reminder's notification was cleared",
    )
