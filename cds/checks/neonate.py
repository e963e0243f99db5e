"""Neonates and formulation (card topic `neonate-formulation`; label §2 preparation, §5, §8.4).

72-hour, 96-hour and 7-day bags are prepared with bacteriostatic saline (benzyl alcohol). Such a bag
is critical for a neonate (gasping syndrome) or under 5.4 kg, with the same order on a 24-hour
preservative-free bag offered as the fix. Under 1 month, blinatumomab is not studied (warning).

One order gets at most one critical card (the neonate card names the weight too) and one warning
card (the not-studied card carries what could not be verified), so a neonate never sees three cards
saying the same thing. A child with no weight and a preservative or unstated bag is a warning: the
5.4 kg limit could not be checked. Adults never weigh under 5.4 kg: no weight is silent for them.
"""

from __future__ import annotations

import calendar
import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from cds import units
from cds.checks import Check, CheckInput
from cds.dosing import latest_measurement
from cds.findings import Declarations, Emission, ProposedAction, declare, emit
from cds.knowledge import Knowledge
from cds.knowledge.models import NeonateRules
from cds.patient import MedicationOrder
from cds.text_mentions import mention_pattern
from cds.units import format_number

TOPIC = "neonate-formulation"
_BAG = ("bag", "limit", "weight", "weight_date", "neonate", "suggested")
FINDINGS: Declarations = {
    "neonate-benzyl-alcohol": declare("critical", *_BAG, "weight_note"),
    "neonate-bag-under-weight": declare("critical", *_BAG),
    "neonate-not-studied": declare("warning", *_BAG, "age_days", "unverified_note"),
    "neonate-formulation-not-verified": declare("warning", *_BAG, "reason"),
}


# --- the bag ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bag:
    hours: Decimal | None  # None: the order does not say (or in a unit that is not a duration)
    preservative: bool | None  # None: cannot tell
    name: str  # "7-day bag", "96-hour bag", "bag of unstated duration"


def names_preservative(text: str, settings: NeonateRules) -> bool:
    """True when `text` names the preservative preparation in a mention that is not negated
    ("preservative-free", "without benzyl alcohol" and "do not use bacteriostatic" do not count)."""
    mention, before, after = mention_pattern(
        tuple(p.lower() for p in settings.preservative_text),
        tuple(w.lower() for w in settings.negation_before),
        tuple(w.lower() for w in settings.negation_after),
    )
    lowered = text.lower()
    for match in mention.finditer(lowered):
        preceding = lowered[max(0, match.start() - 40) : match.start()]
        # matched in place (`pos`), never on a copy of the rest: a long note names it often
        if before.search(preceding) or after.match(lowered, match.end()):
            continue
        return True
    return False


def _bag_name(hours: Decimal | None) -> str:
    if hours is None:
        return "bag of unstated duration"
    if hours % 24 == 0 and hours >= 168:
        return f"{format_number(hours / 24)}-day bag"
    return f"{format_number(hours)}-hour bag"


def bag_of(order: MedicationOrder, settings: NeonateRules) -> Bag:
    """The order's bag: preservative when longer than the preservative-free bags, or when the
    medication or a note names the preservative preparation."""
    hours = order.bag_hours()
    text = " \n ".join([order.text, *order.notes])
    by_duration = hours is not None and hours > settings.preservative_free_max_hours
    if by_duration:
        return Bag(hours, True, _bag_name(hours))
    if names_preservative(text, settings):
        name = (
            "preservative bag" if hours is None else f"{format_number(hours)}-hour preservative bag"
        )
        return Bag(hours, True, name)
    return Bag(hours, None if hours is None else False, _bag_name(hours))


# --- the patient --------------------------------------------------------------------------------


def _add_months(born: date, months: int) -> date:
    month_index = born.month - 1 + months
    year, month = born.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(born.day, calendar.monthrange(year, month)[1]))


def _gestational_weeks(item: CheckInput, knowledge: Knowledge) -> Decimal | None:
    for fact in item.patient.observations_of(knowledge.codes_of("gestational_age_at_birth")):
        if fact.value is not None and fact.unit:
            try:
                return units.duration(fact.value, fact.unit, "wk")
            except units.UnitError:
                continue
        match = re.match(r"^\s*(\d{2})\s*(?:\+\s*(\d))?", fact.value_text or "")
        if match:  # "31+4": 31 weeks and 4 days
            return Decimal(match.group(1)) + Decimal(match.group(2) or 0) / 7
    return None


def _neonate_reason(
    item: CheckInput, knowledge: Knowledge, settings: NeonateRules, age_days: int | None
) -> str | None:
    """Who the benzyl alcohol rule for neonates applies to ("neonate, 10 days old"), or None."""
    if age_days is None:
        return None
    if age_days < settings.neonate_below_age_days:
        return f"neonate, {age_days} day{'s' if age_days != 1 else ''} old"
    if age_days >= settings.birth_data_read_below_age_days:
        return None
    birth_weight = latest_measurement(item.patient, knowledge, "birth_weight", "g", item.now)
    if birth_weight is not None and birth_weight.value < settings.very_low_birth_weight_below_g:
        return f"infant of very low birth weight ({birth_weight.value:.0f} g)"
    weeks = _gestational_weeks(item, knowledge)
    if weeks is not None and weeks < settings.early_preterm_below_weeks:
        return f"infant born preterm at {format_number(weeks, '0.1')} weeks"
    return None


