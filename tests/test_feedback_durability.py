"""Feedback that was answered 200 is never lost, never stored twice, and keeps its exact instant.

The store tests run on SQLite and, when `CDS_TEST_POSTGRES_URL` names a PostgreSQL database
(e.g. `postgresql+psycopg://cds:cds@localhost/cds_test`; CI starts one with
`scripts/start-test-postgres.sh`), on PostgreSQL too, each test in its own throw-away schema. The
server tests run the real server (gunicorn, 2 workers) on both databases: one kills it with SIGKILL
in the middle of its life and checks on restart that every acknowledged item is there; one stops it
with SIGTERM while a feedback call is in flight and checks that the call finishes and is committed.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from cds.feedback import UNKNOWN_CARD, FeedbackStore, database_url
from cds.hooks import Card, FeedbackItem
from tests.api.test_feedback import overdose_request
from tests.live import Server, Servers, database

SIGN_SERVICE = "blinatumomab-order-sign"
SELECT_SERVICE = "blinatumomab-order-select"
TOPIC_SYSTEM = "https://cds.example.org/fhir/CodeSystem/card-topic"
OVERRIDE_SYSTEM = "https://cds.example.org/fhir/CodeSystem/override-reason"


def issued_card(topic: str, indicator: str = "critical") -> Card:
    return Card.model_validate(
        {
            "uuid": str(uuid.uuid4()),
            "summary": f"{topic} card",
            "indicator": indicator,
            "source": {"label": "BLINCYTO USPI", "topic": {"system": TOPIC_SYSTEM, "code": topic}},
        }
    )


def overridden(card: str, at: str, reason: str | None = "clinical-judgement") -> FeedbackItem:
    override: dict[str, Any] = {"userComment": "Discussed with the attending haematologist."}
    if reason:
        override["reason"] = {"system": OVERRIDE_SYSTEM, "code": reason, "userSelected": True}
    return FeedbackItem.model_validate(
        {"card": card, "outcome": "overridden", "overrideReason": override, "outcomeTimestamp": at}
    )


def accepted(card: str, at: str) -> FeedbackItem:
    return FeedbackItem.model_validate(
        {
            "card": card,
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
            "outcomeTimestamp": at,
        }
    )


# ---------------------------------------------------------------- one store, two databases


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty store: a SQLite file, or a fresh PostgreSQL schema."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def open_store(store_url: str) -> Iterator[Callable[[], FeedbackStore]]:
    """Open the store as a (re)started process would; every store is closed at the end."""
    opened: list[FeedbackStore] = []

    def open_() -> FeedbackStore:
        opened.append(FeedbackStore(store_url))
        return opened[-1]

    yield open_
    for store in opened:
        store.engine.dispose()


def test_a_repeated_item_is_stored_once_even_sent_with_another_utc_offset(
    open_store: Callable[[], FeedbackStore],
) -> None:
    store = open_store()
    card = str(uuid.uuid4())
    first = store.record_feedback(SIGN_SERVICE, [overridden(card, "2026-03-02T08:05:31Z")])
    again = store.record_feedback(SIGN_SERVICE, [overridden(card, "2026-03-02T08:05:31Z")])
    # the same instant as a Central European clinic's EHR writes it
    same_instant = store.record_feedback(
        SIGN_SERVICE, [overridden(card, "2026-03-02T09:05:31+01:00")]
    )
    assert [first[0]["duplicate"], again[0]["duplicate"], same_instant[0]["duplicate"]] == [
        False,
        True,
        True,
    ]
    assert store.count() == 1
    # a later, different decision on the same card is a new item
    store.record_feedback(SIGN_SERVICE, [accepted(card, "2026-03-02T08:30:00Z")])
    assert store.count() == 2


def test_outcome_timestamp_comes_back_as_the_same_aware_utc_instant(
    open_store: Callable[[], FeedbackStore],
) -> None:
    store = open_store()
    store.record_feedback(
        SIGN_SERVICE, [overridden("card-tz", "2026-03-02T03:05:31.250-05:00", reason=None)]
    )
    (row,) = store.items()
    assert row["outcome_timestamp"] == datetime(2026, 3, 2, 8, 5, 31, 250000, tzinfo=UTC)
    assert row["outcome_timestamp"].utcoffset() == timedelta(0)
    assert row["received_at"].tzinfo is not None
    assert row["override_code"] is None
    assert row["override_comment"] == "Discussed with the attending haematologist."


def test_idempotency_and_every_item_survive_reopening_the_database(
    open_store: Callable[[], FeedbackStore],
) -> None:
    before = open_store()
    items = [overridden(f"card-{n}", f"2026-03-02T08:{n:02d}:00Z") for n in range(30)]
    before.record_feedback(SIGN_SERVICE, items)
    before.engine.dispose()

    after = open_store()  # what a restarted worker sees
    assert after.count() == 30
    repeats = after.record_feedback(SIGN_SERVICE, items[:5])
    assert all(answer["duplicate"] for answer in repeats)
    assert after.count() == 30


def test_feedback_is_tied_to_the_topic_of_a_card_this_service_issued(
    open_store: Callable[[], FeedbackStore],
) -> None:
    store = open_store()
    dose = issued_card("dose")
    pregnancy = issued_card("pregnancy-status", "warning")
    store.record_issued(SIGN_SERVICE, "hook-instance-1", [dose, pregnancy])
    answers = store.record_feedback(
        SIGN_SERVICE,
        [
            overridden(dose.uuid, "2026-03-02T08:05:00Z"),
            accepted("not-one-of-ours", "2026-03-02T08:06:00Z"),
        ],
    )
    assert answers[0] == {
        "card": dose.uuid,
        "knownCard": True,
        "topic": "dose",
        "duplicate": False,
    }
    assert answers[1] == {"card": "not-one-of-ours", "knownCard": False, "duplicate": False}
    rows = {row["card"]: row for row in store.items()}
    assert (rows[dose.uuid]["known_card"], rows[dose.uuid]["topic"]) == (True, "dose")
    assert rows[dose.uuid]["override_system"] == OVERRIDE_SYSTEM
    assert (rows["not-one-of-ours"]["known_card"], rows["not-one-of-ours"]["topic"]) == (
        False,
        None,
    )
    # a card issued by order-sign is not known to order-select
    (elsewhere,) = store.record_feedback(
        SELECT_SERVICE, [overridden(pregnancy.uuid, "2026-03-02T08:07:00Z")]
    )
    assert elsewhere["knownCard"] is False


def test_summary_counts_each_card_once_with_its_latest_outcome(
    open_store: Callable[[], FeedbackStore],
) -> None:
    store = open_store()
    doses = [issued_card("dose") for _ in range(4)]
    premedication = issued_card("premedication", "warning")
    store.record_issued(SIGN_SERVICE, "hook-instance-2", [*doses, premedication])
    store.record_feedback(
        SIGN_SERVICE,
        [
            # first overridden, then the prescriber changed their mind and took the suggestion
            overridden(doses[0].uuid, "2026-03-02T08:01:00Z"),
            accepted(doses[0].uuid, "2026-03-02T08:03:00Z"),
            overridden(doses[1].uuid, "2026-03-02T08:02:00Z", reason="benefit-outweighs-risk"),
            overridden(doses[2].uuid, "2026-03-02T08:02:00Z", reason="benefit-outweighs-risk"),
            overridden(doses[2].uuid, "2026-03-02T08:02:00Z", reason="benefit-outweighs-risk"),
            accepted(premedication.uuid, "2026-03-02T08:04:00Z"),
            overridden("unknown-card", "2026-03-02T08:04:00Z", reason=None),
        ],
    )
    rows = {row["topic"]: row for row in store.summary()}
    assert rows["dose"] | {"override_reasons": None} == {
        "topic": "dose",
        "issued": 4,
        "accepted": 1,
        "overridden": 2,
        "no_feedback": 1,
        "override_rate": 0.667,
        "override_reasons": None,
    }
    assert rows["dose"]["override_reasons"] == {"benefit-outweighs-risk": 2}
    assert (rows["premedication"]["accepted"], rows["premedication"]["override_rate"]) == (1, 0.0)
    assert rows[UNKNOWN_CARD]["overridden"] == 1
    assert rows[UNKNOWN_CARD]["override_reasons"] == {"(comment only)": 1}


def test_concurrent_writers_lose_nothing(open_store: Callable[[], FeedbackStore]) -> None:
    store = open_store()
    items = [overridden(str(uuid.uuid4()), "2026-03-02T08:00:00Z") for _ in range(160)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda item: store.record_feedback(SIGN_SERVICE, [item]), items))
    assert not any(answer[0]["duplicate"] for answer in answers)
    assert store.count() == 160


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite3"
    store = FeedbackStore(f"sqlite:///{path}")
    assert store.journal_mode() == "wal"
    with sqlite3.connect(path) as raw:  # the mode is a property of the file, not the connection
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.engine.dispose()


def test_a_database_from_the_first_release_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE feedback (id INTEGER PRIMARY KEY, service VARCHAR(100) NOT NULL, "
            "card VARCHAR(256) NOT NULL, outcome VARCHAR(20) NOT NULL, "
            "outcome_timestamp DATETIME NOT NULL, accepted_suggestions TEXT NOT NULL, "
            "override_code VARCHAR(100), override_comment TEXT, known_card BOOLEAN NOT NULL, "
            "received_at DATETIME NOT NULL, "
            "CONSTRAINT feedback_once UNIQUE (service, card, outcome, outcome_timestamp))"
        )
        old.execute(
            "INSERT INTO feedback VALUES (1, ?, 'old-card', 'overridden', "
            "'2025-12-01 10:00:00.000000', '[]', NULL, 'old comment', 0, "
            "'2025-12-01 10:00:01.000000')",
            (SIGN_SERVICE,),
        )
    store = FeedbackStore(f"sqlite:///{path}")
    store.record_feedback(SIGN_SERVICE, [overridden("new-card", "2026-03-02T08:00:00Z")])
    rows = {row["card"]: row for row in store.items()}
    assert rows["old-card"]["outcome_timestamp"] == datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
    assert rows["new-card"]["override_system"] == OVERRIDE_SYSTEM
    store.engine.dispose()


# ---------------------------------------------------------------- the real server, killed hard

DEADLINE_SECONDS = 90  # two server starts and 200 calls, on a loaded 2-core CI machine


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[[str], Server]]:
    servers = Servers(tmp_path)
    yield lambda url: servers.start(url)
    servers.close()


def _feedback_item(n: int, card: str | None = None) -> dict[str, Any]:
    at = (datetime(2026, 3, 2, 8, 0, tzinfo=UTC) + timedelta(seconds=n)).isoformat()
    if n % 3:
        return {
            "card": card or str(uuid.uuid4()),
            "outcome": "overridden",
            "overrideReason": {
                "reason": {"system": OVERRIDE_SYSTEM, "code": "clinical-judgement"},
                "userComment": f"override {n}",
            },
            "outcomeTimestamp": at,
        }
    return {
        "card": card or str(uuid.uuid4()),
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
        "outcomeTimestamp": at,
    }


def _post(url: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(url, json=body, timeout=(2, 15))


@pytest.mark.slow  # starts servers
def test_every_acknowledged_item_survives_a_hard_kill_of_the_server(
    store_url: str, start_server: Callable[[str], Server]
) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    url = store_url
    server = start_server(url)
    server.wait_ready(deadline)
    feedback_url = f"{server.base}/cds-services/{SIGN_SERVICE}/feedback"

    # adult 70 kg, R/R cycle 1 day 1 at 28 mcg/day: the server issues a critical dose card, and
    # one of the 200 items is the prescriber overriding it
    hook = _post(f"{server.base}/cds-services/{SIGN_SERVICE}", overdose_request())
    assert hook.status_code == 200, hook.text
    issued = hook.json()["cards"]
    (overdose,) = [c for c in issued if c["indicator"] == "critical"]
    assert overdose["source"]["topic"]["code"] == "dose"
    items = [_feedback_item(n) for n in range(200)]
    items[1] = _feedback_item(1, card=overdose["uuid"])  # n = 1: an override

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda item: _post(feedback_url, {"feedback": [item]}), items))
    assert [a.status_code for a in answers] == [200] * 200, server.log_tail()
    assert not any(a.json()["items"][0]["duplicate"] for a in answers)

    server.kill()
    assert server.process.returncode == -signal.SIGKILL

    restarted = start_server(url)
    restarted.wait_ready(deadline)
    store = FeedbackStore(url)
    assert store.count() == 200
    if store.engine.dialect.name == "sqlite":
        assert store.journal_mode() == "wal"
    summary = {row["topic"]: row for row in store.summary()}
    assert sum(row["accepted"] + row["overridden"] for row in summary.values()) == 200
    assert summary[UNKNOWN_CARD]["accepted"] == 67  # n = 0, 3, 6, ... 198
    assert summary["dose"]["overridden"] == 1
    assert summary["dose"]["issued"] == len(
        [c for c in issued if c["source"]["topic"]["code"] == "dose"]
    )

    # the restarted server still recognises what it was sent before the kill
    repeat = _post(
        f"{restarted.base}/cds-services/{SIGN_SERVICE}/feedback", {"feedback": items[:10]}
    )
    assert repeat.status_code == 200
    assert [item["duplicate"] for item in repeat.json()["items"]] == [True] * 10
    assert store.count() == 200
    store.engine.dispose()
    assert time.monotonic() < deadline, "the durability test overran its time budget"


def test_the_store_refuses_a_database_it_cannot_serve() -> None:
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        FeedbackStore("mysql://cds@localhost/cds")


@contextlib.contextmanager
def feedback_table_locked(url: str) -> Iterator[None]:
    """Hold the feedback table's write lock from outside the server, so a feedback call waits."""
    if url.startswith("sqlite"):
        raw = sqlite3.connect(str(database_url(url).database), isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            raw.execute("COMMIT")
            raw.close()
        return
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection, connection.begin():
            connection.execute(text("LOCK TABLE feedback IN EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


@pytest.mark.slow  # starts servers
def test_sigterm_lets_an_in_flight_feedback_call_finish_and_commit(
    store_url: str, start_server: Callable[[str], Server]
) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    server = start_server(store_url)
    server.wait_ready(deadline)
    feedback_url = f"{server.base}/cds-services/{SIGN_SERVICE}/feedback"
    item = _feedback_item(2)
    answers: list[requests.Response] = []
    call = threading.Thread(
        target=lambda: answers.append(_post(feedback_url, {"feedback": [item]}))
    )
    with feedback_table_locked(store_url):
        call.start()
        time.sleep(1.0)
        assert not answers, "the lock did not hold the call: nothing would be in flight"
        server.terminate()  # what `docker stop` sends
        time.sleep(1.0)
        assert server.process.poll() is None, "the server quit with a call in flight"
    call.join(timeout=20)
    assert [a.status_code for a in answers] == [200], server.log_tail()
    assert answers[0].json()["items"][0]["duplicate"] is False
    assert server.process.wait(timeout=25) == 0, server.log_tail()  # a clean, graceful exit
    store = FeedbackStore(store_url)
    assert [row["card"] for row in store.items()] == [item["card"]]
    store.engine.dispose()
    assert time.monotonic() < deadline, "the shutdown test overran its time budget"


@pytest.mark.parametrize(
    ("given", "opened_with"),
    [
        ("postgresql://cds:secret@db.hospital.example:5432/cds", "postgresql+psycopg"),
        ("postgres://cds:secret@db.hospital.example/cds", "postgresql+psycopg"),
        ("postgresql+psycopg://cds@db.hospital.example/cds", "postgresql+psycopg"),
        ("postgresql+psycopg2://cds@db.hospital.example/cds", "postgresql+psycopg2"),
        ("sqlite:////var/lib/cds/cds.sqlite3", "sqlite"),
    ],
)
def test_plain_postgresql_urls_mean_the_psycopg_driver(given: str, opened_with: str) -> None:
    url = database_url(given)
    assert url.drivername == opened_with
    assert url.password == ("secret" if "secret" in given else None)


@pytest.mark.slow  # PostgreSQL
def test_a_plain_postgresql_url_opens_a_working_store(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as url:
        plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
        assert plain.startswith("postgresql://")
        store = FeedbackStore(plain)
        store.record_feedback(SIGN_SERVICE, [accepted("card-plain-url", "2026-03-02T08:00:00Z")])
        assert store.count() == 1
        store.engine.dispose()


def test_a_postgresql_url_without_its_driver_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"driver is not installed.*`postgres` extra") as refused:
        FeedbackStore("postgresql+pg8000://cds:secret@db.hospital.example/cds")
    assert "secret" not in str(refused.value)
