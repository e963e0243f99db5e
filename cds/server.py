"""Production WSGI serving: gunicorn's master (pre-fork workers, signals, restarts) with waitress
reading the connections inside each worker, started from Python so that `python -m cds serve` and
the Docker image start the service the same way.

Why waitress inside the workers: gunicorn's threaded worker hands a connection to a thread as soon
as its first bytes arrive, and the thread then waits for the rest; a few dozen clients trickling
their headers or a chunked body one byte at a time held every thread and valid calls timed out
(issue 16). Waitress's event loop buffers each request, headers and body, and only a complete
request takes one of the worker's threads; a slow client costs an open socket, not a thread.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.config import KNOWN_SETTINGS
from gunicorn.workers.base import Worker

from cds import DEV_MODE_BANNER

GC_THRESHOLDS = (50_000, 20, 20)
METRICS_DIRECTORY_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess mode

# Per worker: open connections (each one an idle socket while its request trickles in; above this
# the worker stops accepting until some close) and seconds of silence before one is closed.
CONNECTION_LIMIT = 500
IDLE_CONNECTION_SECONDS = 30
# A worker that already holds busy connections (a request in the last ACTIVE_SECONDS) waits this
# long per connection (at most ACCEPT_DEFER_MAX) before accepting a new one, so that a worker
# holding fewer takes it first. Twice the GIL's switch interval (5 ms): a busy worker's event loop
# waits up to that long for the GIL, and at 2 ms a connection one worker lost the race about one
# time in fifteen (4 of 60 concurrency-4 starts split 3+1, 0 of 160 at 10 ms: `bench.spread`).
ACCEPT_DEFER_PER_CONNECTION = 0.010
ACCEPT_DEFER_MAX = 0.040
ACTIVE_SECONDS = 1.0


class DeferredAccept:
    """Spreads connections between the workers that share one listening socket.

    Every worker polls the same socket and the first to call accept() gets the connection. With
    keep-alive clients that arrive together, one worker took three of four connections (`bench.run`
    printed "3+1" in most runs): it then served three callers on one core while the other core
    served one, and p99 was 4-9x p50. Here a worker holding n open connections lets
    n x ACCEPT_DEFER_PER_CONNECTION pass before its accept, so the worker holding fewer takes the
    connection; if nobody has taken it by then, it accepts it itself. No state is shared between
    the workers: each only counts its own connections.
    """

    WINDOW = 0.05  # after its delay, a worker accepts at once for this long

    def __init__(self, listener: Any, open_connections: Callable[[], int]) -> None:
        self._listener = listener
        self._open = open_connections
        self._readable = listener.readable
        self._accept = listener.handle_accept
        self.accept_at = 0.0  # monotonic time from which this worker accepts; 0: no delay pending
        listener.readable = self.readable
        listener.handle_accept = self.handle_accept

    def readable(self) -> bool:
        return bool(self._readable()) and time.monotonic() >= self.accept_at

    def handle_accept(self) -> None:
        now = time.monotonic()
        if not self.accept_at <= now < self.accept_at + self.WINDOW:
            delay = min(self._open() * ACCEPT_DEFER_PER_CONNECTION, ACCEPT_DEFER_MAX)
            if delay > 0:
                self.accept_at = now + delay
                return
        self.accept_at = 0.0
        self._accept()

    def wait(self) -> float | None:
        """Seconds until this listener wants to be polled again (None: nothing pending)."""
        remaining = self.accept_at - time.monotonic()
        return remaining if remaining > 0 else None


def _json_error_channel(app: Flask) -> type[Any]:
    """waitress's channel, answering the requests it refuses itself (body too large, malformed
    headers, ambiguous framing) with the same OperationOutcome JSON as the service, not
    waitress's plain text, closing the connection after each such answer, and writing the audit
    line of `app`'s view the request was for (`cds.web.audit.refused_by_server`)."""
    import json

    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser, ParsingError
    from waitress.task import ErrorTask

    from cds.web.audit import refused_by_server
    from cds.web.errors import HTTP_ISSUE_CODES, operation_outcome

    class FramingParser(HTTPRequestParser):
        """Refuses a request that has both Content-Length and Transfer-Encoding, or
        Transfer-Encoding in HTTP/1.0 (RFC 9112 6.1: a front end that framed it by the other
        header, or de-chunked it, would have sent the rest as a second request on this
        connection). The WSGI app cannot tell: waitress drops the
        Transfer-Encoding header and overwrites CONTENT_LENGTH with the de-chunked length.
        A 400, then the connection is closed (what waitress does after every error it answers);
        any bytes already received after it are dropped unanswered."""

        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            if "CONTENT_LENGTH" in self.headers and (
                self.chunked or "TRANSFER_ENCODING" in self.headers  # HTTP/1.0 keeps it
            ):
                raise ParsingError("both Content-Length and Transfer-Encoding are given")
            if self.version == "1.0" and "TRANSFER_ENCODING" in self.headers:
                # waitress reads no chunks in HTTP/1.0: the body would be parsed as requests
                raise ParsingError("Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1)")

    class JsonErrorTask(ErrorTask):
        def execute(self) -> None:
            error: Any = getattr(self.request, "error", None) or self.request
            code = HTTP_ISSUE_CODES.get(error.code, "structure")
            body = json.dumps(operation_outcome(f"{error.reason}: {error.body}", code)).encode()
            self.status = f"{error.code} {error.reason}"
            self.response_headers = [("Content-Type", "application/json")]
            # closed whatever the request asked: no `Connection: Keep-Alive` beside the `close`
            # (waitress adds one for an HTTP/1.0 keep-alive request)
            headers = getattr(self.request, "headers", None)
            if isinstance(headers, dict):
                headers.pop("CONNECTION", None)
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)
            _count_refusal(error.code)
            refused_by_server(
                app,
                getattr(self.request, "command", None),
                getattr(self.request, "path", None),
                error.code,
                f"{error.reason}: {error.body}",
            )

    class JsonErrorChannel(HTTPChannel):
        error_task_class = JsonErrorTask
        parser_class = FramingParser

    return JsonErrorChannel


