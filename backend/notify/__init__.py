"""Notifications (docs/notifications.md): the activity feed, Web Push and email.

The classifier hands each batch of hits it applied to Notifier.enqueue(); the notifier's own
thread adds the counted ones to their accounts' feeds, then pushes the items that deserve a
notification and sends instant emails. Nothing here runs on a request's path, and nothing a
push service or a mail server does can hold up classification.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime

from .. import user_settings
from ..store import Account, Activity, Hit, Store, StoreError, utcnow
from . import feed
from . import prefs as _prefs  # noqa: F401 - registers the notification settings
from .digest import compose_instant
from .mail import Email, MailError, SmtpMailer, parse_smtp_url
from .push import Pusher, load_vapid

log = logging.getLogger(__name__)

RETRY_EVERY = 5.0
MAX_RETRY = 10_000


class Notifier:
    """Feed, push and instant email for the hits the classifier applied, in one thread."""

    def __init__(self, store: Store, config, *, pusher: Pusher | None = None, smtp=None):
        """`config` is the app's Settings. `smtp` is an SmtpMailer (tests pass their own)."""
        self.store = store
        self.config = config
        if config.vapid_private_key:
            try:  # a mistake in it stops the start, instead of every push failing later
                load_vapid(config.vapid_private_key)
            except Exception as exc:
                raise ValueError(
                    "MAILTICK_VAPID_PRIVATE_KEY is not a P-256 private key (raw or DER in"
                    " base64url, or PEM)"
                ) from exc
        self.pusher = pusher or Pusher(
            store, private_key=config.vapid_private_key, subject=config.push_subject
        )
        if smtp is None and config.smtp:
            parse_smtp_url(config.smtp_url)  # a mistake in it stops the start, with its reason
            smtp = SmtpMailer(config.smtp_url, config.mail_from)
        self.smtp = smtp
        self.gmail_http = None  # tests: an httplib2 mock for the Gmail API
        self._queue: deque[list[Hit]] = deque()
        self._retry: list[Hit] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Notifier:
        self._thread = threading.Thread(target=self._loop, name="mailtick-notify", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def enqueue(self, hits: list[Hit]) -> None:
        """The classifier applied these hits (Worker.on_classified)."""
        if hits:
            self._queue.append(list(hits))
            self._wake.set()

    def drain(self, now: datetime | None = None) -> list[Activity]:
        """Handle every hit handed over so far; return the feed items added.

        If the store fails, the hits are kept and handed in again on the next call (adding
        is idempotent, so what was added before is not added twice).
        """
        with self._lock:
            hits, self._retry = self._retry, []
            while self._queue:
                hits += self._queue.popleft()
            if not hits:
                return []
            now = now or utcnow()
            try:
                added = feed.record(self.store, hits, now, self.prefs)
            except StoreError as exc:
                log.warning("feed not written, will retry: %s", exc)
                # Bounded, so that a store down for long cannot fill the memory; the hits
                # themselves are safe in the store, only their feed items would be missing.
                self._retry = hits[-MAX_RETRY:]
                if len(hits) > MAX_RETRY:
                    log.error("dropped %d hits from the feed's retry", len(hits) - MAX_RETRY)
                return []
        self.deliver(added)
        return added

    def prefs(self, account_id: str) -> dict:
        return user_settings.effective(self.store.get_settings(account_id))

    def deliver(self, items: list[Activity]) -> None:
        """Push the items that notify, and email first opens to those who asked."""
        by_account: dict[str, list[Activity]] = {}
        for item in items:
            by_account.setdefault(item.account_id, []).append(item)
        for account_id, mine in by_account.items():
            try:
                self.pusher.push(account_id, [item for item in mine if item.notify])
                firsts = [item for item in mine if item.kind == "opened"]
                if firsts and self.prefs(account_id)["email_instant"]:
                    self._instant(account_id, firsts)
            except StoreError as exc:  # the items are in the feed: the extension catches up
                log.warning("notifications for account %s not sent: %s", account_id, exc)

    def _instant(self, account_id: str, items: list[Activity]) -> None:
        account = self.store.get_account(account_id)
        send = self.sender_for(account) if account else None
        if send is None:
            return
        time_zone = self.prefs(account_id)["time_zone"]
        for item in items:
            key = f"instant:{item.message_id}"
            if not self.store.claim_mark(account_id, key, utcnow()):
                continue  # sent already
            try:
                send(compose_instant(account, item, time_zone))
            except MailError as exc:
                self.store.release_mark(account_id, key)
                log.warning("instant email for account %s not sent: %s", account_id, exc)

    def sender_for(self, account: Account) -> Callable[[Email], None] | None:
        """How to email this account: from their own Gmail if they granted it, else SMTP."""
        from .gmail import gmail_sender

        send = gmail_sender(self.store, self.config, account, http=self.gmail_http)
        if send is not None:
            return send
        return self.smtp.send if self.smtp is not None else None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(RETRY_EVERY)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.drain()
            except Exception:  # never let one bad batch stop notifications for good
                log.exception("notification pass failed")
