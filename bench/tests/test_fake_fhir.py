"""The benchmark's loopback FHIR server answers below the `/fhir` base the service is given, as a
real one would (it once took `/fhir/Observation` for a read and answered 404, so scenario (c)
measured "data unavailable" cards instead of the checks), and without Nagle's delay (it once
held every answer on a reused connection ~40 ms for the client's delayed ACK)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from bench.fake_fhir import BASE, make_handler
from tests.fixtures_util import patient, weight

pytestmark = pytest.mark.slow  # an HTTP server per test (0.5 s to shut each down)

PID = "pt-fake"


NODELAY_SEEN: list[int] = []


def _probing_handler(chart: list[dict[str, Any]]) -> type[Any]:
    class Probe(make_handler(chart, delay=0)):  # type: ignore[misc]
        def do_GET(self) -> None:
            NODELAY_SEEN.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            super().do_GET()

    return Probe


@pytest.fixture
def fhir_base() -> Iterator[str]:
    chart = [patient(PID), weight(PID, 70, oid="wt-1"), weight("someone-else", 90, oid="wt-2")]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _probing_handler(chart))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{BASE}"
    server.shutdown()
    server.server_close()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def test_a_search_below_the_base_answers_the_patients_matching_resources(fhir_base: str) -> None:
    bundle = _get(f"{fhir_base}/Observation?patient={PID}&code=http://loinc.org|29463-7")
    assert bundle["resourceType"] == "Bundle"
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["wt-1"]
    assert bundle["entry"][0]["fullUrl"].endswith(f"/{BASE}/Observation/wt-1")


def test_a_read_below_the_base_answers_the_resource(fhir_base: str) -> None:
    assert _get(f"{fhir_base}/Patient/{PID}")["id"] == PID


def test_answers_are_sent_without_nagles_delay(fhir_base: str) -> None:
    NODELAY_SEEN.clear()
    _get(f"{fhir_base}/Patient/{PID}")
    assert NODELAY_SEEN and all(NODELAY_SEEN)
