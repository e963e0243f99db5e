"""Scale-out: two replicas (`python -m cds serve`, 2 workers each, production mode) behind one
database never accept the same signed token twice, whether the copies arrive at once or one after
the other, at either replica. The replay cache is the `seen_tokens` table, primary key
(issuer, jti): of two inserts of one pair the database lets exactly one in.

Both replicas get the same `CDS_PUBLIC_BASE_URL`, as behind one load balancer, so one token's
`aud` is valid at either. PostgreSQL (`CDS_TEST_POSTGRES_URL`) is the deployment this is about;
SQLite (one file shared by two processes on one host) runs the same checks.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, func, select

from cds.feedback import database_url
from cds.replay import seen_tokens
from tests.api.test_auth import EHR_KEY, ISSUER, KID, _jwk, token
from tests.conftest import SIGN, chart_request
from tests.live import Server, Servers, database

pytestmark = pytest.mark.slow  # two servers on one database

PUBLIC_BASE = "https://cds.hospital.example"
DEADLINE_SECONDS = 90
COPIES_PER_REPLICA = 3
TOKENS_AT_ONCE = 8


@pytest.fixture(params=["postgresql", "sqlite"])
def replicas(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Server, Server, str]]:
    """Two production-mode replicas on one fresh database, ready; yields them and the URL."""
    jwks = tmp_path / "ehr-jwks.json"
    jwks.write_text(json.dumps({"keys": [_jwk(EHR_KEY, KID, "ES384")]}))
    env = {
        "CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: str(jwks)}),
        "CDS_PUBLIC_BASE_URL": PUBLIC_BASE,
    }
    servers = Servers(tmp_path)
    with database(request.param, tmp_path) as url:
        try:
            first = servers.start(url, dev=False, env=env)
            second = servers.start(url, dev=False, env=env)
            deadline = time.monotonic() + DEADLINE_SECONDS
            first.wait_ready(deadline)
            second.wait_ready(deadline)
            yield first, second, url
        finally:
            servers.close()


def _call(server: Server, bearer: str, body: dict[str, Any]) -> int:
    answer = requests.post(
        server.base + SIGN,
        json=body,
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=(2, 30),
    )
    assert answer.status_code in (200, 401), (answer.status_code, answer.text[:500])
    return answer.status_code


def _tokens_recorded(url: str) -> int:
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            query = select(func.count()).select_from(seen_tokens)
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def test_one_token_sent_to_both_replicas_one_after_the_other_is_accepted_once(
    replicas: tuple[Server, Server, str],
) -> None:
    first, second, url = replicas
    body = chart_request("adult-70kg-rr-cycle1-correct")
    once = token(aud=PUBLIC_BASE + SIGN)
    assert _call(first, once, body) == 200
    assert _call(second, once, body) == 401  # replayed at the other replica
    assert _call(first, once, body) == 401  # and at the first
    fresh = token(aud=PUBLIC_BASE + SIGN)  # a new jti is a new call: accepted at either
    assert _call(second, fresh, body) == 200
    assert _call(first, fresh, body) == 401
    assert _tokens_recorded(url) == 2


def _race(targets: list[Server], bearer: str, body: dict[str, Any]) -> list[int]:
    """Send one token to every target at the same instant (a barrier releases all threads)."""
    start = threading.Barrier(len(targets))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def send(server: Server) -> None:
        try:
            start.wait(timeout=10)
            statuses.append(_call(server, bearer, body))
        except BaseException as error:  # reported by the caller, with the others' statuses
            errors.append(error)

    threads = [threading.Thread(target=send, args=(server,)) for server in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return statuses


def test_copies_of_one_token_racing_to_both_replicas_are_accepted_exactly_once(
    replicas: tuple[Server, Server, str],
) -> None:
    first, second, url = replicas
    body = chart_request("adult-70kg-rr-cycle1-correct")
    targets = [first, second] * COPIES_PER_REPLICA
    for _ in range(TOKENS_AT_ONCE):
        statuses = _race(targets, token(aud=PUBLIC_BASE + SIGN), body)
        assert sorted(statuses) == [200] + [401] * (len(targets) - 1), (
            statuses,
            first.log_tail(),
            second.log_tail(),
        )
    assert _tokens_recorded(url) == TOKENS_AT_ONCE
