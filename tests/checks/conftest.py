"""The golden matrices share one app per test session: checks are pure functions of the request,
and nothing here reads the feedback store that each call writes its issued cards to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds import create_app
from cds.settings import Settings
from tests.conftest import NOW


@pytest.fixture(scope="session")
def shared_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    database = tmp_path_factory.mktemp("checks") / "feedback.sqlite3"
    settings = Settings(dev_mode=True, database_url=f"sqlite:///{database}")
    return create_app(settings, clock=lambda: NOW)


@pytest.fixture
def client(shared_app: Flask) -> Iterator[FlaskClient]:
    with shared_app.test_client() as test_client:
        yield test_client
