"""Which draft orders are blinatumomab, and what each says about indication, cycle and start.

Follows the input contract of `shared/design.md` ("How a blinatumomab order says what it is"):
explicit coding first, then inference from the chart, else unknown - and always say which.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Literal

from cds import units
from cds.corticosteroids import identify
from cds.interruptions import (
    CycleSoFar,
    Period,
    ResumeVerdict,
    course_began,
    cycles_before,
    interruption_days,
    resume,
    run_end,
)
from cds.knowledge import Knowledge
from cds.patient import (
    AdministrationFact,
    DoseInstruction,
    MedicationOrder,
    PatientSnapshot,
    memoized,
)
from cds.problem_list import indication_from_problem_list

INDICATION_SYSTEM = "https://cds.example.org/fhir/CodeSystem/blinatumomab-indication"
CYCLE_EXTENSION = "https://cds.example.org/fhir/StructureDefinition/treatment-cycle"
INDICATIONS = ("mrd-positive", "relapsed-refractory", "consolidation")


@dataclass(frozen=True)
class DayDoubt:
    """The order under review may fall on any cycle day from `earliest` to the one counted.
    `why` "signed": the cycle's first start is only the signing time (authoredOn, `signed`) of
    `order`, an earlier order with no start of its own and no administration on file
    (`signed_only`); orders are signed up to cycles.yaml `signed_start_lead_days` before their
    first dose. `why` "stop-unknown": this order resumes a cycle in days of infusion, and nothing
    on file says when `order` (stopped or on hold, begun `signed`) stopped: no administration of
    it, no meta.lastUpdated inside its plan; counted as run to its plan, fewer days may have been
    given (as few as from its first dose)."""

    order: str  # the earlier order's id ("signed"), its resource or its bag's ("stop-unknown")
    signed: datetime
    earliest: int
    why: Literal["signed", "stop-unknown"] = "signed"


@dataclass(frozen=True)
class OrderUnderReview:
    """A blinatumomab order with what we could establish about it (None = unknown)."""

    order: MedicationOrder
    indication: str | None
    indication_basis: str
    cycle: int | None
    cycle_basis: str
    start: datetime
    cycle_day: int  # day of the cycle on which the order's first dose falls (1-based)
    # indications still possible when none is established (problem list: ALL in remission leaves
    # MRD-positive or consolidation); None = any
    possible_indications: frozenset[str] | None = None
    # what this order is beside the earlier infusions (orders and administrations): a first
    # infusion, a bag change, a restart inside the cycle (after >= 4 h: premedicate again), a new
    # cycle; None when the medication history could not be read
    resumption: ResumeVerdict | None = None
    # the blinatumomab draft signed with this one that begins the same cycle earlier (a step-up
    # written as two orders: this is the day-8 order); its cards speak for the cycle's start
    follows_draft: str | None = None
    # when this order's course of treatment began (cycles.yaml `new_course_after_days`, or the end
    # of another indication's infusions): the orders and infusions on file before it are an
    # earlier course, whose cycles neither number nor time this one. None: all of them count.
    course_began: datetime | None = None
    # a stopped or on-hold order on file that this order reads as continuing, though nothing on
    # file says when it stopped (no administration of it, no meta.lastUpdated inside its plan):
    # an interruption of 4 hours or more before this order cannot be ruled out
    stop_unknown: str | None = None
    # the cycle the infusions of the course on file make it, its coded cycle set aside (for an
    # order coding none: `cycle`), why, and the day of that cycle its first dose falls on
    history_cycle: int | None = None
    history_basis: str = ""
    history_cycle_day: int = 1
    # the judged cycle's (`judged_cycle`) day counted from an earlier order's signing time; for an
    # order resuming its cycle (`resumed_day`), the doubt about that day
    day_doubt: DayDoubt | None = None
    # an order continuing its judged cycle after earlier infusions of it (a restart inside the
    # cycle, a bag change, a day-8 order): the day of INFUSION its first dose falls on (label
    # §2.4: its calendar day less the whole days of interruption), which the dose schedule
    # follows; None: the order does not continue its judged cycle (its calendar day is the day)
    resumed_day: int | None = None
    # the order codes a HIGHER cycle than the cycle on file it resumes within the interruption
    # limit, that cycle numbered by its orders and not complete (cycles.yaml
    # continued_cycle_over_coded): by the label the same cycle continues (`history_cycle`)
    continues_lower_cycle: bool = False

    @property
    def by_history(self) -> bool:
        """The order codes a lower cycle than its course's history makes it: what was given
        wins (cycle 1 coded after nine cycles given is a tenth), so the rules judge the
        history's cycle and say the two disagree (cycles.yaml history_over_coded_source). A
        higher coded cycle stands (earlier cycles given elsewhere are often missing), but for
        one resuming a numbered cycle on file within 7 days (`continues_lower_cycle`): label
        §2.4 continues that cycle."""
        return self.continues_lower_cycle or (
            self.cycle is not None
            and self.history_cycle is not None
            and self.history_cycle > self.cycle
        )

    @property
    def resumes_its_cycle(self) -> bool:
        """Whether the order resumes an infusion of its course under way, as the interruption
        rules judge it for the dose check (`resumption`): a bag change, or a restart inside the
        cycle under 4 hours. Its first dose is then no cycle start, whatever cycle it codes: the
        label continues the same cycle after an interruption of 7 days or less (§2.4), so an
        order coding cycle 2 that resumes, 3 hours after the bag stopped, an infusion the history
        does not number is that cycle continuing (or a continuation mis-coded): no premedication,
        no "first days of the cycle". An order that begins its course resumes nothing."""
        resumed = self.resumption
        return (
            resumed is not None
            and resumed.kind in ("continues", "restart-same-cycle")
            and (self.course_began is None or self.course_began < self.start)
        )

    @property
    def dose_day(self) -> int:
        """The day of the judged cycle the dose schedule judges the order's first dose by: its
        day of infusion when it resumes the cycle (`resumed_day`), else its calendar day."""
        return self.resumed_day if self.resumed_day is not None else self.judged_cycle[2]

    @property
    def judged_cycle(self) -> tuple[int | None, str, int]:
        """(cycle, how it was established, cycle day) the schedule rules judge the order by:
        the history's when `by_history`, else the order's."""
        if self.by_history:
            return self.history_cycle, self.history_basis, self.history_cycle_day
        return self.cycle, self.cycle_basis, self.cycle_day

    def in_course(self, when: datetime | None) -> bool:
        """Whether an earlier order or infusion starting at `when` (None: unknown) belongs to this
        order's course of treatment."""
        return when is None or self.course_began is None or when >= self.course_began


