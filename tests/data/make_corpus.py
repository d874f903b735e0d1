"""Write hit_corpus.json: labelled, realistic hit sequences for the classifier.

Run `python tests/data/make_corpus.py` to regenerate; the output is deterministic. Each
scenario is one tracked message: when it was sent, how many links it has, and its hits in
the order they arrive, each with the class a careful person would give it.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
MPP = "Mozilla/5.0"
HUMAN_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
]
SCANNER_AGENTS = [
    "Barracuda Sentinel (EE)",
    "python-requests/2.32.3",
    "Mozilla/5.0 (compatible; Mimecast URL Protect)",
    "Go-http-client/1.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
]
# A browser-like agent, as gateways use, coming from Exchange Online Protection's range.
EOP_AGENT = HUMAN_AGENTS[0]


def home_ip(rng):
    return f"{rng.choice([81, 86, 92, 176, 203, 98, 73])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def eop_ip(rng):
    return f"40.107.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def relay_ip(rng):
    return rng.choice(
        [
            f"17.58.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            f"104.28.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        ]
    )


def gmail_proxy_ip(rng):
    return f"66.249.{rng.randrange(80, 95)}.{rng.randrange(1, 255)}"


def build(seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
    scenarios = []

    def scenario(name, links=2):
        sent = start + timedelta(hours=rng.randrange(0, 24 * 30), minutes=rng.randrange(60))
        item = {"name": name, "sent_at": sent, "links": links, "hits": []}
        scenarios.append(item)
        return item

    def hit(item, after, kind, agent, ip, label, link=None):
        item["hits"].append(
            {
                "at": item["sent_at"] + timedelta(seconds=after),
                "kind": kind,
                "user_agent": agent,
                "ip": ip,
                "link_index": link,
                "label": label,
            }
        )

    for _ in range(40):  # people opening in their own mail client, minutes to days later
        s = scenario("human opens in a mail client")
        agent, ip = rng.choice(HUMAN_AGENTS), home_ip(rng)
        hit(s, rng.randrange(60, 3 * 86400), "open", agent, ip, "human")
        if rng.random() < 0.5:  # opens it again hours later
            hit(
                s,
                s["hits"][-1]["at"].timestamp()
                - s["sent_at"].timestamp()
                + rng.randrange(3600, 86400),
                "open",
                agent,
                ip,
                "human",
            )
    for _ in range(40):  # Gmail recipients: the proxy hides them
        s = scenario("gmail recipient")
        first = rng.randrange(30, 2 * 86400)
        hit(s, first, "open", GMAIL_PROXY, gmail_proxy_ip(rng), "gmail_proxy")
        if rng.random() < 0.4:  # clicked through to the same view again within a minute
            hit(
                s,
                first + rng.randrange(5, 50),
                "open",
                GMAIL_PROXY,
                gmail_proxy_ip(rng),
                "duplicate",
            )
        if rng.random() < 0.3:
            hit(
                s,
                first + rng.randrange(3600, 86400),
                "open",
                GMAIL_PROXY,
                gmail_proxy_ip(rng),
                "gmail_proxy",
            )
    for _ in range(30):  # the sender reads their own sent message in Gmail
        s = scenario("sender's own view")
        if rng.random() < 0.5:  # right after sending, in the thread
            hit(s, rng.uniform(1, 8), "open", GMAIL_PROXY, gmail_proxy_ip(rng), "self")
        else:  # later: the extension signals it, before or just after the proxy fetch
            when = rng.randrange(600, 86400)
            if rng.random() < 0.6:  # the usual order: the page renders, then the image loads
                hit(s, when, "self_view", "", "", "self")
                hit(s, when + rng.uniform(0.2, 4), "open", GMAIL_PROXY, gmail_proxy_ip(rng), "self")
            else:  # the proxy was faster than the extension's signal
                hit(s, when, "open", GMAIL_PROXY, gmail_proxy_ip(rng), "self")
                hit(s, when + rng.uniform(0.1, 2), "self_view", "", "", "self")
        if rng.random() < 0.5:  # and the recipient opens it for real, much later
            hit(
                s,
                rng.randrange(2 * 86400, 4 * 86400),
                "open",
                GMAIL_PROXY,
                gmail_proxy_ip(rng),
                "gmail_proxy",
            )
    for _ in range(30):  # Apple Mail Privacy Protection prefetch on delivery
        s = scenario("apple mpp")
        hit(s, rng.uniform(2, 600), "open", MPP, relay_ip(rng), "apple_mpp")
        if rng.random() < 0.5:
            hit(s, rng.randrange(3600, 86400), "open", MPP, relay_ip(rng), "apple_mpp")
    for _ in range(12):  # Yahoo caches: only the first open is seen
        s = scenario("yahoo")
        hit(
            s,
            rng.randrange(120, 86400),
            "open",
            YAHOO_PROXY,
            f"74.6.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "yahoo_proxy",
        )
    for _ in range(25):  # security gateways fetching images
        s = scenario("gateway image fetch")
        if rng.random() < 0.5:
            hit(s, rng.uniform(1, 30), "open", EOP_AGENT, eop_ip(rng), "scanner")
        else:
            hit(s, rng.uniform(1, 30), "open", rng.choice(SCANNER_AGENTS), home_ip(rng), "scanner")
    for _ in range(25):  # link scanners: every link within seconds of delivery
        links = rng.randrange(2, 6)
        s = scenario("link scanner", links=links)
        base = rng.uniform(1, 20)
        from_eop = rng.random() < 0.5
        agent = EOP_AGENT if from_eop else rng.choice(SCANNER_AGENTS + [HUMAN_AGENTS[0]])
        ip = (
            eop_ip(rng)
            if from_eop
            else f"52.{rng.randrange(10, 90)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        )
        for n in range(links):
            hit(s, base + n * rng.uniform(0.05, 1.5), "click", agent, ip, "scanner", link=n)
    for _ in range(30):  # people clicking one link, minutes or days later
        links = rng.randrange(1, 5)
        s = scenario("human click", links=links)
        agent, ip = rng.choice(HUMAN_AGENTS), home_ip(rng)
        when = rng.randrange(120, 86400 * 2)
        hit(s, when - rng.randrange(5, 60), "open", agent, ip, "human")
        link = rng.randrange(links)
        hit(s, when, "click", agent, ip, "human", link=link)
        if rng.random() < 0.3:  # double-click
            hit(s, when + rng.uniform(0.3, 2), "click", agent, ip, "duplicate", link=link)
    for _ in range(15):  # two colleagues open a forwarded email minutes apart
        s = scenario("two readers")
        a, b = rng.sample(HUMAN_AGENTS, 2)
        when = rng.randrange(300, 86400)
        hit(s, when, "open", a, home_ip(rng), "human")
        hit(s, when + rng.randrange(10, 50), "open", b, home_ip(rng), "human")
    for _ in range(15):  # a mail client reloading the image within seconds
        s = scenario("client reload")
        agent, ip = rng.choice(HUMAN_AGENTS), home_ip(rng)
        when = rng.randrange(300, 86400)
        hit(s, when, "open", agent, ip, "human")
        hit(s, when + rng.uniform(0.5, 30), "open", agent, ip, "duplicate")
    # Hard cases, where the classifier is expected to be wrong: they keep the table honest.
    for _ in range(5):  # a Gmail recipient who opens within seconds of delivery
        s = scenario("very fast gmail reader")
        hit(s, rng.uniform(3, 9), "open", GMAIL_PROXY, gmail_proxy_ip(rng), "gmail_proxy")
    for _ in range(5):  # a person who quickly opens both links of a short email
        s = scenario("fast human clicks", links=2)
        agent, ip = rng.choice(HUMAN_AGENTS), home_ip(rng)
        when = rng.randrange(600, 86400)
        hit(s, when, "click", agent, ip, "human", link=0)
        hit(s, when + rng.uniform(3, 9), "click", agent, ip, "human", link=1)
    for item in scenarios:
        item["hits"].sort(key=lambda h: h["at"])
    return scenarios


def main() -> None:
    out = Path(__file__).with_name("hit_corpus.json")
    data = build()
    for item in data:
        item["sent_at"] = item["sent_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for h in item["hits"]:
            h["at"] = h["at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {sum(len(s['hits']) for s in data)} hits in {len(data)} scenarios to {out}")


if __name__ == "__main__":
    main()
