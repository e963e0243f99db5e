"""Laboratory monitoring (card topic `lab-monitoring`; label §2.5 and §5 hepatotoxicity).

Liver: the latest current ALT or AST above 5 × ULN, or total bilirubin above 3 × ULN, means hold
the infusion (critical when this order starts a cycle, else a warning). Before the first dose (no
earlier blinatumomab infusion on file) the hold rule, about rises during treatment, does not apply:
such a value is a warning to confirm before starting. The ULN is the result's own
reference range expressed in the result's unit (mg/dL against umol/L through the analyte's molar
mass), else the knowledge file's default (the card says which); a range in a unit that cannot be
converted is no ULN, and a result under the default is then said unchecked. Before cycle 1 a liver
panel (ALT or AST, and total bilirubin) must be on file within the window. Neutrophils: a low
absolute count is an info or a warning per the thresholds in `labs.yaml`, information only at a
relapsed/refractory cycle start (the leukaemia, not the drug, explains it), and not judged before
the first dose of a course (the label's rule is to interrupt an infusion for prolonged
neutropenia: there is none yet). A result that cannot be read against its limit is said, never
silently skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from cds import units
from cds.checks import Check, CheckInput
from cds.findings import Declarations, Emission, declare, emit
from cds.knowledge import Knowledge
from cds.knowledge.models import LabRules
from cds.orders import earlier_blinatumomab_orders
from cds.patient import ObservationFact
from cds.units import format_number

TOPIC = "lab-monitoring"
_RESULT = ("test", "value", "unit", "times", "limit", "uln", "uln_basis", "date")
FINDINGS: Declarations = {
    "lab-liver-hold": declare(  # critical when it would start a cycle (lab-monitoring.yaml)
        None, *_RESULT, "when"
    ),
    "lab-liver-high-before-start": declare("warning", *_RESULT),
    "lab-result-unreadable": declare("warning", "results"),
    "lab-liver-baseline-missing": declare("warning", "missing", "days"),
    "lab-neutropenia": declare(None, "count", "below", "grade", "date"),  # indicator: per grade
}


@dataclass(frozen=True)
class Reading:
    """One result against its upper limit of normal (ULN), in the result's own unit."""

    fact: ObservationFact
    value: Decimal
    unit: str
    uln: Decimal
    uln_basis: str


def _current(
    item: CheckInput, knowledge: Knowledge, settings: LabRules, value_set: str, days: int
) -> ObservationFact | None:
    """The newest usable result of `value_set` taken within `days` before the start (or since)."""
    since = item.review.start - timedelta(days=days)
    for fact in item.patient.observations_of(knowledge.codes_of(value_set)):
        if fact.status not in settings.usable_statuses or fact.when is None:
            continue
        if fact.when >= since:
            return fact
        return None  # newest first: the rest are older still
    return None


def _range_uln(
    fact: ObservationFact, unit: str, value_set: str, settings: LabRules
) -> tuple[Decimal | None, str]:
    """The laboratory's upper limit in the result's own unit (a range in umol/L against a result
    in mg/dL divides wrongly by 17 otherwise), and what the card says of it; (None, why) when
    its unit cannot be converted; (None, "") when there is no upper limit."""
    high = fact.reference_high
    if high is None or high <= 0:
        return None, ""
    written = fact.reference_high_unit
    high_unit = settings.unit_aliases.get(written or "", written)
    if not high_unit or high_unit == unit:  # no unit of its own: the result's, as always
        return high, "the laboratory's range"
    molar_mass = settings.liver.molar_masses.get(value_set)
    try:
        uln = units.convert_concentration(
            high, high_unit, unit, molar_mass.g_per_mol if molar_mass else None
        )
    except units.UnitError:
        limit = f"{format_number(high)} {written}"
        return None, f"the laboratory's upper limit {limit} cannot be converted to {unit}"
    return uln, f"the laboratory's range, {format_number(high)} {written}"


def _uln(
    fact: ObservationFact, unit: str, value_set: str, settings: LabRules
) -> tuple[Reading | None, str]:
    """The result against the laboratory's ULN, else the default one; and why the laboratory's
    range could not be used ("" when it was, or there was none), so that a result the default
    does not flag is still said unchecked, never a silent pass."""
    if fact.value is None:
        return None, ""
    uln, note = _range_uln(fact, unit, value_set, settings)
    if uln is not None:
        return Reading(fact, fact.value, unit, uln, note), ""
    for default in settings.liver.default_uln.get(value_set, []):
        target = settings.unit_aliases.get(default.unit, default.unit)
        try:
            uln = units.convert(default.value, target, unit)
        except units.UnitError:
            continue
        why = f"as {note}" if note else "no range was sent"
        basis = f"default {format_number(default.value)} {default.unit}, {why}"
        return Reading(fact, fact.value, unit, uln, basis), note
    return None, note


def _before_first_dose(item: CheckInput, knowledge: Knowledge) -> bool:
    """Cycle 1 and no blinatumomab infusion of this course on file before this order's start (a
    cycle unknown, or a medication history that could not be read, is not taken as the first
    dose: the rules for a patient on treatment stand)."""
    if "medications" in item.patient.unavailable:
        return False
    return item.review.judged_cycle[0] == 1 and not any(
        begun is not None and begun < item.review.start and item.review.in_course(begun)
        for order in earlier_blinatumomab_orders(item.patient, knowledge, item.review.order)
        for begun in [order.first_start()]
    )


