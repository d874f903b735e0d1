"""Typed settings, read from the environment once."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Everything Mailtick can be told; defaults run on a laptop with no Google account."""

    data_dir: Path = DEFAULT_DATA_DIR
    store_url: str = ""
    base_url: str = "http://127.0.0.1:8080"
    # Trust X-Forwarded-For only from these networks (App Engine's front end); empty = never.
    trusted_proxies: tuple[str, ...] = ()
    # Reserved ids that were never completed are dropped after this many days.
    reservation_days: int = 3
    # Raw hits are kept this long; each message's aggregates stay (docs/privacy.md).
    retention_days: int = 90
    # Seconds between background classification passes; 0 turns the thread off (tests drive
    # the passes themselves).
    background_interval: float = 1.0
    max_body_bytes: int = 256 * 1024
    spool_path: Path | None = None
    google_client_id: str = ""
    google_client_secret: str = ""
    # Extension ids allowed to receive a token from the Google sign-in flow.
    extension_ids: tuple[str, ...] = ()
    # Signs the short-lived OAuth state; generated per process when unset.
    secret_key: str = ""
    # Lets an operator call /cron/* routes outside App Engine.
    admin_token: str = ""
    # The Gmail add-on answers only requests signed for this service account
    # (service-<project-number>@gcp-sa-gsuiteaddons.iam.gserviceaccount.com) ...
    addon_service_account: str = ""
    # ... and whose user ID token was issued to this OAuth client (the add-on's oauthClientId).
    addon_client_id: str = ""
    # Notifications (issue 5, docs/notifications.md). The VAPID key that signs Web Push
    # requests: generated on first run and kept in the store unless given here.
    vapid_private_key: str = ""
    # Who push services may contact about this server: a mailto: or https: URL.
    vapid_subject: str = ""
    # Email notifications through SMTP: smtp://user:pass@host:587 (STARTTLS),
    # smtps://user:pass@host:465 (TLS) or smtp+plain://host:25 (a relay on a trusted network).
    smtp_url: str = ""
    mail_from: str = ""
    testing: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("MAILTICK_DATA_DIR") or DEFAULT_DATA_DIR)
        settings = cls(
            data_dir=data_dir,
            store_url=env.get("MAILTICK_STORE", ""),
            base_url=env.get("MAILTICK_BASE_URL", cls.base_url),
            trusted_proxies=_list(env.get("MAILTICK_TRUSTED_PROXIES")),
            reservation_days=int(env.get("MAILTICK_RESERVATION_DAYS", cls.reservation_days)),
            retention_days=int(env.get("MAILTICK_RETENTION_DAYS", cls.retention_days)),
            background_interval=float(
                env.get("MAILTICK_BACKGROUND_INTERVAL", cls.background_interval)
            ),
            max_body_bytes=int(env.get("MAILTICK_MAX_BODY_BYTES", cls.max_body_bytes)),
            spool_path=Path(env["MAILTICK_SPOOL"]) if env.get("MAILTICK_SPOOL") else None,
            google_client_id=env.get("MAILTICK_GOOGLE_CLIENT_ID", ""),
            google_client_secret=env.get("MAILTICK_GOOGLE_CLIENT_SECRET", ""),
            extension_ids=_list(env.get("MAILTICK_EXTENSION_IDS")),
            secret_key=env.get("MAILTICK_SECRET_KEY", ""),
            admin_token=env.get("MAILTICK_ADMIN_TOKEN", ""),
            addon_service_account=env.get("MAILTICK_ADDON_SERVICE_ACCOUNT", "").strip(),
            addon_client_id=env.get("MAILTICK_ADDON_CLIENT_ID", "").strip(),
            vapid_private_key=env.get("MAILTICK_VAPID_PRIVATE_KEY", "").strip(),
            vapid_subject=env.get("MAILTICK_VAPID_SUBJECT", "").strip(),
            smtp_url=env.get("MAILTICK_SMTP_URL", "").strip(),
            mail_from=env.get("MAILTICK_MAIL_FROM", "").strip(),
        )
        return settings.resolved()

    def resolved(self) -> Settings:
        """Fill in the defaults that depend on other settings and check the rest."""
        store_url = self.store_url or f"sqlite:///{(self.data_dir / 'mailtick.db').resolve()}"
        spool_path = self.spool_path or (self.data_dir / "spool")
        base_url = self.base_url.rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"MAILTICK_BASE_URL must start with http:// or https://, got {self.base_url!r}"
            )
        for network in self.trusted_proxies:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"MAILTICK_TRUSTED_PROXIES has {network!r}, which is not an address or network"
                ) from exc
        return replace(self, store_url=store_url, spool_path=spool_path, base_url=base_url)

    @property
    def google_sign_in(self) -> bool:
        return bool(self.google_client_id and self.google_client_secret)

    @property
    def addon(self) -> bool:
        return bool(self.addon_service_account and self.addon_client_id)

    @property
    def smtp(self) -> bool:
        return bool(self.smtp_url and self.mail_from)

    @property
    def push_subject(self) -> str:
        """The VAPID `sub` claim: configured, else the sender address, else the server."""
        if self.vapid_subject:
            return self.vapid_subject
        if self.mail_from:
            return f"mailto:{self.mail_from}"
        if self.base_url.startswith("https://"):
            return self.base_url
        return "mailto:mailtick@localhost"

    @property
    def store_kind(self) -> str:
        return self.store_url.split(":", 1)[0]
