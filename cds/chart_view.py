"""What the checks see in one chart, for the sandbox page.

Pure (no Flask, no HTTP): formats the engine's own reading of the call (`Engine.read`: the same
snapshot, draft orders and order reviews the checks get) and, through the checks' own "what I read"
functions (the dose check's weight and BSA, the labs the lab check uses, the Encounter the
hospitalisation check reads, the infusions the cycle check reads, the pregnancy and vaccine
readings), so that no clinical rule is written a second time here or in JavaScript. Every value
names the resource it came from and its date. Doses are written in one style: "28 mcg/day".
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from cds.checks import CheckInput
from cds.checks import cycle_limits as cycle_check
from cds.checks import dose as dose_check
from cds.checks import hospitalization as hospitalization_check
from cds.checks import labs as lab_check
from cds.checks import pregnancy as pregnancy_check
from cds.checks import vaccines as vaccine_check
from cds.dosing import (
    DoseNotComputable,
    Measurement,
    is_stale,
    latest_measurement,
    ordered_mcg_per_day,
)
from cds.knowledge import Knowledge
from cds.orders import OrderUnderReview, cycle_of, earlier_blinatumomab_orders
from cds.patient import DataIssue, MedicationOrder, ObservationFact, PatientSnapshot
from cds.pregnancy_conditions import current_pregnancy, means_current_pregnancy
from cds.services import ChartReading
from cds.toxicity import toxicity_events
from cds.units import format_number

PREGNANCY_VALUE_SETS = ("pregnancy_status", "hcg_qualitative", "hcg_quantitative")
# UCUM codes as the page writes them (one style: "28 mcg/day", never "28 ug/d")
UNIT_TEXT = {
    **dose_check.UNIT_TEXT,
    "mg/d": "mg/day",
    "ug/(24.h)": "mcg/24 h",
    "ug/h": "mcg/h",
    "mg/h": "mg/h",
}


def unit_text(unit: str | None) -> str:
    return UNIT_TEXT.get(unit or "", unit or "(no unit)")


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _measurement(
    found: Measurement | None,
    unit: str,
    max_age_days: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    if found is None:
        return None
    stale = None
    if max_age_days is not None and now is not None:
        stale = is_stale(found, max_age_days, now)
    return {
        "value": float(found.value),
        "text": f"{format_number(found.value)} {unit}",
        "date": _when(found.when),
        "resource": found.resource,
        "stale": stale,
        "maxAgeDays": max_age_days,
    }


def _steps(
    order: MedicationOrder, bsa: Decimal | None, knowledge: Knowledge
) -> list[dict[str, Any]]:
    """Each dosage instruction as ordered and, where the dose check can, in mcg/day."""
    steps = []
    for dosage in order.ordered_dosages():
        try:
            per_day: Decimal | None = ordered_mcg_per_day(dosage, bsa, knowledge)
            problem = None
        except DoseNotComputable as error:
            per_day, problem = None, str(error)
        amount = format_number(dosage.amount) if dosage.amount is not None else "?"
        days = dosage.bounds_duration_days
        if days is None and dosage.bounds_start and dosage.bounds_end:
            days = Decimal((dosage.bounds_end - dosage.bounds_start).days)
        ordered = f"{amount} {unit_text(dosage.unit)}" + (" (rate)" if dosage.is_rate else "")
        per_day_text = format_number(per_day, "0.01") if per_day is not None else None
        text = ordered
        if per_day_text is not None and not (dosage.unit == "ug/d" and per_day == dosage.amount):
            text += f" ({per_day_text} mcg/day)"
        elif problem:
            text += f" ({problem})"
        if days is not None:
            text += f" × {format_number(days)} days"
        steps.append(
            {
                "sequence": dosage.sequence,
                "ordered": ordered,
                "mcgPerDay": float(per_day) if per_day is not None else None,
                "mcgPerDayText": per_day_text,
                "problem": problem,
                "days": float(days) if days is not None else None,
                "start": _when(dosage.bounds_start),
                "text": text,
            }
        )
    return steps


def _fact(fact: ObservationFact | None) -> dict[str, Any] | None:
    if fact is None:
        return None
    value = (
        f"{fact.comparator or ''}{format_number(fact.value)} {fact.unit or ''}".strip()
        if fact.value is not None
        else fact.value_text or "(no value)"
    )
    return {"value": value, "resource": fact.resource, "date": _when(fact.when)}


def _labs(item: CheckInput, knowledge: Knowledge) -> list[dict[str, Any]]:
    return [
        {"test": test, "withinDays": days, "result": _fact(found)}
        for test, days, found in lab_check.results_read(item, knowledge)
    ]


def _setting(item: CheckInput, knowledge: Knowledge) -> dict[str, Any]:
    encounter, encounter_class, inpatient = hospitalization_check.setting_read(item, knowledge)
    return {"encounter": encounter, "class": encounter_class, "inpatient": inpatient}


def _interruptions(item: CheckInput, knowledge: Knowledge) -> list[dict[str, Any]]:
    """The earlier infusions the cycle check reads, each with the gap after it (to the next
    infusion, or to this order's start)."""
    infusions = cycle_check.infusions_read(item, knowledge)
    rows = []
    for index, infusion in enumerate(infusions):
        following = infusions[index + 1].start if index + 1 < len(infusions) else item.review.start
        gap = following - infusion.end
        rows.append(
            {
                "resource": infusion.order.resource,
                "cycle": infusion.cycle,
                "start": _when(infusion.start),
                "end": _when(infusion.end),
                "gapDaysAfter": format_number(Decimal(gap.total_seconds()) / 86400, "0.1"),
                "gapUntil": "this order" if index + 1 == len(infusions) else "the next infusion",
            }
        )
    return rows


def _order_view(item: CheckInput, knowledge: Knowledge) -> dict[str, Any]:
    reviewed: OrderUnderReview = item.review
    body = dose_check.body_of(item, knowledge, [])  # the dose check's own weight/BSA reasoning
    threshold = format_number(knowledge.dose.weight_threshold_kg)
    band = {
        True: f"fixed dose (weight ≥ {threshold} kg)",
        False: f"per-m² dose (weight under {threshold} kg)",
        None: "unknown (no weight)",
    }[body.fixed_dose]
    return {
        "resource": reviewed.order.resource,
        "indication": reviewed.indication,
        "indicationBasis": reviewed.indication_basis,
        # the cycle the checks judge: the history's when the order codes a lower one
        "cycle": reviewed.judged_cycle[0],
        "cycleBasis": reviewed.judged_cycle[1],
        "start": _when(reviewed.start),
        "cycleDay": reviewed.judged_cycle[2],
        "doseBand": band,
        "bsa": {
            "value": float(body.bsa_m2) if body.bsa_m2 is not None else None,
            "text": f"{format_number(body.bsa_m2, '0.01')} m²" if body.bsa_m2 is not None else None,
            "basis": body.bsa_basis,
        },
        "steps": _steps(reviewed.order, body.bsa_m2, knowledge),
        "labs": _labs(item, knowledge),
        "setting": _setting(item, knowledge),
        "infusions": _interruptions(item, knowledge),
    }


def _pregnancy(
    patient: PatientSnapshot, knowledge: Knowledge, item: CheckInput | None
) -> dict[str, Any]:
    """What the pregnancy check reads. Where no test is asked for (a man, a woman outside the
    reproductive ages), `why` says so; the results and problem list are read all the same, as the
    check reads them: positive evidence speaks for every patient."""
    settings = knowledge.pregnancy
    applies = pregnancy_check.applies_to(item, knowledge, settings) if item else None
    why = None
    if applies is False and patient.gender != "male":
        age = patient.age_years(item.review.start.date()) if item else None
        low, high = settings.reproductive_age_min_years, settings.reproductive_age_max_years
        why = (
            f"age {age}, outside {low}–{high}"
            if age is not None and not low <= age <= high
            else "no reproductive potential on the problem list"
        )
    displays = knowledge.displays()
    codes: frozenset[tuple[str, str]] = frozenset()
    for name in PREGNANCY_VALUE_SETS:
        codes |= knowledge.codes_of(name)
    results = []
    for fact in patient.observations_of(codes):
        if fact.value is not None:
            value = f"{format_number(fact.value)} {fact.unit or ''}".strip()
        else:
            value = next(
                (displays[c] for c in sorted(fact.value_codes) if c in displays),
                fact.value_text or "(no value)",
            )
        results.append(
            {
                "resource": fact.resource,
                "test": next((displays[c] for c in sorted(fact.codes) if c in displays), "?"),
                "date": _when(fact.when),
                "value": value,
                "reading": pregnancy_check.reading_of(fact, knowledge, settings),
            }
        )
    counted = current_pregnancy(patient.conditions, knowledge)
    problems = [
        {
            "resource": c.resource,
            "date": _when(c.onset),
            "status": c.clinical_status or "(no status)",
            "counts": c is counted,
        }
        for c in patient.conditions
        if means_current_pregnancy(c.codes, knowledge, c.text)
    ]
    return {"applies": applies, "why": why, "results": results, "problems": problems}


def _toxicity(patient: PatientSnapshot, knowledge: Knowledge) -> list[dict[str, Any]]:
    """Conditions coded as blinatumomab toxicities (CRS D89.83-, neurotoxicity G92.0-, seizures)."""
    return [
        {
            "resource": event.resource,
            "kind": event.kind,
            "grade": event.grade,
            "onset": _when(event.onset),
            "ended": _when(event.abatement),
        }
        for event in toxicity_events(patient.conditions, knowledge.toxicity)
    ]


def _live_vaccines(
    patient: PatientSnapshot, drafts: list[MedicationOrder], knowledge: Knowledge
) -> list[dict[str, Any]]:
    live = vaccine_check.live_codes(knowledge, knowledge.vaccines)
    found = [
        {
            "resource": shot.resource,
            "vaccine": vaccine_check.vaccine_name(shot.codes, knowledge, shot.text),
            "date": _when(shot.when) or shot.date_text,
            "status": shot.status,
            "how": "given",
            "matchedBy": shot.recognised_by or "code",
        }
        for shot in patient.immunizations
        if not shot.codes.isdisjoint(live)
    ]
    seen: set[str] = set()
    for order in (*drafts, *patient.medication_orders):
        if order.resource not in seen and order.matched_by_code(live):
            seen.add(order.resource)
            found.append(
                {
                    "resource": order.resource,
                    "vaccine": vaccine_check.vaccine_name(order.codes, knowledge, order.text),
                    "date": _when(order.first_start()),
                    "status": order.status,
                    "how": "ordered",
                    "matchedBy": "code",
                }
            )
    return found


def _earlier_cycles(patient: PatientSnapshot, knowledge: Knowledge) -> list[dict[str, Any]]:
    earlier = {o.resource: o for o in earlier_blinatumomab_orders(patient, knowledge)}
    rows = []
    for order in sorted(earlier.values(), key=lambda o: _when(o.first_start()) or ""):
        rows.append(
            {
                "resource": order.resource,
                "status": order.status,
                "cycle": cycle_of(order),
                "start": _when(order.first_start()),
                "steps": _steps(order, None, knowledge),
            }
        )
    return rows


def _issue(issue: DataIssue) -> dict[str, str]:
    return {"source": issue.source, "resource": issue.resource, "problem": issue.problem}


def summarise(reading: ChartReading, knowledge: Knowledge) -> dict[str, Any]:
    """The chart as the checks read it (unavailable sources reported as the checks would)."""
    patient, now, items = reading.patient, reading.now, reading.inputs
    drafts = list(reading.drafts.orders)
    first = items[0] if items else None
    at = first.review.start if first else now
    weight = latest_measurement(patient, knowledge, "body_weight", "kg", now)
    height = latest_measurement(patient, knowledge, "body_height", "cm", now)
    return {
        "asOf": now.isoformat(),
        "patient": {
            "id": patient.patient_id,
            "sex": patient.gender,
            "birthDate": patient.birth_date.isoformat() if patient.birth_date else None,
            "ageYears": patient.age_years(at.date()),
            "ageAt": at.date().isoformat(),
        },
        "weight": _measurement(weight, "kg", knowledge.dose.weight_max_age_days, now),
        "height": _measurement(height, "cm", knowledge.dose.height_max_age_days, now),
        "orders": [_order_view(item, knowledge) for item in items],
        "otherDrafts": [o.resource for o in drafts if o not in reading.drafts.targets],
        "pregnancy": _pregnancy(patient, knowledge, first),
        "liveVaccines": _live_vaccines(patient, drafts, knowledge),
        "immunizationsRead": "immunizations" not in patient.unavailable,
        "earlierCycles": _earlier_cycles(patient, knowledge),
        "toxicity": _toxicity(patient, knowledge),
        "unavailable": dict(patient.unavailable),
        "issues": [_issue(i) for i in (*patient.data_issues(), *reading.drafts.issues)],
    }
