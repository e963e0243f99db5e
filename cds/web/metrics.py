"""GET /metrics (Prometheus text format) and the request hooks that count every answered request.

No JWT, like /readyz: a Prometheus server carries no EHR token, and nothing here names a patient
(see `cds.metrics`). On by default; CDS_METRICS=false turns the endpoint and the hooks off.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

import orjson
from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from cds import metrics
from cds.server import METRICS_DIRECTORY_ENV
from cds.services import SERVICES

ENDPOINT = "metrics"
CALL_ENDPOINT = "cds.call_service"


def register(app: Flask) -> None:
    app.add_url_rule("/metrics", ENDPOINT, _scrape, methods=["GET"])
    app.before_request(_start_clock)
    app.after_request(_count)


def _scrape() -> Response:
    directory = os.environ.get(METRICS_DIRECTORY_ENV)
    if directory:  # every worker's files, summed; a fresh registry per scrape (library's advice)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
    else:
        registry = metrics.REGISTRY
    answer = Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _start_clock() -> None:
    g.metrics_started = time.perf_counter()


def _count(response: Response) -> Response:
    rule = request.url_rule
    endpoint = rule.endpoint if rule is not None else "unmatched"
    if endpoint == ENDPOINT:
        return response
    service_id = (request.view_args or {}).get("service_id")
    service = service_id if service_id in SERVICES else ""
    count_answer(endpoint, service, response.status_code, g.get("metrics_started"))
    if endpoint == CALL_ENDPOINT and response.status_code == 200:
        _count_cards(service, response)
    return response


def count_answer(endpoint: str, service: str, status: int, started: float | None) -> None:
    """Count one answered request, and its latency since `started` when known."""
    if started is not None:
        metrics.LATENCY.labels(endpoint).observe(time.perf_counter() - started)
    metrics.REQUESTS.labels(endpoint, service, str(status)).inc()


def _count_cards(service: str, response: Response) -> None:
    """From the answer as sent: what the EHR got is what is counted (~20 µs a call)."""
    try:
        cards: Any = orjson.loads(response.get_data()).get("cards") or []
    except (orjson.JSONDecodeError, AttributeError):
        return
    count_cards(
        service,
        [
            (((card.get("source") or {}).get("topic") or {}).get("code"), card.get("indicator"))
            for card in cards
        ],
    )


def count_cards(service: str, cards: Iterable[tuple[str | None, str | None]]) -> None:
    """Count the cards of one answer by (topic, indicator)."""
    for topic, indicator in cards:
        metrics.CARDS.labels(service, topic or "none", indicator or "none").inc()


def forget_worker(_server: Any, worker: Any) -> None:
    """gunicorn `child_exit`: a dead worker's live gauges go; its counters stay in the sums."""
    if os.environ.get(METRICS_DIRECTORY_ENV):
        mark_process_dead(worker.pid)