def is_blinatumomab(order: MedicationOrder, knowledge: Knowledge) -> bool:
    return memoized(
        order.memo, "blinatumomab", knowledge, lambda: _is_blinatumomab(order, knowledge)
    )


def _is_blinatumomab(order: MedicationOrder, knowledge: Knowledge) -> bool:
    """By a code of the blinatumomab list, else by its name in the order's text
    (`Knowledge.names`). A text that names a glucocorticoid too, on an order dosed in whole
    milligrams (dose.yaml `steroid_order_from_mg`), is the glucocorticoid's: an order set's "ONC
    ALL BLINATUMOMAB (BLINCYTO) CYCLE 1 - dexamethasone IV premed" (red team 7b C1). No
    blinatumomab order is dosed so (28 mcg/day is 0.028 mg); one whose text names a
    premedication keeps its cards."""
    if not knowledge.names("blinatumomab", order.codes, order.text):
        return False
    if not order.codes.isdisjoint(knowledge.codes_of("blinatumomab")):
        return True
    steroid = identify(order.codes, order.text, knowledge.corticosteroids)
    least = knowledge.dose.steroid_order_from_mg
    return steroid is None or not any(_milligrams(d) >= least for d in order.dosages)


def _milligrams(dosage: DoseInstruction) -> Decimal:
    """A dose of a mass in mg (0 when it is none: a rate, a volume, no amount)."""
    if dosage.amount is None or dosage.unit is None:
        return Decimal(0)
    try:
        return units.convert(dosage.amount, dosage.unit, "mg")
    except units.UnitError:
        return Decimal(0)


def order_indication(order: MedicationOrder, knowledge: Knowledge) -> tuple[str | None, str]:
    """The indication the order itself gives: coded, or mapped from its reason code."""
    ours = {
        code
        for system, code in order.reason_codes
        if system == INDICATION_SYSTEM and code in INDICATIONS
    }
    if len(ours) == 1:
        (only,) = ours
        return only, "coded on the order"
    if len(ours) > 1:
        return None, "the order codes more than one indication"
    if not order.reason_codes.isdisjoint(knowledge.codes_of("indication_relapsed_refractory")):
        return "relapsed-refractory", "mapped from the order's reason code"
    return None, ""