# --- the fix ------------------------------------------------------------------------------------


def preservative_free_order(
    raw: Mapping[str, Any], settings: NeonateRules, hours: int
) -> dict[str, Any]:
    """A copy of the order on a preservative-free bag of `hours`: notes and medication text that
    name the preservative preparation are replaced, everything else is kept."""
    resource: dict[str, Any] = copy.deepcopy(dict(raw))
    dispense = resource.get("dispenseRequest")
    if not isinstance(dispense, dict):
        dispense = resource["dispenseRequest"] = {}
    dispense["expectedSupplyDuration"] = {
        "value": hours,
        "unit": "h",
        "system": units.UCUM_SYSTEM,
        "code": "h",
    }
    notes = [
        note
        for note in resource.get("note") or []
        if not (isinstance(note, dict) and names_preservative(str(note.get("text", "")), settings))
    ]
    resource["note"] = [*notes, {"text": settings.suggestion_note}]
    medication = resource.get("medicationCodeableConcept")
    if isinstance(medication, dict):
        if names_preservative(str(medication.get("text", "")), settings):
            medication["text"] = "Blinatumomab (BLINCYTO) continuous IV infusion, preservative-free"
        for coding in medication.get("coding") or []:
            if isinstance(coding, dict) and names_preservative(
                str(coding.get("display", "")), settings
            ):
                coding.pop("display", None)
    return resource


# --- the check ----------------------------------------------------------------------------------


def check_neonate(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    settings = knowledge.neonate
    review = item.review
    order = review.order
    patient = item.patient
    start = review.start.date()
    bag = bag_of(order, settings)
    age_days = patient.age_days(start)
    age_years = patient.age_years(start)
    neonate = _neonate_reason(item, knowledge, settings, age_days)
    weight = latest_measurement(patient, knowledge, "body_weight", "kg", item.now)
    limit = settings.min_weight_kg_for_preservative_bag
    light = weight is not None and weight.value < limit
    may_be_light = weight is None and (
        age_years is None or age_years < settings.weight_needed_below_age_years
    )
    values: dict[str, Any] = {
        "bag": bag.name,
        "limit": format_number(limit),
        "weight": f"{format_number(weight.value)} kg" if weight is not None else "not on file",
        "weight_date": weight.when.date().isoformat() if weight and weight.when else "undated",
        "neonate": neonate or "",
        "suggested": settings.suggested_bag_hours,
    }
    findings: list[Emission] = []
    unverified: str | None = None
    fix: tuple[ProposedAction, ...] = ()
    if bag.preservative and isinstance(order.raw, Mapping) and order.raw:
        fix = (
            ProposedAction(
                "update",
                f"Use a preservative-free {settings.suggested_bag_hours}-hour bag",
                preservative_free_order(order.raw, settings, settings.suggested_bag_hours),
            ),
        )
    if bag.preservative and neonate:
        weight_note = (
            f" The weight ({values['weight']}) is also under {values['limit']} kg." if light else ""
        )
        findings.append(
            emit(
                "neonate-benzyl-alcohol",
                settings.neonate_source,
                actions=fix,
                **values,
                weight_note=weight_note,
            )
        )
    elif bag.preservative and light:
        findings.append(
            emit("neonate-bag-under-weight", settings.min_weight_source, actions=fix, **values)
        )
    elif bag.preservative and may_be_light:
        missing = (
            f"the weights could not be read ({patient.unavailable['observations']})"
            if "observations" in patient.unavailable
            else "no weight is on file"
        )
        unverified = (
            f"{missing}, so the {values['limit']} kg limit of the {bag.name} "
            "(benzyl alcohol) could not be checked"
        )
    elif bag.preservative is None and (neonate or light or may_be_light):
        unverified = (
            "the order does not state the bag's duration (dispenseRequest.expectedSupplyDuration), "
            "so it could not be checked that the preparation is preservative-free"
        )
    born = patient.birth_date
    if (
        born is not None
        and age_days is not None  # not a birth date after the start (a wrong date)
        and start < _add_months(born, settings.not_studied_below_months)
    ):
        note = f" Also: {unverified}." if unverified else ""
        findings.append(
            emit(
                "neonate-not-studied",
                settings.not_studied_source,
                **values,
                age_days=age_days,
                unverified_note=note,
            )
        )
    elif unverified:
        findings.append(
            emit(
                "neonate-formulation-not-verified",
                settings.weight_needed_source if bag.preservative else settings.bag_source,
                **values,
                reason=unverified,
            )
        )
    return findings


CHECK = Check(
    topic=TOPIC,
    verifies="the infusion bag and preparation for this patient's age and weight",
    requires=frozenset(),  # what it lacks (age, weight, bag) it says on its own card
    run=check_neonate,
    findings=FINDINGS,
)
