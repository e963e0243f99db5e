"""Premedication check (card topic `premedication`; label §2.2-2.5).

At signing, the glucocorticoid for the order's FIRST dose must be ordered: in the same draft orders,
or as an active order timed for it. It is read as written (`cds.corticosteroids`): any steroid of
the equivalence table for adults (dexamethasone only for children), in mg, mg/m² (with the BSA),
mL or tablets (with the coded product's strength). Missing -> a warning with the right
dexamethasone order to add; too low -> a warning that offers to replace the low order; a dose that
cannot be read -> a warning that says why (never counted as 0 mg); enough, but by mouth where the
label's premedication is IV (premedication.yaml `oral_accepted`) -> a warning that says the route
is not the label's; none timed for the first dose but one timed just after the start (within
`late_within_hours_after`) -> a warning that it is timed after the start, not "none ordered". A
step dose is an info reminder where the indication's premedication events include it: the order
stepping up inside itself (R/R cycle 1 day 8, or the escalation to 28 mcg/day after a restart at
9), or the day-8 step-up as its own order signed with the cycle's first days (a step-up written as
two orders gets the cards of one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cds import corticosteroids
from cds.checks import Check, CheckInput
from cds.corticosteroids import SteroidDose
from cds.dosing import (
    BsaNeeded,
    DoseNotComputable,
    body_surface_area,
    latest_measurement,
    ordered_mcg_per_day,
    ordered_mcg_per_m2_per_day,
)
from cds.findings import Declarations, Emission, ProposedAction, declare, emit
from cds.knowledge import Knowledge
from cds.knowledge.models import Event, PremedicationRules
from cds.orders import (
    counted_administrations,
    dosage_spans,
    earlier_blinatumomab_orders,
    is_blinatumomab,
)
from cds.patient import DoseInstruction, MedicationOrder, memoized
from cds.restarts import mentions_restart, restart_of
from cds.suggestions import dexamethasone_order, hours_text
from cds.units import format_number

TOPIC = "premedication"
_PREMEDICATION = ("event", "required", "suggested", "who", "bsa", "medications")
FINDINGS: Declarations = {
    "premedication-age-unknown": declare("warning"),
    "premedication-step-up-reminder": declare("info", "dose", "when", "suggested"),
    "premedication-step-up-order-reminder": declare("info", "dose", "first", "suggested"),
    "premedication-missing": declare("warning", *_PREMEDICATION, "asked"),
    "premedication-not-dexamethasone": declare("warning", *_PREMEDICATION, "written", "asked"),
    "premedication-restart-unverified": declare("warning", *_PREMEDICATION, "stopped"),
    "premedication-low-dose": declare("warning", *_PREMEDICATION, "ordered", "written"),
    "premedication-dose-unreadable": declare("warning", *_PREMEDICATION, "orders"),
    "premedication-dose-not-verified": declare("warning", *_PREMEDICATION, "ordered", "written"),
    "premedication-route-not-label": declare(
        "warning", *_PREMEDICATION, "ordered", "written", "identified"
    ),
    "premedication-timed-after-start": declare(
        "warning", *_PREMEDICATION, "written", "timed", "start", "late"
    ),
    "premedication-timed-too-early": declare(
        "warning", *_PREMEDICATION, "written", "timed", "start", "early"
    ),
}


def has_step_up(knowledge: Knowledge, indication: str | None, cycle: int | None) -> bool:
    """Whether the order's schedule steps the dose up (R/R cycle 1); unknown indication or
    cycle: whether any schedule still possible does."""
    return any(
        len(s.steps) > 1
        for s in knowledge.dose.schedules
        if (indication is None or s.indication == indication)
        and (cycle is None or s.cycles.contains(cycle))
    )


def _first_event(
    item: CheckInput, settings: PremedicationRules, knowledge: Knowledge
) -> Event | None:
    """The event the order's first dose is: a restart (after an interruption, or after a toxicity
    per restarts.yaml), a cycle start, or the day-8 step-up of a schedule that has one."""
    order = item.review.order
    resumed = item.review.resumption  # a restart after >= 4 h: premedicate as at a cycle start
    if resumed is not None and resumed.needs_restart_premedication:
        return "restart"
    if resumed is not None and resumed.kind == "new-cycle":  # after > 7 days or a whole cycle
        return "cycle-start"
    # the MAR dates a gap under 4 h: a "Resume ..." note does not make it a restart (red team 5 #8)
    dated = _gap_dated_by_administrations(item, knowledge)
    if not dated and mentions_restart(order, knowledge.restarts):
        return "restart"
    restart = restart_of(order, knowledge)
    if restart is not None and not (dated and restart.how_marked == "in the order's note"):
        return "restart"
    cycle, _, cycle_day = item.review.judged_cycle  # the history's cycle if the order's is lower
    if cycle_day == 1 and not _revises_a_begun_order(item) and not item.review.resumes_its_cycle:
        return "cycle-start"
    if cycle_day == settings.step_up_day and has_step_up(knowledge, item.review.indication, cycle):
        return "step-up"
    if _escalates(item, knowledge):
        return "step-up"
    return None


def _gap_dated_by_administrations(item: CheckInput, knowledge: Knowledge) -> bool:
    """Whether the infusion this order continues (a bag change, or a restart after under 4 h)
    ended at a time an administration on file records (effectivePeriod.end): then the measured
    gap, not a restart word in the note, says whether premedication is due. An end the service
    guessed (a bag's length, an order's plan) leaves the note its say."""
    resumed, start = item.review.resumption, item.review.start
    if resumed is None or resumed.gap is None or resumed.needs_restart_premedication:
        return False
    if resumed.kind not in ("continues", "restart-same-cycle"):
        return False
    ended = start - resumed.gap
    return any(
        given.end is not None and began < start and given.end >= ended
        for given, began in counted_administrations(item.patient, knowledge)
    )


def _daily(
    dosage: DoseInstruction, bsa: Decimal | None, knowledge: Knowledge
) -> tuple[str, Decimal] | None:
    """A blinatumomab dosage's dose a day, in mcg (or mcg/m² when per m² without a BSA)."""
    try:
        return "mcg/day", ordered_mcg_per_day(dosage, bsa, knowledge)
    except BsaNeeded:
        try:
            return "mcg/m²/day", ordered_mcg_per_m2_per_day(dosage)
        except DoseNotComputable:
            return None
    except DoseNotComputable:
        return None


