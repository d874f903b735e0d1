"""Fixtures for end-to-end tests of the extension in Debian's Chromium.

Chromium runs headless with the unpacked extension and reaches `https://mail.google.com`
through `--host-resolver-rules`, which points it at the fixture server (gmail_server.py). The
real backend is the session's `live_server` (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from .gmail_server import FakeGmail

ROOT = Path(__file__).resolve().parent.parent.parent
EXTENSION = ROOT / "extension"
CHROMIUM = Path(os.environ.get("MAILTICK_CHROMIUM", "/usr/lib/chromium/chromium"))
TIMEOUT_MS = 10_000

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = (
            f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium` "
            "(or set MAILTICK_CHROMIUM) to run the browser tests"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        message = "the playwright Python package is missing: pip install -r requirements-dev.txt"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def fake_gmail(tmp_path_factory):
    server = FakeGmail(tmp_path_factory.mktemp("gmail"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright_driver(chromium):
    from playwright.sync_api import sync_playwright

    # Lets tests see the service worker's own requests (to count status calls, see PATCHes).
    os.environ["PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS"] = "1"
    with sync_playwright() as p:
        yield p


class Browser:
    """One Chromium profile with Mailtick loaded, and helpers to drive it."""

    def __init__(self, context, gmail: FakeGmail, server, account: str):
        self.context = context
        self.gmail = gmail
        self.server = server
        self.account = account
        self.errors: list[str] = []
        self.worker = self._worker()
        self.extension_id = self.worker.url.split("/")[2]

    def _worker(self):
        for sw in self.context.service_workers:
            if sw.url.endswith("/sw.js"):
                return sw
        return self.context.wait_for_event("serviceworker", timeout=TIMEOUT_MS)

    def refresh_worker(self):
        """Find the worker again after it was stopped and restarted."""
        self.worker = self._worker()
        return self.worker

    def url(self, page: str) -> str:
        return f"chrome-extension://{self.extension_id}/{page}"

    def settings(self, **values) -> None:
        self.worker.evaluate("v => chrome.storage.local.set(v)", values)

    def storage(self, key: str):
        return self.worker.evaluate("k => chrome.storage.local.get(k).then(r => r[k])", key)

    def connect(self, **extra) -> str:
        """Point the extension at the live server with a fresh token (as options would)."""
        token = self.server.token(self.account)
        self.settings(
            server=self.server.url, token=token, refreshSeconds=2, retryMinutes=0.05, **extra
        )
        return token

    def new_page(self):
        page = self.context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        # Shown by pytest only when a test fails.
        page.on("console", lambda m: print(f"[{page.url[:40]}] {m.type}: {m.text}"))
        return page

    def open_gmail(self, hl: str = "en", view: str = "#sent"):
        page = self.new_page()
        page.goto(f"https://mail.google.com/mail/u/0/?hl={hl}{view}")
        page.wait_for_function("() => window.__fixture && window.__fixture.ready")
        page.evaluate("() => window.__fixture.ready")
        return page


@pytest.fixture
def ui_lang() -> str:
    """Chromium's UI language (the extension's own words); tests parametrize it to run in Hindi."""
    return "en"


@pytest.fixture
def browser(playwright_driver, fake_gmail, live_server, request, ui_lang):
    """A fresh Chromium profile with Mailtick, signed in to the live server as a new account."""
    profile = Path(tempfile.mkdtemp(prefix="mailtick-profile-"))
    ext = str(EXTENSION)
    context = playwright_driver.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        ignore_https_errors=True,
        env={**os.environ, "LANGUAGE": ui_lang},
        args=[
            "--headless=new",
            f"--lang={ui_lang}",
            "--no-sandbox",
            f"--disable-extensions-except={ext}",
            f"--load-extension={ext}",
            "--disable-features=DisableLoadExtensionCommandLineSwitch",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--ignore-certificate-errors",
            # The fixture server plays Gmail and (as ciN.googleusercontent.com) its image proxy.
            f"--host-resolver-rules=MAP mail.google.com 127.0.0.1:{fake_gmail.port},"
            f" MAP *.googleusercontent.com 127.0.0.1:{fake_gmail.port}",
        ],
    )
    fake_gmail.reset()
    name = request.node.name.replace("[", "-").replace("]", "")
    account = f"{name}-{time.monotonic_ns()}@example.com"
    b = Browser(context, fake_gmail, live_server, account.lower())
    try:
        yield b
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)
    assert not b.errors, f"uncaught errors in pages: {b.errors}"


@pytest.fixture
def server_down(live_server):
    """Stop the live server for a while; it is always running again after the test."""
    live_server.stop()
    try:
        yield live_server
    finally:
        if live_server.process is None:
            live_server.start()


def api(server, token: str, method: str, path: str, body=None):
    import requests

    response = requests.request(
        method,
        server.url + path,
        headers={"Authorization": f"Bearer {token}"},
        json=body,
        timeout=10,
    )
    return response


def tracked_message(server, token: str, subject: str, thread: str | None = None) -> dict:
    """A message sent through Mailtick on 2026-11-20, long enough ago that no open is the
    sender's own view; with `thread`, Gmail knows it by that message and thread id."""
    reserved = api(server, token, "POST", "/api/v1/messages", {}).json()
    body = {
        "subject": subject,
        "recipients": {"to": ["carol@example.com"], "cc": [], "bcc": []},
        "links": [],
        "sent_at": "2026-11-20T10:00:00Z",
    }
    if thread:
        body.update(gmail_message_id=thread, gmail_thread_id=thread)
    response = api(server, token, "PATCH", f"/api/v1/messages/{reserved['id']}", body)
    assert response.status_code == 200, response.text
    return reserved
