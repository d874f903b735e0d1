"""Email notifications: the daily digest and the instant email for a first open.

The digest covers the user's previous day (in their time zone) and goes out at the first run
of the job after DIGEST_HOUR there; a mark per account and day makes sure it goes out once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from html import escape

from .. import user_settings
from ..store import Account, Activity, Store
from .mail import Email, MailError
from .prefs import zone

log = logging.getLogger(__name__)

# The digest of yesterday goes out at the first run of the job after this local hour.
DIGEST_HOUR = 7
MAX_ITEMS = 2000


def gmail_link(item: Activity) -> str | None:
    thread = item.gmail_thread_id or item.gmail_message_id
    return f"https://mail.google.com/mail/u/0/#all/{thread}" if thread else None


def _who(item: Activity) -> str:
    everyone = [*item.to, *item.cc, *item.bcc]
    if not everyone:
        return "your recipient"
    if len(everyone) == 1:
        return everyone[0]
    return f"{everyone[0]} and {len(everyone) - 1} other{'s' if len(everyone) > 2 else ''}"


def _subject(item: Activity) -> str:
    return item.subject.strip() or "(no subject)"


@dataclass
class _Summary:
    first: Activity
    opens: int = 0
    first_open: datetime | None = None
    clicks: dict[str, int] = field(default_factory=dict)


def compose_digest(account: Account, day: date, items: list[Activity], time_zone: str) -> Email:
    """The digest of one day's activity, in plain text and in HTML (every value escaped)."""
    tz = zone(time_zone)
    summaries: dict[str, _Summary] = {}
    for item in items:
        summary = summaries.setdefault(item.message_id, _Summary(first=item))
        if item.kind == "clicked":
            url = item.url or "(a link)"
            summary.clicks[url] = summary.clicks.get(url, 0) + 1
        else:
            summary.opens += 1
            summary.first_open = min(filter(None, [summary.first_open, item.at]))
    opened = sum(1 for s in summaries.values() if s.opens)
    clicks = sum(sum(s.clicks.values()) for s in summaries.values())
    label = f"{day:%a} {day.day} {day:%b %Y}"
    title = (
        f"Mailtick: {opened} email{'s' if opened != 1 else ''} opened,"
        f" {clicks} link click{'s' if clicks != 1 else ''} on {label}"
    )
    text = [f"What happened to the emails you tracked on {label} ({time_zone}):", ""]
    rows = []
    for summary in summaries.values():
        item = summary.first
        facts = []
        if summary.opens:
            at = summary.first_open.astimezone(tz)
            facts.append(
                f"opened {summary.opens} time{'s' if summary.opens != 1 else ''},"
                f" first at {at:%H:%M}"
            )
        for url, count in summary.clicks.items():
            facts.append(f"clicked {url}" + (f" ({count} times)" if count > 1 else ""))
        link = gmail_link(item)
        text.append(f"- {_subject(item)}  (to {_who(item)})")
        text += [f"    {fact}" for fact in facts]
        if link:
            text.append(f"    {link}")
        subject_html = escape(_subject(item))
        if link:
            subject_html = f'<a href="{escape(link, quote=True)}">{subject_html}</a>'
        rows.append(
            '<tr><td style="padding:6px 12px 6px 0;vertical-align:top">'
            f"<strong>{subject_html}</strong><br><small>to {escape(_who(item))}</small></td>"
            f'<td style="padding:6px 0;vertical-align:top">'
            f"{'<br>'.join(escape(fact) for fact in facts)}</td></tr>"
        )
    text += ["", "Only real readers count: your own views, machine prefetches and link scanners"]
    text += ["never appear here. Turn the digest off in Mailtick's options."]
    html = (
        '<!doctype html><html><body style="font-family:sans-serif;font-size:14px">'
        f"<p>What happened to the emails you tracked on {escape(label)}"
        f" ({escape(time_zone)}):</p>"
        f'<table style="border-collapse:collapse">{"".join(rows)}</table>'
        '<p style="color:#666;font-size:12px">Only real readers count: your own views,'
        " machine prefetches and link scanners never appear here. Turn the digest off in"
        " Mailtick's options.</p></body></html>"
    )
    return Email(to=account.email, subject=title, text="\n".join(text) + "\n", html=html)


def compose_instant(account: Account, item: Activity, time_zone: str) -> Email:
    """The email for a message's first open."""
    at = item.at.astimezone(zone(time_zone))
    subject = _subject(item)
    line = f"{_who(item)} opened \u201c{subject}\u201d at {at:%H:%M} ({time_zone})."
    link = gmail_link(item)
    text = line + (f"\n\n{link}\n" if link else "\n")
    where = f'<p><a href="{escape(link, quote=True)}">Open it in Gmail</a></p>' if link else ""
    html = (
        '<!doctype html><html><body style="font-family:sans-serif;font-size:14px">'
        f"<p>{escape(line)}</p>{where}</body></html>"
    )
    short = subject if len(subject) <= 80 else subject[:79] + "\u2026"
    return Email(to=account.email, subject=f"Opened: {short}", text=text, html=html)


# A sender for an account: send(email), or None when no transport can mail this account.
SenderFor = Callable[[Account], Callable[[Email], None] | None]


def day_bounds(day: date, time_zone: str) -> tuple[datetime, datetime]:
    """The UTC start and end of a local day (23 or 25 hours long when the clocks change)."""
    tz = zone(time_zone)
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def send_digests(
    store: Store,
    sender_for: SenderFor,
    now: datetime,
    *,
    day: date | None = None,
    accounts: list[Account] | None = None,
) -> dict:
    """Send each digest that is due: yesterday's (local), once DIGEST_HOUR has passed there.

    With `day`, that day's digest at once. Each account's digest of a day goes out once: a
    mark is set before sending and removed again only if the sending failed.
    """
    done = {"sent": 0, "already_sent": 0, "empty": 0, "not_yet": 0, "no_transport": 0}
    done["failed"] = 0
    for account in (
        accounts if accounts is not None else store.accounts_with_setting("email_digest", True)
    ):
        prefs = user_settings.effective(store.get_settings(account.id))
        time_zone = prefs["time_zone"]
        local_now = now.astimezone(zone(time_zone))
        wanted = day or local_now.date() - timedelta(days=1)
        if day is None and local_now.hour < DIGEST_HOUR:
            done["not_yet"] += 1
            continue
        start, end = day_bounds(wanted, time_zone)
        items = store.activity_between(account.id, start, end, MAX_ITEMS)
        if not items:
            done["empty"] += 1
            continue
        send = sender_for(account)
        if send is None:
            done["no_transport"] += 1
            continue
        key = f"digest:{wanted.isoformat()}"
        if not store.claim_mark(account.id, key, now):
            done["already_sent"] += 1
            continue
        try:
            send(compose_digest(account, wanted, items, time_zone))
        except MailError as exc:
            store.release_mark(account.id, key)  # so that the next run tries again
            log.warning("digest for account %s not sent: %s", account.id, exc)
            done["failed"] += 1
            continue
        done["sent"] += 1
    return done
