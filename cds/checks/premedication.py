"""Premedication check (card topic `premedication`; label §2.2-2.5).

At signing, the glucocorticoid for the order's FIRST dose must be ordered: in the same draft orders,
or as an active order timed for it. Missing or too low is a warning with the right dexamethasone
order to accept; the day-8 step-up inside the same order is an info reminder.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from cds import units
from cds.checks import Check, CheckInput
from cds.dosing import latest_measurement, mosteller_bsa
from cds.findings import Declarations, Emission, ProposedAction, declare, emit
from cds.knowledge import Knowledge
from cds.knowledge.models import Event, PremedicationRules
from cds.patient import MedicationOrder
from cds.restarts import mentions_restart, restart_of
from cds.suggestions import dexamethasone_order, hours_text
from cds.units import format_number

TOPIC = "premedication"
_PREMEDICATION = ("event", "required", "who", "bsa", "medications")
FINDINGS: Declarations = {
    "premedication-age-unknown": declare("warning"),
    "premedication-step-up-reminder": declare("info", "mg"),
    "premedication-missing": declare("warning", *_PREMEDICATION),
    "premedication-low-dose": declare("warning", *_PREMEDICATION, "ordered"),
}


def _first_event(
    item: CheckInput, settings: PremedicationRules, knowledge: Knowledge
) -> Event | None:
    """The event the order's first dose is: a restart (after an interruption, or after a toxicity
    per restarts.yaml), a cycle start, or the R/R day-8 step-up."""
    order = item.review.order
    resumed = item.review.resumption  # a restart after >= 4 h: premedicate as at a cycle start
    if resumed is not None and resumed.needs_restart_premedication:
        return "restart"
    if mentions_restart(order, knowledge.restarts):
        return "restart"
    if restart_of(order, knowledge) is not None:
        return "restart"
    if item.review.cycle_day == 1:
        return "cycle-start"
    if item.review.cycle_day == settings.step_up_day and item.review.cycle in (1, None):
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


def check_premedication(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    settings = knowledge.premedication
    review = item.review
    age = item.patient.age_years(review.start.date())
    if age is None:
        return [emit("premedication-age-unknown", settings.adult_age_source)]
    children = age < settings.adult_age_years
    findings: list[Emission] = []
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
            emit(
                "premedication-step-up-reminder",
                source,
                mg=format_number(required, "0.1") if required else settings.children.dose_text,
            )
        )
    if event is None or event not in events:
        return findings
    ordered = _ordered_mg(item, knowledge, settings, children)
    values: dict[str, Any] = {
        "event": {
            "cycle-start": "the first dose of the cycle",
            "step-up": f"the day-{settings.step_up_day} step-up dose",
            "restart": "the restart after an interruption",
        }[event],
        "required": format_number(required, "0.1")
        if required is not None
        else settings.children.dose_text,
        "who": f"child {age} years" if children else "adult",
        "bsa": f"{format_number(bsa, '0.1')} m²" if bsa else "unknown",
        "medications": "could not be read: " + item.patient.unavailable["medications"]
        if "medications" in item.patient.unavailable
        else "read",
    }
    action: tuple[ProposedAction, ...] = ()
    if required is not None:
        hours = settings.given_hours_before_start
        dose_text = f"dexamethasone {format_number(required, '0.1')} mg IV"
        resource = dexamethasone_order(
            knowledge, item.patient.patient_id, required, hours, review.start, item.now
        )
        action = (
            ProposedAction(
                "create",
                f"Order {dose_text} {hours_text(hours)} before",
                resource,
            ),
        )
    if ordered is None:
        findings.append(emit("premedication-missing", source, actions=action, **values))
    elif required is not None and ordered < required * (1 - settings.tolerance_below_percent / 100):
        findings.append(
            emit(
                "premedication-low-dose",
                settings.tolerance_source,
                actions=action,
                **values,
                ordered=format_number(ordered, "0.1"),
            )
        )
    return findings


CHECK = Check(
    topic=TOPIC,
    verifies="the premedication",
    requires=frozenset({"patient"}),
    run=check_premedication,
    findings=FINDINGS,
)
