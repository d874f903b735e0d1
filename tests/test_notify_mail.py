"""Email notifications: the digest from a known history, a real SMTP server on 127.0.0.1
(aiosmtpd, with STARTTLS and a login), the Gmail API through googleapiclient's HttpMock, the
Gmail consent flow against a fake Google, the cron route and the CLI."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email
import ipaddress
import json
import ssl
from datetime import UTC, date, datetime, timedelta
from email import policy
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google_keys import RecordingHttp
from test_auth import CLIENT_ID, CLIENT_SECRET, FakeGoogle, make_key
from test_notify_feed import OUTLOOK, THUNDERBIRD

from backend import cli, create_app
from backend.notify import gmail as gmail_grant
from backend.notify.digest import compose_digest, compose_instant, day_bounds, send_digests
from backend.notify.mail import (
    Email,
    GmailMailer,
    MailError,
    SmtpMailer,
    gmail_credentials,
    parse_smtp_url,
)
from backend.store import Account, Activity

SENDER = "mailtick@notify.test"
USER = "sender@example.com"

# --- A real SMTP server -------------------------------------------------------------------


def certificate() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the server's context, and a client's that
    trusts it (and nothing else)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write(cert_pem + key_pem)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(f.name)
    client = ssl.create_default_context(cadata=cert_pem)
    return server, client


class Inbox:
    """aiosmtpd handler: keeps what it is given."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 Try again later"
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


class SmtpServer:
    def __init__(self, *, tls: bool):
        self.inbox = Inbox()
        self.port = free_port()
        self.logins: list[tuple[str, str]] = []
        options = {}
        self.client_context = None
        if tls:
            server_context, self.client_context = certificate()
            options = {
                "tls_context": server_context,
                "require_starttls": True,
                "authenticator": self._login,
                "auth_require_tls": True,
                # smtplib would try LOGIN after a refused PLAIN; one mechanism keeps it short.
                "auth_exclude_mechanism": ["LOGIN"],
            }
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def _login(self, server, session, envelope, mechanism, auth_data):
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        ok = (login, password) == ("mailer", "p@ss:w/rd")
        # handled=False: let aiosmtpd answer 535 itself when the login is wrong.
        return AuthResult(success=ok, handled=ok)

    def stop(self):
        self.controller.stop()


@pytest.fixture
def smtp_server():
    server = SmtpServer(tls=True)
    yield server
    server.stop()


@pytest.fixture
def plain_smtp():
    server = SmtpServer(tls=False)
    yield server
    server.stop()


def parts(message) -> tuple[str, str]:
    """The plain and HTML bodies, with SMTP's line ends made Python's."""
    return (
        message.get_body(("plain",)).get_content().replace("\r\n", "\n"),
        message.get_body(("html",)).get_content().replace("\r\n", "\n"),
    )


MESSAGE = Email(to=USER, subject="Hi", text="plain text\n", html="<p>html</p>")


def test_smtp_sends_over_starttls_with_a_login(smtp_server):
    url = f"smtp://mailer:p%40ss%3Aw%2Frd@127.0.0.1:{smtp_server.port}"
    SmtpMailer(url, SENDER, ssl_context=smtp_server.client_context).send(MESSAGE)
    assert smtp_server.logins == [("mailer", "p@ss:w/rd")]
    [(recipients, message)] = smtp_server.inbox.messages
    assert recipients == [USER]
    assert (message["From"], message["To"], message["Subject"]) == (SENDER, USER, "Hi")
    assert message["Auto-Submitted"] == "auto-generated"
    assert parts(message) == ("plain text\n", "<p>html</p>\n")


def test_smtp_refuses_a_server_it_cannot_trust(smtp_server):
    url = f"smtp://mailer:p%40ss%3Aw%2Frd@127.0.0.1:{smtp_server.port}"
    with pytest.raises(MailError) as caught:
        SmtpMailer(url, SENDER).send(MESSAGE)  # the system's CAs know no self-signed cert
    assert "p@ss" not in str(caught.value) and "p%40ss" not in str(caught.value)
    assert smtp_server.logins == [] and smtp_server.inbox.messages == []


def test_smtp_never_logs_in_without_tls(plain_smtp):
    url = f"smtp://mailer:secret@127.0.0.1:{plain_smtp.port}"  # this server offers no STARTTLS
    with pytest.raises(MailError, match="STARTTLS"):
        SmtpMailer(url, SENDER).send(MESSAGE)
    assert plain_smtp.inbox.messages == []


