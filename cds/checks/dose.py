"""Dose check (card topic `dose`): is each step of a blinatumomab order right for this patient,
indication, cycle and day?  Label §2.1-2.4; tolerance and caps from dose.yaml.

Weight ≥ threshold: fixed mcg/day. Below: mcg/m²/day × BSA (Mosteller), never above the cap.
When indication or cycle is unknown, every schedule still possible is a candidate: an order is
an overdose only if it is too high for all of them, and the uncertainty is said on a card.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from cds.checks import Check, CheckInput
from cds.dosing import DoseNotComputable, Measurement, is_stale, latest_measurement, mosteller_bsa, ordered_mcg_per_day
from cds.findings import Finding, ProposedAction
from cds.knowledge import DoseRules, DoseSchedule, Knowledge
from cds.patient import DoseInstruction
from cds.suggestions import order_with_daily_doses

TOPIC = "dose"


@dataclass(frozen=True)
class Body:
    weight: Measurement | None
    bsa_m2: Decimal | None
    bsa_basis: str
    fixed_dose: bool | None  # None: weight unknown, band undecided


@dataclass(frozen=True)
class StepVerdict:
    over: bool
    under: bool
    expected: Decimal | None  # the single right dose over the step's days, when there is one
    limit: Decimal  # the highest acceptable dose over the step's days


def _fmt(value: Decimal | None) -> str:
    if value is None:
        return "?"
    text = f"{value.quantize(Decimal('0.01')):f}".rstrip("0").rstrip(".")
    return text or "0"


def _body(item: CheckInput, knowledge: Knowledge, findings: list[Finding]) -> Body:
    rules = knowledge.dose
    patient, order = item.patient, item.review.order.resource
    weight = latest_measurement(patient, knowledge, "body_weight", "kg")
    if weight is None:
        findings.append(Finding("dose-no-weight", TOPIC, "warning", rules.weight_age_source, {}, order))
    elif is_stale(weight, rules.weight_max_age_days, item.now):
        findings.append(Finding(
            "dose-weight-stale", TOPIC, "warning", rules.weight_age_source,
            {"weight": _fmt(weight.value), "date": weight.when.date().isoformat() if weight.when else "undated",
             "max_age_days": rules.weight_max_age_days},
            order,
        ))
    fixed = None if weight is None else weight.value >= rules.weight_threshold_kg
    bsa, basis = _bsa(item, knowledge, weight)
    return Body(weight, bsa, basis, fixed)


def _bsa(item: CheckInput, knowledge: Knowledge, weight: Measurement | None) -> tuple[Decimal | None, str]:
    rules = knowledge.dose
    sent = latest_measurement(item.patient, knowledge, "body_surface_area", "m2")
    if sent is not None and not is_stale(sent, rules.weight_max_age_days, item.now):
        return sent.value, f"BSA {_fmt(sent.value)} m² recorded in the chart"
    height = latest_measurement(item.patient, knowledge, "body_height", "cm")
    if weight is None:
        return None, "no weight on file"
    if height is None:
        return None, "no height on file"
    if is_stale(height, rules.height_max_age_days, item.now):
        return None, f"the latest height is older than {rules.height_max_age_days} days"
    bsa = mosteller_bsa(height.value, weight.value)
    return bsa, f"BSA {_fmt(bsa)} m² (Mosteller, {_fmt(height.value)} cm, {_fmt(weight.value)} kg)"


def _candidates(item: CheckInput, rules: DoseRules) -> list[DoseSchedule]:
    review = item.review
    schedules = [s for s in rules.schedules if review.indication in (None, s.indication)]
    if review.cycle is not None:
        in_cycle = [s for s in schedules if s.cycles.contains(review.cycle)]
        schedules = in_cycle or schedules
    return schedules


def _day_ranges(dosages: tuple[DoseInstruction, ...], first_day: int) -> list[tuple[int, int]]:
    """Consecutive day ranges of the order's steps (a step of unknown length covers one day)."""
    ranges = []
    day = first_day
    for dosage in dosages:
        days = dosage.bounds_duration_days
        if days is None and dosage.bounds_start and dosage.bounds_end:
            days = Decimal((dosage.bounds_end - dosage.bounds_start).total_seconds()) / Decimal(86400)
        length = max(1, math.ceil(days)) if days is not None and days > 0 else 1
        ranges.append((day, day + length - 1))
        day += length
    return ranges


