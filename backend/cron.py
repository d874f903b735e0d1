"""Jobs run on a schedule: App Engine cron calls these routes; `mailtick purge` runs them locally."""

from __future__ import annotations

import hmac
import logging
import os
import threading

from flask import Blueprint, current_app, jsonify, request

from .errors import ApiError
from .store import utcnow

log = logging.getLogger(__name__)
bp = Blueprint("cron", __name__, url_prefix="/cron")

HOUR = 3600.0


def _allowed() -> bool:
    # App Engine strips X-Appengine-Cron from outside requests, so on App Engine it proves the
    # caller is cron; elsewhere only the admin token opens these routes.
    if os.environ.get("GAE_ENV", "").startswith("standard") and request.headers.get(
        "X-Appengine-Cron"
    ) == "true":
        return True
    admin = current_app.config["MAILTICK"].admin_token
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(admin) and hmac.compare_digest(given, admin)


@bp.get("/purge")
def purge():
    if not _allowed():
        raise ApiError(
            403,
            "forbidden",
            "Only App Engine cron, or a caller with MAILTICK_ADMIN_TOKEN, may run scheduled jobs.",
        )
    count = current_app.extensions["mailtick.store"].purge_reservations(utcnow())
    return jsonify(purged_reservations=count)


def start_housekeeping(store, *, interval: float = HOUR) -> threading.Event:
    """Purge stale reservations now and then in the background; set the event to stop."""
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            try:
                count = store.purge_reservations(utcnow())
                if count:
                    log.info("dropped %d reservations that were never sent", count)
            except Exception as exc:
                log.warning("housekeeping failed, will retry: %s", exc)

    threading.Thread(target=loop, name="mailtick-housekeeping", daemon=True).start()
    return stop
