"""The writes every hook call makes (replay cache, issued cards) run on each thread's own SQLite
connection (`cds.own_connections`): no pool checkout a call, the same rows as through SQLAlchemy,
and never a connection used across a fork."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, select

from cds.feedback import FeedbackStore, issued_cards
from cds.replay import ReplayCache
from tests.conftest import dose_card

ISSUER = "https://ehr.example"
EXPIRES = 2e9


def _one_call(store: FeedbackStore, cache: ReplayCache) -> None:
    assert cache.first_use(ISSUER, str(uuid.uuid4()), EXPIRES)
    store.record_issued(
        "blinatumomab-order-sign", "hook-1", [dose_card(), dose_card()], ISSUER, "t1"
    )


def test_the_process_checks_out_one_connection_once_not_one_a_call(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    checkouts: list[object] = []
    event.listen(store.unflushed_engine, "checkout", lambda *args: checkouts.append(args))
    cache = ReplayCache(store.unflushed_engine)
    _one_call(store, cache)  # and the replay cache's first purge
    before = len(checkouts)
    for _ in range(5):
        _one_call(store, cache)
    assert len(checkouts) == before

    def three_calls() -> None:
        for _ in range(3):
            _one_call(store, cache)

    others = [threading.Thread(target=three_calls) for _ in range(4)]
    for other in others:
        other.start()
    for other in others:
        other.join()
    assert len(checkouts) == before  # the threads share the process's connections


def test_issued_cards_written_on_the_driver_read_back_as_through_sqlalchemy(
    tmp_path: Path,
) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    card = dose_card()
    before = datetime.now(UTC)
    store.record_issued("blinatumomab-order-sign", "hook-7", [card], ISSUER, None)
    with store.engine.connect() as connection:
        row = connection.execute(select(issued_cards)).one()._asdict()
    issued_at = row.pop("issued_at")
    assert before <= issued_at <= datetime.now(UTC) and issued_at.tzinfo is not None
    assert row == {
        "uuid": card.uuid,
        "service": "blinatumomab-order-sign",
        "hook_instance": "hook-7",
        "topic": "dose",
        "indicator": "critical",
        "issuer": ISSUER,
        "tenant": None,
    }


def test_the_driver_gets_only_values_it_stores_without_adapters(tmp_path: Path) -> None:
    """SQLAlchemy converts a datetime to its own text form before the driver sees it; Python's
    sqlite3 default adapters are deprecated (3.12) and may not write the same text."""
    store = FeedbackStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert store._issued_on_driver is not None
    row = {
        "uuid": "u-1",
        "service": "blinatumomab-order-sign",
        "hook_instance": "hook-1",
        "topic": "dose",
        "indicator": "info",
        "issued_at": datetime(2026, 12, 2, 14, 0, tzinfo=UTC),
        "issuer": None,
        "tenant": "t1",
    }
    sql, params = store._issued_on_driver.statement([row, row | {"uuid": "u-2"}])
    assert sql.count("(?, ?, ?, ?, ?, ?, ?, ?)") == 2
    assert all(value is None or type(value) in (str, int, float) for value in params)
    assert params[:8] == (
        "u-1", "blinatumomab-order-sign", "hook-1", "dose", "info",
        "2026-12-02 14:00:00.000000", None, "t1",
    )  # fmt: skip


def test_an_in_memory_database_stays_on_the_pool_it_shares_with_the_feedback_store() -> None:
    store = FeedbackStore("sqlite://")
    cache = ReplayCache(store.unflushed_engine)
    _one_call(store, cache)
    assert cache.first_use(ISSUER, "jti-x", EXPIRES)
    assert not cache.first_use(ISSUER, "jti-x", EXPIRES)
    assert cache._own.get() is None and store._own.get() is None


def test_a_forked_worker_opens_its_own_connection_and_sees_the_parents_tokens(
    tmp_path: Path,
) -> None:
    """gunicorn forks its workers from the process that built the app: a SQLite connection must
    never be used across a fork."""
    cache = ReplayCache(FeedbackStore(f"sqlite:///{tmp_path / 'db.sqlite3'}").unflushed_engine)
    seen = str(uuid.uuid4())
    assert cache.first_use(ISSUER, seen, EXPIRES)
    parents = cache._own.get()
    child = os.fork()
    if child == 0:  # the child reports by its exit status alone
        try:
            ok = (
                not cache.first_use(ISSUER, seen, EXPIRES)
                and cache.first_use(ISSUER, str(uuid.uuid4()), EXPIRES)
                and cache._own.get() is not parents
            )
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache._own.get() is parents
    assert cache.first_use(ISSUER, str(uuid.uuid4()), EXPIRES)
