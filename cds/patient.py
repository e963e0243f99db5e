"""What the checks know about the patient and the orders: plain, typed facts with no FHIR or HTTP.

Builders in `cds.fhir.facts` fill these from validated R4 resources; checks only read them.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from cds import units

Code = tuple[str, str]  # (system URI, code)
_T = TypeVar("_T")


def memoized(memo: dict[str, Any], key: str, knowledge: object, compute: Callable[[], _T]) -> _T:
    """`compute()` once per `memo` (an order's or a snapshot's) and `knowledge`: what every
    order under review derives again from the same chart (its blinatumomab orders, its live
    vaccine orders) is derived once a call, not once an order (linear, not quadratic)."""
    found = memo.get(key)
    if found is not None and found[0] is knowledge:
        return found[1]  # type: ignore[no-any-return]
    value = compute()
    memo[key] = (knowledge, value)
    return value


@dataclass(frozen=True)
class DataIssue:
    """A resource or data source that could not be used, and why."""

    source: str  # prefetch key, or "draftOrders"
    resource: str  # e.g. "Observation/wt-1", or "" for a whole source
    problem: str


@dataclass(frozen=True)
class ObservationFact:
    resource: str
    codes: frozenset[Code]
    when: datetime | None
    status: str
    value: Decimal | None = None
    unit: str | None = None
    value_codes: frozenset[Code] = frozenset()
    value_text: str | None = None
    reference_low: Decimal | None = None
    reference_high: Decimal | None = None
    interpretation: frozenset[Code] = frozenset()
    comparator: str | None = None  # "<", "<=", ">=", ">": `value` is a bound, not the value
    value_boolean: bool | None = None  # valueBoolean ("pregnant: true", as some profiles send)
    reference_high_unit: str | None = None  # referenceRange.high's own unit (None: none sent)
    # valueDateTime (an estimated delivery date): a date the result gives, not when it was taken
    value_date: datetime | None = None
    # `when` was sent with a time of day (a midnight UTC that is a time, not a day alone)
    when_timed: bool = False

    @property
    def is_exact(self) -> bool:
        return self.comparator is None

    def has_code(self, codes: frozenset[Code]) -> bool:
        return not self.codes.isdisjoint(codes)


@dataclass(frozen=True)
class ImmunizationFact:
    resource: str
    codes: frozenset[Code]
    when: datetime | None
    status: str
    text: str = ""
    recognised_by: str = ""  # how a vaccine coded by NDC or named only in text was recognised
    date_text: str | None = None  # occurrenceString: a date the service cannot read
    recorded: date | None = None  # the last day Immunization.recorded can mean: given by then


@dataclass(frozen=True)
class ConditionFact:
    resource: str
    codes: frozenset[Code]
    clinical_status: str | None
    verification_status: str | None
    # onsetDateTime/onsetPeriod.start, an onsetAge from the birthDate; recordedDate only when no
    # onset is stated at all (an onset as words, a range, a year or a month alone: None)
    onset: datetime | None = None
    abatement: datetime | None = None  # abatementDateTime/Period.end, or "now" for other forms
    text: str = ""  # lower-cased code.text and coding displays (a toxicity named, not coded)
    recorded: datetime | None = None  # recordedDate alone: a resolved entry ended after it
    stage: str = ""  # lower-cased stage.summary texts and displays ("grade 3": a toxicity's grade)
    # the last day the onset may be: an onset given as a year or a month alone ("2015"), an age
    # (6 a: before the 7th birthday) or an age range, and never after the recordedDate; None:
    # nothing says (an onset given as a date needs none)
    onset_by: date | None = None
    # an onset given as an age (onsetAge; onsetRange's high end: `onset_age_by`), as (value, UCUM
    # unit 'a', 'mo', 'wk' or 'd'): the patient's birthDate makes it a date (`dated`)
    onset_age: tuple[Decimal, str] | None = None
    onset_age_by: tuple[Decimal, str] | None = None
    # its category codes ("problem-list-item", "encounter-diagnosis")
    categories: frozenset[str] = frozenset()

    def dated(self, birth_date: date | None) -> ConditionFact:
        """This Condition with an onset given as an age dated from `birth_date`: 6 a is the 6th
        birthday (the onset) and at latest the day before the 7th (`onset_by`); an age range
        gives its high end's last day alone. Itself when there is nothing to date."""
        if self.onset is not None or birth_date is None:
            return self
        first = _age_span(self.onset_age, birth_date)
        last = _age_span(self.onset_age_by, birth_date)
        ends = [d for d in (self.onset_by, first and first[1], last and last[1]) if d is not None]
        if first is None and last is None:
            return self
        onset = None if first is None else datetime.combine(first[0], time(), tzinfo=UTC)
        return replace(self, onset=onset, onset_by=min(ends))


