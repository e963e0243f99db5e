"""Dose check (card topic `dose`): is each step of a blinatumomab order right for this patient,
indication, cycle and day?  Label §2.1-2.4; tolerance and caps from dose.yaml.

Weight ≥ threshold: fixed mcg/day. Below: mcg/m²/day × BSA (Mosteller, or the BSA the EHR sent),
never above the cap. A per-m² order whose BSA is unknown is judged per m² (the caps then cannot be).
When indication or cycle is unknown, every schedule still possible is a candidate: a day of the
order is an overdose only if it is too high for all of them, and the uncertainty is said on a card.
Every day of every step is judged; the card names the first wrong stretch and the suggestion
corrects the whole order (splitting a step where the label's dose changes inside it).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from cds import units
from cds.bsa_bounds import BsaBounds, bsa_bounds, judge_per_m2_dose
from cds.checks import Check, CheckInput
from cds.dosing import (
    BsaNeeded,
    DoseNotComputable,
    Measurement,
    NoBagStrength,
    body_surface_area,
    format_weight,
    is_stale,
    newest_measurement,
    ordered_mcg_per_day,
    ordered_mcg_per_m2_per_day,
    unusable_text,
    written_as_rounded,
)
from cds.fhir.facts import as_datetime, period_end, signed_hand_over, signed_take_over
from cds.fhir.parsing import normalise
from cds.findings import Declarations, Emission, ProposedAction, declare, emit
from cds.interruptions import Period, merged
from cds.knowledge import DoseRules, DoseSchedule, DoseStep, Knowledge
from cds.knowledge.models import ReducedRestart, StalenessLimit
from cds.orders import (
    DayDoubt,
    OrderUnderReview,
    counted_administrations,
    dosage_spans,
    earlier_blinatumomab_orders,
    given_until,
    in_local_zone,
    infusion_end,
    infusion_periods,
    is_blinatumomab,
    local_zone,
    ran_until,
)
from cds.patient import DoseInstruction, MedicationOrder
from cds.restarts import Restart, restart_of, restart_schedule
from cds.toxicity import ToxicityVerdict, assess, day_only, too_soon_to_restart
from cds.units import UCUM_SYSTEM, format_number

TOPIC = "dose"
# Not a clinical rule: a bound on the work one order can cause. Each day of a dosage is judged,
# and a mistyped year (boundsPeriod from 0001) made one order ~750,000 days and one call minutes
# long. No blinatumomab dosage runs anywhere near a year; a longer one is said not computable.
LONGEST_JUDGED_DOSAGE_DAYS = 366
_WRONG_DOSE = (
    "ordered",
    "given",
    "unit",
    "days",
    "expected",
    "label_dose",
    "limit",
    "right",
    "basis",
    "indication",
    "cycle",
    "established",
    "more",
    "fix",
    "schedule",
)
FINDINGS: Declarations = {
    "dose-pending": declare("info"),
    "dose-not-computable": declare("warning", "reason"),
    "dose-restart-after-permanent-discontinuation": declare("critical", "reason", "how"),
    "dose-toxicity-discontinue": declare("critical", "reason", "reasons"),
    "dose-toxicity-grade-unknown": declare("warning", "toxicity", "where"),
    "dose-toxicity-restart-too-soon": declare("warning", "reasons"),
    "dose-toxicity-date-unknown": declare("warning", "toxicity"),
    "dose-toxicity-resolution-unknown": declare("warning", "reasons"),
    "dose-toxicity-seizure-count-unknown": declare("warning", "reasons"),
    "dose-toxicity-history-unavailable": declare("warning", "reason"),
    "dose-no-weight": declare("warning", "threshold", "found"),
    "dose-weight-stale": declare("warning", "weight", "date", "max_age_days"),
    "dose-no-bsa": declare("warning", "reason", "threshold", "checked"),
    "dose-overdose": declare("critical", *_WRONG_DOSE),
    "dose-underdose": declare("warning", *_WRONG_DOSE),
    "dose-dates-reversed": declare("warning", "periods", "days"),
    "dose-day-unverified": declare(
        "warning", "ordered", "unit", "days", "cycle", "order", "signed", "earliest", "limit"
    ),
    "dose-day-unverified-stop": declare(
        "warning", "ordered", "unit", "days", "cycle", "order", "began", "earliest", "limit"
    ),
    "dose-schedule-unknown": declare(
        "warning", "indication", "indication_basis", "cycle", "cycle_basis", "cap"
    ),
    "dose-orders-overlap": declare("critical", "others", "overlap"),
    "dose-active-order-overlaps": declare("warning", "others", "overlap"),
}
UNIT_TEXT = {"ug/d": "mcg/day", "ug/m2/d": "mcg/m²/day"}


@dataclass(frozen=True)
class Body:
    weight: Measurement | None
    weight_stale: bool
    bsa_m2: Decimal | None
    bsa_basis: str  # where the BSA came from, or why there is none
    fixed_dose: bool | None  # None: weight unknown, band undecided
    bounds: BsaBounds | None = None  # under 45 kg without a BSA: what the weight and age allow


@dataclass(frozen=True)
class DayVerdict:
    over: bool
    under: bool
    expected: Decimal | None  # the right dose that day, when every candidate schedule agrees
    limit: Decimal  # the highest acceptable dose that day
    uncertain: bool  # the candidate schedules disagree about the right dose
    sources: frozenset[str]


@dataclass(frozen=True)
class StepResult:
    """One dosage instruction, judged day by day (`unit` is ug/d or ug/m2/d)."""

    first_day: int
    ordered: Decimal
    unit: str
    days: tuple[DayVerdict, ...]
    parts: int = 1  # the dosages given at the same time whose sum `ordered` is

    def flagged(self, day: DayVerdict) -> bool:
        return day.over or day.under


@dataclass(frozen=True)
class Stretch:
    """Consecutive days of one step with the same verdict."""

    step: StepResult
    first_day: int
    last_day: int
    verdict: DayVerdict


def _days_text(first: int, last: int) -> str:
    return f"days {first}–{last}" if last > first else f"day {first}"


# --- the patient's body ------------------------------------------------------------------------


def body_of(item: CheckInput, knowledge: Knowledge, findings: list[Emission]) -> Body:
    rules = knowledge.dose
    patient = item.patient
    reading = newest_measurement(patient, knowledge, "body_weight", "kg", item.now)
    weight = reading.measurement
    limit = _staleness_limit(item, knowledge)
    stale = (
        weight is not None
        and _newer_weight_could_matter(weight.value, knowledge)
        and is_stale(weight, limit.weight_max_age_days, item.now)
    )
    if weight is None:
        found = "No body weight was found"
        if reading.unusable is not None:
            text = unusable_text(reading.unusable, "body weight")
            found = text[:1].upper() + text[1:]
        findings.append(
            emit(
                "dose-no-weight",
                rules.weight_age_source,
                threshold=format_number(rules.weight_threshold_kg),
                found=found,
            )
        )
    elif stale:
        findings.append(
            emit(
                "dose-weight-stale",
                limit.source,
                weight=format_weight(weight.value, rules.weight_threshold_kg),
                date=weight.when.date().isoformat() if weight.when else "undated",
                max_age_days=limit.weight_max_age_days,
            )
        )
    fixed = None if weight is None else weight.value >= rules.weight_threshold_kg
    bsa, basis = body_surface_area(item.patient, knowledge, weight, item.now)
    bounds = None
    if fixed is False and bsa is None and weight is not None:
        age = patient.age_years(item.review.start.date())
        bounds = bsa_bounds(weight.value, age, knowledge.growth_bounds)
    return Body(weight, stale, bsa, basis, fixed, bounds)


def _staleness_limit(item: CheckInput, knowledge: Knowledge) -> StalenessLimit:
    """How old a weight may be for this patient's age (staleness.yaml; age unknown: the
    shortest limit, as for an infant)."""
    limits = knowledge.staleness.limits
    age_days = item.patient.age_days(item.review.start.date())
    if age_days is None:
        return min(limits, key=lambda limit: limit.weight_max_age_days)
    return next(
        limit for limit in limits if limit.max_age_days is None or age_days <= limit.max_age_days
    )


def _newer_weight_could_matter(kg: Decimal, knowledge: Knowledge) -> bool:
    """A newer weight could change the dose only for BSA-dosed patients (under 45 kg) and near
    the 45 kg threshold; above it the fixed dose holds whatever the weight."""
    rules = knowledge.staleness
    return kg < rules.threshold_kg * (1 + rules.near_threshold_percent / 100)


# --- candidate schedules and the verdict of each day --------------------------------------------


def _candidates(item: CheckInput, rules: DoseRules) -> list[DoseSchedule]:
    """The schedules the order may follow. A cycle coded lower than the history makes it
    (`OrderUnderReview.by_history`): the history's cycle's, and the coded cycle's, on the
    history's day (re-treatment after a relapse starts again at cycle 1): too high only when too
    high for both, so a cycle-1 step-up is no underdose and 28 mcg/day on day 1 no overdose.
    A cycle coded higher than the cycle on file it resumes within 7 days
    (`OrderUnderReview.continues_lower_cycle`): that cycle's alone (label §2.4: the same cycle
    continues; cycles.yaml continued_cycle_over_coded)."""
    review = item.review
    possible = review.possible_indications
    schedules = [
        s
        for s in rules.schedules
        if review.indication == s.indication
        or (review.indication is None and (possible is None or s.indication in possible))
    ]
    coded = None if review.continues_lower_cycle else review.cycle
    cycles = {c for c in (coded, review.judged_cycle[0]) if c is not None}
    if not cycles:
        return schedules
    fits = [
        [s for s in schedules if s.cycles.contains(c)] or _last_phases(schedules) for c in cycles
    ]
    return [s for s in schedules if any(s in fit for fit in fits)]


def _last_phases(schedules: Sequence[DoseSchedule]) -> list[DoseSchedule]:
    """For a cycle beyond every schedule (R/R cycle 10; the cycle-limits card says the label
    stops at 9): each indication's last schedule, its continued therapy, not cycle 1's step-up
    ("partly checked ... code the cycle" on a coded cycle was noise)."""
    last: dict[str, DoseSchedule] = {}
    for schedule in schedules:
        found = last.get(schedule.indication)
        if found is None or schedule.cycles.first > found.cycles.first:
            last[schedule.indication] = schedule
    return list(last.values())


def _expected(
    step: DoseStep, body: Body, per_m2: bool, above: Decimal
) -> tuple[Decimal | None, Decimal]:
    """(right dose, highest acceptable dose) of one schedule step for this body."""
    if per_m2:  # a per-m² order without BSA: judged per m², the mcg/day cap cannot be
        return step.mcg_per_m2_per_day, step.mcg_per_m2_per_day * above
    if body.fixed_dose is False and body.bsa_m2 is None and body.bounds is not None:
        # no height: the most the largest plausible BSA allows (issue 15 item 1)
        highest = min(step.mcg_per_m2_per_day * body.bounds.max_m2, step.cap_mcg_per_day)
        return None, min(step.cap_mcg_per_day, highest * above)
    if body.fixed_dose is True:
        expected: Decimal | None = step.mcg_per_day
    elif body.fixed_dose is False and body.bsa_m2 is not None:
        expected = min(step.mcg_per_m2_per_day * body.bsa_m2, step.cap_mcg_per_day)
    else:
        expected = None
    limit = (
        step.cap_mcg_per_day if expected is None else min(step.cap_mcg_per_day, expected * above)
    )
    return expected, limit


def _as_written(
    value: Decimal, written: Decimal | None, doses: Sequence[Decimal | None], rules: DoseRules
) -> Decimal:
    """The ordered daily dose `value`, or the label dose among `doses` that the order's number
    `written` rounds (1.17 mcg/h is 28 mcg/day, not 28.08: dose.yaml rate_rounding_*)."""
    q = rules.compare_precision_mcg
    # a dose too large to round (1e28 mcg: more digits than the context holds) is compared as is
    ordered = value.quantize(q) if value.adjusted() < 20 else value
    if written is None:
        return ordered
    bound = rules.rate_rounding_max_percent
    return next(
        (
            dose.quantize(q)
            for dose in doses
            if dose is not None and written_as_rounded(written, value, dose, bound)
        ),
        ordered,
    )


def _judge(
    value: Decimal,
    day: int,
    schedules: Sequence[DoseSchedule],
    body: Body,
    rules: DoseRules,
    per_m2: bool,
    written: Decimal | None = None,
) -> DayVerdict:
    """The verdict of one day; `written` is the number as the order writes it (1.17 of 1.17
    mcg/h), whose rounding of a label dose counts as that dose."""
    q = rules.compare_precision_mcg
    above = Decimal(1) + rules.tolerance_above_percent / 100
    below = Decimal(1) - rules.tolerance_below_percent / 100
    rows = []
    for schedule in schedules:
        step = schedule.step_for_day(day)
        if step is None:
            continue
        expected, limit = _expected(step, body, per_m2, above)
        label_dose = step.mcg_per_m2_per_day if per_m2 else step.cap_mcg_per_day
        ordered = _as_written(value, written, (expected, label_dose), rules)
        over = ordered > limit.quantize(q)
        under = expected is not None and ordered < (expected * below).quantize(q)
        if expected is None and not per_m2 and body.bounds is not None and body.bsa_m2 is None:
            plausibility = judge_per_m2_dose(
                ordered,
                step.mcg_per_m2_per_day,
                step.cap_mcg_per_day,
                body.bounds,
                rules.tolerance_above_percent,
                rules.tolerance_below_percent,
            )
            under = plausibility == "below-any-plausible"
        rows.append(
            (
                None if expected is None else expected.quantize(q),
                limit,
                over,
                under,
                schedule.source,
            )
        )
    if not rows:  # no schedule doses on this day (treatment-free): only the absolute cap holds
        cap = rules.absolute_cap_mcg_per_m2_per_day if per_m2 else rules.absolute_cap_mcg_per_day
        return DayVerdict(
            _as_written(value, written, (cap,), rules) > cap.quantize(q),
            False,
            None,
            cap,
            False,
            frozenset({rules.absolute_cap_source}),
        )
    expected_values = {row[0] for row in rows}
    over = all(row[2] for row in rows)
    return DayVerdict(
        over=over,
        under=not any(row[2] for row in rows) and all(row[3] for row in rows),
        expected=next(iter(expected_values)) if len(expected_values) == 1 else None,
        limit=max(row[1] for row in rows),
        uncertain=len(expected_values) > 1,
        sources=frozenset(row[4] for row in rows),
    )


def _step_length(dosage: DoseInstruction) -> int | None:
    days = dosage.bounds_duration_days
    if days is None and dosage.bounds_start and dosage.bounds_end:
        days = Decimal((dosage.bounds_end - dosage.bounds_start).total_seconds()) / Decimal(86400)
    return max(1, math.ceil(days)) if days is not None and days > 0 else None


def _day_ranges(
    dosages: Sequence[DoseInstruction], start: datetime, first_day: int
) -> list[tuple[int, int]]:
    """The cycle days of each step: a step with its own boundsPeriod.start begins on that calendar
    day, any other step follows the one before; a step of unknown length runs until the next
    dated step, else covers one day. Steps of one sequence are given together (`_concurrent`):
    one without a start of its own begins with its sequence's earliest (9 for 7 days and 28 for 28
    days both sequence 1 are 37 a day on days 1-7, not 9 then 28)."""

    def own_start(dosage: DoseInstruction) -> int | None:
        if dosage.bounds_start is None:
            return None
        # read in the start's time zone: 02:00Z on the 10th is the 9th at -05:00
        own = dosage.bounds_start.astimezone(start.tzinfo).date()
        return max(1, first_day + (own - start.date()).days)

    shared = {s for s, n in Counter(d.sequence for d in dosages).items() if s is not None and n > 1}
    begins: dict[int | None, int] = {}  # a shared sequence -> the first day of its steps
    for dosage in dosages:
        day = own_start(dosage)
        if dosage.sequence in shared and day is not None:
            begins[dosage.sequence] = min(day, begins.get(dosage.sequence, day))
    ranges = []
    next_day = first_day
    for index, dosage in enumerate(dosages):
        day = own_start(dosage) or begins.get(dosage.sequence) or next_day
        if dosage.sequence in shared:
            begins.setdefault(dosage.sequence, day)
        length = _step_length(dosage)
        if length is None:
            following = own_start(dosages[index + 1]) if index + 1 < len(dosages) else None
            length = following - day if following is not None and following > day else 1
        ranges.append((day, day + length - 1))
        next_day = day + length
    return ranges


def _concurrent(
    dosages: Sequence[DoseInstruction],
    order_start: datetime,
    tolerance: timedelta,
    dosed_only: bool = True,
    bag_change: timedelta | None = None,
    own: int | None = None,
) -> list[list[int]]:
    """The dosages given at the same time (indexes, by group): the patient gets their sum, which
    is what is judged, never each one's dose (two of 20 mcg/day over the same days are 40, not
    "dose low: 20" twice, nor a fix raising both to 28). FHIR R4 gives the dosages of one sequence
    concurrently; a dosage of it without a start begins with its group's earliest start. The
    first dosage without a start begins with the order (its start, else authoredOn: design
    contract); any other without one follows the one before (`_day_ranges`), and one without an
    end gives way to a later start. Two run together, whatever their sequence, when their own
    dates overlap by `tolerance` or more (`interruption_whole_day_from_hours`, half a day: a part
    of a day that long counts as a day): a step's bag running on past the next step's start (a
    bag change, minutes to an hour) is a hand-over, not two doses. A day given alone is read in
    the order's offset, and a step-up's shared day (Epic's "end = the next start") is a hand-over
    too (`cds.fhir.facts`). Where both sides of the overlap are times (the later start and the
    earlier end, neither a day given alone nor a midnight), the hours are the ones the order
    states: beyond `bag_change` (bag_change_tolerance_hours) they are two bags running, as between
    two orders (task D item 3: 9 mcg/day until 20:00 beside 28 from 09:00 is 11 h of 37 mcg/day,
    not a hand-over). `own`: how many of `dosages` are this order's (the rest: the next order's
    first step, `_next_signed`); a pair across orders keeps `tolerance` (the orders-overlap card
    speaks of two orders). `dosed_only`: only dosages with a dose (else every dosage: the dates
    a corrected order would keep). A midnight end is a day only beside a later start given as a
    day (alone or at 00:00): beside a start at a time of day (13:00 on day 7 and a 9 mcg/day end
    at 00:00 of day 8) the hours are both sides' (red team rt12-d F2: 11 h of 37 mcg/day)."""
    spans, day_starts = _spans(dosages, order_start)

    def overlap(i: int, j: int) -> bool:
        (start, end), (other_start, other_end) = spans[i], spans[j]
        assert start is not None and other_start is not None
        begin = max(start, other_start)
        ends = [e for e in (end, other_end) if e is not None]
        if not ends:
            return True
        later = i if start >= other_start else j
        timed = not day_starts[later] and not _at_midnight(begin)
        across = own is not None and (i >= own) != (j >= own)
        allowed = bag_change if bag_change is not None and timed and not across else tolerance
        if allowed < tolerance:  # hours both sides state: beyond a bag change, two bags
            return min(ends) - begin > allowed
        return min(ends) - begin >= tolerance

    def together(i: int, j: int) -> bool:
        (start, end), (other_start, other_end) = spans[i], spans[j]
        sequence = dosages[i].sequence
        if sequence is not None and sequence == dosages[j].sequence:
            return start is None or other_start is None or overlap(i, j)
        if start is None or other_start is None:
            return False
        if start > other_start:
            start, end, other_start = other_start, other_end, start
        return (start == other_start or end is not None) and overlap(i, j)

    dosed = [i for i, d in enumerate(dosages) if d.amount is not None or not dosed_only]
    groups: list[list[int]] = []
    for index in dosed:
        joined = [g for g in groups if any(together(index, other) for other in g)]
        merged = sorted({index, *(i for g in joined for i in g)})
        groups = [g for g in groups if g not in joined] + [merged]
    return [g for g in groups if len(g) > 1]