def _liver(item: CheckInput, knowledge: Knowledge, settings: LabRules) -> list[Emission]:
    liver = settings.liver
    starts_cycle = item.review.judged_cycle[2] == 1
    first_dose = _before_first_dose(item, knowledge)
    findings: list[Emission] = []
    unreadable: list[str] = []
    for rule in liver.hold_rules:
        fact = _current(item, knowledge, settings, rule.value_set, liver.current_within_days)
        if fact is None:
            continue
        unit = settings.unit_aliases.get(fact.unit or "", fact.unit or "")
        reading, range_problem = _uln(fact, unit, rule.value_set, settings) if unit else (None, "")
        if reading is None:
            why = range_problem or "no value or an unknown unit"
            unreadable.append(f"{rule.name} ({fact.resource}: {why})")
            continue
        times = reading.value / reading.uln
        if times <= rule.above_uln_times:
            if range_problem:  # under the default limit, but the laboratory's was not read
                default = f"{format_number(reading.uln)} {unit}"
                times_default = f"{format_number(times, '0.1')} × the default ULN {default}"
                unreadable.append(
                    f"{rule.name} ({fact.resource}: {range_problem}; {times_default})"
                )
            continue
        values: dict[str, Any] = {
            "test": rule.name,
            "value": format_number(reading.value),
            "unit": fact.unit or "",
            "times": format_number(times, "0.1"),
            "limit": format_number(rule.above_uln_times),
            "uln": format_number(reading.uln),
            "uln_basis": reading.uln_basis,
            "date": fact.when.date().isoformat() if fact.when else "undated",
        }
        if first_dose:
            findings.append(
                emit("lab-liver-high-before-start", liver.before_first_dose_source, **values)
            )
            continue
        critical = starts_cycle and liver.critical_when_starting_a_cycle
        findings.append(
            emit(
                "lab-liver-hold",
                rule.source,
                indicator="critical" if critical else "warning",
                **values,
                when="before this cycle starts" if starts_cycle else "now",
            )
        )
    if unreadable:
        findings.append(
            emit("lab-result-unreadable", liver.default_uln_source, results="; ".join(unreadable))
        )
    if item.review.judged_cycle[0] == 1 and starts_cycle:
        findings.extend(_baseline(item, knowledge, settings))
    return findings


def _baseline(item: CheckInput, knowledge: Knowledge, settings: LabRules) -> list[Emission]:
    liver = settings.liver
    missing = []
    for alternatives in liver.baseline_required:
        if not any(
            _current(item, knowledge, settings, v, liver.baseline_window_days) for v in alternatives
        ):
            names = {r.value_set: r.name for r in liver.hold_rules}
            missing.append(" or ".join(names.get(v, v) for v in alternatives))
    if not missing:
        return []
    return [
        emit(
            "lab-liver-baseline-missing",
            liver.baseline_source,
            missing=", ".join(missing),
            days=liver.baseline_window_days,
        )
    ]


def count_unit(written: str, settings: LabRules) -> str:
    """A cell count's unit as UCUM: annotations dropped ("{cells}/uL" is "/uL"), then the
    laboratory spellings of labs.yaml `unit_aliases` ("K/uL", "x10E3/uL", "cells/mm3")."""
    bare = units.without_annotations(written.strip())
    return settings.unit_aliases.get(bare, settings.unit_aliases.get(written, bare))


def _neutrophils(item: CheckInput, knowledge: Knowledge, settings: LabRules) -> list[Emission]:
    rules_ = settings.neutrophils
    if not rules_.before_first_dose and _before_first_dose(item, knowledge):
        return []  # nothing of the drug to interrupt: the count is the disease's
    fact = _current(item, knowledge, settings, rules_.value_set, rules_.current_within_days)
    if fact is None:
        return []
    try:
        if fact.value is None or not fact.unit:
            raise units.UnitError("no value or unit")
        count = units.convert(fact.value, count_unit(fact.unit, settings), rules_.unit)
    except units.UnitError:
        return [
            emit(
                "lab-result-unreadable",
                rules_.action_source,
                results=f"neutrophil count ({fact.resource}: no value or unknown unit)",
            )
        ]
    at_start = rules_.at_cycle_start
    cycle_start = (
        item.review.judged_cycle[2] == 1 and item.review.indication in at_start.indications
    )
    for threshold in rules_.thresholds:
        if count < threshold.below:
            return [
                emit(
                    "lab-neutropenia",
                    at_start.source if cycle_start else threshold.source,
                    indicator=at_start.indicator if cycle_start else threshold.indicator,
                    count=format_number(count),
                    below=format_number(threshold.below),
                    grade=threshold.grade,
                    date=fact.when.date().isoformat() if fact.when else "undated",
                )
            ]
    return []


def check_labs(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    if item.review.follows_draft is not None:
        return []  # a later order of the cycle signed with its first: that one's cards say it
    settings = knowledge.labs
    return _liver(item, knowledge, settings) + _neutrophils(item, knowledge, settings)


CHECK = Check(
    topic=TOPIC,
    verifies="the liver tests and neutrophil count",
    requires=frozenset({"observations"}),
    run=check_labs,
    findings=FINDINGS,
)


def results_read(
    item: CheckInput, knowledge: Knowledge
) -> list[tuple[str, int, ObservationFact | None]]:
    """What this check reads, for the sandbox page: (test, how many days back it looks, the
    result it uses or None)."""
    settings = knowledge.labs
    liver, neutrophils = settings.liver, settings.neutrophils
    read = [
        (
            rule.name,
            liver.current_within_days,
            _current(item, knowledge, settings, rule.value_set, liver.current_within_days),
        )
        for rule in liver.hold_rules
    ]
    within = neutrophils.current_within_days
    found = _current(item, knowledge, settings, neutrophils.value_set, within)
    return [*read, ("absolute neutrophil count", within, found)]
