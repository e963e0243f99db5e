"""Liveness and readiness for orchestrators and load balancers (no JWT: they carry no EHR token).

- `GET /healthz`: the process answers HTTP. Touches nothing else, so a database outage never gets
  a healthy container restarted in a loop.
- `GET /readyz`: this replica can do its work: the knowledge is loaded and the database (feedback
  store and JWT replay cache) answers. 503 otherwise, so the balancer sends calls elsewhere.

Neither tells a caller more than `ok`/`unavailable` per component; the reason goes to the log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app

from cds.web.bodies import json_response

if TYPE_CHECKING:
    from cds.feedback import FeedbackStore
    from cds.services import Engine

blueprint = Blueprint("health", __name__)

NO_CACHE = {"Cache-Control": "no-store"}


@blueprint.get("/healthz")
def liveness() -> Response:
    answer = json_response({"status": "ok"})
    answer.headers.update(NO_CACHE)
    return answer


@blueprint.get("/readyz")
def readiness() -> Response:
    engine: Engine | None = current_app.extensions.get("cds.engine")
    store: FeedbackStore | None = current_app.extensions.get("cds.feedback")
    knowledge = engine.knowledge if engine is not None else None
    checks: dict[str, Any] = {
        "knowledge": "ok" if knowledge is not None and knowledge.version else "unavailable",
        "database": "ok" if store is not None and store.ping() else "unavailable",
    }
    ready = all(state == "ok" for state in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "unavailable", "checks": checks}
    if knowledge is not None:
        body["knowledgeVersion"] = knowledge.version
    answer = json_response(body, 200 if ready else 503)
    answer.headers.update(NO_CACHE)
    return answer
