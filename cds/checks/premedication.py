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

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cds import corticosteroids
from cds.checks import Check, CheckInput
from cds.corticosteroids import SteroidDose
from cds.dosing import body_surface_area, latest_measurement
from cds.findings import Declarations, Emission, ProposedAction, declare, emit
from cds.knowledge import Knowledge
from cds.knowledge.models import Event, PremedicationRules
from cds.orders import dosage_spans
from cds.patient import MedicationOrder, memoized
from cds.restarts import mentions_restart, restart_of
from cds.suggestions import dexamethasone_order, hours_text
from cds.units import format_number

TOPIC = "premedication"
_PREMEDICATION = ("event", "required", "suggested", "who", "bsa", "medications")
FINDINGS: Declarations = {
    "premedication-age-unknown": declare("warning"),
    "premedication-step-up-reminder": declare("info", "dose", "when"),
    "premedication-step-up-order-reminder": declare("info", "dose", "first"),
    "premedication-missing": declare("warning", *_PREMEDICATION),
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
    if mentions_restart(order, knowledge.restarts):
        return "restart"
    if restart_of(order, knowledge) is not None:
        return "restart"
    cycle, _, cycle_day = item.review.judged_cycle  # the history's cycle if the order's is lower
    if cycle_day == 1 and not _revises_a_begun_order(item):
        return "cycle-start"
    if cycle_day == settings.step_up_day and has_step_up(knowledge, item.review.indication, cycle):
        return "step-up"
    return None


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
    """The counted glucocorticoid orders for the first dose: in the draft orders (unless timed
    after the start), or active and timed within the (local-policy) window before the start."""
    settings = knowledge.premedication
    start = item.review.start
    earliest = start - timedelta(hours=settings.timed_within_hours_before)
    latest = _start_at_the_latest(item.review.order, start)
    # a start the order does not give is the signing time, a guess: then no draft is timed for
    # another dose
    dated = item.review.order.planned_start() is not None
    drafts_from = start - timedelta(hours=settings.draft_timed_within_hours_before)
    candidates = [
        o
        for o in item.draft_orders
        if o.resource != item.review.order.resource
        and not (dated and _timed_for_another_dose(o, drafts_from, latest))
    ]
    for order in _steroids_on_file(item, knowledge):
        # an order on hold is not being given
        if order.status == "active" and _timed_within(order, earliest, latest):
            candidates.append(order)
    return _counted(candidates, knowledge, bsa, children)


def _late_premedications(
    item: CheckInput, knowledge: Knowledge, bsa: Decimal | None, children: bool
) -> list[tuple[Premedication, datetime]]:
    """The glucocorticoids (draft, or active on file) timed after the first dose's start, but
    within `late_within_hours_after` of it, with the first such time: meant for this infusion and
    timed too late (the label: 1 hour before). Called when none is timed for the first dose. An
    order whose start is only the signing time has no start to be late for."""
    order = item.review.order
    if order.planned_start() is None:
        return []
    latest = _start_at_the_latest(order, item.review.start)
    until = latest + timedelta(hours=knowledge.premedication.late_within_hours_after)
    candidates = [o for o in item.draft_orders if o.resource != order.resource]
    candidates += [o for o in _steroids_on_file(item, knowledge) if o.status == "active"]
    late = []
    for premedication in _counted(candidates, knowledge, bsa, children):
        times = [b for b, _ in _planned_times(premedication.order) if latest < b <= until]
        if times:
            late.append((premedication, min(times)))
    return sorted(late, key=lambda pair: pair[1])


def _after_text(delta: timedelta) -> str:
    """How long after the start, as a card says it: "30 minutes", "2.5 hours"."""
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
            + [
                (d.bounds_start, d.bounds_end or d.bounds_start)
                for d in order.dosages
                if d.bounds_start
            ]
        ),
    )
    return list(spans)


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
                dose=dose_text,
                when=f"{stepped.isoformat()} (day {day} of this order)",
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
                    dose=dose_text,
                    first=review.follows_draft,
                )
            )
        return findings
    if event is None or event not in events:
        return findings
    found = _premedications(item, knowledge, bsa, children)
    values: dict[str, Any] = {
        "event": {
            "cycle-start": "the first dose of the cycle",
            "step-up": f"the day-{settings.step_up_day} step-up dose",
            "restart": "a possible restart after an interruption"
            if possible_restart
            else "the restart after an interruption",
        }[event],
        "required": dose_text,
        "suggested": _mg(suggested) if suggested is not None else dose_text,
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
        if suggested is None:
            return ()
        hours = settings.given_hours_before_start
        resource = dexamethasone_order(
            knowledge, item.patient.patient_id, suggested, hours, review.start, item.now
        )
        text = f"dexamethasone {_mg(suggested)} IV {hours_text(hours)} before"
        if replacing is None:
            return (ProposedAction("create", f"Order {text}", resource),)
        resource["id"] = replacing.id
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
    late = _late_premedications(item, knowledge, bsa, children) if not found else []

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
    elif late:
        first, timed = late[0]
        zone = review.start.tzinfo
        findings.append(
            emit(
                "premedication-timed-after-start",
                settings.late_source,
                actions=offer(first.order),
                **values,
                written=f"{_written(first, knowledge)} (`{first.order.resource}`)",
                timed=timed.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                start=review.start.strftime("%Y-%m-%d %H:%M"),
                late=_after_text(timed - review.start),
            )
        )
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
        findings.append(emit("premedication-missing", source, actions=offer(None), **values))
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
