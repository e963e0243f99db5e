"""A seeded, deterministic cohort of synthetic blinatumomab patients, as US EHRs hold them
(issue 14 item 9), each with its own ground truth.

Every patient is a chart (Patient, vital signs in US or metric units, labs, pregnancy tests,
problem list, immunizations, medication history, an Encounter) plus the draft orders being signed
(the blinatumomab order and, when due, its premedication). The variety is the one real charts
bring: `urn:uuid:`, absolute and versioned references; weights in `[lb_av]`, `g` or a human
"lbs" with no UCUM code; heights in `[in_i]`, `[ft_i]`, `m` or a human "in"; the drug coded by
RxNorm ingredient, clinical or branded drug, NDC in 10- or 11-digit form, text only, a contained
Medication or an external one; vaccines by CVX, NDC or text, some not done; pregnancy on the
problem list; inpatient and outpatient encounters; long charts.

The ground truth is computed HERE, from the label's dose table and rules written out below
(BLINCYTO US prescribing information §2.1-2.4, §5; shared/clinical/blinatumomab.md), never from
the service's knowledge files or checks: `Patient.expected` is the set of (topic, indicator) of the
warning and critical cards the order must draw. A correct order on a complete chart expects none.

No network, no clock: the same seed gives the same cohort, byte for byte.
"""

from __future__ import annotations

import copy
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

FHIR_BASE = "https://ehr.example.org/fhir"
SIGNED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # tests.conftest.NOW
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # the new bag is hung

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
CVX = "http://hl7.org/fhir/sid/cvx"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
INDICATION_SYSTEM = "https://cds.example.org/fhir/CodeSystem/blinatumomab-indication"
CYCLE_EXTENSION = "https://cds.example.org/fhir/StructureDefinition/treatment-cycle"
IV = {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]}
LB = 0.45359237  # kg per avoirdupois pound (UCUM [lb_av])
OZ = LB / 16
INCH = 2.54  # cm per international inch ([in_i])
FOOT = 30.48

# ---------------------------------------------------------------- the label, written out
# BLINCYTO PI §2.2-2.4: (indication, cycle) -> [(first day, last day, mcg/day >= 45 kg,
# mcg/m2/day < 45 kg, cap mcg/day)]
SCHEDULE: dict[tuple[str, int], list[tuple[int, int, float, float, float]]] = {
    ("mrd-positive", 1): [(1, 28, 28, 15, 28)],
    ("mrd-positive", 2): [(1, 28, 28, 15, 28)],
    ("relapsed-refractory", 1): [(1, 7, 9, 5, 9), (8, 28, 28, 15, 28)],
    ("relapsed-refractory", 2): [(1, 28, 28, 15, 28)],
    ("consolidation", 1): [(1, 28, 28, 15, 28)],
    ("consolidation", 2): [(1, 28, 28, 15, 28)],
}
WEIGHT_BAND_KG = 45  # §2.1: fixed dose at or above, per m2 below
TOLERANCE = 0.10  # HOPA dose-rounding band; anything beyond is wrong
LIVE_WINDOW_DAYS = 14  # §5: no live vaccine within 2 weeks before the start
REPRODUCTIVE_AGES = (12, 55)  # local policy (the label does not define the age window)
ADULT_AGE = 18
# §2.2-2.4: days of cycles 1 and 2 to spend in hospital
INPATIENT_DAYS = {"mrd-positive": (3, 2), "relapsed-refractory": (9, 2), "consolidation": (3, 2)}