def _indication(
    order: MedicationOrder, patient: PatientSnapshot, knowledge: Knowledge
) -> tuple[str | None, str, frozenset[str] | None]:
    indication, basis = order_indication(order, knowledge)
    if basis:
        return indication, basis, None
    ambiguous = knowledge.codes_of("indication_remission_ambiguous")
    if not order.reason_codes.isdisjoint(ambiguous):
        return (
            None,
            "the order's reason is ALL in remission: MRD-positive or consolidation",
            frozenset(knowledge.problem_list.possible["indication_remission_ambiguous"]),
        )
    found = indication_from_problem_list(patient.conditions, knowledge, knowledge.problem_list)
    if found.condition is None:
        return None, "no indication coded on the order or in the conditions", None
    if len(found.possible) == 1:
        (only,) = found.possible
        return only, f"from the problem list: {found.basis}", None
    labels = " or ".join(knowledge.indications[i].label for i in sorted(found.possible))
    return None, f"from the problem list ({found.basis}): {labels}", found.possible


NOT_REAL_ORDER_STATUSES = frozenset({"draft", "entered-in-error", "cancelled"})


def earlier_blinatumomab_orders(
    patient: PatientSnapshot, knowledge: Knowledge, excluding: MedicationOrder | None = None
) -> list[MedicationOrder]:
    """The blinatumomab orders of the medication history that count as real orders (not a draft,
    cancelled or entered in error; design.md "Earlier cycles"), but for `excluding`."""
    real = memoized(
        patient.memo,
        "earlier-blinatumomab-orders",
        knowledge,
        lambda: [
            o
            for o in patient.medication_orders
            if o.status not in NOT_REAL_ORDER_STATUSES and is_blinatumomab(o, knowledge)
        ],
    )
    return [o for o in real if excluding is None or o.resource != excluding.resource]


def local_zone(orders: Sequence[MedicationOrder]) -> tzinfo | None:
    """The offset a day given alone means in every order of one call (task D, 2026-12-03): that
    of the blinatumomab draft that starts first (its timed bounds', else its authoredOn's), the
    first order of a step-up. One order signed at the bedside (-05:00), the next stamped in UTC by
    an interface: "2026-03-09" is the same calendar day in both, not 19:00 of the 8th in one.
    None: no order."""
    dated = [(o.first_start(), i, o) for i, o in enumerate(orders)]
    if not dated:
        return None
    far = datetime.max.replace(tzinfo=UTC)
    _, _, first = min(dated, key=lambda d: (d[0] or far, d[1]))
    return first.day_zone


def in_local_zone(order: MedicationOrder, zone: tzinfo | None) -> MedicationOrder:
    """`order` with its days given alone read in `zone` (`local_zone`): the same calendar days,
    at that offset's midnights. An order that states a time in any bound keeps its own offset
    (its days were read in it, beside its times); so does an order already in `zone`."""
    own = order.day_zone
    if zone is None or not order.dosages or order.day_zone_stated or own == zone:
        return order
    reference = order.first_start() or order.authored_on
    if own.utcoffset(reference) == zone.utcoffset(reference):
        return order

    def moved(when: datetime | None) -> datetime | None:
        return None if when is None else when.astimezone(own).replace(tzinfo=zone)

    dosages = tuple(
        dataclasses.replace(d, bounds_start=moved(d.bounds_start), bounds_end=moved(d.bounds_end))
        for d in order.dosages
    )
    return dataclasses.replace(order, dosages=dosages, day_zone=zone)


def signed_only(order: MedicationOrder) -> bool:
    """An order on file whose start is only its signing time (authoredOn): no boundsPeriod or
    timing event, no administration of it. Orders are signed days before the first dose
    (treatment plans, home-infusion prescriptions): its days counted from its signing may all
    have come later."""
    return order.status != "draft" and order.planned_start() is None and order.first_given is None


def cycle_of(order: MedicationOrder) -> int | None:
    """The cycle coded on the order (treatment-cycle extension, 1-based), else None."""
    value = order.extensions.get(CYCLE_EXTENSION)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


Known = list[tuple[int | None, datetime | None]]  # (cycle, start) of blinatumomab orders


@dataclass(frozen=True)
class _Run:
    """A cycle of infusions on file (`cds.interruptions.cycles_before`), with its number: the one
    its orders carry, else the one after the run before it (None: its orders disagree)."""

    start: datetime
    end: datetime
    cycle: int | None
    numbered: bool


def _runs(cycles: list[CycleSoFar], known: Known) -> list[_Run]:
    runs: list[_Run] = []
    previous: int | None = 0
    for cycle in cycles:
        begin, end = cycle.periods[0].start, cycle.last_end or cycle.periods[-1].end
        numbers = {c for c, s in known if c is not None and s is not None and begin <= s <= end}
        number: int | None
        if len(numbers) == 1:
            (number,) = numbers
        else:
            number = previous + 1 if not numbers and previous is not None else None
        runs.append(_Run(begin, end, number, bool(numbers)))
        previous = number
    return runs


