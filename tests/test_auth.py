"""API tokens and the `mailtick token` commands."""

from __future__ import annotations

import pytest

from backend import cli
from backend.auth import hash_token


def error_of(response) -> dict:
    assert response.is_json, response.data
    return response.get_json()["error"]


# --- API tokens -------------------------------------------------------------------------------


def test_a_request_without_a_token_is_told_how_to_get_one(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "unauthorized"
    assert "Authorization: Bearer" in error["message"]
    assert "mailtick token create" in error["message"]


@pytest.mark.parametrize(
    "header",
    ["Bearer mt_not-a-token-this-server-made", "Bearer garbage", "Bearer \u00e9\u00e9"],
)
def test_an_unknown_token_is_refused_with_what_to_do(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "invalid_token"
    assert "Create a new one" in error["message"]


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "mt_abc"])
def test_a_malformed_authorization_header_is_refused(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_tokens_are_random_and_name_their_account(client, users):
    first, second = users.token("ada@example.com"), users.token("ada@example.com")
    assert first != second and len(first) >= 40
    for token in (first, second):
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.get_json()["email"] == "ada@example.com"


def test_a_revoked_token_is_refused(client, users, store):
    token = users.token()
    assert store.revoke_token(hash_token(token))
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_token"


def test_delete_token_revokes_only_the_presented_token(client, users):
    kept, dropped = users.headers(), users.headers()
    assert client.delete("/api/v1/token", headers=dropped).status_code == 204
    assert client.get("/api/v1/me", headers=dropped).status_code == 401
    assert client.get("/api/v1/me", headers=kept).status_code == 200
    assert client.delete("/api/v1/token", headers=dropped).status_code == 401


@pytest.fixture
def cli_env(app, monkeypatch):
    """Point the `mailtick` command at the same SQLite file as `app`."""
    settings = app.config["MAILTICK"]
    monkeypatch.setenv("MAILTICK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MAILTICK_STORE", settings.store_url)


def test_cli_token_create_prints_a_working_token_last(cli_env, client, capsys):
    assert cli.main(["token", "create", "Grace@Example.com"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    token = lines[-1]
    assert token.startswith("mt_") and " " not in token
    assert "grace@example.com" in lines[0]
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json()["email"] == "grace@example.com"


def test_cli_token_create_reuses_the_account(cli_env, client, capsys):
    cli.main(["token", "create", "grace@example.com"])
    cli.main(["token", "create", "grace@example.com"])
    tokens = [line for line in capsys.readouterr().out.splitlines() if line.startswith("mt_")]
    ids = {
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {t}"}).get_json()["account_id"]
        for t in tokens
    }
    assert len(tokens) == 2 and len(ids) == 1


def test_cli_token_revoke(cli_env, client, capsys):
    cli.main(["token", "create", "grace@example.com"])
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert cli.main(["token", "revoke", token]) == 0
    assert "Revoked" in capsys.readouterr().out
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert cli.main(["token", "revoke", token]) == 1
    assert "No such token" in capsys.readouterr().err
