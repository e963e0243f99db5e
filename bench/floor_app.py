"""The floor: a bare Flask endpoint that parses the same request JSON and answers `{"cards": []}`,
served by the service's own gunicorn configuration (`cds.server.serve`), so that the benchmark's
ratio service/floor measures the service's work, not the WSGI server's.

    python -m bench.floor_app --port P [--workers 2]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import orjson
from flask import Flask, Response, request


def create_floor_app() -> Flask:
    app = Flask(__name__)

    @app.post("/cds-services/<service_id>")
    def call(service_id: str) -> Response:
        body = orjson.loads(request.get_data(cache=False))  # as the service parses it
        answer: dict[str, list[Any] | None] = {"cards": [] if isinstance(body, dict) else None}
        return Response(json.dumps(answer), mimetype="application/json")

    return app


def main() -> None:
    from cds.server import serve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    serve(create_floor_app(), args.host, args.port, args.workers, dev_mode=False)


if __name__ == "__main__":
    main()