def _history_cycle(
    start: datetime,
    known: Known,
    runs: list[_Run],
    continuing: bool,
    medications_known: bool,
    continuation_within_days: int,
    course_basis: str = "",
) -> tuple[int | None, str]:
    """The order's cycle as the infusions before it make it (orders and administrations on file,
    drafts signed with it), whatever it codes, cut into cycles as the label does (a gap over 7
    days or 28 infusion days ends one): the cycle it continues, or the next. EHR history rarely
    carries the cycle extension: an unnumbered run counts as the cycle after the one before it."""
    if not medications_known:
        return None, "no cycle on the order and the medication history could not be read"
    if not known and not runs:
        return 1, course_basis or "no earlier blinatumomab orders on file"
    if runs:
        last = runs[-1]
        if last.cycle is None:
            return None, "the earlier infusions on file are numbered as different cycles"
        begun = last.start.date()
        if continuing:
            if last.numbered:
                return last.cycle, f"continues cycle {last.cycle} begun {begun}"
            return last.cycle, (
                f"continues the infusion begun {begun}: cycle {last.cycle} by the infusions "
                "on file (none says its cycle)"
            )
        if last.numbered:
            return last.cycle + 1, f"follows cycle {last.cycle} begun {begun}"
        return last.cycle + 1, (
            f"follows the infusion begun {begun}: cycle {last.cycle + 1} by the infusions on "
            "file (none says its cycle)"
        )
    if any(c is None or s is None for c, s in known):
        return None, "earlier blinatumomab orders on file do not say their cycle"
    last_cycle, last_start = max(known, key=lambda item: item[1])  # type: ignore[arg-type,return-value]
    assert last_cycle is not None and last_start is not None
    if start - last_start < timedelta(days=continuation_within_days):
        return last_cycle, f"continues cycle {last_cycle} begun {last_start.date()}"
    return last_cycle + 1, f"follows cycle {last_cycle} begun {last_start.date()}"


def _cycle_day(
    start: datetime,
    cycle: int | None,
    known: Known,
    continued: _Run | None,
    signed: dict[datetime, MedicationOrder],
    lead_days: int,
) -> tuple[int, DayDoubt | None]:
    """The calendar day of the cycle the order's first dose falls on, counted from the cycle's
    first order, or from the start of the infusion it continues. Dates are read in the first
    start's time zone: an order written in another offset, or across a DST change, is the same
    day (a bag hung early is still day 8). With the doubt, when that first start is only the
    signing time of an order on file (`signed`, by start)."""
    if cycle is None:
        return 1, None
    starts = [s for c, s in known if c == cycle and s is not None]
    if continued is not None and continued.cycle == cycle:
        starts.append(continued.start)
    first = min([*starts, start])
    day = (start.astimezone(first.tzinfo).date() - first.date()).days + 1
    doubt = None
    if first != start and (order := signed.get(first)) is not None and day > 1 and lead_days:
        doubt = DayDoubt(order.id, first, max(1, day - lead_days))
    return day, doubt


