"""Build realistic FHIR R4 charts for tests: a Patient, vital signs, conditions, the draft
blinatumomab order (design contract form) and its history, as an EHR would send them.

`chart(...)` returns a collection Bundle like `fhir-fixtures/charts/*.json`;
`conftest.request_from_bundle` turns it into an order-sign request.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cds.cards import FINDING_CODE_EXTENSION
from cds.fhir.bundle import request_from_bundle

SIGNED = "2026-03-02T08:00:00+00:00"  # tests.conftest.NOW: when the draft orders are signed
START = "2026-03-02T10:00:00+00:00"  # when the new bag is hung
VITALS_TAKEN = "2026-02-27T09:10:00+00:00"

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
INDICATION_SYSTEM = "https://cds.example.org/fhir/CodeSystem/blinatumomab-indication"
CYCLE_EXTENSION = "https://cds.example.org/fhir/StructureDefinition/treatment-cycle"
IV_ROUTE = {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]}


def patient(
    pid: str,
    *,
    gender: str = "male",
    birth_date: str = "1968-07-14",
    family: str = "Okafor",
    given: str = "Daniel",
    mrn: str = "MRN-100245",
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.787.0.0", "value": mrn}],
        "name": [{"family": family, "given": [given]}],
        "gender": gender,
        "birthDate": birth_date,
    }


def observation(
    pid: str, oid: str, loinc: str, display: str, when: str, category: str = "vital-signs"
) -> dict[str, Any]:
    """An Observation as an EHR files it, without its value."""
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": category,
                        "display": {"vital-signs": "Vital Signs"}.get(category, "Laboratory"),
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
    }


def vital_sign(
    pid: str,
    oid: str,
    loinc: str,
    display: str,
    value: float,
    unit: str,
    when: str = VITALS_TAKEN,
    ucum: str | None = None,
) -> dict[str, Any]:
    return observation(pid, oid, loinc, display, when) | {
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": ucum or unit},
    }


def weight(
    pid: str, value: float, *, unit: str = "kg", when: str = VITALS_TAKEN, oid: str = "wt-1"
) -> dict[str, Any]:
    return vital_sign(pid, oid, "29463-7", "Body weight", value, unit, when)


def height(
    pid: str, value: float, *, unit: str = "cm", when: str = VITALS_TAKEN, oid: str = "ht-1"
) -> dict[str, Any]:
    return vital_sign(pid, oid, "8302-2", "Body height", value, unit, when)


def bsa(pid: str, value: float, *, when: str = VITALS_TAKEN, oid: str = "bsa-1") -> dict[str, Any]:
    return vital_sign(pid, oid, "8277-6", "Body surface area", value, "m2", when)


LABS_TAKEN = "2026-02-28T07:30:00+00:00"
_ENZYME = "[Enzymatic activity/volume] in Serum or Plasma"
LIVER_TESTS = {  # value set -> (LOINC, display, UCUM unit, upper limit of normal)
    "alt": ("1742-6", f"Alanine aminotransferase {_ENZYME}", "U/L", 41),
    "ast": ("1920-8", f"Aspartate aminotransferase {_ENZYME}", "U/L", 40),
    "bilirubin": ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL", 1.2),
    "ggt": ("2324-2", f"Gamma glutamyl transferase {_ENZYME}", "U/L", 60),
}


def lab(
    pid: str,
    oid: str,
    loinc: str,
    display: str,
    value: float,
    unit: str,
    *,
    when: str = LABS_TAKEN,
    high: float | None = None,
    low: float | None = None,
) -> dict[str, Any]:
    """A laboratory result as a lab system files it (category laboratory, reference range)."""
    result = observation(pid, oid, loinc, display, when, "laboratory") | {
        "issued": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }
    if high is not None or low is not None:
        bounds: dict[str, Any] = {}
        if low is not None:
            bounds["low"] = {"value": low, "unit": unit, "system": UCUM, "code": unit}
        if high is not None:
            bounds["high"] = {"value": high, "unit": unit, "system": UCUM, "code": unit}
        result["referenceRange"] = [bounds]
    return result


def liver_panel(
    pid: str,
    *,
    when: str = LABS_TAKEN,
    ranges: bool = True,
    **values: float | None,
) -> list[dict[str, Any]]:
    """ALT, AST, total bilirubin and GGT (normal unless given; a test given None is left out)."""
    normal = {"alt": 22, "ast": 25, "bilirubin": 0.6, "ggt": 30}
    panel = []
    for test, (loinc, display, unit, uln) in LIVER_TESTS.items():
        value = values.get(test, normal[test])
        if value is None:
            continue
        high = uln if ranges else None
        panel.append(lab(pid, f"{test}-1", loinc, display, value, unit, when=when, high=high))
    return panel


def neutrophils(
    pid: str, value: float, unit: str = "10*9/L", *, when: str = LABS_TAKEN
) -> dict[str, Any]:
    display = "Neutrophils [#/volume] in Blood by Automated count"
    return lab(pid, "anc-1", "751-8", display, value, unit, when=when, low=1.5, high=8.0)


CONDITION_CATEGORIES = {
    "problem-list-item": "Problem List Item",
    "encounter-diagnosis": "Encounter Diagnosis",
}


def condition(
    pid: str,
    code: str,
    display: str,
    *,
    cid: str = "cond-all",
    clinical_status: str = "active",
    system: str = ICD10CM,
    onset: str = "2026-01-20",
    verification: str = "confirmed",
    category: str = "problem-list-item",
) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": clinical_status,
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": verification,
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": category,
                        "display": CONDITION_CATEGORIES[category],
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": onset,
    }


@dataclass(frozen=True)
class Step:
    """One dosageInstruction: `dose` in `unit` for `days` days (None: no bounds).

    `rate=True` sends the quantity as rateQuantity; `frequency`/`period` make it a dose per
    administration (e.g. 14 ug twice a day).
    """

    dose: float | None
    unit: str = "ug/d"
    days: int | None = None
    rate: bool = False
    frequency: int | None = 1  # None: timing.repeat without frequency/period
    period: float = 1
    period_unit: str = "d"
    at: str | None = None  # this step's own boundsPeriod.start (else it follows the step before)


def _dosage(step: Step, sequence: int, start: datetime | None) -> dict[str, Any]:
    repeat: dict[str, Any] = {}
    if step.frequency is not None:
        repeat |= {
            "frequency": step.frequency,
            "period": step.period,
            "periodUnit": step.period_unit,
        }
    if step.days is not None:
        if start is not None:
            repeat["boundsPeriod"] = {
                "start": start.isoformat(),
                "end": (start + timedelta(days=step.days)).isoformat(),
            }
        else:
            repeat["boundsDuration"] = {
                "value": step.days,
                "unit": "d",
                "system": UCUM,
                "code": "d",
            }
    elif start is not None:
        repeat["boundsPeriod"] = {"start": start.isoformat()}
    dosage: dict[str, Any] = {
        "sequence": sequence,
        "text": f"{step.dose} {step.unit} continuous IV infusion"
        + (f" for {step.days} days" if step.days else ""),
        "route": IV_ROUTE,
        "timing": {"repeat": repeat},
    }
    if step.dose is not None:
        quantity = {"value": step.dose, "unit": step.unit, "system": UCUM, "code": step.unit}
        dosage["doseAndRate"] = [{"rateQuantity" if step.rate else "doseQuantity": quantity}]
    return dosage


def blinatumomab_concept() -> dict[str, Any]:
    """Blinatumomab as the sample orders and administrations name it (a new dict each call)."""
    return {
        "coding": [{"system": RXNORM, "code": "1597258", "display": "blinatumomab"}],
        "text": "Blinatumomab (BLINCYTO) continuous IV infusion",
    }


def blinatumomab_order(
    pid: str,
    steps: Sequence[Step],
    *,
    oid: str = "blinatumomab-draft",
    indication: str | None = "relapsed-refractory",
    cycle: int | None = 1,
    start: str = START,
    status: str = "draft",
    authored: str = SIGNED,
    bag_hours: int = 24,
    reason: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A blinatumomab MedicationRequest; the first step starts at `start` (boundsPeriod), the
    others follow with boundsDuration, as in shared/example-draft-orders.json."""
    begin = datetime.fromisoformat(start)
    order: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": blinatumomab_concept(),
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": authored,
        "requester": {"reference": "Practitioner/onc-1", "display": "Dr. A. Haddad"},
        "dosageInstruction": [
            _dosage(
                step,
                index + 1,
                datetime.fromisoformat(step.at) if step.at else begin if index == 0 else None,
            )
            for index, step in enumerate(steps)
        ],
        "dispenseRequest": {
            "expectedSupplyDuration": {"value": bag_hours, "unit": "h", "system": UCUM, "code": "h"}
        },
    }
    if indication is not None:
        order["reasonCode"] = [{"coding": [{"system": INDICATION_SYSTEM, "code": indication}]}]
    if reason is not None:
        order.setdefault("reasonCode", []).append(reason)
    if cycle is not None:
        order["extension"] = [{"url": CYCLE_EXTENSION, "valueInteger": cycle}]
    return order