# Representations of vaccines as charts record them (CDC CVX table, CDC NDC-to-CVX crosswalk,
# brand names). Live: MMR, varicella, LAIV. Not live: inactivated influenza, recombinant zoster,
# Tdap, hepatitis B.
LIVE_VACCINES: list[dict[str, Any]] = [
    {"coding": [{"system": CVX, "code": "03", "display": "MMR"}]},
    {"coding": [{"system": CVX, "code": "3"}]},  # no leading zero
    {"coding": [{"system": CVX, "code": "21", "display": "varicella"}]},
    {"coding": [{"system": CVX, "code": "149", "display": "influenza, live, intranasal"}]},
    {"coding": [{"system": NDC, "code": "00006468100", "display": "M-M-R II"}]},
    {"coding": [{"system": NDC, "code": "0006-4827-00", "display": "VARIVAX"}]},
    {"text": "M-M-R II"},
    {"text": "Varivax (varicella virus vaccine live)"},
    {"text": "FluMist Quadrivalent"},
]
NOT_LIVE_VACCINES: list[dict[str, Any]] = [
    {"coding": [{"system": CVX, "code": "141", "display": "Influenza, seasonal, injectable"}]},
    {"coding": [{"system": CVX, "code": "187", "display": "zoster recombinant"}]},
    {"coding": [{"system": CVX, "code": "115", "display": "Tdap"}]},
    {"coding": [{"system": CVX, "code": "08", "display": "Hep B, adolescent or pediatric"}]},
    {"text": "Shingrix (zoster vaccine recombinant, adjuvanted)"},
]
PREGNANCY_CONDITIONS: list[dict[str, Any]] = [
    {"system": SNOMED, "code": "77386006", "display": "Pregnancy"},
    {"system": SNOMED, "code": "72892002", "display": "Normal pregnancy"},
    {"system": ICD10CM, "code": "Z34.01", "display": "Supervision of normal first pregnancy"},
    {"system": ICD10CM, "code": "Z33.1", "display": "Pregnant state, incidental"},
]
# BLINCYTO as orders name it: RxNorm ingredient, clinical drug (SCD), branded drug (SBD); the kit's
# NDC 55513-160-01 in its 10-digit (5-3-2) and 11-digit forms; brand or generic text.
DRUG_CODINGS: dict[str, dict[str, Any]] = {
    "rxnorm-ingredient": {"coding": [{"system": RXNORM, "code": "1597258"}]},
    "rxnorm-scd": {
        "coding": [
            {"system": RXNORM, "code": "1597262", "display": "blinatumomab 0.035 MG Injection"}
        ]
    },
    "rxnorm-sbd": {"coding": [{"system": RXNORM, "code": "1597267"}]},
    "ndc-11": {"coding": [{"system": NDC, "code": "55513016001"}]},
    "ndc-10-hyphens": {"coding": [{"system": NDC, "code": "55513-160-01"}]},
    "ndc-11-hyphens": {"coding": [{"system": NDC, "code": "55513-0160-01"}]},
    "text-brand": {"text": "BLINCYTO 35 mcg powder for injection"},
    "text-generic": {"text": "blinatumomab IV infusion"},
}
MEDICATION_STYLES = ("codeable", "contained", "external-prefetch", "external-drafts")
REFERENCE_STYLES = ("relative", "absolute", "versioned", "urn")
WEIGHT_UNITS = ("kg", "[lb_av]", "lbs", "g")
HEIGHT_UNITS = ("cm", "[in_i]", "in", "m", "[ft_i]")


@dataclass
class Cohort:
    """One synthetic patient: the chart, the draft orders, how it is written, and the truth."""

    patient_id: str
    chart: list[dict[str, Any]]  # every chart resource (draft orders excluded), relative refs
    drafts: list[dict[str, Any]]  # the draft orders being signed
    medications: list[dict[str, Any]]  # Medication resources an external reference points to
    encounter: dict[str, Any]
    reference_style: str
    medication_style: str
    age: int
    indication: str
    cycle: int
    day: int
    expected: set[tuple[str, str]] = field(default_factory=set)  # warning/critical cards due
    hospitalization_reminder: bool = False  # an outpatient inside the label's inpatient days
    story: list[str] = field(default_factory=list)  # what was seeded, for failure messages

    @property
    def patient(self) -> dict[str, Any]:
        return next(r for r in self.chart if r["resourceType"] == "Patient")


# ---------------------------------------------------------------- ground truth, independent
def mosteller(height_cm: float, weight_kg: float) -> float:
    return math.sqrt(height_cm * weight_kg / 3600)


def schedule_dose(indication: str, cycle: int, day: int, weight_kg: float, bsa: float) -> float:
    """mcg/day the label gives on `day` of `cycle` (BSA-based and capped under 45 kg)."""
    for first, last, fixed, per_m2, cap in SCHEDULE[(indication, cycle)]:
        if first <= day <= last:
            return fixed if weight_kg >= WEIGHT_BAND_KG else min(per_m2 * bsa, cap)
    raise ValueError(f"day {day} is outside the infusion days")


def cap(indication: str, cycle: int, day: int) -> float:
    """The hard ceiling in mcg/day on `day` (the fixed dose; §2.1: never above, for any weight)."""
    return next(c for f, last, *_, c in SCHEDULE[(indication, cycle)] if f <= day <= last)


def dose_verdict(
    steps: list[tuple[float, int]], indication: str, cycle: int, day: int, weight: float, bsa: float
) -> str:
    """ok / overdose / underdose of an order's (mcg/day, days) steps starting on `day`."""
    verdicts = set()
    for dose, days in steps:
        for offset in range(days):
            due = schedule_dose(indication, cycle, day + offset, weight, bsa)
            if dose > due * (1 + TOLERANCE) + 0.005 or dose > cap(indication, cycle, day + offset):
                verdicts.add("overdose")
            elif dose < due * (1 - TOLERANCE) - 0.005:
                verdicts.add("underdose")
        day += days
    return "overdose" if "overdose" in verdicts else verdicts.pop() if verdicts else "ok"


