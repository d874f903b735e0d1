"""The insight routes' part of the OpenAPI document (backend/openapi.py merges it)."""

from __future__ import annotations

from ..openapi import (
    BEARER,
    ERRORS,
    GRANT_LINK,
    MESSAGE_ID,
    NULLABLE_TIME,
    UNAVAILABLE,
    _json,
    _ref,
)

NOT_FOUND = {"404": {"$ref": "#/components/responses/NotFound"}}
CONFLICT = {"409": _json(_ref("Error"), "Not possible in the message's state; the message says.")}
TIME = {"type": "string", "format": "date-time"}
COUNT = {"type": "integer", "minimum": 0}
SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
WINDOW_COMMON = {
    "label": {"type": "string", "description": "As the English hint writes it."},
    "opens": COUNT,
    "share": {"type": "number", "minimum": 0, "maximum": 1},
}
REMINDER_ID = {
    "name": "reminder_id",
    "in": "path",
    "required": True,
    "description": "A reminder's id is its message's id (one reminder per message).",
    "schema": {"type": "string"},
}

SCHEMAS = {
    "BestTime": {
        "type": "object",
        "required": [
            "time_zone",
            "basis",
            "weekdays",
            "matrix",
            "opened",
            "min_opened",
            "peak_windows",
            "hint",
            "no_hint_reason",
            "suggested_send_at",
            "suggested_send_local",
            "in_peak_now",
        ],
        "properties": {
            "time_zone": {"type": "string", "description": "The user's time_zone setting."},
            "basis": {
                "const": "first_open",
                "description": "Each email counts once, at its first real (counted) open.",
            },
            "weekdays": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 7,
                "maxItems": 7,
                "description": "Row labels: Mon first.",
            },
            "matrix": {
                "type": "array",
                "minItems": 7,
                "maxItems": 7,
                "items": {"type": "array", "minItems": 24, "maxItems": 24, "items": COUNT},
                "description": "matrix[weekday][hour] in the user's time zone, Monday = 0:"
                " how many emails were first opened then.",
            },
            "opened": {**COUNT, "description": "Emails in the matrix."},
            "min_opened": {**COUNT, "description": "No hint with fewer opened emails."},
            "peak_windows": {
                "type": "object",
                "required": ["days", "hours"],
                "properties": {
                    "days": {
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "required": ["first", "last", "label", "opens", "share"],
                                "properties": {
                                    "first": {"type": "integer", "minimum": 0, "maximum": 6},
                                    "last": {"type": "integer", "minimum": 0, "maximum": 6},
                                    **WINDOW_COMMON,
                                },
                            },
                        ],
                        "description": "Weekdays first..last (inclusive, may wrap past"
                        " Sunday), when they hold 85% of the first opens.",
                    },
                    "hours": {
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "required": ["start", "end", "label", "opens", "share"],
                                "properties": {
                                    "start": {"type": "integer", "minimum": 0, "maximum": 23},
                                    "end": {"type": "integer", "minimum": 0, "maximum": 23},
                                    **WINDOW_COMMON,
                                },
                            },
                        ],
                        "description": "Hours start..end (end exclusive, may wrap past"
                        " midnight), at most 3, holding 75% of the first opens.",
                    },
                },
            },
            "hint": {"type": ["string", "null"], "description": "English; null: see reason."},
            "no_hint_reason": {"enum": [None, "not_enough_data", "no_pattern"]},
            "suggested_send_at": {
                **NULLABLE_TIME,
                "description": "The next start of the peak, at least 5 minutes ahead (UTC).",
            },
            "suggested_send_local": {
                "type": ["string", "null"],
                "description": "The same moment in the user's time zone, with its offset.",
            },
            "in_peak_now": {"type": "boolean", "description": "Now is inside the peak."},
        },
    },
    "Engagement": {
        "type": "object",
        "required": [
            "address",
            "emails_sent",
            "emails_alone",
            "opened",
            "open_rate",
            "median_first_open_seconds",
            "replied",
            "reply_rate",
            "reads_but_never_replies",
            "last_sent_at",
        ],
        "properties": {
            "address": {"type": "string"},
            "emails_sent": {**COUNT, "description": "Tracked emails with them as a recipient."},
            "emails_alone": {**COUNT, "description": "Of those, emails to them alone."},
            "opened": {**COUNT, "description": "Emails to them alone that were opened."},
            "open_rate": {**SHARE, "description": "opened / emails_alone."},
            "median_first_open_seconds": {"type": ["integer", "null"], "minimum": 0},
            "replied": {**COUNT, "description": "Emails (of emails_sent) they replied to."},
            "reply_rate": {**SHARE, "description": "replied / emails_sent."},
            "reads_but_never_replies": {"type": "boolean"},
            "last_sent_at": NULLABLE_TIME,
        },
    },
    "Reply": {
        "type": "object",
        "required": ["message_id", "gmail_message_id", "from", "at", "source", "recorded_at"],
        "properties": {
            "message_id": {"type": "string"},
            "gmail_message_id": {"type": "string"},
            "from": {"type": "string"},
            "at": TIME,
            "source": {"enum": ["extension", "gmail_api"]},
            "recorded_at": TIME,
        },
    },
    "Reminder": {
        "type": "object",
        "required": [
            "id",
            "message_id",
            "status",
            "due_at",
            "created_at",
            "fired_at",
            "acked_at",
            "cancelled_at",
            "cancel_reason",
            "message",
            "thread_url",
        ],
        "properties": {
            "id": {"type": "string", "description": "The message's id."},
            "message_id": {"type": "string"},
            "status": {"enum": ["scheduled", "due", "acked", "cancelled"]},
            "due_at": TIME,
            "created_at": TIME,
            "fired_at": NULLABLE_TIME,
            "acked_at": NULLABLE_TIME,
            "cancelled_at": NULLABLE_TIME,
            "cancel_reason": {"enum": [None, "user", "reply"]},
            "message": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["subject", "recipients", "sent_at"],
                        "properties": {
                            "subject": {"type": "string"},
                            "recipients": _ref("Recipients"),
                            "sent_at": NULLABLE_TIME,
                            "gmail_message_id": {"type": ["string", "null"]},
                            "gmail_thread_id": {"type": ["string", "null"]},
                        },
                    },
                ]
            },
            "thread_url": {
                "type": ["string", "null"],
                "description": "Gmail's address of the thread, in the user's account.",
            },
        },
    },
}

