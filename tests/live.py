"""Real databases and real server processes for the durability, shutdown and scale-out tests.

PostgreSQL is used when `CDS_TEST_POSTGRES_URL` names one (CI starts a throw-away cluster with
`scripts/start-test-postgres.sh`); each test gets its own schema, dropped afterwards, so tests can
run in parallel on one database. Servers are `python -m cds serve` exactly as an operator starts it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from cds.feedback import database_url
from tests.conftest import ROOT

POSTGRES_ENV = "CDS_TEST_POSTGRES_URL"


def postgres_url() -> str:
    """The test PostgreSQL's URL, or skip the test saying exactly what is missing."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (not set; start a throw-away database with "
            "`bash scripts/start-test-postgres.sh start` and export the URL it prints)"
        )
    try:
        database_url(url).get_dialect().import_dbapi()
    except ImportError as error:
        pytest.skip(f"{POSTGRES_ENV} is set but its driver is not installed ({error})")
    return url


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema on the test PostgreSQL; yields a URL whose connections use only it."""
    schema = f"cds_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url(url))
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # a set URL that does not work is a failure, not a skip
        admin.dispose()
        pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL cannot be used: {error}")
    scoped = database_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of `kind` ("sqlite" file or "postgresql" schema) as a SQLAlchemy URL."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
        return
    with postgres_schema(postgres_url()) as url:
        yield url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """`python -m cds serve` in its own process group, logging to a file."""

    def __init__(
        self,
        database_url: str,
        log_path: Path,
        *,
        dev: bool = True,
        workers: int = 2,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environment = {
            **os.environ,
            "CDS_DATABASE_URL": database_url,
            "CDS_LOG_LEVEL": "WARNING",
            "TMPDIR": str(log_path.parent),  # a killed server leaves its metrics directory here
            **(env or {}),
        }
        command = [sys.executable, "-m", "cds", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(workers)]
        if dev:
            command.append("--dev")
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]

    def wait_ready(self, deadline: float) -> None:
        """Until /readyz says ready (knowledge loaded, database reachable) or the deadline."""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        pytest.fail(f"the server did not get ready in time:\n{self.log_tail()}")

    def terminate(self) -> None:
        """SIGTERM to the gunicorn master: what `docker stop` and Kubernetes send."""
        os.kill(self.process.pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: no shutdown hook, no flush, no goodbye."""
        with contextlib.suppress(ProcessLookupError):  # the whole group, even if the master died
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


class Servers:
    """Starts servers for one test and kills whatever is left of them at its end."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self.started: list[Server] = []

    def start(
        self,
        database_url: str,
        *,
        dev: bool = True,
        workers: int = 2,
        env: Mapping[str, str] | None = None,
    ) -> Server:
        log_path = self._tmp_path / f"server-{len(self.started)}.log"
        self.started.append(Server(database_url, log_path, dev=dev, workers=workers, env=env))
        return self.started[-1]

    def close(self) -> None:
        for server in self.started:
            server.kill()
