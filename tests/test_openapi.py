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


def checked_statuses(spec, calls) -> list[int]:
    """Make each (path, method, call) request, check its answer against the document, and
    return the status codes in order."""
    statuses = []
    for path, method, call in calls:
        response = call()
        check(spec, path, method, response)
        statuses.append(response.status_code)
    return statuses


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
    statuses = checked_statuses(spec, calls)
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


# --- Insights (issue 7) -----------------------------------------------------------------


def test_insight_answers_fit_the_documented_schemas(client, auth, spec, sent_message, store):
    from datetime import timedelta

    from backend.insights import reminders
    from backend.store import Hit, utcnow

    opened = []
    for day in range(7):  # first opened every day at 09:10 UTC: a peak with a hint
        message = sent_message(sent_at=utcnow() - timedelta(days=day + 1, hours=2))
        moment = (utcnow() - timedelta(days=day + 1)).replace(hour=9, minute=10)
        store.record_hits([Hit(f"h{day}", message["id"], "open", moment, cls="human")])
        opened.append(message["id"])
    mid, other = opened[0], opened[1]
    unsent = client.post(f"{PREFIX}/messages", json={}, headers=auth).get_json()["id"]
    reply = {"from": "alice@example.com", "at": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}

    def fire():
        reminders.due_reminders(store, utcnow() + timedelta(days=2))
        return client.get(f"{PREFIX}/reminders", headers=auth)

    calls = [
        (
            "/insights/overall",
            "get",
            lambda: client.get(f"{PREFIX}/insights/overall", headers=auth),
        ),
        ("/insights/overall", "get", lambda: client.get(f"{PREFIX}/insights/overall")),
        (
            "/insights/recipients/{address}",
            "get",
            lambda: client.get(f"{PREFIX}/insights/recipients/alice@example.com", headers=auth),
        ),
        (
            "/insights/recipients/{address}",
            "get",
            lambda: client.get(f"{PREFIX}/insights/recipients/nobody", headers=auth),
        ),
        (
            "/insights/contacts",
            "get",
            lambda: client.get(f"{PREFIX}/insights/contacts", headers=auth),
        ),
        (
            "/insights/contacts",
            "get",
            lambda: client.get(f"{PREFIX}/insights/contacts?limit=999", headers=auth),
        ),
        (
            "/messages/{message_id}/reminder",
            "put",
            lambda: client.put(
                f"{PREFIX}/messages/{mid}/reminder", json={"after_days": 1}, headers=auth
            ),
        ),
        (
            "/messages/{message_id}/reminder",
            "put",
            lambda: client.put(
                f"{PREFIX}/messages/{mid}/reminder", json={"after_days": 2}, headers=auth
            ),
        ),
        (
            "/messages/{message_id}/reminder",
            "put",
            lambda: client.put(
                f"{PREFIX}/messages/{unsent}/reminder", json={"after_days": 1}, headers=auth
            ),
        ),
        (
            "/messages/{message_id}/reminder",
            "get",
            lambda: client.get(f"{PREFIX}/messages/{mid}/reminder", headers=auth),
        ),
        (
            "/reminders/{reminder_id}/ack",
            "post",
            lambda: client.post(f"{PREFIX}/reminders/{mid}/ack", headers=auth),
        ),
        ("/reminders", "get", fire),
        ("/reminders", "get", lambda: client.get(f"{PREFIX}/reminders?status=x", headers=auth)),
        (
            "/reminders/{reminder_id}/ack",
            "post",
            lambda: client.post(f"{PREFIX}/reminders/{mid}/ack", headers=auth),
        ),
        (
            "/reminders/{reminder_id}/ack",
            "post",
            lambda: client.post(f"{PREFIX}/reminders/{'Q' * 24}/ack", headers=auth),
        ),
        (
            "/messages/{message_id}/reminder",
            "put",
            lambda: client.put(
                f"{PREFIX}/messages/{other}/reminder", json={"after_days": 7}, headers=auth
            ),
        ),
        (
            "/messages/{message_id}/replies",
            "post",
            lambda: client.post(
                f"{PREFIX}/messages/{other}/replies",
                json={**reply, "gmail_message_id": "18c2f0a1b2c3d4e5"},
                headers=auth,
            ),
        ),
        (
            "/messages/{message_id}/replies",
            "post",
            lambda: client.post(
                f"{PREFIX}/messages/{other}/replies",
                json={**reply, "gmail_message_id": "18c2f0a1b2c3d4e5"},
                headers=auth,
            ),
        ),
        (
            "/messages/{message_id}/replies",
            "post",
            lambda: client.post(f"{PREFIX}/messages/{other}/replies", json=reply, headers=auth),
        ),
        (
            "/messages/{message_id}/replies",
            "post",
            lambda: client.post(
                f"{PREFIX}/messages/{'Q' * 24}/replies",
                json={**reply, "gmail_message_id": "18c2f0a1b2c3d4e5"},
                headers=auth,
            ),
        ),
        (
            "/messages/{message_id}/replies",
            "get",
            lambda: client.get(f"{PREFIX}/messages/{other}/replies", headers=auth),
        ),
        (
            "/messages/{message_id}/reminder",
            "get",
            lambda: client.get(f"{PREFIX}/messages/{opened[2]}/reminder", headers=auth),
        ),
        (
            "/messages/{message_id}/reminder",
            "delete",
            lambda: client.delete(f"{PREFIX}/messages/{other}/reminder", headers=auth),
        ),
    ]
    statuses = checked_statuses(spec, calls)
    assert statuses == [
        200, 401, 200, 400, 200, 400,  # insights
        200, 400, 409, 200, 409,  # reminder set, read; ack before due
        200, 400, 200, 404,  # fired and listed; acked
        200, 201, 200, 400, 404, 200,  # replies (the second is known already)
        404, 404,  # no reminder; the reply cancelled the other one
    ]  # fmt: skip
    body = client.get(f"{PREFIX}/insights/overall", headers=auth).get_json()
    assert body["hint"] == "Your email is usually opened between 9 and 10"
    assert body["peak_windows"]["hours"]["start"] == 9
