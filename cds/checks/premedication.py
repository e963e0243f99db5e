"""Premedication check (card topic `premedication`; label §2.2-2.5).

At signing, the glucocorticoid for the order's FIRST dose must be ordered: in the same draft orders,
or as an active order timed for it. Missing or too low is a warning with the right dexamethasone
order to accept; the day-8 step-up inside the same order is an info reminder.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from cds import units
from cds.checks import Check, CheckInput
from cds.dosing import latest_measurement, mosteller_bsa
from cds.findings import Finding, ProposedAction
from cds.knowledge import Knowledge
from cds.patient import MedicationOrder
from cds.restarts import restart_of
from cds.suggestions import dexamethasone_order
from cds.units import format_number

TOPIC = "premedication"
Event = Literal["cycle-start", "step-up", "restart"]
STEP_UP_DAY = 8


class AdultRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mg: Decimal
    events: list[Event]
    source: str


class ChildRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mg_per_m2: Decimal
    max_mg: Decimal
    cycles: list[int]
    events: list[Event]
    source: str


class PremedicationRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    reviewed: str
    adult_age_years: int
    adult_age_source: str
    equivalence: dict[Literal["dexamethasone", "prednisone"], Decimal]
    equivalence_source: str
    tolerance_below_percent: Decimal
    tolerance_source: str
    timed_within_hours_before: int
    timing_source: str
    restart_note_markers: list[str]
    restart_source: str
    adults: dict[
        Literal["mrd-positive", "relapsed-refractory", "consolidation", "unknown"], AdultRule
    ]
    children: ChildRule


def rules(knowledge: Knowledge) -> PremedicationRules:
    return knowledge.section("premedication", PremedicationRules)


def _first_event(
    item: CheckInput, settings: PremedicationRules, knowledge: Knowledge
) -> Event | None:
    """The event the order's first dose is: a restart (after an interruption, or after a toxicity
    per restarts.yaml), a cycle start, or the R/R day-8 step-up."""
    order = item.review.order
    text = " ".join(order.notes).lower()
    if any(marker in text for marker in settings.restart_note_markers):
        return "restart"
    if restart_of(order, knowledge) is not None:
        return "restart"
    if item.review.cycle_day == 1:
        return "cycle-start"
    if item.review.cycle_day == STEP_UP_DAY and item.review.cycle in (1, None):
        return "step-up"
    return None


def _dexamethasone_equivalent(
    order: MedicationOrder, knowledge: Knowledge, settings: PremedicationRules, children: bool
) -> Decimal | None:
    """mg of dexamethasone-equivalent in one premedication order (None: not a counted drug)."""
    drugs: list[Literal["dexamethasone", "prednisone"]] = (
        ["dexamethasone"] if children else ["dexamethasone", "prednisone"]
    )
    drug = next(
        (d for d in drugs if order.matches(knowledge.codes_of(d), knowledge.text_patterns(d))), None
    )
    if drug is None:
        return None
    for dosage in order.dosages:
        if dosage.amount is not None and dosage.unit:
            try:
                return units.convert(dosage.amount, dosage.unit, "mg") * settings.equivalence[drug]
            except units.UnitError:
                continue
    return Decimal(0)


def _ordered_mg(
    item: CheckInput, knowledge: Knowledge, settings: PremedicationRules, children: bool
) -> Decimal | None:
    """The largest counted premedication ordered for the first dose (None: none found)."""
    start = item.review.start
    earliest = start - timedelta(hours=settings.timed_within_hours_before)
    candidates = [o for o in item.draft_orders if o.resource != item.review.order.resource]
    for order in item.patient.medication_orders:
        when = order.first_start()
        if order.status in ("active", "on-hold") and when is not None and earliest <= when <= start:
            candidates.append(order)
    amounts = [
        a
        for o in candidates
        if (a := _dexamethasone_equivalent(o, knowledge, settings, children)) is not None
    ]
    return max(amounts, default=None)


def _child_bsa(item: CheckInput, knowledge: Knowledge) -> Decimal | None:
    sent = latest_measurement(item.patient, knowledge, "body_surface_area", "m2")
    if sent is not None:
        return sent.value
    weight = latest_measurement(item.patient, knowledge, "body_weight", "kg")
    height = latest_measurement(item.patient, knowledge, "body_height", "cm")
    return mosteller_bsa(height.value, weight.value) if weight and height else None


def check_premedication(item: CheckInput, knowledge: Knowledge) -> list[Finding]:
    settings = rules(knowledge)
    review = item.review
    order = review.order.resource
    age = item.patient.age_years(review.start.date())
    if age is None:
        return [
            Finding(
                "premedication-age-unknown", TOPIC, "warning", settings.adult_age_source, {}, order
            )
        ]
    children = age < settings.adult_age_years
    findings: list[Finding] = []
    event = _first_event(item, settings, knowledge)
    bsa: Decimal | None = None
    if children:
        child = settings.children
        in_scope = review.cycle is None or review.cycle in child.cycles
        events, source = (child.events if in_scope else []), child.source
        bsa = _child_bsa(item, knowledge)
        required = (
            min(child.mg_per_m2 * bsa, child.max_mg).quantize(Decimal("0.1")) if bsa else None
        )
    else:
        adult = settings.adults[review.indication or "unknown"]  # type: ignore[index]
        events, source, required = adult.events, adult.source, adult.mg
    rr_or_unknown = review.indication in ("relapsed-refractory", None)
    if (
        event == "cycle-start"
        and "step-up" in events
        and rr_or_unknown
        and review.cycle in (1, None)
        and len(review.order.dosages) > 1
    ):
        findings.append(
            Finding(
                "premedication-step-up-reminder",
                TOPIC,
                "info",
                source,
                {"mg": format_number(required, "0.1") if required else "5 mg/m² (max 20 mg)"},
                order,
            )
        )
    if event is None or event not in events:
        return findings
    ordered = _ordered_mg(item, knowledge, settings, children)
    values = {
        "event": {
            "cycle-start": "the first dose of the cycle",
            "step-up": "the day-8 step-up dose",
            "restart": "the restart after an interruption",
        }[event],
        "required": format_number(required, "0.1")
        if required is not None
        else "5 mg/m² (max 20 mg)",
        "who": f"child {age} years" if children else "adult",
        "bsa": f"{format_number(bsa, '0.1')} m²" if bsa else "unknown",
        "medications": "could not be read: " + item.patient.unavailable["medications"]
        if "medications" in item.patient.unavailable
        else "read",
    }
    action: tuple[ProposedAction, ...] = ()
    if required is not None:
        resource = dexamethasone_order(
            item.patient.patient_id, required, review.start - timedelta(hours=1), item.now
        )
        action = (
            ProposedAction(
                "create",
                f"Order dexamethasone {format_number(required, '0.1')} mg IV 1 hour before",
                resource,
            ),
        )
    if ordered is None:
        findings.append(
            Finding("premedication-missing", TOPIC, "warning", source, values, order, action)
        )
    elif required is not None and ordered < required * (1 - settings.tolerance_below_percent / 100):
        findings.append(
            Finding(
                "premedication-low-dose",
                TOPIC,
                "warning",
                settings.tolerance_source,
                values | {"ordered": format_number(ordered, "0.1")},
                order,
                action,
            )
        )
    return findings


CHECK = Check(
    topic=TOPIC,
    verifies="the premedication",
    requires=frozenset({"patient"}),
    source="label-2.3",
    run=check_premedication,
    rules=rules,
)
