"""How one contact engages with the user's tracked emails: how many they open, how soon, when."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

# The rules insights share with this card: who an email went to, what counts as opened, the
# median time to the first open.
from ..insights.engagement import median_delay, opened, recipients
from ..store import Hit, Message

# Opens of these classes are a reader's; unclassified counted opens are taken as one too.
READER_CLASSES = frozenset({"human", "gmail_proxy", "yahoo_proxy", ""})
TOP_HOURS = 3


@dataclass(frozen=True)
class Engagement:
    contact: str
    sent: int
    opened: int
    # Only machines opened these (Apple Mail Privacy Protection): "probably opened".
    probably_opened: int
    clicked: int
    # Median time from sending to the first open, over the emails they opened.
    first_open_after: timedelta | None
    # (hour of day in the user's time zone, opens), busiest first.
    open_hours: tuple[tuple[int, int], ...]
    # Emails that went to other people too: their opens may be someone else's.
    shared: int


def contact_engagement(
    contact: str,
    messages: Sequence[Message],
    hits: Mapping[str, Sequence[Hit]],
    tz: timedelta = timedelta(0),
) -> Engagement:
    """Sum up the contact's engagement with `messages` (the user's emails sent to them)."""
    contact = contact.lower()
    mine = [m for m in messages if m.sent_at is not None and contact in recipients(m)]
    read = [m for m in mine if opened(m)]
    hours: Counter[int] = Counter()
    for message in mine:
        for hit in hits.get(message.id, ()):
            if hit.kind == "open" and hit.counted and hit.cls in READER_CLASSES:
                hours[(hit.at + tz).hour] += 1
    busiest = sorted(hours.items(), key=lambda item: (-item[1], item[0]))[:TOP_HOURS]
    return Engagement(
        contact=contact,
        sent=len(mine),
        opened=len(read),
        probably_opened=sum(1 for m in mine if m.machine_opens and not opened(m)),
        clicked=sum(1 for m in mine if m.clicks),
        first_open_after=median_delay(read),
        open_hours=tuple(busiest),
        shared=sum(1 for m in mine if len(recipients(m)) > 1),
    )
