"""Replies found through the Gmail API, for users who granted Mailtick `gmail.metadata`.

`gmail.metadata` is the narrowest scope that tells who wrote the messages of a thread, and
when: `users.threads.get` in `metadata` format returns each message's id, labels, internal
date and the headers asked for (From, here), never a body or an attachment. (`gmail.readonly`
would show bodies too; the add-on's per-message scopes only reach the message open in Gmail.)

A reply is a message in the tracked email's thread that the user did not send (no SENT label,
not from the user's own address), from one of the email's recipients, dated after it was sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from ..addon.gmail import addresses, discovery_document, hex_id
from ..auth import GOOGLE_TOKEN_URI
from ..store import Message, Reply, Store, utcnow
from .engagement import recipients

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/gmail.metadata"
TIMEOUT = 10  # seconds: a reminder pass must not hang on Google


class GmailError(Exception):
    """The Gmail API could not tell whether a reply came (unreachable, grant revoked...)."""


def thread_replies(message: Message, own_address: str, *, http) -> list[tuple[str, str, datetime]]:
    """(Gmail id, sender, time) of each recipient's reply in the message's thread.

    [] when the message has no Gmail thread id or send time, or Gmail no longer has the
    thread; GmailError when Gmail could not be asked.
    """
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.discovery import build_from_document
    from googleapiclient.errors import Error as ClientError
    from googleapiclient.errors import HttpError

    if not message.gmail_thread_id or message.sent_at is None:
        return []
    service = build_from_document(discovery_document(), http=http)
    call = (
        service.users()
        .threads()
        .get(userId="me", id=message.gmail_thread_id, format="metadata", metadataHeaders=["From"])
    )
    try:
        data = call.execute(num_retries=0)
    except HttpError as exc:
        if exc.resp.status == 404:
            return []  # the user deleted the thread
        raise GmailError(f"Gmail API: {exc}") from exc
    except RefreshError as exc:  # the user revoked the grant, or it expired
        raise GmailError(f"Gmail grant refused: {exc}") from exc
    except (ClientError, TransportError, OSError, ValueError) as exc:
        raise GmailError(f"Gmail API unreachable: {type(exc).__name__}: {exc}") from exc
    own = own_address.strip().lower()
    wanted = recipients(message) - {own}
    found = []
    if not isinstance(data, dict):
        raise GmailError("Gmail API answered without a thread")
    for item in data.get("messages") or []:
        if not isinstance(item, dict):
            continue
        gmail_id = hex_id(item.get("id"))
        labels = item.get("labelIds") if isinstance(item.get("labelIds"), list) else []
        if gmail_id is None or gmail_id == message.gmail_message_id or "SENT" in labels:
            continue
        at = _internal_date(item.get("internalDate"))
        senders = addresses(_header(item, "From"))
        if at is None or at <= message.sent_at or not senders or senders[0] not in wanted:
            continue
        found.append((gmail_id, senders[0], at))
    return sorted(found, key=lambda reply: reply[2])


def _header(item: dict, name: str) -> str:
    for header in (item.get("payload") or {}).get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == name.lower():
            value = header.get("value")
            return value if isinstance(value, str) else ""
    return ""


def _internal_date(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def check_replies(
    store: Store, message: Message, own_address: str, now: datetime, *, http
) -> list[Reply]:
    """Record the recipients' replies Gmail shows in the message's thread; return the new ones.

    Recording a reply cancels the message's reminder (Store.record_reply).
    """
    new = []
    for gmail_id, sender, at in thread_replies(message, own_address, http=http):
        reply = Reply(message.id, message.account_id, gmail_id, sender, at, "gmail_api", now)
        kept = store.record_reply(message.account_id, reply)
        if kept is not None and kept[1]:
            new.append(kept[0])
    return new


def credentials(refresh_token: str, client_id: str, client_secret: str):
    """The user's grant as google-auth credentials for `gmail.metadata`, refreshed on use."""
    from google.oauth2.credentials import Credentials

    return Credentials(
        token=None,
        refresh_token=refresh_token,
        client_id=client_id,
        client_secret=client_secret,
        token_uri=GOOGLE_TOKEN_URI,
        scopes=[SCOPE],
    )


def authorized_http(creds, http=None):
    """An httplib2 client that signs each call with `creds` (refreshing them through `http`)."""
    import google_auth_httplib2
    import httplib2

    return google_auth_httplib2.AuthorizedHttp(creds, http=http or httplib2.Http(timeout=TIMEOUT))


def reply_checker(
    store: Store,
    config,
    refresh_token_of: Callable[[str], str | None],
    *,
    http: Callable[[], object] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Callable[[Message], list[Reply]]:
    """check(message) for the reminder job: ask Gmail when the message's owner granted it.

    `refresh_token_of(account_id)` gives the owner's `gmail.metadata` refresh token, or None
    (then nothing is asked). `http` makes the transport (tests: googleapiclient's HttpMock).
    """

    def check(message: Message) -> list[Reply]:
        if not config.google_sign_in or not message.gmail_thread_id:
            return []
        token = refresh_token_of(message.account_id)
        if not token:
            return []
        account = store.get_account(message.account_id)
        if account is None:
            return []
        creds = credentials(token, config.google_client_id, config.google_client_secret)
        signed = authorized_http(creds, http() if http else None)
        return check_replies(store, message, account.email, (clock or utcnow)(), http=signed)

    return check
