"""Tolerant parsing: real clients' quirks are repaired, bad resources become data issues, and a
blinatumomab order is recognised however its medication is carried."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds.fhir.parsing import normalise, resources_in, validate
from cds.fhir.snapshot import draft_orders
from cds.knowledge import load_knowledge
from cds.orders import is_blinatumomab
from cds.patient import DataIssue

SANDBOX_ORDER: dict[str, Any] = {  # as the public sandbox sends it: category object, no intent
    "resourceType": "MedicationRequest",
    "id": "request-123",
    "status": "draft",
    "category": {"coding": [{"code": "outpatient"}]},
    "subject": {"reference": "Patient/smart-1288992"},
    "medicationCodeableConcept": {
        "text": "Blincyto 35 MCG Injection",
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1597267"}],
    },
    "dosageInstruction": [
        {
            "doseQuantity": {"value": 9, "system": "http://unitsofmeasure.org", "code": "ug/d"},
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
        }
    ],
}


def test_sandbox_quirks_are_repaired_and_the_order_validates() -> None:
    fixed, repairs = normalise(SANDBOX_ORDER)
    assert isinstance(fixed["category"], list)
    assert fixed["intent"] == "proposal"
    assert fixed["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 9
    assert len(repairs) == 3
    model, issue = validate(SANDBOX_ORDER, "draftOrders")
    assert issue is None and model is not None
    assert "doseQuantity" in SANDBOX_ORDER["dosageInstruction"][0], "the input is not mutated"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"resourceType": "Observation", "id": "o1", "status": "final"}, "code"),
        (
            {
                "resourceType": "Observation",
                "id": "o2",
                "status": "final",
                "code": {"text": "Body weight"},
                "valueQuantity": {"value": "seventy", "unit": "kg"},
            },
            "valueQuantity",
        ),
        ({"resourceType": "Basic", "id": "b1"}, "unexpected resource type"),
        (["not", "an", "object"], "not a JSON object"),
    ],
    ids=["observation-without-code", "weight-not-a-number", "unknown-type", "not-an-object"],
)
def test_an_invalid_resource_becomes_a_data_issue(raw: Any, problem: str) -> None:
    model, issue = validate(raw, "observations")
    assert model is None
    assert isinstance(issue, DataIssue) and problem in issue.problem
    assert issue.source == "observations"


def test_resources_in_tolerates_bundles_without_type_and_nested_bundles() -> None:
    weight = {"resourceType": "Observation", "id": "w"}
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": weight},
            {"fullUrl": "urn:x"},
            {
                "resource": {
                    "resourceType": "Bundle",
                    "entry": [{"resource": {"resourceType": "Patient"}}],
                }
            },
            {"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "outcome"}},
        ],
    }
    assert [r["resourceType"] for r in resources_in(bundle)] == ["Observation", "Patient"]
    assert resources_in(weight) == [weight]
    assert resources_in(None) == []


def test_a_contained_medication_is_resolved() -> None:
    order = copy.deepcopy(SANDBOX_ORDER)
    del order["medicationCodeableConcept"]
    order["contained"] = [
        {
            "resourceType": "Medication",
            "id": "med1",
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "55513-160-01"}]},
        }
    ]
    order["medicationReference"] = {"reference": "#med1"}
    issues: list[DataIssue] = []
    [parsed] = draft_orders([order], issues)
    assert issues == []
    assert is_blinatumomab(parsed, load_knowledge())


def test_a_referenced_medication_in_the_same_bundle_is_resolved() -> None:
    order = copy.deepcopy(SANDBOX_ORDER)
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/blin"}
    medication = {
        "resourceType": "Medication",
        "id": "blin",
        "code": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1597258"}]
        },
    }
    [parsed] = draft_orders([order, medication], [])
    assert is_blinatumomab(parsed, load_knowledge())


def test_text_alone_identifies_blinatumomab_and_other_drugs_are_not_it() -> None:
    knowledge = load_knowledge()
    by_text = copy.deepcopy(SANDBOX_ORDER)
    by_text["medicationCodeableConcept"] = {"text": "BLINCYTO infusion"}
    other = copy.deepcopy(SANDBOX_ORDER)
    other["medicationCodeableConcept"] = {
        "text": "dexamethasone 4 mg",
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "3264"}],
    }
    parsed = draft_orders([by_text, other], [])
    assert [is_blinatumomab(o, knowledge) for o in parsed] == [True, False]


def test_draft_orders_without_id_get_one_so_cards_can_name_them() -> None:
    order = copy.deepcopy(SANDBOX_ORDER)
    del order["id"]
    [parsed] = draft_orders([order], [])
    assert parsed.resource == "MedicationRequest/draft-1"


def test_the_data_issue_says_where_the_resource_is_invalid() -> None:
    """Worded by the one formatter of validation problems (cds.errors.problem_text)."""
    weight = {
        "resourceType": "Observation",
        "id": "o3",
        "status": "final",
        "code": {"text": "Body weight"},
        "valueQuantity": {"value": 70, "unit": "kg"},
    }
    _, issue = validate({**weight, "valueQuantity": {"value": "seventy"}}, "observations")
    assert issue is not None
    assert issue.problem.startswith("invalid FHIR R4 at valueQuantity.value: ")
    _, issue = validate({**weight, "valueString": "70 kg"}, "observations")  # two value[x]
    assert issue is not None and issue.problem.startswith("invalid FHIR R4 at the resource: ")


MMR_NO_OFFSET: dict[str, Any] = {  # a time with no UTC offset, as some exports send it
    "resourceType": "Immunization",
    "id": "imm-mmr",
    "status": "completed",
    "vaccineCode": {
        "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "03", "display": "MMR"}]
    },
    "patient": {"reference": "Patient/pt-1"},
    "occurrenceDateTime": "2026-02-25T10:00:00",
}


@pytest.mark.parametrize(
    ("path", "sent", "read"),
    [
        (("occurrenceDateTime",), "2026-02-25T10:00:00", "2026-02-25"),
        (("occurrenceDateTime",), "2026-02-25T10:00", "2026-02-25"),
        (("occurrenceDateTime",), "2026-02-25T10:00:00.250", "2026-02-25"),
    ],
)
def test_a_datetime_without_its_offset_is_read_as_its_day(
    path: tuple[str, ...], sent: str, read: str
) -> None:
    raw = copy.deepcopy(MMR_NO_OFFSET) | {path[0]: sent}
    model, issue = validate(raw, "immunizations")
    assert issue is None and model is not None
    assert str(model.occurrenceDateTime) == read  # type: ignore[attr-defined]
    assert raw["occurrenceDateTime"] == sent, "the input is not mutated"


def test_an_order_with_offsetless_times_in_its_dosage_is_read_by_their_days() -> None:
    order = copy.deepcopy(SANDBOX_ORDER) | {"authoredOn": "2026-03-02T08:00:00"}
    order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = {
        "start": "2026-03-02T10:00:00"
    }
    model, issue = validate(order, "draftOrders")
    assert issue is None and model is not None
    assert str(model.authoredOn) == "2026-03-02"  # type: ignore[attr-defined]


CHILD_WEIGHT: dict[str, Any] = {  # a legacy export's weight: `issued` with no UTC offset
    "resourceType": "Observation",
    "id": "wt-child",
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}], "text": "Body weight"},
    "subject": {"reference": "Patient/child-6y"},
    "effectiveDateTime": "2026-03-01T08:30:00-05:00",
    "issued": "2026-03-01T08:30:00",
    "valueQuantity": {
        "value": 20,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    },
}


@pytest.mark.parametrize(
    ("change", "effective", "issued"),
    [
        ({}, "2026-03-01T08:30:00-05:00", None),  # issued never read beside effective[x]
        ({"issued": "03/01/2026 08:30"}, "2026-03-01T08:30:00-05:00", None),
        ({"effectiveDateTime": None}, "2026-03-01", None),  # issued alone dates it: its day
        (
            {"effectiveDateTime": None, "effectiveInstant": "2026-03-01T08:30:00"},
            "2026-03-01",
            None,
        ),
        (
            {"effectiveDateTime": None, "effectiveInstant": "2026-03-01T08:30:00", "issued": None},
            "2026-03-01",
            None,
        ),
        (
            {"issued": "2026-03-01T09:00:00Z"},
            "2026-03-01T08:30:00-05:00",
            "2026-03-01T09:00:00+00:00",
        ),
    ],
    ids=[
        "offsetless-issued",
        "us-date-issued",
        "only-issued",
        "offsetless-effective-instant",
        "offsetless-effective-instant-alone",
        "valid-issued-kept",
    ],
)
def test_a_weight_is_not_refused_for_an_issued_it_does_not_need(
    change: dict[str, Any], effective: str, issued: str | None
) -> None:
    """A 6-year-old's 20 kg weight refused for its `issued` had left an adult dose (2.3x the
    label's BSA dose) with only a "no usable weight" warning."""
    raw = {k: v for k, v in (copy.deepcopy(CHILD_WEIGHT) | change).items() if v is not None}
    model, issue = validate(raw, "observations")
    assert issue is None and model is not None
    assert model.effectiveDateTime.isoformat() == effective  # type: ignore[attr-defined]
    assert (model.issued.isoformat() if model.issued else None) == issued  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "change",
    [
        {"issued": "2026-03-01T08:30:00", "status": 5},  # and another error
        {"effectiveDateTime": None, "issued": "03/01/2026 08:30"},  # the only date, unreadable
    ],
    ids=["with-another-error", "only-date-unreadable"],
)
def test_an_observation_whose_date_cannot_be_read_is_still_refused(change: dict[str, Any]) -> None:
    raw = {k: v for k, v in (copy.deepcopy(CHILD_WEIGHT) | change).items() if v is not None}
    model, issue = validate(raw, "observations")
    assert model is None and issue is not None and "invalid FHIR R4" in issue.problem


