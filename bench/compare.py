"""Before and after: an earlier commit's service and this tree's, under the same load, interleaved.

    .venv/bin/python -m bench.compare REV [--reps 3] [--scale 1.0] [--scenarios ab] [--alg ES384]

On a shared machine the speed drifts by tens of percent within minutes (the floor app's own
figures move that much between runs), so two `bench.run` sets taken minutes apart cannot tell a
20% gain from noise. This starts both services at once, REV from a temporary git worktree and this
working tree, both as `bench.run` starts the service (production mode, a fresh ES384 JWT per
call, one SQLite file each), then runs every phase (scenario a, b, n or d as `bench.run` names them,
concurrency 1 or 4) on one and
then on the other, swapping the order each repetition, and prints the medians: requests/s, p50,
p99 and the workers' CPU ms per request (the steadiest of them), and each one's cold start.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import charts
from bench.run import (
    CONCURRENCY,
    PUBLIC_BASE_URL,
    REQUESTS,
    ROOT,
    SIGN,
    WARMUP,
    Server,
    Signer,
    body_factory,
    drive,
    free_port,
    serve_command,
    service_env,
    start,
)


def _service(name: str, root: Path, directory: Path, signer: Signer) -> tuple[Server, str]:
    subprocess.run([sys.executable, "-m", "compileall", "-q", "cds"], cwd=root, check=True)
    port = free_port()
    env = service_env(directory / f"{name}.sqlite3", signer)
    audience = PUBLIC_BASE_URL + SIGN
    first = body_factory(charts.typical())
    server = start(
        name,
        serve_command(port), port, env, directory / f"{name}.log",
        lambda: (first(), signer.tokens(audience, 1)[0]), cwd=root,
    )  # fmt: skip
    return server, audience


def compare(
    revision: str,
    reps: int,
    scale: float,
    scenarios: list[str] | None = None,
    algorithm: str = "ES384",
) -> dict[str, Any]:
    scenarios = scenarios or ["a", "b"]
    directory = Path(tempfile.mkdtemp(prefix="cds-compare-"))
    worktree = directory / "before"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(worktree), revision],
        cwd=ROOT, check=True,
    )  # fmt: skip
    servers: dict[str, tuple[Server, str]] = {}
    try:
        signer = Signer(directory, algorithm)
        servers["before"] = _service("before", worktree, directory, signer)
        servers["after"] = _service("after", ROOT, directory, signer)
        charts_of = {"a": charts.typical, "b": charts.long, "n": charts.non_blinatumomab}
        requests = {s: charts_of.get(s, charts.typical)() for s in scenarios}
        figures: dict[str, list[dict[str, float]]] = {}
        for rep in range(reps):
            order = ("before", "after") if rep % 2 == 0 else ("after", "before")
            for scenario, request in requests.items():
                bodies = body_factory(request, new_patient=scenario == "d")
                count = max(10, round(REQUESTS[scenario] * scale))
                for concurrency in CONCURRENCY:
                    for name in order:
                        server, audience = servers[name]
                        tokens: list[str | None] = list(signer.tokens(audience, count + WARMUP))
                        drive(server.port, bodies, tokens[:WARMUP], concurrency)
                        cpu_before = server.worker_cpu_seconds()
                        phase = drive(server.port, bodies, tokens[WARMUP:], concurrency)
                        cpu = (server.worker_cpu_seconds() - cpu_before) * 1000 / count
                        figures.setdefault(f"{scenario} {concurrency} {name}", []).append(
                            {"rps": phase.rps, "p50": phase.p50_ms, "p99": phase.p99_ms,
                             "cpu": cpu}
                        )  # fmt: skip
        return {
            "revision": revision,
            "reps": reps,
            "scenarios": scenarios,
            "algorithm": algorithm,
            "median": {
                key: {k: statistics.median(run[k] for run in runs) for k in runs[0]}
                for key, runs in figures.items()
            },
            "cold_start_s": {name: server.cold_start for name, (server, _) in servers.items()},
            "peak_rss_mb": {
                name: max(server.worker_peak_rss_mb(), default=0.0)
                for name, (server, _) in servers.items()
            },
        }
    finally:
        for server, _ in servers.values():
            server.stop()
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False
        )
        shutil.rmtree(directory, ignore_errors=True)


def report(result: dict[str, Any]) -> str:
    median = result["median"]
    lines = [
        f"before = {result['revision']}, after = this tree; medians of {result['reps']} "
        f"interleaved repetitions, {result['algorithm']} JWT; ms; cpu = the workers' CPU ms a "
        "request",
        f"{'scenario':<13}{'conc':>4} | {'before rps':>10}{'p50':>7}{'p99':>7}{'cpu':>6} | "
        f"{'after rps':>9}{'p50':>7}{'p99':>7}{'cpu':>6} | {'cpu after/before':>16}",
    ]
    labels = {"a": "(a) typical", "b": "(b) long", "n": "(n) other", "d": "(d) new pt"}
    for scenario in result["scenarios"]:
        label = labels[scenario]
        for concurrency in CONCURRENCY:
            b = median[f"{scenario} {concurrency} before"]
            a = median[f"{scenario} {concurrency} after"]
            lines.append(
                f"{label:<13}{concurrency:>4} | {b['rps']:>10.1f}{b['p50']:>7.1f}{b['p99']:>7.1f}"
                f"{b['cpu']:>6.1f} | {a['rps']:>9.1f}{a['p50']:>7.1f}{a['p99']:>7.1f}"
                f"{a['cpu']:>6.1f} | {a['cpu'] / b['cpu']:>16.2f}"
            )
    cold, rss = result["cold_start_s"], result["peak_rss_mb"]
    lines.append(
        f"cold start: before {cold['before']:.2f} s, after {cold['after']:.2f} s; "
        f"peak RSS per worker: before {rss['before']:.0f} MB, after {rss['after']:.0f} MB"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("revision", help="the earlier commit (any git revision)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the request counts")
    parser.add_argument("--scenarios", default="ab", help="any of a, b, n, d (as bench.run)")
    parser.add_argument("--alg", choices=Signer.ALGORITHMS, default="ES384")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    scenarios = [s for s in "abnd" if s in args.scenarios]
    result = compare(args.revision, args.reps, args.scale, scenarios, args.alg)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
