# ruff: noqa: F811 - the contract fixtures are imported by name and taken as arguments
"""The Store contract for notifications (issue 5), on SQLite and on the Firestore emulator.

It reuses the contract suite's fixtures, so each test runs against every store kind.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from test_store_contract import (  # noqa: F401 - fixtures used by name
    T0,
    alice,
    bob,
    firestore_emulator,
    firestore_store,
    new_id,
    sent,
    store,
)

from backend.store import Activity, StoreError

DAY = "2026-11-02"
NEXT_DAY = "2026-11-03"


def item(message_id, kind="opened", at=T0, day=DAY, **fields) -> Activity:
    return Activity(
        id=new_id(), account_id="", message_id=message_id, kind=kind, at=at, day=day, **fields
    )


def everything(_item) -> bool:
    return True


def first_only(found) -> bool:
    return found.first


def facts(items) -> list[tuple]:
    return [(i.kind, i.first, i.count_today, i.notify) for i in items]


# The feed.


def test_opens_become_opened_then_reopened_with_counts_per_day(store, alice):
    message_id = sent(store, alice, subject="Quarterly numbers", to=["a@example.com"])
    added = store.append_activity(
        alice.id,
        [
            item(message_id, at=T0, subject="Quarterly numbers", to=["a@example.com"]),
            item(message_id, at=T0 + timedelta(hours=1)),
        ],
        first_only,
    )
    added += store.append_activity(
        alice.id, [item(message_id, at=T0 + timedelta(hours=2))], first_only
    )
    added += store.append_activity(
        alice.id, [item(message_id, at=T0 + timedelta(days=1), day=NEXT_DAY)], first_only
    )
    assert facts(added) == [
        ("opened", True, 1, True),
        ("reopened", False, 2, False),
        ("reopened", False, 3, False),
        ("reopened", False, 1, False),
    ]
    seqs = [i.seq for i in added]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4 and seqs[0] > 0
    assert store.activity(alice.id, 0, 10) == added
    first = store.activity(alice.id, 0, 1)[0]
    assert (first.account_id, first.subject, first.to, first.at, first.day) == (
        alice.id,
        "Quarterly numbers",
        ["a@example.com"],
        T0,
        DAY,
    )


def test_clicks_are_first_per_link_and_counted_per_link_and_day(store, alice):
    message_id = sent(store, alice, links=["https://example.com/a", "https://example.com/b"])
    a, b = "https://example.com/a", "https://example.com/b"
    added = store.append_activity(
        alice.id,
        [
            item(message_id, "clicked", link_index=0, url=a),
            item(message_id, "clicked", link_index=1, url=b),
            item(message_id, "clicked", link_index=0, url=a),
            item(message_id, "opened"),  # a click is no open: this is still the first open
            item(message_id, "clicked", link_index=0, url=a, day=NEXT_DAY),
        ],
        first_only,
    )
    assert facts(added) == [
        ("clicked", True, 1, True),
        ("clicked", True, 1, True),
        ("clicked", False, 2, False),
        ("opened", True, 1, True),
        ("clicked", False, 1, False),
    ]
    assert [(i.link_index, i.url) for i in added[:3]] == [(0, a), (1, b), (0, a)]


def test_every_field_reads_back(store, alice):
    message_id = sent(store, alice)
    full = item(
        message_id,
        "clicked",
        subject="Hi <b>",
        to=["a@example.com"],
        cc=["c@example.com"],
        bcc=["d@example.com"],
        link_index=3,
        url="https://example.com/x?y=1",
        cls="human",
        client="Thunderbird 128",
        device="computer (Linux)",
        gmail_message_id="18aa",
        gmail_thread_id="18ab",
    )
    [added] = store.append_activity(alice.id, [full], everything)
    expected = replace(full, account_id=alice.id, seq=added.seq, first=True, count_today=1)
    expected.notify = True
    assert added == expected
    assert store.activity(alice.id, None, 5) == [expected]
    assert store.activity_between(alice.id, T0, T0 + timedelta(seconds=1)) == [expected]


def test_decide_sees_the_facts_the_store_set(store, alice):
    message_id = sent(store, alice)
    seen = []

    def decide(found):
        seen.append((found.kind, found.first, found.count_today))
        return found.count_today == 2

    added = store.append_activity(alice.id, [item(message_id), item(message_id)], decide)
    assert seen == [("opened", True, 1), ("reopened", False, 2)]
    assert [i.notify for i in added] == [False, True]
    assert [i.notify for i in store.activity(alice.id, 0, 5)] == [False, True]


def test_an_item_added_again_is_skipped(store, alice):
    message_id = sent(store, alice)
    once = item(message_id)
    [added] = store.append_activity(alice.id, [once], everything)
    assert store.append_activity(alice.id, [once, replace(once, kind="clicked")], everything) == []
    again = store.append_activity(alice.id, [once, item(message_id)], everything)
    assert [i.kind for i in again] == ["reopened"]
    assert [i.id for i in store.activity(alice.id, 0, 10)] == [once.id, again[0].id]
    assert store.activity_head(alice.id) == again[0].seq > added.seq


def test_items_of_missing_or_foreign_messages_are_dropped(store, alice, bob):
    mine, theirs = sent(store, alice), sent(store, bob)
    added = store.append_activity(
        alice.id, [item(theirs), item(new_id()), item("a/b"), item(mine)], everything
    )
    assert [(i.message_id, i.kind) for i in added] == [(mine, "opened")]
    assert store.activity(bob.id, 0, 10) == []
    # Bob's first open of his own message is still his first.
    [bobs] = store.append_activity(bob.id, [item(theirs)], everything)
    assert (bobs.kind, bobs.first) == ("opened", True)


def test_the_feed_pages_by_position_and_belongs_to_its_account(store, alice, bob):
    assert (store.activity_head(alice.id), store.activity(alice.id, None, 5)) == (0, [])
    message_id, other = sent(store, alice), sent(store, bob)
    added = []
    for n in range(5):
        added += store.append_activity(
            alice.id, [item(message_id, at=T0 + timedelta(minutes=n))], everything
        )
        store.append_activity(bob.id, [item(other)], everything)
    ids = [i.id for i in added]
    assert [i.id for i in store.activity(alice.id, 0, 2)] == ids[:2]
    assert [i.id for i in store.activity(alice.id, added[1].seq, 2)] == ids[2:4]
    assert [i.id for i in store.activity(alice.id, added[3].seq, 2)] == ids[4:]
    assert store.activity(alice.id, added[4].seq, 2) == []
    assert [i.id for i in store.activity(alice.id, None, 2)] == ids[3:]
    assert store.activity_head(alice.id) == added[4].seq
    assert all(i.account_id == alice.id for i in store.activity(alice.id, 0, 10))


def test_concurrent_appends_give_one_first_open_and_positions_in_commit_order(store, alice):
    messages = [sent(store, alice) for _ in range(2)]
    barrier, failures, results = threading.Barrier(3), [], []

    def worker(n):
        barrier.wait()
        try:
            batch = [item(m, at=T0 + timedelta(seconds=s)) for s in range(2) for m in messages]
            results.extend(store.append_activity(alice.id, batch, first_only))
        except Exception as exc:  # pragma: no cover - shown by the assertion
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    feed = store.activity(alice.id, 0, 100)
    assert len(feed) == 12 and len({i.seq for i in feed}) == 12
    for message_id in messages:
        mine = [i for i in feed if i.message_id == message_id]
        assert [i.kind for i in mine] == ["opened"] + ["reopened"] * 5
        # Positions follow the order the store decided in: counts grow with them.
        assert [i.count_today for i in mine] == list(range(1, 7))
    assert sorted(i.seq for i in results) == [i.seq for i in feed]


def test_activity_between_is_by_the_readers_time(store, alice, bob):
    message_id = sent(store, alice)
    tick = timedelta(microseconds=1)
    start, end = T0, T0 + timedelta(days=1)
    inside = [item(message_id, at=start), item(message_id, at=end - tick)]
    outside = [item(message_id, at=start - tick), item(message_id, at=end)]
    store.append_activity(alice.id, [outside[0], inside[0], inside[1], outside[1]], everything)
    store.append_activity(bob.id, [item(sent(store, bob), at=start)], everything)
    found = store.activity_between(alice.id, start, end)
    assert [i.id for i in found] == [i.id for i in inside]
    assert len(store.activity_between(alice.id, start, end, limit=1)) == 1


def test_purge_activity_drops_old_items_of_every_account(store, alice, bob):
    mine, theirs = sent(store, alice), sent(store, bob)
    cutoff = T0 + timedelta(days=1)
    store.append_activity(alice.id, [item(mine, at=T0), item(mine, at=cutoff)], everything)
    store.append_activity(bob.id, [item(theirs, at=T0)], everything)
    head = store.activity_head(alice.id)
    assert store.purge_activity(cutoff) == 2
    assert store.purge_activity(cutoff) == 0
    assert [i.at for i in store.activity(alice.id, 0, 10)] == [cutoff]
    assert store.activity(bob.id, 0, 10) == []
    assert store.activity_head(alice.id) == head
    # Positions are never reused after a purge.
    [later] = store.append_activity(alice.id, [item(mine)], everything)
    assert later.seq > head


def test_activity_goes_with_its_message_and_its_account(store, alice, bob):
    deleted, kept = sent(store, alice), sent(store, alice)
    store.append_activity(alice.id, [item(deleted), item(kept)], everything)
    assert store.delete_message(alice.id, deleted)
    assert [i.message_id for i in store.activity(alice.id, 0, 10)] == [kept]

    store.add_push_subscription(alice.id, "https://push.example/a", "k", "s", T0)
    store.claim_mark(alice.id, "digest:2026-11-02", T0)
    store.put_credential(alice.id, "gmail", "secret")
    store.delete_account(alice.id)
    assert store.activity(alice.id, 0, 10) == []
    assert store.push_subscriptions(alice.id) == []
    assert store.credential(alice.id, "gmail") is None
    again = store.ensure_account("alice@example.com", T0)
    assert store.activity(again.id, None, 10) == [] and store.activity_head(again.id) == 0
    assert store.claim_mark(again.id, "digest:2026-11-02", T0) is True


# Push subscriptions.


def test_push_subscriptions_are_kept_per_account_and_replaced_by_endpoint(store, alice, bob):
    store.add_push_subscription(alice.id, "https://push.example/1", "key1", "auth1", T0)
    store.add_push_subscription(alice.id, "https://push.example/2", "key2", "auth2", T0)
    later = T0 + timedelta(minutes=1)
    store.add_push_subscription(alice.id, "https://push.example/1", "key1b", "auth1b", later)
    subs = store.push_subscriptions(alice.id)
    assert [(s.endpoint, s.p256dh, s.auth, s.created_at) for s in subs] == [
        ("https://push.example/2", "key2", "auth2", T0),
        ("https://push.example/1", "key1b", "auth1b", later),
    ]
    assert all(s.account_id == alice.id for s in subs)
    # The browser signed in as Bob now: the endpoint is his alone.
    store.add_push_subscription(bob.id, "https://push.example/2", "key2", "auth2", later)
    assert [s.endpoint for s in store.push_subscriptions(alice.id)] == ["https://push.example/1"]
    assert [s.endpoint for s in store.push_subscriptions(bob.id)] == ["https://push.example/2"]
    with pytest.raises(StoreError):
        store.add_push_subscription("no-such-account", "https://push.example/3", "k", "a", T0)


def test_removing_a_push_subscription_checks_its_owner_when_asked(store, alice, bob):
    store.add_push_subscription(alice.id, "https://push.example/1", "k", "a", T0)
    assert store.remove_push_subscription("https://push.example/1", bob.id) is False
    assert len(store.push_subscriptions(alice.id)) == 1
    assert store.remove_push_subscription("https://push.example/1", alice.id) is True
    assert store.remove_push_subscription("https://push.example/1", alice.id) is False
    store.add_push_subscription(alice.id, "https://push.example/1", "k", "a", T0)
    assert store.remove_push_subscription("https://push.example/1") is True
    assert store.push_subscriptions(alice.id) == []


# Marks, secrets, credentials, accounts by setting.


def test_a_mark_is_claimed_once_until_released(store, alice, bob):
    assert store.claim_mark(alice.id, "digest:2026-11-02", T0) is True
    assert store.claim_mark(alice.id, "digest:2026-11-02", T0) is False
    assert store.claim_mark(bob.id, "digest:2026-11-02", T0) is True
    assert store.claim_mark(alice.id, "digest:2026-11-03", T0) is True
    store.release_mark(alice.id, "digest:2026-11-02")
    assert store.claim_mark(alice.id, "digest:2026-11-02", T0) is True
    store.release_mark(alice.id, "never-claimed")


def test_racing_claims_of_one_mark_succeed_once(store, alice):
    barrier, wins = threading.Barrier(4), []

    def claim():
        barrier.wait()
        wins.append(store.claim_mark(alice.id, "instant:x", T0))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False, False, False, True]


def test_the_first_server_secret_stored_wins(store):
    assert store.server_secret("vapid", "first") == "first"
    assert store.server_secret("vapid", "second") == "first"
    assert store.server_secret("other", "x") == "x"


def test_credentials_are_kept_per_account_and_forgotten(store, alice, bob):
    assert store.credential(alice.id, "gmail") is None
    store.put_credential(alice.id, "gmail", "token-a")
    store.put_credential(alice.id, "other", "x")
    assert (store.credential(alice.id, "gmail"), store.credential(bob.id, "gmail")) == (
        "token-a",
        None,
    )
    store.put_credential(alice.id, "gmail", None)
    assert (store.credential(alice.id, "gmail"), store.credential(alice.id, "other")) == (
        None,
        "x",
    )
    # Credentials are no settings.
    assert store.get_settings(alice.id) == {}
    with pytest.raises(StoreError):
        store.put_credential("no-such-account", "gmail", "x")
    assert store.credential("no-such-account", "gmail") is None


def test_accounts_with_a_setting(store, alice, bob):
    carol = store.ensure_account("carol@example.com", T0)
    store.put_settings(alice.id, {"email_digest": True, "notify_mode": "every"})
    store.put_settings(bob.id, {"email_digest": False})
    store.put_settings(carol.id, {"email_digest": True})
    found = store.accounts_with_setting("email_digest", True)
    assert sorted(a.email for a in found) == ["alice@example.com", "carol@example.com"]
    assert [a.email for a in store.accounts_with_setting("notify_mode", "every")] == [
        "alice@example.com"
    ]
    assert store.accounts_with_setting("email_instant", True) == []


def test_the_index_file_declares_what_the_feed_and_its_purge_need():
    import json
    from pathlib import Path

    config = json.loads((Path(__file__).parent.parent / "firestore.indexes.json").read_text())
    overrides = {
        (o["collectionGroup"], o["fieldPath"]): o["indexes"] for o in config["fieldOverrides"]
    }
    # activity_between: one account's items by time; purge_activity: every account's.
    assert {"order": "ASCENDING", "queryScope": "COLLECTION"} in overrides[("activity", "at")]
    assert {"order": "ASCENDING", "queryScope": "COLLECTION_GROUP"} in overrides[("activity", "at")]
    # The feed pages by seq, deletion finds a message's items, subscriptions an account's.
    for field in [
        ("activity", "seq"),
        ("activity", "message_id"),
        ("push_subscriptions", "account_id"),
    ]:
        assert overrides.get(field) != [], field


@pytest.mark.firestore
def test_the_app_feeds_and_pages_on_firestore(firestore_store, tmp_path):
    from backend import create_app
    from backend.auth import issue_token
    from backend.config import Settings
    from backend.notify.feed import encode_cursor
    from backend.store import utcnow

    settings = Settings(
        data_dir=tmp_path,
        base_url="http://mailtick.test",
        store_url="firestore://mailtick-test",
        testing=True,
        background_interval=0,
    )
    app = create_app(settings, store=firestore_store)
    try:
        client = app.test_client()
        account = firestore_store.ensure_account("sender@example.com", T0)
        headers = {"Authorization": f"Bearer {issue_token(firestore_store, account)}"}
        message_id = client.post("/api/v1/messages", json={}, headers=headers).get_json()["id"]
        sent_at = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        client.patch(
            f"/api/v1/messages/{message_id}",
            json={"subject": "On Firestore", "sent_at": sent_at},
            headers=headers,
        )
        for agent in ("Thunderbird/128.0", "Mozilla/5.0 (Windows NT 10.0) Outlook/16.0"):
            client.get(f"/p/{message_id}.gif", headers={"User-Agent": agent})
        app.extensions["mailtick.spool"].drain()
        app.extensions["mailtick.background"].run_once(utcnow() + timedelta(minutes=1))
        added = app.extensions["mailtick.notifier"].drain()
        assert [i.kind for i in added] == ["opened", "reopened"]

        def feed(**query):
            response = client.get("/api/v1/events", query_string=query, headers=headers)
            assert response.status_code == 200, response.get_json()
            return response.get_json()

        page = feed(limit=1, after=encode_cursor(0))
        rest = feed(after=page["cursor"])
        assert [e["kind"] for e in page["events"] + rest["events"]] == ["opened", "reopened"]
        assert (page["more"], rest["more"]) == (True, False)
        assert page["events"][0]["subject"] == "On Firestore"
        assert feed(after=rest["cursor"])["events"] == []
        key = client.get("/api/v1/push/key", headers=headers).get_json()["public_key"]
        assert firestore_store.server_secret("vapid_private_key", "unused") != "unused"
        assert len(key) == 87  # 65 bytes, base64url without padding
    finally:
        # The store is the fixture's: stop the app's threads, leave the store open.
        app.extensions["mailtick.background"].stop()
        app.extensions["mailtick.notifier"].stop()
        app.extensions["mailtick.spool"].stop()