def _verdict(mcg: Decimal, days: tuple[int, int], schedules: list[DoseSchedule], body: Body,
             rules: DoseRules) -> StepVerdict | None:
    """Judge one step against every candidate schedule over its days (None: no schedule covers them)."""
    above = Decimal(1) + rules.tolerance_above_percent / 100
    below = Decimal(1) - rules.tolerance_below_percent / 100
    q = rules.compare_precision_mcg
    overs, unders, expected_values, limits = [], [], set(), []
    for schedule in schedules:
        steps = [s for d in range(days[0], days[1] + 1) if (s := schedule.step_for_day(d)) is not None]
        if not steps:
            continue
        over = under = False
        for step in steps:
            if body.fixed_dose is True:
                expected: Decimal | None = step.mcg_per_day
            elif body.fixed_dose is False and body.bsa_m2 is not None:
                expected = min(step.mcg_per_m2_per_day * body.bsa_m2, step.cap_mcg_per_day)
            else:
                expected = None
            limit = step.cap_mcg_per_day if expected is None else min(step.cap_mcg_per_day, expected * above)
            limits.append(limit)
            over |= mcg.quantize(q) > limit.quantize(q)
            under |= expected is not None and mcg.quantize(q) < (expected * below).quantize(q)
            expected_values.add(None if expected is None else expected.quantize(q))
        overs.append(over)
        unders.append(under)
    if not overs:
        return None
    single = expected_values.pop() if len(expected_values) == 1 else None
    return StepVerdict(all(overs), all(unders) and not any(overs), single, max(limits))


def check_dose(item: CheckInput, knowledge: Knowledge) -> list[Finding]:
    rules = knowledge.dose
    review = item.review
    order = review.order
    findings: list[Finding] = []
    dosages = order.ordered_dosages()
    if not any(d.amount is not None for d in dosages):
        if item.stage == "select":
            return [Finding("dose-pending", TOPIC, "info", rules.absolute_cap_source, {}, order.resource)]
        return [Finding("dose-not-computable", TOPIC, "warning", rules.absolute_cap_source,
                        {"reason": "the order has no dose quantity"}, order.resource)]
    body = _body(item, knowledge, findings)
    uses_bsa = body.fixed_dose is False or any(
        (d.unit or "").replace(" ", "").lower().endswith(("m2/d", "m2/day")) for d in dosages
    )
    if uses_bsa and body.bsa_m2 is None and body.weight is not None:
        findings.append(Finding("dose-no-bsa", TOPIC, "warning", rules.bsa_source,
                                {"reason": body.bsa_basis}, order.resource))
    schedules = _candidates(item, rules)
    indication = knowledge.indications[review.indication].label if review.indication else "unknown indication"
    corrected: list[Decimal | None] = []
    uncertain = False
    for dosage, days in zip(dosages, _day_ranges(dosages, review.cycle_day), strict=True):
        values = {
            "days": f"days {days[0]}–{days[1]}" if days[1] > days[0] else f"day {days[0]}",
            "indication": indication,
            "cycle": review.cycle if review.cycle is not None else "unknown",
        }
        try:
            mcg = ordered_mcg_per_day(dosage, body.bsa_m2)
        except DoseNotComputable as error:
            findings.append(Finding("dose-not-computable", TOPIC, "warning", rules.absolute_cap_source,
                                    {**values, "reason": str(error)}, order.resource))
            corrected.append(None)
            continue
        verdict = _verdict(mcg, days, schedules, body, rules)
        if verdict is None:
            corrected.append(None)
            continue
        values |= {"ordered": _fmt(mcg), "expected": _fmt(verdict.expected), "limit": _fmt(verdict.limit),
                   "basis": body.bsa_basis if body.fixed_dose is False else "fixed dose (weight ≥ "
                   f"{_fmt(rules.weight_threshold_kg)} kg)"}
        source = schedules[0].source if len({s.source for s in schedules}) == 1 else rules.absolute_cap_source
        if verdict.over:
            findings.append(Finding("dose-overdose", TOPIC, "critical", source, values, order.resource))
        elif verdict.under:
            findings.append(Finding("dose-underdose", TOPIC, "warning", source, values, order.resource))
        elif verdict.expected is None and (body.fixed_dose is True or body.bsa_m2 is not None):
            uncertain = True
        corrected.append(verdict.expected if (verdict.over or verdict.under) else None)
    if uncertain:
        findings.append(Finding(
            "dose-schedule-unknown", TOPIC, "warning", rules.absolute_cap_source,
            {"indication": indication, "indication_basis": review.indication_basis,
             "cycle": review.cycle if review.cycle is not None else "unknown", "cycle_basis": review.cycle_basis,
             "cap": _fmt(rules.absolute_cap_mcg_per_day)},
            order.resource,
        ))
    return _with_fix(findings, order.raw, corrected)


def _with_fix(findings: list[Finding], raw: object, corrected: list[Decimal | None]) -> list[Finding]:
    """Attach the corrected order (an `update`) to the first over/underdose finding."""
    if not any(value is not None for value in corrected) or not isinstance(raw, dict):
        return findings
    resource = order_with_daily_doses(raw, corrected)
    for index, finding in enumerate(findings):
        if finding.code in ("dose-overdose", "dose-underdose"):
            action = ProposedAction("update", "Correct the blinatumomab dose to the label schedule", resource)
            findings[index] = Finding(finding.code, finding.topic, finding.indicator, finding.source,
                                      finding.values, finding.order, (action,))
            break
    return findings


CHECK = Check(
    topic=TOPIC,
    verifies="the blinatumomab dose",
    requires=frozenset({"observations"}),
    source="label-2.1",
    run=check_dose,
)
