"""Which Gmail message is open: Gmail's ids, and the open message's headers from the Gmail API.

The add-on's event names the open message by id only. Its headers (From, To, Subject) come
from the Gmail API's `users.messages.get` in metadata format, called with the user's OAuth
token and the per-message token of the event (scope gmail.addons.current.message.metadata):
the narrowest access that shows who sent a message, and nothing of its body.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger(__name__)

TIMEOUT = 10  # seconds
HEADERS = ("From", "To", "Cc", "Subject", "Message-ID")
HEX_ID = re.compile(r"^[0-9a-f]{8,24}\Z")
# The add-on runtime may name messages as "msg-f:<decimal>" / "thread-f:<decimal>": the same
# 64-bit ids that Gmail's web page and API write in hex.
PREFIXED_ID = re.compile(r"^(?:msg|thread)-[af]:(\d{1,20})\Z")


class GmailError(Exception):
    """The Gmail API did not tell us about the open message."""


def hex_id(value) -> str | None:
    """Gmail's hex id for a message or thread id in any form the add-on may get, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower().lstrip("#")
    prefixed = PREFIXED_ID.match(value)
    if prefixed:
        number = int(prefixed.group(1))
        return format(number, "x") if 0 < number < 2**64 else None
    return value if HEX_ID.match(value) else None


@dataclass
class OpenMessage:
    """What Mailtick needs to know about the message open in Gmail."""

    id: str
    thread_id: str | None = None
    sender: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    labels: frozenset[str] = frozenset()
    sent_at: datetime | None = None

    @property
    def recipients(self) -> list[str]:
        return self.to + self.cc


def addresses(value: str) -> list[str]:
    """Bare lower-case addresses from a header such as 'Alice <alice@example.com>, bob@x.org'."""
    found = []
    for _, address in email.utils.getaddresses([value or ""]):
        address = address.strip().lower()
        if "@" in address and address not in found:
            found.append(address)
    return found


def default_http():
    import httplib2

    return httplib2.Http(timeout=TIMEOUT)


@functools.cache
def discovery_document() -> str:
    # Shipped inside google-api-python-client: building the client needs no network.
    from googleapiclient.discovery_cache import get_static_doc

    return get_static_doc("gmail", "v1")


def open_message(message_id: str, *, user_token: str, message_token: str, http) -> OpenMessage:
    """Fetch the open message's headers; GmailError if Gmail does not answer with them."""
    from googleapiclient.discovery import build_from_document
    from googleapiclient.errors import Error as ClientError

    service = build_from_document(discovery_document(), http=http)
    call = (
        service.users()
        .messages()
        .get(userId="me", id=message_id, format="metadata", metadataHeaders=list(HEADERS))
    )
    call.headers["Authorization"] = f"Bearer {user_token}"
    call.headers["X-Goog-Gmail-Access-Token"] = message_token
    try:
        data = call.execute(num_retries=0)
    except ClientError as exc:
        raise GmailError(f"Gmail API: {exc}") from exc
    except (OSError, ValueError) as exc:  # unreachable, timed out, or not JSON
        raise GmailError(f"Gmail API unreachable: {type(exc).__name__}: {exc}") from exc
    return _parse(data)


def _parse(data) -> OpenMessage:
    if not isinstance(data, dict) or not hex_id(data.get("id")):
        raise GmailError("Gmail API answered without a message id")
    headers: dict[str, str] = {}
    for header in (data.get("payload") or {}).get("headers") or []:
        if isinstance(header, dict) and isinstance(header.get("value"), str):
            headers.setdefault(str(header.get("name", "")).lower(), header["value"])
    sent_at = None
    try:
        sent_at = datetime.fromtimestamp(int(data.get("internalDate")) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    senders = addresses(headers.get("from", ""))
    labels = data.get("labelIds") if isinstance(data.get("labelIds"), list) else []
    return OpenMessage(
        id=hex_id(data["id"]),
        thread_id=hex_id(data.get("threadId")),
        sender=senders[0] if senders else "",
        to=addresses(headers.get("to", "")),
        cc=addresses(headers.get("cc", "")),
        subject=headers.get("subject", ""),
        labels=frozenset(str(label) for label in labels),
        sent_at=sent_at,
    )
