"""What `cds.fhir.facts` reads of a Quantity, a doseAndRate and a boundsPeriod, as EHRs send them:
a unit beside a SNOMED code, a pump rate listed before the dose, a dose range, a day given without a
time."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from cds.fhir import facts
from cds.fhir.parsing import validate
from cds.patient import DoseInstruction, ObservationFact

UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
EPIC_TYPE = "http://epic.com/CodeSystem/dose-rate-type"


def ucum(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def _weight(quantity: dict[str, Any]) -> ObservationFact:
    raw = {
        "resourceType": "Observation",
        "id": "wt-newest",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": "2026-03-01T09:00:00+00:00",
        "valueQuantity": quantity,
    }
    model, issue = validate(raw, "observations")
    assert model is not None, issue
    return facts.observation_fact(model)


def _dosage(dosage: dict[str, Any]) -> DoseInstruction:
    raw: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "order",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": "blinatumomab"},
        "subject": {"reference": "Patient/p"},
        "dosageInstruction": [dosage],
    }
    model, issue = validate(raw, "draftOrders")
    assert model is not None, issue
    [instruction] = facts.medication_order(model, raw).dosages
    return instruction


@pytest.mark.parametrize(
    ("quantity", "unit"),
    [
        pytest.param(
            {"value": 30, "unit": "kg", "system": SNOMED, "code": "258683005"},
            "kg",
            id="30 kg with the SNOMED code of kilogram -> 'kg' (a SNOMED code is no unit)",
        ),
        pytest.param(
            {"value": 30, "unit": "kg", "system": "urn:oid:1.2.840.114350", "code": "KG-7"},
            "kg",
            id="30 kg with a local code -> 'kg'",
        ),
        pytest.param(
            {"value": 30, "system": SNOMED, "code": "258683005"},
            "258683005",
            id="a SNOMED code alone -> the code as sent (no unit it converts: said unreadable)",
        ),
        pytest.param(
            {"value": 70, "system": "http://unitsofmeasure.org/", "code": "kg"},
            "kg",
            id="UCUM's URL with a trailing slash, no text -> its code",
        ),
        pytest.param(
            {"value": 70, "system": "urn:oid:2.16.840.1.113883.6.8", "code": "kg"},
            "kg",
            id="UCUM's OID, no text -> its code",
        ),
    ],
)
def test_the_unit_of_a_weight_beside_a_code_that_is_not_ucum_is_its_text(
    quantity: dict[str, Any], unit: str | None
) -> None:
    assert _weight(quantity).unit == unit


def test_a_pump_rate_listed_first_does_not_hide_the_ordered_dose() -> None:
    """Epic: [{rateQuantity 10 mL/hr}, {doseQuantity 28 mcg/day}] for R/R cycle 1 days 1-7: the
    dose judged is 28 mcg/day (an overdose), not the pump rate (no dose at all)."""
    dosage = _dosage(
        {
            "doseAndRate": [
                {
                    "type": {"coding": [{"system": EPIC_TYPE, "code": "admin-amount"}]},
                    "rateQuantity": {"value": 10, "unit": "mL/hr"},
                },
                {
                    "type": {"coding": [{"system": EPIC_TYPE, "code": "ordered"}]},
                    "doseQuantity": {"value": 28, "unit": "mcg/day"},
                },
            ]
        }
    )
    assert (dosage.amount, dosage.unit, dosage.is_rate) == (Decimal(28), "mcg/day", False)
    assert dosage.other_amounts == ((Decimal(10), "mL/hr", True),)


def test_a_dose_range_keeps_its_high_end_for_the_cap_and_its_low_end_for_a_minimum() -> None:
    """Dexamethasone 4-20 mg: at most 20 mg, at least 4 mg."""
    dosage = _dosage(
        {
            "doseAndRate": [
                {
                    "doseRange": {
                        "low": {"value": 4, "unit": "mg", "system": UCUM, "code": "mg"},
                        "high": {"value": 20, "unit": "mg", "system": UCUM, "code": "mg"},
                    }
                }
            ]
        }
    )
    assert (dosage.amount, dosage.unit, dosage.is_range) == (Decimal(20), "mg", True)
    assert dosage.amount_low == Decimal(4)


def test_a_range_low_end_in_another_unit_is_given_in_the_unit_of_the_high_end() -> None:
    dosage = _dosage(
        {"doseAndRate": [{"doseRange": {"low": ucum(4000, "ug"), "high": ucum(20, "mg")}}]}
    )
    assert (dosage.amount, dosage.unit, dosage.amount_low) == (Decimal(20), "mg", Decimal(4))


def test_a_range_without_a_low_end_says_so() -> None:
    dosage = _dosage({"doseAndRate": [{"doseRange": {"high": ucum(20, "mg")}}]})
    assert (dosage.amount, dosage.is_range, dosage.amount_low) == (Decimal(20), True, None)


def _bounded(period: dict[str, str]) -> DoseInstruction:
    return _dosage({"timing": {"repeat": {"boundsPeriod": period}}})


def test_a_date_only_bounds_period_covers_its_whole_last_day() -> None:
    """boundsPeriod 2026-03-02 to 2026-03-08, days given alone: FHIR's end includes all of
    March 8, so the infusion runs until March 9 00:00 and a next order from March 9 follows
    without a gap (read as March 8 00:00, a phantom 24-hour interruption)."""
    dosage = _bounded({"start": "2026-03-02", "end": "2026-03-08"})
    assert dosage.bounds_start == datetime(2026, 3, 2, tzinfo=UTC)
    assert dosage.bounds_start_is_date is True
    assert dosage.bounds_end == datetime(2026, 3, 9, tzinfo=UTC)


def test_durations_with_a_snomed_code_are_read_by_their_unit_text() -> None:
    """boundsDuration 7 "days" (SNOMED 258703001) is 7 days, not an unreadable duration."""
    dosage = _dosage(
        {
            "timing": {
                "repeat": {
                    "boundsDuration": {
                        "value": 7,
                        "unit": "days",
                        "system": SNOMED,
                        "code": "258703001",
                    }
                }
            }
        }
    )
    assert dosage.bounds_duration_days == Decimal(7)


def test_the_supply_duration_unit_is_its_text_beside_a_snomed_code() -> None:
    raw: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "order",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": "blinatumomab"},
        "subject": {"reference": "Patient/p"},
        "dispenseRequest": {
            "expectedSupplyDuration": {
                "value": 24,
                "unit": "hours",
                "system": SNOMED,
                "code": "258702006",
            }
        },
    }
    model, issue = validate(raw, "draftOrders")
    assert model is not None, issue
    assert facts.medication_order(model, raw).supply_duration == (Decimal(24), "hours")


def test_a_ratio_with_a_snomed_coded_denominator_uses_its_unit_text() -> None:
    dosage = _dosage(
        {
            "doseAndRate": [
                {
                    "rateRatio": {
                        "numerator": ucum(28, "ug"),
                        "denominator": {
                            "value": 1,
                            "unit": "d",
                            "system": SNOMED,
                            "code": "258703001",
                        },
                    }
                }
            ]
        }
    )
    assert (dosage.amount, dosage.unit) == (Decimal(28), "ug/d")
