"""The classifier on a labelled corpus and on each rule alone."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.classify import (
    MACHINE_OPEN_CLASSES,
    READER_CLASSES,
    SELF_VIEW,
    classify,
    classify_pending,
    describe,
    truncate_ip,
)
from backend.store import Hit, Message

sys.path.insert(0, str(Path(__file__).parent / "data"))
import corpus  # noqa: E402

SENT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Mobile/15E148"
)
MACHINE = {"apple_mpp", "scanner", "self"}


@pytest.fixture(scope="module")
def results():
    return corpus.replay(corpus.load())


def test_the_corpus_is_large_and_covers_every_class(results):
    labels = {label for label, _, _ in results}
    assert labels == {
        "human",
        "gmail_proxy",
        "apple_mpp",
        "yahoo_proxy",
        "scanner",
        "self",
        "duplicate",
    }
    assert len(results) > 400


def test_no_human_open_is_labelled_a_machine(results):
    wrong = [
        hit
        for label, got, hit in results
        if hit["kind"] == "open"
        and label in {"human", "gmail_proxy", "yahoo_proxy"}
        and got in MACHINE - {"self"}
    ]
    assert wrong == []


def test_no_machine_prefetch_or_scan_or_self_view_counts(results):
    counted = [hit for label, _, hit in results if label in MACHINE and hit["counted"]]
    assert counted == []


def test_duplicates_never_count(results):
    assert not [hit for label, _, hit in results if label == "duplicate" and hit["counted"]]


def test_overall_accuracy_is_high_and_errors_are_the_known_hard_cases(results):
    wrong = [(label, got, hit) for label, got, hit in results if label != got]
    assert len(wrong) / len(results) < 0.02
    # The one mistake we accept: a Gmail reader within seconds of sending looks like the sender.
    assert {(label, got) for label, got, _ in wrong} <= {("gmail_proxy", "self")}


def message(links=2, sent_at=SENT):
    return Message(
        id="m",
        account_id="a",
        created_at=sent_at,
        sent_at=sent_at,
        links=[f"https://example.com/{n}" for n in range(links)],
    )


def hit(after: float, agent=CHROME, ip="81.2.69.142", kind="open", link=None, id=None, cls=""):
    return Hit(
        id=id or f"h{after}-{kind}-{link}",
        message_id="m",
        kind=kind,
        at=SENT + timedelta(seconds=after),
        ip=ip,
        user_agent=agent,
        link_index=link,
        cls=cls,
    )


def one(h, nearby=(), m=None):
    return classify(h, m or message(), list(nearby))


def test_a_direct_open_is_human_with_client_and_device():
    verdict = one(hit(3600, IPHONE))
    assert verdict.cls == "human" and verdict.counted
    assert verdict.client == "Apple Mail" and verdict.device == "phone (iOS)"
    desktop = one(hit(3600, CHROME))
    assert desktop.client == "Chrome 131" and desktop.device == "computer (Windows)"


def test_gmail_proxy_is_a_real_open_with_a_hidden_reader():
    verdict = one(hit(600, GMAIL, "66.249.84.1"))
    assert verdict.cls == "gmail_proxy" and verdict.counted and verdict.client == "Gmail"


def test_the_senders_view_right_after_sending_is_self():
    assert one(hit(4, GMAIL)).cls == "self"
    assert one(hit(4, GMAIL)).counted is False


@pytest.mark.parametrize("signal_after", [-50.0, -0.5, 1.5, 10.0])
def test_a_self_view_signal_near_a_proxy_fetch_makes_it_self(signal_after):
    signal = hit(5000 + signal_after, "", "", kind=SELF_VIEW, cls="self")
    assert one(hit(5000, GMAIL), [signal]).cls == "self"


def test_a_self_view_signal_long_before_does_not_hide_a_real_open():
    signal = hit(1000, "", "", kind=SELF_VIEW, cls="self")
    assert one(hit(5000, GMAIL), [signal]).cls == "gmail_proxy"


def test_a_self_view_signal_does_not_touch_direct_opens():
    signal = hit(5000, "", "", kind=SELF_VIEW, cls="self")
    assert one(hit(5001, CHROME), [signal]).cls == "human"


@pytest.mark.parametrize("ip", ["17.58.63.1", "104.28.40.1"])
def test_apple_mail_privacy_protection_is_a_machine_open(ip):
    verdict = one(hit(12, "Mozilla/5.0", ip))
    assert verdict.cls == "apple_mpp" and not verdict.counted
    assert "apple_mpp" in MACHINE_OPEN_CLASSES and "apple_mpp" not in READER_CLASSES


def test_yahoo_proxy_counts_once():
    first = hit(100, "YahooMailProxy; https://help.yahoo.com", "74.6.1.1")
    assert one(first).cls == "yahoo_proxy"
    again = hit(130, "YahooMailProxy; https://help.yahoo.com", "74.6.1.2")
    assert one(again, [first]).cls == "duplicate"


@pytest.mark.parametrize(
    "agent, ip",
    [
        (CHROME, "40.107.22.10"),
        ("Barracuda Sentinel (EE)", "81.2.69.142"),
        ("python-requests/2.32", "81.2.69.142"),
        ("", "81.2.69.142"),
        (CHROME, "2a01:111:f400:7e1b::1"),
    ],
)
def test_gateways_and_scripts_are_scanners(agent, ip):
    assert one(hit(20, agent, ip)).cls == "scanner"
    assert one(hit(20, agent, ip, kind="click", link=0)).cls == "scanner"


def test_the_same_reader_within_a_minute_is_a_duplicate_and_later_a_new_open():
    first = hit(1000, CHROME, "81.2.69.142")
    assert one(hit(1030, CHROME, "81.2.69.142"), [first]).cls == "duplicate"
    assert one(hit(1000 + 3600, CHROME, "81.2.69.142"), [first]).cls == "human"
    assert one(hit(1030, IPHONE, "92.1.1.1"), [first]).cls == "human"  # someone else


def test_a_duplicate_is_found_against_an_already_truncated_address():
    first = hit(1000, CHROME, truncate_ip("81.2.69.142"), cls="human")
    assert one(hit(1020, CHROME, "81.2.69.142"), [first]).cls == "duplicate"


def test_every_link_within_a_second_is_a_scanner_and_one_click_later_is_a_person():
    m = message(links=3)
    sweep = [hit(3000 + n * 0.4, CHROME, "52.30.1.1", kind="click", link=n) for n in range(3)]
    assert {one(h, sweep, m).cls for h in sweep} == {"scanner"}
    person = hit(3000, CHROME, "81.2.69.142", kind="click", link=1)
    assert one(person, [], m).cls == "human" and one(person, [], m).counted


def test_a_click_seconds_after_sending_is_a_scanner():
    assert one(hit(2, CHROME, kind="click", link=0)).cls == "scanner"


def test_a_person_opening_two_links_a_few_seconds_apart_is_still_a_person():
    m = message(links=2)
    clicks = [hit(5000, CHROME, kind="click", link=0), hit(5006, CHROME, kind="click", link=1)]
    assert [one(h, clicks, m).cls for h in clicks] == ["human", "human"]


def test_classify_pending_keeps_only_the_network_of_the_address():
    [kept] = classify_pending(message(), [hit(3600, CHROME, "81.2.69.142")], [])
    assert kept.ip == "81.2.69.0" and kept.cls == "human" and kept.counted
    assert truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::"
    assert truncate_ip("not an ip") == ""


def test_classify_pending_sees_earlier_verdicts_in_the_same_batch():
    a, b = hit(1000, CHROME, id="a"), hit(1010, CHROME, id="b")
    kept = classify_pending(message(), [b, a], [])
    assert [(h.id, h.cls) for h in kept] == [("a", "human"), ("b", "duplicate")]


def test_a_message_fetched_thousands_of_times_a_minute_is_still_classified_right():
    # Gmail's proxy hammering one pixel (a mailing list, or someone on purpose), with one
    # reader opening directly in the middle: one proxy open, one direct open, the rest repeats.
    # The rules read only the same reader's hits, so this stays cheap however busy it gets.
    proxy = [
        hit(3600 + n / 100, GMAIL, f"66.249.84.{n % 250}", id=f"g{n:05d}") for n in range(3000)
    ]
    reader = hit(3605, CHROME, id="reader")
    again = hit(3606, CHROME, id="reader-again")
    earlier = [replace(h, cls="duplicate") for h in proxy[:1000]]
    first = classify_pending(message(), [*proxy[:1000], reader, again], [])
    rest = classify_pending(message(), proxy[1000:], [*earlier, *first])
    verdicts = {h.id: (h.cls, h.counted) for h in [*first, *rest]}
    assert verdicts.pop("g00000") == ("gmail_proxy", True)
    assert verdicts.pop("reader") == ("human", True)
    assert verdicts.pop("reader-again") == ("duplicate", False)
    assert set(verdicts.values()) == {("duplicate", False)} and len(verdicts) == 2999


def test_describe_names_outlook_and_thunderbird():
    assert describe("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)")[
        0
    ].startswith("Outlook")
    assert describe(
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
    ) == ("Thunderbird 128", "computer (Linux)")