def _spans(
    dosages: Sequence[DoseInstruction], order_start: datetime
) -> tuple[list[tuple[datetime | None, datetime | None]], list[bool]]:
    """When each dosage runs as `_concurrent` reads it (start, end; None: unknown), and whether
    its start is a day given alone (not a time)."""
    begins: dict[int, datetime] = {}
    for dosage in dosages:
        if dosage.sequence is not None and dosage.bounds_start is not None:
            known = begins.get(dosage.sequence)
            begins[dosage.sequence] = min(known or dosage.bounds_start, dosage.bounds_start)
    shared = Counter(d.sequence for d in dosages if d.sequence is not None)
    spans: list[tuple[datetime | None, datetime | None]] = []
    day_starts: list[bool] = []  # a start given as a day alone: not a time
    for index, dosage in enumerate(dosages):
        start = dosage.bounds_start
        if start is None and dosage.sequence is not None and shared[dosage.sequence] > 1:
            start = begins.get(dosage.sequence)
        if start is None and index == 0:
            start = order_start
        end = (
            dosage.bounds_end if start and dosage.bounds_end and dosage.bounds_end > start else None
        )
        if end is None and start and dosage.bounds_duration_days:
            end = start + timedelta(days=float(dosage.bounds_duration_days))
        spans.append((start, end))
        day_starts.append(
            start is not None and (start is dosage.bounds_start and dosage.bounds_start_is_date)
        )
    return spans, day_starts


