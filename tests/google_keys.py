"""Signing keys that play Google's: ID tokens the tests sign, certificates they serve."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt


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
