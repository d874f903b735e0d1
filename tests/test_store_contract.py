"""The Store contract, written once and run against every store: SQLite and Firestore."""

from __future__ import annotations

import secrets
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from firestore_emulator import fresh_store, session_emulator

from backend import create_app
from backend.auth import issue_token
from backend.config import Settings
from backend.store import Hit, StoreError, encode_cursor, iso, utcnow
from backend.store.sqlite import SQLiteStore

T0 = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=UTC)
LATER = T0 + timedelta(days=3)


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory):
    yield from session_emulator(tmp_path_factory)


@pytest.fixture
def firestore_store(firestore_emulator):
    yield from fresh_store(firestore_emulator)


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.firestore)])
def store(request, tmp_path):
    """A fresh, empty store of each kind."""
    if request.param == "firestore":
        yield request.getfixturevalue("firestore_store")
        return
    sqlite = SQLiteStore(tmp_path / "contract.db")
    yield sqlite
    sqlite.close()


def new_id() -> str:
    return secrets.token_urlsafe(18)


def reserve(store, account, message_id=None, now=T0, expires_at=LATER) -> str:
    message_id = message_id or new_id()
    store.reserve(account.id, message_id, now, expires_at)
    return message_id


def sent(store, account, sent_at=T0, message_id=None, **changes) -> str:
    """Reserve and complete a message; returns its id."""
    message_id = reserve(store, account, message_id)
    changes = {"subject": "Hello", "to": ["alice@example.com"], "sent_at": sent_at, **changes}
    assert store.complete(account.id, message_id, changes) is not None
    return message_id


def hit(message_id, kind="open", at=T0, **fields) -> Hit:
    return Hit(id=secrets.token_urlsafe(12), message_id=message_id, kind=kind, at=at, **fields)


@pytest.fixture
def alice(store):
    return store.ensure_account("alice@example.com", T0)


@pytest.fixture
def bob(store):
    return store.ensure_account("bob@example.com", T0)


# Accounts and tokens.


def test_ping_answers(store):
    store.ping()


def test_ensure_account_makes_one_account_per_address_whatever_its_case(store):
    first = store.ensure_account("  Sender@Example.COM ", T0)
    again = store.ensure_account("sender@example.com", T0 + timedelta(hours=1))
    assert first.email == "sender@example.com"
    assert (again.id, again.email, again.created_at) == (first.id, first.email, T0)


def test_accounts_differ_per_address_and_read_back(store, alice, bob):
    assert alice.id != bob.id
    found = store.get_account(alice.id)
    assert (found.id, found.email, found.created_at) == (alice.id, "alice@example.com", T0)
    assert store.get_account("no-such-account") is None


def test_a_token_finds_its_account_until_revoked(store, alice, bob):
    store.add_token(alice.id, "a" * 64, T0, "laptop")
    store.add_token(bob.id, "b" * 64, T0)
    found = store.account_for_token("a" * 64)
    assert (found.id, found.email, found.created_at) == (alice.id, alice.email, T0)
    assert store.account_for_token("b" * 64).id == bob.id
    assert store.account_for_token("c" * 64) is None

    assert store.revoke_token("a" * 64) is True
    assert store.account_for_token("a" * 64) is None
    assert store.revoke_token("a" * 64) is False
    assert store.account_for_token("b" * 64).id == bob.id


def test_add_token_refuses_an_unknown_account_or_a_reused_hash(store, alice):
    with pytest.raises(StoreError):
        store.add_token("no-such-account", "d" * 64, T0)
    store.add_token(alice.id, "e" * 64, T0)
    with pytest.raises(StoreError):
        store.add_token(alice.id, "e" * 64, T0)
    assert store.account_for_token("d" * 64) is None


# Reserving and completing messages.


def test_a_reserved_message_is_empty_and_expires(store, alice):
    message_id = reserve(store, alice)
    message = store.message(alice.id, message_id)
    assert (message.id, message.account_id, message.state) == (message_id, alice.id, "reserved")
    assert (message.created_at, message.expires_at, message.sent_at) == (T0, LATER, None)
    assert (message.subject, message.to, message.cc, message.bcc, message.links) == (
        "",
        [],
        [],
        [],
        [],
    )
    assert (message.gmail_message_id, message.gmail_thread_id) == (None, None)
    assert (message.opens, message.clicks, message.first_open_at, message.link_clicks) == (
        0,
        0,
        None,
        {},
    )


def test_reserve_refuses_a_taken_id_or_an_unknown_account(store, alice, bob):
    message_id = reserve(store, alice)
    with pytest.raises(StoreError):
        store.reserve(bob.id, message_id, T0, LATER)
    with pytest.raises(StoreError):
        store.reserve("no-such-account", new_id(), T0, LATER)
    assert store.message(alice.id, message_id).account_id == alice.id
    assert store.message(bob.id, message_id) is None


