"""The per-call I/O made cheaper without changing what is stored or sent: issued-card records
commit without waiting for the disk (feedback still does), and FHIR fetches reuse connections
without keeping a caller's token."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select

from cds.feedback import FeedbackStore, issued_cards
from cds.fhir.client import FhirClient
from cds.replay import ReplayCache
from cds.settings import Settings
from tests.conftest import dose_card


def test_issued_cards_are_committed_unflushed_and_feedback_stays_fully_synchronous(
    tmp_path: Path,
) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    for _ in range(3):
        store.record_issued("blinatumomab-order-sign", "hook-1", [dose_card(), dose_card()])
    other_process_view = create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with other_process_view.connect() as connection:
        count = connection.execute(select(func.count()).select_from(issued_cards)).scalar_one()
    assert count == 6
    with store.unflushed_engine.connect() as connection:  # the one the records were written on
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1  # NORMAL
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    with store.engine.connect() as connection:  # feedback's
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL


def test_on_a_sqlite_file_each_per_call_write_is_one_statement_with_no_transaction_around_it(
    tmp_path: Path,
) -> None:
    """The replay cache's insert and the issued-card records run in autocommit mode: SQLite
    begins and commits each statement inside one step, the GIL released. A BEGIN ... COMMIT
    would hold the write lock while the thread waits for the GIL, and the other worker's write
    would meet a locked database and sleep 1 ms or more."""
    store = FeedbackStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    statements: list[str] = []
    store.unflushed_engine.dispose()
    event.listen(
        store.unflushed_engine,
        "connect",
        lambda connection, _record: connection.set_trace_callback(statements.append),
    )
    assert ReplayCache(store.unflushed_engine).first_use("https://ehr.example", "jti-1", 2e9)
    store.record_issued("blinatumomab-order-sign", "hook-1", [dose_card(), dose_card()])
    writes = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(writes) == 2  # the token; both cards in one statement
    assert not [s for s in statements if s.split()[0].upper() in ("BEGIN", "COMMIT", "SAVEPOINT")]
    with store.engine.connect() as connection:  # what another worker reads
        count = connection.execute(select(func.count()).select_from(issued_cards)).scalar_one()
    assert count == 2


@pytest.mark.slow  # PostgreSQL
def test_on_postgresql_only_the_issued_cards_transaction_commits_asynchronously() -> None:
    url = os.environ.get("CDS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL tests need CDS_TEST_POSTGRES_URL (scripts/start-test-postgres.sh)")
    store = FeedbackStore(url)
    card = dose_card()
    store.record_issued("blinatumomab-order-sign", "hook-pg", [card])
    with store.engine.connect() as connection:
        found = connection.execute(
            select(func.count()).select_from(issued_cards).where(issued_cards.c.uuid == card.uuid)
        ).scalar_one()
        assert found == 1
        # SET LOCAL ends with its transaction: the pooled connection commits synchronously again
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[int, str | None]] = []  # noqa: RUF012 (client port, Authorization)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append((self.client_address[1], self.headers.get("Authorization")))
        body = b'{"resourceType": "Bundle", "type": "searchset", "entry": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fhir_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()
    server.server_close()


def test_calls_reuse_one_connection_and_each_sends_only_its_own_token(fhir_server: str) -> None:
    import time

    settings = Settings(dev_mode=True)
    for token in ("token-of-call-1", "token-of-call-2", None):
        client = FhirClient(fhir_server, token, settings)
        client.get("Immunization?patient=x", time.monotonic() + 5)
        client.close()
    ports = {port for port, _ in _Recorder.seen}
    assert [auth for _, auth in _Recorder.seen] == [
        "Bearer token-of-call-1",
        "Bearer token-of-call-2",
        None,
    ]
    assert len(ports) == 1  # one keep-alive connection served all three calls