def _escalates(item: CheckInput, knowledge: Knowledge) -> bool:
    """Whether the order's first dose is higher than the dose of the infusion it continues (a
    bag change or a restart under 4 h): a step dose written as its own order, such as the
    escalation to 28 mcg/day after 7 days of a restart at 9 (label §2.4: premedicate before a
    step dose). The running dose is the dosage on file (or signed with it) whose span covers the
    end of that infusion; unknown doses step nothing."""
    resumed, review = item.review.resumption, item.review
    if resumed is None or resumed.gap is None:
        return False
    if resumed.kind not in ("continues", "restart-same-cycle"):
        return False
    ended = review.start - resumed.gap
    orders = earlier_blinatumomab_orders(item.patient, knowledge, excluding=review.order)
    orders += [
        o
        for o in item.draft_orders
        if o.resource != review.order.resource and is_blinatumomab(o, knowledge)
    ]
    running = [
        (begin, dosage)
        for o in orders
        if (first := o.first_start()) is not None and first < review.start
        for dosage, begin, end in dosage_spans(o, first)
        if begin < ended and (end is None or end >= ended)
    ]
    own = dosage_spans(review.order, review.start)
    if not running or not own:
        return False
    bsa = _bsa(item, knowledge)
    before = _daily(max(running, key=lambda pair: pair[0])[1], bsa, knowledge)
    now = _daily(own[0][0], bsa, knowledge)
    return before is not None and now is not None and before[0] == now[0] and now[1] > before[1]


def _revises_a_begun_order(item: CheckInput) -> bool:
    """A revision (priorPrescription) of an order on file that began at this order's start, a
    start already past: its first dose was given under that order, premedicated or not then."""
    review = item.review
    replaced = next(
        (o for o in item.patient.medication_orders if o.resource == review.order.replaces), None
    )
    began = replaced.first_start() if replaced is not None else None
    return began is not None and began <= review.start < item.now


@dataclass(frozen=True)
class Premedication:
    """A counted premedication order and its dose as written."""

    order: MedicationOrder
    dose: SteroidDose


