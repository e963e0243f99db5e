"""Interruption arithmetic: infusion days used in a cycle, gaps, and what a new order resumes.

Label §2.4: an interruption of at most 7 days continues the same cycle to 28 infusion days in all;
a longer one starts a new cycle; restarting after 4 hours or more needs the premedication and
supervision of a cycle start. The periods come from earlier blinatumomab orders and, where the EHR
sends them, MedicationAdministration records (the caller picks the statuses the knowledge file
names); numbers live in `knowledge/interruptions.yaml`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Literal

from cds.knowledge.models import InterruptionRules

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    source: str = ""  # e.g. "MedicationAdministration/ma-3"


def merged(periods: Iterable[Period]) -> list[Period]:
    """Infusion periods in time order, overlaps and touching periods joined (an order and its
    administrations describe the same infusion)."""
    result: list[Period] = []
    for period in sorted(periods, key=lambda p: p.start):
        if period.end <= period.start:
            continue
        if result and period.start <= result[-1].end:
            last = result[-1]
            result[-1] = Period(last.start, max(last.end, period.end), last.source)
        else:
            result.append(period)
    return result


def _days(span: timedelta) -> Decimal:
    return Decimal(span.total_seconds()) / Decimal(86400)


@dataclass(frozen=True)
class CycleSoFar:
    """The current cycle as the periods before a new order's start show it."""

    periods: tuple[Period, ...]  # this cycle's infusions (empty: none on file)
    infusion_days_used: Decimal
    last_end: datetime | None


def cycles_before(
    periods: Iterable[Period], before: datetime, rules: InterruptionRules
) -> list[CycleSoFar]:
    """Infusions before `before`, cut into cycles at every gap longer than the interruption limit
    (or once a cycle's infusion days are complete), in time order."""
    limit = timedelta(days=rules.max_interruption_days)
    full = Decimal(rules.infusion_days_per_cycle)
    cycles: list[CycleSoFar] = []
    cycle: list[Period] = []
    used = Decimal(0)
    for period in merged(p for p in periods if p.start < before):
        period = Period(period.start, min(period.end, before), period.source)
        if cycle and (period.start - cycle[-1].end > limit or used >= full):
            cycles.append(CycleSoFar(tuple(cycle), used, cycle[-1].end))
            cycle, used = [], Decimal(0)
        cycle.append(period)
        used += _days(period.end - period.start)
    if cycle:
        cycles.append(CycleSoFar(tuple(cycle), used, cycle[-1].end))
    return cycles


def interruption_days(elapsed: timedelta, used: Decimal, rules: InterruptionRules) -> int:
    """The whole days a cycle's interruptions took, `elapsed` after it began with `used` days of
    infusion given: the day of INFUSION an order resuming it begins on is its calendar day less
    these (label §2.4 counts a cycle in "days of infusion inclusive of days before and after the
    interruption"). A part of a day of `interruption_whole_day_from_hours` or more counts as a
    day (the step-up is not shortened by rounding); less, as none (a bag change, a pump alarm:
    a day is a calendar day, as the day-8 bag hung in the morning)."""
    idle = max(_days(elapsed) - used, Decimal(0))
    part = Decimal(rules.interruption_whole_day_from_hours) / Decimal(24)
    return int(idle + 1 - part)


def current_cycle(
    periods: Iterable[Period], before: datetime, rules: InterruptionRules
) -> CycleSoFar:
    """The last of `cycles_before`: the cycle a new order at `before` may continue."""
    cycles = cycles_before(periods, before, rules)
    return cycles[-1] if cycles else CycleSoFar((), Decimal(0), None)


def run_end(periods: Iterable[Period], at: datetime) -> datetime:
    """The end of the infusion running at `at` (overlapping and touching periods joined); `at`
    itself when none was running."""
    return next((p.end for p in merged(periods) if p.start <= at < p.end), at)


def course_began(
    periods: Iterable[Period],
    before: datetime,
    new_course_after: timedelta,
    boundary: datetime | None,
) -> datetime | None:
    """When the course of treatment an order starting at `before` belongs to began: the first
    infusion after `boundary` (where another indication's infusions ended) and after the last gap
    longer than `new_course_after`; `before` itself when no infusion before it qualifies. None:
    every infusion on file belongs to this course."""
    runs = [
        Period(p.start, min(p.end, before), p.source)
        for p in merged(p for p in periods if p.start < before)
        if boundary is None or p.start >= boundary
    ]
    began = None if boundary is None else runs[0].start if runs else before
    for previous, run in pairwise(runs):
        if run.start - previous.end > new_course_after:
            began = run.start
    if runs and before - runs[-1].end > new_course_after:
        began = before
    return began


