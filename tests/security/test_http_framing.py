"""Request smuggling: a request framed two ways (Content-Length and Transfer-Encoding) is refused
and its connection closed (RFC 9112 6.1), so that bytes a front end counted as its body are never
answered as a second request.

waitress de-chunks the body, drops the Transfer-Encoding header and overwrites CONTENT_LENGTH
before the WSGI app is called: the app cannot see the conflict, so the refusal is waitress's
(`cds.server`'s parser). Served here by waitress with the channel the gunicorn workers use, and
once through `python -m cds serve`."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from cds.server import _json_error_channel
from tests.conftest import SIGN
from tests.live import Servers

SMUGGLED = "GET /metrics HTTP/1.1\r\nHost: cds.example.org\r\n\r\n"


@pytest.fixture
def port(app: Flask) -> Iterator[int]:
    """The app served by waitress, with the workers' channel, on a free port."""
    socket_map: dict[int, Any] = {}
    server: Any = create_server(app, map=socket_map, host="127.0.0.1", port=0, threads=2)
    server.channel_class = _json_error_channel(app)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            wasyncore.loop(timeout=0.05, map=socket_map, use_poll=True, count=1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield int(server.effective_port)
    finally:
        stop.set()
        thread.join(timeout=5)
        server.task_dispatcher.shutdown()
        wasyncore.close_all(socket_map)


def exchange(port: int, request: str, wait: float = 3.0) -> tuple[bytes, bool]:
    """Everything the server sends back, and whether it closed the connection (else: `wait`
    seconds of silence)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(request.encode("latin-1"))
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            return received, False
    return received, True


def answers(received: bytes) -> list[tuple[int, str, Any]]:
    """(status, header block, JSON body or None) of each answer, in order."""
    found = []
    rest = received
    while rest:
        head, _, rest = rest.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        body, rest = rest[:length], rest[length:]
        parsed = json.loads(body) if headers.get("content-type") == "application/json" else None
        found.append((int(lines[0].split()[1]), head.decode("latin-1"), parsed))
    return found


def two_ways(version: str = "1.1", encoding: str = "chunked", extra: str = "") -> str:
    body = "0\r\n\r\n" + SMUGGLED  # a front end framing by Content-Length sends all of it
    return (
        f"POST {SIGN} HTTP/{version}\r\nHost: cds.example.org\r\n"
        f"Content-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\nTransfer-Encoding: {encoding}\r\n\r\n{body}"
    )


@pytest.mark.parametrize(
    "request_text",
    [
        two_ways(),
        two_ways(encoding="Chunked"),
        two_ways(extra="Connection: keep-alive\r\n"),
        two_ways(version="1.0", extra="Connection: keep-alive\r\n"),
    ],
    ids=["http/1.1", "Chunked", "keep-alive", "http/1.0-keep-alive"],
)
def test_content_length_and_transfer_encoding_is_a_400_and_the_connection_closes(
    port: int, request_text: str
) -> None:
    received, closed = exchange(port, request_text)
    assert closed, received
    [(status, head, outcome)] = answers(received)  # the smuggled GET is never answered
    assert status == 400
    assert "Connection: close" in head.split("\r\n") and "Keep-Alive" not in head
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Content-Length and Transfer-Encoding" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize("connection", ["Connection: keep-alive\r\n", ""])
def test_transfer_encoding_in_an_http_1_0_request_is_a_400_and_the_connection_closes(
    port: int, connection: str
) -> None:
    """HTTP/1.0 has no chunked framing: waitress took the body as empty and read the chunks as
    further requests (one request on the wire, three answers, the chunk-size line answered as a
    request line). A front end that de-chunks it saw one request. RFC 9112 6.1: the framing is
    faulty; the connection closes."""
    chunk = "X: " + "a" * 25 + "\r\n"  # 0x1E bytes: "1E /readyz HTTP/1.1" is a request line
    request_text = (
        f"POST {SIGN} HTTP/1.0\r\nHost: x\r\n{connection}Content-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\n\r\n1E /readyz HTTP/1.1\r\n{chunk}\r\n0\r\n\r\n"
    )
    received, closed = exchange(port, request_text)
    assert closed, received
    [(status, head, outcome)] = answers(received)
    assert status == 400 and "Connection: close" in head.split("\r\n")
    assert "HTTP/1.0" in outcome["issue"][0]["diagnostics"]


def test_requests_framed_one_way_keep_their_connection(port: int) -> None:
    by_length = (
        "POST /cds-services/warfarin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\n\r\n{}"
    )
    chunked = (
        "POST /cds-services/warfarin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    )
    last = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    received, closed = exchange(port, by_length + chunked + last)
    assert closed
    assert [status for status, _, _ in answers(received)] == [404, 404, 200]


def test_a_body_over_the_limit_refused_by_the_server_is_in_the_audit_log(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """waitress answers it with a 413 before the app sees it: it was in no audit line, so the
    on-call engineer never saw it. Now it has the line the view's own refusals have."""
    caplog.set_level(logging.INFO, logger="cds.audit")
    too_long = (
        f"POST {SIGN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 9000000000\r\n\r\n"
    )
    received, closed = exchange(port, too_long)
    assert closed
    [(status, _, outcome)] = answers(received)
    assert status == 413 and outcome["issue"][0]["code"] == "too-costly"
    deadline = time.monotonic() + 5
    while not (lines := _audit_lines(caplog)) and time.monotonic() < deadline:
        time.sleep(0.02)
    [line] = lines
    assert (line["event"], line["service"], line["status"]) == (
        "hook-call",
        "blinatumomab-order-sign",
        413,
    )
    assert "max_body" in line["problem"] and "issuer" not in line


def _audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "cds.audit"]


@pytest.mark.slow
def test_the_served_service_refuses_it_too(tmp_path: Path) -> None:
    """Through `python -m cds serve` (gunicorn's master, waitress in each worker)."""
    servers = Servers(tmp_path)
    try:
        server = servers.start(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
        server.wait_ready(time.monotonic() + 60)
        received, closed = exchange(server.port, two_ways())
    finally:
        servers.close()
    assert closed, received
    [(status, head, outcome)] = answers(received)
    assert status == 400 and "Connection: close" in head.split("\r\n")
    assert outcome["resourceType"] == "OperationOutcome"