def test_complete_sets_every_field_and_ends_the_expiry(store, alice):
    message_id = reserve(store, alice)
    updated = store.complete(
        alice.id,
        message_id,
        {
            "subject": "Quarterly numbers",
            "to": ["a@example.com", "b@example.com"],
            "cc": ["c@example.com"],
            "bcc": ["d@example.com"],
            "links": ["https://example.com/1", "https://example.com/2"],
            "sent_at": T0,
            "gmail_message_id": "18c2f0a1b2c3d4e5",
            "gmail_thread_id": "18c2f0a1b2c3d4e0",
        },
    )
    again = store.message(alice.id, message_id)
    for message in (updated, again):
        assert message.subject == "Quarterly numbers"
        assert (message.to, message.cc, message.bcc) == (
            ["a@example.com", "b@example.com"],
            ["c@example.com"],
            ["d@example.com"],
        )
        assert message.links == ["https://example.com/1", "https://example.com/2"]
        assert (message.sent_at, message.expires_at, message.state) == (T0, None, "tracked")
        assert (message.gmail_message_id, message.gmail_thread_id) == (
            "18c2f0a1b2c3d4e5",
            "18c2f0a1b2c3d4e0",
        )


def test_a_partial_completion_leaves_the_other_fields(store, alice):
    message_id = reserve(store, alice)
    store.complete(
        alice.id,
        message_id,
        {
            "subject": "First",
            "to": ["a@example.com"],
            "links": ["https://example.com/1"],
            "sent_at": T0,
            "gmail_message_id": "18c2f0a1b2c3d4e5",
        },
    )
    store.complete(alice.id, message_id, {"cc": ["c@example.com"], "gmail_thread_id": "18c2"})
    message = store.complete(alice.id, message_id, {"gmail_message_id": None})
    assert (message.subject, message.to, message.cc, message.bcc) == (
        "First",
        ["a@example.com"],
        ["c@example.com"],
        [],
    )
    assert (message.links, message.sent_at, message.expires_at) == (
        ["https://example.com/1"],
        T0,
        None,
    )
    assert (message.gmail_message_id, message.gmail_thread_id) == (None, "18c2")


def test_a_completion_without_sent_at_keeps_the_reservation_expiring(store, alice):
    message_id = reserve(store, alice)
    message = store.complete(alice.id, message_id, {"subject": "Draft"})
    assert (message.subject, message.sent_at, message.expires_at) == ("Draft", None, LATER)
    assert store.messages(alice.id, 10) == ([], None)


def test_completing_a_missing_or_foreign_message_changes_nothing(store, alice, bob):
    message_id = reserve(store, alice)
    assert store.complete(bob.id, message_id, {"subject": "Mine now", "sent_at": T0}) is None
    assert store.complete(alice.id, new_id(), {"subject": "Nobody's"}) is None
    message = store.message(alice.id, message_id)
    assert (message.subject, message.sent_at, message.state) == ("", None, "reserved")


def test_another_accounts_message_is_missing_everywhere(store, alice, bob):
    message_id = sent(store, alice, gmail_message_id="18aa", gmail_thread_id="18ab")
    store.record_hits([hit(message_id)])
    assert store.message(bob.id, message_id) is None
    assert store.statuses(bob.id, [message_id], ["18aa", "18ab"]) == []
    assert store.hits(bob.id, message_id) == []
    assert store.messages(bob.id, 10) == ([], None)
    assert store.delete_message(bob.id, message_id) is False
    assert store.message(alice.id, message_id).opens == 1
    assert len(store.hits(alice.id, message_id)) == 1


def test_ids_no_store_can_hold_name_no_message(store, alice):
    # Firestore cannot store documents under these ids; every store must still answer calmly,
    # because pixel URLs come from strangers.
    for odd in ("__reserved__", "a/b", ".", ".."):
        assert store.message(alice.id, odd) is None
        assert store.link_target(odd, 0) is None
        assert store.hits(alice.id, odd) == []
        assert store.delete_message(alice.id, odd) is False
        assert store.complete(alice.id, odd, {"subject": "x"}) is None
        store.record_hits([hit(odd)])
    assert store.statuses(alice.id, ["__reserved__", "a/b"], ["__x__"]) == []


# History.


def ids(page) -> list[str]:
    return [message.id for message in page]


def test_history_is_newest_first_and_only_sent_messages_of_the_account(store, alice, bob):
    old = sent(store, alice, sent_at=T0)
    new = sent(store, alice, sent_at=T0 + timedelta(minutes=5))
    middle = sent(store, alice, sent_at=T0 + timedelta(microseconds=1))
    reserve(store, alice)
    sent(store, bob, sent_at=T0 + timedelta(hours=1))
    page, cursor = store.messages(alice.id, 10)
    assert (ids(page), cursor) == ([new, middle, old], None)
    assert page[0].sent_at == T0 + timedelta(minutes=5)


def test_history_pages_through_equal_send_times_without_gaps_or_repeats(store, alice):
    same = [sent(store, alice, sent_at=T0) for _ in range(5)]
    newer = sent(store, alice, sent_at=T0 + timedelta(seconds=1))
    older = sent(store, alice, sent_at=T0 - timedelta(seconds=1))
    expected = [newer, *sorted(same, reverse=True), older]

    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = store.messages(alice.id, 2, cursor)
        pages += 1
        assert len(page) <= 2
        seen += ids(page)
        if cursor is None:
            break
    assert seen == expected
    assert pages == 4


