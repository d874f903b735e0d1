"""An HTTPS server that plays https://mail.google.com for the extension's browser tests.

It serves the fixture pages under tests/fixtures/gmail/ and imitates the one Gmail endpoint the
extension cares about: the send request, POST /sync/u/N/i/s, whose answer names the new message
(`msg-f:<decimal>`) and thread (`thread-f:<decimal>`). As `https://ciN.googleusercontent.com` it
also stands in for Gmail's image proxy: `/meips/<opaque>=s0-d-e1-ft` fetches the original image
with the proxy's user agent (the fixture puts the original URL, base64url, in `<opaque>`).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import mimetypes
import re
import secrets
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gmail"
XSSI_PREFIX = ")]}'\n"
GMAIL_PROXY_UA = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
PROXY_PATH = re.compile(r"^/meips/ADKq_Nb(?P<opaque>[A-Za-z0-9_-]+)=s0-d-e1-ft$")

# Older sent mail, never tracked: rows that must stay without check marks.
SEEDED = [
    {
        "thread": thread,
        "msg": thread,
        "subject": subject,
        "to": [to],
        "html": f'<div dir="ltr">{text}</div>',
        "date": date,
    }
    for thread, subject, to, text, date in [
        (
            "18c2f0a1b2c3d4e5",
            "Lunch on Friday?",
            "carol@example.com",
            "Pizza?",
            "2026-11-20T10:00:00Z",
        ),
        ("18c2e9f0a0b1c2d3", "Slides", "dave@example.com", "Attached.", "2026-11-19T09:00:00Z"),
        ("18c2e0000000abcd", "Invoice 42", "erin@example.com", "Paid.", "2026-11-18T08:00:00Z"),
    ]
]


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write a throwaway certificate for mail.google.com and return (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.google.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("mail.google.com"),
                    x509.DNSName("*.googleusercontent.com"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "gmail-cert.pem", directory / "gmail-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class FakeGmail:
    """The fixture server; `sends` holds every send request body Gmail's page posted, and
    `proxy_fetches` every original URL the stand-in image proxy fetched."""

    def __init__(self, directory: Path):
        self.lock = threading.Lock()
        self.sends: list[dict] = []
        self.sent: list[dict] = []
        self.proxy_fetches: list[str] = []
        cert, key = self_signed_cert(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.sends.clear()
            self.sent.clear()
            self.proxy_fetches.clear()

    def add_sent(self, subject: str, to: list[str], html: str, thread: str, msg: str | None = None):
        """Show a message in the Sent list and its conversation, as if sent earlier."""
        entry = {
            "thread": thread,
            "msg": msg or thread,
            "subject": subject,
            "to": to,
            "html": html,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        with self.lock:
            self.sent.insert(0, entry)
        return entry

    def add_reply(self, thread: str, sender: str, html: str, msg: str | None = None) -> dict:
        """Show a message from someone else (`sender`) in conversation `thread`, as if received."""
        entry = {
            "thread": thread,
            "msg": msg or f"{secrets.randbits(60) | (0x18D << 52):x}",
            "subject": "Re",
            "to": [],
            "from": sender,
            "html": html,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        with self.lock:
            self.sent.insert(0, entry)
        return entry

    def proxy_fetch(self, opaque: str) -> tuple[int, bytes, str]:
        original = base64.urlsafe_b64decode(opaque + "=" * (-len(opaque) % 4)).decode()
        if not original.startswith(("http://", "https://")):
            return 400, b"not an image URL", "text/plain"
        with self.lock:
            self.proxy_fetches.append(original)
        try:
            r = requests.get(original, headers={"User-Agent": GMAIL_PROXY_UA}, timeout=10)
        except requests.RequestException:
            return 502, b"", "text/plain"
        return r.status_code, r.content, r.headers.get("Content-Type", "image/gif")

    def record_send(self, payload) -> dict:
        message = payload[0][0][2][0][0]
        thread_ref = message[10]
        msg = f"{secrets.randbits(60) | (0x18C << 52):x}"
        replying = isinstance(thread_ref, str) and thread_ref
        thread = f"{int(thread_ref.split(':')[1]):x}" if replying else msg
        entry = {
            "thread": thread,
            "msg": msg,
            "subject": message[7],
            "to": [a for _, a in message[2]],
            "html": message[8][1],
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        with self.lock:
            self.sends.append(payload)
            self.sent.insert(0, entry)
        return entry

    def listing(self) -> list[dict]:
        with self.lock:
            return [*self.sent, *SEEDED]

    def _handler(self):
        gmail = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                path = self.path.split("?")[0].split("#")[0]
                host = (self.headers.get("Host") or "").split(":")[0]
                if host.endswith(".googleusercontent.com"):
                    m = PROXY_PATH.match(path)
                    if not m:
                        return self._reply(404, b"not found", "text/plain")
                    return self._reply(*gmail.proxy_fetch(m["opaque"]))
                if path in ("/mail/u/0/", "/mail/u/0"):
                    return self._file("mail.html")
                if path == "/favicon.ico":
                    return self._reply(204, b"", "image/x-icon")
                if path == "/mail/u/0/fixture/sent":
                    listing = json.dumps(gmail.listing()).encode()
                    return self._reply(200, listing, "application/json")
                if path.startswith("/mail/u/0/") and "/" not in path[len("/mail/u/0/") :]:
                    return self._file(path[len("/mail/u/0/") :])
                return self._reply(404, b"not found", "text/plain")

            def _file(self, name: str) -> None:
                file = FIXTURES / name
                if not file.is_file():
                    return self._reply(404, b"not found", "text/plain")
                kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
                return self._reply(200, file.read_bytes(), f"{kind}; charset=utf-8")

            def do_POST(self):  # noqa: N802
                path = self.path.split("?")[0]
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if path != "/sync/u/0/i/s":
                    return self._reply(404, b"not found", "text/plain")
                entry = gmail.record_send(json.loads(raw))
                answer = [
                    [["^pfg", ["^all", "^f"]]],
                    [
                        [
                            f"thread-f:{int(entry['thread'], 16)}",
                            [[f"msg-f:{int(entry['msg'], 16)}", f"msg-a:r-{secrets.randbits(40)}"]],
                        ]
                    ],
                ]
                body = (XSSI_PREFIX + json.dumps(answer)).encode()
                return self._reply(200, body, "application/json")

        return Handler