def test_a_wrong_password_is_a_mail_error(smtp_server):
    url = f"smtp://mailer:wrong@127.0.0.1:{smtp_server.port}"
    with pytest.raises(MailError, match="SMTPAuthenticationError"):
        SmtpMailer(url, SENDER, ssl_context=smtp_server.client_context).send(MESSAGE)
    assert smtp_server.inbox.messages == []


def test_a_plain_relay_needs_no_login(plain_smtp):
    SmtpMailer(f"smtp+plain://127.0.0.1:{plain_smtp.port}", SENDER).send(MESSAGE)
    assert len(plain_smtp.inbox.messages) == 1


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://host", "smtp://"),
        ("smtp://", "smtp://"),
        ("smtp+plain://user:pass@relay:25", "in the clear"),
        ("smtp://host:port", "port"),
    ],
)
def test_smtp_urls_are_checked(url, words):
    with pytest.raises(ValueError, match=words):
        parse_smtp_url(url)


def test_smtp_urls_default_their_ports():
    assert parse_smtp_url("smtp://u:p@mail.example").port == 587
    assert parse_smtp_url("smtps://u:p@mail.example").security == "tls"
    assert parse_smtp_url("smtps://u:p@mail.example").port == 465
    assert parse_smtp_url("smtp+plain://relay").port == 25


# --- The digest from a known history ------------------------------------------------------

ACCOUNT = Account("acct", USER, datetime(2026, 1, 1, tzinfo=UTC))
DAY = date(2026, 11, 26)


def history() -> list[Activity]:
    def item(n, kind, hour, minute, message="m1", **fields):
        return Activity(
            id=f"h{n}",
            account_id="acct",
            message_id=message,
            kind=kind,
            at=datetime(2026, 11, 26, hour, minute, tzinfo=UTC),
            day="2026-11-26",
            **fields,
        )

    proposal = {
        "subject": 'Proposal <script>alert("x")</script> & more',
        "to": ['"Ann & Co" <ann@example.com>'],
        "gmail_thread_id": "18c2f0a1b2c3d4e5",
    }
    lunch = {"subject": "", "to": ["bob@example.com", "carol@example.com", "dan@example.com"]}
    return [
        item(1, "opened", 9, 5, **proposal),
        item(2, "clicked", 9, 7, link_index=0, url="https://example.com/?a=1&b=<2>", **proposal),
        item(3, "reopened", 14, 30, **proposal),
        item(4, "opened", 16, 0, message="m2", **lunch),
    ]


def test_the_digest_tells_each_email_once_with_its_opens_and_clicks():
    digest = compose_digest(ACCOUNT, DAY, history(), "Europe/Berlin")
    assert digest.to == USER
    assert digest.subject == "Mailtick: 2 emails opened, 1 link click on Thu 26 Nov 2026"
    text = digest.text
    assert 'Proposal <script>alert("x")</script> & more  (to "Ann & Co" <ann@example.com>)' in text
    assert "opened 2 times, first at 10:05" in text  # Berlin time
    assert "clicked https://example.com/?a=1&b=<2>" in text
    assert "https://mail.google.com/mail/u/0/#all/18c2f0a1b2c3d4e5" in text
    assert "(no subject)  (to bob@example.com and 2 others)" in text
    assert "opened 1 time, first at 17:00" in text
    assert text.index("Proposal") < text.index("(no subject)")


def test_the_digest_html_escapes_every_subject_and_address():
    html = compose_digest(ACCOUNT, DAY, history(), "UTC").html
    assert "<script>" not in html and "<ann@" not in html and "b=<2>" not in html
    assert "Proposal &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in html
    assert "&quot;Ann &amp; Co&quot; &lt;ann@example.com&gt;" in html
    assert "clicked https://example.com/?a=1&amp;b=&lt;2&gt;" in html
    assert '<a href="https://mail.google.com/mail/u/0/#all/18c2f0a1b2c3d4e5">' in html


def test_the_instant_email_names_who_and_what():
    first = history()[0]
    instant = compose_instant(ACCOUNT, first, "Asia/Kolkata")
    assert instant.subject.startswith("Opened: Proposal <script>")
    assert instant.text.startswith(
        '"Ann & Co" <ann@example.com> opened \u201cProposal <script>alert("x")</script> & more'
        "\u201d at 14:35 (Asia/Kolkata)."
    )
    assert "<script>" not in instant.html and "&lt;script&gt;" in instant.html