Resumption = Literal["first-infusion", "continues", "restart-same-cycle", "new-cycle"]


@dataclass(frozen=True)
class ResumeVerdict:
    kind: Resumption
    gap: timedelta | None  # from the last infusion's end to the new start
    infusion_days_used: Decimal  # in the cycle the new order continues (0 for a new cycle)
    infusion_days_left: Decimal
    needs_restart_premedication: bool  # a restart after >= 4 h inside a cycle
    order_too_long: bool  # runs past the cycle's 28 infusion days
    overrun_days: Decimal


def resume(
    periods: Iterable[Period],
    new_start: datetime,
    new_end: datetime,
    rules: InterruptionRules,
) -> ResumeVerdict:
    """What a new order (new_start..new_end) is, given the earlier infusions.

    - no earlier infusion, or a gap over the limit, or a complete cycle: a new cycle (its own 28
      days: an order longer than that runs past day 28, item 4 of issue 15);
    - a gap under the bag-change tolerance: the same infusion continues;
    - otherwise a restart inside the cycle, needing premedication from `restart_after_hours`.
    An order resuming a cycle (continuing or restarting it) is too long when it runs
    `overrun_from_hours` or more past the days left: a restart at another clock time leaves part
    of a day no whole-day order matches. A cycle's first order (new cycle, first infusion) starts
    at the cycle's own clock time: more than the bag-change tolerance past day 28 is too long,
    unless it ends on the calendar day day 28 ends (interruptions.yaml
    first_order_day_28_calendar_day)."""
    so_far = current_cycle(periods, new_start, rules)
    full = Decimal(rules.infusion_days_per_cycle)
    tolerance = timedelta(hours=float(rules.bag_change_tolerance_hours))
    allowed = Decimal(rules.overrun_from_hours) / Decimal(24)  # an overrun from this many days
    length = _days(new_end - new_start)
    first: Resumption | None = None
    gap = None if so_far.last_end is None else max(new_start - so_far.last_end, timedelta(0))
    if gap is None:
        first = "first-infusion"
    elif gap > timedelta(days=rules.max_interruption_days) or so_far.infusion_days_used >= full:
        first = "new-cycle"
    if first is not None:
        verdict = _verdict(first, gap, Decimal(0), full, False, length, None, tolerance)
        if (
            verdict.order_too_long
            and rules.first_order_day_28_calendar_day
            and _ends_on_day(new_start, new_end, new_start + timedelta(days=int(full)))
        ):
            return replace(verdict, order_too_long=False)
        return verdict
    assert gap is not None
    used = so_far.infusion_days_used
    kind: Resumption = "continues" if gap <= tolerance else "restart-same-cycle"
    premed = gap >= timedelta(hours=rules.restart_after_hours)
    return _verdict(kind, gap, used, full - used, premed, length, allowed, tolerance)


def _ends_on_day(start: datetime, end: datetime, last: datetime) -> bool:
    """Whether `end` falls on the calendar day `last` falls on (or before it), in the start's
    time zone or in the end's own: an order ending on its 28th day's calendar day (a date-only
    end, read as the end of that day; noon; 23:59) ends on the cycle's last day, not after it. A
    time of midnight is the end of the day before (a cycle begun at 00:00 ends its day 28 then)."""
    instant = timedelta(microseconds=1)  # an end at midnight ends the day before
    return any(
        (end - instant).astimezone(zone).date() <= (last - instant).astimezone(zone).date()
        for zone in (start.tzinfo, end.tzinfo)
    )


def _verdict(
    kind: Resumption,
    gap: timedelta | None,
    used: Decimal,
    left: Decimal,
    premed: bool,
    length: Decimal,
    overrun_from_days: Decimal | None,
    tolerance: timedelta,
) -> ResumeVerdict:
    """`overrun_from_days`: an order resuming a cycle runs past the days left only by this much or
    more (part of a day is what whole-day orders and bags leave after a restart at another clock
    time); None (a cycle's first order): by more than the bag-change `tolerance`."""
    overrun = length - left
    if overrun_from_days is None:
        too_long = overrun > _days(tolerance)
    else:
        too_long = overrun >= overrun_from_days
    return ResumeVerdict(kind, gap, used, left, premed, too_long, max(overrun, Decimal(0)))
