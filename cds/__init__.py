"""Blinatumomab CDS Hooks service. `create_app(settings)` builds the Flask app; nothing runs at import."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from flask import Flask

from cds.settings import Settings

if TYPE_CHECKING:
    from cds.checks import Check

log = logging.getLogger(__name__)

_BANNER_LINES = (
    "OPEN DEVELOPMENT MODE: callers are NOT authenticated and any fhirServer is fetched.",
    "Never expose this service to a network or use it with real patient data.",
)
DEV_MODE_BANNER = "\n".join(
    ["", "!" * 92, *(f"!!  {line:<86}!!" for line in _BANNER_LINES), "!" * 92]
)


class StartupRefused(RuntimeError):
    """The configuration would run the service open; we refuse rather than run insecurely."""


def create_app(
    settings: Settings | None = None,
    checks: Sequence[Check] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Flask:
    """Build the app: load and validate knowledge and card templates, open the feedback store."""
    from cds.cards import CardRenderer
    from cds.feedback import FeedbackStore
    from cds.fhir import parsing
    from cds.knowledge import load_knowledge
    from cds.services import Engine
    from cds.units import warm_up
    from cds.web import errors, routes

    settings = settings or Settings()
    if not settings.dev_mode:
        raise StartupRefused(
            "Authentication of calling EHRs (JWT verification) is not implemented yet, so the "
            "service only runs in open development mode: start it with --dev (CDS_DEV_MODE=true)."
        )
    log.warning(DEV_MODE_BANNER)
    knowledge = load_knowledge()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    engine = Engine(settings, knowledge, CardRenderer(knowledge), checks=checks)
    if clock is not None:
        engine.clock = clock
    app.extensions["cds.engine"] = engine
    app.extensions["cds.feedback"] = FeedbackStore(settings.database_url)
    app.register_blueprint(routes.blueprint)
    errors.register(app)
    warm_up()
    parsing.warm_up()
    return app
