"""Shared test set-up: an app in open development mode on a throw-away SQLite file, a fixed clock,
and helpers that turn the chart fixtures into CDS Hooks requests.

The quick loop is `pytest -m "not slow"`: tests that start servers or a browser, need PostgreSQL,
build the wheel or generate hundreds of inputs carry the `slow` marker (pyproject.toml).
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import cds.__main__
import cds.knowledge
from cds import create_app
from cds.cards import FINDING_CODE_EXTENSION
from cds.fhir.bundle import request_from_bundle
from cds.findings import ContractError
from cds.hooks import Card, Coding, Source
from cds.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fhir-fixtures"
SHARED = ROOT.parent / "shared"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # when the fixtures' orders are signed
SIGN = "/cds-services/blinatumomab-order-sign"
SELECT = "/cds-services/blinatumomab-order-select"


def load_json(path: Path | str) -> Any:
    return json.loads(
        (FIXTURES / path if isinstance(path, str) else path).read_text(encoding="utf-8")
    )


def chart_request(name: str) -> dict[str, Any]:
    """The order-sign request an EHR would send for `fhir-fixtures/charts/<name>.json`."""
    return request_from_bundle(load_json(f"charts/{name}.json"))


def fixture_charts() -> list[str]:
    """The names of every sample chart (`fhir-fixtures/charts`)."""
    charts = sorted(
        p.stem for p in (FIXTURES / "charts").glob("*.json") if ".expected" not in p.name
    )
    assert len(charts) > 20
    return charts


def cards_of(client: Any, request: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The cards a call gets, as (indicator, summary, detail), in a stable order."""
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return sorted(
        (c["indicator"], c["summary"], c.get("detail", "")) for c in answer.get_json()["cards"]
    )


class _ContractBreaches(logging.Handler):
    """Collects the checks that failed on a finding their declaration does not allow."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and isinstance(record.exc_info[1], ContractError):
            self.seen.append(f"{record.getMessage()}: {record.exc_info[1]}")


@pytest.fixture(autouse=True)
def _no_contract_breach(request: pytest.FixtureRequest) -> Iterator[None]:
    """In production a check that emits a code or value it did not declare fails safe (its topic
    gets the "could not verify" card); in a test it is a bug, so the test fails, unless it is
    marked `contract_breach` (it breaks the contract on purpose)."""
    breaches = _ContractBreaches()
    logger = logging.getLogger("cds")
    logger.addHandler(breaches)
    yield
    logger.removeHandler(breaches)
    if breaches.seen and request.node.get_closest_marker("contract_breach") is None:
        pytest.fail("finding contract broken: " + "; ".join(breaches.seen))


@pytest.fixture(scope="session", autouse=True)
def _shipped_knowledge_read_once() -> Iterator[None]:
    """Every app a test builds (hundreds: one per `client`, one per `python -m cds check`) reads
    and validates the repository's knowledge files; within a session they do not change and the
    models are frozen, so they are read once. Another folder (a test's edited copy) is read anew."""
    load = cds.knowledge.load_knowledge
    shipped = functools.cache(lambda: load(cds.knowledge.KNOWLEDGE_DIR))

    def load_once(directory: Path = cds.knowledge.KNOWLEDGE_DIR) -> cds.knowledge.Knowledge:
        return shipped() if Path(directory) == cds.knowledge.KNOWLEDGE_DIR else load(directory)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cds.knowledge, "load_knowledge", load_once)
        yield


@pytest.fixture(scope="session", autouse=True)
def _one_app_for_the_check_command() -> Iterator[None]:
    """`python -m cds check` run in-process (hundreds of scenario files) builds the same app each
    time: a dry run (no store), the same settings, only the clock differs. Build it once and set
    the clock per call. The real command runs whole in tests that start a process."""
    built: dict[str, Flask] = {}

    def create_once(
        settings: Settings, clock: Callable[[], datetime] | None = None, dry_run: bool = False
    ) -> Flask:
        if clock is None:  # `serve`: built and refused or served as it always is
            return create_app(settings)
        key = settings.model_dump_json()
        if key not in built:
            built[key] = create_app(settings, clock=clock, dry_run=dry_run)
        built[key].extensions["cds.engine"].clock = clock
        return built[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cds.__main__, "create_app", create_once, raising=False)
        yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(dev_mode=True, database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}")


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., Flask]:
    def build(**kwargs: Any) -> Flask:
        kwargs.setdefault("clock", lambda: NOW)
        return create_app(kwargs.pop("settings", settings), **kwargs)

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as test_client:
        yield test_client


def cards_by_topic(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every card of an answer as (topic, indicator, finding code), sorted."""
    return sorted(
        (c["source"]["topic"]["code"], c["indicator"], c["extension"][FINDING_CODE_EXTENSION])
        for c in body["cards"]
    )


def without_prefetch(request: dict[str, Any], *keys: str) -> dict[str, Any]:
    changed = copy.deepcopy(request)
    for key in keys or list(changed.get("prefetch", {})):
        changed["prefetch"].pop(key, None)
    return changed


def dose_card() -> Card:
    """A rendered critical dose card with a new uuid, as the feedback store records them."""
    topic = Coding(system="https://cds.example.org/fhir/CodeSystem/card-topic", code="dose")
    return Card(
        uuid=str(uuid.uuid4()),
        summary="Dose above the label",
        indicator="critical",
        source=Source(label="BLINCYTO USPI", topic=topic),
    )