def _at_midnight(when: datetime) -> bool:
    """A bound at 00:00 of its own offset: a day given alone is read as its midnight (and its end
    as the next), so a midnight is read as a day, never as hours a bag runs."""
    return when.time() == time()


def _handed_over(
    dosages: Sequence[DoseInstruction],
    ranges: Sequence[tuple[int, int]],
    groups: Sequence[Sequence[int]],
    start: datetime,
    first_day: int,
    bag_change: timedelta,
) -> list[tuple[int, int]]:
    """The cycle days of each step, a step not given with a later one (`_concurrent`) handing
    over to it on the day it ends: a bag running into the step-up's day (its end an hour past
    the next start) gives that day to the next step, and a next bag hung an hour before the
    step's end (23:00 the evening before) begins on the day of the hand-over, not a day of
    both."""
    together = {i: set(g) for g in groups for i in g}
    days = list(ranges)

    def day_of(when: datetime) -> int:
        return first_day + (when.astimezone(start.tzinfo).date() - start.date()).days

    for later, dosage in enumerate(dosages):
        begin = dosage.bounds_start
        for earlier in range(later):
            before = dosages[earlier]
            if (
                later in together.get(earlier, ())
                or begin is None
                or before.bounds_start is None
                or before.bounds_end is None
                or not before.bounds_start < begin < before.bounds_end
            ):
                continue
            first, last = days[later]
            days[later] = (min(max(first, day_of(before.bounds_end)), last), last)
        for earlier in range(later):
            before = dosages[earlier]
            if later in together.get(earlier, ()) or begin is None or before.bounds_end != begin:
                continue
            # handed over within a bag change of midnight (hung at 23:00 for the day-8 step):
            # the next day's step
            local = begin.astimezone(start.tzinfo)
            midnight = datetime.combine(local.date() + timedelta(days=1), time(), local.tzinfo)
            first, last = days[later]
            if midnight - local <= bag_change and first == day_of(begin) and first < last:
                days[later] = (first + 1, last)
    for index, (first, last) in enumerate(days):
        for other in range(index + 1, len(days)):
            begins = days[other][0]
            if other not in together.get(index, ()) and first < begins <= last:
                last = begins - 1
        days[index] = (first, last)
    # dosages given together share a day, whatever days their lengths give: those their hours
    # meet on (red team rt12-d F1: 9 mcg/day for exactly 7 days to 03-09 10:00 beside 28 from
    # 04:00 is 37 mcg/day on day 8, though 7 days of 9 are days 1-7)
    spans, _ = _spans(dosages, start)
    for group in groups:
        for i, j in itertools.combinations(group, 2):
            (begin, end), (other_begin, other_end) = spans[i], spans[j]
            ends = [e for e in (end, other_end) if e is not None]
            shared = max(days[i][0], days[j][0]) <= min(days[i][1], days[j][1])
            if shared or begin is None or other_begin is None or not ends:
                continue
            both_from, both_until = max(begin, other_begin), min(ends)
            if both_until <= both_from:
                continue
            meet = (day_of(both_from), day_of(both_until - timedelta(microseconds=1)))
            for k in (i, j):
                days[k] = (min(days[k][0], meet[0]), max(days[k][1], meet[1]))
    return days


def _summed(
    group: Sequence[int],
    readings: Mapping[int, tuple[Decimal, str, bool]],
    ranges: Sequence[tuple[int, int]],
) -> list[tuple[int, int, Decimal, int]]:
    """(first day, last day, dose a day, how many dosages) of concurrent dosages: on each day,
    the sum of those that run on it, in stretches of the same sum."""
    days = sorted({d for i in group for d in range(ranges[i][0], ranges[i][1] + 1)})
    stretches: list[tuple[int, int, Decimal, int]] = []
    for day in days:
        running = [i for i in group if ranges[i][0] <= day <= ranges[i][1]]
        total = sum((readings[i][0] for i in running), Decimal(0))
        if stretches and stretches[-1][1] == day - 1 and stretches[-1][2:] == (total, len(running)):
            stretches[-1] = (stretches[-1][0], day, total, len(running))
        else:
            stretches.append((day, day, total, len(running)))
    return stretches


def _reversed_dates(
    order: MedicationOrder, dosages: Sequence[DoseInstruction], ranges: Sequence[tuple[int, int]]
) -> tuple[str, str] | None:
    """(periods, days judged) of the dosages whose boundsPeriod ends before (or as) it starts:
    how many days they run, and so which days of the schedule they cover, is unknown. Each was
    judged only on the days `_day_ranges` gave it (from its start: one day, or up to the next
    dated step), so the overdose check still ran on its daily amount; the card says which days."""
    found = [(d, days) for d, days in zip(dosages, ranges, strict=True) if _is_reversed(d)]
    if not found:
        return None
    periods = [_written_period(order.raw, dosage) for dosage, _ in found]
    return (
        "\n".join(f"- start {start}, end {end}" for start, end in periods),
        ", ".join(_days_text(first, last) for _, (first, last) in found),
    )


def _is_reversed(dosage: DoseInstruction) -> bool:
    start, end = dosage.bounds_start, dosage.bounds_end
    return start is not None and end is not None and end <= start


def _judge_any_day(
    value: Decimal,
    schedules: Sequence[DoseSchedule],
    body: Body,
    rules: DoseRules,
    per_m2: bool,
    written: Decimal | None,
) -> DayVerdict:
    """A dosage whose days are unknown (it follows one whose dates are reversed): too high only
    when too high on every day of every candidate schedule (above the 28 mcg/day cap), never
    too low: any day it is placed on would be a guess, and a false alarm."""
    last = max((step.last_day for s in schedules for step in s.steps), default=1)
    verdicts = [
        _judge(value, day, schedules, body, rules, per_m2, written) for day in range(1, last + 1)
    ]
    return DayVerdict(
        over=all(v.over for v in verdicts),
        under=False,
        expected=None,
        limit=max(v.limit for v in verdicts),
        uncertain=False,
        sources=frozenset(source for v in verdicts for source in v.sources),
    )


