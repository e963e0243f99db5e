"""Slow clients cannot starve the service: 50 unauthenticated connections that trickle their
headers or a chunked body, one byte at a time, beside a trusted EHR's calls.

Starts `python -m cds serve` in production mode (2 workers), as an operator does."""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.api.test_auth import EHR_KEY, ISSUER, KID, _jwk, token
from tests.conftest import SIGN, chart_request
from tests.live import Server, Servers

pytestmark = pytest.mark.slow

PUBLIC = "https://cds.hospital.example"
SLOW_CONNECTIONS = 50


@pytest.fixture
def production_server(tmp_path: Path) -> Iterator[Server]:
    jwks = tmp_path / "ehr-jwks.json"
    jwks.write_text(json.dumps({"keys": [_jwk(EHR_KEY, KID, "ES384")]}))
    servers = Servers(tmp_path)
    try:
        server = servers.start(
            f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
            dev=False,
            env={
                "CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: str(jwks)}),
                "CDS_PUBLIC_BASE_URL": PUBLIC,
                "CDS_LOG_LEVEL": "INFO",  # the audit lines
            },
        )
        server.wait_ready(time.monotonic() + 60)
        yield server
    finally:
        servers.close()


def _valid_call(server: Server) -> float:
    """One signed order-sign call; its duration in seconds (it must be a 200)."""
    started = time.monotonic()
    answer = requests.post(
        server.base + SIGN,
        json=chart_request("adult-70kg-rr-cycle1-correct"),
        headers={"Authorization": f"Bearer {token(aud=PUBLIC + SIGN)}"},
        timeout=15,
    )
    assert answer.status_code == 200, answer.text
    return time.monotonic() - started


def _trickle(server: Server, chunked: bool, stop: threading.Event, opened: list[int]) -> None:
    """Send a request one byte every 0.2 s, never finishing it, until `stop`."""
    if chunked:
        head = (
            f"POST {SIGN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        prefix, drip = head.encode(), b"1\r\n \r\n"  # one space per chunk, never the last chunk
    else:  # header lines one byte at a time, never the blank line that ends them
        prefix, drip = b"GET /cds-services HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: 1\r\n"
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(prefix)
        opened.append(1)
        sent = 0
        while not stop.wait(0.2):
            if chunked:
                sock.sendall(drip)
            else:
                sock.sendall(drip[sent % len(drip) : sent % len(drip) + 1])
                sent += 1


def test_fifty_slow_connections_do_not_delay_valid_calls(production_server: Server) -> None:
    server = production_server
    for _ in range(3):  # warm both workers
        _valid_call(server)
    usual = statistics.median(_valid_call(server) for _ in range(5))

    stop = threading.Event()
    opened: list[int] = []
    tricklers = [
        threading.Thread(target=_trickle, args=(server, i % 2 == 0, stop, opened), daemon=True)
        for i in range(SLOW_CONNECTIONS)
    ]
    for thread in tricklers:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(opened) < SLOW_CONNECTIONS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(opened) == SLOW_CONNECTIONS
        time.sleep(1.0)  # every slow connection has been accepted and is dripping
        during = [_valid_call(server) for _ in range(10)]
    finally:
        stop.set()
        for thread in tricklers:
            thread.join(timeout=5)
    # "their usual time": a generous bound for a shared 2-core machine, far below the 10+ s
    # a starved server takes
    assert max(during) < max(1.0, 5 * usual), (usual, during)


def test_what_the_server_itself_refuses_is_answered_in_json(production_server: Server) -> None:
    """A body declared above the limit never reaches a worker thread, and the EHR still gets the
    service's OperationOutcome, not the WSGI server's plain text; the refusal is in the audit
    log as the view's own refusals are (it was in none: the on-call engineer never saw it)."""
    with socket.create_connection(("127.0.0.1", production_server.port), timeout=10) as sock:
        sock.sendall(
            f"POST {SIGN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 900000000\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"application/json" in head
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "too-costly"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        audited = [
            json.loads(line[line.index("{") :])
            for line in production_server.log_path.read_text(errors="replace").splitlines()
            if '"status": 413' in line
        ]
        if audited:
            break
        time.sleep(0.1)
    assert audited, production_server.log_tail()
    [line] = audited
    assert (line["event"], line["service"], line["status"]) == (
        "hook-call",
        "blinatumomab-order-sign",
        413,
    )
    assert "max_body" in line["problem"]
