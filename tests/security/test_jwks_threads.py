"""JWKS URLs that hang or trickle take at most a few of a worker's threads, in all: a per-worker
cap on fetching and waiting calls over every URL (an issuer's JWKS, the `jku` URLs it may name,
other issuers'), and a fetch that must have its whole answer within JWKS_FETCH_TIMEOUT_SECONDS
(a timeout per read let a server sending a byte every few seconds hold the thread for good).
Refused calls are the bare 401. Completion is awaited on events and futures, never on the clock.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path

import pytest
from flask import Flask

import cds.web.auth
from cds import create_app
from cds.web.auth import JWKS_MAX_FETCHES, JWKS_MAX_WAITING_CALLS
from tests.api.test_auth import BASE, token
from tests.conftest import NOW
from tests.security.test_jwks_keys import (
    KEY_A,
    KEY_B,
    URL_ISSUER,
    JwksServer,
    _wait_for_fetches,
    call,
)

HANGING_ISSUER = "https://ehr-hanging.example.org"
OTHER_HANGING_ISSUER = "https://ehr-hanging-too.example.org"


class TrickleServer:
    """Accepts a GET and answers its status line and one endless header a byte at a time, each
    byte well within any read timeout, until the client goes (`gone` is set) or `stop()`."""

    def __init__(self) -> None:
        self.gone = threading.Event()
        self._stop = threading.Event()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/jwks.json"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with self._socket:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
        with connection:
            connection.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 60_000
            try:
                for byte in answer:
                    if self._stop.wait(0.05):
                        return
                    connection.sendall(bytes([byte]))
            except OSError:
                self.gone.set()

    def stop(self) -> None:
        self._stop.set()
        self._socket.close()


@pytest.fixture
def hanging() -> Iterator[list[JwksServer]]:
    servers = [JwksServer() for _ in range(3)]
    yield servers
    for server in servers:
        server.close()


@pytest.fixture
def good() -> Iterator[JwksServer]:
    server = JwksServer()
    server.publish((KEY_B, "key-b"))
    yield server
    server.close()


@pytest.fixture
def trickle() -> Iterator[TrickleServer]:
    server = TrickleServer()
    yield server
    server.stop()


def _app(tmp_path: Path, trusted: dict[str, object]) -> Flask:
    from cds.settings import Settings

    settings = Settings(
        dev_mode=False,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        trusted_issuers=trusted,
        public_base_url=BASE,
    )
    return create_app(settings, clock=lambda: NOW)


def test_hanging_jwks_urls_hold_at_most_the_workers_few_threads_over_all_urls(
    tmp_path: Path,
    hanging: list[JwksServer],
    good: JwksServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three hanging URLs (an issuer's JWKS, a `jku` it may name, another issuer's JWKS), three
    calls naming each: JWKS_MAX_FETCHES fetches start and JWKS_MAX_WAITING_CALLS calls wait, in
    all; every other call is refused at once (each URL had its own fetch and two waiting calls:
    all nine held a thread). A call verified with keys in hand is still answered."""
    monkeypatch.setattr(cds.web.auth, "JWKS_FETCH_TIMEOUT_SECONDS", 60.0)
    first, jku, other = hanging
    for server in hanging:
        server.publish((KEY_A, "key-a"))
        server.hanging = True
    app = _app(
        tmp_path,
        {
            HANGING_ISSUER: {"jwks": first.url, "jku": [jku.url]},
            OTHER_HANGING_ISSUER: other.url,
            URL_ISSUER: good.url,
        },
    )
    assert call(app, token(key=KEY_B, alg="RS384", kid="key-b", iss=URL_ISSUER)) == 200
    tokens = [  # three each (a jti is single-use)
        token(key=KEY_A, alg="RS384", kid="key-a", iss=issuer, extra_headers=headers)
        for _ in range(3)
        for issuer, headers in [
            (HANGING_ISSUER, None),
            (HANGING_ISSUER, {"jku": jku.url}),
            (OTHER_HANGING_ISSUER, None),
        ]
    ]
    held = JWKS_MAX_FETCHES + JWKS_MAX_WAITING_CALLS
    with ThreadPoolExecutor(9) as pool:
        calls: list[Future[int]] = [pool.submit(call, app, t) for t in tokens]
        refused = []
        for done in as_completed(calls, timeout=30):  # the hanging fetches end only on release
            refused.append(done.result())
            if len(refused) == len(calls) - held:
                break
        assert refused == [401] * (len(calls) - held)
        _wait_for_total_fetches(hanging, JWKS_MAX_FETCHES)
        assert sum(not c.done() for c in calls) == held, "the fetching and the waiting calls"
        assert call(app, token(key=KEY_B, alg="RS384", kid="key-b", iss=URL_ISSUER)) == 200
        for server in hanging:
            server.release()
        assert sorted(c.result(timeout=30) for c in calls).count(200) == held
    assert sum(s.fetches for s in hanging) == JWKS_MAX_FETCHES


def _wait_for_total_fetches(servers: list[JwksServer], count: int) -> None:
    """The fetches under way have reached their servers (no more can start while they hang)."""
    _wait_for_fetches(_Total(servers), count)  # type: ignore[arg-type]


class _Total:
    def __init__(self, servers: list[JwksServer]) -> None:
        self._servers = servers

    @property
    def fetches(self) -> int:
        return sum(s.fetches for s in self._servers)


def test_a_jwks_that_trickles_its_answer_is_cut_at_the_fetch_timeout(
    tmp_path: Path, trickle: TrickleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte every 0.05 s is within any timeout per read: PyJWT's fetch never ended (the red
    team's held a thread for minutes). Now the whole answer is due within the fetch timeout."""
    monkeypatch.setattr(cds.web.auth, "JWKS_FETCH_TIMEOUT_SECONDS", 0.5)
    app = _app(tmp_path, {HANGING_ISSUER: trickle.url})
    bearer = token(key=KEY_A, alg="RS384", kid="key-a", iss=HANGING_ISSUER)
    with ThreadPoolExecutor(1) as pool:
        fetching = pool.submit(call, app, bearer)
        assert trickle.gone.wait(30), "the connection was cut while the server still sent"
        assert fetching.result(timeout=30) == 401
