"""Load the labelled hit corpus and replay it through the classifier as production would."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from backend.classify import SELF_VIEW, SETTLE, classify_pending
from backend.store import Hit, Message, parse_iso

CORPUS = Path(__file__).with_name("hit_corpus.json")


def load() -> list[dict]:
    return json.loads(CORPUS.read_text())


def replay(scenarios: list[dict]) -> list[tuple[str, str, dict]]:
    """(label, predicted class, raw hit) for every open and click in the corpus.

    Each hit is classified once it has settled, seeing only what had arrived by then, with
    the verdicts on earlier hits already in place: the order the background pass works in.
    """
    results = []
    for number, scenario in enumerate(scenarios):
        sent_at = parse_iso(scenario["sent_at"])
        message = Message(
            id=f"m{number}",
            account_id="a",
            created_at=sent_at,
            sent_at=sent_at,
            links=[f"https://example.com/{n}" for n in range(scenario["links"])],
        )
        hits = []
        for index, raw in enumerate(scenario["hits"]):
            hit = Hit(
                id=f"m{number}-{index:03d}",
                message_id=message.id,
                kind=raw["kind"],
                at=parse_iso(raw["at"]),
                ip=raw["ip"],
                user_agent=raw["user_agent"],
                link_index=raw["link_index"],
                counted=False,
                cls="self" if raw["kind"] == SELF_VIEW else "",
            )
            hits.append((hit, raw))
        known = {hit.id: hit for hit, _ in hits}
        for hit, raw in hits:
            if hit.kind == SELF_VIEW:
                continue
            horizon = hit.at + SETTLE[hit.kind]
            visible = [h for h in known.values() if h.at <= horizon and h.id != hit.id]
            [kept] = classify_pending(message, [hit], visible)
            known[hit.id] = kept
            results.append((raw["label"], kept.cls, raw | {"counted": kept.counted}))
    return results


def confusion(results) -> Counter:
    return Counter((label, predicted) for label, predicted, _ in results)
