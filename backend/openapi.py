"""The OpenAPI 3.1 document of /api/v1; tests/test_openapi.py keeps it true to the routes."""

from __future__ import annotations


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
ERRORS = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
}
NOT_FOUND = {"404": {"$ref": "#/components/responses/NotFound"}}
BEARER = [{"bearer": []}]
UNAVAILABLE = {"503": _json(_ref("Error"), "Not configured on this server; the message says how.")}
# The answer of the routes that start a Gmail grant (notifications, insights).
GRANT_LINK = _json(
    {
        "type": "object",
        "required": ["url"],
        "properties": {"url": {"type": "string", "format": "uri"}},
    },
    "The link",
)
IDS_BODY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ids": {"type": "array", "items": {"type": "string"}, "maxItems": 200},
        "gmail_ids": {"type": "array", "items": {"type": "string"}, "maxItems": 200},
    },
}
MESSAGE_ID = {
    "name": "message_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{22,64}$"},
}

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string", "description": "What to do about it."},
                    "field": {"type": "string"},
                },
            }
        },
    },
    "Recipients": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "to": {"type": "array", "items": {"type": "string"}},
            "cc": {"type": "array", "items": {"type": "string"}},
            "bcc": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Reservation": {
        "type": "object",
        "required": ["id", "pixel_url", "click_base", "expires_at"],
        "properties": {
            "id": {"type": "string", "description": "144 random bits, URL-safe."},
            "pixel_url": {"type": "string", "format": "uri"},
            "click_base": {
                "type": "string",
                "format": "uri",
                "description": "Tracked link n is {click_base}/{n}?u={percent-encoded url}.",
            },
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
    "Completion": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "subject": {"type": "string", "maxLength": 2000},
            "recipients": _ref("Recipients"),
            "links": {
                "type": "array",
                "items": {"type": "string", "format": "uri"},
                "description": "Original destinations in link-index order.",
            },
            "sent_at": {"type": "string", "format": "date-time"},
            "gmail_message_id": {"type": ["string", "null"]},
            "gmail_thread_id": {"type": ["string", "null"]},
        },
    },
    "Status": {
        "type": "object",
        "required": ["id", "state", "opens", "clicks", "first_open_at", "last_open_at"],
        "properties": {
            "id": {"type": "string"},
            "gmail_message_id": {"type": ["string", "null"]},
            "gmail_thread_id": {"type": ["string", "null"]},
            "state": {"type": "string", "enum": ["reserved", "tracked", "opened"]},
            "opens": {"type": "integer", "minimum": 0},
            "first_open_at": NULLABLE_TIME,
            "last_open_at": NULLABLE_TIME,
            "clicks": {"type": "integer", "minimum": 0},
            "machine_opens": {"type": "integer", "minimum": 0},
        },
    },
    "Message": {
        "type": "object",
        "required": [
            "id",
            "subject",
            "recipients",
            "sent_at",
            "created_at",
            "state",
            "opens",
            "first_open_at",
            "last_open_at",
            "clicks",
            "links",
            "pixel_url",
        ],
        "properties": {
            "id": {"type": "string"},
            "subject": {"type": "string"},
            "recipients": _ref("Recipients"),
            "sent_at": NULLABLE_TIME,
            "created_at": {"type": "string", "format": "date-time"},
            "gmail_message_id": {"type": ["string", "null"]},
            "gmail_thread_id": {"type": ["string", "null"]},
            "state": {"type": "string", "enum": ["reserved", "tracked", "opened"]},
            "opens": {"type": "integer", "minimum": 0},
            "first_open_at": NULLABLE_TIME,
            "last_open_at": NULLABLE_TIME,
            "clicks": {"type": "integer", "minimum": 0},
            "machine_opens": {
                "type": "integer",
                "minimum": 0,
                "description": "Opens by machines that fetch every image (Apple Mail Privacy"
                " Protection): with no real open, the message was probably opened.",
            },
            "links": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["url", "tracked_url", "clicks"],
                    "properties": {
                        "url": {"type": "string"},
                        "tracked_url": {"type": "string"},
                        "clicks": {"type": "integer", "minimum": 0},
                    },
                },
            },
            "pixel_url": {"type": "string"},
            "events": {"type": "array", "items": _ref("Event")},
        },
    },
    "Settings": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "never_track": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Addresses and domains never to track (a domain covers its"
                " subdomains).",
            },
            "skip_eea": {
                "type": "boolean",
                "description": "Do not track recipients at EU/EEA country-code domains.",
            },
        },
    },
    "Event": {
        "type": "object",
        "required": ["kind", "at", "class", "counted", "client", "device", "user_agent"],
        "properties": {
            "kind": {"type": "string", "enum": ["open", "click"]},
            "at": {"type": "string", "format": "date-time"},
            "class": {
                "type": "string",
                "enum": [
                    "pending",
                    "human",
                    "gmail_proxy",
                    "apple_mpp",
                    "yahoo_proxy",
                    "scanner",
                    "self",
                    "duplicate",
                ],
                "description": "What the hit was; 'pending' for the few seconds before it is"
                " classified.",
            },
            "client": {"type": "string", "description": "Mail client, when the hit tells."},
            "device": {"type": "string", "description": "Device kind and OS, when it tells."},
            "link_index": {"type": ["integer", "null"]},
            "url": {"type": ["string", "null"]},
            "user_agent": {"type": "string"},
            "counted": {"type": "boolean", "description": "Whether it counts as a reader's."},
        },
    },
}


