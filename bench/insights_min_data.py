"""How many opened emails a best-time hint needs: the rule of backend/insights/besttime.py on
simulated readers, for each number of opened emails.

Four kinds of reader, 4,000 simulated histories each (a fixed seed, so the table is the same on
every run):

- office: opens evenly over Mon-Fri 09-18. No habit: any hint is false.
- all week: opens evenly over every day, 07-23. Any hint is false.
- mornings: 80% of first opens Mon-Fri 08-10, the rest like the office reader. Right: a hint
  whose hours hold 8-10, naming no days.
- Tue-Thu mornings: 80% Tue-Thu 08-10, the rest like the office reader. Right: hours holding
  8-10 and days within Tue-Thu.

    .venv/bin/python bench/insights_min_data.py
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.insights.besttime import MIN_OPENED, Peak, peak  # noqa: E402

TRIALS = 4000


def office(rng):
    return rng.randrange(5), rng.randrange(9, 18)


def all_week(rng):
    return rng.randrange(7), rng.randrange(7, 23)


def mornings(rng):
    return (rng.randrange(5), rng.randrange(8, 10)) if rng.random() < 0.8 else office(rng)


def tue_thu(rng):
    return (rng.randrange(1, 4), rng.randrange(8, 10)) if rng.random() < 0.8 else office(rng)


def morning_hours(found: Peak) -> bool:
    return found.hours is not None and found.hours.covers(8) and found.hours.covers(9)


def right_mornings(found: Peak) -> bool:
    return morning_hours(found) and found.days is None


def right_tue_thu(found: Peak) -> bool:
    days = found.days
    return (
        morning_hours(found)
        and days is not None
        and all(days.covers(d) <= (1 <= d <= 3) for d in range(7))
    )


def share(reader, opened: int, good, seed: int) -> float:
    rng = random.Random(seed)
    hits = 0
    for _ in range(TRIALS):
        grid = [[0] * 24 for _ in range(7)]
        for _ in range(opened):
            day, hour = reader(rng)
            grid[day][hour] += 1
        hits += good(peak(grid))
    return hits / TRIALS


def main() -> int:
    print(f"Best-time hints on simulated readers ({TRIALS} histories each)\n")
    print("opened   false hint: office  all week   right hint: mornings  Tue-Thu mornings")
    for opened in range(3, 13):
        row = [
            share(office, opened, lambda p: p.found, 1),
            share(all_week, opened, lambda p: p.found, 2),
            share(mornings, opened, right_mornings, 3),
            share(tue_thu, opened, right_tue_thu, 4),
        ]
        mark = "  <- MIN_OPENED" if opened == MIN_OPENED else ""
        print(f"{opened:6d}   {row[0]:18.0%}  {row[1]:8.0%}   {row[2]:20.0%}  {row[3]:16.0%}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
