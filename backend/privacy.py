"""Per-user privacy settings: recipients never to track, and the EU/EEA switch.

The extension (extension/lib/privacy.js) applies the same rules before it inserts a pixel; the
add-on's compose action applies them here. See docs/privacy.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from . import user_settings
from .user_settings import invalid

MAX_NEVER_TRACK = 1000
# Country-code domains of the EU and EEA member states, and .eu itself. Greece's ccTLD is .gr.
EEA_TLDS = frozenset(
    """at be bg hr cy cz dk ee fi fr de gr hu ie it lv lt lu mt nl pl pt ro sk si es se
    is li no eu""".split()
)
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ADDRESS = re.compile(r"^[^@\s]{1,64}@(.+)$")


def _never_track(value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid("never_track", "must be a list of addresses or domains.")
    if len(value) > MAX_NEVER_TRACK:
        raise invalid("never_track", f"may hold at most {MAX_NEVER_TRACK} entries.")
    entries = []
    for raw in value:
        entry = raw.strip().lower().removeprefix("@")
        match = ADDRESS.match(entry)
        domain = match.group(1) if match else entry
        if not DOMAIN.match(domain):
            raise invalid(
                "never_track",
                f"has {raw!r}; give an address (alice@example.com) or a domain (example.com).",
            )
        if entry not in entries:
            entries.append(entry)
    return entries


user_settings.field("never_track", [], _never_track)
user_settings.field("skip_eea", False, user_settings.boolean("skip_eea"))


def excluded(address: str, settings: dict) -> bool:
    """Whether the user asked never to track this recipient."""
    address = address.strip().lower()
    domain = address.rpartition("@")[2]
    settings = user_settings.effective(settings)
    for entry in settings["never_track"]:
        if "@" in entry:
            if address == entry:
                return True
        elif domain == entry or domain.endswith("." + entry):
            return True
    return bool(settings["skip_eea"]) and domain.rpartition(".")[2] in EEA_TLDS


def trackable(recipients: Iterable[str], settings: dict) -> bool:
    """Track only when no recipient is excluded: one pixel cannot tell recipients apart."""
    return not any(excluded(address, settings) for address in recipients)
