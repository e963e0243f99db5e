"""`bench.run` reports how gunicorn spread the benchmark's keep-alive connections over the workers
(a worker holding three of four serves them on one core while the other idles): read from /proc,
checked here against a master process whose one forked worker holds two connections."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.run import Server

pytestmark = pytest.mark.slow  # forks a server process

MASTER = """
import os, socket, sys, time
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print(listener.getsockname()[1], flush=True)
if os.fork() == 0:  # the worker: accepts and holds every connection
    held = [listener.accept()[0] for _ in range(2)]
    time.sleep(60)
    os._exit(0)
time.sleep(60)
"""


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_the_connections_each_worker_holds_are_counted() -> None:
    master = subprocess.Popen(
        [sys.executable, "-c", MASTER], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert master.stdout is not None
        port = int(master.stdout.readline())
        server = Server("probe", master, port)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        deadline = time.monotonic() + 5
        while server.connections_per_worker() != "2" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.connections_per_worker() == "2"
        for client in clients:
            client.close()
    finally:
        os.killpg(master.pid, signal.SIGKILL)  # the master and its worker
        master.wait()
