"""Start-up costs: `python -m cds check FILE` wall time, and `serve`'s time to its first answer.

    .venv/bin/python -m bench.startup [--runs 10] [--file fhir-fixtures/charts/...json]

`check` is run --runs times (after one unmeasured run that writes bytecode and pint's cache, as
any second use would find them) and its wall time printed as median, min and max, as hyperfine
does. `serve` is started --runs times in production mode (2 workers, JWT verified) and timed from
Popen to the first 200 answer to a signed order-sign with a typical chart (`bench.run.start`).
Targets (issue 17, item 4): check <= 1.5 s wall, serve answering within 1 s of start.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.run import (
    PUBLIC_BASE_URL,
    ROOT,
    SIGN,
    Signer,
    body_factory,
    free_port,
    serve_command,
    service_env,
    start,
)

SAMPLE = ROOT / "fhir-fixtures" / "charts" / "adult-70kg-rr-cycle1-correct.json"


def time_check(chart: Path, runs: int, cold_cache: bool) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each run: on a shared machine the wall time
    stretches with the neighbours' load, the CPU time much less. `cold_cache`: every run with an
    empty user cache directory (a fresh container, a read-only home), where pint keeps its
    parsed unit definitions."""
    command = [sys.executable, "-m", "cds", "check", str(chart)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    walls, cpus = [], []
    for _ in range(runs):
        env = os.environ | ({"XDG_CACHE_HOME": tempfile.mkdtemp()} if cold_cache else {})
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def time_serve(runs: int, workers: int) -> list[float]:
    from bench import charts

    timings = []
    directory = Path(tempfile.mkdtemp(prefix="cds-startup-"))
    try:
        signer = Signer(directory)
        first = body_factory(charts.typical())
        for index in range(runs):
            port = free_port()
            audience = PUBLIC_BASE_URL + SIGN
            env = service_env(directory / f"cds-{index}.sqlite3", signer)

            def first_call(audience: str = audience) -> tuple[Any, str]:
                return first(), signer.tokens(audience, 1)[0]

            server = start(
                "service", serve_command(port, workers), port, env, directory / "serve.log",
                first_call,
            )  # fmt: skip
            server.stop()
            timings.append(server.cold_start)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return timings


def summary(name: str, timings: list[float], target: float) -> str:
    median = statistics.median(timings)
    verdict = "met" if median <= target else "NOT met"
    return (
        f"{name:<28} median {median:.2f} s  min {min(timings):.2f}  max {max(timings):.2f}  "
        f"({len(timings)} runs; target <= {target} s: {verdict})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--file", type=Path, default=SAMPLE, help="the chart `check` reads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cold-cache", action="store_true", help="empty user cache every run")
    parser.add_argument("--no-serve", action="store_true", help="time `check` only")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "cds", "bench"], cwd=ROOT, check=True)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    walls, cpus = time_check(args.file, args.runs, args.cold_cache)
    print(summary("check (wall)", walls, 1.5))
    print(summary("check (CPU user+sys)", cpus, 1.5))
    if not args.no_serve:
        print(summary("serve: start to 1st answer", time_serve(args.runs, args.workers), 1.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
