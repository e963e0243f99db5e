"""A vaccine ORDER whose route says it is live: influenza of an unspecified formulation (CVX 88)
ordered intranasally is live attenuated influenza (LAIV), as an Immunization given so already is
(`cds.fhir.vaccines.by_route`, vaccine-recognition.yaml `route_rules`). The route of a
MedicationRequest is `dosageInstruction[].route` (codings and text); an intramuscular CVX 88 is an
inactivated influenza vaccine and stays quiet.

Known defect fixed here: a nasal CVX 88 draft order signed with blinatumomab, or signed alone for
a patient on blinatumomab, had no card (a silent all-clear)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.fast_path import Triggers, full_path_reason
from cds.knowledge import load_knowledge
from tests.checks.test_vaccines import (
    CVX,
    ORDERED_DURING,
    ORDERED_TOGETHER,
    ROUTE_V3,
    SNOMED,
    STILL_ORDERED,
    assert_alone_rules,
    assert_ordered_alone,
    chart,
    history_order,
    vaccine_alone,
    vaccine_order,
)
from tests.conftest import SIGN
from tests.fixtures_util import Expected, findings_of_topic, order_sign

UCUM = "http://unitsofmeasure.org"

NASAL_PRONGS = {  # as an EHR codes it from the R4 immunization-route value set
    "coding": [{"system": ROUTE_V3, "code": "NASINHLC", "display": "inhalation, nasal, prongs"}],
    "text": "Intranasal",
}
NASAL_SNOMED = {"coding": [{"system": SNOMED, "code": "46713006", "display": "Nasal route"}]}
NASAL_SNOMED_CODE_ONLY = {"coding": [{"system": SNOMED, "code": "46713006"}]}
NASAL_TEXT_ONLY = {"text": "Intranasal spray"}
INTRAMUSCULAR = {
    "coding": [{"system": ROUTE_V3, "code": "IM", "display": "Injection, intramuscular"}],
    "text": "Intramuscular",
}
INTRAMUSCULAR_SNOMED = {
    "coding": [{"system": SNOMED, "code": "78421000", "display": "Intramuscular route"}]
}


def flu_order(
    route: dict[str, Any] | None,
    *,
    oid: str = "flu-order",
    status: str = "draft",
    dose_ml: float = 0.2,
) -> dict[str, Any]:
    """An order for influenza vaccine coded CVX 88 (unspecified formulation), as a pharmacy
    system writes one: the formulation is said only by the route of its dosage instruction."""
    order = vaccine_order("88", "influenza, unspecified formulation", oid=oid, status=status)
    order["medicationCodeableConcept"]["text"] = "Influenza virus vaccine 2025-2026"
    dosage: dict[str, Any] = {
        "sequence": 1,
        "timing": {"repeat": {"count": 1}},
        "doseAndRate": [
            {"doseQuantity": {"value": dose_ml, "unit": "mL", "system": UCUM, "code": "mL"}}
        ],
    }
    if route is not None:
        dosage["route"] = route
    order["dosageInstruction"] = [dosage]
    return order


# Signed TOGETHER with the blinatumomab order of this cycle (order-sign, both drafts).
TOGETHER: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "cycle 2, blinatumomab signed with influenza CVX 88 given intranasally (HL7 NASINHLC) -> "
    "critical, ordered together": (chart(flu_order(NASAL_PRONGS), cycle=2), [ORDERED_TOGETHER]),
    "cycle 1, blinatumomab signed with CVX 88 by SNOMED 46713006 'Nasal route' -> critical": (
        chart(flu_order(NASAL_SNOMED)),
        [ORDERED_TOGETHER],
    ),
    "cycle 1, CVX 88 with SNOMED 46713006 and no display -> critical (the code decides)": (
        chart(flu_order(NASAL_SNOMED_CODE_ONLY)),
        [ORDERED_TOGETHER],
    ),
    "cycle 1, CVX 88 with route in text only 'Intranasal spray' -> critical": (
        chart(flu_order(NASAL_TEXT_ONLY)),
        [ORDERED_TOGETHER],
    ),
    "cycle 2, CVX 88 0.5 mL intramuscular (HL7 IM) -> no live-vaccine card (inactivated)": (
        chart(flu_order(INTRAMUSCULAR, dose_ml=0.5), cycle=2),
        [],
    ),
    "cycle 1, CVX 88 intramuscular by SNOMED 78421000 -> no live-vaccine card": (
        chart(flu_order(INTRAMUSCULAR_SNOMED, dose_ml=0.5)),
        [],
    ),
    "cycle 1, CVX 88 with no route at all -> no live-vaccine card (formulation unknown)": (
        chart(flu_order(None, dose_ml=0.5)),
        [],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), TOGETHER.values(), ids=TOGETHER.keys())
def test_a_flu_order_signed_with_blinatumomab_is_live_by_its_route(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "live-vaccine") == expected


def test_the_card_names_the_vaccine_as_the_route_reads_it(client: FlaskClient) -> None:
    """The clinician is told it is the nasal (live) influenza vaccine, and offered its removal."""
    body = client.post(SIGN, json=order_sign(chart(flu_order(NASAL_PRONGS)))).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]
    assert "influenza nasal" in card["summary"].lower() + card.get("detail", "").lower()
    deletes = [
        a["resourceId"]
        for s in card.get("suggestions", [])
        for a in s["actions"]
        if a["type"] == "delete"
    ]
    assert deletes == ["MedicationRequest/flu-order"]


# Signed ALONE (no blinatumomab among the drafts) for a patient with blinatumomab on file.
CYCLE_2_ACTIVE = history_order("2026-02-23T10:00:00+00:00", 28, cycle=2, status="active")
ALONE: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "patient on blinatumomab cycle 2, influenza CVX 88 ordered intranasally -> critical, "
    "ordered during treatment": (
        vaccine_alone(CYCLE_2_ACTIVE, order=flu_order(NASAL_PRONGS)),
        [ORDERED_DURING],
    ),
    "patient on blinatumomab cycle 2, CVX 88 route text 'Intranasal spray' -> critical": (
        vaccine_alone(CYCLE_2_ACTIVE, order=flu_order(NASAL_TEXT_ONLY)),
        [ORDERED_DURING],
    ),
    "patient on blinatumomab cycle 2, CVX 88 by SNOMED nasal route -> critical": (
        vaccine_alone(CYCLE_2_ACTIVE, order=flu_order(NASAL_SNOMED)),
        [ORDERED_DURING],
    ),
    "patient on blinatumomab cycle 2, CVX 88 intramuscular -> no card": (
        vaccine_alone(CYCLE_2_ACTIVE, order=flu_order(INTRAMUSCULAR, dose_ml=0.5)),
        [],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), ALONE.values(), ids=ALONE.keys())
def test_a_flu_order_alone_during_blinatumomab_is_live_by_its_route(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    assert_ordered_alone(client, chart_bundle, expected)


@pytest.mark.parametrize(("chart_bundle", "expected"), ALONE.values(), ids=ALONE.keys())
def test_the_route_is_read_by_the_pure_vaccine_order_check(
    chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    assert_alone_rules(chart_bundle, expected)


def test_a_nasal_flu_order_still_active_on_file_is_still_ordered(client: FlaskClient) -> None:
    """The `medications` prefetch: an active order for CVX 88 intranasally, not yet given, when
    blinatumomab is signed -> critical (still ordered)."""
    on_file = flu_order(NASAL_SNOMED, oid="flu-on-file", status="active")
    body = client.post(SIGN, json=order_sign(chart(on_file))).get_json()
    assert findings_of_topic(body, "live-vaccine") == [STILL_ORDERED]


def test_an_intramuscular_flu_order_still_active_on_file_is_quiet(client: FlaskClient) -> None:
    on_file = flu_order(INTRAMUSCULAR, oid="flu-on-file", status="active", dose_ml=0.5)
    body = client.post(SIGN, json=order_sign(chart(on_file))).get_json()
    assert findings_of_topic(body, "live-vaccine") == []


def drafts_of(*orders: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": o} for o in orders],
    }


@pytest.fixture(scope="module")
def triggers() -> Triggers:
    return Triggers.from_knowledge(load_knowledge())


@pytest.mark.parametrize(
    "route",
    [NASAL_PRONGS, NASAL_SNOMED, NASAL_SNOMED_CODE_ONLY, NASAL_TEXT_ONLY],
    ids=["HL7 NASINHLC", "SNOMED nasal", "SNOMED code only", "text only"],
)
def test_a_nasal_cvx_88_order_takes_the_full_path(
    triggers: Triggers, route: dict[str, Any]
) -> None:
    """Even coded by CVX 88 alone, no display, no text: the route may make it live."""
    order = flu_order(route)
    order["medicationCodeableConcept"] = {"coding": [{"system": CVX, "code": "88"}]}
    assert full_path_reason(drafts_of(order), triggers) is not None


def test_an_intramuscular_cvx_88_order_alone_gets_no_cards(client: FlaskClient) -> None:
    """Never on blinatumomab: an inactivated flu shot is answered with no cards (it takes the
    full path, as every vaccine order does, and the full path stays quiet)."""
    request = order_sign(vaccine_alone(order=flu_order(INTRAMUSCULAR)))
    body = client.post(SIGN, json=request).get_json()
    assert body["cards"] == []