def test_a_page_that_ends_the_history_has_no_cursor(store, alice):
    first, second = sent(store, alice), sent(store, alice, sent_at=T0 + timedelta(seconds=1))
    page, cursor = store.messages(alice.id, 2)
    assert (ids(page), cursor) == ([second, first], None)
    page, cursor = store.messages(alice.id, 1)
    assert ids(page) == [second] and cursor is not None
    page, cursor = store.messages(alice.id, 1, cursor)
    assert (ids(page), cursor) == ([first], None)


def test_history_refuses_a_cursor_no_store_made(store, alice):
    sent(store, alice)
    for cursor in (
        "not-a-cursor",
        encode_cursor("yesterday", "x"),
        encode_cursor("2026-11-02T09:30:15.123456Z", "messages/x"),
        encode_cursor("2026-11-02T09:30:15.123456Z", ""),
    ):
        with pytest.raises(ValueError):
            store.messages(alice.id, 10, cursor)


def test_search_finds_subject_and_every_recipient_field_ignoring_case(store, alice, bob):
    by_subject = sent(store, alice, subject="Quarterly NUMBERS", to=["x@example.com"])
    by_to = sent(store, alice, subject="Hi", to=["Numbers.Team@example.com"])
    by_cc = sent(store, alice, subject="Hi", to=["x@example.com"], cc=["numbers@example.org"])
    by_bcc = sent(store, alice, subject="Hi", to=["x@example.com"], bcc=["boss@numbers.io"])
    sent(store, alice, subject="Nothing here", to=["x@example.com"])
    sent(store, bob, subject="numbers for bob")
    page, cursor = store.messages(alice.id, 10, query="nUmBeRs")
    assert set(ids(page)) == {by_subject, by_to, by_cc, by_bcc}
    assert cursor is None
    assert store.messages(alice.id, 10, query="absent")[0] == []


def test_search_takes_wildcard_characters_literally(store, alice):
    percent = sent(store, alice, subject="Up 10% this year")
    underscore = sent(store, alice, subject="file_name.txt")
    sent(store, alice, subject="Up 100 this year, filexname")
    assert ids(store.messages(alice.id, 10, query="10%")[0]) == [percent]
    assert ids(store.messages(alice.id, 10, query="e_n")[0]) == [underscore]
    assert ids(store.messages(alice.id, 10, query="\\")[0]) == []


def test_search_pages_through_every_match_in_order(store, alice):
    if store.kind == "firestore":
        # Exercise the bounded scan: each call may read only a few messages.
        store.search_scan = 3
    expected = []
    for n in range(12):
        at = T0 + timedelta(minutes=n)
        if n % 3 == 0:
            expected.append(sent(store, alice, sent_at=at, subject=f"Invoice {n}"))
        else:
            sent(store, alice, sent_at=at, subject=f"Lunch {n}")
    expected.reverse()

    seen, cursor = [], None
    for _ in range(20):
        page, cursor = store.messages(alice.id, 2, cursor, query="invoice")
        assert len(page) <= 2
        seen += ids(page)
        if cursor is None:
            break
    assert seen == expected


# Statuses and links.


def test_statuses_by_tracking_id_include_reservations_and_skip_the_unknown(store, alice):
    first, second = sent(store, alice), reserve(store, alice)
    sent(store, alice)
    found = store.statuses(alice.id, [first, second, first, new_id()], [])
    assert sorted(ids(found)) == sorted([first, second])
    assert {m.id: m.state for m in found} == {first: "tracked", second: "reserved"}
    assert store.statuses(alice.id, [], []) == []


def test_statuses_by_gmail_message_or_thread_id(store, alice, bob):
    by_message = sent(store, alice, gmail_message_id="18aa01", gmail_thread_id="18aa00")
    by_thread = sent(store, alice, gmail_message_id="18bb02", gmail_thread_id="18bb00")
    both = sent(store, alice, gmail_message_id="18cc03", gmail_thread_id="18cc00")
    sent(store, alice, gmail_message_id="18dd04", gmail_thread_id="18dd00")
    sent(store, bob, gmail_message_id="18aa01", gmail_thread_id="18bb00")

    # More Gmail ids than one Firestore `in` filter takes, with matches past the first 30.
    asked = [f"19{n:04x}" for n in range(40)]
    asked[33:33] = ["18aa01", "18bb00"]
    found = store.statuses(alice.id, [both], [*asked, "18cc00", "18cc03", "18aa01"])
    assert sorted(ids(found)) == sorted([by_message, by_thread, both])
    assert all(m.account_id == alice.id for m in found)


