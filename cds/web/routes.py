"""CDS Hooks routes: discovery, service calls, feedback."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from cds.feedback import FeedbackStore
from cds.hooks import FeedbackRequest
from cds.metrics import count_jwt_rejection
from cds.services import SERVICES, Engine, HookError, discovery, operation_outcome
from cds.web.auth import AuthError, Caller, JwtVerifier

blueprint = Blueprint("cds", __name__)
audit = logging.getLogger("cds.audit")

JSON_TYPES = ("application/json", "application/fhir+json")


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )


def error_response(status: int, message: str, code: str = "invalid") -> Response:
    return json_response(operation_outcome(message, code), status)


def _json_body() -> Any:
    if request.mimetype not in JSON_TYPES:
        raise HookError(
            415,
            f"Content-Type must be application/json, not {request.mimetype or 'none'!r}",
            "not-supported",
        )
    raw = request.get_data(cache=False)  # Flask raises 413 above MAX_CONTENT_LENGTH
    try:
        return orjson.loads(raw)  # strict RFC 8259 (no NaN), and 3-4x faster on a long chart
    except orjson.JSONDecodeError as error:
        raise HookError(400, f"the body is not valid JSON ({error})", "structure") from error


def _engine() -> Engine:
    return current_app.extensions["cds.engine"]  # type: ignore[no-any-return]


def _store() -> FeedbackStore:
    return current_app.extensions["cds.feedback"]  # type: ignore[no-any-return]


class Unauthorized(Exception):
    """Answered with a bare 401: the reason is logged, never told to the caller."""


def _authenticate(log: dict[str, Any]) -> Caller | None:
    """Verify the EHR's JWT for this exact URL (None in open development mode)."""
    verifier: JwtVerifier | None = current_app.extensions.get("cds.auth")
    if verifier is None:
        return None
    base = _engine().settings.public_base_url or request.host_url
    audience = base.rstrip("/") + request.path
    try:
        caller = verifier.verify(request.headers.get("Authorization"), audience)
    except AuthError as error:
        log |= {"status": 401, "auth": str(error)[:300]}
        count_jwt_rejection(error)
        raise Unauthorized from error
    except SQLAlchemyError as error:  # the replay cache cannot say whether the jti is new
        logging.getLogger(__name__).exception("replay cache unavailable")
        raise HookError(
            503, "the service cannot verify callers right now; retry", "transient"
        ) from error
    log |= {"issuer": caller.issuer, "jti": caller.jti, "tenant": caller.tenant}
    return caller


def _unauthorized() -> Response:
    return Response(status=401, headers={"WWW-Authenticate": "Bearer"})


@blueprint.get("/cds-services")
def get_discovery() -> Response:
    engine = _engine()
    if engine.settings.auth_discovery:
        log: dict[str, Any] = {"event": "discovery"}
        try:
            _authenticate(log)
        except Unauthorized:
            audit.info(json.dumps(log))
            return _unauthorized()
        except HookError as error:
            return error_response(error.status, error.message, error.code)
    return json_response(discovery(engine.knowledge, engine.settings.dev_mode))


@blueprint.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    started = time.perf_counter()
    log: dict[str, Any] = {"event": "hook-call", "service": service_id}
    try:
        _authenticate(log)
        if service_id not in SERVICES:
            raise HookError(404, f"no CDS service with id {service_id!r}", "not-found")
        body = _json_body()
        if isinstance(body, dict) and isinstance(body.get("hookInstance"), str):
            log["hookInstance"] = body["hookInstance"][:256]
        result = _engine().handle(service_id, body, own_host=request.host)
        _store().record_issued(result.service, result.hook_instance, result.response.cards)
        log |= {"status": 200, "cards": [f"{t}:{i}" for t, i in result.topics]}
        answer = json_response(result.response.to_json())
        # A long chart's body is some 60,000 objects, and freeing them takes a few ms: keep them
        # until the answer has been sent (the WSGI server closes the response after writing it).
        answer.call_on_close(lambda: body)
        return answer
    except Unauthorized:
        return _unauthorized()
    except HookError as error:
        log |= {"status": error.status, "problem": error.message[:300]}
        return error_response(error.status, error.message, error.code)
    finally:
        log["ms"] = round((time.perf_counter() - started) * 1000, 1)
        audit.info(json.dumps(log))


@blueprint.post("/cds-services/<service_id>/feedback")
def post_feedback(service_id: str) -> Response:
    """Store the feedback (committed before the 200) and say per item whether the card was ours
    and whether the item was a repeat. Invalid feedback is a 400 naming the first problems."""
    log: dict[str, Any] = {"event": "feedback", "service": service_id}
    try:
        _authenticate(log)
        if service_id not in SERVICES:
            raise HookError(404, f"no CDS service with id {service_id!r}", "not-found")
        body = _json_body()
        try:
            parsed = FeedbackRequest.model_validate(body)
        except ValidationError as error:
            problems = [
                f"{'.'.join(str(p) for p in e.get('loc', ())) or 'body'}: {e['msg']}"
                for e in error.errors()[:3]
            ]
            more = f" (and {error.error_count() - 3} more)" if error.error_count() > 3 else ""
            raise HookError(400, f"invalid feedback: {'; '.join(problems)}{more}") from error
        try:
            stored = _store().record_feedback(service_id, parsed.feedback)
        except SQLAlchemyError as error:
            logging.getLogger(__name__).exception("feedback store unavailable")
            message = "the feedback store is unavailable; retry later"
            raise HookError(503, message, "transient") from error
    except Unauthorized:
        audit.info(json.dumps(log))
        return _unauthorized()
    except HookError as error:
        audit.info(json.dumps(log | {"status": error.status, "problem": error.message[:300]}))
        return error_response(error.status, error.message, error.code)
    log |= {
        "status": 200,
        "items": len(stored),
        "duplicates": sum(item["duplicate"] for item in stored),
        "unknownCards": sum(not item["knownCard"] for item in stored),
    }
    audit.info(json.dumps(log))
    return json_response({"received": len(stored), "items": stored})
