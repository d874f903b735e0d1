"""Privacy settings: never-track lists and the EU/EEA switch."""

from __future__ import annotations

import pytest

from backend.privacy import excluded, trackable


def privacy(settings: dict) -> dict:
    """The privacy fields of all settings (other features register theirs beside them)."""
    return {key: settings[key] for key in ("never_track", "skip_eea")}


def test_settings_default_to_tracking_everyone(client, auth):
    assert privacy(client.get("/api/v1/settings", headers=auth).get_json()) == {
        "never_track": [],
        "skip_eea": False,
    }


def test_settings_are_merged_and_normalised(client, auth):
    first = client.patch(
        "/api/v1/settings", json={"never_track": ["Boss@Example.com", "@bank.test"]}, headers=auth
    )
    assert first.status_code == 200
    assert first.get_json()["never_track"] == ["boss@example.com", "bank.test"]
    second = client.patch("/api/v1/settings", json={"skip_eea": True}, headers=auth).get_json()
    assert privacy(second) == {"never_track": ["boss@example.com", "bank.test"], "skip_eea": True}
    assert client.get("/api/v1/settings", headers=auth).get_json() == second


def test_settings_belong_to_their_account(client, users):
    client.patch(
        "/api/v1/settings", json={"skip_eea": True}, headers=users.headers("a@example.com")
    )
    other = client.get("/api/v1/settings", headers=users.headers("b@example.com")).get_json()
    assert other["skip_eea"] is False


@pytest.mark.parametrize(
    "body, words",
    [
        ({"never_track": "a@example.com"}, "list"),
        ({"never_track": ["not a domain"]}, "address"),
        ({"never_track": ["x@"]}, "address"),
        ({"skip_eea": "yes"}, "true or false"),
        ({"track_everyone": True}, "Unknown setting"),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(client, auth, body, words):
    response = client.patch("/api/v1/settings", json=body, headers=auth)
    assert response.status_code == 400 and words in response.get_json()["error"]["message"]
    assert client.get("/api/v1/settings", headers=auth).get_json()["never_track"] == []


def test_excluded_matches_addresses_domains_and_subdomains():
    settings = {"never_track": ["boss@example.com", "bank.test"], "skip_eea": False}
    assert excluded("Boss@Example.com", settings)
    assert not excluded("other@example.com", settings)
    assert excluded("clerk@bank.test", settings) and excluded("x@eu.bank.test", settings)
    assert not excluded("x@notbank.test", settings)


@pytest.mark.parametrize(
    "address", ["anna@firma.de", "x@gov.ie", "y@example.eu", "z@post.no", "q@mail.gr"]
)
def test_the_eea_switch_skips_eu_and_eea_country_domains(address):
    assert excluded(address, {"skip_eea": True})
    assert not excluded(address, {"skip_eea": False})


@pytest.mark.parametrize("address", ["a@example.com", "b@firma.ch", "c@example.co.uk"])
def test_the_eea_switch_leaves_other_domains(address):
    assert not excluded(address, {"skip_eea": True})


def test_one_excluded_recipient_stops_tracking_the_whole_email():
    settings = {"never_track": ["lawyer.test"]}
    assert trackable(["a@example.com"], settings)
    assert not trackable(["a@example.com", "counsel@lawyer.test"], settings)