def premedication_due(age: int, indication: str, cycle: int, day: int) -> bool:
    """§2.2-2.4: adults before the first dose of each cycle (R/R also before the day-8 step-up);
    children before the first dose of the first cycle (and the R/R day-8 step-up)."""
    step_up = indication == "relapsed-refractory" and cycle == 1 and day == 8
    if age >= ADULT_AGE:
        return day == 1 or step_up
    return cycle == 1 and (day == 1 or step_up)


# ---------------------------------------------------------------- FHIR building blocks
def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _quantity(value: float, unit: str) -> dict[str, Any]:
    human = {"lbs": "lbs", "in": "in"}
    if unit in human:  # a human unit, no UCUM code (as several EHR exports send)
        return {"value": value, "unit": human[unit]}
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _observation(
    oid: str,
    pid: str,
    loinc: str,
    display: str,
    when: datetime,
    category: str = "vital-signs",
    **value: Any,
) -> dict[str, Any]:
    category_display = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}[category]
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
                        "display": category_display,
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": _iso(when),
    } | value


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def _condition(cid: str, pid: str, coding: dict[str, Any], onset: date) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": _status("condition-clinical", "active"),
        "verificationStatus": _status("condition-ver-status", "confirmed"),
        "category": [_status("condition-category", "problem-list-item")],
        "code": {"coding": [coding], "text": coding.get("display", "")},
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": onset.isoformat(),
    }


def _immunization(
    iid: str, pid: str, vaccine: dict[str, Any], when: datetime, status: str = "completed"
) -> dict[str, Any]:
    shot: dict[str, Any] = {
        "resourceType": "Immunization",
        "id": iid,
        "status": status,
        "vaccineCode": copy.deepcopy(vaccine),
        "patient": {"reference": f"Patient/{pid}"},
        "occurrenceDateTime": when.date().isoformat(),
        "primarySource": True,
    }
    if status == "not-done":
        shot["statusReason"] = {
            "coding": [{"system": ACT_CODE, "code": "PATOBJ", "display": "patient objection"}]
        }
    return shot


def _dosage(sequence: int, dose: float, unit: str, days: int, start: datetime) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "text": f"{dose} {unit} continuous IV infusion for {days} days",
        "route": IV,
        "timing": {
            "repeat": {
                "frequency": 1,
                "period": 1,
                "periodUnit": "d",
                "boundsPeriod": {"start": _iso(start), "end": _iso(start + timedelta(days=days))},
            }
        },
        "doseAndRate": [
            {"doseQuantity": {"value": dose, "unit": unit, "system": UCUM, "code": unit}}
        ],
    }


def _blinatumomab(
    oid: str,
    pid: str,
    steps: list[tuple[float, int]],
    *,
    unit: str,
    start: datetime,
    indication: str,
    cycle: int,
    status: str,
    bag_hours: int,
    encounter: str | None = None,
) -> dict[str, Any]:
    dosages, at = [], start
    for number, (dose, days) in enumerate(steps, start=1):
        dosages.append(_dosage(number, dose, unit, days, at))
        at += timedelta(days=days)
    order: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": status,
        "intent": "order",
        "extension": [{"url": CYCLE_EXTENSION, "valueInteger": cycle}],
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "1597258", "display": "blinatumomab"}],
            "text": "blinatumomab",
        },
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": _iso(min(start - timedelta(hours=2), SIGNED)),
        "requester": {"reference": "Practitioner/onc-1", "display": "Dr. A. Haddad"},
        "reasonCode": [{"coding": [{"system": INDICATION_SYSTEM, "code": indication}]}],
        "dosageInstruction": dosages,
        "dispenseRequest": {
            "expectedSupplyDuration": {"value": bag_hours, "unit": "h", "system": UCUM, "code": "h"}
        },
    }
    if encounter:
        order["encounter"] = {"reference": encounter}
    return order


def _drug_order(
    oid: str, pid: str, rxnorm: str, name: str, mg: float, when: datetime, status: str
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": rxnorm, "display": name}],
            "text": name,
        },
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": _iso(min(when - timedelta(hours=1), SIGNED)),
        "dosageInstruction": [
            {
                "text": f"{name} {mg} mg IV",
                "timing": {"event": [_iso(when)]},
                "route": IV,
                "doseAndRate": [
                    {"doseQuantity": {"value": mg, "unit": "mg", "system": UCUM, "code": "mg"}}
                ],
            }
        ],
    }