def test_a_local_day_has_its_own_bounds_when_the_clocks_change():
    start, end = day_bounds(date(2026, 10, 25), "Europe/Berlin")  # summer time ends
    assert (start, end) == (
        datetime(2026, 10, 24, 22, tzinfo=UTC),
        datetime(2026, 10, 25, 23, tzinfo=UTC),
    )


# --- Sending digests: once a day, through the app ------------------------------------------


@pytest.fixture
def smtp_settings(settings, plain_smtp):
    return dataclasses.replace(
        settings, smtp_url=f"smtp+plain://127.0.0.1:{plain_smtp.port}", mail_from=SENDER
    )


@pytest.fixture
def mail_app(smtp_settings):
    app = create_app(smtp_settings)
    yield app
    from backend import close_app

    close_app(app)


@pytest.fixture
def mail_client(mail_app):
    return mail_app.test_client()


@pytest.fixture
def mail_users(mail_app):
    from conftest import Users

    return Users(mail_app.extensions["mailtick.store"])


def make_message(client, headers, subject="Quarterly numbers"):
    reserved = client.post("/api/v1/messages", json={}, headers=headers).get_json()
    sent_at = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {"subject": subject, "recipients": {"to": ["alice@example.com"]}, "sent_at": sent_at}
    client.patch(f"/api/v1/messages/{reserved['id']}", json=body, headers=headers)
    return reserved["id"]


def read_by_people(app, client, message_id, agents=(THUNDERBIRD,)):
    from backend.store import utcnow

    for agent in agents:
        client.get(f"/p/{message_id}.gif", headers={"User-Agent": agent})
    app.extensions["mailtick.spool"].drain()
    app.extensions["mailtick.background"].run_once(utcnow() + timedelta(minutes=1))
    return app.extensions["mailtick.notifier"].drain()


def test_digests_go_once_a_day_to_those_who_asked(mail_app, mail_client, mail_users, plain_smtp):
    store = mail_app.extensions["mailtick.store"]
    notifier = mail_app.extensions["mailtick.notifier"]
    asked, silent = mail_users.headers(USER), mail_users.headers("quiet@example.com")
    mail_client.patch("/api/v1/settings", json={"email_digest": True}, headers=asked)
    read_by_people(mail_app, mail_client, make_message(mail_client, asked), (THUNDERBIRD, OUTLOOK))
    read_by_people(mail_app, mail_client, make_message(mail_client, silent))

    today = datetime.now(UTC)
    tomorrow = today + timedelta(days=1)
    morning = datetime.combine(tomorrow.date(), dt.time(8), tzinfo=UTC)
    night = datetime.combine(tomorrow.date(), dt.time(3), tzinfo=UTC)
    assert send_digests(store, notifier.sender_for, night)["not_yet"] == 1
    done = send_digests(store, notifier.sender_for, morning)
    assert (done["sent"], done["empty"]) == (1, 0)
    assert (
        send_digests(store, notifier.sender_for, morning + timedelta(hours=5))["already_sent"] == 1
    )
    [(recipients, message)] = plain_smtp.inbox.messages
    assert recipients == [USER] and message["From"] == SENDER
    text, html = parts(message)
    assert "Quarterly numbers" in text and "opened 2 times" in text
    assert "Quarterly numbers" in html
    # The next day had no activity: nothing to say.
    assert send_digests(store, notifier.sender_for, morning + timedelta(days=1))["empty"] == 1
    assert len(plain_smtp.inbox.messages) == 1


def test_a_digest_that_failed_goes_out_at_the_next_run(
    mail_app, mail_client, mail_users, plain_smtp
):
    store = mail_app.extensions["mailtick.store"]
    notifier = mail_app.extensions["mailtick.notifier"]
    asked = mail_users.headers(USER)
    mail_client.patch("/api/v1/settings", json={"email_digest": True}, headers=asked)
    read_by_people(mail_app, mail_client, make_message(mail_client, asked))
    morning = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), dt.time(9), tzinfo=UTC)
    plain_smtp.inbox.refuse = True
    assert send_digests(store, notifier.sender_for, morning)["failed"] == 1
    plain_smtp.inbox.refuse = False
    assert send_digests(store, notifier.sender_for, morning + timedelta(hours=1))["sent"] == 1
    assert len(plain_smtp.inbox.messages) == 1