@dataclass(frozen=True)
class ProcedureFact:
    """A Procedure (a hysterectomy, a delivery): what was done and when. Only `completed` ones
    say it was done; the checks read the status."""

    resource: str
    codes: frozenset[Code]
    status: str
    performed: datetime | None  # performedDateTime, else performedPeriod.end, else its start


@dataclass(frozen=True)
class AdministrationFact:
    """A MedicationAdministration of blinatumomab: when the infusion actually ran (issue 15 item
    3: interruptions are read from these, where the EHR sends them, beside the orders)."""

    resource: str
    status: str
    codes: frozenset[Code]
    text: str  # lower-cased medication text and coding displays
    start: datetime | None  # effectiveDateTime, or effectivePeriod.start
    end: datetime | None  # effectivePeriod.end (None: still running, or a single time)
    request: str | None  # the MedicationRequest it carries out


@dataclass(frozen=True)
class BagStrength:
    """One strength the order's Medication states, and what it is the strength of: an
    ingredient's `strength` (its item's codes and lower-cased text), or `Medication.amount` (the
    Medication's own). The IV bag holds IV Solution Stabilizer beside blinatumomab: only the
    blinatumomab one turns a pump's mL/h into a dose."""

    codes: frozenset[Code]
    text: str
    amount: Decimal | None  # numerator per one denominator unit (28 ug / 240 mL: 0.1167)
    unit: str | None  # "ug/mL"; None when the ratio gives no amount or no units


@dataclass(frozen=True)
class DoseInstruction:
    """One `dosageInstruction`: what amount, how often, over which days."""

    sequence: int | None
    amount: Decimal | None
    unit: str | None  # UCUM code (or the free-text unit when no UCUM code was sent)
    is_rate: bool
    frequency: int | None
    period: Decimal | None
    period_unit: str | None
    bounds_start: datetime | None  # a day given alone ("2026-03-02"): its 00:00Z, see below
    bounds_end: datetime | None  # a day given alone is inclusive: the next day's 00:00Z
    bounds_duration_days: Decimal | None
    events: tuple[datetime, ...]
    text: str | None
    # every other dose or rate the dosage gives (a doseQuantity beside a rateQuantity, further
    # doseAndRate entries, a pump's mL/h listed before the dose): (amount, unit, is_rate); the
    # dose check holds them to `amount`, the first that is a dose
    other_amounts: tuple[tuple[Decimal | None, str | None, bool], ...] = ()
    # boundsPeriod.start was a day without a time: the infusion starts at some time that day,
    # not at `bounds_start` (its midnight); something timed later that day is not "after" it
    bounds_start_is_date: bool = False
    # the dose is a doseRange/rateRange: `amount` is its high end (the most the order allows),
    # `amount_low` its low end in `unit` (None: the range gives none, or in a unit that does not
    # convert), the least it allows: what a minimum dose (premedication) is judged by
    is_range: bool = False
    amount_low: Decimal | None = None
    as_needed: bool = False  # asNeeded[x]: given when needed (PRN), not at a set time
    route: frozenset[Code] = frozenset()  # dosageInstruction.route codings (oral, IV)
    # timing.repeat.timeOfDay: the clock times (no zone: the bounds' own offset) of each day's
    # dose; a steroid "at 11:00" on a day is not given at that day's midnight
    times_of_day: tuple[time, ...] = ()
    # the strengths the order's Medication states (contained or referenced): a rate in mL/h is a
    # dose only with the bag's blinatumomab concentration (`cds.dosing.bag_mcg_per_ml`)
    bag: tuple[BagStrength, ...] = ()


