"""What each optimisation buys, in-process: CPU and wall time per call with each one undone.

    .venv/bin/python -m bench.ablation [--calls 40]

Runs the app's test client (open development mode, SQLite file) on the benchmark's typical and
long charts, first as it is, then with one optimisation switched back to its former behaviour:
- "validate everything": no selection before validation (`cds.fhir.selection`) and every
  observation validated up front, not when a check reads it (`cds.fhir.observations`);
- "deep copy": every resource deep-copied before validation, as `normalise` did;
- "fsync issued cards": issued-card records committed with synchronous=FULL;
- "default GC thresholds": Python's (700, 10, 10) instead of `cds.server.GC_THRESHOLDS`.
CPU time (process_time) is less sensitive to other load on the machine than wall time.
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

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
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
def fsync_issued_cards() -> Iterator[None]:
    with patched(feedback, "without_flush", lambda engine: engine.begin()):
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
    "as is (again)": contextlib.nullcontext,  # the first variant also pays a fresh process's costs
}


def measure(client: Any, request: dict[str, Any], calls: int) -> tuple[float, float]:
    bodies = [json.dumps(request | {"hookInstance": str(uuid.uuid4())}) for _ in range(calls)]
    for body in bodies[:3]:
        assert client.post(SIGN, data=body, content_type="application/json").status_code == 200
    cpu, wall = [], []
    for body in bodies:
        began_cpu, began = time.process_time(), time.perf_counter()
        client.post(SIGN, data=body, content_type="application/json")
        cpu.append((time.process_time() - began_cpu) * 1000)
        wall.append((time.perf_counter() - began) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    requests = {"(a) typical": charts.typical(), "(b) long": charts.long()}
    with tempfile.TemporaryDirectory() as directory:
        app = create_app(Settings(dev_mode=True, database_url=f"sqlite:///{directory}/db.sqlite3"))
        settle_heap()  # as `cds.server.serve` does before forking the workers
        client = app.test_client()
        print(f"{'variant':<22}" + "".join(f"{name + ' cpu/wall ms':>28}" for name in requests))
        for variant, switch in VARIANTS.items():
            cells = []
            for request in requests.values():
                with switch():
                    cpu, wall = measure(client, request, args.calls)
                cells.append(f"{cpu:>19.1f} / {wall:>5.1f}")
            print(f"{variant:<22}" + "".join(cells))


if __name__ == "__main__":
    main()