def test_states_answer_what_statuses_find_reduced_to_check_mark_fields(store, alice, bob):
    opened = sent(store, alice, gmail_message_id="18ee01", gmail_thread_id="18ee00")
    machine = sent(store, alice)
    waiting = reserve(store, alice)
    theirs = sent(store, bob)
    store.record_hits(
        [hit(opened, at=T0), hit(opened, at=LATER), hit(machine, cls="apple_mpp", counted=False)]
    )
    store.record_hits([hit(opened, kind="click", link_index=0, at=T0)])
    asked = ([machine, waiting, theirs, new_id()], ["18ee00"])
    states = {s.id: s for s in store.states(alice.id, *asked)}
    assert set(states) == {opened, machine, waiting}
    assert states[opened].state == "opened" and states[opened].opens == 2
    assert states[opened].clicks == 1 and states[opened].gmail_thread_id == "18ee00"
    assert (states[opened].first_open_at, states[opened].last_open_at) == (iso(T0), iso(LATER))
    assert states[machine].state == "tracked" and states[machine].machine_opens == 1
    assert states[waiting].state == "reserved"
    full = {m.id: m for m in store.statuses(alice.id, *asked)}
    for message_id, state in states.items():
        message = full[message_id]
        assert (state.opens, state.clicks, state.machine_opens, state.state) == (
            message.opens,
            message.clicks,
            message.machine_opens,
            message.state,
        )
    assert store.states(alice.id, [], []) == []


def test_link_target_is_the_registered_destination_or_none(store, alice):
    message_id = sent(store, alice, links=["https://example.com/a", "https://example.org/b?c=d"])
    assert store.link_target(message_id, 0) == "https://example.com/a"
    assert store.link_target(message_id, 1) == "https://example.org/b?c=d"
    assert store.link_target(message_id, 2) is None
    assert store.link_target(message_id, -1) is None
    assert store.link_target(reserve(store, alice), 0) is None
    assert store.link_target(new_id(), 0) is None


# Hits.


def test_opens_count_with_first_and_last_open_whatever_the_arrival_order(store, alice):
    message_id = sent(store, alice)
    early, middle, late = (T0 + timedelta(minutes=m, microseconds=7) for m in (1, 2, 3))
    store.record_hits([hit(message_id, at=middle)])
    store.record_hits([hit(message_id, at=late)])
    store.record_hits([hit(message_id, at=early)])
    message = store.message(alice.id, message_id)
    assert (message.opens, message.first_open_at, message.last_open_at) == (3, early, late)
    assert (message.clicks, message.state) == (0, "opened")
    [status] = store.statuses(alice.id, [message_id], [])
    assert (status.opens, status.first_open_at, status.last_open_at) == (3, early, late)
    [listed] = store.messages(alice.id, 10)[0]
    assert (listed.opens, listed.first_open_at, listed.last_open_at) == (3, early, late)


def test_a_hit_recorded_again_counts_once(store, alice):
    message_id = sent(store, alice)
    once = hit(message_id)
    click = hit(message_id, kind="click", link_index=0, url="https://example.com/a")
    store.record_hits([once, once, click])
    store.record_hits([click, once])
    message = store.message(alice.id, message_id)
    assert (message.opens, message.clicks, message.link_clicks) == (1, 1, {0: 1})
    assert sorted(h.id for h in store.hits(alice.id, message_id)) == sorted([once.id, click.id])


def test_uncounted_hits_are_kept_raw_but_not_counted(store, alice):
    message_id = sent(store, alice)
    store.record_hits(
        [
            hit(message_id, counted=False, user_agent="Mozilla/5.0"),
            hit(message_id, kind="click", link_index=0, counted=False),
        ]
    )
    message = store.message(alice.id, message_id)
    assert (message.opens, message.clicks, message.first_open_at, message.state) == (
        0,
        0,
        None,
        "tracked",
    )
    assert [h.counted for h in store.hits(alice.id, message_id)] == [False, False]


def test_clicks_count_per_link_and_mark_the_message_opened(store, alice):
    message_id = sent(store, alice, links=["https://example.com/a", "https://example.com/b"])
    store.record_hits(
        [
            hit(message_id, kind="click", link_index=0, url="https://example.com/a"),
            hit(message_id, kind="click", link_index=1, url="https://example.com/b"),
        ]
    )
    store.record_hits([hit(message_id, kind="click", link_index=0, url="https://example.com/a")])
    store.record_hits([hit(message_id, kind="click")])  # a click that names no link
    message = store.message(alice.id, message_id)
    assert (message.clicks, message.link_clicks, message.opens) == (4, {0: 2, 1: 1}, 0)
    assert message.state == "opened"
    [status] = store.statuses(alice.id, [message_id], [])
    assert (status.clicks, status.link_clicks) == (4, {0: 2, 1: 1})


def test_hits_for_unknown_messages_are_dropped(store, alice):
    known, unknown = sent(store, alice), new_id()
    store.record_hits([hit(unknown), hit(known), hit(unknown, kind="click", link_index=0)])
    assert store.message(alice.id, known).opens == 1
    # Reserving the id afterwards finds nothing left behind.
    reserve(store, alice, unknown)
    message = store.message(alice.id, unknown)
    assert (message.opens, message.clicks, message.link_clicks) == (0, 0, {})
    assert store.hits(alice.id, unknown) == []


