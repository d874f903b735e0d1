"""Privacy settings: recipients never to track, and the EU/EEA switch, applied at send time."""

from __future__ import annotations

import time

import pytest

from .conftest import api
from .test_compose import LINKS_HTML, SEND, sent_html, write_email


def assert_sent_untracked(browser, token: str, page, n: int = 1) -> None:
    """The captured body has no pixel and no tracked link, and nothing reached the server."""
    html = sent_html(page, n)
    assert "<img" not in html
    assert "/c/" not in html and "/p/" not in html
    assert 'href="https://example.com/report?q=1&amp;x=2"' in html
    assert 'href="https://example.org/"' in html
    time.sleep(1)
    assert browser.storage("completionQueue") in (None, {}), "no completion for an untracked email"
    assert api(browser.server, token, "GET", "/api/v1/messages").json()["messages"] == []


def test_never_track_a_domain_from_the_options_page(browser):
    token = browser.connect()
    page = browser.open_gmail()
    compose = write_email(page, "Settlement", to="clerk@eu.bank.test")
    toggle = compose.locator(".mailtick-toggle")
    assert toggle.get_attribute("data-mailtick-state") == "ready"

    options = browser.new_page()
    options.goto(browser.url("options/options.html"))
    status = options.locator("#privacy-status")
    options.locator("#never-track:enabled").wait_for()
    options.fill("#never-track", "Boss@Example.com\nnot a domain")
    options.click("#save-privacy")
    options.get_by_text("Not an address or a domain: not, a, domain").wait_for()
    assert status.get_attribute("data-state") == "error"
    options.fill("#never-track", "Boss@Example.com\n@Bank.test")
    options.click("#save-privacy")
    options.get_by_text("Saved.").wait_for()
    assert options.locator("#never-track").input_value() == "boss@example.com\nbank.test"
    settings = api(browser.server, token, "GET", "/api/v1/settings").json()
    # Only the privacy fields: other features keep their settings beside them.
    privacy = {key: settings[key] for key in ("never_track", "skip_eea")}
    assert privacy == {"never_track": ["boss@example.com", "bank.test"], "skip_eea": False}

    # The open compose hears of it at once: the subdomain's recipient is excluded.
    compose.locator(".mailtick-toggle[data-mailtick-state=privacy]").wait_for()
    assert toggle.inner_text() == ("Not tracked: your privacy settings exclude clerk@eu.bank.test")
    page.bring_to_front()
    compose.locator(SEND).click()
    assert_sent_untracked(browser, token, page)


@pytest.mark.parametrize("ui_lang", ["hi"])
def test_skip_eea_keeps_an_email_with_one_eu_recipient_untracked(browser, ui_lang):
    token = browser.connect()
    assert api(browser.server, token, "PATCH", "/api/v1/settings", {"skip_eea": True}).ok
    page = browser.open_gmail()
    compose = write_email(page, "Angebot", to="bob@example.com", html=LINKS_HTML)
    toggle = compose.locator(".mailtick-toggle")
    assert toggle.get_attribute("data-mailtick-state") == "ready", "a .com recipient is tracked"
    # One recipient at a German domain keeps the whole email untracked, even while it is still
    # being typed in Cc (Gmail makes it a chip only when the send has begun).
    compose.locator(".anm[name=cc] input").fill("anna@firma.de")
    compose.locator(".mailtick-toggle[data-mailtick-state=privacy]").wait_for()
    assert compose.locator(".anm[name=cc] [data-hovercard-id]").count() == 0
    assert "anna@firma.de" in toggle.inner_text()
    assert toggle.inner_text().startswith("ट्रैक नहीं होगा"), toggle.inner_text()
    compose.locator("[g_editable=true]").press("Control+Enter")
    assert_sent_untracked(browser, token, page)
