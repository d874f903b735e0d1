"""What only the Firestore store does: its URL, lazy client, data layout and failure handling."""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from firestore_emulator import fresh_store, session_emulator

from backend.store import Hit, StoreError, encode_cursor, open_store, utcnow
from backend.store import firestore as firestore_module
from backend.store.firestore import SHARDS, FirestoreStore

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory):
    yield from session_emulator(tmp_path_factory)


@pytest.fixture
def firestore_store(firestore_emulator):
    yield from fresh_store(firestore_emulator)


def sent(store, email="alice@example.com") -> tuple[str, str]:
    account = store.ensure_account(email, T0)
    message_id = secrets.token_urlsafe(18)
    store.reserve(account.id, message_id, T0, T0 + timedelta(days=3))
    store.complete(account.id, message_id, {"subject": "Hi", "sent_at": T0})
    return account.id, message_id


def hit(message_id, **fields) -> Hit:
    return Hit(id=secrets.token_urlsafe(12), message_id=message_id, kind="open", at=T0, **fields)


def test_urls_name_a_project_and_optionally_a_database():
    store = open_store("firestore://my-project")
    assert (store.kind, store.project, store.database) == ("firestore", "my-project", "(default)")
    named = FirestoreStore.from_url("firestore://my-project/tracking")
    assert (named.project, named.database) == ("my-project", "tracking")
    # Opening a store talks to nothing: the client comes with the first call.
    assert store._client is None and named._client is None
    for bad in ("firestore://", "firestore:///db", "firestore://p/d/x", "firestore://p/"):
        with pytest.raises(ValueError, match="firestore://PROJECT"):
            FirestoreStore.from_url(bad)


