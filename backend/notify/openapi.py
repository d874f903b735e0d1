"""The notification routes' part of the OpenAPI document (backend/openapi.py merges it)."""

from __future__ import annotations

from ..openapi import BEARER, ERRORS, GRANT_LINK, UNAVAILABLE, _json, _ref

NOT_FOUND = {"404": {"$ref": "#/components/responses/NotFound"}}
CONFLICT = {"409": _json(_ref("Error"), "The cursor is ahead of the feed: start without it.")}

SETTINGS = {
    "notify_mode": {
        "type": "string",
        "enum": ["first", "every", "off"],
        "description": "'first' (default): a message's first open and each link's first click"
        " notify, re-opens are collapsed; 'every': every open and click; 'off': none.",
    },
    "quiet_hours": {
        "oneOf": [
            {"type": "null"},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["start", "end", "time_zone"],
                "properties": {
                    "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                    "end": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                    "time_zone": {"type": "string", "description": "IANA, e.g. Europe/Berlin"},
                },
            },
        ],
        "description": "No notification between start and end (may pass midnight).",
    },
    "time_zone": {
        "type": "string",
        "description": "The user's IANA time zone: their day for 'today' counts and the digest.",
    },
    "email_digest": {"type": "boolean", "description": "A daily email of yesterday's activity."},
    "email_instant": {"type": "boolean", "description": "An email at each message's first open."},
}

SCHEMAS = {
    "ActivityEvent": {
        "type": "object",
        "required": [
            "id",
            "kind",
            "message_id",
            "subject",
            "recipients",
            "link_index",
            "url",
            "at",
            "day",
            "class",
            "client",
            "device",
            "gmail_message_id",
            "gmail_thread_id",
            "first",
            "count_today",
            "notify",
            "collapse_key",
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "description": "Unique and stable: dedupe by it."},
            "kind": {"type": "string", "enum": ["opened", "reopened", "clicked"]},
            "message_id": {"type": "string"},
            "subject": {"type": "string"},
            "recipients": _ref("Recipients"),
            "link_index": {"type": ["integer", "null"]},
            "url": {"type": ["string", "null"], "description": "The clicked link's destination."},
            "at": {"type": "string", "format": "date-time", "description": "When it happened."},
            "day": {"type": "string", "description": "'at' as a day of the user's time zone."},
            "class": {"type": "string", "enum": ["human", "gmail_proxy", "yahoo_proxy"]},
            "client": {"type": "string"},
            "device": {"type": "string"},
            "gmail_message_id": {"type": ["string", "null"]},
            "gmail_thread_id": {"type": ["string", "null"]},
            "first": {
                "type": "boolean",
                "description": "The message's first open, or the first click on this link.",
            },
            "count_today": {
                "type": "integer",
                "minimum": 1,
                "description": "Opens of the message (or clicks on this link) on 'day', this"
                " one included: 'opened again, 3 times today'.",
            },
            "notify": {"type": "boolean", "description": "Show a notification for it."},
            "collapse_key": {
                "type": "string",
                "description": "Items with one key update a single notification.",
            },
        },
    },
    "PushSubscription": {
        "type": "object",
        "required": ["endpoint", "keys"],
        "additionalProperties": False,
        "properties": {
            "endpoint": {"type": "string", "format": "uri"},
            "expirationTime": {"type": ["number", "null"]},
            "keys": {
                "type": "object",
                "required": ["p256dh", "auth"],
                "properties": {"p256dh": {"type": "string"}, "auth": {"type": "string"}},
            },
        },
    },
}

PATHS = {
    "/events": {
        "get": {
            "summary": "The activity feed: real opens and clicks, oldest first, after a cursor",
            "description": "Without 'after': the newest 'limit' items. Keep the answer's"
            " 'cursor' and pass it as 'after' next time; call again at once while 'more' is"
            " true. Positions are assigned when items are committed, in commit order, so a"
            " cursor never skips an item. See docs/notifications.md.",
            "security": BEARER,
            "parameters": [
                {"name": "after", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                },
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["events", "cursor", "more"],
                        "properties": {
                            "events": {"type": "array", "items": _ref("ActivityEvent")},
                            "cursor": {"type": "string"},
                            "more": {"type": "boolean"},
                        },
                    },
                    "A page of the feed",
                ),
                **ERRORS,
                **CONFLICT,
            },
        }
    },
    "/push/key": {
        "get": {
            "summary": "The server's VAPID public key (PushManager applicationServerKey)",
            "security": BEARER,
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["public_key"],
                        "properties": {
                            "public_key": {
                                "type": "string",
                                "description": "Uncompressed P-256 point, base64url, no padding.",
                            }
                        },
                    },
                    "The key",
                ),
                "401": ERRORS["401"],
            },
        }
    },
    "/push/subscriptions": {
        "post": {
            "summary": "Keep this browser's push subscription (PushSubscription.toJSON())",
            "security": BEARER,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("PushSubscription")}},
            },
            "responses": {
                "201": _json(
                    {
                        "type": "object",
                        "required": ["endpoint"],
                        "properties": {"endpoint": {"type": "string"}},
                    },
                    "Kept (subscribing an endpoint again replaces it)",
                ),
                **ERRORS,
            },
        },
        "delete": {
            "summary": "Forget a push subscription",
            "security": BEARER,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["endpoint"],
                            "properties": {"endpoint": {"type": "string"}},
                        }
                    }
                },
            },
            "responses": {"204": {"description": "Forgotten"}, **ERRORS, **NOT_FOUND},
        },
    },
    "/notifications": {
        "get": {
            "summary": "What can reach this account: push and email",
            "security": BEARER,
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["push", "email"],
                        "properties": {
                            "push": {
                                "type": "object",
                                "required": ["public_key", "subscriptions"],
                                "properties": {
                                    "public_key": {"type": "string"},
                                    "subscriptions": {"type": "integer", "minimum": 0},
                                },
                            },
                            "email": {
                                "type": "object",
                                "required": ["smtp", "gmail_available", "gmail_granted"],
                                "properties": {
                                    "smtp": {"type": "boolean"},
                                    "gmail_available": {"type": "boolean"},
                                    "gmail_granted": {"type": "boolean"},
                                },
                            },
                        },
                    },
                    "Status",
                ),
                "401": ERRORS["401"],
            },
        }
    },
    "/notifications/gmail": {
        "post": {
            "summary": "A one-time link (10 min) to let Mailtick send from the user's Gmail",
            "description": "Open the URL in a browser tab: Google asks for the gmail.send scope"
            " only, for the Google account of the user's own address.",
            "security": BEARER,
            "responses": {
                "200": GRANT_LINK,
                "401": ERRORS["401"],
                **UNAVAILABLE,
            },
        },
        "delete": {
            "summary": "Forget the Gmail grant",
            "security": BEARER,
            "responses": {"204": {"description": "Forgotten"}, "401": ERRORS["401"]},
        },
    },
}
