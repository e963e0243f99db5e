"""The service's own OpenAPI document, and schemathesis throwing generated requests at every route
of a secured service (a fresh signed EHR token per case): no 5xx, and every answer (status, content
type, body) conforms to the document; a call without the token is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from cds import create_app
from cds.services import SERVICES
from cds.settings import Settings
from tests.api.test_auth import BASE, ISSUER, jwks_file, token
from tests.conftest import NOW, chart_request

__all__ = ["jwks_file"]  # a fixture used by `secure_app`


@pytest.fixture
def secure_app(tmp_path: Path, jwks_file: Path) -> Flask:
    settings = Settings(
        dev_mode=False,
        database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        trusted_issuers={ISSUER: str(jwks_file)},
        allowed_fhir_servers=["https://fhir.example.org/r4"],
        public_base_url=BASE,
    )
    return create_app(settings, clock=lambda: NOW)


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    """A generated `fhirServer` never reaches the network: every fetch fails as unreachable."""
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        yield


def test_the_document_names_every_route_of_every_service(secure_app: Flask) -> None:
    document = secure_app.test_client().get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    expected = {"/cds-services"}
    for service_id in SERVICES:
        expected |= {f"/cds-services/{service_id}", f"/cds-services/{service_id}/feedback"}
    assert set(document["paths"]) == expected
    card = document["components"]["schemas"]["Card"]
    assert {"uuid", "summary", "indicator", "source"} <= set(card["required"])
    sign = document["paths"]["/cds-services/blinatumomab-order-sign"]["post"]
    assert sign["security"] == [{"ehrJwt": []}]


def _labels() -> list[str]:
    labels = ["GET /cds-services"]
    for service_id in SERVICES:
        labels += [f"POST /cds-services/{service_id}", f"POST /cds-services/{service_id}/feedback"]
    return labels


@pytest.mark.slow  # generated requests (schemathesis)
@pytest.mark.parametrize("label", _labels())
def test_generated_requests_get_documented_answers(secure_app: Flask, label: str) -> None:
    """Bounded: 50 generated cases an operation. `positive_data_acceptance` is left out on
    purpose: a schema-valid request can still be refused with a 4xx for clinical-data reasons the
    schema cannot express (a draftOrders Bundle that is not FHIR, a patient id that does not
    match), which the API tests cover one by one."""
    api_schema = schemathesis.openapi.from_wsgi("/openapi.json", secure_app)
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is missing from the document"

    @given(case=operation.as_strategy())
    @settings(
        max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def answers_as_documented(case: schemathesis.Case[Any]) -> None:
        bearer = token(aud=BASE + case.formatted_path)
        case.call_and_validate(
            headers={"Authorization": f"Bearer {bearer}"},
            excluded_checks=[positive_data_acceptance],
        )

    answers_as_documented()


@pytest.mark.parametrize(
    "chart",
    ["adult-70kg-rr-cycle1-correct", "premed-adult-rr-cycle1-missing", "dose-adult-no-weight"],
)
def test_real_cards_conform_to_the_document(secure_app: Flask, chart: str) -> None:
    """The answers to realistic charts, cards and suggestions included, match the document."""
    api_schema = schemathesis.openapi.from_wsgi("/openapi.json", secure_app)
    path = "/cds-services/blinatumomab-order-sign"
    operation = api_schema.find_operation_by_label(f"POST {path}")
    assert operation is not None
    case = operation.Case(body=chart_request(chart), media_type="application/json")
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token(aud=BASE + path)}"})
    assert response.status_code == 200
    if chart != "adult-70kg-rr-cycle1-correct":
        assert response.json()["cards"], "a chart with a problem must have produced cards"
