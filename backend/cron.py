"""Scheduled jobs as routes, for App Engine cron (locally the background thread runs them)."""

from __future__ import annotations

import hmac
import os

from flask import Blueprint, current_app, jsonify, request

from .errors import ApiError

bp = Blueprint("cron", __name__, url_prefix="/cron")


def _allowed() -> bool:
    # App Engine strips X-Appengine-Cron from outside requests, so on App Engine it proves the
    # caller is cron; elsewhere only the admin token opens these routes.
    if (
        os.environ.get("GAE_ENV", "").startswith("standard")
        and request.headers.get("X-Appengine-Cron") == "true"
    ):
        return True
    admin = current_app.config["MAILTICK"].admin_token
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(admin) and hmac.compare_digest(given, admin)


def _check() -> None:
    if not _allowed():
        raise ApiError(
            403,
            "forbidden",
            "Only App Engine cron, or a caller with MAILTICK_ADMIN_TOKEN, may run scheduled jobs.",
        )


@bp.get("/purge")
def purge():
    """Drop unsent reservations and raw hits past their retention."""
    _check()
    return jsonify(current_app.extensions["mailtick.background"].clean_up())


@bp.get("/classify")
def classify():
    """Classify settled hits: a backstop for instances whose background thread was idle."""
    _check()
    applied = current_app.extensions["mailtick.background"].run_once()
    return jsonify(classified=len(applied))


@bp.get("/digest")
def digest():
    """Send the daily email digests that are due (notifications, docs/notifications.md)."""
    _check()
    from .notify.digest import send_digests
    from .store import utcnow

    notifier = current_app.extensions["mailtick.notifier"]
    return jsonify(send_digests(notifier.store, notifier.sender_for, utcnow()))
