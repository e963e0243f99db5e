"""Profile one scenario in-process (no HTTP, no gunicorn): where does a call's time go?

    .venv/bin/python -m bench.profile [a|b|d|n] [--calls 50] [--top 30] [--jwt [--alg RS384]]

Runs the app's test client on the benchmark's chart under cProfile (open development mode, or
with --jwt production mode with a fresh ES384 token per call, as `bench.run` sends; RS384 with
--alg RS384) and prints the functions by cumulative time, after the unprofiled median wall and
CPU time of a call. (n) is the non-blinatumomab order (the fast path), (d) the typical chart of a
new patient every call.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import charts
from bench.run import ISSUER, PUBLIC_BASE_URL, Signer, body_factory
from cds import create_app
from cds.server import settle_heap
from cds.settings import Settings

SIGN = "/cds-services/blinatumomab-order-sign"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=("a", "b", "d", "n"), nargs="?", default="a")
    parser.add_argument("--jwt", action="store_true", help="production mode: verify a JWT")
    parser.add_argument("--alg", choices=Signer.ALGORITHMS, default="ES384", help="with --jwt")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative", help="pstats order (tottime, ...)")
    args = parser.parse_args()
    charts_of = {"a": charts.typical, "b": charts.long, "d": charts.typical}
    request = charts_of.get(args.scenario, charts.non_blinatumomab)()
    with tempfile.TemporaryDirectory() as directory:
        database = f"sqlite:///{directory}/db.sqlite3"
        headers: Callable[[], dict[str, str]] = dict
        if args.jwt:
            signer = Signer(Path(directory), args.alg)
            settings = Settings(
                database_url=database,
                trusted_issuers={ISSUER: str(signer.jwks_path)},
                public_base_url=PUBLIC_BASE_URL,
            )
            tokens = iter(signer.tokens(PUBLIC_BASE_URL + SIGN, 2 * args.calls + 3))
            headers = lambda: {"Authorization": f"Bearer {next(tokens)}"}  # noqa: E731
        else:
            settings = Settings(dev_mode=True, database_url=database)
        app = create_app(settings)
        settle_heap()  # as `cds.server.serve` does before forking the workers
        client = app.test_client()
        make_body = body_factory(request, new_patient=args.scenario == "d")
        for body in [make_body() for _ in range(3)]:
            answer = client.post(
                SIGN, data=body, content_type="application/json", headers=headers()
            )
            assert answer.status_code == 200, answer.get_data(as_text=True)
        times, cpu = [], []
        for body in [make_body() for _ in range(args.calls)]:
            began, began_cpu = time.perf_counter(), time.process_time()
            client.post(SIGN, data=body, content_type="application/json", headers=headers())
            cpu.append((time.process_time() - began_cpu) * 1000)
            times.append((time.perf_counter() - began) * 1000)
        times.sort()
        cpu.sort()
        print(
            f"unprofiled: median {times[len(times) // 2]:.2f} ms, min {times[0]:.2f} ms per call;"
            f" CPU median {cpu[len(cpu) // 2]:.2f} ms"
        )
        profiler = cProfile.Profile()
        began = time.perf_counter()
        profiler.enable()
        bodies = [make_body() for _ in range(args.calls)]  # (d): patients not seen above
        for body in bodies:
            client.post(SIGN, data=body, content_type="application/json", headers=headers())
        profiler.disable()
        elapsed = (time.perf_counter() - began) / len(bodies) * 1000
    print(f"{elapsed:.1f} ms per call (profiled)")
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