# ---------------------------------------------------------------- one patient
def _body(rng: random.Random, age: int) -> tuple[float, float]:
    """(weight kg, height cm) plausible for the age, never within 2 kg of the 45 kg band."""
    while True:
        if age >= ADULT_AGE:
            height = rng.uniform(150, 195)
            weight = rng.uniform(50, 115)
        else:
            height = 80 + 6.2 * age + rng.uniform(-6, 6)
            weight = max(10.0, 2.2 * age + 8 + rng.uniform(-3, 12))
        if abs(weight - WEIGHT_BAND_KG) > 2:
            return weight, height


def _written(value: float, unit: str) -> float:
    """The value as the EHR writes it in `unit` (converted from kg or cm, rounded)."""
    per = {"kg": 1, "[lb_av]": LB, "lbs": LB, "g": 0.001, "[oz_av]": OZ}
    per |= {"cm": 1, "[in_i]": INCH, "in": INCH, "m": 100, "[ft_i]": FOOT}
    digits = {"g": 0, "m": 2, "[ft_i]": 2}.get(unit, 1)
    return round(value / per[unit], digits)


def _read(value: float, unit: str) -> float:
    per = {"kg": 1, "[lb_av]": LB, "lbs": LB, "g": 0.001, "[oz_av]": OZ}
    per |= {"cm": 1, "[in_i]": INCH, "in": INCH, "m": 100, "[ft_i]": FOOT}
    return value * per[unit]


