"""What a hit was: a person reading, a proxy hiding one, a machine prefetching, or the sender.

Hits are recorded raw on the hot path and classified here a few seconds later (the settle
delay), once the signals that come just after a hit have arrived too: the extension's
"the sender is looking" signal, or a link scanner's burst of clicks on every link. Only
counted hits move a message's aggregates, its check marks and its notifications.

`classify()` is pure: it sees the hit, its message and the message's nearby hits, and returns a
Verdict. tests/test_classify.py and bench/accuracy.py measure it on a labelled corpus.
"""

from __future__ import annotations

import functools
import ipaddress
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .store import Hit, Message

HUMAN = "human"
GMAIL_PROXY = "gmail_proxy"
APPLE_MPP = "apple_mpp"
YAHOO_PROXY = "yahoo_proxy"
SCANNER = "scanner"
SELF = "self"
DUPLICATE = "duplicate"
CLASSES = (HUMAN, GMAIL_PROXY, APPLE_MPP, YAHOO_PROXY, SCANNER, SELF, DUPLICATE)

# Opens of these classes are a reader's: they turn the check marks green.
READER_CLASSES = frozenset({HUMAN, GMAIL_PROXY, YAHOO_PROXY})
# Opens of these are machines fetching every image on delivery: "probably opened".
MACHINE_OPEN_CLASSES = frozenset({APPLE_MPP})

# The kind of hit the extension sends when the sender's own Gmail shows a tracked message.
SELF_VIEW = "self_view"

# How long to wait before classifying, so the signals that follow a hit can arrive.
SETTLE = {"open": timedelta(seconds=3), "click": timedelta(seconds=10)}
# A self-view signal covers proxy fetches this long before and after it.
SELF_BEFORE = timedelta(seconds=15)
SELF_AFTER = timedelta(seconds=60)
# Gmail shows the sender's message right after sending (in a thread, at once).
AFTER_SEND = timedelta(seconds=10)
# The same reader again within this window is one open, not two.
DUPLICATE_WINDOW = timedelta(seconds=60)
# Security gateways follow every link within seconds of each other and of delivery.
SCAN_BURST = timedelta(seconds=10)
SWEEP_GAP = timedelta(seconds=2)
NEAR_DELIVERY = timedelta(minutes=2)
CLICK_TOO_SOON = timedelta(seconds=5)

# User agents that are never a person. Matched case-insensitively as substrings.
SCANNER_AGENTS = (
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "forcepoint",
    "trendmicro",
    "sophos",
    "safelinks",
    "msoffice-urlscan",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "curl/",
    "wget/",
    "libwww",
    "okhttp",
    "java/",
    "headlesschrome",
    "phantomjs",
    "bot/",
    "bot;",
    "spider",
    "crawler",
    "scanner",
)
# Networks of mail security gateways that fetch images and follow links, as their operators
# publish them for allow-listing (Microsoft Exchange Online Protection, Proofpoint, Mimecast,
# Barracuda). A person reading never comes from these.
SCANNER_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "40.92.0.0/15",
        "40.107.0.0/16",
        "52.100.0.0/14",
        "104.47.0.0/17",
        "2a01:111:f400::/48",
        "148.163.128.0/19",
        "67.231.144.0/20",
        "205.139.110.0/24",
        "216.205.24.0/24",
        "207.211.30.0/24",
        "209.222.80.0/21",
        "64.235.144.0/20",
    )
)
# Apple's own network; Private Relay egress for Mail Privacy Protection also shows the bare
# "Mozilla/5.0" user agent, which is the stronger signal.
APPLE_NETWORKS = (ipaddress.ip_network("17.0.0.0/8"),)


@dataclass(frozen=True)
class Verdict:
    cls: str
    counted: bool
    client: str = ""
    device: str = ""
    reason: str = ""


def _ip(address: str):
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def _in(address: str, networks) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in network for network in networks)


def truncate_ip(address: str) -> str:
    """Keep the network, drop the host: a /24 of IPv4, a /48 of IPv6."""
    ip = _ip(address)
    if ip is None:
        return ""
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def is_gmail_proxy(agent: str) -> bool:
    return "GoogleImageProxy" in agent or "ggpht.com" in agent


def is_yahoo_proxy(agent: str) -> bool:
    return "YahooMailProxy" in agent


def is_apple_mpp(agent: str, ip: str) -> bool:
    return agent.strip() == "Mozilla/5.0" or _in(ip, APPLE_NETWORKS)


