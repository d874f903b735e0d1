"""JSON errors that tell a person what to do next."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from .store import StoreError

log = logging.getLogger(__name__)

# What to say for the HTTP errors Flask raises itself.
HTTP_MESSAGES = {
    400: "The request could not be read. Send JSON with 'Content-Type: application/json'.",
    404: "There is nothing at this address. See /api/v1/openapi.json for the routes.",
    405: "This address does not take that method. See /api/v1/openapi.json.",
    413: "The request body is too large. Send less data (bodies up to {limit} bytes).",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **details):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def response(self):
        body = {"error": {"code": self.code, "message": self.message, **self.details}}
        return jsonify(body), self.status


def _wants_json() -> bool:
    return (
        request.path.startswith(("/api/", "/auth/", "/addon/"))
        or request.accept_mimetypes.best == "application/json"
    )


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return error.response()

    @app.errorhandler(StoreError)
    def store_error(error: StoreError):
        log.error("store error on %s: %s", request.path, error)
        return ApiError(
            503,
            "store_unavailable",
            "The server's database is not answering. Nothing was changed; try again shortly.",
        ).response()

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if not _wants_json():
            return error
        message = HTTP_MESSAGES.get(error.code, error.description or error.name)
        message = message.format(limit=app.config.get("MAX_CONTENT_LENGTH"))
        code = (error.name or "error").lower().replace(" ", "_")
        return ApiError(error.code or 500, code, message).response()

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error on %s", request.path)
        return ApiError(
            500, "internal", "Something went wrong on the server. It was logged; try again."
        ).response()
