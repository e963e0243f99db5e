"""Production WSGI serving with gunicorn (pre-fork workers, threads), started from Python so that
`python -m cds serve` and the Docker image start the service the same way."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from cds import DEV_MODE_BANNER


class GunicornServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._app


def _announce_dev_mode(worker: Any) -> None:
    logging.getLogger("cds").warning("worker %s started%s", worker.pid, DEV_MODE_BANNER)


def serve(app: Flask, host: str, port: int, workers: int, dev_mode: bool, threads: int = 4) -> None:
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "preload_app": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
    }
    if dev_mode:
        options["post_worker_init"] = _announce_dev_mode
    GunicornServer(app, options).run()
