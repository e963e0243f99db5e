"""Blinatumomab CDS Hooks service.

`create_app(settings)` builds the Flask app; nothing runs at import, and nothing heavy is
imported: `python -m cds` pauses the collector before Flask and pydantic come in.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from cds.checks import Check
    from cds.feedback import FeedbackStore
    from cds.replay import ReplayCache
    from cds.settings import Settings

log = logging.getLogger(__name__)

_BANNER_LINES = (
    "OPEN DEVELOPMENT MODE: callers are NOT authenticated and any fhirServer is fetched.",
    "Never expose this service to a network or use it with real patient data.",
)
DEV_MODE_BANNER = "\n".join(
    ["", "!" * 92, *(f"!!  {line:<86}!!" for line in _BANNER_LINES), "!" * 92]
)


_SANDBOX_LINES = (
    "CDS_TRUST_CDS_HOOKS_SANDBOX is on: the public sandbox's signing key is PUBLISHED, so",
    "ANYONE can mint tokens this service accepts. Testing only; never with patient data.",
)
SANDBOX_TRUST_BANNER = "\n".join(
    ["", "!" * 92, *(f"!!  {line:<86}!!" for line in _SANDBOX_LINES), "!" * 92]
)


def configure_logging(level: str) -> None:
    """The command line's logging: to stderr, one line a record."""
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


class StartupRefused(RuntimeError):
    """The configuration would run the service open; we refuse rather than run insecurely."""


def create_app(
    settings: Settings | None = None,
    checks: Sequence[Check] | None = None,
    clock: Callable[[], datetime] | None = None,
    *,
    dry_run: bool = False,
) -> Flask:
    """Build the app: load and validate knowledge and card templates, open the feedback store.

    `dry_run` (`check`; open development mode only): no feedback store, nothing recorded, and
    the database layer never imported (SQLAlchemy is a fifth of `check`'s start-up)."""
    with collector_paused():
        return _create_app(settings, checks, clock, dry_run)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Building the app imports and constructs ~190,000 objects that live as long as the process
    (pydantic models, the knowledge, the unit tables) and leaves some 85 in garbage cycles: the
    cyclic collector walking the growing heap again and again was ~0.11 s of a ~0.95 s start
    (`bench.startup`). Reference counting still frees what it can meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _create_app(
    settings: Settings | None,
    checks: Sequence[Check] | None,
    clock: Callable[[], datetime] | None,
    dry_run: bool,
) -> Flask:
    from flask import Flask
    from flask_cors import CORS

    from cds.cards import CardRenderer
    from cds.knowledge import load_knowledge
    from cds.services import Engine
    from cds.settings import Settings
    from cds.web import audit, errors, health, metrics, openapi, routes
    from cds.web.auth import JwtVerifier, parse_trusted_issuers
    from cds.web.fast_lane import FastLane

    settings = settings or Settings()
    if dry_run and not settings.dev_mode:
        raise ValueError("a dry run is for open development mode only")
    issuers = settings.issuers()
    if settings.dev_mode:
        log.warning(DEV_MODE_BANNER)
    elif not issuers:
        raise StartupRefused(
            "No trusted EHR issuers are configured, so no caller could be authenticated. Set "
            "CDS_TRUSTED_ISSUERS (issuer -> JWKS URL or file) or CDS_TRUST_CDS_HOOKS_SANDBOX=true, "
            "or run the open development mode with --dev (CDS_DEV_MODE=true)."
        )
    elif not settings.public_base_url:
        raise StartupRefused(
            "CDS_PUBLIC_BASE_URL is not set. Every JWT's `aud` must be the exact URL the EHR "
            "calls, and the service will not take it from the request's Host header (a caller "
            "controls that). Set it to the external base URL, e.g. "
            "CDS_PUBLIC_BASE_URL=https://cds.hospital.example, or run --dev."
        )
    if settings.trust_cds_hooks_sandbox and not settings.dev_mode:
        log.warning(SANDBOX_TRUST_BANNER)
    if not settings.dev_mode:
        log.info(
            "production mode: trusted JWT issuers: %s; CORS origins allowed: %s",
            ", ".join(sorted(issuers)),
            ", ".join(settings.cors_origins) or "none (browser callers refused)",
        )
    knowledge = load_knowledge()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    engine = Engine(settings, knowledge, CardRenderer(knowledge), checks=checks)
    if clock is not None:
        engine.clock = clock
    app.extensions["cds.engine"] = engine
    app.extensions["cds.feedback"] = None if dry_run else _feedback_store(settings.database_url)
    app.extensions["cds.auth"] = (
        None
        if settings.dev_mode
        else JwtVerifier(
            parse_trusted_issuers(issuers),
            _replay_cache(app.extensions["cds.feedback"]),
            settings.jwt_leeway_seconds,
            jwks_retry_after_failure=settings.jwks_retry_after_failure_seconds,
        )
    )
    if settings.cors_origins:
        CORS(
            app,
            origins=settings.cors_origins,
            allow_headers=["Authorization", "Content-Type"],
            methods=["GET", "POST", "OPTIONS"],
            max_age=600,
        )
    app.register_blueprint(routes.blueprint)
    app.register_blueprint(health.blueprint)  # /healthz, /readyz: no JWT
    app.register_blueprint(openapi.blueprint)
    if settings.sandbox_page_enabled():
        from cds.web import sandbox

        sandbox.register(app, settings)  # /sandbox: unauthenticated; announced loudly
    errors.register(app)
    audit.register(app)
    if settings.metrics:
        metrics.register(app)  # /metrics: no JWT, like /readyz
    app.wsgi_app = FastLane(  # type: ignore[method-assign]
        app.wsgi_app,
        engine,
        app.extensions["cds.feedback"],
        app.extensions["cds.auth"],
        settings.public_base_url,
        settings.max_body_bytes,
        settings.metrics,
    )
    return app


def _feedback_store(url: str) -> FeedbackStore:
    from cds.feedback import FeedbackStore

    return FeedbackStore(url)


def _replay_cache(store: FeedbackStore) -> ReplayCache:
    from cds.replay import ReplayCache

    return ReplayCache(store.unflushed_engine)
