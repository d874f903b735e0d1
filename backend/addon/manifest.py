"""The add-on's deployment descriptor for the HTTP runtime, for any base URL.

The top-level manifest.json is this descriptor for PLACEHOLDER (a test keeps them equal);
`mailtick addon manifest --base-url URL` prints it for a real server.
"""

from __future__ import annotations

from urllib.parse import urlsplit

PLACEHOLDER = "https://mailtick.example.com"
NAME = "Mailtick"
GOOGLE = "https://www.googleapis.com/auth/"
# The narrowest scopes that do the job: run in Gmail, read the open message's headers (not
# its body), insert into the draft being written, know who the user is, and their time zone.
SCOPES = (
    GOOGLE + "gmail.addons.execute",
    GOOGLE + "gmail.addons.current.message.metadata",
    GOOGLE + "gmail.addons.current.action.compose",
    GOOGLE + "userinfo.email",
    "openid",
    GOOGLE + "script.locale",
)


def check_base_url(base_url: str) -> str:
    """The base URL without a trailing slash; ValueError unless Google can call it."""
    base = base_url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"the add-on's base URL must be an https:// address with no query, got {base_url!r}"
            " (Google calls add-on endpoints over HTTPS only)"
        )
    return base


def descriptor(base_url: str) -> dict:
    """The deployment descriptor with every endpoint on `base_url`."""
    base = check_base_url(base_url) + "/addon"
    return {
        "oauthScopes": list(SCOPES),
        "addOns": {
            "common": {
                "name": NAME,
                "logoUrl": f"{base}/logo.png",
                "layoutProperties": {"primaryColor": "#1a73e8", "secondaryColor": "#188038"},
                "useLocaleFromApp": True,
                "homepageTrigger": {"runFunction": f"{base}/homepage", "enabled": True},
            },
            "gmail": {
                "contextualTriggers": [
                    {"unconditional": {}, "onTriggerFunction": f"{base}/message"}
                ],
                "composeTrigger": {
                    "selectActions": [
                        {"text": "Track this email", "runFunction": f"{base}/compose"}
                    ],
                    "draftAccess": "METADATA",
                },
            },
            "httpOptions": {"authorizationHeader": "SYSTEM_ID_TOKEN"},
        },
    }