def document(base_url: str, version: str) -> dict:
    # Notifications (issue 5) and insights (issue 7) keep their parts beside them; they
    # import helpers from here.
    from .insights import openapi as insights
    from .notify import openapi as notify

    schemas = {**SCHEMAS, **notify.SCHEMAS, **insights.SCHEMAS}
    schemas["Settings"] = {
        **SCHEMAS["Settings"],
        "properties": {**SCHEMAS["Settings"]["properties"], **notify.SETTINGS},
    }
    bearer = BEARER
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mailtick API",
            "version": version,
            "description": "Track Gmail opens and clicks. Send 'Authorization: Bearer <token>'.",
        },
        "servers": [{"url": f"{base_url}/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
            "responses": {
                "BadRequest": _json(_ref("Error"), "The request was wrong; the message says how."),
                "Unauthorized": _json(_ref("Error"), "No token, or a token that is not valid."),
                "NotFound": _json(_ref("Error"), "No such message of yours."),
            },
        },
        "paths": {
            "/server": {
                "get": {
                    "summary": "What this server is and whether Google sign-in is on",
                    "security": [],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["service", "version", "store", "google_sign_in"],
                                "properties": {
                                    "service": {"const": "mailtick"},
                                    "version": {"type": "string"},
                                    "store": {"type": "string"},
                                    "base_url": {"type": "string"},
                                    "google_sign_in": {"type": "boolean"},
                                    "sign_in_url": {"type": ["string", "null"]},
                                },
                            },
                            "Server facts",
                        )
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "OpenAPI document")},
                }
            },
            "/me": {
                "get": {
                    "summary": "Who the token belongs to (the extension's connection check)",
                    "security": bearer,
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["email", "account_id"],
                                "properties": {
                                    "email": {"type": "string"},
                                    "account_id": {"type": "string"},
                                },
                            },
                            "The account",
                        ),
                        "401": ERRORS["401"],
                    },
                }
            },
            "/token": {
                "delete": {
                    "summary": "Revoke the token this request carries (sign out)",
                    "security": bearer,
                    "responses": {"204": {"description": "Revoked"}, "401": ERRORS["401"]},
                }
            },
            "/messages": {
                "post": {
                    "summary": "Reserve a tracking id when a compose window opens",
                    "security": bearer,
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {"201": _json(_ref("Reservation"), "Reserved"), **ERRORS},
                },
                "get": {
                    "summary": "History of sent tracked messages, newest first",
                    "security": bearer,
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 200,
                                "default": 50,
                            },
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "q",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "Search subject and recipients.",
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["messages", "next_cursor"],
                                "properties": {
                                    "messages": {"type": "array", "items": _ref("Message")},
                                    "next_cursor": {"type": ["string", "null"]},
                                },
                            },
                            "A page of history",
                        ),
                        **ERRORS,
                    },
                },
            },
            "/messages/status": {
                "post": {
                    "summary": "States of up to 200 messages in one call (check marks of a page)",
                    "security": bearer,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": IDS_BODY}},
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["statuses"],
                                "properties": {
                                    "statuses": {"type": "array", "items": _ref("Status")}
                                },
                            },
                            "States of the ids that are yours; others are absent",
                        ),
                        **ERRORS,
                    },
                }
            },
            "/messages/self-views": {
                "post": {
                    "summary": "The sender's own Gmail is showing these messages now",
                    "description": "Gmail's image proxy fetches that arrive around this signal"
                    " are the sender's own views and never count as opens.",
                    "security": bearer,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": IDS_BODY}},
                    },
                    "responses": {
                        "202": _json(
                            {
                                "type": "object",
                                "required": ["recorded"],
                                "properties": {
                                    "recorded": {"type": "array", "items": {"type": "string"}}
                                },
                            },
                            "The tracking ids the signal was recorded for",
                        ),
                        **ERRORS,
                    },
                }
            },
            "/settings": {
                "get": {
                    "summary": "The caller's settings",
                    "security": bearer,
                    "responses": {"200": _json(_ref("Settings"), "Settings"), "401": ERRORS["401"]},
                },
                "patch": {
                    "summary": "Change some settings; the others stay",
                    "security": bearer,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Settings")}},
                    },
                    "responses": {"200": _json(_ref("Settings"), "All settings"), **ERRORS},
                },
            },
            "/messages/{message_id}": {
                "parameters": [MESSAGE_ID],
                "get": {
                    "summary": "One message with its events",
                    "security": bearer,
                    "responses": {
                        "200": _json(_ref("Message"), "The message"),
                        **ERRORS,
                        **NOT_FOUND,
                    },
                },
                "patch": {
                    "summary": "Complete a reserved message after sending (idempotent)",
                    "security": bearer,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Completion")}},
                    },
                    "responses": {
                        "200": _json(_ref("Message"), "Completed"),
                        **ERRORS,
                        **NOT_FOUND,
                    },
                },
                "delete": {
                    "summary": "Delete a message and its hits",
                    "security": bearer,
                    "responses": {"204": {"description": "Deleted"}, **ERRORS, **NOT_FOUND},
                },
            },
            "/account": {
                "delete": {
                    "summary": "Delete the account and all of its data",
                    "security": bearer,
                    "responses": {"204": {"description": "Deleted"}, "401": ERRORS["401"]},
                }
            },
            **notify.PATHS,
            **insights.PATHS,
        },
    }