@dataclass(frozen=True)
class MedicationOrder:
    """A MedicationRequest, with its medication resolved (contained or `#id` references)."""

    resource: str
    status: str
    intent: str
    codes: frozenset[Code]
    text: str  # lower-cased medication text and coding displays, for text matching
    authored_on: datetime | None
    dosages: tuple[DoseInstruction, ...]
    reason_codes: frozenset[Code]
    extensions: Mapping[str, Any]  # extension url -> value
    notes: tuple[str, ...]
    supply_duration: tuple[Decimal, str] | None  # expectedSupplyDuration value and unit
    encounter: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)  # only for suggestions' resources
    category: frozenset[Code] = frozenset()  # e.g. medicationrequest-category "inpatient"
    # an order on file that gives no start of its own: when the first MedicationAdministration
    # of it began (the MAR knows when the infusion started; authoredOn is when it was written)
    first_given: datetime | None = None
    # meta.lastUpdated: for a stopped or on-hold order, the latest its infusion can have stopped
    last_updated: datetime | None = None
    # priorPrescription (`Type/id`): the order this one replaces (a modification or a reorder)
    replaces: str | None = None
    # dispenseRequest.numberOfRepeatsAllowed: bags after the first (None: not said)
    repeats_allowed: int | None = None
    # the offset its days given alone are read in (`cds.fhir.facts._zone_of`): that of its first
    # timed bound (`day_zone_stated`: the clinician wrote times in it), else of authoredOn
    day_zone: tzinfo = UTC
    day_zone_stated: bool = False
    # what the checks derive from the order alone, once a call (`memoized`)
    memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.resource.split("/", 1)[1]

    @property
    def named_by_ehr(self) -> bool:
        """Whether `id` is the one the EHR sent: an order sent without one (or with no FHIR id) is
        read under a name of ours (`cds.fhir.snapshot.unnamed_*`), which no action may name."""
        return self.raw.get("id") == self.id

    def matched_by_code(self, codes: frozenset[Code]) -> bool:
        return not self.codes.isdisjoint(codes)

    def ordered_dosages(self) -> tuple[DoseInstruction, ...]:
        return tuple(sorted(self.dosages, key=lambda d: (d.sequence is None, d.sequence or 0)))

    def bag_hours(self) -> Decimal | None:
        """How long one bag runs (dispenseRequest.expectedSupplyDuration), in hours; None when
        the order does not say or says it in no unit of time."""
        if self.supply_duration is None:
            return None
        value, unit = self.supply_duration
        try:
            hours = units.duration(value, unit, "h")
        except units.UnitError:
            return None
        return hours if hours > 0 else None

    def supplied_hours(self) -> Decimal | None:
        """How long the bags the order dispenses last, when it says how many there are (its first
        and `numberOfRepeatsAllowed` more, each `expectedSupplyDuration`): the length of an order
        that gives no end of its own, as a cycle written one bag an order does."""
        hours = self.bag_hours()
        if hours is None or self.repeats_allowed is None:
            return None
        return hours * (self.repeats_allowed + 1)

    def first_start(self) -> datetime | None:
        """Design contract: boundsPeriod.start, else authoredOn (caller falls back to now); an
        order on file that gives no start of its own: its first administration's, if any, before
        authoredOn."""
        return self.planned_start() or self.first_given or self.authored_on

    def planned_start(self) -> datetime | None:
        """When the order itself says it starts: boundsPeriod.start, else its first timing event."""
        starts = [d.bounds_start for d in self.dosages if d.bounds_start is not None]
        if starts:
            return min(starts)
        events = [e for d in self.dosages for e in d.events]
        return min(events) if events else None


class ObservationSource(Protocol):
    """A chart's observations, read newest first per code list (`cds.fhir.observations`: each is
    validated when a check first reads it, so a check that stops at the newest usable result
    costs one validation, whatever the chart's length)."""

    def newest_first(self, codes: frozenset[Code]) -> Iterator[ObservationFact]: ...

    def taken_at(self, codes: frozenset[Code], when: datetime) -> Iterator[ObservationFact]:
        """The usable observations with one of `codes` taken at `when` (only those are read)."""
        ...

    def issues(self) -> Sequence[DataIssue]:
        """The observations found unreadable so far."""
        ...


