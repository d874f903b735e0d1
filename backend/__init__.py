"""Mailtick's backend: create_app() builds the WSGI app; nothing runs at import time."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from datetime import timedelta

from flask import Flask, jsonify

__version__ = "0.1.0"

log = logging.getLogger(__name__)


def create_app(config=None, *, store=None) -> Flask:
    """Build the app from settings (default: the environment) and open its store.

    `config` may be a Settings object or a dict of Settings fields; `store` lets tests hand in
    a store they made (it must match the settings' idea of which store is in use).
    """
    from . import addon, api, auth, cron, errors, tracking, web
    from .background import Worker
    from .config import Settings
    from .insights import api as insights_api
    from .notify import Notifier
    from .notify import api as notify_api
    from .notify import gmail as gmail_send
    from .spool import Spool
    from .store import open_store

    if config is None:
        settings = Settings.from_env()
    elif isinstance(config, Settings):
        settings = config.resolved()
    else:
        settings = Settings(**config).resolved()

    app = Flask(__name__)
    app.config["MAILTICK"] = settings
    app.config["SECRET_KEY"] = settings.secret_key or secrets.token_hex(32)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["TESTING"] = settings.testing
    app.json.sort_keys = False

    store = store or open_store(settings.store_url)
    worker = Worker(
        store,
        retention=timedelta(days=settings.retention_days),
        interval=settings.background_interval,
    )
    spool = Spool(settings.spool_path, store, on_written=worker.enqueue)
    # Notifications (issue 5): the classifier hands each batch it applied to the notifier.
    notifier = Notifier(store, settings)
    worker.on_classified = notifier.enqueue
    app.extensions["mailtick.store"] = store
    app.extensions["mailtick.spool"] = spool
    app.extensions["mailtick.background"] = worker
    app.extensions["mailtick.notifier"] = notifier
    app.extensions["mailtick.trusted_proxies"] = [
        ipaddress.ip_network(network, strict=False) for network in settings.trusted_proxies
    ]
    spool.start()
    if settings.background_interval > 0:
        worker.start()
        notifier.start()

    errors.register(app)
    # The two calls every tracked email and every Gmail page make, answered ahead of Flask.
    app.wsgi_app = api.StatusMiddleware(app.wsgi_app, app)
    app.wsgi_app = tracking.PixelMiddleware(app.wsgi_app, app)
    app.register_blueprint(tracking.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(insights_api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(cron.bp)
    app.register_blueprint(addon.bp)
    app.register_blueprint(notify_api.bp)
    app.register_blueprint(gmail_send.bp)

    @app.get("/healthz")
    def healthz():
        try:
            app.extensions["mailtick.store"].ping()
        except Exception as exc:
            log.warning("health check: store not ready: %s", exc)
            return jsonify(status="unavailable", store=settings.store_kind), 503
        return jsonify(status="ok", store=settings.store_kind, version=__version__)

    if not settings.google_sign_in:
        log.info("Google sign-in is off (set MAILTICK_GOOGLE_CLIENT_ID and _SECRET to enable)")
    log.info(
        "Mailtick %s on %s store, links at %s", __version__, settings.store_kind, settings.base_url
    )
    return app


def close_app(app: Flask) -> None:
    """Stop an app's background threads and close its store (tests and embedders)."""
    app.extensions["mailtick.background"].stop()
    app.extensions["mailtick.notifier"].stop()
    app.extensions["mailtick.spool"].stop()
    app.extensions["mailtick.store"].close()
