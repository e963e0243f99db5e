"""What each optimisation buys, in-process: CPU and wall time per call with each one undone.

    .venv/bin/python -m bench.ablation [--calls 60]

Runs the app's test client (open development mode, SQLite file) on the benchmark's typical and
long charts, first as it is, then with one optimisation switched back to its former behaviour:
- "validate everything": no selection before validation (`cds.fhir.selection`) and every
  observation validated up front, not when a check reads it (`cds.fhir.observations`);
- "deep copy": every resource deep-copied before validation, as `normalise` did;
- "fsync issued cards": issued-card records committed with synchronous=FULL;
- "default GC thresholds": Python's (700, 10, 10) instead of `cds.server.GC_THRESHOLDS`.
The variants take turns call by call (a drifting machine weighs on all alike); CPU time
(process_time) is less sensitive to other load on the machine than wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from bench import charts
from cds import create_app, feedback
from cds.fhir import parsing, selection, snapshot
from cds.fhir.observations import ChartObservations
from cds.server import settle_heap
from cds.settings import Settings

SIGN = "/cds-services/blinatumomab-order-sign"


@contextlib.contextmanager
def patched(target: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


class _Everything(set[str]):
    def __contains__(self, item: object) -> bool:
        return True


class EagerObservations(ChartObservations):
    """Every observation of the chart validated up front, as before validation on read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for _, index, raw, _ in self._entries:
            self._fact(index, raw)


@contextlib.contextmanager
def no_selection() -> Iterator[None]:
    """Validate every resource of the patient's chart: no selection, no validation on read."""
    with (
        patched(snapshot, "ChartObservations", EagerObservations),
        patched(selection, "select_coded", lambda raws, field, knowledge: list(raws)),
        patched(selection, "select_orders", lambda raws, knowledge: list(raws)),
        patched(selection, "referenced_medications", lambda raws: _Everything()),
    ):
        yield


@contextlib.contextmanager
def deep_copy() -> Iterator[None]:
    with patched(parsing, "needs_repair", lambda raw: True):
        yield


@contextlib.contextmanager
def _fully_synchronous(engine: Any) -> Iterator[Any]:
    """A transaction on the unflushed pool's connection, switched to FULL for it and back."""
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA synchronous=FULL")
        connection.commit()
        try:
            with connection.begin():
                yield connection
        finally:
            connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
            connection.commit()


@contextlib.contextmanager
def fsync_issued_cards() -> Iterator[None]:
    with patched(feedback, "without_flush", _fully_synchronous):
        yield


@contextlib.contextmanager
def default_gc_thresholds() -> Iterator[None]:
    previous = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


VARIANTS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "as is": contextlib.nullcontext,
    "validate everything": no_selection,
    "deep copy": deep_copy,
    "fsync issued cards": fsync_issued_cards,
    "default GC thresholds": default_gc_thresholds,
}


def measure(client: Any, request: dict[str, Any], calls: int) -> dict[str, tuple[float, float]]:
    """Median CPU and wall ms per call of each variant. The variants take turns call by call, so
    that a machine that slows down or speeds up meanwhile weighs on all of them alike."""
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    wall: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for index in range(calls + 3):  # the first three rounds warm up
        for name, switch in VARIANTS.items():
            body = json.dumps(request | {"hookInstance": str(uuid.uuid4())})
            with switch():
                began_cpu, began = time.process_time(), time.perf_counter()
                answer = client.post(SIGN, data=body, content_type="application/json")
                spent_cpu, spent = time.process_time() - began_cpu, time.perf_counter() - began
            assert answer.status_code == 200, answer.data[:300]
            if index >= 3:
                cpu[name].append(spent_cpu * 1000)
                wall[name].append(spent * 1000)
    return {name: (statistics.median(cpu[name]), statistics.median(wall[name])) for name in cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    requests = {"(a) typical": charts.typical(), "(b) long": charts.long()}
    with tempfile.TemporaryDirectory() as directory:
        app = create_app(Settings(dev_mode=True, database_url=f"sqlite:///{directory}/db.sqlite3"))
        settle_heap()  # as `cds.server.serve` does before forking the workers
        client = app.test_client()
        figures = {name: measure(client, request, args.calls) for name, request in requests.items()}
    print(f"{'variant':<22}" + "".join(f"{name + ' cpu/wall ms':>28}" for name in requests))
    for variant in VARIANTS:
        cells = [f"{figures[name][variant][0]:>19.1f} / {figures[name][variant][1]:>5.1f}"
                 for name in requests]  # fmt: skip
        print(f"{variant:<22}" + "".join(cells))


if __name__ == "__main__":
    main()
