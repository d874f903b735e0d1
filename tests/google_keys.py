"""Google's side of the tests: signing keys that play Google's (ID tokens the tests sign,
certificates they serve), and a googleapiclient transport that answers and remembers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt
from googleapiclient.http import HttpMockSequence


@dataclass
class SigningKey:
    kid: str
    signer: crypt.RSASigner
    cert_pem: str


def make_key(kid: str) -> SigningKey:
    """A fresh RSA key with a self-signed certificate, as Google's certs endpoint serves them."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-google")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    return SigningKey(
        kid=kid,
        signer=crypt.RSASigner.from_string(pem, key_id=kid),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


class SentRequest(NamedTuple):
    method: str
    uri: str
    headers: dict
    body: bytes | str | None


class RecordingHttp(HttpMockSequence):
    """googleapiclient's HttpMockSequence, remembering each request it answered, in order."""

    def __init__(self, answers):
        super().__init__(answers)
        self.requests: list[SentRequest] = []

    def request(self, uri, method="GET", body=None, headers=None, *args, **kwargs):
        self.requests.append(SentRequest(method, uri, dict(headers or {}), body))
        return super().request(uri, method, body, headers, *args, **kwargs)
