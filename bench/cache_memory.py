"""What the per-worker memos hold in memory, measured (not estimated).

    .venv/bin/python -m bench.cache_memory --snapshots 64 [--chart typical|long]
    .venv/bin/python -m bench.cache_memory --answers 64 [--chart typical|long]

--snapshots N: reads N different patients' charts (`--chart`, new ids each) through the engine
into its snapshot memo (`cds.fhir.snapshot_memo`), and prints the heap the memo retains per chart
(its snapshots keep the facts and the request's raw observations they read lazily: the parsed
requests are dropped), and the CPU of parsing and reading a request, new and again.

--answers N: answers N different patients' calls through the engine into its answer memo
(`cds.answer_memo`), with the snapshot memo off, and prints the heap the memo retains per call.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from typing import Any

import orjson

from bench import charts
from bench.run import SIGN, body_factory
from cds import create_app
from cds.answer_memo import call_key
from cds.services import Engine
from cds.settings import Settings
from cds.web.bodies import envelope_without_prefetch

SERVICE = SIGN.rsplit("/", 1)[1]


def _engine_and_bodies(count: int, chart: str, **settings: Any) -> tuple[Engine, list[bytes]]:
    """An engine in open development mode, and `count` calls of different patients."""
    request = charts.long() if chart == "long" else charts.typical()
    engine: Engine = create_app(Settings(dev_mode=True, **settings)).extensions["cds.engine"]
    make_body = body_factory(request, new_patient=True)
    return engine, [make_body() for _ in range(count)]


def snapshot_memory(count: int, chart: str) -> None:
    engine, bodies = _engine_and_bodies(count, chart, snapshot_cache_entries=count)
    gc.collect()
    tracemalloc.start()
    began = time.process_time()
    for body in bodies:  # the parsed request is dropped after each call, as a worker does
        engine.read(engine.parse(SERVICE, orjson.loads(body)), fetch=False)
    new_ms = (time.process_time() - began) * 1000 / count
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    began = time.process_time()
    for body in bodies:
        engine.read(engine.parse(SERVICE, orjson.loads(body)), fetch=False)
    again_ms = (time.process_time() - began) * 1000 / count
    assert engine.snapshots.hits == count and len(engine.snapshots) == count
    print(f"{count} {chart} charts in the snapshot memo: heap retained {held / 2**20:.1f} MB"
          f" ({held / count / 1024:.0f} KB a chart)")  # fmt: skip
    print(f"CPU per request parsed and read: new chart {new_ms:.2f} ms (under tracemalloc), "
          f"chart seen before {again_ms:.2f} ms")  # fmt: skip


def answer_memory(count: int, chart: str) -> None:
    engine, bodies = _engine_and_bodies(
        count, chart, snapshot_cache_entries=0, answer_memo_entries=count
    )
    gc.collect()
    tracemalloc.start()
    for body in bodies:
        read = envelope_without_prefetch(body)
        assert read is not None
        engine.handle(SERVICE, orjson.loads(body), key=call_key(SERVICE, read.members))
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert engine.answers.misses == count and len(engine.answers) == count
    print(f"{count} {chart} calls in the answer memo: heap retained {held / 2**20:.2f} MB"
          f" ({held / count / 1024:.1f} KB a call)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--snapshots", type=int, help="measure the snapshot memo")
    parser.add_argument("--answers", type=int, help="measure the answer memo")
    parser.add_argument("--chart", choices=("typical", "long"), default="typical")
    args = parser.parse_args()
    if args.snapshots:
        snapshot_memory(args.snapshots, args.chart)
    if args.answers:
        answer_memory(args.answers, args.chart)
    if not (args.snapshots or args.answers):
        parser.error("say --snapshots N or --answers N")


if __name__ == "__main__":
    main()
