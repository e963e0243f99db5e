"""What the per-worker caches hold in memory, measured (not estimated).

    .venv/bin/python -m bench.cache_memory [--entries 4096]
    .venv/bin/python -m bench.cache_memory --snapshots 64 [--chart typical|long]

Fills a `ValidationCache` of `--entries` with distinct resources of the long chart
(`bench.charts.long`, resent with new ids until the cache is full, as a worker serving many
patients would see), and prints the Python heap it retains (tracemalloc) and the process's RSS
growth, in all and per entry, and what a hit and a miss cost in CPU.

With --snapshots N: reads N different patients' charts (`--chart`, new ids each) through the
engine into its snapshot memo (`cds.fhir.snapshot_memo`), with the resource cache off so that
only the memo holds anything, and prints the heap the memo retains per chart (its snapshots keep
the facts and the request's raw observations they read lazily: the parsed requests are dropped),
and the CPU of parsing and reading a request, new and again.
"""

from __future__ import annotations

import argparse
import copy
import gc
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench import charts
from bench.run import _chart_resources
from cds.fhir import parsing


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def distinct_resources(count: int) -> list[dict[str, Any]]:
    chart = [r for r in _chart_resources(charts.long()) if r.get("resourceType") in parsing.MODELS]
    found: list[dict[str, Any]] = []
    round_ = 0
    while len(found) < count:
        for raw in chart:
            copied = copy.deepcopy(raw)
            copied["id"] = f"{raw.get('id')}-{round_}"
            found.append(copied)
        round_ += 1
    return found[:count]


def snapshot_memory(count: int, chart: str) -> None:
    import orjson

    from bench.run import SIGN, body_factory
    from cds import create_app
    from cds.settings import Settings

    request = charts.long() if chart == "long" else charts.typical()
    settings = Settings(dev_mode=True, resource_cache_entries=0, snapshot_cache_entries=count)
    engine = create_app(settings).extensions["cds.engine"]
    service = SIGN.rsplit("/", 1)[1]
    make_body = body_factory(request, new_patient=True)
    bodies = [make_body() for _ in range(count)]
    gc.collect()
    tracemalloc.start()
    began = time.process_time()
    for body in bodies:  # the parsed request is dropped after each call, as a worker does
        engine.read(engine.parse(service, orjson.loads(body)), fetch=False)
    new_ms = (time.process_time() - began) * 1000 / count
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    began = time.process_time()
    for body in bodies:
        engine.read(engine.parse(service, orjson.loads(body)), fetch=False)
    again_ms = (time.process_time() - began) * 1000 / count
    assert engine.snapshots.hits == count and len(engine.snapshots) == count
    print(f"{count} {chart} charts in the snapshot memo: heap retained {held / 2**20:.1f} MB"
          f" ({held / count / 1024:.0f} KB a chart)")  # fmt: skip
    print(f"CPU per request parsed and read: new chart {new_ms:.2f} ms (under tracemalloc), "
          f"chart seen before {again_ms:.2f} ms (resource cache off)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=4096)
    parser.add_argument("--snapshots", type=int, help="measure the snapshot memo instead")
    parser.add_argument("--chart", choices=("typical", "long"), default="typical")
    args = parser.parse_args()
    if args.snapshots:
        snapshot_memory(args.snapshots, args.chart)
        return
    parsing.warm_up()
    resources = distinct_resources(args.entries)
    parsing.configure_cache(args.entries)
    gc.collect()
    rss_before = rss_mb()
    tracemalloc.start()
    began = time.process_time()
    for raw in resources:
        parsing.validate(raw, "bench")
    miss_ms = (time.process_time() - began) * 1000 / len(resources)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rss_after = rss_mb()
    began = time.process_time()
    for raw in resources:
        parsing.validate(raw, "bench")
    hit_ms = (time.process_time() - began) * 1000 / len(resources)
    assert len(parsing.CACHE) == args.entries and parsing.CACHE.hits == args.entries
    mb = held / 2**20
    print(f"{args.entries} entries: heap retained {mb:.1f} MB ({held / args.entries / 1024:.1f} KB"
          f" an entry), RSS +{rss_after - rss_before:.1f} MB")  # fmt: skip
    print(f"CPU per resource: miss (validate + key) {miss_ms:.3f} ms (under tracemalloc), "
          f"hit (key + lookup) {hit_ms:.3f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
