"""The JWT replay cache (`cds.replay`) on each database it runs on: a token is accepted once, the
write does not wait for the disk, and a driver error comes out as SQLAlchemy's (the view turns it
into a 503: never a token accepted unchecked, never a 500), leaving the pool usable."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds.errors import StoreUnavailable
from cds.feedback import FeedbackStore
from cds.replay import ReplayCache


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeedbackStore]:
    if request.param == "sqlite":
        yield FeedbackStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
        return
    url = os.environ.get("CDS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL tests need CDS_TEST_POSTGRES_URL (scripts/start-test-postgres.sh)")
    yield FeedbackStore(url)


def _soon() -> float:
    return time.time() + 300


def test_a_token_is_accepted_once_per_issuer(store: FeedbackStore) -> None:
    cache = ReplayCache(store.unflushed_engine)
    jti = str(uuid.uuid4())
    assert cache.first_use("https://ehr-a.example", jti, _soon())
    assert not cache.first_use("https://ehr-a.example", jti, _soon())
    assert cache.first_use("https://ehr-b.example", jti, _soon())  # another issuer's jti


def test_two_long_jtis_sharing_their_first_256_characters_are_two_tokens(
    store: FeedbackStore,
) -> None:
    cache = ReplayCache(store.unflushed_engine)
    prefix = "x" * 256
    assert cache.first_use("https://ehr.example", prefix + "-one", _soon())
    assert cache.first_use("https://ehr.example", prefix + "-two", _soon())
    assert not cache.first_use("https://ehr.example", prefix + "-two", _soon())  # a replay


def test_another_worker_sees_the_token_at_once(store: FeedbackStore) -> None:
    jti = str(uuid.uuid4())
    assert ReplayCache(store.unflushed_engine).first_use("https://ehr.example", jti, _soon())
    other_worker = ReplayCache(store.unflushed_engine)
    assert not other_worker.first_use("https://ehr.example", jti, _soon())


def test_the_insert_does_not_wait_for_the_disk_and_leaves_the_connection_as_it_was(
    store: FeedbackStore,
) -> None:
    cache = ReplayCache(store.unflushed_engine)
    cache.first_use("https://ehr.example", str(uuid.uuid4()), _soon())
    with store.unflushed_engine.connect() as connection:
        if connection.dialect.name == "postgresql":  # SET LOCAL ended with the transaction
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
        else:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1  # NORMAL


def test_a_driver_error_is_sqlalchemys_and_the_pool_stays_usable(
    store: FeedbackStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement the database refuses (here: a table that is not there; the real one is shared
    with other tests) leaves no aborted transaction on the pooled connection."""
    store.unflushed_engine.dispose()
    broken = ReplayCache(store.unflushed_engine)
    monkeypatch.setattr(broken, "_sql", "INSERT INTO no_such_table VALUES (1)")
    monkeypatch.setattr(broken, "_order", ())
    for _ in range(3):  # the same pooled connection each time
        with pytest.raises(StoreUnavailable):
            broken.first_use("https://ehr.example", str(uuid.uuid4()), _soon())
    working = ReplayCache(store.unflushed_engine)
    assert working.first_use("https://ehr.example", str(uuid.uuid4()), _soon())