def make_patient(number: int, rng: random.Random) -> Cohort:
    """Patient `number` of the cohort, drawn from `rng` (its own stream: order-independent)."""
    child = rng.random() < 0.35
    age = rng.randint(2, 17) if child else rng.randint(18, 79)
    gender = rng.choice(["female", "male"])
    reference_style = REFERENCE_STYLES[number % len(REFERENCE_STYLES)]
    pid = (
        str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if reference_style == "urn"
        else f"cohort-{number:03d}"
    )
    indication = rng.choice(["mrd-positive", "relapsed-refractory", "consolidation"])
    cycle = rng.choice([1, 1, 2])
    day = rng.choice([1, 1, 8])
    birth = date(START.year - age, 1, 1) + timedelta(days=rng.randint(0, 300))
    if (START.date() - birth).days < age * 365.25:  # keep the drawn age at the start date
        birth -= timedelta(days=366)
    weight, height = _body(rng, age)
    weight_unit = rng.choice(WEIGHT_UNITS if not child else ("kg", "[lb_av]", "lbs", "g", "kg"))
    height_unit = HEIGHT_UNITS[(number // 2) % len(HEIGHT_UNITS)]
    weight_written, height_written = _written(weight, weight_unit), _written(height, height_unit)
    weight, height = _read(weight_written, weight_unit), _read(height_written, height_unit)
    bsa = mosteller(height, weight)
    inpatient = rng.random() < 0.5
    story = [
        f"{'inpatient' if inpatient else 'outpatient'} "
        f"{'child' if child else 'adult'} {age} y {gender}, {weight:.1f} kg "
        f"({weight_written} {weight_unit}), {height:.1f} cm ({height_written} {height_unit}), "
        f"BSA {bsa:.2f}; {indication} cycle {cycle} day {day}; refs {reference_style}"
    ]
    expected: set[tuple[str, str]] = set()
    long_chart = number % 10 == 7
    medication_style = MEDICATION_STYLES[number % len(MEDICATION_STYLES)]

    chart: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [
                {"system": "urn:oid:2.16.840.1.113883.3.787.0.0", "value": f"MRN-{700000 + number}"}
            ],
            "name": [
                {"family": f"Cohort{number:03d}", "given": [rng.choice(["Ana", "Lee", "Sam"])]}
            ],
            "gender": gender,
            "birthDate": birth.isoformat(),
        }
    ]
    vitals_taken = START - timedelta(days=rng.randint(1, 5), hours=rng.randint(0, 10))
    defect = rng.choices(
        ["none", "overdose", "underdose", "live-vaccine", "pregnancy", "premedication", "weight"],
        weights=[40, 12, 10, 12, 8, 10, 5],
    )[0]
    reproductive = gender == "female" and REPRODUCTIVE_AGES[0] <= age <= REPRODUCTIVE_AGES[1]
    if defect == "pregnancy" and not reproductive:
        defect = "none"
    if defect == "weight" and child:
        defect = "none"  # a child without weight also draws the 5.4 kg (benzyl alcohol) warning
    if defect == "premedication" and not premedication_due(age, indication, cycle, day):
        defect = "none"
    story.append(f"defect: {defect}")

    if defect != "weight":
        chart.append(
            _observation(
                "wt-1",
                pid,
                "29463-7",
                "Body weight",
                vitals_taken,
                valueQuantity=_quantity(weight_written, weight_unit),
            )
        )
    chart.append(
        _observation(
            "ht-1",
            pid,
            "8302-2",
            "Body height",
            vitals_taken,
            valueQuantity=_quantity(height_written, height_unit),
        )
    )
    labs_taken = START - timedelta(days=rng.randint(1, 4), hours=2)
    for lid, loinc, name, value, unit, high in [
        ("alt-1", "1742-6", "Alanine aminotransferase", rng.randint(12, 38), "U/L", 41),
        ("ast-1", "1920-8", "Aspartate aminotransferase", rng.randint(14, 36), "U/L", 40),
        ("bili-1", "1975-2", "Bilirubin.total", round(rng.uniform(0.3, 1.1), 1), "mg/dL", 1.2),
        ("ggt-1", "2324-2", "Gamma glutamyl transferase", rng.randint(10, 55), "U/L", 60),
        (
            "anc-1",
            "751-8",
            "Neutrophils [#/volume] in Blood",
            round(rng.uniform(1.8, 6), 1),
            "10*9/L",
            8.0,
        ),
    ]:
        chart.append(
            _observation(
                lid,
                pid,
                loinc,
                name,
                labs_taken,
                "laboratory",
                issued=_iso(labs_taken + timedelta(hours=1)),
                valueQuantity=_quantity(value, unit),
                referenceRange=[{"high": _quantity(high, unit)}],
            )
        )
    if reproductive and defect != "pregnancy":
        chart.append(
            _observation(
                "hcg-1",
                pid,
                "2106-3",
                "Choriogonadotropin (pregnancy test) [Presence] in Urine",
                START - timedelta(days=rng.randint(1, 3)),
                "laboratory",
                valueCodeableConcept={
                    "coding": [{"system": SNOMED, "code": "260385009", "display": "Negative"}]
                },
            )
        )
    if defect == "pregnancy":
        coding = rng.choice(PREGNANCY_CONDITIONS)
        onset = START.date() - timedelta(days=rng.randint(20, 90))
        chart.append(_condition("preg-1", pid, coding, onset))
        expected.add(("pregnancy-status", "critical"))
        story.append(f"pregnancy on the problem list: {coding['code']}")
    all_code = {
        "relapsed-refractory": ("C91.02", "Acute lymphoblastic leukemia, in relapse"),
        "mrd-positive": ("C91.01", "Acute lymphoblastic leukemia, in remission"),
        "consolidation": ("C91.01", "Acute lymphoblastic leukemia, in remission"),
    }[indication]
    chart.append(
        _condition(
            "all-1",
            pid,
            {"system": ICD10CM, "code": all_code[0], "display": all_code[1]},
            START.date() - timedelta(days=rng.randint(60, 400)),
        )
    )

    # immunizations: a harmless history, a live vaccine long ago, distractors, maybe the defect
    chart.append(
        _immunization(
            "imm-old-live",
            pid,
            rng.choice(LIVE_VACCINES),
            START - timedelta(days=rng.randint(500, 4000)),
        )
    )
    chart.append(
        _immunization(
            "imm-flu",
            pid,
            rng.choice(NOT_LIVE_VACCINES),
            START - timedelta(days=rng.randint(2, 60)),
        )
    )
    if rng.random() < 0.3:
        chart.append(
            _immunization(
                "imm-not-done",
                pid,
                rng.choice(LIVE_VACCINES),
                START - timedelta(days=rng.randint(1, 10)),
                status="not-done",
            )
        )
        story.append("a live vaccine not done inside the window")
    if defect == "live-vaccine":
        vaccine = rng.choice(LIVE_VACCINES)
        chart.append(
            _immunization(
                "imm-live",
                pid,
                vaccine,
                START - timedelta(days=rng.randint(2, LIVE_WINDOW_DAYS - 2)),
            )
        )
        expected.add(("live-vaccine", "critical"))
        story.append(f"live vaccine in the window: {vaccine}")

    # the order's dose (mcg/day per step) and its history
    per_m2 = weight < WEIGHT_BAND_KG and rng.random() < 0.5
    remaining = 28 - day + 1
    steps: list[tuple[float, int]] = []
    for first, last, _, _, _ in SCHEDULE[(indication, cycle)]:
        lo, hi = max(first, day), last
        if lo <= hi:
            due = schedule_dose(indication, cycle, lo, weight, bsa)
            steps.append((due, hi - lo + 1))
    if cycle == 1 and day == 1 and indication == "relapsed-refractory" and rng.random() < 0.3:
        steps = steps[:1]  # the step-up ordered separately: this order covers days 1-7
    assert sum(d for _, d in steps) <= remaining
    factor = {
        "overdose": rng.uniform(1.4, 2.2),
        "underdose": rng.uniform(0.45, 0.7),
    }.get(defect, rng.uniform(0.95, 1.0))
    steps = [(dose * factor, days) for dose, days in steps]
    if per_m2:
        unit, written = "ug/m2/d", [(round(d / bsa, 2), n) for d, n in steps]
        steps = [(d * bsa, n) for d, n in written]
    else:
        unit, written = "ug/d", [(round(d, 1), n) for d, n in steps]
        steps = written
    verdict = dose_verdict(steps, indication, cycle, day, weight, bsa)
    if defect == "weight":
        expected.add(("dose", "warning"))  # the dose cannot be verified without a weight
    elif verdict == "overdose":
        expected.add(("dose", "critical"))
    elif verdict == "underdose":
        expected.add(("dose", "warning"))
    story.append(f"order {written} {unit}: {verdict}")

    def history_unit(dose: float) -> tuple[float, str]:
        return (round(dose / bsa, 2), "ug/m2/d") if per_m2 else (round(dose, 1), "ug/d")

    history: list[dict[str, Any]] = []
    if cycle == 2:
        first_start = START - timedelta(days=42 + (day - 1) + rng.randint(0, 7))
        c1_steps = [
            (schedule_dose(indication, 1, a, weight, bsa), b - a + 1)
            for a, b, *_ in SCHEDULE[(indication, 1)]
        ]
        c1_unit = history_unit(c1_steps[0][0])[1]
        history.append(
            _blinatumomab(
                "blin-c1",
                pid,
                [(history_unit(d)[0], n) for d, n in c1_steps],
                unit=c1_unit,
                start=first_start,
                indication=indication,
                cycle=1,
                status="completed",
                bag_hours=48,
            )
        )
    if day == 8:
        first_days = [
            (schedule_dose(indication, cycle, 1, weight, bsa), 7),
        ]
        history.append(
            _blinatumomab(
                f"blin-c{cycle}-d1",
                pid,
                [(history_unit(d)[0], n) for d, n in first_days],
                unit=history_unit(first_days[0][0])[1],
                start=START - timedelta(days=7),
                indication=indication,
                cycle=cycle,
                status="active",
                bag_hours=24,
            )
        )
    if cycle == 1 and number % 4 == 1:  # a course two years ago, then a relapse: a new course
        earlier = START - timedelta(days=760)
        full = schedule_dose(indication, 2, 1, weight, bsa)
        for n in (1, 2):
            history.append(
                _blinatumomab(
                    f"blin-earlier-c{n}",
                    pid,
                    [(history_unit(full)[0], 28)],
                    unit=history_unit(full)[1],
                    start=earlier + timedelta(days=42 * (n - 1)),
                    indication=indication,
                    cycle=n,
                    status="completed",
                    bag_hours=96,
                )
            )
        story.append("an earlier course (cycles 1-2) ended about two years ago")
    chart.extend(history)

    encounter = {
        "resourceType": "Encounter",
        "id": f"enc-{number:03d}",
        "status": "in-progress",
        "class": {
            "system": ACT_CODE,
            "code": "IMP" if inpatient else "AMB",
            "display": "inpatient encounter" if inpatient else "ambulatory",
        },
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": _iso(START - timedelta(hours=rng.randint(3, 30)))},
    }
    chart.append(encounter)

    order = _blinatumomab(
        f"blin-draft-{number:03d}",
        pid,
        written,
        unit=unit,
        start=START,
        indication=indication,
        cycle=cycle,
        status="draft",
        bag_hours=rng.choice([24, 48] if child else [24, 48, 96, 168]),
        encounter=f"Encounter/{encounter['id']}",
    )
    order["authoredOn"] = _iso(SIGNED)
    drug = rng.choice(sorted(DRUG_CODINGS))
    medications: list[dict[str, Any]] = []
    del order["medicationCodeableConcept"]
    if medication_style == "codeable":
        order["medicationCodeableConcept"] = copy.deepcopy(DRUG_CODINGS[drug])
    else:
        medication = {
            "resourceType": "Medication",
            "id": f"blincyto-{number:03d}",
            "code": copy.deepcopy(DRUG_CODINGS[drug]),
            "form": {"text": "powder for solution for infusion"},
        }
        if medication_style == "contained":
            order["contained"] = [medication | {"id": "blincyto"}]
            order["medicationReference"] = {"reference": "#blincyto"}
        else:
            medications.append(medication)
            order["medicationReference"] = {"reference": f"Medication/{medication['id']}"}
    story.append(f"drug coded {drug} ({medication_style})")
    drafts = [order]

    if premedication_due(age, indication, cycle, day) and defect != "premedication":
        if age >= ADULT_AGE and indication == "mrd-positive" and rng.random() < 0.5:
            drafts.append(
                _drug_order(
                    "premed", pid, "8640", "prednisone", 100, START - timedelta(hours=1), "draft"
                )
            )
        else:
            mg = 20.0 if age >= ADULT_AGE else min(math.ceil(5 * bsa * 10) / 10, 20.0)
            drafts.append(
                _drug_order(
                    "premed", pid, "3264", "dexamethasone", mg, START - timedelta(hours=1), "draft"
                )
            )
    elif defect == "premedication":
        expected.add(("premedication", "warning"))

    if long_chart:
        chart.extend(_long_history(rng, pid, weight, height))
        story.append("long chart")
    return Cohort(
        patient_id=pid,
        chart=chart,
        drafts=drafts,
        medications=medications,
        encounter=encounter,
        reference_style=reference_style,
        medication_style=medication_style,
        age=age,
        indication=indication,
        cycle=cycle,
        day=day,
        expected=expected,
        hospitalization_reminder=not inpatient and day <= INPATIENT_DAYS[indication][cycle - 1],
        story=story,
    )


