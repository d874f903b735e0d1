"""The `mailtick` command: serve, token, demo, purge, reminders."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from urllib.parse import quote

from . import __version__


def _settings():
    from .config import Settings

    return Settings.from_env()


def _store():
    from .store import open_store

    return open_store(_settings().store_url)


# Two processes a core, four threads each: the pixel is short CPU work, and fewer threads per
# process wait less on each other for Python's GIL (bench/run.py: 0.36x the bare app's
# throughput at 2x8 on 2 cores, 0.67x at 4x4; docs/performance.md).
DEFAULT_THREADS = 4


def default_workers() -> int:
    return max(2, 2 * (os.cpu_count() or 1))


def serve(args) -> int:
    """Run the app under gunicorn: a worker per core, threads for the pixel's short requests."""
    from gunicorn.app.base import BaseApplication

    from . import create_app
    from .store import open_store

    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "threads": args.threads,
        "worker_class": "gthread",
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": "-" if args.access_log else None,
        "errorlog": "-",
        "loglevel": "info",
    }

    class Server(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self):
            return create_app()

    settings = _settings()
    print(
        f"Mailtick {__version__} on http://{args.host}:{args.port} ({settings.store_url})",
        flush=True,
    )
    if settings.store_url.startswith("sqlite:"):
        # Bring the schema up to date here, once, before gunicorn starts its workers. Left to
        # them, a migration that rebuilds a large table would run inside a booting worker,
        # which gunicorn kills after `timeout` seconds, while the others wait for its lock.
        # (Not for Firestore: its client must not be made before gunicorn forks.)
        open_store(settings.store_url).close()
    Server().run()
    return 0


def token_create(args) -> int:
    from .auth import issue_token
    from .store import utcnow

    store = _store()
    account = store.ensure_account(args.email, utcnow())
    token = issue_token(store, account, label=args.label)
    print(f"API token for {account.email} (shown once; keep it secret):")
    print(token)
    return 0


def token_revoke(args) -> int:
    from .auth import hash_token

    if _store().revoke_token(hash_token(args.token)):
        print("Revoked.")
        return 0
    print("No such token on this server.", file=sys.stderr)
    return 1


def purge(args) -> int:
    """Drop unsent reservations and raw hits past their retention, as the server does hourly."""
    from datetime import timedelta

    from .background import Worker
    from .store import open_store

    settings = _settings()
    worker = Worker(
        open_store(settings.store_url), retention=timedelta(days=settings.retention_days)
    )
    done = worker.clean_up()
    print(
        f"Dropped {done['purged_reservations']} reservation(s) that were never sent and"
        f" {done['purged_hits']} raw hit(s) older than {settings.retention_days} days."
    )
    return 0


def digest(args) -> int:
    """Send the daily email digests that are due, as App Engine's cron does every hour."""
    from datetime import date

    from .notify import Notifier
    from .notify.digest import send_digests
    from .store import utcnow

    settings = _settings()
    store = _store()
    notifier = Notifier(store, settings)
    accounts = None
    if args.email:
        account = store.ensure_account(args.email, utcnow())
        accounts = [account]
    day = date.fromisoformat(args.day) if args.day else None
    done = send_digests(store, notifier.sender_for, utcnow(), day=day, accounts=accounts)
    print(
        f"Sent {done['sent']} digest(s); {done['already_sent']} already sent,"
        f" {done['empty']} with no activity, {done['not_yet']} not due yet,"
        f" {done['no_transport']} with no way to send, {done['failed']} failed."
    )
    if done["no_transport"] and not settings.smtp:
        print(
            "Set MAILTICK_SMTP_URL and MAILTICK_MAIL_FROM to send digests (docs/notifications.md).",
            file=sys.stderr,
        )
    return 1 if done["failed"] else 0


def reminders(args) -> int:
    """Fire the follow-up reminders that fell due with no reply (what /cron/reminders does)."""
    from .insights.reminders import run
    from .store import utcnow

    fired = run(_store(), utcnow())
    for item in fired:
        print(f"{item.reminder.id}  {item.text()}")
    print(f"{len(fired)} reminder(s) fell due.")
    return 0


def demo(args) -> int:
    """Walk one message through reserve, complete, an open and a click against a server."""
    import requests

    try:
        return _demo(args, requests)
    except requests.RequestException as exc:
        print(
            f"mailtick: cannot reach {args.server} ({type(exc).__name__}). Is the server running?"
            " Start it with 'make run' or 'mailtick serve'.",
            file=sys.stderr,
        )
        return 1