def test_the_digest_day_is_the_users_day(mail_app, mail_client, mail_users, plain_smtp):
    store = mail_app.extensions["mailtick.store"]
    notifier = mail_app.extensions["mailtick.notifier"]
    asked = mail_users.headers(USER)
    zone = "Pacific/Kiritimati"  # UTC+14: its day starts 14 hours before UTC's
    mail_client.patch(
        "/api/v1/settings", json={"email_digest": True, "time_zone": zone}, headers=asked
    )
    [item] = read_by_people(mail_app, mail_client, make_message(mail_client, asked))
    local = item.at.astimezone(__import__("zoneinfo").ZoneInfo(zone))
    assert item.day == local.date().isoformat()
    next_local_morning = datetime.combine(local.date() + timedelta(days=1), dt.time(8)).replace(
        tzinfo=local.tzinfo
    )
    assert send_digests(store, notifier.sender_for, next_local_morning)["sent"] == 1


def test_without_smtp_or_gmail_no_digest_is_attempted(settings, users, client):
    app = create_app(settings)  # no MAILTICK_SMTP_URL
    try:
        store = app.extensions["mailtick.store"]
        headers = users.headers(USER)
        client.patch("/api/v1/settings", json={"email_digest": True}, headers=headers)
        read_by_people(app, client, make_message(client, headers))
        morning = datetime.combine(
            datetime.now(UTC).date() + timedelta(days=1), dt.time(9), tzinfo=UTC
        )
        done = send_digests(store, app.extensions["mailtick.notifier"].sender_for, morning)
        assert done["no_transport"] == 1 and done["sent"] == 0
    finally:
        from backend import close_app

        close_app(app)


def test_instant_email_for_a_first_open_only(mail_app, mail_client, mail_users, plain_smtp):
    asked = mail_users.headers(USER)
    mail_client.patch("/api/v1/settings", json={"email_instant": True}, headers=asked)
    message_id = make_message(mail_client, asked, subject="Offer")
    read_by_people(mail_app, mail_client, message_id, (THUNDERBIRD, OUTLOOK))
    [(recipients, message)] = plain_smtp.inbox.messages
    assert recipients == [USER] and message["Subject"] == "Opened: Offer"
    assert "alice@example.com opened \u201cOffer\u201d" in parts(message)[0]
    # Without the setting, nothing.
    other = mail_users.headers("other@example.com")
    read_by_people(mail_app, mail_client, make_message(mail_client, other))
    assert len(plain_smtp.inbox.messages) == 1


# --- The cron route and the CLI -----------------------------------------------------------


def test_cron_digest_needs_cron_or_the_admin_token(smtp_settings, monkeypatch):
    from backend import close_app

    app = create_app(dataclasses.replace(smtp_settings, admin_token="admin-secret"))
    try:
        client = app.test_client()
        assert client.get("/cron/digest").status_code == 403
        assert client.get("/cron/digest", headers={"X-Appengine-Cron": "true"}).status_code == 403
        assert (
            client.get("/cron/digest", headers={"Authorization": "Bearer nope"}).status_code == 403
        )
        ok = client.get("/cron/digest", headers={"Authorization": "Bearer admin-secret"})
        assert ok.status_code == 200 and ok.get_json()["sent"] == 0
        monkeypatch.setenv("GAE_ENV", "standard")
        assert client.get("/cron/digest", headers={"X-Appengine-Cron": "true"}).status_code == 200
    finally:
        close_app(app)


def test_cron_yaml_runs_the_digest_every_hour():
    from pathlib import Path

    text = (Path(__file__).parent.parent / "cron.yaml").read_text()
    assert "url: /cron/digest\n    schedule: every 1 hours" in text


