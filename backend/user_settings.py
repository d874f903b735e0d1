"""Per-user settings kept on the server, so they follow the user to every browser.

Each feature registers its fields with `field(name, default, check)`; `check` turns a value
from the request into the stored value or raises ApiError via `invalid()`.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import ApiError

_FIELDS: dict[str, tuple[object, Callable]] = {}


def field(name: str, default, check: Callable) -> None:
    _FIELDS[name] = (default, check)


def invalid(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", f"'{name}' {message}", field=name)


def boolean(name: str) -> Callable:
    def check(value):
        if not isinstance(value, bool):
            raise invalid(name, "must be true or false.")
        return value

    return check


def parse(data: dict) -> dict:
    """The changes a PATCH asks for, each checked; unknown names are refused."""
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ApiError(
            400,
            "unknown_field",
            f"Unknown setting(s): {', '.join(unknown)}. Known: {', '.join(_FIELDS)}.",
        )
    return {name: _FIELDS[name][1](value) for name, value in data.items()}


def effective(stored: dict) -> dict:
    """Every setting, the stored value where there is one, else its default."""
    return {name: stored.get(name, default) for name, (default, _) in _FIELDS.items()}
