"""Liveness and readiness: open to probes without a JWT, and readiness follows the database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from cds import create_app
from cds.knowledge import load_knowledge
from cds.settings import Settings
from tests.api.test_auth import EHR_KEY, ISSUER, KID, _jwk, call, token


@pytest.fixture
def database_dir(tmp_path: Path) -> Path:
    return tmp_path / "instance"


@pytest.fixture
def production(database_dir: Path, jwks_file: Path) -> FlaskClient:
    """The service as deployed: JWT required on every CDS Hooks call."""
    settings = Settings(
        dev_mode=False,
        database_url=f"sqlite:///{database_dir / 'cds.sqlite3'}",
        trusted_issuers={ISSUER: str(jwks_file)},
        public_base_url="http://localhost",
    )
    return create_app(settings).test_client()


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(EHR_KEY, KID, "ES384")]}))
    return path


def test_liveness_needs_no_token_and_touches_nothing(production: FlaskClient) -> None:
    answer = production.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok"}
    assert answer.headers["Cache-Control"] == "no-store"
    # the service itself is still closed to a caller without a token
    assert call(production, None).status_code == 401


def test_readiness_reports_knowledge_and_database_without_a_token(
    production: FlaskClient,
) -> None:
    answer = production.get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json() == {
        "status": "ready",
        "checks": {"knowledge": "ok", "database": "ok"},
        "knowledgeVersion": load_knowledge().version,
    }
    assert call(production, token()).status_code == 200  # ready means it really serves


def test_a_lost_database_makes_the_replica_unready_but_still_alive(
    production: FlaskClient, database_dir: Path
) -> None:
    production.application.extensions["cds.feedback"].engine.dispose()
    shutil.rmtree(database_dir)  # the volume is gone: SQLite cannot open the file any more
    answer = production.get("/readyz")
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"knowledge": "ok", "database": "unavailable"}
    assert str(database_dir) not in answer.get_data(as_text=True)  # no detail for the probe
    assert production.get("/healthz").status_code == 200  # do not restart: wait for the DB
