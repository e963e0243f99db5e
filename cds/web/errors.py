"""Every error leaves as JSON (an OperationOutcome), never as an HTML page or a bare 500."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from cds.web.routes import error_response

log = logging.getLogger(__name__)


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = {
            404: "not-found",
            405: "not-supported",
            413: "too-costly",
            415: "not-supported",
        }.get(status, "invalid")
        return error_response(status, error.description or error.name, code)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return error_response(500, "internal error; the service log has the details", "exception")