REPLY_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["from", "at", "gmail_message_id"],
    "properties": {
        "from": {"type": "string", "description": "The replying recipient's address."},
        "at": TIME,
        "gmail_message_id": {"type": "string", "description": "The reply's own Gmail id."},
    },
}
REMINDER_BODY = {
    "oneOf": [
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["after_days"],
            "properties": {"after_days": {"enum": [1, 3, 7]}},
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["due_at"],
            "properties": {"due_at": TIME},
        },
    ]
}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


PATHS = {
    "/insights/gmail": {
        "get": {
            "summary": "Whether replies are looked for in the user's Gmail (gmail.metadata)",
            "security": BEARER,
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["available", "granted", "on", "scope"],
                        "properties": {
                            "available": {
                                "type": "boolean",
                                "description": "Google sign-in is configured on this server.",
                            },
                            "granted": {
                                "type": "boolean",
                                "description": "The user granted gmail.metadata; it is kept.",
                            },
                            "on": {
                                "type": "boolean",
                                "description": "The reminder job asks Gmail for this user's"
                                " replies: available, granted, and the kept grant readable.",
                            },
                            "scope": {"type": "string"},
                        },
                    },
                    "Status",
                ),
                "401": ERRORS["401"],
            },
        },
        "post": {
            "summary": "A one-time link (10 min) to let Mailtick find replies in the user's Gmail",
            "description": "Open the URL in a browser tab: Google asks for the gmail.metadata"
            " scope only (senders and dates, never bodies), for the Google account of the"
            " user's own address.",
            "security": BEARER,
            "responses": {
                "200": GRANT_LINK,
                "401": ERRORS["401"],
                **UNAVAILABLE,
            },
        },
        "delete": {
            "summary": "Forget the gmail.metadata grant",
            "security": BEARER,
            "responses": {"204": {"description": "Forgotten"}, "401": ERRORS["401"]},
        },
    },
    "/insights/overall": {
        "get": {
            "summary": "When the user's email is first opened, by hour of week",
            "security": BEARER,
            "responses": {
                "200": _json(
                    {
                        "allOf": [
                            _ref("BestTime"),
                            {
                                "type": "object",
                                "required": ["emails"],
                                "properties": {
                                    "emails": {
                                        "type": "object",
                                        "required": ["sent", "opened"],
                                        "properties": {"sent": COUNT, "opened": COUNT},
                                    }
                                },
                            },
                        ]
                    },
                    "Best time to send, over every email",
                ),
                "401": ERRORS["401"],
            },
        }
    },
    "/insights/recipients/{address}": {
        "parameters": [
            {"name": "address", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "get": {
            "summary": "When one recipient first opens the user's email; their engagement",
            "description": "Opens count only on emails to that address alone (a pixel cannot"
            " tell recipients apart). An address the user never wrote to has empty data.",
            "security": BEARER,
            "responses": {
                "200": _json(
                    {
                        "allOf": [
                            _ref("BestTime"),
                            {
                                "type": "object",
                                "required": ["address", "engagement", "replies_seen"],
                                "properties": {
                                    "address": {"type": "string"},
                                    "engagement": _ref("Engagement"),
                                    "replies_seen": {"type": "boolean"},
                                },
                            },
                        ]
                    },
                    "Best time to send to them, and their engagement",
                ),
                **ERRORS,
            },
        },
    },
    "/insights/contacts": {
        "get": {
            "summary": "Every contact with their engagement, most emailed first",
            "security": BEARER,
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                }
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["contacts", "total", "emails_considered", "replies_seen"],
                        "properties": {
                            "contacts": {"type": "array", "items": _ref("Engagement")},
                            "total": COUNT,
                            "emails_considered": COUNT,
                            "replies_seen": {
                                "type": "boolean",
                                "description": "Any reply was ever recorded: until then"
                                " nobody is marked reads_but_never_replies.",
                            },
                        },
                    },
                    "Contacts",
                ),
                **ERRORS,
            },
        }
    },
    "/messages/{message_id}/replies": {
        "parameters": [MESSAGE_ID],
        "post": {
            "summary": "Report a reply seen in a tracked thread (idempotent)",
            "description": "Idempotent by the reply's gmail_message_id. Cancels the message's"
            " scheduled or due reminder.",
            "security": BEARER,
            "requestBody": _body(REPLY_BODY),
            "responses": {
                **{
                    status: _json(
                        {
                            "type": "object",
                            "required": ["reply", "created", "reminder"],
                            "properties": {
                                "reply": _ref("Reply"),
                                "created": {"type": "boolean"},
                                "reminder": {"oneOf": [{"type": "null"}, _ref("Reminder")]},
                            },
                        },
                        description,
                    )
                    for status, description in (
                        ("201", "Recorded"),
                        ("200", "Known already: the reply as first recorded"),
                    )
                },
                **ERRORS,
                **NOT_FOUND,
                **CONFLICT,
            },
        },
        "get": {
            "summary": "The message's replies, oldest first",
            "security": BEARER,
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["replies"],
                        "properties": {"replies": {"type": "array", "items": _ref("Reply")}},
                    },
                    "Replies",
                ),
                **ERRORS,
                **NOT_FOUND,
                **CONFLICT,
            },
        },
    },
    "/messages/{message_id}/reminder": {
        "parameters": [MESSAGE_ID],
        "put": {
            "summary": "Remind me at due_at, or after_days (1, 3, 7) from now, if no reply",
            "security": BEARER,
            "requestBody": _body(REMINDER_BODY),
            "responses": {
                "200": _json(_ref("Reminder"), "Scheduled (replacing any earlier one)"),
                **ERRORS,
                **NOT_FOUND,
                **CONFLICT,
            },
        },
        "get": {
            "summary": "The message's reminder, in whatever state",
            "security": BEARER,
            "responses": {
                "200": _json(_ref("Reminder"), "The reminder"),
                **ERRORS,
                **NOT_FOUND,
                **CONFLICT,
            },
        },
        "delete": {
            "summary": "Cancel the message's scheduled or due reminder",
            "security": BEARER,
            "responses": {
                "204": {"description": "Cancelled"},
                **ERRORS,
                **NOT_FOUND,
                **CONFLICT,
            },
        },
    },
    "/reminders": {
        "get": {
            "summary": "The user's reminders in one state (default due: fired, unacknowledged)",
            "security": BEARER,
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "schema": {
                        "enum": ["due", "scheduled", "acked", "cancelled"],
                        "default": "due",
                    },
                }
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["reminders"],
                        "properties": {"reminders": {"type": "array", "items": _ref("Reminder")}},
                    },
                    "Reminders, earliest due first",
                ),
                **ERRORS,
            },
        }
    },
    "/reminders/{reminder_id}/ack": {
        "parameters": [REMINDER_ID],
        "post": {
            "summary": "The user saw a due reminder: stop listing it (idempotent)",
            "security": BEARER,
            "responses": {
                "200": _json(_ref("Reminder"), "Acknowledged"),
                **ERRORS,
                **NOT_FOUND,
                **CONFLICT,
            },
        },
    },
}
