"""Issue 15 rules wired into the checks: clinical scenarios through `run_checks` (no HTTP), then
end to end through the Flask client in prefetch mode, and one in FHIR-fallback mode where the
interruption is read only from MedicationAdministration records (a `responses` FHIR server)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from cds.checks import CheckInput, registry, run_checks
from cds.fhir.bundle import request_from_bundle
from cds.fhir.prefetch import resolve_prefetch
from cds.fhir.snapshot import build_snapshot, draft_orders
from cds.knowledge import load_knowledge
from cds.orders import is_blinatumomab, review
from cds.services import prefetch_templates
from tests.conftest import NOW, SIGN
from tests.fixtures_util import (
    START,
    Step,
    blinatumomab_administration,
    blinatumomab_order,
    bundle,
    condition,
    dexamethasone_order,
    findings_of_topic,
    height,
    order_sign,
    patient,
    weight,
)

KNOWLEDGE = load_knowledge()
P = "pt-wired"
BEGIN = datetime.fromisoformat(START)
C1 = BEGIN - timedelta(days=56)  # cycle 1 began eight weeks before the new order
FHIR = "https://ehr.example.org/fhir"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
Card = tuple[str, str, str]  # (topic, indicator, finding code)


def adult(kg: float = 70, cm: float | None = 176, born: str = "1969-11-23") -> list[dict[str, Any]]:
    chart = [patient(P, birth_date=born), weight(P, kg)]
    return chart + ([height(P, cm)] if cm is not None else [])


def cycle1(days: int = 28, status: str = "completed") -> dict[str, Any]:
    return blinatumomab_order(
        P,
        [Step(9, days=7), Step(28, days=days - 7)],
        oid="blin-c1",
        cycle=1,
        start=C1.isoformat(),
        status=status,
        authored=(C1 - timedelta(hours=2)).isoformat(),
    )


def administration(
    aid: str, start: datetime, end: datetime, rate: float = 28, request: str | None = None
) -> dict[str, Any]:
    return blinatumomab_administration(P, aid, start, end, rate=rate, request=request)


def grade4_crs() -> dict[str, Any]:
    resource = condition(
        P,
        "D89.834",
        "Cytokine release syndrome, grade 4",
        cid="crs-4",
        clinical_status="resolved",
        onset=(C1 + timedelta(days=2)).date().isoformat(),
    )
    return resource | {"abatementDateTime": (C1 + timedelta(days=5)).date().isoformat()}


def draft(
    *steps: Step, cycle: int = 2, indication: str | None = "relapsed-refractory"
) -> dict[str, Any]:
    return blinatumomab_order(P, list(steps), cycle=cycle, indication=indication)


# (chart, the cards of the topics named) — each row one clinical scenario.
SCENARIOS: dict[str, tuple[list[dict[str, Any]], dict[str, list[Card]]]] = {
    "adult, resolved grade 4 CRS after cycle 1, new order -> critical discontinue": (
        [*adult(), cycle1(), grade4_crs(), draft(Step(28, days=28))],
        {"dose": [("dose", "critical", "dose-toxicity-discontinue")]},
    ),
    "8-year-old 30 kg, no height, R/R cycle 1 day 1, 28 mcg/day -> critical overdose": (
        [*adult(30, None, born="2017-09-01"), draft(Step(28, days=28), cycle=1)],
        {"dose": [("dose", "critical", "dose-overdose")]},
    ),
    "resume after 5-day interruption with 28 days ordered -> warning too long": (
        [
            *adult(),
            cycle1(),
            blinatumomab_order(
                P,
                [Step(28, days=10)],
                oid="blin-c2-first",
                cycle=2,
                start=(BEGIN - timedelta(days=15)).isoformat(),
                status="stopped",
            ),
            draft(Step(28, days=28)),
        ],
        {"cycle-limits": [("cycle-limits", "warning", "cycle-resume-too-long")]},
    ),
    "stopped order keeping its planned 28 days, MAR shows 5 days then a 5-day gap, resumed for "
    "28 days -> warning too long (the MAR, not the plan)": (
        [
            *adult(),
            cycle1(),
            blinatumomab_order(
                P,
                [Step(28, days=28)],
                oid="blin-c2-first",
                cycle=2,
                start=(BEGIN - timedelta(days=10)).isoformat(),
                status="stopped",
            ),
            administration(
                "mar-c2",
                BEGIN - timedelta(days=10),
                BEGIN - timedelta(days=5),
                request="MedicationRequest/blin-c2-first",
            ),
            draft(Step(28, days=28)),
        ],
        {"cycle-limits": [("cycle-limits", "warning", "cycle-resume-too-long")]},
    ),
    "adult, problem list ALL in remission, 28 mcg/day uncoded -> no dose card (right for MRD "
    "and consolidation)": (
        [
            *adult(),
            condition(P, "C91.01", "Acute lymphoblastic leukemia, in remission"),
            draft(Step(28, days=28), cycle=1, indication=None),
        ],
        {"dose": []},
    ),
    "adult, newest diagnosis relapse (older remission), 28 from day 1 uncoded -> critical": (
        [
            *adult(),
            condition(P, "C91.01", "ALL, in remission", cid="c-old", onset="2025-01-10"),
            condition(P, "C91.02", "ALL, in relapse", cid="c-new", onset="2026-01-20"),
            draft(Step(28, days=28), cycle=1, indication=None),
        ],
        {"dose": [("dose", "critical", "dose-overdose")]},
    ),
}


def checked(chart: list[dict[str, Any]]) -> list[Card]:
    """The chart through the pipeline's own pieces, without HTTP."""
    request = request_from_bundle(bundle([*chart, dexamethasone_order(P, 20)]))
    sources = resolve_prefetch(
        prefetch_templates(KNOWLEDGE), request["prefetch"], {"patientId": P}, lambda: None, 5.0
    )
    snapshot = build_snapshot(P, sources, KNOWLEDGE)
    orders = draft_orders([e["resource"] for e in request["context"]["draftOrders"]["entry"]], [])
    inputs = [
        CheckInput(review(o, snapshot, KNOWLEDGE, NOW), snapshot, tuple(orders), NOW)
        for o in orders
        if is_blinatumomab(o, KNOWLEDGE)
    ]
    outcome = run_checks(inputs, KNOWLEDGE, registry())
    return sorted((f.topic, f.indicator, f.code) for f in outcome.findings)