def test_a_reserved_message_records_hits_too(store, alice):
    message_id = reserve(store, alice)
    store.record_hits([hit(message_id)])
    message = store.message(alice.id, message_id)
    assert (message.opens, message.state) == (1, "opened")


def test_hits_come_back_oldest_first_with_every_field(store, alice):
    message_id = sent(store, alice)
    click = Hit(
        id="hit-b",
        message_id=message_id,
        kind="click",
        at=T0 + timedelta(seconds=5, microseconds=1),
        ip="2001:db8::1",
        user_agent="Mozilla/5.0 (Macintosh) Safari/605.1.15",
        method="GET",
        link_index=1,
        url="https://example.com/b?x=1&y=%2F",
        headers={"Accept-Language": "de-DE", "Via": "1.1 proxy"},
        counted=True,
    )
    first = Hit(id="hit-z", message_id=message_id, kind="open", at=T0, method="HEAD", counted=False)
    tied = Hit(id="hit-a", message_id=message_id, kind="open", at=T0, ip="192.0.2.7")
    store.record_hits([click, first])
    store.record_hits([tied])
    assert store.hits(alice.id, message_id) == [tied, first, click]


def test_a_large_batch_across_messages_counts_exactly(store, alice):
    messages = [sent(store, alice) for _ in range(3)]
    batch = [hit(messages[n % 3], at=T0 + timedelta(seconds=n)) for n in range(250)]
    store.record_hits(batch + batch[:30])
    opens = [store.message(alice.id, m).opens for m in messages]
    assert opens == [84, 83, 83]
    first = store.message(alice.id, messages[0])
    assert (first.first_open_at, first.last_open_at) == (T0, T0 + timedelta(seconds=249))


# Deleting.


def test_delete_message_removes_it_with_its_hits_and_counts(store, alice):
    message_id = sent(store, alice, gmail_message_id="18aa")
    kept = sent(store, alice)
    store.record_hits([hit(message_id), hit(message_id, kind="click", link_index=0), hit(kept)])
    assert store.delete_message(alice.id, message_id) is True
    assert store.delete_message(alice.id, message_id) is False
    assert store.message(alice.id, message_id) is None
    assert store.hits(alice.id, message_id) == []
    assert store.statuses(alice.id, [message_id], ["18aa"]) == []
    assert store.link_target(message_id, 0) is None
    assert ids(store.messages(alice.id, 10)[0]) == [kept]
    assert store.message(alice.id, kept).opens == 1
    # Nothing of it is left behind to be found under the same id.
    reserve(store, alice, message_id)
    again = store.message(alice.id, message_id)
    assert (again.opens, again.clicks, again.link_clicks, again.first_open_at) == (0, 0, {}, None)
    assert store.hits(alice.id, message_id) == []


def test_delete_account_removes_everything_it_owns_and_nothing_else(store, alice, bob):
    store.add_token(alice.id, "a" * 64, T0)
    store.add_token(bob.id, "b" * 64, T0)
    mine = [sent(store, alice), reserve(store, alice)]
    theirs = sent(store, bob)
    store.record_hits([hit(mine[0]), hit(mine[1]), hit(theirs)])

    store.delete_account(alice.id)

    assert store.get_account(alice.id) is None
    assert store.account_for_token("a" * 64) is None
    for message_id in mine:
        assert store.link_target(message_id, 0) is None
        assert store.message(alice.id, message_id) is None
    assert store.account_for_token("b" * 64).id == bob.id
    assert store.message(bob.id, theirs).opens == 1
    # The address can sign up again, as a new account with nothing.
    again = store.ensure_account("alice@example.com", LATER)
    assert again.id != alice.id and again.created_at == LATER
    assert store.messages(again.id, 10) == ([], None)
    for message_id in mine:
        reserve(store, again, message_id)
        assert store.message(again.id, message_id).opens == 0
        assert store.hits(again.id, message_id) == []


def test_purge_drops_only_expired_reservations(store, alice):
    expired = reserve(store, alice, expires_at=T0 + timedelta(hours=1))
    fresh = reserve(store, alice, expires_at=T0 + timedelta(days=3))
    completed = reserve(store, alice, expires_at=T0 + timedelta(hours=1))
    store.complete(alice.id, completed, {"sent_at": T0})
    store.record_hits([hit(expired)])

    assert store.purge_reservations(T0 + timedelta(hours=2)) == 1
    assert store.message(alice.id, expired) is None
    assert store.message(alice.id, fresh).state == "reserved"
    assert store.message(alice.id, completed).state == "tracked"
    assert store.purge_reservations(T0 + timedelta(hours=2)) == 0
    reserve(store, alice, expired)
    assert store.hits(alice.id, expired) == []
    assert store.message(alice.id, expired).opens == 0


# Classification: pending hits, verdicts, the classifier's reads.


def pending(hit_, **fields) -> Hit:
    """A hit as the pixel records it: raw, unclassified, uncounted."""
    return replace(hit_, cls="", counted=False, **fields)


