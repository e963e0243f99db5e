"""How evenly the two workers share keep-alive connections, counted over many starts.

    .venv/bin/python -m bench.spread [--starts 60] [--scenario d|a|n]

Starts the service as `bench.run` does (production mode, 2 workers, RS384 JWT), then, --starts
times: one call on a connection of its own (as `bench.run`'s concurrency-1 phase before), then 240
calls from 4 keep-alive connections, and halfway through counts each worker's connections
("2+2", "3+1"). A 3+1 split serves three callers on one core: the phase's throughput and tail
suffer (issue 17, item 3). Prints how many starts gave each split.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from pathlib import Path

from bench import charts
from bench.run import (
    PUBLIC_BASE_URL,
    SIGN,
    Signer,
    body_factory,
    drive,
    free_port,
    serve_command,
    service_env,
    start,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=60)
    parser.add_argument("--scenario", choices=("a", "d", "n"), default="d")
    args = parser.parse_args()
    request = charts.non_blinatumomab() if args.scenario == "n" else charts.typical()
    make_body = body_factory(request, new_patient=args.scenario == "d")
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        signer = Signer(folder, "RS384")
        port = free_port()
        audience = PUBLIC_BASE_URL + SIGN
        server = start(
            "service",
            serve_command(port),
            port,
            service_env(folder / "db.sqlite3", signer),
            folder / "serve.log",
            lambda: (make_body(), signer.tokens(audience, 1)[0]),
        )
        splits: collections.Counter[str] = collections.Counter()

        def tokens(count: int) -> list[str | None]:
            return [*signer.tokens(audience, count)]

        try:
            for _ in range(args.starts):
                drive(port, make_body, tokens(20), 1)
                phase = drive(port, make_body, tokens(240), 4, split=server.connections_per_worker)
                splits[phase.split] += 1
        finally:
            server.stop()
    print(f"({args.scenario}) {args.starts} starts of 4 connections:", dict(splits))


if __name__ == "__main__":
    main()