def _long_history(
    rng: random.Random, pid: str, weight: float, height: float
) -> list[dict[str, Any]]:
    """Years of vital signs, glucose results, flu shots and supportive-care orders: the bulk of a
    real chart that no check needs, all older than the current values."""
    resources: list[dict[str, Any]] = []
    for visit in range(1, 121):
        when = START - timedelta(days=8 + visit * 9, hours=rng.randint(0, 8))
        resources.append(
            _observation(
                f"wt-h{visit}",
                pid,
                "29463-7",
                "Body weight",
                when,
                valueQuantity=_quantity(round(weight * rng.uniform(0.9, 1.1), 1), "kg"),
            )
        )
        resources.append(
            _observation(
                f"hr-h{visit}",
                pid,
                "8867-4",
                "Heart rate",
                when,
                valueQuantity={
                    "value": rng.randint(60, 110),
                    "unit": "/min",
                    "system": UCUM,
                    "code": "/min",
                },
            )
        )
        if visit % 3 == 0:
            resources.append(
                _observation(
                    f"glu-h{visit}",
                    pid,
                    "2345-7",
                    "Glucose [Mass/volume] in Serum or Plasma",
                    when,
                    "laboratory",
                    valueQuantity=_quantity(rng.randint(70, 140), "mg/dL"),
                )
            )
        if visit % 10 == 0:
            resources.append(
                _observation(
                    f"ht-h{visit}",
                    pid,
                    "8302-2",
                    "Body height",
                    when,
                    valueQuantity=_quantity(round(height - visit * 0.01, 1), "cm"),
                )
            )
    for year in range(1, 9):
        resources.append(
            _immunization(
                f"imm-flu-h{year}",
                pid,
                NOT_LIVE_VACCINES[0],
                START - timedelta(days=365 * year + rng.randint(0, 60)),
            )
        )
    for number, (rxnorm, name, mg) in enumerate(
        [("26225", "ondansetron", 8), ("519", "allopurinol", 300), ("281", "acyclovir", 400)] * 6
    ):
        resources.append(
            _drug_order(
                f"supportive-{number}",
                pid,
                rxnorm,
                name,
                mg,
                START - timedelta(days=30 + number * 11),
                rng.choice(["completed", "stopped", "active"]),
            )
        )
    return resources


