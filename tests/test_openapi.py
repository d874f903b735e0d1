"""The OpenAPI document stays true: same routes as the app, and real answers fit its schemas."""

from __future__ import annotations

import re

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

PREFIX = "/api/v1"


@pytest.fixture
def spec(client):
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def app_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(PREFIX))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    return routes


def spec_routes(spec) -> set[tuple[str, str]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in methods
    }


def test_document_lists_exactly_the_apps_routes(app, spec):
    assert spec["openapi"].startswith("3.")
    assert spec_routes(spec) == app_routes(app)


def validator(spec, schema: dict):
    """Validate against a schema of the document, resolving its '#/components/...' references."""
    registry = Registry().with_resource(
        "urn:spec", Resource(contents=spec, specification=DRAFT202012)
    )
    return jsonschema.Draft202012Validator(_rebase(schema), registry=registry)


def _rebase(node):
    """Point '#/components/...' references at the whole document registered as urn:spec."""
    if isinstance(node, dict):
        return {k: (f"urn:spec{v}" if k == "$ref" else _rebase(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


def response_schema(spec, path: str, method: str, status: int) -> dict:
    answer = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in answer:
        answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    return answer["content"]["application/json"]["schema"]


def check(spec, path, method, response):
    assert str(response.status_code) in spec["paths"][path][method]["responses"], (
        f"{method.upper()} {path} answered {response.status_code}, which the document does not list"
    )
    if response.status_code == 204:
        return
    validator(spec, response_schema(spec, path, method, response.status_code)).validate(
        response.get_json()
    )


def test_real_answers_fit_the_documented_schemas(client, auth, spec, sent_message, settle):
    message = sent_message()
    mid = message["id"]
    client.get(f"/p/{mid}.gif")
    client.get(message["links"][0]["tracked_url"].removeprefix("http://mailtick.test"))
    settle()
    calls = [
        ("/server", "get", lambda: client.get(f"{PREFIX}/server")),
        ("/me", "get", lambda: client.get(f"{PREFIX}/me", headers=auth)),
        ("/messages", "post", lambda: client.post(f"{PREFIX}/messages", json={}, headers=auth)),
        ("/messages", "get", lambda: client.get(f"{PREFIX}/messages?limit=1", headers=auth)),
        ("/messages", "get", lambda: client.get(f"{PREFIX}/messages?limit=0", headers=auth)),
        (
            "/messages/status",
            "post",
            lambda: client.post(f"{PREFIX}/messages/status", json={"ids": [mid]}, headers=auth),
        ),
        (
            "/messages/self-views",
            "post",
            lambda: client.post(f"{PREFIX}/messages/self-views", json={"ids": [mid]}, headers=auth),
        ),
        ("/settings", "get", lambda: client.get(f"{PREFIX}/settings", headers=auth)),
        (
            "/settings",
            "patch",
            lambda: client.patch(f"{PREFIX}/settings", json={"skip_eea": True}, headers=auth),
        ),
        (
            "/settings",
            "patch",
            lambda: client.patch(f"{PREFIX}/settings", json={"skip_eea": "yes"}, headers=auth),
        ),
        (
            "/messages/{message_id}",
            "get",
            lambda: client.get(f"{PREFIX}/messages/{mid}", headers=auth),
        ),
        (
            "/messages/{message_id}",
            "get",
            lambda: client.get(f"{PREFIX}/messages/{'Q' * 24}", headers=auth),
        ),
        (
            "/messages/{message_id}",
            "patch",
            lambda: client.patch(f"{PREFIX}/messages/{mid}", json={"subject": "s"}, headers=auth),
        ),
        (
            "/messages/{message_id}",
            "patch",
            lambda: client.patch(f"{PREFIX}/messages/{mid}", json={"subject": 1}, headers=auth),
        ),
        ("/messages/{message_id}", "get", lambda: client.get(f"{PREFIX}/messages/{mid}")),
        (
            "/messages/{message_id}",
            "delete",
            lambda: client.delete(f"{PREFIX}/messages/{mid}", headers=auth),
        ),
        ("/token", "delete", lambda: client.delete(f"{PREFIX}/token", headers=auth)),
        ("/account", "delete", lambda: client.delete(f"{PREFIX}/account", headers=auth)),
    ]
    statuses = []
    for path, method, call in calls:
        response = call()
        check(spec, path, method, response)
        statuses.append(response.status_code)
    assert statuses == [
        200,
        200,
        201,
        200,
        400,
        200,
        202,
        200,
        200,
        400,
        200,
        404,
        200,
        400,
        401,
        204,
        204,
        401,
    ]


def test_a_wrong_answer_would_fail_the_check(spec):
    """The validator really checks: a message missing its state is refused."""
    schema = response_schema(spec, "/messages/{message_id}", "get", 200)
    with pytest.raises(jsonschema.ValidationError):
        validator(spec, schema).validate({"id": "x"})
