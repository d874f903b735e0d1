# ruff: noqa: F811 - the contract fixtures are imported by name and taken as arguments
"""The Store contract for insights (issue 7): replies and follow-up reminders.

It reuses the contract suite's fixtures, so each test runs on SQLite and on the Firestore
emulator. The last test is SQLite's own: its migration from the schema before insights.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

from test_store_contract import (  # noqa: F401 - fixtures used by name
    T0,
    alice,
    bob,
    firestore_emulator,
    firestore_store,
    sent,
    store,
)

from backend.store import Reply
from backend.store import sqlite as sqlite_module
from backend.store.sqlite import MIGRATIONS, SQLiteStore

DUE = T0 + timedelta(days=3)


def reply(message_id, gmail_id="18c2f0a1b2c3d4e5", sender="carol@example.com", at=None, **more):
    at = at or T0 + timedelta(hours=2)
    fields = {"source": "extension", "recorded_at": at + timedelta(minutes=1), **more}
    return Reply(message_id, "", gmail_id, sender, at, **fields)


def facts(reminder) -> tuple:
    if reminder is None:
        return None
    return (
        reminder.id,
        reminder.status,
        reminder.due_at,
        reminder.fired_at,
        reminder.acked_at,
        reminder.cancelled_at,
        reminder.cancel_reason,
    )


# Replies.


def test_a_reply_is_kept_once_per_gmail_id(store, alice):
    message_id = sent(store, alice)
    first, created = store.record_reply(alice.id, reply(message_id))
    assert created is True
    assert (first.message_id, first.account_id, first.sender, first.source) == (
        message_id,
        alice.id,
        "carol@example.com",
        "extension",
    )
    # Reported again, even with other details, the reply stays as first kept.
    again, created = store.record_reply(
        alice.id, reply(message_id, sender="dave@example.com", source="gmail_api")
    )
    assert (created, again) == (False, first)
    _, created = store.record_reply(alice.id, reply(message_id, gmail_id="18c2f0a1b2c3ffff"))
    assert created is True
    assert [r.gmail_message_id for r in store.replies(alice.id, message_id)] == [
        "18c2f0a1b2c3d4e5",
        "18c2f0a1b2c3ffff",
    ]


def test_replies_to_another_accounts_or_a_missing_message_are_refused(store, alice, bob):
    message_id = sent(store, alice)
    assert store.record_reply(bob.id, reply(message_id)) is None
    assert store.record_reply(alice.id, reply("Q" * 24)) is None
    assert store.record_reply(alice.id, reply("a/b")) is None
    assert store.replies(alice.id) == []


def test_replies_come_back_per_account_oldest_first(store, alice, bob):
    first, second = sent(store, alice), sent(store, alice)
    theirs = sent(store, bob)
    store.record_reply(alice.id, reply(second, "aa01", at=T0 + timedelta(hours=5)))
    store.record_reply(alice.id, reply(first, "aa02", at=T0 + timedelta(hours=1)))
    store.record_reply(bob.id, reply(theirs, "aa03"))
    found = store.replies(alice.id)
    assert [(r.message_id, r.gmail_message_id) for r in found] == [
        (first, "aa02"),
        (second, "aa01"),
    ]
    assert found[0].at == T0 + timedelta(hours=1)
    assert found[0].recorded_at == T0 + timedelta(hours=1, minutes=1)
    assert [r.gmail_message_id for r in store.replies(alice.id, second)] == ["aa01"]
    assert store.replies(alice.id, theirs) == []
    assert [r.gmail_message_id for r in store.replies(bob.id)] == ["aa03"]


# Reminders.


def test_a_reminder_is_set_read_and_replaced(store, alice, bob):
    message_id = sent(store, alice)
    made = store.set_reminder(alice.id, message_id, DUE, T0)
    assert facts(made) == (message_id, "scheduled", DUE, None, None, None, "")
    assert made.created_at == T0 and made.account_id == alice.id
    assert facts(store.reminder(alice.id, message_id)) == facts(made)
    assert store.reminder(bob.id, message_id) is None
    # Fired, then set again: scheduled afresh, with nothing left of the first.
    store.fire_reminder(message_id, DUE)
    later = DUE + timedelta(days=2)
    again = store.set_reminder(alice.id, message_id, later, DUE)
    assert facts(again) == (message_id, "scheduled", later, None, None, None, "")
    assert facts(store.reminder(alice.id, message_id)) == facts(again)


def test_reminders_only_on_the_accounts_messages(store, alice, bob):
    message_id = sent(store, alice)
    assert store.set_reminder(bob.id, message_id, DUE, T0) is None
    assert store.set_reminder(alice.id, "Q" * 24, DUE, T0) is None
    assert store.reminder(alice.id, message_id) is None
    assert store.reminder(alice.id, "a/b") is None


def test_cancel_only_a_scheduled_or_due_reminder_of_ones_own(store, alice, bob):
    scheduled, due, acked = sent(store, alice), sent(store, alice), sent(store, alice)
    for message_id in (scheduled, due, acked):
        store.set_reminder(alice.id, message_id, DUE, T0)
    store.fire_reminder(due, DUE)
    store.fire_reminder(acked, DUE)
    store.ack_reminder(alice.id, acked, DUE)
    now = DUE + timedelta(hours=1)

    assert store.cancel_reminder(bob.id, scheduled, now) is None
    cancelled = store.cancel_reminder(alice.id, scheduled, now)
    assert facts(cancelled) == (scheduled, "cancelled", DUE, None, None, now, "user")
    assert store.cancel_reminder(alice.id, scheduled, now) is None
    assert store.cancel_reminder(alice.id, due, now).cancelled_at == now
    assert store.cancel_reminder(alice.id, acked, now) is None
    assert store.reminder(alice.id, acked).status == "acked"
    assert store.cancel_reminder(alice.id, sent(store, alice), now) is None


def test_scheduled_reminders_of_every_account_due_by_a_time(store, alice, bob):
    early, late, future = sent(store, alice), sent(store, bob), sent(store, alice)
    fired = sent(store, alice)
    store.set_reminder(alice.id, early, DUE - timedelta(hours=1), T0)
    store.set_reminder(bob.id, late, DUE, T0)
    store.set_reminder(alice.id, future, DUE + timedelta(seconds=1), T0)
    store.set_reminder(alice.id, fired, DUE - timedelta(hours=2), T0)
    store.fire_reminder(fired, DUE)
    assert [r.id for r in store.scheduled_reminders(DUE)] == [early, late]
    assert [r.id for r in store.scheduled_reminders(DUE, limit=1)] == [early]
    assert store.scheduled_reminders(T0) == []


def test_a_reminder_fires_once_and_not_before_it_is_due(store, alice):
    message_id = sent(store, alice)
    store.set_reminder(alice.id, message_id, DUE, T0)
    assert store.fire_reminder(message_id, DUE - timedelta(seconds=1)) is None
    assert store.reminder(alice.id, message_id).status == "scheduled"
    fired = store.fire_reminder(message_id, DUE + timedelta(minutes=1))
    assert facts(fired) == (
        message_id,
        "due",
        DUE,
        DUE + timedelta(minutes=1),
        None,
        None,
        "",
    )
    assert store.fire_reminder(message_id, DUE + timedelta(minutes=2)) is None
    assert facts(store.reminder(alice.id, message_id)) == facts(fired)
    assert store.fire_reminder("Q" * 24, DUE) is None


def test_a_reply_cancels_the_reminder_whether_scheduled_or_due(store, alice):
    scheduled, due = sent(store, alice), sent(store, alice)
    store.set_reminder(alice.id, scheduled, DUE, T0)
    store.set_reminder(alice.id, due, DUE, T0)
    store.fire_reminder(due, DUE)

    answer = reply(scheduled)
    store.record_reply(alice.id, answer)
    assert facts(store.reminder(alice.id, scheduled)) == (
        scheduled,
        "cancelled",
        DUE,
        None,
        None,
        answer.recorded_at,
        "reply",
    )
    assert store.fire_reminder(scheduled, DUE) is None
    store.record_reply(alice.id, reply(due))
    assert store.reminder(alice.id, due).cancel_reason == "reply"
    assert store.reminders(alice.id, "due") == []


def test_a_known_reply_cancels_a_reminder_set_after_it(store, alice):
    message_id = sent(store, alice)
    store.record_reply(alice.id, reply(message_id))
    store.set_reminder(alice.id, message_id, DUE, T0)
    # Firing finds the reply and cancels instead ...
    assert store.fire_reminder(message_id, DUE) is None
    assert store.reminder(alice.id, message_id).cancel_reason == "reply"
    # ... and so does the same reply reported again.
    store.set_reminder(alice.id, message_id, DUE, T0)
    assert store.record_reply(alice.id, reply(message_id))[1] is False
    assert store.reminder(alice.id, message_id).status == "cancelled"


def test_workers_firing_the_same_reminders_fire_each_once(store, alice):
    ids = [sent(store, alice) for _ in range(3)]
    for message_id in ids:
        store.set_reminder(alice.id, message_id, DUE, T0)
    fired: list = []
    start = threading.Barrier(4)

    def worker():
        start.wait()
        for message_id in ids:
            found = store.fire_reminder(message_id, DUE)
            if found is not None:
                fired.append(found.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(fired) == sorted(ids)


def test_due_reminders_are_listed_until_acknowledged_by_their_owner(store, alice, bob):
    first, second = sent(store, alice), sent(store, alice)
    store.set_reminder(alice.id, second, DUE - timedelta(hours=1), T0)
    store.set_reminder(alice.id, first, DUE - timedelta(hours=2), T0)
    assert [r.id for r in store.reminders(alice.id, "scheduled")] == [first, second]
    store.fire_reminder(first, DUE)
    store.fire_reminder(second, DUE)
    assert [r.id for r in store.reminders(alice.id, "due")] == [first, second]
    assert store.reminders(bob.id, "due") == []
    assert [r.id for r in store.reminders(alice.id, "due", limit=1)] == [first]

    assert store.ack_reminder(bob.id, first, DUE) is None
    acked = store.ack_reminder(alice.id, first, DUE + timedelta(minutes=3))
    assert (acked.status, acked.acked_at) == ("acked", DUE + timedelta(minutes=3))
    assert store.ack_reminder(alice.id, first, DUE) is None
    assert [r.id for r in store.reminders(alice.id, "due")] == [second]
    assert [r.id for r in store.reminders(alice.id, "acked")] == [first]
    # Only a due reminder can be acknowledged.
    scheduled = sent(store, alice)
    store.set_reminder(alice.id, scheduled, DUE, T0)
    assert store.ack_reminder(alice.id, scheduled, DUE) is None


def test_replies_and_reminders_go_with_their_message_and_account(store, alice, bob):
    gone, kept = sent(store, alice), sent(store, alice)
    theirs = sent(store, bob)
    for account, message_id in ((alice, gone), (alice, kept), (bob, theirs)):
        store.set_reminder(account.id, message_id, DUE, T0)
        store.record_reply(account.id, reply(message_id))
    assert store.delete_message(alice.id, gone)
    assert [r.message_id for r in store.replies(alice.id)] == [kept]
    assert store.reminder(alice.id, gone) is None
    assert [r.id for r in store.reminders(alice.id, "cancelled")] == [kept]

    store.delete_account(alice.id)
    assert store.replies(alice.id) == [] and store.reminders(alice.id, "cancelled") == []
    assert [r.message_id for r in store.replies(bob.id)] == [theirs]
    assert store.reminder(bob.id, theirs) is not None


# SQLite's migration.


def test_a_v3_sqlite_database_gains_replies_and_reminders(tmp_path, monkeypatch):
    path = tmp_path / "mailtick.db"
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", MIGRATIONS[:3])
    old = SQLiteStore(path)
    account = old.ensure_account("alice@example.com", T0)
    message_id = sent(old, account)
    old.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    monkeypatch.undo()

    store = SQLiteStore(path)
    assert store.schema_version() == len(MIGRATIONS) >= 4
    assert store.set_reminder(account.id, message_id, DUE, T0).status == "scheduled"
    assert store.record_reply(account.id, reply(message_id))[1] is True
    assert store.reminder(account.id, message_id).cancel_reason == "reply"
    store.close()