def _premedications(
    item: CheckInput, knowledge: Knowledge, bsa: Decimal | None, children: bool
) -> list[Premedication]:
    """The counted glucocorticoid orders for the first dose: in the draft orders (timed within
    the (local-policy) window before the start, or not timed at all), or active and timed in it."""
    settings = knowledge.premedication
    start = item.review.start
    earliest = start - timedelta(hours=settings.timed_within_hours_before)
    latest = _start_at_the_latest(item.review.order, start)
    # a start the order does not give is the signing time, a guess: then no draft is timed for
    # another dose
    dated = item.review.order.planned_start() is not None
    candidates = [
        o
        for o in item.draft_orders
        if o.resource != item.review.order.resource
        and not (dated and _timed_for_another_dose(o, earliest, latest))
    ]
    for order in _steroids_on_file(item, knowledge):
        # an order on hold is not being given
        if order.status == "active" and _timed_within(order, earliest, latest):
            candidates.append(order)
    return _counted(candidates, knowledge, bsa, children)


def _mistimed_premedication(
    item: CheckInput, knowledge: Knowledge, bsa: Decimal | None, children: bool
) -> tuple[Premedication, datetime] | None:
    """The glucocorticoid (draft, or active on file) timed nearest the first dose's start outside
    the counted window but close enough to be meant for it, with that time: up to
    `early_within_hours_before` before the start (the previous afternoon) or
    `late_within_hours_after` after it. Called when none is timed for the first dose. An order
    whose start is only the signing time has no start to be early or late for."""
    order, start = item.review.order, item.review.start
    if order.planned_start() is None:
        return None
    settings = knowledge.premedication
    latest = _start_at_the_latest(order, start)
    earliest = start - timedelta(hours=settings.timed_within_hours_before)
    early_from = start - timedelta(hours=settings.early_within_hours_before)
    until = latest + timedelta(hours=settings.late_within_hours_after)
    candidates = [o for o in item.draft_orders if o.resource != order.resource]
    candidates += [o for o in _steroids_on_file(item, knowledge) if o.status == "active"]
    timed = [
        (premedication, end if end < earliest else begin)
        for premedication in _counted(candidates, knowledge, bsa, children)
        for begin, end in _planned_times(premedication.order)
        if early_from <= end < earliest or latest < begin <= until
    ]
    return min(timed, key=lambda pair: abs(pair[1] - start), default=None)


