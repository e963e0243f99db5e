"""The audit trail: one JSON line per audited call on the `cds.audit` logger, written in one place.

A view marked `@audited("event")` opens the line (with the service id when the URL names one); the
view, the JWT check and the error handlers add fields with `note`; the line is written with the
answer's status and the time taken once the answer is made, whatever it is. Nothing about the
patient and no token ever goes in: only ids of the call, the caller, outcomes and card topics.
Every text in the line (the service id from the URL, hookInstance, the JWT's ids, a problem) is
cut to FIELD_LIMIT characters, ending in CUT when it was: a caller cannot make a line as long as
its request. A call to an audited view that the WSGI server refuses before the app sees it (a body
over CDS_MAX_BODY_BYTES: 413) gets the same line, from `refused_by_server`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("cds.audit")

P = ParamSpec("P")
R = TypeVar("R")

FIELD_LIMIT = 300  # characters of one text in an audit line
CUT = "...(cut)"
_EVENTS: dict[Callable[..., Any], str] = {}  # each audited view -> its event


def audited(event: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Audit every call of this view as `event`."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            service = (request.view_args or {}).get("service_id")
            g.audit = {"event": event} | ({"service": service} if service else {})
            g.audit_started = time.perf_counter()
            return view(*args, **kwargs)

        _EVENTS[run] = event
        return run

    return decorate


def note(**fields: Any) -> None:
    """Add fields to this call's audit line (nothing when the call is not audited)."""
    line: dict[str, Any] | None = g.get("audit")
    if line is not None:
        line.update(fields)


def write(line: dict[str, Any], status: int, started: float) -> None:
    """Write one audit line, with the answer's status and the time since `started`."""
    for key, value in line.items():  # the texts; lists (card topics) are the service's own
        if type(value) is str and len(value) > FIELD_LIMIT:
            line[key] = bounded(value)
    line["status"] = status
    line["ms"] = round((time.perf_counter() - started) * 1000, 1)
    log.info(json.dumps(line))


def bounded(text: str) -> str:
    """`text`, cut to FIELD_LIMIT characters (then ending in CUT)."""
    return text if len(text) <= FIELD_LIMIT else text[: FIELD_LIMIT - len(CUT)] + CUT


def _write(response: Response) -> Response:
    line: dict[str, Any] | None = g.pop("audit", None)
    if line is not None:
        write(line, response.status_code, g.pop("audit_started"))
    return response


def refused_by_server(
    app: Flask, method: str | None, path: str | None, status: int, problem: str
) -> None:
    """The audit line of a call the WSGI server answered itself, before `app` saw it (waitress
    refuses a body over the limit with a 413 unread): written as the view's line would be (its
    event and service; the problem; no caller, whose JWT was never read), so that the on-call
    engineer sees these refusals too. Nothing for a path no audited view serves, as for a call
    that reaches the app."""
    if not method or not path or path.startswith("//"):  # `//x` is no route (routes.py)
        return
    path = _as_werkzeug_reads(path)
    try:
        rule, args = app.url_map.bind("localhost").match(path, method, return_rule=True)
    except HTTPException:  # no such route or method (also a redirect)
        return
    view = app.view_functions.get(rule.endpoint)
    event = _EVENTS.get(view) if view is not None else None
    if event is None:
        return
    service = args.get("service_id")
    line = {"event": event} | ({"service": service} if service else {}) | {"problem": problem}
    write(line, status, time.perf_counter())


def _as_werkzeug_reads(path: str) -> str:
    """The path as the app's own lines name it: waitress gives the WSGI path, its bytes as
    latin-1 text; Werkzeug decodes those bytes as UTF-8 (a bad sequence replaced). Without this
    the 413 line of `/cds-services/caf%C3%A9` named `cafÃ©`, the app's lines `café`."""
    try:
        return path.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # not WSGI text (no server gives this): taken as it is
        return path


def register(app: Flask) -> None:
    app.after_request(_write)