def course_2024(pid: str) -> dict[str, Any]:
    """R/R cycle 1 of a course given in January 2024: more than 112 days (cycles.yaml
    `new_course_after_days`) before the draft orders start, so an earlier course."""
    return blinatumomab_order(
        pid,
        [Step(9, days=7), Step(28, days=21)],
        oid="blin-2024",
        cycle=1,
        start="2024-01-08T10:00:00+00:00",
        status="completed",
        authored="2024-01-08T08:00:00+00:00",
    )


def blinatumomab_administration(
    pid: str,
    aid: str,
    start: datetime,
    end: datetime,
    *,
    rate: float = 28,
    request: str | None = None,
) -> dict[str, Any]:
    """A blinatumomab MedicationAdministration as an EHR's MAR sends it (continuous infusion)."""
    return ({"request": {"reference": request}} if request else {}) | {
        "resourceType": "MedicationAdministration",
        "id": aid,
        "status": "completed",
        "medicationCodeableConcept": blinatumomab_concept(),
        "subject": {"reference": f"Patient/{pid}"},
        "effectivePeriod": {"start": start.isoformat(), "end": end.isoformat()},
        "dosage": {"dose": {"value": rate, "unit": "ug/d", "system": UCUM, "code": "ug/d"}},
    }


def dexamethasone_order(
    pid: str,
    mg: float = 20,
    *,
    oid: str = "dexamethasone-premed",
    when: str = "2026-03-02T09:00:00+00:00",
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "3264", "display": "dexamethasone"}],
            "text": "dexamethasone",
        },
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": SIGNED,
        "dosageInstruction": [
            {
                "text": f"dexamethasone {mg} mg IV once 1 hour before blinatumomab",
                "timing": {"event": [when]},
                "route": IV_ROUTE,
                "doseAndRate": [
                    {"doseQuantity": {"value": mg, "unit": "mg", "system": UCUM, "code": "mg"}}
                ],
            }
        ],
    }


