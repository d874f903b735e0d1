"""Best time to send and engagement: the rules on generated histories with known answers,
time zones and daylight-saving changes included. The API on top: test_insights_api.py."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from backend.insights import besttime, engagement
from backend.store import Message, Reply

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ALICE = "alice@example.com"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone, *args) -> datetime:
    return datetime(*args, tzinfo=zone)


def cells(grid) -> dict:
    """The non-zero cells of a matrix as {(weekday, hour): count}."""
    return {(d, h): n for d, row in enumerate(grid) for h, n in enumerate(row) if n}


# The matrix: every open converted with zoneinfo, daylight saving included.


def test_opens_at_the_same_local_hour_land_in_one_cell_across_berlins_dst():
    # Alice opens at 08:30 Berlin time all year: 07:30Z in winter, 06:30Z in summer.
    days = [(2026, 3, 24), (2026, 3, 31), (2026, 7, 7), (2026, 10, 20), (2026, 10, 27)]
    opens = [local(BERLIN, *day, 8, 30) for day in days]  # all Tuesdays
    assert [o.astimezone(UTC).hour for o in opens] == [7, 6, 6, 6, 7]
    assert cells(besttime.matrix(opens, BERLIN)) == {(1, 8): 5}
    # A fixed offset (what the add-on's card gets from Gmail) splits them; zoneinfo does not.
    assert cells(besttime.matrix(opens, ZoneInfo("Etc/GMT-1"))) == {(1, 7): 3, (1, 8): 2}


def test_the_hours_of_berlins_changeover_sundays():
    opens = [
        utc(2026, 3, 29, 0, 30),  # 01:30 CET, before the jump
        utc(2026, 3, 29, 1, 30),  # 03:30 CEST: 02:00-03:00 does not exist that night
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, the first time
        utc(2026, 10, 25, 1, 30),  # 02:30 CET, the second time
    ]
    assert cells(besttime.matrix(opens, BERLIN)) == {(6, 1): 1, (6, 3): 1, (6, 2): 2}


def test_the_hours_of_new_yorks_changeover_sundays():
    opens = [
        utc(2026, 3, 8, 6, 30),  # 01:30 EST
        utc(2026, 3, 8, 7, 30),  # 03:30 EDT
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT
        utc(2026, 11, 1, 6, 30),  # 01:30 EST
        utc(2026, 11, 2, 14, 0),  # Monday 09:00 EST
    ]
    assert cells(besttime.matrix(opens, NEW_YORK)) == {(6, 1): 3, (6, 3): 1, (0, 9): 1}
    assert cells(besttime.matrix(opens, ZoneInfo("UTC"))) == {
        (6, 6): 2,
        (6, 7): 1,
        (6, 5): 1,
        (0, 14): 1,
    }


# Peaks and hints.


def tue_to_thu_mornings(zone, weeks=8, start=(2026, 3, 3)) -> list[datetime]:
    """First opens of a reader who opens Tue-Thu between 8 and 10, across the March change."""
    first = datetime(*start, tzinfo=zone)  # a Tuesday
    opens = []
    for week in range(weeks):
        day = first + timedelta(weeks=week, days=week % 3)
        opens.append(day.replace(hour=8 + week % 2, minute=15))
    return opens


def test_a_tue_to_thu_morning_reader_gets_that_hint_in_their_zone():
    opens = tue_to_thu_mornings(BERLIN)
    # Half of these are after the change to summer time, and still between 8 and 10 locally.
    assert {o.utcoffset() for o in opens} == {timedelta(hours=1), timedelta(hours=2)}
    found = besttime.best_time(opens, BERLIN, utc(2026, 4, 4, 12), ALICE)
    assert found.hint == "alice@example.com usually opens your email Tue–Thu, 8–10"
    assert (found.peak.days.start, found.peak.days.length) == (1, 3)
    assert (found.peak.hours.start, found.peak.hours.end, found.peak.hours.share) == (8, 10, 1.0)
    assert found.reason is None and found.opened == 8
    # Saturday noon: the next Tuesday at 08:00 Berlin, summer time (06:00Z).
    assert found.suggested_at == utc(2026, 4, 7, 6, 0)
    assert not found.in_peak_now


def test_the_same_reader_seen_from_new_york_opens_at_other_hours():
    opens = tue_to_thu_mornings(BERLIN)
    found = besttime.best_time(opens, NEW_YORK, utc(2026, 4, 4, 12), ALICE)
    # 8:15 and 9:15 in Berlin are 2:15 and 3:15 in New York, except while only New York is
    # on summer time (Mar 8-28), when they are 3:15 and 4:15: 3 opens at 2, 3 at 3, 2 at 4.
    # 2-4 holds 6 of the 8 (75%), enough.
    assert found.hint == "alice@example.com usually opens your email Tue–Thu, 2–4"


def test_overall_hints_speak_of_the_users_email():
    found = besttime.best_time(tue_to_thu_mornings(BERLIN), BERLIN, utc(2026, 4, 4, 12))
    assert found.hint == "Your email is usually opened Tue–Thu, 8–10"


def test_hours_alone_when_the_days_are_spread():
    opens = [local(BERLIN, 2026, 5, day, 14, 10) for day in range(4, 11)]  # every day 14:10
    found = besttime.best_time(opens, BERLIN, utc(2026, 5, 11, 20))
    assert found.peak.days is None
    assert found.hint == "Your email is usually opened between 14 and 15"
    assert found.suggested_at == utc(2026, 5, 12, 12, 0)


def test_fewer_opened_emails_than_the_minimum_give_no_hint():
    opens = tue_to_thu_mornings(BERLIN, weeks=besttime.MIN_OPENED - 1)
    found = besttime.best_time(opens, BERLIN, utc(2026, 4, 4, 12), ALICE)
    assert (found.hint, found.reason, found.suggested_at) == (None, "not_enough_data", None)
    assert sum(map(sum, found.matrix)) == besttime.MIN_OPENED - 1  # the matrix is still there
    enough = besttime.best_time(opens + [opens[0]], BERLIN, utc(2026, 4, 4, 12), ALICE)
    assert enough.hint is not None and enough.reason is None


def test_opens_spread_over_the_day_show_no_pattern():
    opens = [local(BERLIN, 2026, 5, 4 + n % 5, 8 + 2 * n, 0) for n in range(7)]
    found = besttime.best_time(opens, BERLIN, utc(2026, 5, 11, 20))
    assert (found.hint, found.reason, found.suggested_at) == (None, "no_pattern", None)


def test_windows_wrap_around_midnight_and_the_week():
    hours = [0] * 24
    hours[23], hours[0] = 4, 4
    found = besttime.window(hours, 3, 0.75)
    assert (found.start, found.length, besttime.hours_text(found)) == (23, 2, "23–1")
    days = [3, 0, 0, 0, 0, 2, 3]
    found = besttime.window(days, 3, 0.85)
    assert (found.start, found.length, besttime.days_text(found)) == (5, 3, "Sat–Mon")


def test_the_suggestion_is_the_next_window_start_in_local_time_across_changes():
    mondays_at_8 = besttime.Peak(besttime.Window(8, 2, 6, 6, 24), besttime.Window(0, 1, 6, 6, 7))
    # Saturday before the spring change: Monday 08:00 CEST is 06:00Z.
    assert besttime.next_send_time(mondays_at_8, BERLIN, utc(2026, 3, 28, 12)) == utc(
        2026, 3, 30, 6
    )
    # Saturday before the autumn change: Monday 08:00 CET is 07:00Z.
    assert besttime.next_send_time(mondays_at_8, BERLIN, utc(2026, 10, 24, 12)) == utc(
        2026, 10, 26, 7
    )
    # On Monday at 07:58 local, less than LEAD ahead: a week later.
    assert besttime.next_send_time(mondays_at_8, BERLIN, local(BERLIN, 2026, 10, 26, 7, 58)) == utc(
        2026, 11, 2, 7
    )
    # In the peak right now.
    assert besttime.in_window(mondays_at_8, BERLIN, local(BERLIN, 2026, 10, 26, 9, 30))
    assert not besttime.in_window(mondays_at_8, BERLIN, local(BERLIN, 2026, 10, 27, 9, 30))


def test_a_window_starting_in_the_spring_gap_starts_when_the_clocks_jump():
    sundays_at_2 = besttime.Peak(besttime.Window(2, 1, 6, 6, 24), besttime.Window(6, 1, 6, 6, 7))
    # 02:00 does not exist in Berlin on 29 March 2026; 03:00 CEST (01:00Z) is when it would.
    assert besttime.next_send_time(sundays_at_2, BERLIN, utc(2026, 3, 28, 12)) == utc(
        2026, 3, 29, 1
    )
    # In autumn 02:00 happens twice; the first (02:00 CEST, 00:00Z) is taken.
    assert besttime.next_send_time(sundays_at_2, BERLIN, utc(2026, 10, 24, 12)) == utc(
        2026, 10, 25, 0
    )


# Engagement.

T0 = utc(2026, 11, 2, 9)


def message(to=(ALICE,), cc=(), bcc=(), sent=T0, first_open=None, clicks=0) -> Message:
    return Message(
        id=secrets.token_urlsafe(18),
        account_id="a",
        created_at=sent,
        to=list(to),
        cc=list(cc),
        bcc=list(bcc),
        sent_at=sent,
        opens=1 if first_open else 0,
        first_open_at=first_open,
        clicks=clicks,
    )


def test_engagement_counts_opens_on_emails_to_the_contact_alone_and_replies_on_all():
    alone_open = message(first_open=T0 + timedelta(minutes=10))
    alone_late = message(first_open=T0 + timedelta(hours=3))
    alone_clicked = message(clicks=1)  # images blocked, a click proves the open
    alone_unread = message()
    with_bob = message(cc=("bob@example.com",), first_open=T0 + timedelta(minutes=1))
    to_bob = message(to=("bob@example.com",))
    messages = [alone_open, alone_late, alone_clicked, alone_unread, with_bob, to_bob]
    replied = engagement.replied_by(
        [
            Reply(with_bob.id, "a", "r1", ALICE, T0, "extension", T0),
            Reply(alone_late.id, "a", "r2", "bob@example.com", T0, "extension", T0),
        ]
    )
    found = engagement.engagement("Alice@Example.com", messages, replied, T0)
    assert (found.sent, found.attributable, found.opened, found.replied) == (5, 4, 3, 1)
    assert (found.open_rate, found.reply_rate) == (0.75, 0.2)
    # Median over the opened emails with an open time: 10 min and 3 h.
    assert found.median_first_open == timedelta(minutes=95)
    assert found.reads_but_never_replies is False


def test_reads_but_never_replies_needs_settled_opens_and_known_replies():
    now = T0 + timedelta(days=10)
    opened = [
        message(sent=T0 + timedelta(days=d), first_open=T0 + timedelta(days=d, hours=1))
        for d in (0, 1, 2, 9)
    ]
    unread = [message(sent=T0 + timedelta(days=d)) for d in (3, 4)]
    found = engagement.engagement(ALICE, opened + unread, {}, now)
    assert (found.opened, found.attributable, found.reads_but_never_replies) == (4, 6, True)
    # Only replies seen anywhere make silence mean something.
    assert not engagement.engagement(ALICE, opened + unread, {}, now, False).reads_but_never_replies
    # Two opened emails old enough to have had a reply are not enough (the fourth is a day old).
    assert not engagement.engagement(ALICE, opened[1:] + unread, {}, now).reads_but_never_replies
    # Opening fewer than half of them is not "reads often".
    many_unread = unread + [message(sent=T0) for _ in range(3)]
    assert not engagement.engagement(ALICE, opened + many_unread, {}, now).reads_but_never_replies
    # One reply to any email sent to them ends it.
    replied = {unread[0].id: {ALICE}}
    assert not engagement.engagement(ALICE, opened + unread, replied, now).reads_but_never_replies


def test_contacts_are_every_recipient_but_the_user_most_emailed_first():
    messages = [
        message(to=("bob@example.com",)),
        message(to=(ALICE, "me@example.com")),
        message(),
        message(cc=("carol@example.com",)),
    ]
    found = engagement.contacts(messages, [], T0, own_address="Me@example.com")
    assert [(e.contact, e.sent) for e in found] == [
        (ALICE, 3),
        ("bob@example.com", 1),
        ("carol@example.com", 1),
    ]


def test_the_addon_card_shares_the_engagement_rules():
    from backend.addon import engagement as card

    messages = [message(first_open=T0 + timedelta(hours=2)), message(clicks=2)]
    stats = card.contact_engagement(ALICE, messages, {})
    assert (stats.opened, stats.first_open_after) == (2, engagement.median_delay(messages))
    assert card.recipients is engagement.recipients
