"""The root page: what is running here and how to connect the extension."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from . import __version__

bp = Blueprint("web", __name__)


@bp.get("/")
def index():
    settings = current_app.config["MAILTICK"]
    store_url = settings.store_url
    if settings.store_kind == "sqlite":
        where = "SQLite file " + store_url.removeprefix("sqlite:///")
    else:
        where = "Firestore project " + store_url.removeprefix("firestore://")
    return render_template(
        "index.html",
        version=__version__,
        store_kind=settings.store_kind,
        where=where,
        base_url=settings.base_url,
        google_sign_in=settings.google_sign_in,
    )
