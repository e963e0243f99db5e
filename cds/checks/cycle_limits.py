"""Cycle limits and intervals (card topic `cycle-limits`; label §2.2-2.5).

From the earlier blinatumomab orders on file (each with its cycle number and infusion period):
- more cycles than the indication allows (R/R 9, MRD-positive 4; consolidation 4, set by the
  regimen, so never more than a warning) -> warning; unknown indication: the highest maximum;
- a new cycle started before the previous cycle's treatment-free interval (dose.yaml, per cycle
  and indication) has passed -> warning (only after a whole cycle: one cut short by a toxicity or
  a long interruption is followed by a new cycle once it resolves);
- an order continuing a cycle after an interruption of more than 7 days, or continuing a cycle
  whose 28 infusion days are already complete -> warning (start a new cycle);
- an order coding a lower cycle than the infusions of its course on file make it -> warning, and
  the checks above judge the history's cycle (cycle 1 coded after nine cycles given is a tenth
  cycle, not a 500-day interruption of the first); so does one coding a higher cycle than the
  numbered cycle on file it resumes within 7 days (label §2.4: the same cycle continues);
- a finding above that rests on the dates of an earlier order whose start is only its signing
  time (authoredOn: no boundsPeriod, no administration on file) and that a later first dose would
  undo -> "could not verify" warning instead, saying which order and what to check.
Every finding here is a warning: the count and the dates depend on the chart being complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cds.checks import Check, CheckInput
from cds.findings import Declarations, Emission, declare, emit
from cds.interruptions import Period
from cds.knowledge import Knowledge
from cds.knowledge.models import CycleRules
from cds.orders import (
    cycle_of,
    earlier_blinatumomab_orders,
    given_until,
    infusion_end,
    infusion_periods,
    is_blinatumomab,
    ran_until,
    signed_only,
)
from cds.patient import MedicationOrder, PatientSnapshot, memoized
from cds.units import format_number

TOPIC = "cycle-limits"
_CYCLE = ("cycle", "indication", "start")
FINDINGS: Declarations = {
    "cycle-number-unknown": declare("warning", "basis"),
    "cycle-number-disagrees": declare("warning", *_CYCLE, "history_cycle", "history", "why"),
    "cycle-limit-exceeded": declare(
        "warning", *_CYCLE, "count", "max", "basis", "history", "allowed"
    ),
    "cycle-interruption-new-cycle": declare(
        "warning", *_CYCLE, "gap", "last_end", "max_gap", "next", "restart"
    ),
    "cycle-resume-too-long": declare(
        "warning", *_CYCLE, "gap", "days_used", "days_left", "overrun", "last_day"
    ),
    "cycle-runs-past-day-28": declare("warning", *_CYCLE, "end", "overrun", "free_days"),
    "cycle-dates-unverified": declare("warning", *_CYCLE, "order", "signed", "what", "counted"),
    "cycle-already-complete": declare("warning", *_CYCLE, "days", "first", "last_end", "basis"),
    "cycle-treatment-free-interval": declare(
        "warning", *_CYCLE, "previous", "last_end", "gap", "required", "earliest"
    ),
}


@dataclass(frozen=True)
class Infusion:
    """An earlier blinatumomab order: its cycle and when its infusion ran."""

    order: MedicationOrder
    cycle: int | None
    start: datetime
    end: datetime


def _last_given(patient: PatientSnapshot, knowledge: Knowledge) -> dict[str, datetime]:
    """When the last administration of each order on the MAR ended, derived once a call."""

    def compute() -> dict[str, datetime]:
        administered: dict[str, datetime] = {}
        for given in patient.administrations:
            if (
                given.request
                and given.start
                and knowledge.names("blinatumomab", given.codes, given.text)
            ):
                end = given_until(given, given.start, patient, knowledge)
                administered[given.request] = max(end, administered.get(given.request, end))
        return administered

    return memoized(patient.memo, "last-given", knowledge, compute)


def _signed_only(infusion: Infusion) -> bool:
    """Its start is only its signing time (`cds.orders.signed_only`): it used at most the days
    counted from its signing, and a planned end counted from there is the earliest it can have
    ended."""
    return signed_only(infusion.order)


def _end_from_signing(infusion: Infusion, knowledge: Knowledge) -> bool:
    """Its end is counted from its signing (not a stop time or an administration's end)."""
    planned = infusion_end(infusion.order, infusion.start, knowledge.cycles.default_infusion_days)
    return _signed_only(infusion) and infusion.end == planned


def _unverified(
    knowledge: Knowledge, values: dict[str, Any], infusion: Infusion, what: str, counted: str
) -> Emission:
    return emit(
        "cycle-dates-unverified",
        knowledge.cycles.signed_start_source,
        **values,
        order=infusion.order.id,
        signed=_date(infusion.start),
        what=what,
        counted=counted,
    )


def _infusions(item: CheckInput, knowledge: Knowledge, settings: CycleRules) -> list[Infusion]:
    """Blinatumomab orders of this order's course that started before it: on file, and drafts
    signed with it (two cycles ordered at once). A stopped or on-hold order with administrations
    on file ended with its last administration (`cds.orders.ran_until`), not at its planned
    end."""
    administered = _last_given(item.patient, knowledge)
    drafts = [
        o
        for o in item.draft_orders
        if o.resource != item.review.order.resource and is_blinatumomab(o, knowledge)
    ]
    found = []
    for order in [
        *earlier_blinatumomab_orders(item.patient, knowledge, item.review.order),
        *drafts,
    ]:
        start = order.first_start()
        if start is None or start >= item.review.start or not item.review.in_course(start):
            continue
        end = ran_until(order, start, knowledge, administered.get(order.resource))
        found.append(Infusion(order, cycle_of(order), start, end))
    return found


def _free_days(knowledge: Knowledge, indication: str | None, cycle: int) -> tuple[int, str]:
    """Treatment-free days after `cycle` (dose.yaml); unknown indication: the shortest of those
    still possible, so only a gap too short for every indication is reported."""
    schedules = [
        s
        for s in knowledge.dose.schedules
        if (indication is None or s.indication == indication) and s.cycles.contains(cycle)
    ]
    if not schedules:  # beyond every schedule (cycle limit exceeded): the shortest interval
        schedules = [
            s for s in knowledge.dose.schedules if indication is None or s.indication == indication
        ] or list(knowledge.dose.schedules)
    shortest = min(schedules, key=lambda s: s.treatment_free_days)
    return shortest.treatment_free_days, shortest.source


def _infused_days(infusions: Iterable[Infusion], before: datetime) -> float:
    """The days `infusions` ran before `before`, order by order (two orders for the same days
    count twice: only ever more than the cycle ran, never less)."""
    return sum(max(0.0, (min(i.end, before) - i.start).total_seconds()) / 86400 for i in infusions)


def _latest(infusions: Iterable[Infusion]) -> Infusion:
    return max(infusions, key=lambda i: i.end)


def _date(when: datetime) -> str:
    return when.date().isoformat()


def check_cycles(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    settings = knowledge.cycles
    under = item.review
    cycle = under.cycle
    infusions = _infusions(item, knowledge, settings)
    if cycle is None:
        return [emit("cycle-number-unknown", settings.cycle_source, basis=under.cycle_basis)]
    indication = under.indication
    label = knowledge.indication_label(indication)
    values: dict[str, Any] = {
        "cycle": cycle,
        "indication": label,
        "start": _date(under.start),
    }
    findings: list[Emission] = []

    # A coded cycle lower than the history's: the history is what was given, so the rules below
    # judge its cycle (one card for the disagreement, none from the wrong number's arithmetic).
    # Not when the coded cycle is the last on file and the history's is the next only because it
    # was interrupted for over 7 days or is complete: the same-cycle cards say exactly that.
    from_history = cycle_of(under.order) is None
    same = [i for i in infusions if i.cycle == cycle]
    continued = _same_cycle(item, knowledge, same, values) if same else []
    history = under.history_cycle
    if under.by_history and history is not None and not (continued and history == cycle + 1):
        ahead = under.continues_lower_cycle  # coded higher than the cycle it resumes
        findings.append(
            emit(
                "cycle-number-disagrees",
                settings.continued_cycle_over_coded_source
                if ahead
                else settings.history_over_coded_source,
                **values,
                history_cycle=history,
                history=under.history_basis,
                why=f" After an interruption of {settings.max_interruption_days} days or less "
                f"the label continues the same cycle to {settings.default_infusion_days} days of "
                "infusion; a new cycle begins only after those and the treatment-free interval "
                f"(or after an interruption of more than {settings.max_interruption_days} days)."
                if ahead
                else "",
            )
        )
        cycle, from_history = history, True
        values["cycle"] = cycle
        same = [i for i in infusions if i.cycle == cycle]
        continued = _same_cycle(item, knowledge, same, values) if same else []

    numbered = {i.cycle for i in infusions if i.cycle is not None}
    count = max(cycle, len(numbered | {cycle}))
    on_file = max(len(numbered), cycle - 1) if from_history else len(numbered)
    if indication in settings.max_cycles:
        limit = settings.max_cycles[indication]
        basis = f"for {label}"
    else:
        limit = max(settings.max_cycles.values(), key=lambda m: m.cycles)
        basis = "the most any indication allows (the indication is unknown)"
    if count > limit.cycles:
        findings.append(
            emit(
                "cycle-limit-exceeded",
                limit.source,
                **values,
                count=count,
                max=limit.cycles,
                basis=basis,
                history=f"{on_file} earlier cycle{'s' if on_file != 1 else ''} on file",
                # a number the label was not seen to give is not said to be the label's
                allowed="the label allows at most"
                if limit.verified
                else "this service's rule (not verified in the label) allows at most",
            )
        )

    if same:
        findings.extend(continued)
        findings.extend(_too_long(item, knowledge, values, same))
        return findings

    ends: list[tuple[datetime, int]] = []  # when the previous cycle ended, and its number
    before = [i for i in infusions if i.cycle is not None and i.cycle < cycle]
    if before:
        previous = max(i.cycle for i in before if i.cycle is not None)
        ran = [i for i in before if i.cycle == previous]
        # the interval follows a whole cycle; one stopped early (a toxicity, an interruption of
        # over 7 days) is followed by a new cycle once it resolves (label §2.4), with no interval
        if _infused_days(ran, under.start) >= settings.default_infusion_days - 1:
            ends.append((_latest(ran).end, previous))
    # A whole cycle the history does not number (EHR history never carries the cycle extension),
    # as an order, as bag orders or only as the bags the MAR recorded, before a numbered one is
    # the cycle before it; a shorter one may be this cycle, interrupted, which the resumption
    # rules judge, and so is the run this order continues.
    whole = timedelta(days=settings.default_infusion_days - 1)
    resumed = under.resumption
    continues = resumed is not None and resumed.kind in ("continues", "restart-same-cycle")
    runs = _runs_on_file(item, knowledge)
    if continues and runs:
        runs = runs[:-1]
    unnumbered = [i.end for i in infusions if i.cycle is None and i.end - i.start >= whole]
    unnumbered += [end for start, end in runs if end - start >= whole and end <= under.start]
    if unnumbered and cycle > 1:
        ends.append((max(unnumbered), cycle - 1))
    if ends:
        last_end, previous = max(ends)
        required, source = _free_days(knowledge, indication, previous)
        gap = (under.start.date() - last_end.date()).days
        # an end counted from an order's signing is the earliest it can have been: a gap that
        # looks long enough may not be, by up to the days orders are signed ahead
        signed = [i for i in infusions if i.end == last_end and _end_from_signing(i, knowledge)]
        if signed and required <= gap < required + settings.signed_start_lead_days:
            findings.append(
                _unverified(
                    knowledge,
                    values,
                    signed[0],
                    f"When cycle {previous} ended, and so the treatment-free interval,",
                    f"cycle {previous} ended {_date(last_end)}, {_days_text(gap)} before this "
                    f"order ({required} needed)",
                )
            )
        elif gap < required:
            findings.append(
                emit(
                    "cycle-treatment-free-interval",
                    source,
                    **values,
                    previous=previous,
                    last_end=_date(last_end),
                    gap=_days_text(gap),
                    required=required,
                    earliest=_date(last_end + timedelta(days=required)),
                )
            )
    findings.extend(_too_long(item, knowledge, values, infusions))
    return findings


def _same_cycle(
    item: CheckInput, knowledge: Knowledge, same: list[Infusion], values: dict[str, Any]
) -> list[Emission]:
    """An order continuing `same` (the earlier infusions of its cycle): after an interruption of
    more than 7 days, or once their 28 infusion days are complete, it is a new cycle."""
    settings = knowledge.cycles
    under = item.review
    cycle = values["cycle"]
    last = _latest(same)
    gap = (under.start.date() - last.end.date()).days
    if gap > settings.max_interruption_days and _end_from_signing(last, knowledge):
        # an end counted from a signing is the earliest it can have been: the gap may be shorter
        return [
            _unverified(
                knowledge,
                values,
                last,
                f"Whether cycle {cycle} was interrupted for more than "
                f"{settings.max_interruption_days} days",
                f"its infusion ended {_date(last.end)}, {_days_text(gap)} before this order",
            )
        ]
    if gap > settings.max_interruption_days:
        return [
            emit(
                "cycle-interruption-new-cycle",
                settings.interruption_source,
                **values,
                gap=_days_text(gap),
                last_end=_date(last.end),
                max_gap=settings.max_interruption_days,
                next=cycle + 1,
                restart=_new_cycle_text(knowledge, under.indication, cycle + 1),
            )
        ]
    complete = _infused_days(same, under.start) >= settings.default_infusion_days
    signed = [i for i in same if _signed_only(i)]
    if complete and signed:  # counted from a signing: it may have had fewer days
        return [
            _unverified(
                knowledge,
                values,
                signed[0],
                f"Whether cycle {cycle} already had its {settings.default_infusion_days} "
                "infusion days",
                f"its orders cover {settings.default_infusion_days} days or more before this one",
            )
        ]
    if complete:
        return [
            emit(
                "cycle-already-complete",
                settings.cycle_source,
                **values,
                days=settings.default_infusion_days,
                first=_date(min(i.start for i in same)),
                last_end=_date(last.end),
                basis=under.cycle_basis,
            )
        ]
    return []


def _runs_on_file(item: CheckInput, knowledge: Knowledge) -> list[tuple[datetime, datetime]]:
    """Blinatumomab as the orders on file and the MedicationAdministrations show it, before this
    order, bags joined across a bag change: (start, end) of each run of infusion."""
    tolerance = timedelta(hours=float(knowledge.interruptions.bag_change_tolerance_hours))
    earlier = earlier_blinatumomab_orders(item.patient, knowledge, excluding=item.review.order)
    periods = infusion_periods(item.patient, knowledge, earlier)
    periods += [
        Period(i.start, i.end, i.order.resource)
        for i in _infusions(item, knowledge, knowledge.cycles)
        if i.order.status == "draft"
    ]
    runs: list[tuple[datetime, datetime]] = []
    for given in sorted(periods, key=lambda p: p.start):
        if given.start >= item.review.start or not item.review.in_course(given.start):
            continue
        if runs and given.start - runs[-1][1] <= tolerance:
            runs[-1] = (runs[-1][0], max(runs[-1][1], given.end))
        else:
            runs.append((given.start, given.end))
    return runs


def _too_long(
    item: CheckInput, knowledge: Knowledge, values: dict[str, Any], earlier: list[Infusion]
) -> list[Emission]:
    """Items 3-4 of issue 15: a resumed order longer than the days its cycle has left, and an
    order running past day 28 of its cycle (no treatment-free interval). `earlier`: the
    infusions that may be the cycle it resumes."""
    resumed = item.review.resumption
    if resumed is None or not resumed.order_too_long:
        return []
    rules = knowledge.interruptions
    end = item.review.start + timedelta(days=float(resumed.infusion_days_left))
    ordered_end = end + timedelta(days=float(resumed.overrun_days))
    if resumed.kind in ("continues", "restart-same-cycle") and end.date() >= ordered_end.date():
        # no calendar day to take off: the card would suggest the end the order already has (a
        # cycle's first order says where day 28 ends, not an end to take)
        return []
    overrun = _days_text(resumed.overrun_days)
    if resumed.kind == "restart-same-cycle" and resumed.gap is not None:
        # its cycle's infusions: those ending after the days used began (and one gap before)
        began = item.review.start - resumed.gap - timedelta(days=float(resumed.infusion_days_used))
        began -= timedelta(days=rules.max_interruption_days)
        signed = [i for i in earlier if i.end > began and _signed_only(i)]
        if signed:
            return [
                _unverified(
                    knowledge,
                    values,
                    signed[0],
                    f"The days of cycle {values['cycle']} left",
                    f"{_days_text(resumed.infusion_days_used)} were given and "
                    f"{_days_text(resumed.infusion_days_left)} are left, and this order runs "
                    f"{overrun} longer",
                )
            ]
        return [
            emit(
                "cycle-resume-too-long",
                rules.interruption_source,
                **values,
                gap=_duration_text(resumed.gap),
                days_used=_days_text(resumed.infusion_days_used),
                days_left=_days_text(resumed.infusion_days_left),
                overrun=overrun,
                last_day=_date(end),
            )
        ]
    if resumed.kind in ("first-infusion", "new-cycle"):
        free, _ = _free_days(knowledge, item.review.indication, values["cycle"])
        return [
            emit(
                "cycle-runs-past-day-28",
                rules.infusion_days_source,
                **values,
                end=_date(end),
                overrun=overrun,
                free_days=free,
            )
        ]
    return []


def _days_text(days: int | float | Decimal) -> str:
    """ "1 day", "3 days", "2.5 days" (never "1 days")."""
    number = format_number(Decimal(str(days)).quantize(Decimal("0.1")))
    return f"{number} day" if number == "1" else f"{number} days"


def _duration_text(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours < 24:
        return f"{format_number(Decimal(str(hours)).quantize(Decimal('0.1')))} hours"
    return _days_text(Decimal(str(hours / 24)))


def _new_cycle_text(knowledge: Knowledge, indication: str | None, cycle: int) -> str:
    """What a new cycle begins with: its step-up only when its schedule has one (R/R cycle 1)."""
    schedules = [
        s
        for s in knowledge.dose.schedules
        if (indication is None or s.indication == indication) and s.cycles.contains(cycle)
    ]
    if any(len(s.steps) > 1 for s in schedules):
        return "with its step-up dose, premedication and supervision"
    return "with the premedication and supervision of a cycle start"


CHECK = Check(
    topic=TOPIC,
    verifies="the cycle count and the treatment-free interval",
    requires=frozenset({"medications"}),
    run=check_cycles,
    findings=FINDINGS,
)


def infusions_read(item: CheckInput, knowledge: Knowledge) -> list[Infusion]:
    """What this check reads, for the sandbox page: the earlier infusions, in time order."""
    return sorted(_infusions(item, knowledge, knowledge.cycles), key=lambda i: i.start)
