"""The pixel and click endpoints: always an image, never an open redirect, never a lost hit."""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

import pytest

from backend import close_app, create_app
from backend.store import Hit, StoreError, utcnow
from backend.tracking import PIXEL, client_ip

NO_CACHE = "no-store, no-cache, must-revalidate, private, max-age=0"


def pixel_path(message: dict) -> str:
    return f"/p/{message['id']}.gif"


def test_pixel_is_a_43_byte_gif_that_no_cache_keeps(client, sent_message):
    message = sent_message()
    response = client.get(pixel_path(message))
    assert response.status_code == 200
    assert response.data == PIXEL and len(PIXEL) == 43 and PIXEL.startswith(b"GIF89a")
    assert response.headers["Content-Type"] == "image/gif"
    assert response.headers["Cache-Control"] == NO_CACHE
    assert response.headers["Pragma"] == "no-cache"
    assert "1970" in response.headers["Expires"]
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    "path",
    [
        "/p/unknownbutwellformed0000000.gif",
        "/p/short.gif",
        "/p/%3Cscript%3E.gif",
        "/p/x",
        "/p/a/b/c.gif",
    ],
)
def test_pixel_answers_the_gif_for_unknown_and_malformed_ids(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.data == PIXEL


def test_pixel_head_answers_without_body(client, sent_message):
    response = client.head(pixel_path(sent_message()))
    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Type"] == "image/gif"


THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"


def test_pixel_records_the_raw_hit_and_classifies_it_once_settled(
    client, store, auth, sent_message, settle, flush
):
    message = sent_message()
    client.get(
        pixel_path(message),
        headers={"User-Agent": THUNDERBIRD, "Accept": "image/*", "Accept-Language": "de"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    flush()
    [hit] = _hits(store, message)
    assert hit.kind == "open" and hit.method == "GET"
    assert hit.ip == "203.0.113.9" and hit.cls == "" and not hit.counted
    assert hit.user_agent == THUNDERBIRD
    assert hit.headers["Accept"] == "image/*" and hit.headers["Accept-Language"] == "de"
    pending = client.get(f"/api/v1/messages/{message['id']}", headers=auth).get_json()
    assert pending["state"] == "tracked" and pending["events"][0]["class"] == "pending"

    assert len(settle()) == 1
    detail = client.get(f"/api/v1/messages/{message['id']}", headers=auth).get_json()
    assert detail["state"] == "opened" and detail["opens"] == 1
    assert detail["events"][0]["class"] == "human"
    assert detail["events"][0]["client"] == "Thunderbird 128"
    assert detail["events"][0]["device"] == "computer (Linux)"
    [hit] = _hits(store, message)
    assert hit.ip == "203.0.113.0"  # cut to its network once classified
    assert settle() == []  # classified once


def sender(store):
    return store.ensure_account("sender@example.com", utcnow())


def _hits(store, message):
    return store.hits(sender(store).id, message["id"])


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    client, store, sent_message, flush
):
    message = sent_message()
    client.get(
        pixel_path(message),
        headers={"X-Forwarded-For": "198.51.100.7"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    flush()
    [hit] = _hits(store, message)
    assert hit.ip == "203.0.113.9"


def test_forwarded_for_from_a_trusted_proxy_names_the_client(settings):
    from conftest import Users

    app = create_app(dataclasses.replace(settings, trusted_proxies=("169.254.0.0/16",)))
    client = app.test_client()
    store = app.extensions["mailtick.store"]
    headers = Users(store).headers()
    reserved = client.post("/api/v1/messages", json={}, headers=headers).get_json()
    client.get(
        f"/p/{reserved['id']}.gif",
        headers={"X-Forwarded-For": "10.9.9.9, 198.51.100.7"},
        environ_base={"REMOTE_ADDR": "169.254.1.1"},
    )
    app.extensions["mailtick.spool"].drain()
    [hit] = _hits(store, reserved)
    assert hit.ip == "198.51.100.7"
    close_app(app)


def test_client_ip_reads_forwarded_for_from_the_right_skipping_trusted_hops():
    import ipaddress

    trusted = [ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("35.191.0.0/16")]
    assert client_ip("169.254.1.1", "1.2.3.4, 5.6.7.8, 35.191.0.9", trusted) == "5.6.7.8"
    assert client_ip("169.254.1.1", "", trusted) == "169.254.1.1"
    assert client_ip("8.8.8.8", "1.2.3.4", trusted) == "8.8.8.8"
    assert client_ip("169.254.1.1", "1.2.3.4", []) == "169.254.1.1"


class FailingStore:
    """Wraps a store and fails hit writes while `down` is set, as a store outage would."""

    def __init__(self, inner):
        self.inner = inner
        self.down = True

    def record_hits(self, hits):
        if self.down:
            raise StoreError("database is locked")
        return self.inner.record_hits(hits)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_hit_is_spooled_while_the_store_fails_and_written_when_it_is_back(
    app, client, store, sent_message, settle
):
    message = sent_message()
    failing = FailingStore(store)
    app.extensions["mailtick.store"] = failing
    spool = app.extensions["mailtick.spool"]
    spool.stop()  # drain by hand, so the test decides when the store is back
    spool.store = failing

    for reader in ("Reader/1", "Reader/2", "Reader/3"):
        response = client.get(pixel_path(message), headers={"User-Agent": reader})
        assert response.status_code == 200 and response.data == PIXEL
    assert spool.pending() == 3
    assert _hits(store, message) == []

    with pytest.raises(StoreError):
        spool.drain()
    assert spool.pending() == 3  # nothing lost by a failed drain

    failing.down = False
    assert spool.drain() == 3
    assert spool.pending() == 0
    assert len(_hits(store, message)) == 3
    settle()
    assert store.message(sender(store).id, message["id"]).opens == 3


def test_spool_replay_is_idempotent(app, store, sent_message):
    message = sent_message()
    hit = Hit(id="hit-1", message_id=message["id"], kind="open", at=utcnow())
    spool = app.extensions["mailtick.spool"]
    spool.stop()
    store.record_hits([hit])
    spool.append(hit)  # a crash after the store write but before the spool was cleared
    spool.drain()
    assert store.message(sender(store).id, message["id"]).opens == 1


class BrokenSpool:
    def append(self, hit):
        raise OSError("disk full")


def test_a_hit_goes_straight_to_the_store_when_the_spool_fails(app, client, store, sent_message):
    message = sent_message()
    app.extensions["mailtick.spool"], real_spool = BrokenSpool(), app.extensions["mailtick.spool"]
    response = client.get(pixel_path(message))
    assert response.status_code == 200 and response.data == PIXEL
    assert len(_hits(store, message)) == 1
    app.extensions["mailtick.spool"] = real_spool


def test_pixel_still_answers_when_store_and_spool_both_fail(app, client, store, sent_message):
    message = sent_message()
    app.extensions["mailtick.store"] = FailingStore(store)
    app.extensions["mailtick.spool"], real_spool = BrokenSpool(), app.extensions["mailtick.spool"]
    response = client.get(pixel_path(message))
    assert response.status_code == 200 and response.data == PIXEL
    app.extensions["mailtick.spool"] = real_spool


# Clicks.


def click_path(message, index, url):
    return f"/c/{message['id']}/{index}?u={quote(url, safe='')}"


def test_click_redirects_to_the_registered_destination_and_counts(
    client, auth, sent_message, settle
):
    message = sent_message()
    url = message["links"][0]["url"]
    response = client.get(click_path(message, 0, url))
    assert response.status_code == 302
    assert response.headers["Location"] == url
    assert "Set-Cookie" not in response.headers
    settle()
    detail = client.get(f"/api/v1/messages/{message['id']}", headers=auth).get_json()
    assert (
        detail["clicks"] == 1
        and detail["links"][0]["clicks"] == 1
        and detail["links"][1]["clicks"] == 0
    )
    assert detail["state"] == "opened"  # a click proves an open
    assert detail["events"][0]["kind"] == "click" and detail["events"][0]["url"] == url


def test_the_tracked_url_the_api_hands_out_redirects(client, sent_message):
    message = sent_message()
    for link in message["links"]:
        path = link["tracked_url"].removeprefix("http://mailtick.test")
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == link["url"]


@pytest.mark.parametrize(
    "case",
    ["other_destination", "other_index", "out_of_range", "unknown_id", "malformed_index", "no_u"],
)
def test_click_never_redirects_to_anything_unregistered(client, sent_message, case):
    message = sent_message()
    evil = "https://evil.example/phish"
    path = {
        "other_destination": click_path(message, 0, evil),
        "other_index": click_path(message, 1, message["links"][0]["url"]),
        "out_of_range": click_path(message, 7, message["links"][0]["url"]),
        "unknown_id": click_path({"id": "A" * 24}, 0, message["links"][0]["url"]),
        "malformed_index": f"/c/{message['id']}/-1?u={quote(evil)}",
        "no_u": f"/c/{message['id']}/0",
    }[case]
    response = client.get(path)
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"


def test_unrecognised_click_shows_the_destination_as_escaped_text_with_a_plain_link(
    client, sent_message
):
    message = sent_message()
    target = 'https://evil.example/"><script>alert(1)</script>'
    html = client.get(click_path(message, 0, target)).get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html
    assert (
        'href="https://evil.example/&#34;&gt;' in html
        or 'href="https://evil.example/&quot;&gt;' in html
    )


@pytest.mark.parametrize("target", ["javascript:alert(1)", "data:text/html,hi", "mailto:a@b.c"])
def test_non_web_destinations_are_shown_as_text_only(client, sent_message, target):
    message = sent_message()
    html = client.get(click_path(message, 0, target)).get_data(as_text=True)
    assert "href=" not in html
    assert "not a web page" in html


def test_a_registered_non_http_link_is_refused_at_completion(client, auth):
    reserved = client.post("/api/v1/messages", json={}, headers=auth).get_json()
    response = client.patch(
        f"/api/v1/messages/{reserved['id']}", json={"links": ["javascript:alert(1)"]}, headers=auth
    )
    assert response.status_code == 400
    assert "http" in response.get_json()["error"]["message"]


def test_click_page_when_the_store_fails_is_the_plain_page_not_an_error(
    app, client, store, sent_message
):
    message = sent_message()

    class DownStore:
        def link_target(self, *args):
            raise StoreError("unreachable")

    app.extensions["mailtick.store"] = DownStore()
    response = client.get(click_path(message, 0, message["links"][0]["url"]))
    assert response.status_code == 200
    assert message["links"][0]["url"].split("?")[0] in response.get_data(as_text=True)
    app.extensions["mailtick.store"] = store


def test_hits_spooled_by_a_process_that_died_are_written_at_the_next_start(
    settings, store, sent_message
):
    import json
    import time

    message = sent_message()
    hit = Hit(id="from-dead-worker", message_id=message["id"], kind="open", at=utcnow())
    spool_dir = settings.data_dir / "spool"
    spool_dir.mkdir(exist_ok=True)
    # pid 2**22 + 1 is above Linux's pid_max default range: no live process owns it.
    (spool_dir / f"hits-{2**22 + 1}.jsonl").write_text(json.dumps(hit.to_json()) + "\n{torn line")
    restarted = create_app(settings)
    deadline = time.monotonic() + 10
    while store.message(sender(store).id, message["id"]).opens == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.message(sender(store).id, message["id"]).opens == 1
    assert not list(spool_dir.glob("hits-*"))
    close_app(restarted)