def review(
    order: MedicationOrder,
    patient: PatientSnapshot,
    knowledge: Knowledge,
    now: datetime,
    signed_before: Sequence[OrderUnderReview] = (),
) -> OrderUnderReview:
    """What the order is. `signed_before`: the blinatumomab drafts of the same call that start
    before it, already reviewed. A cycle-1 step-up written as two orders (days 1-7, days 8-28) is
    one cycle: the second order is day 8 of the first one's cycle, continuing its infusion. Only
    the orders and infusions of this order's course count (`_course`). Days given alone are read
    in the offset of the first of these drafts (`local_zone`), in this order and those on file."""
    zone = local_zone([*(other.order for other in signed_before), order])
    zoned = in_local_zone(order, zone)
    start = zoned.first_start() or now
    earlier = [
        in_local_zone(o, zone)
        for o in earlier_blinatumomab_orders(patient, knowledge, excluding=order)
    ]
    indication, indication_basis, possible = _indication(order, patient, knowledge)
    before = [other for other in signed_before if other.start < start]
    default_days = knowledge.cycles.default_infusion_days
    medications_known = "medications" not in patient.unavailable
    resumption: ResumeVerdict | None = None
    runs: list[_Run] = []
    began: datetime | None = None
    course_basis = ""
    periods: list[Period] = []
    if medications_known:
        periods = infusion_periods(patient, knowledge, earlier)
        periods += [
            Period(
                o.start,
                infusion_end(in_local_zone(o.order, zone), o.start, default_days),
                o.order.resource,
            )
            for o in before
        ]
        end = infusion_end(zoned, start, default_days)
        resumption = resume(periods, start, end, knowledge.interruptions)
        own = order_indication(order, knowledge)[0]  # not the problem list's: it may be stale
        began, course_basis = _course(start, own, earlier, periods, knowledge)
    if began is not None:
        earlier = [o for o in earlier if (s := o.first_start()) is None or s >= began]
        periods = [p for p in periods if p.start >= began]
    if indication is None and not order_indication(order, knowledge)[1]:
        course = _indication_of_course(earlier, knowledge, possible)
        if course is not None:
            indication, indication_basis, possible = *course, None
    known: Known = [(cycle_of(o), o.first_start()) for o in earlier]
    known += [(other.cycle, other.start) for other in before]
    if medications_known:
        runs = _runs(cycles_before(periods, start, knowledge.interruptions), known)
    continuing = resumption is not None and resumption.kind in ("continues", "restart-same-cycle")
    history, history_basis = _history_cycle(
        start,
        known,
        runs,
        continuing,
        medications_known,
        knowledge.cycles.continuation_within_days,
        course_basis,
    )
    coded = cycle_of(order)
    cycle, cycle_basis = (
        (coded, "coded on the order") if coded is not None else (history, history_basis)
    )
    continued = runs[-1] if continuing and runs else None
    signed = {s: o for o in earlier if signed_only(o) and (s := o.first_start()) is not None}
    lead = knowledge.cycles.signed_start_lead_days
    cycle_day, doubt = _cycle_day(start, cycle, known, continued, signed, lead)
    history_day, history_doubt = _cycle_day(start, history, known, continued, signed, lead)
    # "cycle 2" coded 3 days after 5 days of cycle 1: the same cycle continues (label §2.4)
    continues_lower = (
        knowledge.cycles.continued_cycle_over_coded
        and coded is not None
        and history is not None
        and coded > history
        and continued is not None
        and continued.numbered
        and continued.cycle == history
    )
    higher = continues_lower or (cycle is not None and history is not None and history > cycle)
    day_doubt = history_doubt if higher else doubt
    judged = history if higher else cycle
    resumed_day = None
    resuming = min(t for t in (order.authored_on, start) if t is not None)
    if (
        continued is not None
        and resumption is not None
        and judged is not None
        and continued.cycle == judged
        and all(s >= continued.start for c, s in known if c == judged and s is not None)
    ):
        resumed_day = infusion_day_at(start, continued.start, periods, knowledge)
        day_doubt = _resumed_day_doubt(
            start, resumed_day, continued, periods, earlier, signed, patient, knowledge, resuming
        )
    same_cycle = [o for o in before if cycle is not None and o.cycle == cycle]
    stop_unknown = None
    # continuing an order, or restarting under 4 hours after a stop dated only by an edit made
    # with this order (`edited_at_resume`): an interruption of 4 hours or more is not ruled out
    if resumption is not None and (
        resumption.kind == "continues"
        or (resumption.kind == "restart-same-cycle" and not resumption.needs_restart_premedication)
    ):
        stop_unknown = _stopped_at_unknown_time(
            start, earlier, patient, knowledge, resuming
        ) or _administration_stopped_at_unknown_time(start, patient, knowledge, resuming)
        without = resume(
            [p for p in periods if p.source != stop_unknown], start, end, knowledge.interruptions
        )
        if without.kind == "continues" or (
            resumption.kind == "restart-same-cycle"
            and without.kind == "restart-same-cycle"
            and not without.needs_restart_premedication
        ):
            stop_unknown = None  # another infusion on file runs up to this order
    return OrderUnderReview(
        order=order,
        indication=indication,
        indication_basis=indication_basis,
        cycle=cycle,
        cycle_basis=cycle_basis,
        start=start,
        cycle_day=cycle_day,
        possible_indications=possible,
        resumption=resumption,
        follows_draft=min(same_cycle, key=lambda o: o.start).order.resource if same_cycle else None,
        course_began=began,
        stop_unknown=stop_unknown,
        history_cycle=history,
        history_basis=history_basis,
        history_cycle_day=history_day,
        day_doubt=day_doubt,
        resumed_day=resumed_day,
        continues_lower_cycle=continues_lower,
    )


def edited_at_resume(
    order: MedicationOrder | None, resuming: datetime | None, knowledge: Knowledge
) -> bool:
    """Whether `order`'s meta.lastUpdated falls within interruptions.yaml
    `stop_edit_window_hours` before `resuming` (the signing or start of the order resuming its
    cycle, the earlier), or after it: the status changed as the new order was written. It
    bounds the stop (`ran_until`: the most days that can have been given) but does not date it."""
    if order is None or resuming is None or (updated := order.last_updated) is None:
        return False
    hours = knowledge.interruptions.stop_edit_window_hours
    return hours > 0 and updated >= resuming - timedelta(hours=float(hours))