def is_scanner(agent: str, ip: str) -> bool:
    lowered = agent.lower()
    if not lowered.strip():
        return True  # every mail client and browser names itself
    return any(marker in lowered for marker in SCANNER_AGENTS) or _in(ip, SCANNER_NETWORKS)


@functools.lru_cache(maxsize=4096)
def describe(agent: str) -> tuple[str, str]:
    """(client, device) from a user agent, with ua-parser's maintained rules."""
    from ua_parser import parse

    result = parse(agent)
    client = ""
    if result.user_agent and result.user_agent.family not in ("Other", ""):
        family = result.user_agent.family
        if family == "Mobile Safari UI/WKWebView":
            family = "Apple Mail" if result.os and result.os.family == "iOS" else "Mail app"
        client = (
            f"{family} {result.user_agent.major}".strip() if result.user_agent.major else family
        )
        if "Outlook" in agent and "Outlook" not in client:
            client = "Outlook"
    elif "Outlook" in agent:
        client = "Outlook"
    os_name = result.os.family if result.os and result.os.family != "Other" else ""
    if (
        result.device
        and result.device.family in ("iPhone", "iPad")
        or os_name in ("iOS", "Android")
    ):
        kind = "tablet" if result.device and result.device.family == "iPad" else "phone"
    elif os_name:
        kind = "computer"
    else:
        kind = ""
    device = f"{kind} ({os_name})" if kind and os_name else kind
    return client, device


def _reader(hit: Hit) -> tuple:
    """Which hits are "the same reader again" for this one (see _Context.seen_before).

    Gmail's proxy and Yahoo's hide every reader behind them, so any of their fetches is the same
    reader; otherwise the same user agent from the same network, and for a click the same link.
    """
    if hit.kind == "click":
        return ("click", hit.link_index, hit.user_agent, truncate_ip(hit.ip))
    if is_gmail_proxy(hit.user_agent):
        return (hit.kind, "gmail")
    if is_yahoo_proxy(hit.user_agent):
        return (hit.kind, "yahoo")
    return (hit.kind, hit.user_agent, truncate_ip(hit.ip))


class _Context:
    """A message's hits around the ones being classified, indexed the way the rules read them.

    Each rule reads only the hits it can match: the same reader's (in time order), the
    self-view signals, the clicks. Comparing every hit with every other made a message fetched
    hundreds of times a minute cost work that grew with the square of its traffic.
    """

    def __init__(self, hits: Iterable[Hit]):
        self.hits: dict[str, Hit] = {}
        self.self_views: list[Hit] = []
        self.clicks: list[Hit] = []
        self.by_reader: dict[tuple, list[tuple[datetime, str]]] = defaultdict(list)
        for hit in hits:
            if hit.id in self.hits:
                self.hits[hit.id] = hit  # a later copy of the same hit: its class is newer
                continue
            self.hits[hit.id] = hit
            if hit.kind == SELF_VIEW:
                self.self_views.append(hit)
            elif hit.kind == "click":
                self.clicks.append(hit)
            self.by_reader[_reader(hit)].append((hit.at, hit.id))
        for keys in self.by_reader.values():
            keys.sort()

    def classified(self, hit: Hit) -> None:
        """The verdict on a hit already here: later hits see its class."""
        self.hits[hit.id] = hit

    def seen_before(self, hit: Hit) -> bool:
        """An earlier hit by the same reader within the duplicate window.

        Ties in time are broken by id, so two identical hits never both count or both drop.
        """
        keys = self.by_reader.get(_reader(hit), ())
        for index in range(bisect_left(keys, (hit.at, hit.id)) - 1, -1, -1):
            at, other_id = keys[index]
            if hit.at - at > DUPLICATE_WINDOW:
                return False
            if self.hits[other_id].cls not in (SELF, SCANNER, APPLE_MPP):
                return True
        return False


def classify(hit: Hit, message: Message | None, nearby: Sequence[Hit]) -> Verdict:
    """Decide what a hit was.

    `nearby` holds the message's other hits and self-view signals around this one, already
    classified or not; the verdict never depends on their order in the list.
    """
    return _classify(hit, message, _Context(h for h in nearby if h.id != hit.id))


