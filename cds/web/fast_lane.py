"""The common call's lane: an order-sign whose draft orders cannot concern blinatumomab, answered
`{"cards": []}` before Flask is entered; and a call sent again, answered from the answer memo.

Nearly every order a hospital signs is not blinatumomab, and for those the service's answer is
`cds.fast_path`'s. Flask's request handling and the body's full parse cost about as much as that
decision and the JWT check together (docs/performance.md, round 3), so this WSGI middleware takes
the call first: it verifies the JWT exactly as the view does, reads the request's top level without
parsing its prefetch (`envelope_without_prefetch`) and asks `Engine.quick_answer`. A call that
needs the full path is then looked up in the answer memo (`cds.answer_memo`, keyed by the bytes of
its top-level members): one whose content was answered a moment ago gets its findings in new
cards, recorded for feedback as the view records them, without its prefetch ever being parsed.
Either answer gets the same audit line and metrics as the view's. Anything else goes to Flask
unchanged: another route or method, a browser's call (an Origin header: CORS is Flask's), a body
that is not plain JSON, a call answered anew, and every error. The JWT is checked once per call:
the lane hands its verdict (the caller, or why the token was refused), and the memo key, to the
view in the WSGI environ, where no client can put anything.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from cds.answer_memo import call_key
from cds.errors import RequestNotAnswered, StoreUnavailable
from cds.fhir.snapshot_memo import prefetch_digest
from cds.services import SERVICES, Engine
from cds.web import audit
from cds.web.auth import AuthError, Caller, JwtVerifier, owner_of
from cds.web.bodies import JSON_TYPES, envelope_without_prefetch, json_bytes
from cds.web.metrics import CALL_ENDPOINT, count_answer, count_cards

if TYPE_CHECKING:
    from cds.feedback import FeedbackStore

log = logging.getLogger(__name__)

# The verdict on the call's JWT (a Caller, or the AuthError), for the view (`routes._authenticate`)
VERDICT = "cds.jwt_verdict"
# Set when `Engine.quick_answer` said the call needs the full path
FULL_PATH = "cds.full_path"
# The call's answer-memo key (`cds.answer_memo.call_key`), so that the view need not work it out
CALL_KEY = "cds.call_key"
# ... and, when the memo has no answer, its prefetch's digest (`snapshot_memo.prefetch_digest`)
PREFETCH_DIGEST = "cds.prefetch_digest"
PREFIX = "/cds-services/"
NO_CARDS = orjson.dumps({"cards": []})

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _Answer:
    """The answer's bytes; keeps the parsed request alive until the server has sent them (freeing
    a long chart's objects takes milliseconds)."""

    def __init__(self, body: bytes, keep: Any) -> None:
        self.body = body
        self._keep = keep

    def __iter__(self) -> Iterator[bytes]:
        yield self.body

    def close(self) -> None:
        self._keep = None


class FastLane:
    def __init__(
        self,
        app: WsgiApp,
        engine: Engine,
        store: FeedbackStore | None,
        verifier: JwtVerifier | None,
        public_base_url: str | None,
        max_body_bytes: int,
        count_metrics: bool,
    ) -> None:
        self._app = app
        self._engine = engine
        self._store = store
        self._verifier = verifier
        self._base = (public_base_url or "").rstrip("/")
        self._max_body = max_body_bytes
        self._metrics = count_metrics

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        service_id = self._service_of(environ)
        if service_id is not None:
            try:
                answer = self._answer(environ, service_id, started)
            except Exception:  # never a bare 500 from here: Flask answers, with its JSON errors
                log.exception("the fast lane failed; the call goes to Flask")
                answer = None
            if answer is not None:
                length = str(len(answer.body))
                start_response(
                    "200 OK", [("Content-Type", "application/json"), ("Content-Length", length)]
                )
                return answer
        return self._app(environ, start_response)

    def _service_of(self, environ: dict[str, Any]) -> str | None:
        """The service this call is for, if the lane may take it at all."""
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(PREFIX):
            return None
        service = SERVICES.get(path[len(PREFIX) :])
        if service is None or "HTTP_ORIGIN" in environ:
            return None
        if self._verifier is not None and not self._base:
            return None  # the audience is the view's to work out
        content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        length = environ.get("CONTENT_LENGTH", "")
        if content_type not in JSON_TYPES or not length.isdigit():
            return None  # chunked bodies, odd types: Flask's
        return service.id if 0 < int(length) <= self._max_body else None

    def _answer(self, environ: dict[str, Any], service_id: str, started: float) -> _Answer | None:
        """The answer with its audit line and metrics, or None to hand the call to Flask."""
        line: dict[str, Any] = {"event": "hook-call", "service": service_id}
        caller: Caller | None = None
        if self._verifier is not None:
            try:
                caller = self._verifier.verify(
                    environ.get("HTTP_AUTHORIZATION"), self._base + environ["PATH_INFO"]
                )
            except AuthError as error:
                environ[VERDICT] = error  # the view answers the 401, counted and audited there
                return None
            except StoreUnavailable:
                return None  # the replay cache failed: the view tries again, and answers the 503
            environ[VERDICT] = caller
            line |= _caller_fields(caller)
        raw = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        environ["wsgi.input"] = io.BytesIO(raw)  # Flask reads the same bytes if it gets the call
        read = envelope_without_prefetch(raw)
        if read is None:
            return None
        try:
            result = self._engine.quick_answer(service_id, read.envelope)
            if result is None:
                environ[FULL_PATH] = True  # the view need not ask again
                environ[CALL_KEY] = key = call_key(service_id, read.members)
                result = self._engine.recall(service_id, read.envelope, key)
        except RequestNotAnswered:
            return None  # the view reads the whole body, meets the same error and answers its 4xx
        if result is None:
            environ[PREFETCH_DIGEST] = prefetch_digest(read.members)
            return None
        if result.response.cards and self._store is not None:
            try:
                self._store.record_issued(
                    result.service,
                    result.hook_instance,
                    result.response.cards,
                    *owner_of(caller),
                )
            except StoreUnavailable:
                return None  # the view answers it again, and logs that the store failed
        line |= {
            "hookInstance": result.hook_instance,
            "cards": [f"{topic}:{indicator}" for topic, indicator in result.topics],
        }
        audit.write(line, 200, started)
        if self._metrics:
            count_answer(CALL_ENDPOINT, service_id, 200, started)
            count_cards(service_id, result.topics)
        body = json_bytes(result.response.to_json()) if result.response.cards else NO_CARDS
        return _Answer(body, read)


def _caller_fields(caller: Caller) -> dict[str, Any]:
    return {"issuer": caller.issuer, "jti": caller.jti, "tenant": caller.tenant}
