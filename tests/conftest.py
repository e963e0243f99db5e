"""Shared test set-up: an app in open development mode on a throw-away SQLite file, a fixed clock,
and helpers that turn the chart fixtures into CDS Hooks requests."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds import create_app
from cds.fhir.bundle import request_from_bundle
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


def cards_by_topic(body: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((c["source"]["topic"]["code"], c["indicator"]) for c in body["cards"])


def without_prefetch(request: dict[str, Any], *keys: str) -> dict[str, Any]:
    changed = copy.deepcopy(request)
    for key in keys or list(changed.get("prefetch", {})):
        changed["prefetch"].pop(key, None)
    return changed
