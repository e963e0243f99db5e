"""CDS Hooks routes: discovery, service calls, feedback.

Views only parse, call and serialise: errors are raised and answered by `cds.web.errors`, and
each call's audit line is written by `cds.web.audit`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, current_app, request
from flask.blueprints import BlueprintSetupState
from pydantic import ValidationError

from cds.answer_memo import call_key
from cds.errors import (
    InvalidRequest,
    StoreUnavailable,
    TemporarilyUnavailable,
    validation_message,
)
from cds.fhir.snapshot_memo import prefetch_digest
from cds.hooks import FeedbackRequest
from cds.metrics import count_jwt_rejection
from cds.services import Engine, HookResult, discovery, service_named
from cds.web import audit, fast_lane
from cds.web.auth import AuthError, Caller, JwtVerifier, owner_of
from cds.web.bodies import (
    envelope_without_prefetch,
    json_body,
    json_body_and_bytes,
    json_response,
    refuse_deep,
)
from cds.web.errors import Unauthorized

if TYPE_CHECKING:
    from cds.feedback import FeedbackStore

blueprint = Blueprint("cds", __name__)
log = logging.getLogger(__name__)


@blueprint.record_once
def _exact_paths(state: BlueprintSetupState) -> None:
    """Every path is matched as sent: `//` is not merged into `/`. Werkzeug would otherwise
    answer `/cds-services//x` with a 308 redirect, in HTML, before authentication, to a URL
    built from the Host header; unmerged, it is the JSON 404 of any unknown path. (No rule has
    `//` or ends in `/` but the sandbox page's, which is also routed without it: no other
    redirect is left.)"""
    state.app.url_map.merge_slashes = False


@blueprint.before_app_request
def _no_leading_double_slash() -> None:
    """A path that starts with `//` is the JSON 404 of any unknown path. Werkzeug drops leading
    slashes before matching and from `request.path` (the JWT's audience), so `//cds-services/x`
    was served as `/cds-services/x` (and `//healthz` as `/healthz`): a second spelling of every
    URL, which a proxy's or WAF's path rules would not see as the one they guard. (Runs before
    the route's view, and before a 405 from routing.)"""
    if request.environ.get("PATH_INFO", "").startswith("//"):
        abort(404)


def _engine() -> Engine:
    return current_app.extensions["cds.engine"]  # type: ignore[no-any-return]


def _store() -> FeedbackStore | None:
    """The feedback store; None for a dry run (`check`), which records nothing."""
    return current_app.extensions["cds.feedback"]  # type: ignore[no-any-return]


def _authenticate() -> Caller | None:
    """Verify the EHR's JWT for this exact URL (None in open development mode)."""
    verifier: JwtVerifier | None = current_app.extensions.get("cds.auth")
    if verifier is None:
        return None
    base = _engine().settings.public_base_url or request.host_url  # required outside --dev
    audience = base.rstrip("/") + request.path
    verdict = request.environ.pop(fast_lane.VERDICT, None)  # the lane checked it already
    try:
        if isinstance(verdict, AuthError):
            raise verdict
        caller = verdict or verifier.verify(request.headers.get("Authorization"), audience)
    except AuthError as error:
        audit.note(auth=str(error))  # the reason is logged, never told to the caller
        count_jwt_rejection(error)
        raise Unauthorized from error
    except StoreUnavailable as error:  # the replay cache cannot say whether the jti is new
        log.exception("replay cache unavailable")
        raise TemporarilyUnavailable(
            "the service cannot verify callers right now; retry"
        ) from error
    audit.note(issuer=caller.issuer, jti=caller.jti, tenant=caller.tenant)
    return caller


@blueprint.get("/cds-services")
@audit.audited("discovery")
def get_discovery() -> Response:
    engine = _engine()
    if engine.settings.auth_discovery:
        _authenticate()
    settings = engine.settings
    return json_response(
        discovery(engine.knowledge, settings.dev_mode, settings.trust_cds_hooks_sandbox)
    )


@blueprint.post("/cds-services/<service_id>")
@audit.audited("hook-call")
def call_service(service_id: str) -> Response:
    caller = _authenticate()
    service_named(service_id)  # a 404 before the body is read
    body, raw = json_body_and_bytes()
    if isinstance(body, dict) and isinstance(body.get("hookInstance"), str):
        audit.note(hookInstance=body["hookInstance"])
    result = (  # most orders are not blinatumomab: the lane answers those it can take
        None
        if request.environ.get(fast_lane.FULL_PATH)
        else _engine().quick_answer(service_id, body)
    )
    if result is None:
        refuse_deep(raw)
        key = request.environ.get(fast_lane.CALL_KEY)
        digest = request.environ.get(fast_lane.PREFETCH_DIGEST)
        if key is None and (read := envelope_without_prefetch(raw)) is not None:
            key, digest = call_key(service_id, read.members), prefetch_digest(read.members)
        result = _engine().handle(
            service_id, body, own_host=request.host, key=key, prefetch_digest=digest
        )
    _record_issued(result, caller)
    audit.note(cards=[f"{t}:{i}" for t, i in result.topics])
    answer = json_response(result.response.to_json())
    # A long chart's body is some 60,000 objects, and freeing them takes a few ms: keep them
    # until the answer has been sent (the WSGI server closes the response after writing it).
    answer.call_on_close(lambda: body)
    return answer


def _record_issued(result: HookResult, caller: Caller | None) -> None:
    """Keep the cards for their feedback. A store that fails does not withhold them: a card the
    clinician never sees protects no one, and feedback on it is still kept (as on an unknown
    card); the failure goes to the log and the audit line."""
    store = _store()
    if store is None:
        return
    try:
        store.record_issued(
            result.service, result.hook_instance, result.response.cards, *owner_of(caller)
        )
    except StoreUnavailable:
        log.exception("issued cards not recorded; the answer is sent all the same")
        audit.note(problem="issued cards not recorded (feedback store unavailable)")


@blueprint.post("/cds-services/<service_id>/feedback")
@audit.audited("feedback")
def post_feedback(service_id: str) -> Response:
    """Store the feedback (committed before the 200) and say per item whether the card was ours
    and whether the item was a repeat. Invalid feedback is a 400 naming the first problems."""
    caller = _authenticate()
    service_named(service_id)  # a 404 before the body is read
    try:
        parsed = FeedbackRequest.model_validate(json_body())
    except ValidationError as error:
        raise InvalidRequest(f"invalid feedback: {validation_message(error)}") from error
    store = _store()
    if store is None:
        raise TemporarilyUnavailable("this instance keeps no feedback (a dry run)")
    try:
        stored = store.record_feedback(service_id, parsed.feedback, *owner_of(caller))
    except StoreUnavailable as error:
        log.exception("feedback store unavailable")
        raise TemporarilyUnavailable("the feedback store is unavailable; retry later") from error
    audit.note(
        items=len(stored),
        duplicates=sum(item["duplicate"] for item in stored),
        unknownCards=sum(not item["knownCard"] for item in stored),
    )
    return json_response({"received": len(stored), "items": stored})