def _written_period(raw: Mapping[str, Any], dosage: DoseInstruction) -> tuple[str, str]:
    """A dosage's boundsPeriod as the order writes it: a day alone ("2026-03-01") reads as the
    next midnight, which a card must not show as the end."""
    start, end = dosage.bounds_start, dosage.bounds_end
    for entry in raw.get("dosageInstruction") or [] if isinstance(raw, Mapping) else []:
        timing = entry.get("timing") if isinstance(entry, Mapping) else None
        repeat = timing.get("repeat") if isinstance(timing, Mapping) else None
        bounds = repeat.get("boundsPeriod") if isinstance(repeat, Mapping) else None
        if isinstance(bounds, Mapping) and (
            as_datetime(bounds.get("start")),
            period_end(bounds.get("end")),
        ) == (start, end):
            return str(bounds["start"]), str(bounds["end"])
    return (
        start.isoformat() if start else "?",
        end.isoformat() if end else "?",
    )


def _judge_once(
    verdicts: dict[tuple[int, ...], DayVerdict],
    day: int,
    *,
    value: Decimal,
    schedules: Sequence[DoseSchedule],
    body: Body,
    rules: DoseRules,
    per_m2: bool,
    written: Decimal | None,
) -> DayVerdict:
    """`_judge` of one day, kept in `verdicts`: a day's verdict depends on the day only through
    each schedule's step that day (a 28-day step is judged once, not 28 times)."""
    steps_that_day = tuple(id(schedule.step_for_day(day)) for schedule in schedules)
    if steps_that_day not in verdicts:
        verdicts[steps_that_day] = _judge(value, day, schedules, body, rules, per_m2, written)
    return verdicts[steps_that_day]


def _doubtful_day(
    verdict: DayVerdict, day: int, doubt_days: int, verdict_of: Callable[[int], DayVerdict]
) -> tuple[DayVerdict, DayVerdict | None]:
    """A counted cycle `day` that may really be up to `doubt_days` earlier (`DayDoubt`): its
    verdict, low only when low on every day it may be (a 9 mcg/day order counted as day 8 may be
    day 5, where 9 is right), and the verdict of an earlier day on which it is too high, where
    the counted day is not (28 mcg/day counted as day 8 may be day 5)."""
    possible = [verdict_of(d) for d in range(max(1, day - doubt_days), day)]
    if verdict.under and not all(v.under for v in possible):
        verdict = dataclasses.replace(verdict, under=False)
    over_on = next((v for v in possible if v.over), None)
    return verdict, over_on if not verdict.over else None


def _day_unverified(
    review: OrderUnderReview,
    knowledge: Knowledge,
    doubt: DayDoubt,
    value: Decimal,
    unit: str,
    day: int,
    over_on: DayVerdict,
) -> Emission:
    cycle = review.judged_cycle[0]
    values: dict[str, Any] = {
        "ordered": format_number(value),
        "unit": UNIT_TEXT[unit],
        "days": _days_text(day, day),
        "cycle": cycle if cycle is not None else "unknown",
        "order": doubt.order,
        "earliest": doubt.earliest,
        "limit": format_number(over_on.limit),
    }
    if doubt.why == "stop-unknown":
        return emit(
            "dose-day-unverified-stop",
            knowledge.interruptions.infusion_days_source,
            began=doubt.signed.date().isoformat(),
            **values,
        )
    return emit(
        "dose-day-unverified",
        knowledge.cycles.signed_start_source,
        signed=doubt.signed.date().isoformat(),
        **values,
    )


def _disagreement(
    dosage: DoseInstruction, value: Decimal, body: Body, knowledge: Knowledge
) -> str | None:
    """Why a dosage cannot be judged when it gives two daily amounts that differ by more than the
    rounding tolerance (28 ug/d beside a rate of 2.5 ug/h, 60 a day; 9 ug/d beside 10 mL/h of a
    28 mcg in 240 mL bag, 28 a day): which one the pump runs is anyone's guess, and judging the
    first alone passed the second in silence."""
    tolerance = knowledge.dose.tolerance_above_percent / 100
    for amount, unit, is_rate in dosage.other_amounts:
        other = dataclasses.replace(dosage, amount=amount, unit=unit, is_rate=is_rate)
        try:
            per_day = ordered_mcg_per_day(other, body.bsa_m2, knowledge)
        except NoBagStrength:
            continue  # a volume rate (mL/h) with no bag concentration says nothing of the dose
        except DoseNotComputable as error:
            if not units.is_volume_rate(unit):
                continue
            # a strength stated but unusable (10x a bag's most: "the vial's"?) is never silence:
            # the pump may run 10 times the dose (red team 8b)
            return f"the pump rate ({format_number(amount)} {unit}) cannot be verified: {error}"
        if abs(per_day - value) > tolerance * min(per_day, value):
            return (
                f"the dosage gives two daily doses that disagree: {format_number(value)} and "
                f"{format_number(per_day)} mcg/day (doseQuantity and rateQuantity?)"
            )
    return None


def _stretches(step: StepResult) -> list[Stretch]:
    found: list[Stretch] = []
    for offset, verdict in enumerate(step.days):
        day = step.first_day + offset
        previous = found[-1] if found else None
        if previous is not None and previous.verdict == verdict and previous.last_day == day - 1:
            found[-1] = Stretch(step, previous.first_day, day, verdict)
        else:
            found.append(Stretch(step, day, day, verdict))
    return found


def _reported(flagged: Sequence[Stretch]) -> tuple[Stretch, int]:
    """The first wrong stretch, joined with the wrong days right after it in the same step that
    share its limit (e.g. a dose over the 28 cap on days 1-28 whatever the cycle); and how many
    other wrong stretches remain."""
    first, merged = flagged[0], 1
    for other in flagged[1:]:
        same = (other.verdict.over, other.verdict.under, other.verdict.limit) == (
            first.verdict.over,
            first.verdict.under,
            first.verdict.limit,
        )
        if other.step is not first.step or other.first_day != first.last_day + 1 or not same:
            break
        expected = (
            first.verdict.expected if first.verdict.expected == other.verdict.expected else None
        )
        verdict = DayVerdict(
            first.verdict.over,
            first.verdict.under,
            expected,
            first.verdict.limit,
            first.verdict.uncertain or other.verdict.uncertain,
            first.verdict.sources | other.verdict.sources,
        )
        first, merged = Stretch(first.step, first.first_day, other.last_day, verdict), merged + 1
    return first, len(flagged) - merged


# --- the check ----------------------------------------------------------------------------------