def _count_refusal(status: int) -> None:
    """A request waitress answered before the app saw it (413 above the body limit, 400 for a
    malformed request line) is an answered request too: counted under endpoint `server`. (Audited
    by `refused_by_server` when it was for an audited view.)"""
    if os.environ.get(METRICS_DIRECTORY_ENV):  # metrics on (`python -m cds serve` sets it)
        from cds.web.metrics import count_answer

        count_answer("server", "", status, None)


class BufferingWorker(Worker):  # type: ignore[misc]
    """A gunicorn worker whose connections are read by waitress's event loop: a request reaches
    one of the `threads` only once its headers and body are complete (bodies above
    MAX_CONTENT_LENGTH are refused with a 413 OperationOutcome before they are read)."""

    def run(self) -> None:
        from waitress import wasyncore
        from waitress.channel import HTTPChannel
        from waitress.server import BaseWSGIServer, create_server

        logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a queue is normal under load
        socket_map: dict[int, Any] = {}
        server = create_server(
            self.wsgi,
            map=socket_map,
            sockets=[listener.sock for listener in self.sockets],
            threads=self.cfg.threads,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=IDLE_CONNECTION_SECONDS,
            max_request_body_size=self.app.max_request_body_size,
            ident="",
            expose_tracebacks=False,
        )
        listeners = [d for d in socket_map.values() if isinstance(d, BaseWSGIServer)]
        channel = _json_error_channel(self.wsgi)
        for listener in listeners:
            listener.channel_class = channel
        deferred = [
            DeferredAccept(listener, lambda: _active_connections(socket_map, HTTPChannel))
            for listener in listeners
        ]
        while self.alive and self.ppid == os.getppid():
            self.notify()
            waits = [w for d in deferred if (w := d.wait()) is not None]
            timeout = min([1.0, *waits])
            wasyncore.loop(timeout=timeout, map=socket_map, use_poll=True, count=1)
        # SIGTERM: stop accepting, let the calls in flight finish and be written, then leave
        for listener in listeners:
            listener.accepting = False
            if listener.socket is not None:
                socket_map.pop(listener.socket.fileno(), None)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while time.monotonic() < deadline and any(
            getattr(d, "requests", None) or getattr(d, "total_outbufs_len", 0)
            for d in list(socket_map.values())
        ):
            self.notify()
            wasyncore.loop(timeout=0.1, map=socket_map, use_poll=True, count=1)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        wasyncore.close_all(socket_map)


def _active_connections(socket_map: dict[int, Any], channel: type[Any]) -> int:
    """Connections that carried a request in the last ACTIVE_SECONDS: an idle keep-alive one
    (an EHR that opens one per call and leaves it) is no load, and must not delay accepts."""
    since = time.time() - ACTIVE_SECONDS
    return sum(isinstance(d, channel) and d.last_activity >= since for d in socket_map.values())


class GunicornServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        self.max_request_body_size = int(app.config.get("MAX_CONTENT_LENGTH") or 5_000_000)
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
        "worker_class": BufferingWorker,
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

    The preloaded app (knowledge, pydantic models, unit registry) lives as long as the
    process: frozen, a full collection no longer walks it in every worker, and the workers'
    copy-on-write memory stays shared with the master's. A long chart's request body alone is
    ~12,700 dicts and lists: at Python's default thresholds (700, 10, 10) a long call set off ~18
    young collections, ~1.6 of the middle generation and a full one every ~6 calls, each walking
    what of the body was alive (`bench.ablation`: 2.6 ms a long call, 0.9 ms a typical one). At
    GC_THRESHOLDS a call's own garbage is freed by reference counting before a collection is due;
    cycles are still collected, a few MB later. No collection first (as the `gc` documentation
    advises for a fork): the ~85 objects in garbage cycles that building the app leaves (no
    connection or file among them) are not worth the 0.05-0.065 s a collection over the whole
    start-up heap takes.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()  # `python -m cds serve` kept it off while it started


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