def verdict(hit_, cls="human", counted=True, **fields) -> Hit:
    """The hit as the classifier hands it back."""
    return replace(hit_, cls=cls, counted=counted, **fields)


def test_pending_hits_are_every_accounts_unclassified_hits_oldest_first(store, alice, bob):
    mine, theirs = sent(store, alice), sent(store, bob)
    at = [T0 + timedelta(seconds=s) for s in range(5)]
    third = pending(hit(mine, at=at[3], ip="192.0.2.1", user_agent="Reader/1", headers={"A": "b"}))
    first = pending(hit(theirs, kind="click", at=at[1], link_index=0, url="https://example.com/a"))
    second = pending(hit(mine, at=at[2]))
    store.record_hits([third, first])
    store.record_hits(
        [
            second,
            pending(hit(mine, at=at[4])),  # after the cutoff
            hit(mine, at=at[0], cls="human"),  # classified when recorded
            hit(mine, at=at[0], cls="apple_mpp", counted=False),
        ]
    )
    assert store.pending_hits(at[3]) == [first, second, third]
    assert store.pending_hits(at[3], limit=2) == [first, second]
    assert store.pending_hits(at[3] - timedelta(microseconds=1)) == [first, second]
    assert store.pending_hits(at[0]) == []


def test_a_verdict_is_applied_once_and_its_hit_leaves_the_pending(store, alice):
    message_id = sent(store, alice)
    raw = pending(hit(message_id, ip="203.0.113.9", user_agent="Thunderbird/128"))
    store.record_hits([raw])
    assert store.message(alice.id, message_id).opens == 0
    [found] = store.pending_hits(T0)

    judged = verdict(found, client="Thunderbird 128", device="computer (Linux)", ip="203.0.113.0")
    assert store.apply_verdicts([judged]) == [judged]
    assert store.apply_verdicts([judged]) == []
    assert store.apply_verdicts([verdict(found, cls="duplicate", counted=False)]) == []
    assert store.pending_hits(LATER) == []
    assert store.hits(alice.id, message_id) == [judged]
    message = store.message(alice.id, message_id)
    assert (message.opens, message.first_open_at, message.state) == (1, T0, "opened")


def test_one_hit_listed_twice_is_applied_once(store, alice):
    message_id = sent(store, alice)
    raw = pending(hit(message_id, kind="click", link_index=0))
    store.record_hits([raw])
    judged = verdict(raw)
    assert store.apply_verdicts([judged, judged, verdict(raw, cls="scanner")]) == [judged]
    message = store.message(alice.id, message_id)
    assert (message.clicks, message.link_clicks) == (1, {0: 1})
    assert store.hits(alice.id, message_id)[0].cls == "human"


def test_workers_applying_the_same_verdicts_at_once_count_each_hit_once(store, alice):
    message_id = sent(store, alice)
    raws = [pending(hit(message_id, at=T0 + timedelta(seconds=n))) for n in range(4)]
    store.record_hits(raws)
    judged = [verdict(raw) for raw in raws]
    applied, failures, barrier = [], [], threading.Barrier(3)

    def worker():
        barrier.wait()
        try:
            applied.extend(store.apply_verdicts(judged))
        except Exception as exc:  # pragma: no cover - shown by the assertion
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(h.id for h in applied) == sorted(h.id for h in raws)
    assert store.message(alice.id, message_id).opens == 4


def test_verdicts_move_the_aggregates_as_recorded_hits_do(store, alice):
    message_id = sent(store, alice, links=["https://example.com/a", "https://example.com/b"])
    early, middle, late = (T0 + timedelta(minutes=m, microseconds=7) for m in (1, 2, 3))
    opens = {at: pending(hit(message_id, at=at)) for at in (early, middle, late)}
    clicks = [
        pending(hit(message_id, kind="click", link_index=0)),
        pending(hit(message_id, kind="click", link_index=0)),
        pending(hit(message_id, kind="click", link_index=1)),
        pending(hit(message_id, kind="click")),  # names no link
    ]
    machine = pending(hit(message_id, user_agent="Mozilla/5.0"))
    uncounted = [
        pending(hit(message_id, at=LATER)),
        pending(hit(message_id, kind="click", link_index=1, at=LATER)),
        pending(hit(message_id, kind="self_view", at=LATER)),
    ]
    store.record_hits([*opens.values(), *clicks, machine, *uncounted])

    # Verdicts arrive in any order and over several calls.
    store.apply_verdicts([verdict(opens[middle]), verdict(clicks[0])])
    store.apply_verdicts([verdict(opens[late]), verdict(clicks[1]), verdict(clicks[2])])
    store.apply_verdicts(
        [
            verdict(opens[early], cls="gmail_proxy"),
            verdict(clicks[3]),
            verdict(machine, cls="apple_mpp", counted=False),
            verdict(uncounted[0], cls="duplicate", counted=False),
            verdict(uncounted[1], cls="scanner", counted=False),
            verdict(uncounted[2], cls="self", counted=False),
        ]
    )
    message = store.message(alice.id, message_id)
    assert (message.opens, message.first_open_at, message.last_open_at) == (3, early, late)
    assert (message.clicks, message.link_clicks, message.machine_opens) == (4, {0: 2, 1: 1}, 1)
    assert store.pending_hits(LATER) == []