def check_dose(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    return (
        _dose_of_the_order(item, knowledge)
        + _running_together(item, knowledge)
        + _running_beside_active_orders(item, knowledge)
    )


def _running_together(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    """Other blinatumomab orders signed with this one whose infusions run on the same days: one
    continuous infusion at a time, two give the sum of their doses (above the cap when each is at
    the label dose), and each order judged alone looked right. One card for a group of such
    orders, by its first order in the draft orders (the others stay silent, so 200 copies of an
    order give one card, not 19,900); an overlap within the bag-change tolerance is none, and an
    end date that is the next order's start date a hand-over (`_next_signed`: Epic's dates). Hours
    both orders state beyond a bag change are two bags running (red team 10a: 11 h of 28 beside 9
    had no card under a half-day rule)."""
    tolerance = timedelta(hours=float(knowledge.interruptions.bag_change_tolerance_hours))
    default_days = knowledge.cycles.default_infusion_days

    def period(order: MedicationOrder, start: datetime | None = None) -> tuple[datetime, datetime]:
        taken = _taken_over(item, knowledge, order)  # hung when the order before it ends
        start = (taken.first_start() if taken is not order else None) or start
        start = start or order.first_start() or item.now
        handed, _ = _next_signed(item, knowledge, order, start)
        return start, infusion_end(handed, start, default_days)

    def overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
        return min(a[1], b[1]) - max(a[0], b[0]) > tolerance

    drafts = _blinatumomab_drafts(item, knowledge)
    mine = _zoned_order(item, knowledge)
    position = next((i for i, o in enumerate(drafts) if o.resource == mine.resource), None)
    if position is None:
        return []
    own = period(mine, item.review.start)
    if any(overlap(own, period(o)) for o in drafts[:position]):
        return []  # an earlier order of the group says it
    others = [(o, period(o)) for o in drafts[position + 1 :]]
    together = [(o, p) for o, p in others if overlap(own, p)]
    if not together:
        return []
    both_from = max(own[0], *(p[0] for _, p in together))
    both_until = min(own[1], *(p[1] for _, p in together))
    if both_until <= both_from:  # each overlaps this order, not all at once: the first one's days
        both_from, both_until = max(own[0], together[0][1][0]), min(own[1], together[0][1][1])
    names = [o.resource for o, _ in together]
    shown = ", ".join(names[:3])
    return [
        emit(
            "dose-orders-overlap",
            knowledge.dose.absolute_cap_source,
            others=shown + (f" and {len(names) - 3} more" if len(names) > 3 else ""),
            overlap=f"{both_from.date().isoformat()} to {both_until.date().isoformat()}",
        )
    ]


def _local_drafts(
    item: CheckInput, knowledge: Knowledge
) -> tuple[tzinfo | None, list[MedicationOrder]]:
    """The offset a day given alone means in this call (`cds.orders.local_zone`: the first
    blinatumomab draft's, as `cds.orders.review` reads it) and the blinatumomab drafts (draft or
    active) with their days read in it; once a call (kept in the order's memo)."""
    memo = item.review.order.memo
    kept = memo.get("dose-local-drafts")
    if kept is not None and kept[0] is item.draft_orders and kept[1] is knowledge:
        return kept[2], kept[3]
    zone = local_zone([o for o in item.draft_orders if is_blinatumomab(o, knowledge)])
    drafts = [
        in_local_zone(o, zone)
        for o in item.draft_orders
        if o.status in ("draft", "active") and is_blinatumomab(o, knowledge)
    ]
    memo["dose-local-drafts"] = (item.draft_orders, knowledge, zone, drafts)
    return zone, drafts


def _blinatumomab_drafts(item: CheckInput, knowledge: Knowledge) -> list[MedicationOrder]:
    return _local_drafts(item, knowledge)[1]


def _zoned_order(item: CheckInput, knowledge: Knowledge) -> MedicationOrder:
    """The order under review with its days given alone read in the call's offset."""
    zone, _ = _local_drafts(item, knowledge)
    return in_local_zone(item.review.order, zone)


def _next_signed(
    item: CheckInput, knowledge: Knowledge, order: MedicationOrder, start: datetime
) -> tuple[MedicationOrder, DoseInstruction | None]:
    """`order` as a step-up written as two orders signed together reads it (design.md): the
    blinatumomab draft that starts next after it is its next step, and its end hands over to
    that one's start as the steps of one order do (`cds.fhir.facts.signed_hand_over`: Epic's
    "end = the next start"); with that step's first dosage (None: no later draft), its start
    given as the day this one's timed end falls read as that end (`signed_take_over`)."""
    later = [
        (begin, o)
        for o in _blinatumomab_drafts(item, knowledge)
        if o.resource != order.resource and (begin := o.first_start()) is not None and begin > start
    ]
    if not later:
        return order, None
    _, following = min(later, key=lambda pair: pair[0])
    taken = signed_take_over(order, following)
    return signed_hand_over(order, following), taken.ordered_dosages()[0]


def _taken_over(item: CheckInput, knowledge: Knowledge, order: MedicationOrder) -> MedicationOrder:
    """`order` with its first start given as a day alone, on the day the blinatumomab draft
    signed before it ends at a time, read as that end (`signed_take_over`): the next step hung
    when the last bag of the one before it ends (red team rt12-d F6: no "run at the same time"
    card for 10 h the dose check reads as a hand-over)."""
    begin = order.first_start()
    if begin is None:
        return order
    earlier = [
        (start, o)
        for o in _blinatumomab_drafts(item, knowledge)
        if o.resource != order.resource and (start := o.first_start()) is not None and start < begin
    ]
    if not earlier:
        return order
    _, before = max(earlier, key=lambda pair: pair[0])
    return signed_take_over(before, order)


def _running_beside_active_orders(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    """Active blinatumomab orders on file whose planned infusion runs on this order's days beyond
    a bag change: if both run, the patient gets the sum (the two doses can each look right). Not
    when this signing replaces the order (a draft's priorPrescription, or the same order sent
    again as a draft). An order on file hands over to a draft that starts after it as two drafts
    do (`cds.fhir.facts.signed_hand_over`: its end given as the day the draft starts ends it as
    the draft begins; days given alone read in the call's offset): days 1-7 on file "to 03-02"
    and the day-8 draft "from 03-02" are a step-up, not two bags (task D item 2). A warning, not
    a critical: the EHR may discontinue it as the order is signed. Said once, by the first draft
    that overlaps."""
    tolerance = timedelta(hours=float(knowledge.interruptions.bag_change_tolerance_hours))
    default_days = knowledge.cycles.default_infusion_days
    zone, blinatumomab = _local_drafts(item, knowledge)
    signed = {o.resource for o in item.draft_orders} | {
        o.replaces for o in item.draft_orders if o.replaces
    }
    drafts = [
        (o, start, infusion_end(o, start, default_days))
        for o in blinatumomab
        for start in [o.first_start() or item.now]
    ]
    mine = item.review.order
    running: list[tuple[MedicationOrder, datetime, datetime]] = []
    for active in earlier_blinatumomab_orders(item.patient, knowledge):
        if active.status != "active" or active.resource in signed:
            continue
        active = in_local_zone(active, zone)
        if (start := active.first_start()) is None:
            continue
        first = next(
            (
                (d, until)
                for d in drafts
                if (until := _beside(active, start, d, tolerance, knowledge)) is not None
            ),
            None,
        )
        if first is not None and first[0][0].resource == mine.resource:
            (_, begin, end), until = first
            running.append((active, max(begin, start), min(end, until)))
    if not running:
        return []
    return [
        emit(
            "dose-active-order-overlaps",
            knowledge.dose.absolute_cap_source,
            others=", ".join(o.resource for o, _, _ in running),
            overlap=f"{min(b for _, b, _ in running).date().isoformat()} to "
            f"{max(e for _, _, e in running).date().isoformat()}",
        )
    ]


def _beside(
    active: MedicationOrder,
    start: datetime,
    draft: tuple[MedicationOrder, datetime, datetime],
    tolerance: timedelta,
    knowledge: Knowledge,
) -> datetime | None:
    """Until when the order on file `active` (begun `start`) runs beside `draft` (the order, its
    start and end) beyond a bag change; None: it does not. It hands over to a draft that starts
    after it as an earlier draft does (`signed_hand_over`)."""
    order, begin, end = draft
    handed = signed_hand_over(active, order) if begin > start else active
    until = ran_until(handed, start, knowledge)
    return until if min(end, until) - max(begin, start) > tolerance else None


def _dose_of_the_order(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    rules = knowledge.dose
    review = item.review
    order = review.order
    # a step-up written as two orders: this one hands over to the next (`_next_signed`), the
    # days given alone in each read in the call's offset (`_local_drafts`)
    handed, following = _next_signed(item, knowledge, _zoned_order(item, knowledge), review.start)
    dosages = handed.ordered_dosages()
    if not any(d.amount is not None for d in dosages):
        if item.stage == "select":
            return [emit("dose-pending", rules.absolute_cap_source)]
        return [
            emit(
                "dose-not-computable",
                rules.absolute_cap_source,
                reason="the order has no dose quantity",
            )
        ]
    restart = restart_of(order, knowledge)
    charted = charted_toxicity(item, knowledge, restart)
    if charted.verdict.action == "discontinue":  # the chart wins over a note for the text
        return [
            emit(
                "dose-toxicity-discontinue",
                charted.verdict.source,
                reason=charted.verdict.reasons[0],
                reasons="\n".join(f"- {line}" for line in charted.verdict.reasons),
            )
        ]
    if restart is not None and restart.reason.action == "discontinue":
        return [
            emit(
                "dose-restart-after-permanent-discontinuation",
                restart.reason.source,
                reason=restart.reason.label,
                how=restart.how_marked,
            )
        ]
    findings: list[Emission] = []
    body = body_of(item, knowledge, findings)
    schedules = _candidates(item, rules)
    first_day = review.dose_day  # a resumed cycle's day of infusion (label §2.4)
    doubt = review.day_doubt
    restarted: str | None = None
    if restart is not None and restart.reason.action == "restart-reduced":
        doubt = None
        # counted from the restart's own first day, whatever the cycle day
        schedules, first_day = [restart_schedule(knowledge, review.indication)], 1
        restarted = f"restart after {restart.reason.label} ({restart.how_marked})"
    elif charted.restart_day is not None:
        doubt = None  # counted from the restart's infusion
        schedules = [restart_schedule(knowledge, review.indication)]
        first_day = charted.restart_day
        restarted = f"restart after {charted.verdict.reasons[0]} (on the problem list)"
    if restarted is None and restart is not None and restart.reason.action == "confirm-grade":
        findings.append(
            emit(
                "dose-toxicity-grade-unknown",
                restart.reason.source,
                toxicity=restart.reason.label,
                where="the order's note names it without a grade",
            )
        )
    elif restarted is None and charted.verdict.unknown == {"onset date"}:  # graded, undated
        findings.append(
            emit(
                "dose-toxicity-date-unknown",
                charted.verdict.source,
                toxicity="; ".join(charted.verdict.reasons),
            )
        )
    elif restarted is None and (
        lines := charted.verdict.confirm_reasons(_reduced_restart(handed, review.start, knowledge))
    ):
        findings.append(
            emit(
                "dose-toxicity-grade-unknown",
                charted.verdict.source,
                toxicity="; ".join(lines),
                where="on the problem list, as a Condition with a graded ICD-10-CM code "
                "(D89.83-, G92.0-) or a grade in its words or stage ('Seizure, grade 2'), and "
                "its onset date",
            )
        )
    if restarted is None and charted.verdict.seizure_count_unknown:  # more than one: stop
        findings.append(
            emit(
                "dose-toxicity-seizure-count-unknown",
                knowledge.toxicity.seizure.same_event_source,
                reasons="\n".join(f"- {line}" for line in charted.verdict.seizure_count_unknown),
            )
        )
    if charted.verdict.resolution_unknown:  # may have taken too long: discontinue
        findings.append(
            emit(
                "dose-toxicity-resolution-unknown",
                charted.verdict.source,
                reasons="\n".join(f"- {line}" for line in charted.verdict.resolution_unknown),
            )
        )
    # a toxicity whose grade, date or resolution is unknown may call for the reduced restart or
    # none: no one-click raise of the dose (redteam5 #5: "confirm the grade" beside "correct the
    # order: 28")
    unsure = any(
        f.code
        in (
            "dose-toxicity-grade-unknown",
            "dose-toxicity-date-unknown",
            "dose-toxicity-resolution-unknown",
            "dose-toxicity-seizure-count-unknown",
        )
        for f in findings
    )
    if charted.too_soon:
        findings.append(
            emit(
                "dose-toxicity-restart-too-soon",
                knowledge.restarts.withhold_source,
                reasons="\n".join(f"- {line}" for line in charted.too_soon),
            )
        )
    if charted.history_unreadable is not None:
        findings.append(
            emit(
                "dose-toxicity-history-unavailable",
                knowledge.toxicity.crs.source,
                reason=charted.history_unreadable,
            )
        )
    steps: list[StepResult | None] = []
    problems: list[str] = []
    bsa_needed = False
    tolerance = timedelta(hours=float(knowledge.interruptions.interruption_whole_day_from_hours))
    bag_change = timedelta(hours=float(knowledge.interruptions.bag_change_tolerance_hours))
    concurrent = _concurrent(dosages, review.start, tolerance, bag_change=bag_change)
    # the next order's first step, when not given with this one's: the day it takes over is its
    # (a bag running an hour into it is a hand-over, as between the steps of one order)
    chained = [*dosages, dataclasses.replace(following, sequence=None)] if following else []
    own = len(dosages)
    # the next order given with this one (the critical "orders run at the same time"): judged
    # alone, and never a one-click fix running it into the next order's days
    beside_next = any(
        len(dosages) in g
        for g in _concurrent(chained, review.start, tolerance, bag_change=bag_change, own=own)
    )
    if not chained or beside_next:
        chained = list(dosages)
    ranges = _handed_over(
        chained,
        _day_ranges(chained, review.start, first_day),
        _concurrent(chained, review.start, tolerance, bag_change=bag_change, own=own),
        review.start,
        first_day,
        bag_change,
    )[: len(dosages)]
    reversed_dates = _reversed_dates(order, dosages, ranges)
    if reversed_dates is not None:
        periods, days_checked = reversed_dates
        findings.append(
            emit(
                "dose-dates-reversed",
                rules.absolute_cap_source,
                periods=periods,
                days=days_checked,
            )
        )
    # the dosages after one whose dates are reversed, without a start of their own, follow an
    # end that is unknown: which days they fall on is too
    reversed_at = next((i for i, d in enumerate(dosages) if _is_reversed(d)), len(dosages))
    unplaced = dosages[reversed_at + 1 :]
    # (dose, unit, counted day, possible earlier day) of the first dose too high only on a day
    # the order may fall on, its cycle day being counted from an earlier order's signing
    unverified: tuple[Decimal, str, int, DayVerdict] | None = None
    # (dose, unit, per m²) of each dosage judged on its days, by its index
    readings: dict[int, tuple[Decimal, str, bool]] = {}

    def judged(
        first: int, last: int, value: Decimal, unit: str, per_m2: bool, written: Decimal | None
    ) -> StepResult:
        """`value` judged on days `first`..`last`. A day's verdict depends on the day only
        through each schedule's step that day: judged once per combination of steps (a 28-day
        step is judged once, not 28 times)."""
        nonlocal unverified
        verdict_of = functools.partial(
            _judge_once,
            {},
            value=value,
            schedules=schedules,
            body=body,
            rules=rules,
            per_m2=per_m2,
            written=written,
        )
        days = []
        for day in range(first, last + 1):
            verdict = verdict_of(day)
            if doubt is not None:
                verdict, over_on = _doubtful_day(
                    verdict, day, first_day - doubt.earliest, verdict_of
                )
                if over_on is not None and unverified is None:
                    unverified = (value, unit, day, over_on)
            days.append(verdict)
        return StepResult(first, value, unit, tuple(days))

    for dosage, (first, last) in zip(dosages, ranges, strict=True):
        per_m2 = False
        try:
            value, unit = ordered_mcg_per_day(dosage, body.bsa_m2, knowledge), "ug/d"
        except BsaNeeded:
            bsa_needed = True
            if body.fixed_dose is True:  # ≥ 45 kg: a fixed dose is due, and the BSA is unknown
                steps.append(None)
                continue
            value, unit, per_m2 = ordered_mcg_per_m2_per_day(dosage), "ug/m2/d", True
        except DoseNotComputable as error:
            problems.append(str(error))
            steps.append(None)
            continue
        conflict = None if per_m2 else _disagreement(dosage, value, body, knowledge)
        if conflict is not None:
            problems.append(conflict)
            steps.append(None)
            continue
        if last - first + 1 > LONGEST_JUDGED_DOSAGE_DAYS:
            problems.append(
                f"a dosage runs {last - first + 1:,} days, longer than any blinatumomab infusion "
                "(a mistyped date or duration?)"
            )
            steps.append(None)
            continue
        if dosage.bounds_start is None and any(d is dosage for d in unplaced):
            anyday = _judge_any_day(value, schedules, body, rules, per_m2, dosage.amount)
            steps.append(StepResult(first, value, unit, (anyday,) * (last - first + 1)))
            continue
        readings[len(steps)] = (value, unit, per_m2)
        steps.append(judged(first, last, value, unit, per_m2, dosage.amount))
    for group in concurrent:
        read = {readings[i][1:] for i in group if i in readings}
        if len(read) != 1 or any(i not in readings for i in group):
            problems.append(
                f"{len(group)} dosages are given at the same time, and their doses add up to a "
                "dose that could not be read in one unit"
            )
            continue
        (unit, per_m2), *_ = read
        for index in group:
            steps[index] = None
        for first, last, total, parts in _summed(group, readings, ranges):
            step = judged(first, last, total, unit, per_m2, None)
            steps.append(dataclasses.replace(step, parts=parts))
    # reversed dates: the right days, and so a corrected order, are unknown; nor is a correction
    # of concurrent dosages (which of them to change?)
    dose_findings = _dose_findings(
        item,
        knowledge,
        body,
        steps,
        schedules,
        restarted,
        # never a one-click order whose dosages run at the same time (each keeps its dates)
        can_fix=reversed_dates is None
        and not concurrent
        and not beside_next
        and not _concurrent(
            dosages, review.start, tolerance, dosed_only=False, bag_change=bag_change
        ),
        may_raise=not unsure,
    )
    if problems and concurrent:  # the sum is unknown, each one's dose is not it: never "dose low"
        dose_findings = [f for f in dose_findings if f.code != "dose-underdose"]
    # a toxicity whose grade or onset is unknown may call for the reduced restart: the restart at
    # its dose is no "dose low" beside "confirm when the toxicity began" (red team rt-tox)
    if (
        charted.verdict.seizure_grade_unknown
        or any(
            f.code
            in (
                "dose-toxicity-grade-unknown",
                "dose-toxicity-date-unknown",
                "dose-toxicity-seizure-count-unknown",
            )
            for f in findings
        )
    ) and all(_at_most_restart_dose(d, knowledge.toxicity.restart, knowledge) for d in dosages[:1]):
        dose_findings = [f for f in dose_findings if f.code != "dose-underdose"]
    flagged = any(f.code in ("dose-overdose", "dose-underdose") for f in dose_findings)
    if unverified is not None and doubt is not None and not flagged:
        findings.append(_day_unverified(review, knowledge, doubt, *unverified))
    bounded = body.bounds is not None and not bsa_needed
    if (
        body.weight is not None
        and body.bsa_m2 is None
        and (body.fixed_dose is False or bsa_needed)
        and not (bounded and flagged)
    ):
        findings.append(
            emit(
                "dose-no-bsa",
                rules.bsa_source,
                reason=body.bsa_basis,
                threshold=format_number(rules.weight_threshold_kg),
                checked=_bsa_consequence(body, bsa_needed),
            )
        )
    if problems:
        findings.append(
            emit(
                "dose-not-computable",
                rules.absolute_cap_source,
                reason="; ".join(dict.fromkeys(problems)),
            )
        )
    findings.extend(dose_findings)
    return findings


@dataclass(frozen=True)
class ChartedToxicity:
    verdict: ToxicityVerdict
    restart_day: int | None  # day of the reduced restart this order's first dose falls on
    # after earlier infusions, why the problem list (the graded toxicities) could not be read
    history_unreadable: str | None = None
    # this order restarts the infusion before the label allows after a grade 3 toxicity: why
    too_soon: tuple[str, ...] = ()


def charted_toxicity(
    item: CheckInput, knowledge: Knowledge, restart: Restart | None = None
) -> ChartedToxicity:
    """The toxicities on the chart since the first blinatumomab infusion (label §2.4), and, after
    a grade 3, which day of the 7-day reduced restart this order begins on (None: the reduced
    restart is over, or does not apply). `restart`: the order's restart reason, whose grade an
    ungraded other reaction charted during the infusion takes."""
    rules = knowledge.toxicity
    periods = [p for p in infusion_periods_of(item, knowledge) if p.start < item.review.start]
    first = min((p.start for p in periods), default=None)
    low = _at_restart_dose(item, knowledge)
    infused = [(p.start, p.end) for p in periods]
    noted = restart.reason.other_reaction_grade if restart is not None else None
    # an onset given as an age is dated from the birthDate (red team rt12/c N1)
    conditions = [c.dated(item.patient.birth_date) for c in item.patient.conditions]
    # the orders on file that began before this one, when they were written: an ungraded
    # toxicity an order was written after was asked about when it was signed (red team rt12/c N3;
    # a bag resumed under the same order asked nothing; one signed before the toxicity and begun
    # after it asked nothing either: rt13/c H3). A reduced restart is not asked the grade (it is
    # the answer to a grade 3): it counts only once it ran its reduced days (rt13/c H4)
    restarts = [
        o.authored_on or begun
        for o in earlier_blinatumomab_orders(item.patient, knowledge, excluding=item.review.order)
        if o.status in knowledge.interruptions.order_statuses
        and (begun := o.first_start()) is not None
        and begun < item.review.start
        and (
            not _reduced_restart(o, begun, knowledge)
            or _ran_reduced_days(item, o, begun, knowledge)
        )
    ]
    verdict = assess(conditions, first, rules, item.now, low, infused, noted, restarts)
    unreadable = item.patient.unavailable.get("conditions") if first is not None else None
    if verdict.action != "restart-reduced":
        return ChartedToxicity(verdict, None, unreadable)
    graded = [
        e.onset
        for e in verdict.events
        if e.onset is not None
        and e.grade is not None
        and e.grade >= rules.graded(e.kind).restart_reduced_from_grade
    ]
    latest = max(graded, default=None)
    began = None if latest is None else _restart_began(periods, latest)
    day = (item.review.start.date() - began.date()).days + 1 if began is not None else 1
    # this order is the restart: is it too soon? (a later order continues a restart under way)
    withhold = knowledge.restarts.withhold_days_after_resolution
    too_soon = (
        too_soon_to_restart(verdict.events, rules, withhold, item.review.start)
        if began is None
        else ()
    )
    reduced_day = day if day <= rules.restart.reduced_days else None
    return ChartedToxicity(verdict, reduced_day, unreadable, too_soon)


def _restart_began(periods: Sequence[Period], onset: datetime) -> datetime | None:
    """When the infusion restarted after a toxicity began at `onset` (None: not before this
    order): the first run that starts after the run the toxicity occurred in. An onset given as a
    day alone may be any time that day, so every run on that day is the one it occurred in: a bag
    hung that morning, before the CRS, is no restart (counting from it shortened the 9 mcg/day
    days, redteam5 #3). A restart on the onset's own day is then counted from the next run, which
    asks for more days at 9 mcg/day, never fewer."""
    after = onset + timedelta(days=1) if day_only(onset) else onset
    return next((run.start for run in merged(periods) if run.start >= after), None)


def _ran_reduced_days(
    item: CheckInput, order: MedicationOrder, start: datetime, knowledge: Knowledge
) -> bool:
    """Whether a reduced restart order on file ran its reduced days (7) before this order: by its
    administrations when the MAR has any; without, an order stopped or on hold never began (its
    plan is no proof it ran), an active or completed one ran as planned."""
    until = start + timedelta(days=knowledge.toxicity.restart.reduced_days)
    if until > item.review.start:
        return False
    given = [
        given_until(a, begun, item.patient, knowledge)
        for a, begun in counted_administrations(item.patient, knowledge)
        if a.request == order.resource
    ]
    if given:
        return max(given) >= until
    if order.status in knowledge.interruptions.ran_as_administered_statuses:
        return False
    return infusion_end(order, start, knowledge.cycles.default_infusion_days) >= until


def _at_restart_dose(item: CheckInput, knowledge: Knowledge) -> list[tuple[datetime, datetime]]:
    """When the blinatumomab orders on file ran at the restart dose or below (9 mcg/day, 5
    mcg/m²/day: the step-up days, a reduced restart), for the label's "if the neurological
    toxicity occurred at 9 mcg/day, discontinue permanently"."""
    restart = knowledge.toxicity.restart
    spans = []
    for order in earlier_blinatumomab_orders(item.patient, knowledge, excluding=item.review.order):
        start = order.first_start()
        if start is None or order.status not in knowledge.interruptions.order_statuses:
            continue
        ran_to = ran_until(order, start, knowledge)
        for dosage, begin, end in dosage_spans(order, start):
            if begin < ran_to and _at_most_restart_dose(dosage, restart, knowledge):
                spans.append((begin, min(end or ran_to, ran_to)))
    return spans


def _reduced_restart(order: MedicationOrder, start: datetime, knowledge: Knowledge) -> bool:
    """Whether the order is the label's reduced restart: every dosage beginning in its first
    `reduced_days` days at the restart dose or below (a seizure's unknown grade matters above)."""
    restart = knowledge.toxicity.restart
    until = start + timedelta(days=restart.reduced_days)
    return all(
        _at_most_restart_dose(dosage, restart, knowledge)
        for dosage, begin, _ in dosage_spans(order, start)
        if begin < until
    )


def _at_most_restart_dose(
    dosage: DoseInstruction, restart: ReducedRestart, knowledge: Knowledge
) -> bool:
    """At 9 mcg/day (5 mcg/m²/day) or below; a rate rounding it (0.38 mcg/h) counts as it."""
    try:
        try:
            per_day, dose = ordered_mcg_per_day(dosage, None, knowledge), restart.mcg_per_day
        except BsaNeeded:  # per m²: compared per m²
            per_day, dose = ordered_mcg_per_m2_per_day(dosage), restart.mcg_per_m2_per_day
    except DoseNotComputable:
        return False
    return per_day <= dose or (
        dosage.amount is not None
        and written_as_rounded(
            dosage.amount, per_day, dose, knowledge.dose.rate_rounding_max_percent
        )
    )


def infusion_periods_of(item: CheckInput, knowledge: Knowledge) -> list[Period]:
    """When blinatumomab ran or will run before this order: on file, and the blinatumomab drafts
    signed with it that start earlier (a reduced restart written as two orders: 9, then 28)."""
    review = item.review
    zone, _ = _local_drafts(item, knowledge)
    earlier = [
        in_local_zone(o, zone)
        for o in earlier_blinatumomab_orders(item.patient, knowledge, excluding=review.order)
    ]
    default_days = knowledge.cycles.default_infusion_days
    signed_with = [
        Period(start, infusion_end(o, start, default_days), o.resource)
        for o in (in_local_zone(d, zone) for d in item.draft_orders)
        if o.resource != review.order.resource
        and (start := o.first_start()) is not None
        and start < review.start
        and is_blinatumomab(o, knowledge)
    ]
    return [*infusion_periods(item.patient, knowledge, earlier), *signed_with]


def _bsa_consequence(body: Body, bsa_needed: bool) -> str:
    if bsa_needed and body.fixed_dose is True:
        return "The per-m² dose could not be converted to mcg/day and was not checked"
    if bsa_needed:
        return (
            "The per-m² dose was checked against the label's per-m² schedule; "
            "the mcg/day caps were not"
        )
    if body.bounds is not None:
        return (
            "The dose is within what a plausible BSA allows for the weight and age "
            f"({body.bounds.basis}), but the exact dose could not be checked"
        )
    return "Only the label's mcg/day caps were checked"


def _basis(body: Body, rules: DoseRules, unit: str) -> str:
    threshold = format_number(rules.weight_threshold_kg)
    weight = (
        f"{format_weight(body.weight.value, rules.weight_threshold_kg)} kg"
        if body.weight
        else "unknown"
    )
    stale = " (stale)" if body.weight_stale else ""
    if unit == "ug/m2/d":
        return f"per-m² schedule, weight {weight}{stale}; BSA unknown ({body.bsa_basis})"
    if body.fixed_dose is True:
        return f"fixed dose for weight ≥ {threshold} kg (weight {weight}{stale})"
    if body.fixed_dose is False and body.bsa_m2 is not None:
        return (
            f"per-m² dose for weight under {threshold} kg (weight {weight}{stale}), "
            f"{body.bsa_basis}"
        )
    if body.fixed_dose is False and body.bounds is not None:
        # bsa_basis says why no BSA: no height, a stale one, a recorded BSA not possible
        return (
            f"weight under {threshold} kg ({weight}{stale}), {body.bsa_basis}; {body.bounds.basis}"
        )
    if body.fixed_dose is False:
        return (
            f"weight under {threshold} kg ({weight}{stale}) but BSA unknown "
            f"({body.bsa_basis}): caps only"
        )
    return "no body weight on file: only the label's caps were checked"


def _dose_findings(
    item: CheckInput,
    knowledge: Knowledge,
    body: Body,
    steps: Sequence[StepResult | None],
    schedules: Sequence[DoseSchedule],
    restarted: str | None,
    can_fix: bool = True,
    may_raise: bool = True,
) -> list[Emission]:
    """The overdose or underdose card of the order's first wrong stretch. `may_raise`: whether
    its one-click correction may raise a dose (not while a toxicity's grade or date is unknown)."""
    rules = knowledge.dose
    review = item.review
    stretches = [s for step in steps if step is not None for s in _stretches(step)]
    overs = [s for s in stretches if s.verdict.over]
    unders = [s for s in stretches if s.verdict.under]
    flagged = overs or unders
    indication = knowledge.indication_label(review.indication)
    if restarted is not None:
        indication += f"; {restarted}, days counted from the restart"
    judged, cycle_basis, _ = review.judged_cycle
    cycle: int | str = "unknown" if judged is None else judged
    if review.by_history:
        cycle = f"{judged} by the infusions on file (the order says {review.cycle})"
    findings: list[Emission] = []
    if flagged:
        first, others = _reported(flagged)
        verdict, unit = first.verdict, first.step.unit
        plan = _plan(steps)
        values: dict[str, Any] = {
            "ordered": format_number(first.step.ordered),
            # the sum of dosages given at the same time is no dose the order writes (red team 8a)
            "given": "ordered"
            if first.step.parts == 1
            else f"in all (the sum of {first.step.parts} dosages given at the same time)",
            "unit": UNIT_TEXT[unit],
            "days": _days_text(first.first_day, first.last_day),
            "expected": format_number(verdict.expected),
            "label_dose": f"{format_number(verdict.expected)} {UNIT_TEXT[unit]}"
            if verdict.expected is not None
            else "uncertain (indication or cycle unknown)",
            "limit": format_number(verdict.limit),
            # plain text: every value is escaped as text on the card (`**` showed as `\*\*`)
            "right": f"Right dose: {format_number(verdict.expected)} {UNIT_TEXT[unit]}"
            if verdict.expected is not None
            else "The right dose could not be determined (see the other dose cards)",
            "basis": _basis(body, rules, unit),
            "indication": indication,
            "cycle": cycle,
            # how the indication and cycle were established: a card that rests on an inference
            # (a new course, a cycle counted from the infusions on file) shows it
            "established": f"indication: {review.indication_basis}; cycle: {cycle_basis}"
            + _day_basis(review, restarted is not None),
            "more": _more_text(others + (len(unders) if overs else 0)),
            "fix": _plan_text(plan) if plan else "",
            "schedule": _schedule_text(schedules, body, unit, restarted is not None, knowledge),
        }
        sources = verdict.sources
        source = next(iter(sources)) if len(sources) == 1 else rules.absolute_cap_source
        actions: tuple[ProposedAction, ...] = ()
        if plan and can_fix and (may_raise or not unders) and isinstance(review.order.raw, Mapping):
            actions = (
                ProposedAction(
                    "update",
                    "Correct the blinatumomab dose to the label schedule",
                    corrected_order(review.order.raw, plan),
                ),
            )
        if overs:
            findings.append(emit("dose-overdose", source, actions=actions, **values))
        else:
            findings.append(emit("dose-underdose", source, actions=actions, **values))
    # a cycle coded lower than the history, the indication known: the doubt is between the two
    # cycles, which the cycle-limits card says
    uncertain = not (review.by_history and review.indication is not None) and any(
        s.verdict.uncertain and not s.verdict.over and not s.verdict.under for s in stretches
    )
    if uncertain:
        findings.append(
            emit(
                "dose-schedule-unknown",
                rules.absolute_cap_source,
                indication=indication,
                indication_basis=review.indication_basis,
                cycle=cycle,
                cycle_basis=cycle_basis,
                cap=format_number(rules.absolute_cap_mcg_per_day),
            )
        )
    return findings


def _day_basis(review: OrderUnderReview, restarted: bool) -> str:
    """How the order's first day was counted, when it resumes its cycle on a day of infusion
    other than its calendar day (label §2.4: the days given before the interruption count)."""
    day = review.resumed_day
    if restarted or day is None or day == review.judged_cycle[2]:
        return ""
    return (
        f"; day: resumes the cycle on its day {day} of infusion ({day - 1} "
        f"day{'s' if day != 2 else ''} given before; day {review.judged_cycle[2]} by the calendar)"
    )


def _schedule_text(
    schedules: Sequence[DoseSchedule],
    body: Body,
    unit: str,
    restart: bool,
    knowledge: Knowledge,
) -> str:
    """The label schedules the order was judged by, for the card's closing line: the indication
    and cycles (or the restart after toxicity), in mcg/day or, under the weight threshold, per m²
    with the mcg/day cap (redteam4 #3: not R/R cycle 1's text on every card)."""
    threshold = format_number(knowledge.dose.weight_threshold_kg)

    def dose(step: DoseStep) -> str:
        per_m2 = f"{format_number(step.mcg_per_m2_per_day)} mcg/m²/day"
        if unit == "ug/m2/d" or body.fixed_dose is False:
            return f"{per_m2} (at most {format_number(step.cap_mcg_per_day)} mcg/day)"
        fixed = f"{format_number(step.mcg_per_day)} mcg/day"
        return fixed if body.fixed_dose else f"{fixed} ({per_m2} under {threshold} kg)"

    def name(schedule: DoseSchedule) -> str:
        if restart:
            return "a restart after toxicity (days counted from the restart)"
        first, last = schedule.cycles.first, schedule.cycles.last
        cycles = (
            f"cycle {first}"
            if first == last
            else f"cycles {first}–{last}"
            if last is not None
            else f"cycles {first} and later"
        )
        return f"{knowledge.indication_label(schedule.indication)} {cycles}"

    texts = [
        f"{name(s)}: "
        + ", then ".join(
            f"{dose(step)} on {_days_text(step.first_day, step.last_day)}" for step in s.steps
        )
        for s in schedules
    ]
    return "; or for ".join(dict.fromkeys(texts))


def _more_text(others: int) -> str:
    if others <= 0:
        return ""
    return (
        f"{others} other stretch{'es' if others > 1 else ''} of this order also differ"
        f"{'s' if others == 1 else ''} from the label schedule."
    )


# --- the corrected order ------------------------------------------------------------------------

PlannedDose = tuple[int, Decimal, str]  # (number of days, dose, UCUM unit)


def _plan(steps: Sequence[StepResult | None]) -> list[list[PlannedDose] | None] | None:
    """Per dosage instruction, the doses the order should have (None: keep it as written); None
    overall when some wrong day has no single right dose (then no fix is offered)."""
    plans: list[list[PlannedDose] | None] = []
    changed = False
    for step in steps:
        if step is None or not any(step.flagged(day) for day in step.days):
            plans.append(None)
            continue
        parts: list[PlannedDose] = []
        for day in step.days:
            if step.flagged(day) and day.expected is None:
                return None
            target = (
                day.expected if step.flagged(day) and day.expected is not None else step.ordered
            )
            if parts and parts[-1][1] == target:
                parts[-1] = (parts[-1][0] + 1, target, step.unit)
            else:
                parts.append((1, target, step.unit))
        plans.append(parts)
        changed = True
    return plans if changed else None


def _plan_text(plans: Sequence[list[PlannedDose] | None]) -> str:
    parts = [
        f"{format_number(dose)} {UNIT_TEXT[unit]} for {days} day{'s' if days > 1 else ''}"
        for plan in plans
        if plan
        for days, dose, unit in plan
    ]
    return ", then ".join(parts)


def _quantity(dose: Decimal, unit: str) -> dict[str, Any]:
    return {
        "value": float(dose.quantize(Decimal("0.01")).normalize()),
        "unit": unit,
        "system": UCUM_SYSTEM,
        "code": unit,
    }


def corrected_order(
    raw: Mapping[str, Any], plans: Sequence[list[PlannedDose] | None]
) -> dict[str, Any]:
    """A copy of the MedicationRequest with each planned dosage instruction rewritten; a dosage
    whose right dose changes inside it (the R/R day-8 step-up) is split, each part bounded."""
    resource, _ = normalise(dict(raw))
    dosages = sorted(
        resource.get("dosageInstruction") or [],
        key=lambda d: (d.get("sequence") is None, d.get("sequence") or 0),
    )
    rewritten: list[dict[str, Any]] = []
    for index, dosage in enumerate(dosages):
        plan = plans[index] if index < len(plans) else None
        if not plan:
            rewritten.append(dosage)
            continue
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        start = as_datetime((repeat.get("boundsPeriod") or {}).get("start"))
        for days, dose, unit in plan:
            part = copy.deepcopy(dosage)
            part["doseAndRate"] = [{"doseQuantity": _quantity(dose, unit)}]
            plural = "s" if days > 1 else ""
            part["text"] = (
                f"{format_number(dose)} {unit} continuous IV infusion for {days} day{plural}"
            )
            if len(plan) > 1:
                part_repeat = part.setdefault("timing", {}).setdefault("repeat", {})
                part_repeat.pop("boundsDuration", None)
                part_repeat.pop("boundsPeriod", None)
                if start is not None:
                    end = start + timedelta(days=days)
                    part_repeat["boundsPeriod"] = {
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                    }
                    start = end
                else:
                    part_repeat["boundsDuration"] = {
                        "value": days,
                        "unit": "d",
                        "system": UCUM_SYSTEM,
                        "code": "d",
                    }
            rewritten.append(part)
    for sequence, dosage in enumerate(rewritten, start=1):
        dosage["sequence"] = sequence
    resource["dosageInstruction"] = rewritten
    return resource


CHECK = Check(
    topic=TOPIC,
    verifies="the blinatumomab dose",
    requires=frozenset({"observations"}),
    run=check_dose,
    findings=FINDINGS,
)