def bundle(resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{r['resourceType'].lower()}-{r['id']}",
                "resource": copy.deepcopy(r),
            }
            for r in resources
        ],
    }


def order_sign(chart_bundle: dict[str, Any]) -> dict[str, Any]:
    return request_from_bundle(chart_bundle)


def order_select(chart_bundle: dict[str, Any], *selected: str) -> dict[str, Any]:
    request = request_from_bundle(chart_bundle)
    request["hook"] = "order-select"
    request["context"]["selections"] = list(selected)
    return request


ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def in_encounter(request: dict[str, Any], encounter_class: str = "IMP") -> dict[str, Any]:
    """The request as an EHR sends it from a patient's encounter: `context.encounterId` and the
    Encounter in the `encounter` prefetch key (IMP: an inpatient stay)."""
    patient_id = request["context"]["patientId"]
    request["context"]["encounterId"] = "enc-stay"
    request["prefetch"]["encounter"] = {
        "resourceType": "Encounter",
        "id": "enc-stay",
        "status": "in-progress",
        "class": {"system": ACT_CODE, "code": encounter_class},
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": "2026-03-01T16:00:00+00:00"},
    }
    return request


Expected = tuple[str, str, str]  # a card of a golden matrix: (topic, indicator, finding code)


def findings_of_topic(body: dict[str, Any], topic: str) -> list[Expected]:
    """The cards of one topic as (topic, indicator, finding code), sorted."""
    return sorted(
        (c["source"]["topic"]["code"], c["indicator"], c["extension"][FINDING_CODE_EXTENSION])
        for c in body["cards"]
        if c["source"]["topic"]["code"] == topic
    )


def suggested_doses(card: dict[str, Any]) -> list[tuple[float, str, int | None]]:
    """(dose, unit, days) of each dosage of the corrected order in the card's `update` action."""
    actions = [
        a for s in card.get("suggestions", []) for a in s["actions"] if a["type"] == "update"
    ]
    if not actions:
        return []
    doses = []
    for dosage in actions[0]["resource"]["dosageInstruction"]:
        quantity = dosage["doseAndRate"][0]["doseQuantity"]
        repeat = dosage.get("timing", {}).get("repeat", {})
        days: int | None = None
        if "boundsDuration" in repeat:
            days = int(repeat["boundsDuration"]["value"])
        elif "end" in repeat.get("boundsPeriod", {}):
            period = repeat["boundsPeriod"]
            days = (
                datetime.fromisoformat(period["end"]) - datetime.fromisoformat(period["start"])
            ).days
        doses.append((quantity["value"], quantity["code"], days))
    return doses