def infusion_day_at(
    when: datetime, began: datetime, periods: Sequence[Period], knowledge: Knowledge
) -> int:
    """The day of INFUSION of the cycle begun at `began` that `when` falls on: its calendar day
    (read in `began`'s time zone, as `_cycle_day`) less the whole days the cycle's interruptions
    before `when` took (`cds.interruptions.interruption_days`; label §2.4)."""
    rules = knowledge.interruptions
    calendar = (when.astimezone(began.tzinfo).date() - began.date()).days + 1
    used = resume(periods, when, when, rules).infusion_days_used
    return max(1, calendar - interruption_days(when - began, used, rules))


def _resumed_day_doubt(
    start: datetime,
    day: int,
    continued: _Run,
    periods: Sequence[Period],
    earlier: Sequence[MedicationOrder],
    signed: dict[datetime, MedicationOrder],
    patient: PatientSnapshot,
    knowledge: Knowledge,
    resuming: datetime | None = None,
) -> DayDoubt | None:
    """The doubt about `day`, the day of infusion an order at `start` resumes its cycle on (the
    run `continued`): fewer days than counted may have been given when the cycle's first start
    is only an order's signing time (`DayDoubt` "signed"), or when an order or bag of the cycle
    stopped at a time nothing on file gives ("stop-unknown": counted as run to its plan, or to a
    meta.lastUpdated edited as the order resuming at `resuming` was written (`edited_at_resume`),
    it may have stopped any time after its first dose). The one leaving the earliest day."""
    rules = knowledge.interruptions
    doubts: list[DayDoubt] = []
    if day > 1 and (order := signed.get(continued.start)) is not None:
        lead = knowledge.cycles.signed_start_lead_days
        if lead:
            doubts.append(DayDoubt(order.id, continued.start, max(1, day - lead)))
    given = _administered_orders(patient, knowledge)
    undated: list[tuple[str, datetime]] = []
    for other in earlier:
        begun = other.first_start()
        if (
            other.status not in rules.ran_as_administered_statuses
            or other.resource in given
            or begun is None
            or not continued.start <= begun < start
        ):
            continue
        planned = infusion_end(other, begun, knowledge.cycles.default_infusion_days)
        updated = other.last_updated  # when it stopped, if inside its plan (`ran_until`)
        if (
            updated is None
            or not begun < updated <= planned
            or edited_at_resume(other, resuming, knowledge)
        ):
            undated.append((other.resource, begun))
    for bag, begun in counted_administrations(patient, knowledge):
        if (
            _stopped_untimed(bag, knowledge)
            and continued.start <= begun < start
            and (
                given_until(bag, begun, patient, knowledge) == _bag_end(bag, begun, patient)
                or edited_at_resume(_order_of(bag, patient), resuming, knowledge)
            )
        ):
            undated.append((bag.resource, begun))
    for name, begun in undated:
        earliest = infusion_day_at(begun, continued.start, periods, knowledge)
        if earliest < day:
            doubts.append(DayDoubt(name, begun, earliest, "stop-unknown"))
    return min(doubts, key=lambda d: d.earliest, default=None)


def _stopped_at_unknown_time(
    start: datetime,
    earlier: Sequence[MedicationOrder],
    patient: PatientSnapshot,
    knowledge: Knowledge,
    resuming: datetime | None = None,
) -> str | None:
    """A stopped or on-hold order on file whose plan runs through `start` and whose stop nothing
    dates (no administration of it; no meta.lastUpdated inside its plan, `ran_until`, or one
    edited as the order resuming at `resuming` was written, `edited_at_resume`): its plan, or
    the days up to that edit, are counted as given, so an order at `start` continues it, though
    it may have stopped days before."""
    statuses = knowledge.interruptions.ran_as_administered_statuses
    given = {a.request for a in patient.administrations}
    for other in earlier:
        if other.status not in statuses or other.resource in given:
            continue
        begun = other.first_start()
        if begun is None or begun >= start:
            continue
        planned = infusion_end(other, begun, knowledge.cycles.default_infusion_days)
        if start < planned and (
            ran_until(other, begun, knowledge) == planned
            or edited_at_resume(other, resuming, knowledge)
        ):
            return other.resource
    return None


