"""/metrics under the production server: `python -m cds serve` with 2 gunicorn workers sums both
workers' counts (prometheus_client's multiprocess mode), keeps a killed worker's counts in the
sums, and removes its metrics directory when it stops."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.api.test_fast_path_calls import ONDANSETRON, with_draft
from tests.conftest import SIGN, chart_request
from tests.live import Servers

CALLS = 12
pytestmark = pytest.mark.slow


def _refused_as_too_large(base: str) -> int:
    """The status of a call that declares a body above the limit (the headers alone: waitress
    answers before reading a byte of it, so no client is left writing into a closed socket)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            f"POST {SIGN} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: 6000000\r\n\r\n".encode()
        )
        status_line = connection.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def _calls_answered(base: str) -> float:
    labels = {"endpoint": "cds.call_service", "service": SIGN.rsplit("/", 1)[1], "status": "200"}
    return _answered(base, labels)


def _answered(base: str, labels: dict[str, str]) -> float:
    text = requests.get(f"{base}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "cds_requests_total" and sample.labels == labels
    )


def _workers(master: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master
            ):
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _metrics_directory(worker: int) -> Path | None:
    for fd in Path(f"/proc/{worker}/fd").iterdir():
        target = os.readlink(fd)
        if "/cds-metrics-" in target and target.endswith(".db"):
            return Path(target).parent
    return None


def test_two_workers_counts_are_summed_and_outlive_a_worker(tmp_path: Path) -> None:
    servers = Servers(tmp_path)
    try:
        server = servers.start(f"sqlite:///{tmp_path / 'feedback.sqlite3'}", dev=True, workers=2)
        server.wait_ready(time.monotonic() + 60)
        body = chart_request("adult-70kg-rr-cycle1-correct")
        other_drug = with_draft(ONDANSETRON)  # answered by the fast lane, counted the same
        for _ in range(CALLS):  # a new connection each: gunicorn hands them to either worker
            assert requests.post(server.base + SIGN, json=body, timeout=30).status_code == 200
            answer = requests.post(server.base + SIGN, json=other_drug, timeout=30)
            assert answer.status_code == 200 and answer.json() == {"cards": []}
        assert _calls_answered(server.base) == 2 * CALLS
        assert _refused_as_too_large(server.base) == 413  # by waitress, before the app
        assert _answered(server.base, {"endpoint": "server", "service": "", "status": "413"}) == 1

        workers = _workers(server.process.pid)
        assert len(workers) == 2
        directory = next(d for w in workers if (d := _metrics_directory(w)) is not None)
        served = [w for w in workers if (directory / f"counter_{w}.db").exists()]
        assert served, "the workers write their counters to the metrics directory"
        os.kill(served[0], signal.SIGKILL)  # gunicorn starts another; the dead one's counts stay
        deadline = time.monotonic() + 30
        while len(set(_workers(server.process.pid)) - {served[0]}) < 2:
            assert time.monotonic() < deadline, "gunicorn did not replace the worker"
            time.sleep(0.1)
        for _ in range(CALLS):  # answered by the other worker and the new one
            assert requests.post(server.base + SIGN, json=body, timeout=30).status_code == 200
        assert _calls_answered(server.base) == 3 * CALLS

        server.terminate()
        server.process.wait(timeout=30)
        assert not directory.exists(), "the metrics directory is removed when the server stops"
    finally:
        servers.close()
