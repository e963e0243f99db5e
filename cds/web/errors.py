"""The one place where errors become HTTP: every error leaves as JSON (an OperationOutcome), never
as an HTML page or a bare 500; the one exception is 401, bare, whose reason is only logged."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from cds import errors
from cds.web import audit
from cds.web.bodies import MalformedJson, UnsupportedMediaType, json_response

log = logging.getLogger(__name__)


class Unauthorized(Exception):
    """The caller's JWT was refused: answered with a bare 401."""


# (HTTP status, OperationOutcome issue code) of each error the service and its views raise.
STATUS: dict[type[Exception], tuple[int, str]] = {
    errors.UnknownService: (404, "not-found"),
    errors.InvalidRequest: (400, "invalid"),
    errors.TooManyDraftOrders: (413, "too-costly"),
    errors.NotYours: (403, "forbidden"),
    errors.DataUnavailable: (412, "not-found"),
    errors.TemporarilyUnavailable: (503, "transient"),
    UnsupportedMediaType: (415, "not-supported"),
    MalformedJson: (400, "structure"),
}
HTTP_ISSUE_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}


def operation_outcome(
    message: str, code: str = "invalid", severity: str = "error"
) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": message}],
    }


def error_response(status: int, message: str, code: str = "invalid") -> Response:
    audit.note(problem=message)  # cut in the line by audit.write
    return json_response(operation_outcome(message, code), status)


def status_of(error: Exception) -> tuple[int, str]:
    """The HTTP status and issue code an error is answered with."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    raise LookupError(f"no HTTP status for {type(error).__name__}")


def register(app: Flask) -> None:
    def known(error: Exception) -> Response:
        status, code = status_of(error)
        return error_response(status, str(error), code)

    for kind in STATUS:
        app.register_error_handler(kind, known)

    @app.errorhandler(Unauthorized)
    def unauthorized(error: Unauthorized) -> Response:
        return Response(status=401, headers={"WWW-Authenticate": "Bearer"})

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = HTTP_ISSUE_CODES.get(status, "invalid")
        answer = error_response(status, error.description or error.name, code)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            # RFC 9110 15.5.6: a 405 names the methods the resource has
            answer.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return answer

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return error_response(500, "internal error; the service log has the details", "exception")
