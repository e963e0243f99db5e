"""Production WSGI serving with gunicorn (pre-fork workers, threads), started from Python so that
`python -m cds serve` and the Docker image start the service the same way."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.config import KNOWN_SETTINGS

from cds import DEV_MODE_BANNER

GC_THRESHOLDS = (50_000, 20, 20)
METRICS_DIRECTORY_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess mode


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
    if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS):
        # gunicorn >= 25.1 opens a control socket at one fixed per-user path: a second server on
        # the same machine (the benchmark's floor, a second instance) would clash with it, and
        # the service needs no runtime management beyond signals.
        options["control_socket_disable"] = True
    if os.path.isdir("/dev/shm"):
        # each worker's heartbeat touches a file several times a call: on tmpfs, not on a disk
        # or an image's overlay filesystem (gunicorn's advice for containers)
        options["worker_tmp_dir"] = "/dev/shm"
    if dev_mode:
        options["post_worker_init"] = _announce_dev_mode
    if os.environ.get(METRICS_DIRECTORY_ENV):
        from cds.web.metrics import forget_worker

        options["child_exit"] = forget_worker
    settle_heap()
    GunicornServer(app, options).run()


def settle_heap() -> None:
    """Before the fork: keep the collector off the preloaded objects, and off each request body.

    The preloaded app (knowledge, fhir.resources classes, unit registry) lives as long as the
    process: frozen, a full collection no longer walks it in every worker, and the workers'
    copy-on-write memory stays shared with the master's. A long chart's request body alone is
    ~12,700 dicts and lists: at Python's default thresholds (700, 10, 10) a long call set off ~18
    young collections, ~1.6 of the middle generation and a full one every ~6 calls, each walking
    what of the body was alive (`bench.ablation`: 2.6 ms a long call, 0.9 ms a typical one). At
    GC_THRESHOLDS a call's own garbage is freed by reference counting before a collection is due;
    cycles are still collected, a few MB later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@contextmanager
def metrics_directory() -> Iterator[str | None]:
    """A fresh PROMETHEUS_MULTIPROC_DIR for one `serve` (the library wants it empty at start),
    removed when the server stops. Gunicorn workers leave through the master's stack (their
    SystemExit unwinds the forked copy of it): only the process that made it removes it."""
    if "prometheus_client" in sys.modules:  # it chose its storage when first imported
        logging.getLogger(__name__).error(
            "prometheus_client was imported before serve set up its metrics directory: "
            "each worker will answer /metrics with its own counts only"
        )
        yield None
        return
    owner = os.getpid()
    path = tempfile.mkdtemp(prefix="cds-metrics-")
    os.environ[METRICS_DIRECTORY_ENV] = path
    try:
        yield path
    finally:
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)
            os.environ.pop(METRICS_DIRECTORY_ENV, None)