def test_the_cli_sends_a_days_digest(
    mail_app, mail_client, mail_users, plain_smtp, smtp_settings, monkeypatch, capsys
):
    asked = mail_users.headers(USER)
    read_by_people(mail_app, mail_client, make_message(mail_client, asked, subject="From the CLI"))
    for name, value in {
        "MAILTICK_DATA_DIR": str(smtp_settings.data_dir),
        "MAILTICK_STORE": smtp_settings.store_url,
        "MAILTICK_SMTP_URL": smtp_settings.smtp_url,
        "MAILTICK_MAIL_FROM": SENDER,
    }.items():
        monkeypatch.setenv(name, value)
    today = datetime.now(UTC).date().isoformat()
    assert cli.main(["digest", "--day", today, "--email", USER]) == 0
    assert "Sent 1 digest(s)" in capsys.readouterr().out
    assert "From the CLI" in parts(plain_smtp.inbox.messages[0][1])[0]
    assert cli.main(["digest", "--day", today, "--email", USER]) == 0
    assert "1 already sent" in capsys.readouterr().out
    assert len(plain_smtp.inbox.messages) == 1


# --- Gmail: sending through the API, and the consent that allows it --------------------------


TOKEN_REFRESH = ({"status": "200"}, json.dumps({"access_token": "ya29.fresh", "expires_in": 3600}))
SENT = ({"status": "200"}, json.dumps({"id": "18c9a", "threadId": "18c9a", "labelIds": ["SENT"]}))


def test_gmail_sends_as_the_user_with_a_fresh_access_token():
    http = RecordingHttp([TOKEN_REFRESH, SENT])
    credentials = gmail_credentials("1//refresh", CLIENT_ID, CLIENT_SECRET)
    assert GmailMailer(credentials, http=http).send(MESSAGE, USER) == "18c9a"
    refresh, send = http.requests
    assert refresh.uri == "https://oauth2.googleapis.com/token"
    assert "refresh_token=1%2F%2Frefresh" in refresh.body.decode()
    assert send.uri.startswith("https://gmail.googleapis.com/gmail/v1/users/me/messages/send")
    assert send.method == "POST" and send.headers["authorization"] == "Bearer ya29.fresh"
    raw = json.loads(send.body)["raw"]
    sent = email.message_from_bytes(base64.urlsafe_b64decode(raw), policy=policy.default)
    assert (sent["From"], sent["To"], sent["Subject"]) == (USER, USER, "Hi")
    assert parts(sent) == ("plain text\n", "<p>html</p>\n")


def test_gmail_refusals_are_mail_errors():
    refused = (
        {"status": "403"},
        json.dumps({"error": {"code": 403, "message": "Insufficient Permission"}}),
    )
    with pytest.raises(MailError, match="403"):
        GmailMailer(
            gmail_credentials("1//r", CLIENT_ID, CLIENT_SECRET),
            http=RecordingHttp([TOKEN_REFRESH, refused]),
        ).send(MESSAGE, USER)
    revoked = ({"status": "400"}, json.dumps({"error": "invalid_grant"}))
    with pytest.raises(MailError, match="revoked"):
        GmailMailer(
            gmail_credentials("1//r", CLIENT_ID, CLIENT_SECRET), http=RecordingHttp([revoked])
        ).send(MESSAGE, USER)


@pytest.fixture(scope="module")
def google_key():
    return make_key("google-key-gmail")


@pytest.fixture
def google(google_key):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        google = FakeGoogle(mock, google_key)
        # The fake Google of the sign-in tests, granting gmail.send with a refresh token.
        google.granted_scope = (
            f"openid https://www.googleapis.com/auth/userinfo.email {gmail_grant.GMAIL_SEND_SCOPE}"
        )
        google.refresh_token = "1//0g-refresh-token"
        yield google


@pytest.fixture
def signin_app(smtp_settings):
    from backend import close_app

    app = create_app(
        dataclasses.replace(
            smtp_settings, google_client_id=CLIENT_ID, google_client_secret=CLIENT_SECRET
        )
    )
    yield app
    close_app(app)


ADA = "ada.lovelace@gmail.com"  # the fake Google's ID tokens name Ada.Lovelace@gmail.com


def grant(app, google, headers, **claims):
    """Ask the API for the link, follow it to the fake Google, consent, come back."""
    client = app.test_client()
    url = client.post("/api/v1/notifications/gmail", headers=headers).get_json()["url"]
    start = client.get(url.removeprefix("http://mailtick.test"))
    assert start.status_code == 302, start.data
    location = start.headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    code = google.authorize(location, **claims)
    answer = client.get(
        "/auth/google/gmail/callback", query_string={"code": code, "state": query["state"]}
    )
    return query, answer