def cohort(size: int = 120, seed: int = 14) -> list[Cohort]:
    """`size` patients; patient n draws from its own seeded stream, so a subset is stable."""
    return [make_patient(n, random.Random(f"{seed}-{n}")) for n in range(size)]


# ---------------------------------------------------------------- the three ways in
def _restyle(node: Any, style: str, pid: str) -> Any:
    """References as this patient's EHR writes them (relative stays relative)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and not value.startswith("#"):
                out[key] = _reference(value, style, pid)
            else:
                out[key] = _restyle(value, style, pid)
        return out
    if isinstance(node, list):
        return [_restyle(v, style, pid) for v in node]
    return node


def _reference(reference: str, style: str, pid: str) -> str:
    if style == "absolute":
        return f"{FHIR_BASE}/{reference}"
    if style == "versioned" and reference == f"Patient/{pid}":
        return f"{reference}/_history/2"
    if style == "urn" and reference == f"Patient/{pid}":
        return f"urn:uuid:{pid}"
    return reference


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{FHIR_BASE}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


PREFETCH_TYPES = {
    "observations": "Observation",
    "immunizations": "Immunization",
    "medications": "MedicationRequest",
    "conditions": "Condition",
}


def _of_type(patient: Cohort, kind: str, style: str) -> list[dict[str, Any]]:
    return [
        _restyle(copy.deepcopy(r), style, patient.patient_id)
        for r in patient.chart
        if r["resourceType"] == kind
    ]


def _context(patient: Cohort, style: str) -> dict[str, Any]:
    drafts = [_restyle(copy.deepcopy(r), style, patient.patient_id) for r in patient.drafts]
    draft_bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in drafts],
    }
    if patient.medication_style == "external-drafts":
        draft_bundle["entry"] += [
            {"fullUrl": f"{FHIR_BASE}/Medication/{m['id']}", "resource": copy.deepcopy(m)}
            for m in patient.medications
        ]
    return {
        "userId": "Practitioner/onc-1",
        "patientId": patient.patient_id,
        "encounterId": patient.encounter["id"],
        "draftOrders": draft_bundle,
    }


def prefetch_request(patient: Cohort) -> dict[str, Any]:
    """The order-sign call of an EHR that fills every prefetch key."""
    style = patient.reference_style
    prefetch: dict[str, Any] = {
        "patient": copy.deepcopy(patient.patient),
        "encounter": _restyle(copy.deepcopy(patient.encounter), style, patient.patient_id),
    }
    for key, kind in PREFETCH_TYPES.items():
        prefetch[key] = _searchset(_of_type(patient, kind, style))
    if patient.medication_style == "external-prefetch":  # as `_include` would bring them
        prefetch["medications"]["entry"] += [
            {
                "fullUrl": f"{FHIR_BASE}/Medication/{m['id']}",
                "resource": copy.deepcopy(m),
                "search": {"mode": "include"},
            }
            for m in patient.medications
        ]
    return {
        "hook": "order-sign",
        "hookInstance": str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{FHIR_BASE}/Patient/{patient.patient_id}")
        ),
        "context": _context(patient, style),
        "prefetch": prefetch,
    }


def fallback_request(patient: Cohort, fhir_server: str = FHIR_BASE) -> dict[str, Any]:
    """The same call from an EHR that sends no prefetch: everything is read from `fhirServer`."""
    return {
        "hook": "order-sign",
        "hookInstance": str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{FHIR_BASE}/Patient/{patient.patient_id}")
        ),
        "fhirServer": fhir_server,
        "fhirAuthorization": {
            "access_token": f"token-{patient.patient_id}",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "blinatumomab-cds",
        },
        "context": _context(patient, patient.reference_style),
    }


def server_resources(patient: Cohort) -> dict[str, list[dict[str, Any]]]:
    """What the EHR's FHIR server stores for the patient, by type (a server keeps references
    relative or absolute; a `urn:uuid:` reference exists only inside a Bundle)."""
    style = "relative" if patient.reference_style == "urn" else patient.reference_style
    stored: dict[str, list[dict[str, Any]]] = {}
    for resource in [*patient.chart, *patient.medications]:
        restyled = _restyle(copy.deepcopy(resource), style, patient.patient_id)
        stored.setdefault(resource["resourceType"], []).append(restyled)
    return stored


def bundle_file(patient: Cohort) -> dict[str, Any]:
    """The chart and draft orders as one Bundle: a Synthea-style transaction (urn:uuid fullUrls
    and references, entries with `request`, no ids) for `urn` patients, else a collection with
    absolute fullUrls."""
    resources = [*patient.chart, *patient.drafts, *patient.medications]
    if patient.reference_style != "urn":
        style = patient.reference_style
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {
                    "fullUrl": f"{FHIR_BASE}/{r['resourceType']}/{r['id']}",
                    "resource": _restyle(copy.deepcopy(r), style, patient.patient_id),
                }
                for r in resources
            ],
        }
    rng = random.Random(patient.patient_id)
    urls = {
        f"{r['resourceType']}/{r['id']}": (
            f"urn:uuid:{patient.patient_id}"
            if r["resourceType"] == "Patient"
            else f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        )
        for r in resources
    }

    def to_urn(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (urls.get(v, v) if k == "reference" and isinstance(v, str) else to_urn(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [to_urn(v) for v in node]
        return node

    entries = []
    for resource in resources:
        url = urls[f"{resource['resourceType']}/{resource['id']}"]
        written = to_urn(copy.deepcopy(resource))
        if resource["resourceType"] != "Patient":
            del written["id"]  # Synthea: the fullUrl names it
        entries.append(
            {
                "fullUrl": url,
                "resource": written,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