@pytest.mark.parametrize(
    "change",
    [
        {"occurrenceDateTime": "02/25/2026 10:00"},  # not a FHIR dateTime at all
        {"occurrenceDateTime": "2026-02-25T10:00:00", "status": 5},  # and another error
        {"occurrenceDateTime": "2026-02-25T25:00:00"},  # an hour that does not exist
    ],
    ids=["us-date", "with-another-error", "hour-25"],
)
def test_other_date_errors_still_refuse_the_resource(change: dict[str, Any]) -> None:
    model, issue = validate(copy.deepcopy(MMR_NO_OFFSET) | change, "immunizations")
    assert model is None and issue is not None and "invalid FHIR R4" in issue.problem


@pytest.mark.parametrize(
    ("meta", "read"),
    [
        ({"lastUpdated": "2026-02-25T08:00:00Z"}, "2026-02-25T08:00:00+00:00"),
        ({"lastUpdated": "2026-02-25T08:00:00"}, "2026-02-25T08:00:00+00:00"),
        ({"lastUpdated": "last Tuesday"}, None),
        ({"lastUpdated": 20260225}, None),
        ("not an object", None),
    ],
    ids=["instant", "no-offset", "words", "a-number", "meta-not-an-object"],
)
def test_an_orders_last_update_is_read_leniently_and_never_refuses_it(
    meta: Any, read: str | None
) -> None:
    [order] = draft_orders([copy.deepcopy(SANDBOX_ORDER) | {"meta": meta}], [])
    assert (order.last_updated.isoformat() if order.last_updated else None) == read