def _indication_of_course(
    earlier: Sequence[MedicationOrder], knowledge: Knowledge, possible: frozenset[str] | None
) -> tuple[str, str] | None:
    """The indication every earlier order of this course that codes one codes, for an order that
    codes none (and that the problem list, if it narrows it, allows): a fifth MRD-positive cycle
    written without its reason is still MRD-positive treatment, with its limits."""
    coded = {found for o in earlier if (found := order_indication(o, knowledge)[0]) is not None}
    if len(coded) != 1:
        return None
    (only,) = coded
    if possible is not None and only not in possible:
        return None
    return only, f"from this course's earlier orders ({knowledge.indication_label(only)})"


def _course(
    start: datetime,
    indication: str | None,
    earlier: list[MedicationOrder],
    periods: list[Period],
    knowledge: Knowledge,
) -> tuple[datetime | None, str]:
    """When this order's course began, and why (`cds.interruptions.course_began`): after the
    infusions of an earlier order coded for another indication than this order codes (a relapse
    after MRD-positive treatment starts R/R cycle 1), unless they ended within the interruption
    limit (that reads as one cycle continued, and its rules judge it), and after a gap longer
    than `new_course_after_days`. `indication`: the order's own (coded or mapped from its
    reason), never the problem list's, which a stale relapse would set against coded orders."""
    rules = knowledge.cycles
    boundary: datetime | None = None
    other = ""
    if indication is not None:
        others = [
            (begun, named)
            for o in earlier
            if (begun := o.first_start()) is not None
            and begun < start
            and (named := order_indication(o, knowledge)[0]) not in (None, indication)
        ]
        if others:
            latest, named = max(others)
            ended = run_end(periods, latest)
            if start - ended > timedelta(days=rules.max_interruption_days):
                boundary = ended
                other = f"{knowledge.indication_label(named)} until {ended.date()}"
    limit = timedelta(days=rules.new_course_after_days)
    began = course_began(periods, start, limit, boundary)
    if began is None:
        return None, ""
    ends = [p.end for p in periods if p.start < start and (boundary is None or p.start >= boundary)]
    if ends and start - max(ends) > limit:
        return began, (
            f"a new course (the last blinatumomab infusion on file ended {max(ends).date()}, "
            f"{(start.date() - max(ends).date()).days} days before this order: over "
            f"{rules.new_course_after_days} days)"
        )
    return began, f"a new course (the earlier blinatumomab infusions on file were for {other})"


def dosage_spans(
    order: MedicationOrder, start: datetime
) -> list[tuple[DoseInstruction, datetime, datetime | None]]:
    """Each dosage of the order in sequence with when it begins and ends: its boundsPeriod, or the
    step before's end plus its boundsDuration. The list stops at the first dosage with no end. A
    boundsPeriod ending before (or as) it begins gives no end: an infusion cannot end before it
    starts, and how long it runs is unknown (its boundsDuration, else the order's default)."""
    spans: list[tuple[DoseInstruction, datetime, datetime | None]] = []
    cursor = start
    for dosage in order.ordered_dosages():
        begin = dosage.bounds_start or cursor
        end = dosage.bounds_end
        if end is not None and end <= begin:
            end = None
        if end is None and dosage.bounds_duration_days is not None:
            end = begin + timedelta(days=float(dosage.bounds_duration_days))
        spans.append((dosage, begin, end))
        if end is None:
            break
        cursor = end
    return spans


def infusion_end(order: MedicationOrder, start: datetime, default_days: int) -> datetime:
    """The end of the order's infusion: its last dosage's end (`dosage_spans`); open-ended -> as
    long as the bags it dispenses last, where it says how many (`supplied_hours`), else
    `default_days` after the start."""
    spans = dosage_spans(order, start)
    last_end = spans[-1][2] if spans else None
    if last_end is not None:
        return last_end
    supplied = order.supplied_hours()
    if supplied is not None:
        return start + timedelta(hours=float(supplied))
    return start + timedelta(days=default_days)


def ran_until(
    order: MedicationOrder,
    start: datetime,
    knowledge: Knowledge,
    last_given: datetime | None = None,
) -> datetime:
    """The end of the order's infusion (`infusion_end`). A stopped or on-hold order
    (interruptions.yaml) ran until its last administration (`last_given`, when the MAR has any);
    with none, no later than it was last updated (meta.lastUpdated: when its status changed),
    where that falls inside its plan: a cycle stopped on day 4 for CRS is not running on day 10."""
    planned = infusion_end(order, start, knowledge.cycles.default_infusion_days)
    if order.status not in knowledge.interruptions.ran_as_administered_statuses:
        return planned
    if last_given is not None:
        return last_given
    updated = order.last_updated
    return updated if updated is not None and start < updated < planned else planned