def _after_text(delta: timedelta) -> str:
    """How long before or after the start, as a card says it: "30 minutes", "2.5 hours"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    return f"{format_number(Decimal(minutes) / 60, '0.1')} hours"


def _steroids_on_file(item: CheckInput, knowledge: Knowledge) -> list[MedicationOrder]:
    """The chart's orders `_counted` may count (a glucocorticoid, ordered, not all as needed),
    found once a call: each order under review then times only these."""
    rules = knowledge.corticosteroids
    return memoized(
        item.patient.memo,
        "steroid-orders",
        knowledge,
        lambda: [
            o
            for o in item.patient.medication_orders
            if corticosteroids.identify(o.codes, o.text, rules) is not None
            and o.intent not in NOT_AN_ORDER
            and not (o.dosages and all(d.as_needed for d in o.dosages))
        ],
    )


def _start_at_the_latest(order: MedicationOrder, start: datetime) -> datetime:
    """An order whose start is a date alone ("2026-03-02") starts some time that day: a
    premedication timed that morning is not after it."""
    on_a_day = any(
        d.bounds_start_is_date and d.bounds_start == order.planned_start() for d in order.dosages
    )
    return start + timedelta(days=1) if on_a_day else start


def _planned_times(order: MedicationOrder) -> list[tuple[datetime, datetime]]:
    """When an order says its doses are given, as (from, to) spans: each timing event (a
    dexamethasone order for days 1 and 8 has two), and each dosage's bounds (a daily order from
    the day before to the day after); [] when it says nothing of time."""
    spans: list[tuple[datetime, datetime]] = memoized(
        order.memo,
        "planned-times",
        None,
        lambda: (
            [(t, t) for d in order.dosages for t in d.events]
            + [span for d in order.dosages for span in _bounds_times(d)]
        ),
    )
    return list(spans)


_MAX_DAYS_TIMED = 400  # a chronic steroid's days enough to time; not a year-9999 bounds end


def _bounds_times(dosage: DoseInstruction) -> list[tuple[datetime, datetime]]:
    """A dosage's bounds as the times its doses are given: each day's timeOfDay inside them (in
    the bounds' own offset: "at 11:00" on 03-02 is 03-02 11:00, not its midnight), else the
    bounds themselves; [] without a bounds start. Bounds without an end: their first day."""
    begin = dosage.bounds_start
    if begin is None:
        return []
    end = dosage.bounds_end or begin
    if not dosage.times_of_day:
        return [(begin, end)]
    last = dosage.bounds_end or begin + timedelta(days=1) - timedelta(microseconds=1)
    times = [
        (at, at)
        for day in range(min((last.date() - begin.date()).days + 1, _MAX_DAYS_TIMED))
        for clock in dosage.times_of_day
        if begin
        <= (at := datetime.combine(begin.date() + timedelta(days=day), clock, begin.tzinfo))
        <= last
    ]
    return times or [(begin, end)]


def _timed_within(order: MedicationOrder, earliest: datetime, latest: datetime) -> bool:
    """Whether the order is timed in [earliest, latest]; one that says nothing of time, when it
    was written."""
    spans = _planned_times(order)
    if not spans and order.authored_on is not None:
        spans = [(order.authored_on, order.authored_on)]
    return any(begin <= latest and end >= earliest for begin, end in spans)


def _timed_for_another_dose(order: MedicationOrder, earliest: datetime, start: datetime) -> bool:
    """A draft timed only after the blinatumomab start premedicates a later dose (the day-8
    step-up, a day-3 dose), one timed only before `earliest` an earlier one: not this order's
    first dose. A draft that says nothing of time is signed for this infusion: it counts."""
    return bool(_planned_times(order)) and not _timed_within(order, earliest, start)


def _steps_up_at(order: MedicationOrder, start: datetime) -> datetime | None:
    """When the order itself steps its dose up: the start of its first dosage higher than the
    first one, in the same unit (the day-8 step-up of R/R cycle 1; the escalation to 28 mcg/day
    after a restart at 9, label §2.4: "a step dose" either way); None when it does not."""
    spans = dosage_spans(order, start)
    first = spans[0][0] if spans else None
    if first is None or first.amount is None:
        return None
    return next(
        (
            begin
            for dosage, begin, _ in spans[1:]
            if dosage.unit == first.unit
            and dosage.amount is not None
            and dosage.amount > first.amount
        ),
        None,
    )


def _step_up_premedicated(
    item: CheckInput, knowledge: Knowledge, children: bool, step_up: datetime
) -> bool:
    """Whether a glucocorticoid is already ordered (draft or active) for the day-8 step-up: timed
    within the window before it. Then the reminder has nothing to remind."""
    settings = knowledge.premedication
    earliest = step_up - timedelta(hours=settings.timed_within_hours_before)
    latest = _start_at_the_latest(item.review.order, step_up)
    timed = [
        o
        for o in (*item.draft_orders, *_steroids_on_file(item, knowledge))
        if o.status in ("draft", "active") and _timed_within(o, earliest, latest)
    ]
    return bool(_counted(timed, knowledge, _bsa(item, knowledge), children))


# MedicationRequest intents that order nothing (FHIR R4 request-intent): a proposal or a plan
NOT_AN_ORDER = frozenset({"proposal", "plan"})


def _counted(
    candidates: list[MedicationOrder], knowledge: Knowledge, bsa: Decimal | None, children: bool
) -> list[Premedication]:
    found = []
    for order in candidates:
        if order.intent in NOT_AN_ORDER or (
            order.dosages and all(d.as_needed for d in order.dosages)
        ):
            continue  # a suggestion, or a steroid kept for when CRS comes: nothing is given before
        if is_blinatumomab(order, knowledge):
            continue  # "blinatumomab 9 mcg/day, premedicate with dexamethasone" orders none
        dose = _steroid_dose(order, bsa, knowledge)
        if dose is not None and (not children or dose.drug == "dexamethasone"):
            found.append(Premedication(order, dose))
    return found


def _steroid_dose(
    order: MedicationOrder, bsa: Decimal | None, knowledge: Knowledge
) -> SteroidDose | None:
    """`corticosteroids.order_dose`, once a call for each order (each order under review counts
    the same premedications)."""
    return memoized(
        order.memo,
        f"steroid-dose {bsa}",
        knowledge,
        lambda: corticosteroids.order_dose(order, bsa, knowledge.corticosteroids),
    )


def _written(premedication: Premedication, knowledge: Knowledge) -> str:
    """The order as written, e.g. "methylprednisolone 40 mg", "dexamethasone 4–20 mg",
    "dexamethasone 5 tablets" (not "5 {tbl}")."""
    dosages = premedication.order.ordered_dosages()
    first = dosages[0] if dosages else None
    if first is None or first.amount is None or not first.unit:
        return premedication.dose.drug
    amount = format_number(first.amount)
    if first.is_range and first.amount_low is not None:
        amount = f"{format_number(first.amount_low)}–{amount}"
    unit = first.unit
    if corticosteroids.is_tablet_unit(unit, knowledge.corticosteroids):
        unit = "tablet" if first.amount == 1 and not first.is_range else "tablets"
    return f"{premedication.dose.drug} {amount} {unit}"


def _bsa(item: CheckInput, knowledge: Knowledge) -> Decimal | None:
    """The BSA the dose check doses by (`cds.dosing.body_surface_area`; None: unknown)."""
    weight = latest_measurement(item.patient, knowledge, "body_weight", "kg", item.now)
    return body_surface_area(item.patient, knowledge, weight, item.now)[0]


def _mg(amount: Decimal) -> str:
    return f"{format_number(amount, '0.1')} mg"


def _asked(
    knowledge: Knowledge, children: bool, indication: str | None, dose_text: str, sized: bool
) -> str:
    """The premedication the label asks for this population, as a card says it: a child's
    dexamethasone by BSA (IV or by mouth), MRD-positive adults' "prednisone 100 mg or
    equivalent", other adults' dexamethasone 20 mg IV (red team 5 #10: a child's card spoke of
    MRD-positive adults' prednisone)."""
    settings = knowledge.premedication
    if children:
        child = settings.children
        rule = f"{format_number(child.mg_per_m2)} mg/m², max {format_number(child.max_mg)} mg"
        return f"dexamethasone {dose_text}{f' ({rule})' if sized else ''} IV or by mouth"
    if settings.adults[indication or "unknown"].suggest_label_example:  # type: ignore[index]
        example = knowledge.corticosteroids.label_example
        prednisone, dexamethasone = _mg(example.prednisone_mg), _mg(example.dexamethasone_mg)
        return f"prednisone {prednisone} or equivalent (e.g. dexamethasone {dexamethasone})"
    return f"dexamethasone {dose_text} IV"


def _order_dexamethasone(
    item: CheckInput,
    knowledge: Knowledge,
    mg: Decimal | None,
    start: datetime,
    step_up: bool = False,
) -> tuple[ProposedAction, ...]:
    """The one-click fix of a missing premedication: dexamethasone `mg` IV, the label's hour
    before `start` (the first dose, or the step-up); none when the dose is unknown (a child's
    BSA)."""
    if mg is None:
        return ()
    hours = knowledge.premedication.given_hours_before_start
    before = "the blinatumomab step-up dose" if step_up else "blinatumomab"
    resource = dexamethasone_order(
        knowledge, item.patient.patient_id, mg, hours, start, item.now, before
    )
    text = f"dexamethasone {_mg(mg)} IV {hours_text(hours)} before"
    return (ProposedAction("create", f"Order {text}{' the step-up' if step_up else ''}", resource),)


def _mistimed_card(
    item: CheckInput,
    settings: PremedicationRules,
    mistimed: tuple[Premedication, datetime],
    offer: Callable[[MedicationOrder | None], tuple[ProposedAction, ...]],
    values: dict[str, Any],
    knowledge: Knowledge,
) -> Emission:
    """The card for a glucocorticoid timed too early or after the start, with how far from it;
    a start given as a day alone is "at least" that far (it may be any time that day)."""
    (premedication, timed), review = mistimed, item.review
    latest = _start_at_the_latest(review.order, review.start)
    on_a_day = latest != review.start
    start = review.start.strftime("%Y-%m-%d" + (" (no time given)" if on_a_day else " %H:%M"))
    early = timed < review.start
    apart = ("at least " if on_a_day else "") + _after_text(
        review.start - timed if early else timed - latest
    )
    said: dict[str, Any] = {
        **values,
        "written": f"{_written(premedication, knowledge)} (`{premedication.order.resource}`)",
        "timed": timed.astimezone(review.start.tzinfo).strftime("%Y-%m-%d %H:%M"),
        "start": start,
        "early" if early else "late": apart,
    }
    if early:
        return emit(
            "premedication-timed-too-early",
            settings.early_source,
            actions=offer(premedication.order),
            **said,
        )
    return emit(
        "premedication-timed-after-start",
        settings.late_source,
        actions=offer(premedication.order),
        **said,
    )


def check_premedication(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    settings = knowledge.premedication
    review = item.review
    ages = item.patient.age_years_range(review.start.date())
    # a year-only birth date gives two possible ages: decided when both fall on one side
    if ages is None or (ages[0] < settings.adult_age_years) != (ages[1] < settings.adult_age_years):
        return [emit("premedication-age-unknown", settings.adult_age_source)]
    age = ages[0]
    children = age < settings.adult_age_years
    findings: list[Emission] = []
    event = _first_event(item, settings, knowledge)
    # continuing an order that may have stopped long ago: premedicate as for a restart, unless
    # the chart shows it is not needed (said as such when none is ordered)
    possible_restart = event is None and review.stop_unknown is not None
    if possible_restart:
        event = "restart"
    bsa = _bsa(item, knowledge)
    required: Decimal | None
    suggested: Decimal | None
    if children:
        child = settings.children
        cycle = review.judged_cycle[0]
        in_scope = cycle is None or cycle in child.cycles
        events, source = (child.events if in_scope else []), child.source
        oral_accepted = child.oral_accepted
        required = (
            min(child.mg_per_m2 * bsa, child.max_mg).quantize(Decimal("0.1")) if bsa else None
        )
        suggested = required
    else:
        adult = settings.adults[review.indication or "unknown"]  # type: ignore[index]
        events, source, required = adult.events, adult.source, adult.mg
        oral_accepted = adult.oral_accepted
        example = knowledge.corticosteroids.label_example.dexamethasone_mg
        suggested = max(required, example) if adult.suggest_label_example else required
    # the phrase a card says, unit included: "20 mg", or "5 mg/m² (max 20 mg)" without a BSA
    dose_text = _mg(required) if required is not None else settings.children.dose_text
    asked = _asked(knowledge, children, review.indication, dose_text, required is not None)
    suggested_text = _mg(suggested) if suggested is not None else dose_text
    step_up_at = _steps_up_at(review.order, review.start)
    if (
        event in ("cycle-start", "restart")
        and "step-up" in events
        and step_up_at is not None
        and not _step_up_premedicated(item, knowledge, children, step_up_at)
    ):
        stepped = step_up_at.astimezone(review.start.tzinfo).date()  # in the start's zone
        day = (stepped - review.start.date()).days + 1
        findings.append(
            emit(
                "premedication-step-up-reminder",
                source,
                actions=_order_dexamethasone(item, knowledge, suggested, step_up_at, True),
                dose=dose_text,
                when=f"{stepped.isoformat()} (day {day} of this order)",
                suggested=suggested_text,
            )
        )
    if event == "step-up" and review.follows_draft is not None:  # signed a week ahead
        if "step-up" in events and not _step_up_premedicated(
            item, knowledge, children, review.start
        ):
            findings.append(
                emit(
                    "premedication-step-up-order-reminder",
                    source,
                    actions=_order_dexamethasone(item, knowledge, suggested, review.start, True),
                    dose=dose_text,
                    first=review.follows_draft,
                    suggested=suggested_text,
                )
            )
        return findings
    if event is None or event not in events:
        return findings
    found = _premedications(item, knowledge, bsa, children)
    values: dict[str, Any] = {
        "event": {
            "cycle-start": "the first dose of the cycle",
            "step-up": f"the day-{settings.step_up_day} step-up dose"
            if review.judged_cycle[2] == settings.step_up_day
            else "the step-up to a higher dose than the infusion it follows",
            "restart": "a possible restart after an interruption"
            if possible_restart
            else "the restart after an interruption",
        }[event],
        "required": dose_text,
        "suggested": suggested_text,
        "who": f"child {age} years" if children else "adult",
        "bsa": f"{format_number(bsa, '0.1')} m²" if bsa else "unknown",
        "medications": "could not be read: " + item.patient.unavailable["medications"]
        if "medications" in item.patient.unavailable
        else "read",
    }
    readable = [p for p in found if p.dose.dexamethasone_mg is not None]
    unreadable = [p for p in found if p.dose.unreadable is not None]
    enough = None if required is None else required * (1 - settings.tolerance_below_percent / 100)
    best = max(readable, key=lambda p: p.dose.dexamethasone_mg or 0, default=None)
    best_mg = best.dose.dexamethasone_mg if best is not None else None
    if best is not None and best_mg is not None and enough is None:
        if best_mg < settings.children.max_mg:  # a child's BSA unknown: below the cap, unverified
            findings.append(
                emit(
                    "premedication-dose-not-verified",
                    source,
                    **values,
                    ordered=_mg(best_mg),
                    written=_written(best, knowledge),
                )
            )
        return findings

    def offer(replacing: MedicationOrder | None) -> tuple[ProposedAction, ...]:
        created = _order_dexamethasone(item, knowledge, suggested, review.start)
        if replacing is None or not created or not replacing.named_by_ehr:
            return created  # an order of a name of ours: the card says which to stop
        resource = {**(created[0].resource or {}), "id": replacing.id}
        text = created[0].description.removeprefix("Order ")
        return (
            ProposedAction(
                "update", f"Replace {replacing.resource} with {text}", resource, replacing.resource
            ),
        )

    if best_mg is not None and enough is not None and best_mg >= enough:
        enough_orders = [p for p in readable if (p.dose.dexamethasone_mg or 0) >= enough]
        if oral_accepted or not all(p.dose.oral for p in enough_orders):
            return findings  # enough as written, by a route the label's premedication has
        oral = enough_orders[0]  # enough, but only by mouth: the label's is IV
        findings.append(
            emit(
                "premedication-route-not-label",
                source,
                actions=offer(oral.order),
                **values,
                ordered=_mg(oral.dose.dexamethasone_mg or Decimal(0)),
                written=_written(oral, knowledge),
                identified=oral.dose.how_identified,
            )
        )
        return findings
    # a child's prednisolone or methylprednisolone: named, and offered to be replaced (red team 4
    # item 4: "none was found" beside it, and a second steroid added)
    others = [
        p
        for p in (_premedications(item, knowledge, bsa, False) if children and not found else [])
        if p.dose.drug != "dexamethasone"
    ]
    mistimed = None if found or others else _mistimed_premedication(item, knowledge, bsa, children)

    if unreadable:
        findings.append(
            emit(
                "premedication-dose-unreadable",
                knowledge.corticosteroids.factor_source,
                **values,
                orders="; ".join(
                    f"{_written(p, knowledge)} (`{p.order.resource}`): {p.dose.unreadable}"
                    for p in unreadable
                ),
            )
        )
    elif others:
        findings.append(
            emit(
                "premedication-not-dexamethasone",
                source,
                actions=offer(others[0].order),
                **values,
                written=" and ".join(_written(p, knowledge) for p in others),
                asked=asked,
            )
        )
    elif mistimed is not None:
        findings.append(_mistimed_card(item, settings, mistimed, offer, values, knowledge))
    elif (best is None or best_mg is None) and possible_restart:
        findings.append(
            emit(
                "premedication-restart-unverified",
                knowledge.interruptions.restart_source,
                actions=offer(None),
                **values,
                stopped=f"`{review.stop_unknown}`",
            )
        )
    elif best is None or best_mg is None:
        findings.append(
            emit("premedication-missing", source, actions=offer(None), **values, asked=asked)
        )
    else:
        findings.append(
            emit(
                "premedication-low-dose",
                settings.tolerance_source,
                actions=offer(best.order),
                **values,
                ordered=_mg(best_mg),
                written=_written(best, knowledge),
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
