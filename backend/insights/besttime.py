"""Best time to send: when a person (or anyone) first opens the user's email, by hour of week.

Pure functions over moments: nothing here reads a store or the clock. The basis is each email's
*first real open* (a counted open, see backend/classify.py), one vote per email; docs/insights.md
says why. Every moment is converted to the user's time zone with zoneinfo, so an open at 08:30
in Berlin lands in hour 8 in winter (07:30Z) and in summer (06:30Z) alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

# Rows of the matrix, as datetime.weekday() numbers them: 0 is Monday.
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# No hint and no suggested time below this many opened emails: with fewer, a reader who opens
# at any time of the working day too often looks like one with a habit (docs/insights.md has
# the figures; bench/insights_min_data.py measures them on simulated readers).
MIN_OPENED = 6
# Someone "usually" opens in a run of at most MAX_HOURS hours that holds HOUR_SHARE of their
# first opens: a window narrow enough to aim a send at. Without one there is no hint.
HOUR_SHARE = 0.75
MAX_HOURS = 3
# The hint names days too when a run of at most MAX_DAYS days holds DAY_SHARE of the first
# opens. Stricter than for hours: three weekdays out of five hold 60% of an office reader's
# opens by chance alone.
DAY_SHARE = 0.85
MAX_DAYS = 3
# A suggested send time is at least this far ahead, so the user can still schedule it.
LEAD = timedelta(minutes=5)


def matrix(moments: Iterable[datetime], zone: ZoneInfo) -> list[list[int]]:
    """Count moments by (weekday, hour) in `zone`: 7 rows (Monday first) of 24 hours."""
    grid = [[0] * 24 for _ in WEEKDAYS]
    for moment in moments:
        local = moment.astimezone(zone)
        grid[local.weekday()][local.hour] += 1
    return grid


@dataclass(frozen=True)
class Window:
    """A run of days of the week or hours of the day, wrapping around (Fri-Mon, 22-2)."""

    start: int
    length: int
    opens: int
    total: int
    size: int  # 7 for days, 24 for hours

    @property
    def end(self) -> int:
        """Where the window stops (exclusive): 10 for 8-10, 0 for 22-0."""
        return (self.start + self.length) % self.size

    @property
    def share(self) -> float:
        return self.opens / self.total if self.total else 0.0

    def covers(self, index: int) -> bool:
        return (index - self.start) % self.size < self.length


def window(counts: Sequence[int], max_length: int, share: float) -> Window | None:
    """The shortest run holding `share` of all counts (most counts, then earliest, on ties)."""
    total, size = sum(counts), len(counts)
    if not total:
        return None
    need = math.ceil(share * total - 1e-9)
    for length in range(1, min(max_length, size) + 1):
        best = None
        for start in range(size):
            opens = sum(counts[(start + i) % size] for i in range(length))
            if opens >= need and (best is None or opens > best.opens):
                best = Window(start, length, opens, total, size)
        if best is not None:
            return best
    return None


@dataclass(frozen=True)
class Peak:
    """Where first opens gather: a run of hours, and within it perhaps a run of days."""

    hours: Window | None
    days: Window | None = None

    @property
    def found(self) -> bool:
        return self.hours is not None


def peak(grid: Sequence[Sequence[int]]) -> Peak:
    """The peak of a matrix: its hours (or none), and its days when they stand out too."""
    hours = window([sum(row[hour] for row in grid) for hour in range(24)], MAX_HOURS, HOUR_SHARE)
    if hours is None:
        return Peak(None)
    return Peak(hours, window([sum(row) for row in grid], MAX_DAYS, DAY_SHARE))


def days_text(days: Window) -> str:
    first, last = WEEKDAYS[days.start], WEEKDAYS[(days.start + days.length - 1) % 7]
    return first if days.length == 1 else f"{first}–{last}"


def hours_text(hours: Window) -> str:
    return f"{hours.start}–{hours.end}"


def hint(subject: str, found: Peak) -> str | None:
    """'alice@example.com usually opens your email Tue–Thu, 8–10', or None without a peak.

    `subject` is a recipient's address, or "" for the user's email as a whole.
    """
    if found.hours is None:
        return None
    if found.days is not None:
        when = f"{days_text(found.days)}, {hours_text(found.hours)}"
    else:
        when = f"between {found.hours.start} and {found.hours.end}"
    if subject:
        return f"{subject} usually opens your email {when}"
    return f"Your email is usually opened {when}"


def next_send_time(found: Peak, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The next start of the peak window at least LEAD after `now`, as a UTC moment.

    Local times become moments through zoneinfo: a start that falls into a spring-forward gap
    (02:00 on the last Sunday of March in Berlin) becomes the moment the clocks jump, and one
    that happens twice in autumn is its first occurrence.
    """
    if found.hours is None:
        return None
    earliest = now + LEAD
    today = now.astimezone(zone).date()
    for offset in range(9):
        day = today + timedelta(days=offset)
        if found.days is not None and not found.days.covers(day.weekday()):
            continue
        local = datetime(day.year, day.month, day.day, found.hours.start, tzinfo=zone)
        moment = local.astimezone(UTC)
        if moment >= earliest:
            return moment
    return None


def in_window(found: Peak, zone: ZoneInfo, now: datetime) -> bool:
    """Whether `now` is inside the peak: a good time to send right away."""
    if found.hours is None:
        return False
    local = now.astimezone(zone)
    days_ok = found.days is None or found.days.covers(local.weekday())
    return days_ok and found.hours.covers(local.hour)


NOT_ENOUGH_DATA = "not_enough_data"
NO_PATTERN = "no_pattern"


@dataclass(frozen=True)
class BestTime:
    matrix: list[list[int]]
    opened: int  # emails with a first open in `matrix`
    peak: Peak
    hint: str | None
    # Why there is no hint: NOT_ENOUGH_DATA (fewer than MIN_OPENED opened emails) or
    # NO_PATTERN (the opens are spread out); None when there is one.
    reason: str | None
    suggested_at: datetime | None
    in_peak_now: bool


def best_time(first_opens: Sequence[datetime], zone: ZoneInfo, now: datetime, subject: str = ""):
    """Everything the API says about when to send, from emails' first real opens."""
    grid = matrix(first_opens, zone)
    if len(first_opens) < MIN_OPENED:
        return BestTime(grid, len(first_opens), Peak(None), None, NOT_ENOUGH_DATA, None, False)
    found = peak(grid)
    if not found.found:
        return BestTime(grid, len(first_opens), found, None, NO_PATTERN, None, False)
    return BestTime(
        grid,
        len(first_opens),
        found,
        hint(subject, found),
        None,
        next_send_time(found, zone, now),
        in_window(found, zone, now),
    )
