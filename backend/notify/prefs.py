"""Each user's notification settings, and the pure rules that decide what notifies.

Registered in the per-user settings (backend/user_settings.py), so they follow the user to
every browser. Every rule here takes the time as an argument: tests inject it.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import user_settings
from ..store import Activity
from ..user_settings import invalid

NOTIFY_MODES = ("every", "first", "off")
HOUR_MINUTE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def zone(name: str) -> ZoneInfo:
    """The IANA time zone of that name; ValueError if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(name) from exc


def _time_zone(name: str):
    def check(value):
        if not isinstance(value, str) or len(value) > 64:
            raise invalid(name, "must be an IANA time zone name, like 'Europe/Berlin'.")
        try:
            zone(value)
        except ValueError:
            raise invalid(
                name, f"has {value[:64]!r}, which is no IANA time zone (like 'Europe/Berlin')."
            ) from None
        return value

    return check


def _notify_mode(value):
    if value not in NOTIFY_MODES:
        raise invalid(
            "notify_mode",
            "must be 'first' (a notification for each email's first open and each link's"
            " first click), 'every' (every open and click) or 'off'.",
        )
    return value


def _quiet_hours(value):
    if value is None:
        return None
    example = '{"start": "22:00", "end": "07:00", "time_zone": "Europe/Berlin"}, or null'
    if not isinstance(value, dict) or set(value) != {"start", "end", "time_zone"}:
        raise invalid("quiet_hours", f"must be an object like {example}.")
    for key in ("start", "end"):
        if not isinstance(value[key], str) or not HOUR_MINUTE.match(value[key]):
            raise invalid("quiet_hours", f"'{key}' must be a 24-hour time like '22:00'.")
    if value["start"] == value["end"]:
        raise invalid("quiet_hours", "must start and end at different times; null turns it off.")
    _time_zone("quiet_hours")(value["time_zone"])
    return {"start": value["start"], "end": value["end"], "time_zone": value["time_zone"]}


user_settings.field("notify_mode", "first", _notify_mode)
user_settings.field("quiet_hours", None, _quiet_hours)
user_settings.field("time_zone", "UTC", _time_zone("time_zone"))
user_settings.field("email_digest", False, user_settings.boolean("email_digest"))
user_settings.field("email_instant", False, user_settings.boolean("email_instant"))


def local_day(moment: datetime, time_zone: str) -> str:
    """The day a moment falls on in the user's time zone, as YYYY-MM-DD."""
    return moment.astimezone(zone(time_zone)).date().isoformat()


def _clock(text: str) -> time:
    hour, minute = text.split(":")
    return time(int(hour), int(minute))


def in_quiet_hours(now: datetime, quiet_hours: dict | None) -> bool:
    """Whether `now` falls in the quiet hours (which may run past midnight)."""
    if not quiet_hours:
        return False
    local = now.astimezone(zone(quiet_hours["time_zone"])).time()
    start, end = _clock(quiet_hours["start"]), _clock(quiet_hours["end"])
    if start < end:
        return start <= local < end
    return local >= start or local < end


def should_notify(item: Activity, prefs: dict, now: datetime) -> bool:
    """Whether a new feed item deserves a notification, from the user's settings.

    `prefs` are effective settings (user_settings.effective). Calm by default: in "first" mode
    only a message's first open and the first click on each of its links notify; re-opens
    stay in the feed, where the extension shows them collapsed. Nothing notifies in quiet
    hours or in "off" mode.
    """
    mode = prefs["notify_mode"]
    if mode == "off" or in_quiet_hours(now, prefs["quiet_hours"]):
        return False
    return mode == "every" or item.first


def collapse_key(item: Activity) -> str:
    """Items with the same key update one notification instead of adding another."""
    if item.kind == "clicked":
        link = "none" if item.link_index is None else item.link_index
        return f"click:{item.message_id}:{link}"
    return f"open:{item.message_id}:{item.day}"
