"""Liveness and readiness for orchestrators and load balancers (no JWT: they carry no EHR token).

- `GET /healthz`: the process answers HTTP. Touches nothing else, so a database outage never gets
  a healthy container restarted in a loop.
- `GET /readyz`: this replica can do its work: the knowledge is loaded and the database (feedback
  store and JWT replay cache) answers. 503 otherwise, so the balancer sends calls elsewhere.

Neither tells a caller more than `ok`/`unavailable` per component; the reason goes to the log.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cds.feedback import FeedbackStore
from cds.services import Engine
from cds.web.bodies import json_response

blueprint = Blueprint("health", __name__)
log = logging.getLogger(__name__)

NO_CACHE = {"Cache-Control": "no-store"}


@blueprint.get("/healthz")
def liveness() -> Response:
    answer = json_response({"status": "ok"})
    answer.headers.update(NO_CACHE)
    return answer


def _database_ok(store: FeedbackStore) -> bool:
    try:
        with store.engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar_one()
    except SQLAlchemyError:
        log.warning("readiness: the database does not answer", exc_info=True)
        return False
    return True


@blueprint.get("/readyz")
def readiness() -> Response:
    engine: Engine | None = current_app.extensions.get("cds.engine")
    store: FeedbackStore | None = current_app.extensions.get("cds.feedback")
    knowledge = engine.knowledge if engine is not None else None
    checks: dict[str, Any] = {
        "knowledge": "ok" if knowledge is not None and knowledge.version else "unavailable",
        "database": "ok" if store is not None and _database_ok(store) else "unavailable",
    }
    ready = all(state == "ok" for state in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "unavailable", "checks": checks}
    if knowledge is not None:
        body["knowledgeVersion"] = knowledge.version
    answer = json_response(body, 200 if ready else 503)
    answer.headers.update(NO_CACHE)
    return answer
