"""The activity feed: items made from a reader's counted hits, their JSON and their cursor."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from ..store import Activity, Hit, Message, Store, iso
from . import prefs as notify_prefs

# Hits of these kinds become feed items, as these kinds.
KINDS = {"open": "opened", "click": "clicked"}


def items_for(message: Message, hits: list[Hit], time_zone: str) -> list[Activity]:
    """The feed items for a message's newly counted hits, oldest first.

    Only hits that count as a reader's become items: the sender's own views, machine
    prefetches, scanners and duplicates never do.
    """
    items = []
    for hit in sorted(hits, key=lambda h: (h.at, h.id)):
        if not hit.counted or hit.kind not in KINDS:
            continue
        items.append(
            Activity(
                id=hit.id,
                account_id=message.account_id,
                message_id=message.id,
                kind=KINDS[hit.kind],
                at=hit.at,
                day=notify_prefs.local_day(hit.at, time_zone),
                subject=message.subject,
                to=list(message.to),
                cc=list(message.cc),
                bcc=list(message.bcc),
                link_index=hit.link_index if hit.kind == "click" else None,
                url=(hit.url or _link(message, hit.link_index)) if hit.kind == "click" else None,
                cls=hit.cls,
                client=hit.client,
                device=hit.device,
                gmail_message_id=message.gmail_message_id,
                gmail_thread_id=message.gmail_thread_id,
            )
        )
    return items


def _link(message: Message, index: int | None) -> str | None:
    if index is None or not 0 <= index < len(message.links):
        return None
    return message.links[index]


def record(store: Store, hits: list[Hit], now: datetime, settings_of: Callable) -> list[Activity]:
    """Add these applied hits to their accounts' feeds; return the items added, per account
    in feed order. `settings_of(account_id)` gives the account's effective settings.

    Raises StoreError if the store fails; what was added before stays (adding is idempotent,
    so the caller may hand the same hits in again).
    """
    by_message: dict[str, list[Hit]] = defaultdict(list)
    for hit in hits:
        if hit.counted and hit.kind in KINDS:
            by_message[hit.message_id].append(hit)
    by_account: dict[str, list[tuple[Message, list[Hit]]]] = defaultdict(list)
    for message_id, message_hits in by_message.items():
        message = store.message_by_id(message_id)
        if message is not None:
            by_account[message.account_id].append((message, message_hits))
    added: list[Activity] = []
    for account_id, pairs in by_account.items():
        prefs = settings_of(account_id)
        items = [item for m, h in pairs for item in items_for(m, h, prefs["time_zone"])]
        items.sort(key=lambda item: (item.at, item.id))
        added += store.append_activity(
            account_id, items, lambda item, p=prefs: notify_prefs.should_notify(item, p, now)
        )
    return added


def event_json(item: Activity) -> dict:
    """An item as the API and push payloads show it."""
    return {
        "id": item.id,
        "kind": item.kind,
        "message_id": item.message_id,
        "subject": item.subject,
        "recipients": {"to": item.to, "cc": item.cc, "bcc": item.bcc},
        "link_index": item.link_index,
        "url": item.url,
        "at": iso(item.at),
        "day": item.day,
        "class": item.cls,
        "client": item.client,
        "device": item.device,
        "gmail_message_id": item.gmail_message_id,
        "gmail_thread_id": item.gmail_thread_id,
        "first": item.first,
        "count_today": item.count_today,
        "notify": item.notify,
        "collapse_key": notify_prefs.collapse_key(item),
    }


def encode_cursor(seq: int) -> str:
    """An opaque feed cursor: the position after which the next call starts."""
    raw = json.dumps({"v": 1, "seq": seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position in a cursor; ValueError if it is not one encode_cursor() made."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        seq = data["seq"]
        if data.get("v") != 1 or not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError
        return seq
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError("not a feed cursor") from exc
