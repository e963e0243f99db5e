"""The common call through the service: an order-sign for another drug is answered "no cards"
without the chart being read, and the answer is the one the full path gives; blinatumomab,
live-vaccine and unresolved-medication orders still reach the full path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds.services import Engine
from tests.conftest import SIGN, chart_request

CHART = "adult-70kg-rr-cycle1-correct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"


def with_draft(medication: dict[str, Any]) -> dict[str, Any]:
    """The fixture chart's request (the whole chart in its prefetch) signing another order."""
    request = copy.deepcopy(chart_request(CHART))
    draft = {
        "resourceType": "MedicationRequest",
        "id": "draft-other-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/pt-adult-rr"},
        "authoredOn": "2026-03-02T08:00:00+00:00",
        "dosageInstruction": [{"text": "one dose", "route": {"text": "as directed"}}],
    } | medication
    request["context"]["draftOrders"]["entry"] = [{"resource": draft}]
    return request


ONDANSETRON = {
    "medicationCodeableConcept": {
        "coding": [{"system": RXNORM, "code": "26225", "display": "ondansetron"}],
        "text": "ondansetron 8 mg IV",
    }
}


@pytest.fixture
def full_path_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    handle = Engine.handle

    def spy(self: Engine, service_id: str, body: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(service_id)
        return handle(self, service_id, body, *args, **kwargs)

    monkeypatch.setattr(Engine, "handle", spy)
    return calls


def test_ondansetron_order_with_a_full_chart_gets_no_cards_without_the_full_path(
    client: FlaskClient, full_path_calls: list[str]
) -> None:
    answer = client.post(SIGN, json=with_draft(ONDANSETRON))
    assert answer.status_code == 200
    assert answer.get_json() == {"cards": []}
    assert full_path_calls == []


def test_the_fast_answer_is_the_full_paths_answer(app: Flask, client: FlaskClient) -> None:
    request = with_draft(ONDANSETRON)
    engine: Engine = app.extensions["cds.engine"]
    full = engine.handle("blinatumomab-order-sign", request).response.to_json()
    assert client.post(SIGN, json=request).get_json() == full == {"cards": []}


@pytest.mark.parametrize(
    ("case", "medication"),
    [
        ("the fixture's blinatumomab order", None),
        (
            "a live vaccine (MMR, CVX 03) for a patient with blinatumomab history",
            {
                "medicationCodeableConcept": {
                    "coding": [{"system": CVX, "code": "03", "display": "MMR"}],
                    "text": "M-M-R II",
                }
            },
        ),
        (
            "a Medication the request does not hold",
            {"medicationReference": {"reference": "Medication/x9"}},
        ),
    ],
)
def test_orders_that_may_concern_blinatumomab_take_the_full_path(
    client: FlaskClient, full_path_calls: list[str], case: str, medication: dict[str, Any] | None
) -> None:
    request = chart_request(CHART) if medication is None else with_draft(medication)
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 200, case
    assert full_path_calls == ["blinatumomab-order-sign"], case


def test_a_bad_envelope_is_still_a_400_on_the_fast_path(
    client: FlaskClient, full_path_calls: list[str]
) -> None:
    request = with_draft(ONDANSETRON)
    del request["context"]["userId"]
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 400
    assert "userId" in answer.get_data(as_text=True)
