"""Email transports: an SMTP server the operator configures, or the user's own Gmail.

Both take a finished email.message.EmailMessage. SMTP never sends a password in the clear:
smtp:// insists on STARTTLS, smtps:// is TLS from the start, and smtp+plain:// (a relay on a
trusted network, no login) is the one way to send without TLS.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

GMAIL_SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
TIMEOUT = 15


class MailError(Exception):
    """The email was not sent; the message says why, without secrets."""


@dataclass(frozen=True)
class Email:
    """An email to one person, in plain text and HTML."""

    to: str
    subject: str
    text: str
    html: str

    def message(self, sender: str, domain: str = "mailtick.local") -> EmailMessage:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=domain)
        # Automatic mail: out-of-office replies and other robots must not answer it.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # "starttls", "tls" or "none"
    username: str
    password: str


def parse_smtp_url(url: str) -> SmtpConfig:
    """Read MAILTICK_SMTP_URL; ValueError says how to write it."""
    parts = urlsplit(url)
    schemes = {"smtp": ("starttls", 587), "smtps": ("tls", 465), "smtp+plain": ("none", 25)}
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(
            "MAILTICK_SMTP_URL looks like smtp://user:password@host:587 (STARTTLS),"
            " smtps://user:password@host:465 (TLS) or smtp+plain://host:25 (no TLS, no login)"
        )
    security, default_port = schemes[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError("MAILTICK_SMTP_URL has a port that is not a number") from None
    username, password = unquote(parts.username or ""), unquote(parts.password or "")
    if security == "none" and username:
        raise ValueError(
            "MAILTICK_SMTP_URL: smtp+plain:// would send the password in the clear;"
            " use smtp:// (STARTTLS) or smtps:// to log in"
        )
    return SmtpConfig(parts.hostname, port, security, username, password)


class SmtpMailer:
    """Send through an SMTP server."""

    def __init__(self, url: str, sender: str, *, ssl_context: ssl.SSLContext | None = None):
        self.config = parse_smtp_url(url)
        self.sender = sender
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send(self, email: Email) -> None:
        config = self.config
        message = email.message(self.sender, self.sender.rpartition("@")[2] or "mailtick.local")
        try:
            if config.security == "tls":
                client = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=TIMEOUT, context=self.ssl_context
                )
            else:
                client = smtplib.SMTP(config.host, config.port, timeout=TIMEOUT)
            with client:
                if config.security == "starttls":
                    client.ehlo()
                    if not client.has_extn("starttls"):
                        raise MailError(
                            f"{config.host} offers no STARTTLS; Mailtick will not send the"
                            " password in the clear (use smtps:// if it speaks TLS)"
                        )
                    client.starttls(context=self.ssl_context)
                    client.ehlo()
                if config.username:
                    client.login(config.username, config.password)
                client.send_message(message)
        except MailError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            # Never the URL: it holds the password.
            raise MailError(
                f"SMTP {config.host}:{config.port}: {type(exc).__name__}: {exc}"
            ) from exc


class GmailMailer:
    """Send from the user's own Gmail with the Gmail API (scope gmail.send only)."""

    def __init__(self, credentials, *, http=None):
        """`credentials`: google.oauth2.credentials.Credentials with the gmail.send scope.
        `http`: an httplib2.Http to talk through (tests hand in googleapiclient's HttpMock)."""
        self.credentials = credentials
        self.http = http

    def send(self, email: Email, sender: str) -> str:
        """Send; return Gmail's id of the sent message."""
        import google.auth.exceptions
        import google_auth_httplib2
        import httplib2
        from googleapiclient.discovery import build
        from googleapiclient.errors import HttpError

        message = email.message(sender, sender.rpartition("@")[2] or "mailtick.local")
        raw = base64.urlsafe_b64encode(message.as_bytes()).decode()
        http = google_auth_httplib2.AuthorizedHttp(
            self.credentials, http=self.http or httplib2.Http(timeout=TIMEOUT)
        )
        try:
            # The discovery document ships with the library: building asks nobody.
            gmail = build("gmail", "v1", http=http, cache_discovery=False, static_discovery=True)
            sent = gmail.users().messages().send(userId="me", body={"raw": raw}).execute()
        except HttpError as exc:
            raise MailError(f"Gmail refused to send: {exc.status_code} {exc.reason}") from exc
        except google.auth.exceptions.RefreshError as exc:
            raise MailError(
                "Gmail sending is no longer allowed (the grant was revoked or expired):"
                " turn it on again from the extension's options"
            ) from exc
        except (httplib2.HttpLib2Error, OSError) as exc:
            raise MailError(f"Gmail did not answer: {type(exc).__name__}") from exc
        return sent.get("id", "")


def gmail_credentials(refresh_token: str, client_id: str, client_secret: str):
    """Credentials that send as the user: only the gmail.send scope, refreshed on demand."""
    from google.oauth2.credentials import Credentials

    return Credentials(
        token=None,
        refresh_token=refresh_token,
        client_id=client_id,
        client_secret=client_secret,
        token_uri="https://oauth2.googleapis.com/token",  # noqa: S106 - a URL, not a secret
        scopes=[GMAIL_SEND_SCOPE],
    )