@pytest.mark.parametrize(("chart", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_through_run_checks(chart: list[dict[str, Any]], expected: dict[str, list[Card]]) -> None:
    found = checked(chart)
    for topic, cards in expected.items():
        assert [c for c in found if c[0] == topic] == sorted(cards)


@pytest.mark.parametrize(("chart", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_through_the_service(
    client: FlaskClient, chart: list[dict[str, Any]], expected: dict[str, list[Card]]
) -> None:
    body = client.post(SIGN, json=order_sign(bundle([*chart, dexamethasone_order(P, 20)])))
    assert body.status_code == 200
    for topic, cards in expected.items():
        assert findings_of_topic(body.get_json(), topic) == sorted(cards)


def _interrupted_by_administrations() -> list[dict[str, Any]]:
    """Cycle 2 ran 10 days (MAR only, no order on file for it) and stopped 5 days ago."""
    first = BEGIN - timedelta(days=15)
    return [
        *adult(),
        cycle1(),
        administration("ma-1", first, first + timedelta(days=3)),
        administration("ma-2", first + timedelta(days=3), first + timedelta(days=10)),
        draft(Step(28, days=28)),
    ]


def test_administrations_in_the_prefetch_show_the_interruption(client: FlaskClient) -> None:
    body = client.post(SIGN, json=order_sign(bundle(_interrupted_by_administrations())))
    assert findings_of_topic(body.get_json(), "cycle-limits") == [
        ("cycle-limits", "warning", "cycle-resume-too-long")
    ]


BLINCYTO_KIT = {  # as a pharmacy system codes the product: the kit's NDC, no ingredient code
    "resourceType": "Medication",
    "id": "med-blincyto-kit",
    "code": {
        "coding": [
            {
                "system": "http://hl7.org/fhir/sid/ndc",
                "code": "55513-160-01",
                "display": "BLINCYTO kit",
            }
        ]
    },
}


def _by_medication_reference(contained: bool) -> list[dict[str, Any]]:
    """The same interrupted cycle 2, but the MAR names the drug only through a Medication: one
    contained in each administration, or one resource beside them (as `_include` brings it)."""
    chart = _interrupted_by_administrations()
    for resource in chart:
        if resource["resourceType"] == "MedicationAdministration":
            del resource["medicationCodeableConcept"]
            if contained:
                resource["contained"] = [BLINCYTO_KIT | {"id": "kit"}]
                resource["medicationReference"] = {"reference": "#kit"}
            else:
                resource["medicationReference"] = {"reference": "Medication/med-blincyto-kit"}
    return chart if contained else [*chart, BLINCYTO_KIT]


@pytest.mark.parametrize("contained", [True, False], ids=["contained", "in the prefetch"])
def test_administrations_naming_a_blinatumomab_medication_show_the_interruption(
    client: FlaskClient, contained: bool
) -> None:
    body = client.post(SIGN, json=order_sign(bundle(_by_medication_reference(contained))))
    assert findings_of_topic(body.get_json(), "cycle-limits") == [
        ("cycle-limits", "warning", "cycle-resume-too-long")
    ]


def test_administrations_of_another_medication_are_not_counted(client: FlaskClient) -> None:
    chart = _by_medication_reference(contained=False)
    kit = next(r for r in chart if r["resourceType"] == "Medication")
    amlodipine = {"system": RXNORM, "code": "197361", "display": "amlodipine 5 MG Oral Tablet"}
    kit["code"] = {"coding": [amlodipine]}
    body = client.post(SIGN, json=order_sign(bundle(chart)))
    assert findings_of_topic(body.get_json(), "cycle-limits") == []


@responses.activate
def test_a_prefetch_without_the_administrations_key_is_no_data(client: FlaskClient) -> None:
    request = order_sign(bundle(_interrupted_by_administrations()))
    del request["prefetch"]["administrations"]
    body = client.post(SIGN, json=request | {"fhirServer": FHIR}).get_json()
    assert len(responses.calls) == 0  # not fetched from the fhirServer
    # the cycle-2 infusion is simply unknown: cycle 2 looks like a new cycle, no card
    assert findings_of_topic(body, "cycle-limits") == []
    assert not any("administrations" in c["detail"] for c in body["cards"])


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


@responses.activate
def test_fhir_fallback_reads_the_administrations(client: FlaskClient) -> None:
    chart = _interrupted_by_administrations()
    request = order_sign(bundle([*chart, dexamethasone_order(P, 20)]))
    del request["prefetch"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in chart:
        if resource.get("status") != "draft":
            by_type.setdefault(resource["resourceType"], []).append(resource)
    responses.add(responses.GET, f"{FHIR}/Patient/{P}", json=by_type["Patient"][0])
    for kind in (
        "Observation",
        "Immunization",
        "MedicationRequest",
        "Condition",
        "MedicationAdministration",
    ):
        responses.add(responses.GET, f"{FHIR}/{kind}", json=_searchset(by_type.get(kind, [])))
    body = client.post(SIGN, json=request | {"fhirServer": FHIR}).get_json()
    fetched = [str(call.request.url) for call in responses.calls]
    assert any("/MedicationAdministration?patient=pt-wired" in url for url in fetched), fetched
    assert findings_of_topic(body, "cycle-limits") == [
        ("cycle-limits", "warning", "cycle-resume-too-long")
    ]


@responses.activate
def test_a_problem_list_that_cannot_be_read_after_cycle_1_is_said(client: FlaskClient) -> None:
    """Adult, cycle 2 after cycle 1, the EHR's FHIR server failing on Condition: a grade 4 CRS
    there would mean never again, so the dose card says the toxicity history was not checked."""
    request = order_sign(bundle([*adult(), cycle1(), draft(Step(28, days=28))]))
    del request["prefetch"]["conditions"]
    responses.add(responses.GET, f"{FHIR}/Condition", status=503)
    body = client.post(SIGN, json=request | {"fhirServer": FHIR}).get_json()
    assert ("dose", "warning", "dose-toxicity-history-unavailable") in findings_of_topic(
        body, "dose"
    )


@responses.activate
def test_a_first_ever_order_needs_no_toxicity_history(client: FlaskClient) -> None:
    """Cycle 1 day 1 of a first course, the problem list unreadable: nothing before it could
    have caused a toxicity, so no card about the toxicity history."""
    request = order_sign(bundle([*adult(), draft(Step(9, days=7), Step(28, days=21), cycle=1)]))
    del request["prefetch"]["conditions"]
    responses.add(responses.GET, f"{FHIR}/Condition", status=503)
    body = client.post(SIGN, json=request | {"fhirServer": FHIR}).get_json()
    assert body["cards"], body  # the call was answered with the other checks' cards
    codes = [code for _, _, code in findings_of_topic(body, "dose")]
    assert "dose-toxicity-history-unavailable" not in codes