def test_an_unreachable_firestore_fails_fast_with_store_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    store = FirestoreStore("mailtick-test", emulator_host=f"127.0.0.1:{port}", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(StoreError):
        store.ping()
    with pytest.raises(StoreError):
        store.record_hits([hit("m" * 24)])
    assert time.monotonic() - started < 10
    store.close()


@pytest.mark.firestore
def test_the_emulator_address_stays_out_of_the_environment(firestore_store):
    before = os.environ.get("FIRESTORE_EMULATOR_HOST")
    firestore_store.ping()
    assert firestore_store.db._emulator_host == firestore_store.emulator_host
    assert os.environ.get("FIRESTORE_EMULATOR_HOST") == before


@pytest.mark.firestore
def test_hits_never_write_the_message_document_but_spread_over_shards(firestore_store):
    account_id, message_id = sent(firestore_store)
    ref = firestore_store.db.collection("messages").document(message_id)
    before = ref.get().update_time
    for _ in range(40):
        firestore_store.record_hits([hit(message_id)])
    assert ref.get().update_time == before
    shards = [s.id for s in ref.collection("shards").stream()]
    assert 1 < len(shards) <= SHARDS and set(shards) <= {str(n) for n in range(SHARDS)}
    assert firestore_store.message(account_id, message_id).opens == 40


@pytest.mark.firestore
def test_hit_documents_carry_an_expiry_for_a_ttl_policy(firestore_store):
    account_id, message_id = sent(firestore_store)
    recorded = hit(message_id, cls="human", client="Thunderbird", device="desktop")
    firestore_store.record_hits([recorded])
    doc = (
        firestore_store.db.collection("messages")
        .document(message_id)
        .collection("hits")
        .document(recorded.id)
        .get()
        .to_dict()
    )
    expected = utcnow() + timedelta(days=90)
    assert abs(doc["expires_at"] - expected) < timedelta(minutes=1)
    [back] = firestore_store.hits(account_id, message_id)
    assert (back.cls, back.client, back.device) == ("human", "Thunderbird", "desktop")


@pytest.mark.firestore
def test_a_replay_racing_the_first_write_still_counts_once(firestore_store, monkeypatch):
    account_id, message_id = sent(firestore_store)
    first = hit(message_id)
    firestore_store.record_hits([first])
    # Pretend the existence check ran before the first write landed, as in a spool replay
    # racing the original request: only create()'s precondition can stop the double count.
    real = firestore_store._existing
    monkeypatch.setattr(
        firestore_store, "_existing", lambda refs: {p for p in real(refs) if "/hits/" not in p}
    )
    firestore_store.record_hits([first, hit(message_id)])
    assert firestore_store.message(account_id, message_id).opens == 2
    assert len(firestore_store.hits(account_id, message_id)) == 2


@pytest.mark.firestore
def test_racing_sign_ins_of_one_address_make_one_account(firestore_emulator, firestore_store):
    stores = [firestore_emulator.store() for _ in range(6)]
    ids, barrier = [], threading.Barrier(len(stores))

    def sign_in(store):
        barrier.wait()
        ids.append(store.ensure_account("racer@example.com", T0).id)

    threads = [threading.Thread(target=sign_in, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert len(ids) == len(stores) and len(set(ids)) == 1
    accounts = list(firestore_store.db.collection("accounts").stream())
    assert [a.id for a in accounts] == ids[:1]


@pytest.mark.firestore
def test_deletes_and_purges_work_through_many_batches(firestore_store, monkeypatch):
    monkeypatch.setattr(firestore_module, "DELETE_BATCH", 2)
    monkeypatch.setattr(firestore_module, "PURGE_BATCH", 2)
    account_id, message_id = sent(firestore_store)
    firestore_store.record_hits([hit(message_id) for _ in range(5)])
    for n in range(5):
        firestore_store.add_token(account_id, f"{n}" * 64, T0)
        firestore_store.reserve(account_id, f"reserved-{n}", T0, T0 + timedelta(hours=1))
    assert firestore_store.purge_reservations(T0 + timedelta(hours=2)) == 5
    firestore_store.delete_account(account_id)
    db = firestore_store.db
    left = [doc.reference.path for doc in db.collection_group("hits").stream()]
    left += [doc.reference.path for doc in db.collection_group("shards").stream()]
    left += [doc.reference.path for doc in db.collection("messages").stream()]
    left += [doc.reference.path for doc in db.collection("tokens").stream()]
    left += [doc.reference.path for doc in db.collection("accounts").stream()]
    left += [doc.reference.path for doc in db.collection("account_emails").stream()]
    assert left == []
    # The deleted hits' pending markers go with the next classification pass.
    assert len(list(db.collection("pending").stream())) == 5
    assert firestore_store.pending_hits(T0 + timedelta(days=1)) == []
    assert list(db.collection("pending").stream()) == []


def test_the_index_file_declares_what_the_history_query_needs():
    config = json.loads((ROOT / "firestore.indexes.json").read_text())
    history = {
        "collectionGroup": "messages",
        "queryScope": "COLLECTION",
        "fields": [
            {"fieldPath": "account_id", "order": "ASCENDING"},
            {"fieldPath": "sent_at", "order": "DESCENDING"},
            {"fieldPath": "__name__", "order": "DESCENDING"},
        ],
    }
    assert history in config["indexes"]
    exempt = {
        (o["collectionGroup"], o["fieldPath"]) for o in config["fieldOverrides"] if not o["indexes"]
    }
    # Fields the store filters on must stay indexed.
    assert not exempt & {
        ("messages", "account_id"),
        ("messages", "expires_at"),
        ("tokens", "account_id"),
    }


def test_the_index_file_declares_what_classification_and_purging_need():
    config = json.loads((ROOT / "firestore.indexes.json").read_text())
    bucketed = [
        {"fieldPath": "bucket", "order": "ASCENDING"},
        {"fieldPath": "at", "order": "ASCENDING"},
    ]
    # pending_hits: the markers; purge_hits: every message's hits.
    assert {"collectionGroup": "pending", "queryScope": "COLLECTION", "fields": bucketed} in config[
        "indexes"
    ]
    assert {"collectionGroup": "hits", "queryScope": "COLLECTION_GROUP", "fields": bucketed} in (
        config["indexes"]
    )
    overrides = {
        (o["collectionGroup"], o["fieldPath"]): o["indexes"] for o in config["fieldOverrides"]
    }
    # hits_between: one message's hits by time, and nothing wider, which would make every hit
    # write to one growing end of an index.
    assert overrides[("hits", "at")] == [{"order": "ASCENDING", "queryScope": "COLLECTION"}]
    # Times that only grow, written with every hit, are indexed only behind a random bucket.
    for field in (("pending", "at"), ("hits", "expires_at")):
        assert overrides[field] == []


@pytest.mark.firestore
def test_pending_markers_come_and_go_with_unclassified_hits(firestore_store):
    account_id, message_id = sent(firestore_store)
    db = firestore_store.db
    message_ref = db.collection("messages").document(message_id)
    before = message_ref.get().update_time
    raw = [hit(message_id, counted=False) for _ in range(12)]
    firestore_store.record_hits([*raw, hit(message_id, cls="human")])

    markers = {doc.id: doc.to_dict() for doc in db.collection("pending").stream()}
    assert sorted(markers) == sorted(h.id for h in raw)
    for h in raw:
        doc = message_ref.collection("hits").document(h.id).get().to_dict()
        assert markers[h.id] == {
            "message_id": message_id,
            "hit_id": h.id,
            "at": T0,
            "bucket": doc["bucket"],
        }
    buckets = {marker["bucket"] for marker in markers.values()}
    assert 1 < len(buckets) and buckets <= set(range(firestore_module.BUCKETS))

    applied = firestore_store.apply_verdicts([replace(h, cls="human", counted=True) for h in raw])
    assert len(applied) == 12
    assert list(db.collection("pending").stream()) == []
    # Classifying, like recording, never writes the message document itself.
    assert message_ref.get().update_time == before
    assert firestore_store.message(account_id, message_id).opens == 13


@pytest.mark.firestore
def test_verdicts_purges_and_stale_markers_work_through_many_batches(firestore_store, monkeypatch):
    for name in ("DELETE_BATCH", "VERDICT_BATCH", "HIT_BATCH"):
        monkeypatch.setattr(firestore_module, name, 2)
    account_id, message_id = sent(firestore_store)
    bob_id, deleted = sent(firestore_store, "bob@example.com")
    raw = [hit(message_id, counted=False) for _ in range(5)]
    firestore_store.record_hits([*raw, *(hit(deleted, counted=False) for _ in range(5))])
    firestore_store.delete_message(bob_id, deleted)

    assert len(firestore_store.pending_hits(T0 + timedelta(days=1))) == 5
    assert len(list(firestore_store.db.collection("pending").stream())) == 5
    judged = [replace(h, cls="human", counted=True) for h in raw]
    assert sorted(h.id for h in firestore_store.apply_verdicts(judged)) == sorted(h.id for h in raw)
    assert firestore_store.message(account_id, message_id).opens == 5
    assert firestore_store.purge_hits(T0 + timedelta(seconds=1)) == 5
    assert firestore_store.hits(account_id, message_id) == []
    assert firestore_store.message(account_id, message_id).opens == 5


@pytest.mark.firestore
def test_the_hit_expiry_follows_the_configured_retention(firestore_emulator, firestore_store):
    store = firestore_emulator.store(retention_days=7)
    try:
        _, message_id = sent(store)
        recorded = hit(message_id)
        store.record_hits([recorded])
        doc = (
            store.db.collection("messages")
            .document(message_id)
            .collection("hits")
            .document(recorded.id)
            .get()
            .to_dict()
        )
        assert abs(doc["expires_at"] - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
    finally:
        store.close()


def test_store_options_pass_through_open_store():
    assert open_store("firestore://p", retention_days=7).retention == timedelta(days=7)
    assert open_store("firestore://p").retention == timedelta(days=90)


@pytest.mark.firestore
def test_a_cursor_naming_an_id_firestore_reserves_is_refused(firestore_store):
    account_id, _ = sent(firestore_store)
    with pytest.raises(ValueError):
        firestore_store.messages(
            account_id, 10, encode_cursor("2026-11-02T09:30:00.000000Z", "__x__")
        )


@pytest.mark.firestore
def test_verdicts_skip_a_message_whose_deletion_is_under_way(firestore_store):
    account_id, message_id = sent(firestore_store)
    raw = hit(message_id, counted=False)
    firestore_store.record_hits([raw])
    db = firestore_store.db
    message_ref = db.collection("messages").document(message_id)
    # delete_message removes the message document first, then its hits and shards.
    message_ref.delete()
    assert firestore_store.apply_verdicts([replace(raw, cls="human", counted=True)]) == []
    assert list(message_ref.collection("shards").stream()) == []
    assert list(db.collection("pending").stream()) == []
    assert message_ref.collection("hits").document(raw.id).get().get("cls") == ""


@pytest.mark.firestore
def test_a_marker_left_beside_a_classified_hit_is_dropped(firestore_store):
    _, message_id = sent(firestore_store)
    classified = hit(message_id, cls="human")
    firestore_store.record_hits([classified])
    db = firestore_store.db
    db.collection("pending").document(classified.id).set(
        {"message_id": message_id, "hit_id": classified.id, "at": T0, "bucket": 0}
    )
    assert firestore_store.pending_hits(T0) == []
    assert list(db.collection("pending").stream()) == []