def test_a_verdict_on_a_kind_that_is_no_open_or_click_counts_nothing(store, alice):
    message_id = sent(store, alice)
    signal = pending(hit(message_id, kind="self_view"))
    store.record_hits([signal, hit(message_id, kind="self_view", cls="self", counted=True)])
    assert store.apply_verdicts([verdict(signal, cls="apple_mpp", counted=True)]) != []
    message = store.message(alice.id, message_id)
    assert (message.opens, message.clicks, message.machine_opens) == (0, 0, 0)


def test_a_hit_counted_when_recorded_is_not_counted_again_by_its_verdict(store, alice):
    # As spooled before classification existed: unclassified, yet counted when recorded.
    message_id = sent(store, alice)
    old = hit(message_id, counted=True)
    store.record_hits([old])
    assert store.message(alice.id, message_id).opens == 1
    assert store.pending_hits(T0) == [old]
    assert store.apply_verdicts([verdict(old)]) == [verdict(old)]
    assert store.message(alice.id, message_id).opens == 1
    assert store.hits(alice.id, message_id)[0].cls == "human"


def test_verdicts_for_hits_that_are_gone_are_skipped(store, alice):
    deleted, kept = sent(store, alice), sent(store, alice)
    gone = [pending(hit(deleted)), pending(hit(deleted, kind="click", link_index=0))]
    purged = pending(hit(kept, at=T0))
    alive = pending(hit(kept, at=T0 + timedelta(days=1)))
    store.record_hits([*gone, purged, alive])
    store.delete_message(alice.id, deleted)
    store.purge_hits(T0 + timedelta(hours=1))

    never = verdict(hit(kept))  # never recorded
    assert store.apply_verdicts([*(verdict(h) for h in gone), verdict(purged), never]) == []
    assert store.pending_hits(LATER) == [alive]
    assert store.apply_verdicts([verdict(alive)]) == [verdict(alive)]
    assert store.message(alice.id, kept).opens == 1


def test_a_verdict_without_a_class_is_refused_and_nothing_is_applied(store, alice):
    message_id = sent(store, alice)
    first, second = pending(hit(message_id)), pending(hit(message_id))
    store.record_hits([first, second])
    with pytest.raises(ValueError):
        store.apply_verdicts([verdict(first), verdict(second, cls="")])
    assert store.pending_hits(T0) == sorted([first, second], key=lambda h: h.id)
    assert store.message(alice.id, message_id).opens == 0


def test_recorded_classified_hits_count_machine_opens_and_are_not_pending(store, alice):
    message_id = sent(store, alice)
    store.record_hits(
        [
            hit(message_id, cls="apple_mpp", counted=False, client="Apple Mail"),
            hit(message_id, cls="apple_mpp", counted=False),
            hit(message_id, kind="click", cls="apple_mpp", counted=False),
            hit(message_id, cls="human", counted=True),
        ]
    )
    assert store.pending_hits(LATER) == []
    for message in (
        store.message(alice.id, message_id),
        store.message_by_id(message_id),
        store.statuses(alice.id, [message_id], [])[0],
        store.messages(alice.id, 10)[0][0],
    ):
        assert (message.machine_opens, message.opens, message.clicks) == (2, 1, 0)
    assert sorted(h.cls for h in store.hits(alice.id, message_id)) == [
        "apple_mpp",
        "apple_mpp",
        "apple_mpp",
        "human",
    ]


def test_message_by_id_reads_any_accounts_message_with_its_aggregates(store, alice, bob):
    message_id = sent(store, bob, links=["https://example.com/a"])
    store.record_hits([hit(message_id), hit(message_id, kind="click", link_index=0)])
    message = store.message_by_id(message_id)
    assert (message.id, message.account_id, message.subject, message.sent_at) == (
        message_id,
        bob.id,
        "Hello",
        T0,
    )
    assert (message.opens, message.clicks, message.link_clicks, message.first_open_at) == (
        1,
        1,
        {0: 1},
        T0,
    )
    assert store.message_by_id(reserve(store, alice)).state == "reserved"
    for missing in (new_id(), "__reserved__", "a/b"):
        assert store.message_by_id(missing) is None


def test_hits_between_are_a_messages_hits_of_every_kind_within_bounds(store, alice, bob):
    message_id, other = sent(store, alice), sent(store, bob)
    start, end = T0, T0 + timedelta(seconds=10)
    tick = timedelta(microseconds=1)
    inside = [
        hit(message_id, at=start),
        pending(hit(message_id, kind="self_view", at=start + timedelta(seconds=4))),
        hit(message_id, kind="click", link_index=0, at=start + timedelta(seconds=5), cls="scanner"),
        pending(hit(message_id, at=end)),
    ]
    outside = [hit(message_id, at=start - tick), hit(message_id, at=end + tick), hit(other)]
    store.record_hits([*reversed(inside), *outside])
    assert store.hits_between(message_id, start, end) == inside
    assert store.hits_between(message_id, start + tick, end - tick) == inside[1:3]
    assert store.hits_between(new_id(), start, end) == []
    assert store.hits_between("a/b", start, end) == []