@dataclass(frozen=True)
class PatientSnapshot:
    """The chart as far as the checks need it; `unavailable` names sources that could not be had.

    Observations come from `observation_source` when there is one (a chart), else from
    `observations` (facts given directly, as tests do)."""

    patient_id: str
    birth_date: date | None
    gender: str | None
    observations: tuple[ObservationFact, ...] = ()
    immunizations: tuple[ImmunizationFact, ...] = ()
    medication_orders: tuple[MedicationOrder, ...] = ()
    conditions: tuple[ConditionFact, ...] = ()
    encounter_classes: Mapping[str, Code] = field(default_factory=dict)  # "Encounter/id" -> class
    unavailable: Mapping[str, str] = field(default_factory=dict)
    issues: tuple[DataIssue, ...] = ()
    observation_source: ObservationSource | None = None
    unlinked: tuple[DataIssue, ...] = ()  # resources a check needed that name no known patient
    encounter: str | None = None  # "Encounter/id" of context.encounterId, when the EHR sent it
    administrations: tuple[AdministrationFact, ...] = ()  # blinatumomab MedicationAdministrations
    # a birthDate given as a year or a month only ("1995"): its first and last possible days
    birth_range: tuple[date, date] | None = None
    # US Core birth sex ("F", "M", "UNK"): who can be pregnant when Patient.gender says otherwise
    birth_sex: str | None = None
    # Procedures on file (the optional `procedures` key, or a Bundle's): hysterectomies and
    # deliveries, what the pregnancy check reads of them
    procedures: tuple[ProcedureFact, ...] = ()
    # what the checks derive from the chart alone (`memoized`): each check reviews each order
    # against the whole chart, so without it 200 draft orders x 6,000 on file took 30 s a call
    memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def observations_of(self, codes: frozenset[Code]) -> Iterator[ObservationFact]:
        """Usable observations with one of `codes`, newest first (undated last). Stop reading as
        soon as the check has what it needs: from a chart, each one read is validated then."""
        if self.observation_source is not None:
            return self.observation_source.newest_first(codes)
        found = [o for o in self.observations if o.has_code(codes) and is_usable_result(o.status)]
        return iter(sorted(found, key=lambda o: newest_first_key(o.when)))

    def observations_taken_at(
        self, codes: frozenset[Code], when: datetime
    ) -> Iterator[ObservationFact]:
        """Usable observations with one of `codes` taken at `when`, in chart order: two
        measurements of one moment that disagree leave it unknown which is right."""
        if self.observation_source is not None:
            return self.observation_source.taken_at(codes, when)
        return (o for o in self.observations_of(codes) if o.when == when)

    def data_issues(self) -> tuple[DataIssue, ...]:
        """Every unreadable resource met so far (of the observations: those a check has read)."""
        lazy = self.observation_source.issues() if self.observation_source is not None else ()
        return (*self.issues, *lazy)

    def age_years(self, at: date) -> int | None:
        """The age in whole years; None when unknown (no birth date, or one after `at`), or when a
        partial birth date leaves two."""
        ages = self.age_years_range(at)
        return ages[0] if ages is not None and ages[0] == ages[1] else None

    def age_years_range(self, at: date) -> tuple[int, int] | None:
        """(youngest, oldest) the patient can be: one age for a full birth date, up to two for a
        year-only one ("1995": 30 or 31), which is enough for most thresholds (adult, 12-55)."""
        if self.birth_date is not None:
            return None if self.birth_date > at else (_years(self.birth_date, at),) * 2
        if self.birth_range is None or self.birth_range[0] > at:  # born after `at`: a wrong date
            return None
        earliest, latest = self.birth_range
        return _years(min(latest, at), at), _years(earliest, at)

    def age_days(self, at: date) -> int | None:
        """The age in days; for a partial birth date the youngest it can be (a neonate or infant
        rule then errs towards the stricter side)."""
        if self.birth_date is not None:
            return None if self.birth_date > at else (at - self.birth_date).days
        if self.birth_range is None or self.birth_range[0] > at:
            return None
        return (at - min(self.birth_range[1], at)).days

    def birth_date_text(self) -> str:
        """The birth date as recorded, for a card."""
        if self.birth_date is not None:
            return self.birth_date.isoformat()
        if self.birth_range is not None:
            earliest, latest = self.birth_range
            shown = f"{earliest:%Y}" if earliest.month != latest.month else f"{earliest:%Y-%m}"
            return f"{shown} (no day recorded)"
        return "not recorded"


UNUSABLE_RESULT_STATUSES = frozenset({"entered-in-error", "cancelled"})


def is_usable_result(status: str | None) -> bool:
    """Not entered in error nor cancelled (a result no check may use)."""
    return status not in UNUSABLE_RESULT_STATUSES


def newest_first_key(when: datetime | None) -> tuple[bool, float]:
    """Sort key: the newest first, undated last."""
    return (when is None, -when.timestamp() if when else 0.0)


_AGE_UNITS = {"a": 12, "mo": 1}  # months per unit; "wk", "d": days
_AGE_DAYS = {"wk": 7, "d": 1}


def _age_span(age: tuple[Decimal, str] | None, born: date) -> tuple[date, date] | None:
    """The first and last day an age (value, UCUM unit) names for a patient born on `born`: 6 a
    from the 6th birthday to the day before the 7th; None: none, or a unit not of these."""
    if age is None or age[0] < 0:
        return None
    whole, unit = int(age[0]), age[1]
    if unit in _AGE_DAYS:
        first = born + timedelta(days=whole * _AGE_DAYS[unit])
        return first, first + timedelta(days=_AGE_DAYS[unit] - 1)
    if unit not in _AGE_UNITS:
        return None
    months = whole * _AGE_UNITS[unit]
    return _plus_months(born, months), _plus_months(born, months + _AGE_UNITS[unit]) - timedelta(
        days=1
    )


def _plus_months(day: date, months: int) -> date:
    """`day` moved on by whole months (the 29th-31st to the month's last day when it lacks them)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _years(born: date, at: date) -> int:
    return at.year - born.year - ((at.month, at.day) < (born.month, born.day))