def test_consent_asks_for_gmail_send_only_and_keeps_the_grant_encrypted(
    signin_app, google, plain_smtp
):
    from conftest import Users

    store = signin_app.extensions["mailtick.store"]
    headers = Users(store).headers(ADA)
    query, answer = grant(signin_app, google, headers)
    assert set(query["scope"].split()) == {"openid", "email", gmail_grant.GMAIL_SEND_SCOPE}
    assert (query["access_type"], query["prompt"], query["login_hint"]) == (
        "offline",
        "consent",
        ADA,
    )
    assert query["include_granted_scopes"] == "true" and query["code_challenge_method"] == "S256"
    assert answer.status_code == 200 and b"Gmail sending is on" in answer.data
    account = store.ensure_account(ADA, datetime.now(UTC))
    kept = store.credential(account.id, gmail_grant.CREDENTIAL)
    assert kept and "1//0g-refresh-token" not in kept  # encrypted at rest
    config = signin_app.config["MAILTICK"]
    assert gmail_grant.refresh_token_of(store, config, account.id) == "1//0g-refresh-token"
    status = signin_app.test_client().get("/api/v1/notifications", headers=headers).get_json()
    assert status["email"] == {"smtp": True, "gmail_available": True, "gmail_granted": True}

    # Its digest now goes from the user's own Gmail, not through SMTP.
    notifier = signin_app.extensions["mailtick.notifier"]
    notifier.gmail_http = http = RecordingHttp([TOKEN_REFRESH, SENT])
    client = signin_app.test_client()
    client.patch("/api/v1/settings", json={"email_digest": True}, headers=headers)
    read_by_people(signin_app, client, make_message(client, headers, subject="Via Gmail"))
    morning = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), dt.time(9), tzinfo=UTC)
    assert send_digests(store, notifier.sender_for, morning)["sent"] == 1
    assert plain_smtp.inbox.messages == []
    raw = json.loads(http.requests[1].body)["raw"]
    sent = email.message_from_bytes(base64.urlsafe_b64decode(raw), policy=policy.default)
    assert sent["From"] == ADA and "Via Gmail" in parts(sent)[0]

    # Forgetting the grant sends through SMTP again.
    assert client.delete("/api/v1/notifications/gmail", headers=headers).status_code == 204
    assert store.credential(account.id, gmail_grant.CREDENTIAL) is None


def test_a_grant_from_another_google_account_is_refused(signin_app, google):
    from conftest import Users

    store = signin_app.extensions["mailtick.store"]
    headers = Users(store).headers("someone.else@example.com")
    _, answer = grant(signin_app, google, headers)
    assert answer.status_code == 400 and b"Wrong Google account" in answer.data
    account = store.ensure_account("someone.else@example.com", datetime.now(UTC))
    assert store.credential(account.id, gmail_grant.CREDENTIAL) is None


def test_a_grant_without_gmail_send_is_not_kept(signin_app, google):
    from conftest import Users

    google.granted_scope = "openid https://www.googleapis.com/auth/userinfo.email"
    store = signin_app.extensions["mailtick.store"]
    _, answer = grant(signin_app, google, Users(store).headers(ADA))
    assert answer.status_code == 400 and b"gmail.send" in answer.data
    account = store.ensure_account(ADA, datetime.now(UTC))
    assert store.credential(account.id, gmail_grant.CREDENTIAL) is None


def test_the_callback_needs_the_browser_that_started(signin_app, google):
    from conftest import Users

    store = signin_app.extensions["mailtick.store"]
    headers = Users(store).headers(ADA)
    client = signin_app.test_client()
    url = client.post("/api/v1/notifications/gmail", headers=headers).get_json()["url"]
    location = client.get(url.removeprefix("http://mailtick.test")).headers["Location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    code = google.authorize(location)
    stranger = signin_app.test_client()  # no cookie from the start
    answer = stranger.get(
        "/auth/google/gmail/callback", query_string={"code": code, "state": state}
    )
    assert answer.status_code == 400
    assert google.token_requests == []
    forged = client.get("/auth/google/gmail/start", query_string={"grant": "forged"})
    assert forged.status_code == 400


def test_gmail_sending_is_off_until_sign_in_is_configured(client, auth):
    answer = client.post("/api/v1/notifications/gmail", headers=auth)
    assert (
        answer.status_code == 503
        and "MAILTICK_GOOGLE_CLIENT_ID" in answer.get_json()["error"]["message"]
    )
    assert client.get("/auth/google/gmail/start?grant=x").status_code == 503