def test_purge_hits_drops_old_raw_hits_and_keeps_the_aggregates(store, alice, bob):
    mine, theirs = sent(store, alice, links=["https://example.com/a"]), sent(store, bob)
    cutoff = T0 + timedelta(days=1)
    old = [
        hit(mine, at=T0, cls="human"),
        hit(mine, kind="click", link_index=0, at=T0, cls="human"),
        hit(theirs, at=cutoff - timedelta(microseconds=1), cls="human"),
        pending(hit(mine, at=T0)),
    ]
    new = [hit(mine, at=cutoff, cls="human"), pending(hit(theirs, at=LATER))]
    store.record_hits(old + new)
    before = store.message(alice.id, mine), store.message(bob.id, theirs)

    assert store.purge_hits(cutoff) == 4
    assert store.purge_hits(cutoff) == 0
    assert store.hits(alice.id, mine) == [new[0]]
    assert store.hits(bob.id, theirs) == [new[1]]
    assert store.pending_hits(LATER) == [new[1]]
    assert (store.message(alice.id, mine), store.message(bob.id, theirs)) == before
    assert (before[0].opens, before[0].clicks, before[0].link_clicks) == (2, 1, {0: 1})


# Settings.


def test_settings_merge_top_level_keys_per_account(store, alice, bob):
    assert store.get_settings(alice.id) == {}
    first = {"never_track": ["boss@example.com"], "eu_off": False}
    assert store.put_settings(alice.id, first) == first
    merged = store.put_settings(alice.id, {"eu_off": True, "notify": {"a.b": 1}})
    assert merged == {"never_track": ["boss@example.com"], "eu_off": True, "notify": {"a.b": 1}}
    assert store.get_settings(alice.id) == merged
    assert store.put_settings(alice.id, {}) == merged
    assert store.get_settings(bob.id) == {}
    with pytest.raises(StoreError):
        store.put_settings("no-such-account", {"x": 1})
    assert store.get_settings("no-such-account") == {}


def test_settings_go_with_the_account(store, alice):
    store.put_settings(alice.id, {"eu_off": True})
    store.delete_account(alice.id)
    assert store.get_settings(alice.id) == {}
    again = store.ensure_account("alice@example.com", LATER)
    assert store.get_settings(again.id) == {}


# The app on the Firestore store.


@pytest.mark.firestore
def test_the_api_tracks_a_message_on_firestore(firestore_store, tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        base_url="http://mailtick.test",
        store_url="firestore://mailtick-test",
        testing=True,
        background_interval=0,  # the test runs the classification pass itself
    )
    app = create_app(settings, store=firestore_store)
    try:
        client = app.test_client()
        account = firestore_store.ensure_account("sender@example.com", T0)
        headers = {"Authorization": f"Bearer {issue_token(firestore_store, account)}"}

        reserved = client.post("/api/v1/messages", json={}, headers=headers)
        assert reserved.status_code == 201, reserved.get_json()
        message_id = reserved.get_json()["id"]
        completed = client.patch(
            f"/api/v1/messages/{message_id}",
            json={"subject": "Hi", "recipients": {"to": ["alice@example.com"]}},
            headers=headers,
        )
        assert completed.status_code == 200, completed.get_json()
        status = client.post("/api/v1/messages/status", json={"ids": [message_id]}, headers=headers)
        assert status.get_json()["statuses"][0]["state"] == "tracked"

        pixel = client.get(f"/p/{message_id}.gif", headers={"User-Agent": "Thunderbird/128.0"})
        assert pixel.status_code == 200 and pixel.mimetype == "image/gif"
        status = client.post("/api/v1/messages/status", json={"ids": [message_id]}, headers=headers)
        assert status.get_json()["statuses"][0]["state"] == "tracked"  # not classified yet
        app.extensions["mailtick.spool"].drain()  # as the spool's thread does within 0.1 s
        [classified] = app.extensions["mailtick.background"].run_once(
            utcnow() + timedelta(minutes=1)
        )
        assert (classified.message_id, classified.cls, classified.counted) == (
            message_id,
            "human",
            True,
        )

        status = client.post("/api/v1/messages/status", json={"ids": [message_id]}, headers=headers)
        [entry] = status.get_json()["statuses"]
        assert (entry["id"], entry["state"], entry["opens"]) == (message_id, "opened", 1)
        assert app.extensions["mailtick.spool"].pending() == 0
        history = client.get("/api/v1/messages", headers=headers).get_json()
        assert [m["id"] for m in history["messages"]] == [message_id]
    finally:
        app.extensions["mailtick.background"].stop()
        app.extensions["mailtick.spool"].stop()
