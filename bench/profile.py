"""Profile one scenario in-process (no HTTP, no gunicorn): where does a call's time go?

    .venv/bin/python -m bench.profile [a|b] [--calls 50] [--top 30]

Runs the app's test client on the benchmark's chart under cProfile (open development mode: the
JWT path is measured by `bench.run`, not here) and prints the functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
import uuid

from bench import charts
from cds import create_app
from cds.server import settle_heap
from cds.settings import Settings

SIGN = "/cds-services/blinatumomab-order-sign"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=("a", "b"), nargs="?", default="a")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative", help="pstats order (tottime, ...)")
    args = parser.parse_args()
    request = charts.typical() if args.scenario == "a" else charts.long()
    with tempfile.TemporaryDirectory() as directory:
        app = create_app(Settings(dev_mode=True, database_url=f"sqlite:///{directory}/db.sqlite3"))
        settle_heap()  # as `cds.server.serve` does before forking the workers
        client = app.test_client()
        bodies = [
            json.dumps(request | {"hookInstance": str(uuid.uuid4())}) for _ in range(args.calls)
        ]
        for body in bodies[:3]:
            assert client.post(SIGN, data=body, content_type="application/json").status_code == 200
        times = []
        for body in bodies:
            began = time.perf_counter()
            client.post(SIGN, data=body, content_type="application/json")
            times.append((time.perf_counter() - began) * 1000)
        times.sort()
        print(f"unprofiled: median {times[len(times) // 2]:.1f} ms, min {times[0]:.1f} ms per call")
        profiler = cProfile.Profile()
        began = time.perf_counter()
        profiler.enable()
        for body in bodies:
            client.post(SIGN, data=body, content_type="application/json")
        profiler.disable()
        elapsed = (time.perf_counter() - began) / len(bodies) * 1000
    print(f"{elapsed:.1f} ms per call (profiled)")
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