def _classify(hit: Hit, message: Message | None, context: _Context) -> Verdict:
    agent, ip = hit.user_agent or "", hit.ip or ""
    if hit.kind == "click":
        return _classify_click(hit, message, context, agent, ip)

    if is_gmail_proxy(agent):
        if _sender_is_looking(hit, message, context):
            return Verdict(SELF, False, "Gmail", "", "the sender's own Gmail showed it")
        if context.seen_before(hit):
            return Verdict(DUPLICATE, False, "Gmail", "", "Gmail's proxy again within a minute")
        return Verdict(GMAIL_PROXY, True, "Gmail", "", "opened in Gmail (reader hidden by proxy)")
    if is_yahoo_proxy(agent):
        if context.seen_before(hit):
            return Verdict(DUPLICATE, False, "Yahoo Mail", "", "Yahoo's proxy again")
        return Verdict(YAHOO_PROXY, True, "Yahoo Mail", "", "opened in Yahoo Mail")
    if is_apple_mpp(agent, ip):
        return Verdict(APPLE_MPP, False, "Apple Mail", "", "Apple Mail Privacy Protection prefetch")
    if is_scanner(agent, ip):
        return Verdict(SCANNER, False, "", "", "a security scanner or automated client")
    client, device = describe(agent)
    if context.seen_before(hit):
        return Verdict(DUPLICATE, False, client, device, "the same reader again within a minute")
    return Verdict(HUMAN, True, client, device, "opened")


def _classify_click(hit: Hit, message: Message | None, context: _Context, agent: str, ip: str):
    client, device = ("", "") if is_scanner(agent, ip) else describe(agent)
    if is_scanner(agent, ip) or is_apple_mpp(agent, ip) and agent.strip() == "Mozilla/5.0":
        return Verdict(SCANNER, False, client, device, "a security scanner followed the link")
    if message is not None and message.sent_at and hit.at - message.sent_at < CLICK_TOO_SOON:
        return Verdict(SCANNER, False, client, device, "followed seconds after sending")
    if _link_sweep(hit, message, context):
        return Verdict(SCANNER, False, client, device, "links followed in a machine's sweep")
    if context.seen_before(hit):
        return Verdict(DUPLICATE, False, client, device, "the same click again")
    return Verdict(HUMAN, True, client, device, "clicked")


def _link_sweep(hit: Hit, message: Message | None, context: _Context) -> bool:
    """Several links followed at a machine's pace: faster than a person moves between links,
    or every link of the message within seconds just after delivery."""
    clicks = sorted(
        (
            h
            for h in [hit, *context.clicks]
            if (h is hit or h.id != hit.id) and abs(h.at - hit.at) <= SCAN_BURST
        ),
        key=lambda h: h.at,
    )
    links = {h.link_index for h in clicks}
    if len(links) < 2:
        return False
    gaps = [b.at - a.at for a, b in zip(clicks, clicks[1:], strict=False)]
    if max(gaps) <= SWEEP_GAP:
        return True
    link_count = len(message.links) if message else 0
    just_delivered = (
        message is not None
        and message.sent_at is not None
        and hit.at - message.sent_at <= NEAR_DELIVERY
    )
    return just_delivered and link_count >= 2 and len(links) >= link_count


def _sender_is_looking(hit: Hit, message: Message | None, context: _Context) -> bool:
    if message is not None and message.sent_at is not None:
        if timedelta(0) <= hit.at - message.sent_at <= AFTER_SEND:
            return True
    return any(
        h.id != hit.id and h.at - SELF_BEFORE <= hit.at <= h.at + SELF_AFTER
        for h in context.self_views
    )


def settled(hit: Hit, now: datetime) -> bool:
    return now - hit.at >= SETTLE.get(hit.kind, timedelta(0))


def classify_pending(message: Message | None, pending: Sequence[Hit], nearby: Sequence[Hit]):
    """Classify a message's pending hits oldest first, each seeing the verdicts before it.

    Returns the hits as they should be kept: with class, client, device, whether they count,
    and the address cut to its network now that classification no longer needs it.
    """
    context = _Context([*nearby, *pending])  # a pending hit's own copy wins over the store's
    done = []
    for hit in sorted(pending, key=lambda h: (h.at, h.id)):
        verdict = _classify(hit, message, context)
        kept = replace(
            hit,
            cls=verdict.cls,
            counted=verdict.counted,
            client=verdict.client,
            device=verdict.device,
            ip=truncate_ip(hit.ip),
        )
        context.classified(kept)
        done.append(kept)
    return done
