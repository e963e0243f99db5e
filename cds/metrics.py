"""What the service counts for the people on call, as Prometheus metrics (`prometheus_client`).

Every label value comes from a small fixed set (service ids, card topics and indicators, outcome
and reason names below), never from a request: no patient data, token or free text, and no label
an outside caller could multiply. `cds.web.metrics` serves them at GET /metrics.

Under gunicorn each worker writes its values to files in PROMETHEUS_MULTIPROC_DIR (the library's
multiprocess mode, chosen when prometheus_client is first imported); `python -m cds serve` sets
that directory up (`cds.server.metrics_directory`) before anything imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import jwt
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

if TYPE_CHECKING:
    from cds.web.auth import AuthError

disable_created_metrics()  # no `_created` twin of every series: half the scrape, never alerted on
REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "cds_requests",
    "HTTP requests answered, by Flask endpoint, CDS service id and HTTP status.",
    ["endpoint", "service", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "cds_request_duration_seconds",
    "Time from the request's arrival in the app (fast lane or Flask) to its answer, by endpoint.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
CARDS = Counter(
    "cds_cards",
    "Cards returned to the EHR, by service, card topic and indicator.",
    ["service", "topic", "indicator"],
    registry=REGISTRY,
)
FHIR_FETCHES = Counter(
    "cds_fhir_fetches",
    "Prefetch keys fetched from the EHR's FHIR server, by outcome: ok, error (HTTP error, "
    "unreachable, timeout, not JSON, too large), operation_outcome (the server answered with an "
    "error resource), deadline (not back before the call's deadline), no_server (data missing "
    "and no usable fhirServer to fetch it from).",
    ["outcome"],
    registry=REGISTRY,
)
JWT_REJECTIONS = Counter(
    "cds_jwt_rejections",
    "Calls refused with 401 because the EHR's JWT did not verify, by reason.",
    ["reason"],
    registry=REGISTRY,
)
FEEDBACK = Counter(
    "cds_feedback_items",
    "Feedback items stored (committed), by CDS Hooks outcome (accepted, overridden) and whether "
    "the item repeated one already received.",
    ["outcome", "duplicate"],
    registry=REGISTRY,
)

FHIR_OUTCOMES = ("ok", "error", "operation_outcome", "deadline", "no_server")
for _outcome in FHIR_OUTCOMES:  # every series exists from the start, at 0, for rate() alerts
    FHIR_FETCHES.labels(_outcome)

# PyJWT's refusal -> reason label (the first match in the exception's class order wins)
_JWT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "audience"),
    (jwt.InvalidIssuerError, "issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidSignatureError, "signature"),
    (jwt.PyJWKClientError, "jwks_unavailable"),
    (jwt.DecodeError, "malformed"),
    (jwt.PyJWTError, "invalid"),
)
# cds.web.auth's own refusals, by the start of their message
_AUTH_REASONS = (
    ("no bearer token", "missing_token"),
    ("algorithm", "algorithm"),
    ("token header has no kid", "no_kid"),
    ("issuer", "untrusted_issuer"),
    ("no key with kid", "unknown_key"),
    ("token issued in the future", "issued_in_future"),
    ("token lifetime", "lifetime_too_long"),
    ("jti already used", "replay"),
    ("malformed token", "malformed"),
    ("claim ", "bad_claim"),
    ("JWKS lookup failed", "jwks_unavailable"),
)


def jwt_rejection_reason(error: AuthError) -> str:
    """A fixed reason name for a refused token (the message itself may quote the token)."""
    cause = error.__cause__
    if isinstance(cause, jwt.PyJWTError):
        return next(reason for kind, reason in _JWT_REASONS if isinstance(cause, kind))
    message = str(error)
    return next((reason for start, reason in _AUTH_REASONS if message.startswith(start)), "other")


def count_jwt_rejection(error: AuthError) -> None:
    JWT_REJECTIONS.labels(jwt_rejection_reason(error)).inc()


def count_fhir_fetch(outcome: str) -> None:
    FHIR_FETCHES.labels(outcome if outcome in FHIR_OUTCOMES else "error").inc()


def count_feedback(outcomes: Iterable[tuple[str, bool]]) -> None:
    """(CDS Hooks outcome, duplicate) of each stored item."""
    for outcome, duplicate in outcomes:
        FEEDBACK.labels(outcome, "true" if duplicate else "false").inc()
