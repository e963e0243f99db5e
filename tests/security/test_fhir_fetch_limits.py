"""A FHIR server that answers slowly on purpose cannot hold the service's threads past a call's
deadline: timeouts bound each read, so a server trickling its headers or body a byte at a time
must be cut off at the deadline (cds.fhir.client), or a few such calls fill the worker's fetch
pool and every later FHIR fallback fails, even to a healthy server.

Every server here is a local socket stub in a thread; the deadlines are short and the bounds
generous: what is checked is that the thread is let go, not how fast."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cds.fhir import prefetch
from cds.fhir.client import FhirClient, FhirFetchError
from cds.settings import Settings

SEARCHSET = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []}).encode()
DRIP_INTERVAL = 0.05  # one byte this often: every read gets its byte long before a read timeout
DRIP_FOR = 4.0  # then the stub gives up, so that a fetch that is never cut still ends


class FhirStub:
    """/drip/...: headers, then a body of a byte at a time; /slow-headers/...: the status line,
    then headers a byte at a time; anything else: an empty searchset at once. Records when each
    trickle ended because the client let go of the connection."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.stop = threading.Event()
        self.let_go: list[float] = []  # monotonic time each trickle saw the client go away
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            path = head.split(b" ", 2)[1]
            if path.startswith(b"/drip/"):
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
                    b"Content-Length: 1000000\r\n\r\n"
                )
                self._trickle(conn)
            elif path.startswith(b"/slow-headers/"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                self._trickle(conn)
            else:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
                    + f"Content-Length: {len(SEARCHSET)}\r\nConnection: close\r\n\r\n".encode()
                    + SEARCHSET
                )

    def _trickle(self, conn: socket.socket) -> None:
        ends = time.monotonic() + DRIP_FOR
        while not self.stop.is_set() and time.monotonic() < ends:
            try:
                conn.sendall(b"a")
            except OSError:
                self.let_go.append(time.monotonic())
                return
            time.sleep(DRIP_INTERVAL)

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.fixture
def stub() -> Iterator[FhirStub]:
    server = FhirStub()
    yield server
    server.close()


def settings(tmp_path: Path) -> Settings:
    """--dev (a local http server may be fetched); read timeouts far longer than the deadline."""
    return Settings(
        dev_mode=True,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        fhir_connect_timeout=2.0,
        fhir_read_timeout=5.0,
    )


@pytest.fixture
def two_fetch_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadPoolExecutor]:
    """A worker whose fetch pool has two threads, so that two held fetches fill it."""
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fhir-fetch-test")
    monkeypatch.setattr(prefetch, "_pool", pool)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


TEMPLATES = {"observations": "Observation?patient=p1", "conditions": "Condition?patient=p1"}


def fallback(base: str, config: Settings, deadline: float) -> dict[str, prefetch.SourceData]:
    """Both keys missing from the prefetch: both fetched from `base` on the fetch pool."""
    return prefetch.resolve_prefetch(
        TEMPLATES, {}, {"patientId": "p1"}, lambda: FhirClient(base, "token", config), deadline
    )


def test_a_trickling_server_does_not_hold_the_fetch_pool(
    tmp_path: Path, stub: FhirStub, two_fetch_threads: ThreadPoolExecutor
) -> None:
    config = settings(tmp_path)
    started = time.monotonic()
    slow = fallback(f"{stub.base}/drip", config, deadline=0.4)
    assert all(not data.available and "too slow" in (data.problem or "") for data in slow.values())
    assert time.monotonic() - started < 1.5

    # the next call, to a healthy server, gets both fetch threads: the trickles were cut off
    healthy = fallback(f"{stub.base}/good", config, deadline=1.5)
    assert {key: data.problem for key, data in healthy.items()} == dict.fromkeys(TEMPLATES)
    assert all(data.origin == "fhirServer" for data in healthy.values())
    waited = time.monotonic() + 1.0
    while len(stub.let_go) < 2 and time.monotonic() < waited:
        time.sleep(0.02)
    assert len(stub.let_go) == 2, "a trickled connection was still being read"
    assert max(stub.let_go) - started < 2.0


@pytest.mark.parametrize("trickled", ["drip", "slow-headers"])
def test_a_fetch_in_the_calling_thread_ends_at_its_deadline(
    tmp_path: Path, stub: FhirStub, trickled: str
) -> None:
    """Draft orders' Medications are read in the request's own thread (cds.fhir.medications):
    a trickled body, or trickled headers, must not hold it either."""
    client = FhirClient(f"{stub.base}/{trickled}", "token", settings(tmp_path))
    started = time.monotonic()
    with pytest.raises(FhirFetchError, match="too slow"):
        client.get("Medication/m1", deadline=started + 0.3)
    assert time.monotonic() - started < 1.5
    client.close()


def test_a_healthy_server_is_read_as_before(tmp_path: Path, stub: FhirStub) -> None:
    client = FhirClient(f"{stub.base}/good", "token", settings(tmp_path))
    with contextlib.closing(client):
        assert client.get("Observation?patient=p1", time.monotonic() + 2.0) == json.loads(SEARCHSET)