def _demo(args, requests) -> int:
    server = args.server.rstrip("/")
    token = args.token or os.environ.get("MAILTICK_TOKEN")
    if not token:
        from .auth import issue_token
        from .store import utcnow

        store = _store()
        account = store.ensure_account("demo@mailtick.local", utcnow())
        token = issue_token(store, account, label="demo")
        print(f"Using a new token for {account.email} from the local store.")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def call(method, path, **kwargs):
        response = session.request(method, f"{server}/api/v1{path}", timeout=10, **kwargs)
        if response.status_code >= 400:
            detail = response.json().get("error", {}).get("message", response.text)
            raise SystemExit(f"{method} {path} failed ({response.status_code}): {detail}")
        return response.json()

    from datetime import UTC, datetime, timedelta

    reserved = call("POST", "/messages", json={})
    print(f"1. Reserved {reserved['id']} when the compose window opened.")
    link = "https://example.com/pricing?plan=team"
    # Sent a few minutes ago: a click seconds after sending would rightly look like a scanner.
    sent_at = datetime.now(UTC) - timedelta(minutes=5)
    call(
        "PATCH",
        f"/messages/{reserved['id']}",
        json={
            "subject": "Mailtick demo: proposal",
            "recipients": {"to": ["alice@example.com"], "cc": [], "bcc": []},
            "links": [link],
            "sent_at": sent_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    print("2. Sent 5 minutes ago and completed: subject, recipient and one tracked link.")
    status = call("POST", "/messages/status", json={"ids": [reserved["id"]]})["statuses"][0]
    print(f"   Gmail shows: {_marks(status)}")
    # Alice reads in Apple Mail on her Mac and clicks through to Safari.
    alice = {
        "User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
    }
    pixel = requests.get(reserved["pixel_url"], timeout=10, headers=alice)
    print(
        f"3. Alice opened the email (pixel answered {pixel.status_code},"
        f" {len(pixel.content)} bytes)."
    )
    click = requests.get(
        f"{reserved['click_base']}/0?u={quote(link, safe='')}",
        timeout=10,
        allow_redirects=False,
        headers=alice,
    )
    print(
        f"4. Alice clicked the link (redirected {click.status_code}"
        f" to {click.headers.get('Location')})."
    )
    # Hits are classified once they settle (a few seconds): wait for the verdict.
    deadline = time.monotonic() + 30
    while True:
        status = call("POST", "/messages/status", json={"ids": [reserved["id"]]})["statuses"][0]
        if status["state"] == "opened" and status["clicks"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(f"   Gmail shows: {_marks(status)}")
    return 0 if status["state"] == "opened" else 1


def _marks(status: dict) -> str:
    if status["state"] == "opened":
        plural = "" if status["opens"] == 1 else "s"
        clicks = f", {status['clicks']} click{'' if status['clicks'] == 1 else 's'}"
        return f"✓✓ opened {status['opens']} time{plural}{clicks} (state {status['state']})"
    return f"✓ tracked, not opened yet (state {status['state']})"


def addon_manifest(args) -> int:
    """Print the Gmail add-on's deployment descriptor with every URL on the given base URL."""
    import json

    from .addon.manifest import descriptor

    base_url = args.base_url or os.environ.get("MAILTICK_BASE_URL", "")
    if not base_url:
        print(
            "mailtick: pass --base-url https://your-server (or set MAILTICK_BASE_URL)",
            file=sys.stderr,
        )
        return 2
    configured = os.environ.get("MAILTICK_BASE_URL", "").rstrip("/")
    if configured and configured != base_url.rstrip("/"):
        # The server checks that Google signed each request for its own base URL + path.
        print(
            f"mailtick: warning: the server's MAILTICK_BASE_URL is {configured}; it must equal"
            " --base-url, or the server will refuse the add-on's requests",
            file=sys.stderr,
        )
    print(json.dumps(descriptor(base_url), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mailtick", description="Email tracking for Gmail.")
    root.add_argument("--version", action="version", version=f"mailtick {__version__}")
    commands = root.add_subparsers(dest="command", required=True)

    run = commands.add_parser("serve", help="serve Mailtick with gunicorn")
    run.add_argument("--host", default=os.environ.get("MAILTICK_HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    run.add_argument(
        "--workers", type=int, default=int(os.environ.get("MAILTICK_WORKERS", default_workers()))
    )
    run.add_argument(
        "--threads", type=int, default=int(os.environ.get("MAILTICK_THREADS", DEFAULT_THREADS))
    )
    run.add_argument("--access-log", action="store_true", help="log every request")
    run.set_defaults(func=serve)

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="create the account if needed and print a new token")
    create.add_argument("email")
    create.add_argument("--label", default="cli")
    create.set_defaults(func=token_create)
    revoke = token.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token")
    revoke.set_defaults(func=token_revoke)

    walk = commands.add_parser("demo", help="walk one tracked message through its life")
    walk.add_argument(
        "--server", default=os.environ.get("MAILTICK_BASE_URL", "http://127.0.0.1:8080")
    )
    walk.add_argument("--token", help="API token (default: $MAILTICK_TOKEN, else a new local one)")
    walk.set_defaults(func=demo)

    drop = commands.add_parser(
        "purge", help="drop unsent reservations and raw hits past their retention"
    )
    drop.set_defaults(func=purge)

    remind = commands.add_parser(
        "reminders", help="fire the follow-up reminders that fell due with no reply"
    )
    remind.set_defaults(func=reminders)

    mail = commands.add_parser(
        "digest", help="send the daily email digests that are due (yesterday's activity)"
    )
    mail.add_argument("--day", help="send this day's digest now (YYYY-MM-DD, the user's day)")
    mail.add_argument("--email", help="only this account (even if it did not turn digests on)")
    mail.set_defaults(func=digest)

    addon = commands.add_parser("addon", help="the Gmail add-on").add_subparsers(
        dest="addon_command", required=True
    )
    manifest = addon.add_parser(
        "manifest", help="print the add-on's deployment descriptor for this server"
    )
    manifest.add_argument("--base-url", help="the server's public https:// URL")
    manifest.set_defaults(func=addon_manifest)
    return root


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # configuration mistakes: say what to fix, no traceback
        print(f"mailtick: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