def infusion_periods(
    patient: PatientSnapshot, knowledge: Knowledge, earlier: Iterable[MedicationOrder]
) -> list[Period]:
    """When blinatumomab ran: the earlier orders of the statuses interruptions.yaml counts (a
    stopped or on-hold one with administrations on file: those instead of its plan; without:
    `ran_until`), and the
    MedicationAdministrations (`given_until`)."""
    rules = knowledge.interruptions
    given = _given_periods(patient, knowledge)
    administered = _administered_orders(patient, knowledge)
    periods = [
        Period(start, ran_until(o, start, knowledge), o.resource)
        for o in earlier
        if o.status in rules.order_statuses
        and not (o.status in rules.ran_as_administered_statuses and o.resource in administered)
        and (start := o.first_start()) is not None
    ]
    return periods + given


def counted_administrations(
    patient: PatientSnapshot, knowledge: Knowledge
) -> list[tuple[AdministrationFact, datetime]]:
    """The chart's blinatumomab administrations of the statuses interruptions.yaml counts, with
    their start: derived once a call, as every order under review reads them."""
    rules = knowledge.interruptions
    return memoized(
        patient.memo,
        "counted-administrations",
        knowledge,
        lambda: [
            (a, start)
            for a in patient.administrations
            if a.status in rules.administration_statuses
            and (start := a.start) is not None
            and knowledge.names("blinatumomab", a.codes, a.text)
        ],
    )


def _given_periods(patient: PatientSnapshot, knowledge: Knowledge) -> list[Period]:
    return memoized(
        patient.memo,
        "given-periods",
        knowledge,
        lambda: [
            Period(start, given_until(a, start, patient, knowledge), a.resource)
            for a, start in counted_administrations(patient, knowledge)
        ],
    )


def _administered_orders(patient: PatientSnapshot, knowledge: Knowledge) -> set[str | None]:
    return memoized(
        patient.memo,
        "administered-orders",
        knowledge,
        lambda: {a.request for a, _ in counted_administrations(patient, knowledge)},
    )


def given_until(
    given: AdministrationFact,
    start: datetime,
    patient: PatientSnapshot,
    knowledge: Knowledge,
) -> datetime:
    """When an administration ended: its effectivePeriod.end; one recorded at a single time (a
    MAR's "new bag"), or still running, lasts a bag of its order (expectedSupplyDuration: a 96-hour
    bag hung on day 1 is running on day 3), else a day. One stopped without an end (with
    interruptions.yaml `stop_untimed_statuses`) ran no later than its order's
    meta.lastUpdated, when that stopped or on-hold order was updated inside the bag: a bag stopped
    for CRS is not running the next morning (redteam5 #6)."""
    if given.end is not None:
        return given.end
    bag_end = _bag_end(given, start, patient)
    order = _order_of(given, patient)
    if order is None or not _stopped_untimed(given, knowledge):
        return bag_end
    rules = knowledge.interruptions
    updated = order.last_updated
    if order.status in rules.ran_as_administered_statuses and updated and start < updated < bag_end:
        return updated
    return bag_end


def _administration_stopped_at_unknown_time(
    start: datetime,
    patient: PatientSnapshot,
    knowledge: Knowledge,
    resuming: datetime | None = None,
) -> str | None:
    """A blinatumomab administration stopped without an end that nothing else dates (`given_until`
    gave it a whole bag, or ended it at its order's meta.lastUpdated edited as the order resuming
    at `resuming` was written) and whose bag runs through `start`: an order at `start` reads as
    continuing it, though the infusion may have stopped hours before."""
    for given, begun in counted_administrations(patient, knowledge):
        if not _stopped_untimed(given, knowledge) or begun >= start:
            continue
        until = given_until(given, begun, patient, knowledge)
        bag_end = _bag_end(given, begun, patient)
        if (start < until and until == bag_end) or (
            start < bag_end and edited_at_resume(_order_of(given, patient), resuming, knowledge)
        ):
            return given.resource
    return None


def _bag_end(given: AdministrationFact, start: datetime, patient: PatientSnapshot) -> datetime:
    """A bag of the administration's order from `start` (expectedSupplyDuration), else a day."""
    order = _order_of(given, patient)
    hours = order.bag_hours() if order is not None else None
    return start + timedelta(hours=float(hours or 24))


def _stopped_untimed(given: AdministrationFact, knowledge: Knowledge) -> bool:
    return given.end is None and given.status in knowledge.interruptions.stop_untimed_statuses


def _order_of(given: AdministrationFact, patient: PatientSnapshot) -> MedicationOrder | None:
    by_resource = memoized(
        patient.memo,
        "orders-by-resource",
        None,
        lambda: {o.resource: o for o in reversed(patient.medication_orders)},  # the first wins
    )
    return by_resource.get(given.request or "")
