"""Live-vaccine check (card topic `live-vaccine`; label §5 immunization).

Critical when a live vaccine was given within the window before the infusion starts, or during
treatment, or is ordered together with blinatumomab (or still ordered). The immunization history
is optional for this check on purpose: when it cannot be read, a co-ordered live vaccine is still
caught and a warning says the history could not be checked, so one failing source never hides the
other finding.

A live vaccine on file whose date cannot be read is never silence: with no date at all (R4
requires occurrence[x]) or a date in words, a warning says its date could not be checked; a date
given as a month or a year ("2026-02", "2026") is the range of days it covers, and a card comes as
soon as one of those days falls in the window before the start or during treatment (critical when
all of them do, else a warning that the date is approximate). A date that cannot be read is
still placed when it can be: a record made (Immunization.recorded) before the window and before
treatment began, or a date in words saying only "childhood" / "age 5" of an adult whose childhood
ended long before, cannot fall in either -> no card (vaccines.yaml recorded_bounds_date,
childhood_dates); "unknown", "recently" or "?" with nothing recorded keep the warning. The
record's date places it only when the words say nothing that could place it later (no digit,
no "last week"); a date written in words ("20-Feb-2026", "Feb 20, 2026") is judged as a date,
and one after the day its record was made warns when it would otherwise be silent.

Blinatumomab treatment is read from the medication history's orders and from the
MedicationAdministrations the EHR sends (an EHR may send only those).

A live-vaccine order signed or selected on its own (`check_vaccine_order`, run by the service when
no blinatumomab order is among the drafts) is checked against the blinatumomab medication history:
during a cycle or its treatment-free interval -> critical; after that, until documented B-cell
recovery (vaccines-after-treatment.yaml, local policy) -> warning.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cds import units
from cds.checks import Check, CheckInput
from cds.fhir.facts import partial_date_range
from cds.fhir.selection import code_pairs, concept_text
from cds.fhir.vaccines import as_words, recognised_codes, unconfirmed_reason, words_of
from cds.findings import Declarations, Emission, ProposedAction, declare, emit
from cds.knowledge import Knowledge
from cds.knowledge.models import ChildhoodDates, VaccineRules
from cds.orders import (
    INDICATION_SYSTEM,
    INDICATIONS,
    counted_administrations,
    cycle_of,
    earlier_blinatumomab_orders,
    given_until,
    infusion_end,
)
from cds.patient import (
    AdministrationFact,
    Code,
    ImmunizationFact,
    MedicationOrder,
    PatientSnapshot,
    is_usable_result,
    memoized,
)
from cds.units import format_number

TOPIC = "live-vaccine"
_SHOT = ("vaccine", "recognised", "date", "days")  # a live vaccine given
FINDINGS: Declarations = {
    "live-vaccine-ordered-together": declare("critical", "vaccine"),
    "live-vaccine-history-unavailable": declare("warning", "reason"),
    "live-vaccine-recent": declare("critical", *_SHOT, "days_before"),
    "live-vaccine-during-treatment": declare("critical", *_SHOT, "treatment_start"),
    "live-vaccine-still-ordered": declare("critical", "vaccine"),
    "live-vaccine-order-completed": declare("warning", "vaccine", "order", "date", "period"),
    "live-vaccine-date-unreadable": declare(
        "warning", "vaccine", "recognised", "date_problem", "days"
    ),
    # a date given as a month or a year only, some of whose days fall in the window
    "live-vaccine-date-approximate": declare(
        "warning", "vaccine", "recognised", "date_text", "first", "last", "period"
    ),
    # a live-vaccine order on its own after blinatumomab (vaccines-after-treatment.yaml)
    "live-vaccine-ordered-during-treatment": declare(
        None, "vaccine", "last_end", "cycle", "free_until"
    ),
    "live-vaccine-before-immune-recovery": declare(
        None, "vaccine", "last_end", "recovery_rule", "latest"
    ),
    # a live-vaccine order on its own within the window before a planned blinatumomab start
    "live-vaccine-ordered-before-start": declare(None, "vaccine", "start", "days", "window"),
    # ... ordered more than the window ahead: fine if given in time
    "live-vaccine-ordered-ahead-of-start": declare(
        "warning", "vaccine", "start", "latest", "window"
    ),
    # a record that may be a live vaccine whose status (or more) could not be read
    "live-vaccine-record-unreadable": declare("warning", "vaccine", "resource"),
    # a live vaccine recorded as given (completed) whose words say it was not ("MMR: declined")
    # or name a test beside the shot ("MMR booster for low rubella titer"), dated where a shot
    # would draw a card: whether it was given is to be confirmed
    "live-vaccine-given-unconfirmed": declare(
        "warning", "vaccine", "recognised", "resource", "text", "when", "days", "doubt", "words"
    ),
}


def live_codes(knowledge: Knowledge, settings: VaccineRules) -> frozenset[Code]:
    codes = knowledge.codes_of("live_vaccines")
    if settings.alert_live_nonreplicating:
        codes |= knowledge.codes_of("live_nonreplicating_vaccines")
    return codes


def is_live_vaccine_order(
    order: MedicationOrder, live: frozenset[Code], knowledge: Knowledge
) -> bool:
    """A draft order for a live vaccine, coded by CVX, by NDC (the CDC crosswalk), named only
    in its text (the curated names in vaccine-recognition.yaml), or of an unspecified formulation
    its route makes live (`order_vaccine_codes`)."""
    return not order_vaccine_codes(order, knowledge).isdisjoint(live)


def order_vaccine_codes(order: MedicationOrder, knowledge: Knowledge) -> frozenset[Code]:
    """The codes of a vaccine order with the CVX code of the live vaccine it is recognised as,
    read as an Immunization is (`cds.fhir.vaccines.recognised`): by NDC, CPT, its names as
    written, and the route of its dosage instructions (their codings and text: CVX 88,
    influenza of no formulation, ordered intranasally is live attenuated influenza). Once an
    order (`memoized`)."""

    def compute() -> frozenset[Code]:
        written = " ".join(
            t for t in (concept_text(order.raw.get("medicationCodeableConcept")), order.text) if t
        )
        routes = dosage_routes(order.raw)
        route = frozenset(code for r in routes for code in code_pairs(r))
        route_text = " ".join(t for r in routes if (t := concept_text(r)))
        return recognised_codes(order.codes, written, knowledge, route, route_text)

    return memoized(order.memo, "vaccine-codes", knowledge, compute)


def dosage_routes(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The routes (raw CodeableConcepts) of a MedicationRequest's dosage instructions, read
    from its JSON as sent: an order read past its format faults keeps them there."""
    dosages = raw.get("dosageInstruction")
    return [
        route
        for dosage in (dosages if isinstance(dosages, list) else [])
        if isinstance(dosage, dict) and isinstance(route := dosage.get("route"), dict)
    ]


def vaccine_name(codes: frozenset[Code], knowledge: Knowledge, fallback: str) -> str:
    displays = knowledge.displays("live_vaccines", "live_nonreplicating_vaccines")
    return next((displays[c] for c in sorted(codes) if c in displays), fallback or "live vaccine")


def _days_text(days: int) -> str:
    """ "1 day", "3 days": the card never says "1 days"."""
    return f"{days} day{'' if days == 1 else 's'}"


def blinatumomab_administrations(
    patient: PatientSnapshot, knowledge: Knowledge
) -> list[AdministrationFact]:
    """The MedicationAdministrations of blinatumomab that ran (the statuses interruptions.yaml
    counts as infusions), with a start: treatment given, whether or not its order is on file."""
    return [given for given, _ in counted_administrations(patient, knowledge)]


def _treatment_start(item: CheckInput, knowledge: Knowledge) -> datetime | None:
    """When this course of blinatumomab began before this order: the first earlier order's start,
    or the first administration's (a vaccine given between courses, after an earlier course's
    last cycle, was not given during treatment)."""
    starts = [
        start
        for order in earlier_blinatumomab_orders(item.patient, knowledge)
        if (start := order.first_start()) is not None
    ] + [a.start for a in blinatumomab_administrations(item.patient, knowledge) if a.start]
    return min(
        (s for s in starts if s < item.review.start and item.review.in_course(s)), default=None
    )


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _days_recorded(text: str) -> tuple[date, date] | None:
    """The first and last day a recorded date text can mean: a FHIR date given as a year or a
    month ("2026", "2026-02") covers its days, a full date ("2026-02-20") its one day; None for a
    text that is no FHIR date ("Feb 2026", "last spring")."""
    text = text.strip()
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        return day, day
    return partial_date_range(text)


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
# a year after a named month: four digits, or two after an apostrophe ("Feb 20 '26")
_NAMED_YEAR = r"(?:(?P<year>(?:19|20)\d\d)|'(?P<yy>\d\d))"
_END = r"(?!\d|[/.-]\d)"  # no more digits of the same date (a full stop may end the sentence)
# the common ways a date is written in words, each a day (or a month): ISO, HL7 v2 (20260220),
# day-month-year with the month named, month-day-year, numeric day/month/year (either order: both
# days are meant; a two-digit year too: "2/20/26"), a named month and a year, a year and a month,
# a decade ("1990s"), a year alone. Every one a text gives is read, the earlier patterns first
# (a year inside a full date is that date's).
_WRITTEN_DATES = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"(?<![\d/.-]){_YEAR}[-/.](?P<month>\d{{1,2}})[-/.](?P<day>\d{{1,2}}){_END}",
        rf"(?<![\w]){_DAY}[\s\-/.,]*(?:of\s+)?{_MONTH}[\s\-/.,]*{_NAMED_YEAR}(?!\d)",
        rf"(?<![\w]){_MONTH}[\s\-/.,]*{_DAY}[\s\-/.,]+{_NAMED_YEAR}(?!\d)",
        r"(?<![\d/.-])(?P<first>\d{1,2})[-/.](?P<second>\d{1,2})[-/.]" + _YEAR + _END,
        r"(?<![\d/.-])(?P<first>\d{1,2})([-/.])(?P<second>\d{1,2})\2(?P<yy>\d\d)" + _END,
        r"(?<![\w])" + _YEAR + r"(?P<month>[01]\d)(?P<day>[0-3]\d)(?![\w])",
        rf"(?<![\w]){_MONTH}[\s\-/.,]*{_NAMED_YEAR}(?!\d)",
        r"(?<![\d/.-])(?P<month>\d{1,2})[-/.]" + _YEAR + _END,
        r"(?<![\d/.-])" + _YEAR + r"[-/.](?P<month>\d{1,2})" + _END,
        r"(?<![\w/.-])(?P<decade>(?:19|20)\d0)'?s(?![\w])",
        r"(?<![\w/.-])" + _YEAR + r"(?![\w/.-])",
    )
]


_LOT_NUMBER = re.compile(r"\blot\s*(?:no\.?|number|#|:)?\s*[\w-]+", re.IGNORECASE)


def _written_readings(text: str, today: date) -> list[tuple[date, date]]:
    """Every date written in words in `text` ("20-Feb-2026", "Feb 20, 2026", "20/02/2026",
    "2/20/26", "February 2026", "1990s", "in 2015"), each as the first and last day it can mean
    (a numeric day and month either way round: both), in the order the text gives them, each
    once. A two-digit year is this century's unless that is after `today`."""
    text = _LOT_NUMBER.sub(" ", text)  # "Lot 20260220" is no day
    taken: list[tuple[int, int]] = []
    found_at: list[tuple[int, tuple[date, date]]] = []
    for pattern in _WRITTEN_DATES:
        for found in pattern.finditer(text):
            span = found.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            taken.append(span)
            days = _days_of(found, today)
            if days:
                found_at.append((span[0], (min(days), max(days))))
    readings: list[tuple[date, date]] = []
    for _, reading in sorted(found_at):
        if reading not in readings:
            readings.append(reading)
    return readings


def _days_of(found: re.Match[str], today: date) -> list[date]:
    """The days (a day, the first and last of a month, a year or a decade) one written date
    means."""
    parts = found.groupdict()
    if parts.get("decade") is not None:
        decade = int(parts["decade"])
        return [date(decade, 1, 1), date(decade + 9, 12, 31)]
    if parts.get("year") is not None:
        year = int(parts["year"])
    else:
        year = 2000 + int(parts["yy"])
        if year > today.year:
            year -= 100
    if parts.get("first") is not None:
        first, second = int(parts["first"]), int(parts["second"])
        readings = [(second, first), (first, second)]  # day/month or month/day
        return [day for month, dom in readings if (day := _day(year, month, dom)) is not None]
    month_name = parts.get("month")
    if month_name is None:
        return [date(year, 1, 1), date(year, 12, 31)]
    month = _MONTHS.get(month_name.lower()) or int(month_name)
    if parts.get("day") is not None:
        day = _day(year, month, int(parts["day"]))
        return [day] if day is not None else []
    if not 1 <= month <= 12:
        return []
    return [date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])]


def _reading_text(reading: tuple[date, date]) -> str:
    first, last = reading
    return first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


# what in a text with no date the service reads could still place a shot after its record was
# made: a year (not a lot number's "2026A"), a day and month without a year ("2/20"), a named month
_YEAR_SAID = re.compile(r"(?<![A-Za-z0-9])((?:19|20)\d\d)(?![A-Za-z0-9])")
_LATER_SAID = re.compile(
    r"(?<![\w/.-])\d{1,2}[/.-]\d{1,2}(?![\w/.-])|'\d\d(?!\d)|(?<![a-z])(?:"
    + "|".join(sorted(_MONTHS, key=len, reverse=True))
    + r")(?![a-z])",
    re.IGNORECASE,
)


def _says_later(text: str, recorded: date, knowledge: Knowledge) -> bool:
    """Whether a date in words could place a shot later than its record's date (`recorded`):
    it names a year from then on, a month, a day and month, or a word of recency ("last week",
    "recently"; vaccines.yaml recorded_not_with_words). A dose number ("MMR #2", "dose 1 of 2"),
    a lot number ("Lot 2026A") or a year before the record does not."""
    words = set(words_of(text).split())
    recency = {words_of(word).strip() for word in knowledge.vaccines.recorded_not_with_words}
    if not words.isdisjoint(recency) or _LATER_SAID.search(text):
        return True
    return any(int(year) >= recorded.year for year in _YEAR_SAID.findall(text))


@dataclass(frozen=True)
class _Window:
    """When a live vaccine is not recommended, as far as this order can tell: from `earliest`
    (the window's start, or treatment's when earlier) to the infusion's start."""

    window_start: datetime
    treatment_start: datetime | None
    start: datetime

    @property
    def earliest(self) -> datetime:
        if self.treatment_start is None:
            return self.window_start
        return min(self.window_start, self.treatment_start)

    def part_of(self, first: datetime, last: datetime) -> str:
        """What of the window the days `first`..`last` meet (they meet some of it)."""
        recent = last >= self.window_start and first <= self.start
        during = (
            self.treatment_start is not None
            and last >= self.treatment_start
            and first < self.window_start
        )
        window = (
            f"the {(self.start - self.window_start).days} days before this infusion starts "
            f"({self.window_start.date().isoformat()} to {self.start.date().isoformat()})"
        )
        treatment = (
            f"blinatumomab treatment (begun {self.treatment_start.date().isoformat()})"
            if self.treatment_start is not None
            else ""
        )
        if recent and during:
            return f"{treatment} and {window}"
        return window if recent else treatment


def _approximate_shot(
    shot: ImmunizationFact,
    days: tuple[date, date],
    window: _Window,
    now: datetime,
    values: dict[str, Any],
    knowledge: Knowledge,
) -> Emission | None:
    """A live vaccine given some day of `days` (a month or a year): critical when every one of
    them falls in the window (or during treatment), a warning when only some do, else nothing.
    A completed vaccination was given by now: later days of the range are not counted."""
    settings = knowledge.vaccines
    first = _midnight(days[0])
    last = min(_midnight(days[1]), now)
    if last < first:
        last = first
    if last < window.earliest or first > window.start:
        return None
    shown = {**values, "date": f"{shot.date_text} (no day recorded)"}
    if days[0] == days[1]:
        shown["date"] = first.date().isoformat()
    if window.window_start <= first and last <= window.start:
        nearest, farthest = ((window.start.date() - d.date()).days for d in (last, first))
        return emit(
            "live-vaccine-recent",
            settings.window_source,
            **shown,
            days_before=_days_text(farthest)
            if nearest == farthest
            else f"{nearest} to {farthest} days",
        )
    if (
        window.treatment_start is not None
        and window.treatment_start <= first
        and last <= window.start
    ):
        return emit(
            "live-vaccine-during-treatment",
            settings.during_treatment_source,
            **shown,
            treatment_start=window.treatment_start.date().isoformat(),
        )
    return emit(
        "live-vaccine-date-approximate",
        settings.window_source,
        vaccine=values["vaccine"],
        recognised=values["recognised"],
        date_text=shot.date_text,
        first=first.date().isoformat(),
        last=last.date().isoformat(),
        period=window.part_of(first, last),
    )


def _removal(order: MedicationOrder) -> tuple[ProposedAction, ...]:
    """Delete the order, named by the id the EHR sent. An order sent without one (or with one that
    is no FHIR id) is read under a name of ours (`cds.fhir.snapshot.unnamed_services`), which
    the EHR does not know and which may be another resource's: no action then, the card says
    what to do."""
    if not order.named_by_ehr:
        return ()
    return (ProposedAction("delete", "Remove the live vaccine order", resource_id=order.resource),)


def ordered_together(vaccine_order: MedicationOrder, knowledge: Knowledge) -> Emission:
    """A live-vaccine order in the same orders as blinatumomab: critical, with its removal."""
    return emit(
        "live-vaccine-ordered-together",
        knowledge.vaccines.window_source,
        actions=_removal(vaccine_order),
        vaccine=vaccine_name(
            order_vaccine_codes(vaccine_order, knowledge), knowledge, vaccine_order.text
        ),
    )


def check_live_vaccines(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    settings = knowledge.vaccines
    live = live_codes(knowledge, settings)
    start = item.review.start
    findings = [
        ordered_together(draft, knowledge)
        for draft in item.draft_orders
        if is_live_vaccine_order(draft, live, knowledge)
    ]
    if "immunizations" in item.patient.unavailable:
        findings.append(
            emit(
                "live-vaccine-history-unavailable",
                settings.window_source,
                reason=item.patient.unavailable["immunizations"],
            )
        )
    window_start = start - timedelta(days=settings.window_before_start_days)
    treatment_start = _treatment_start(item, knowledge)
    window = _Window(window_start, treatment_start, start)
    given_shots = [
        (shot, found)
        for shot in item.patient.immunizations
        if shot.status in settings.given_statuses and not shot.codes.isdisjoint(live)
        if (found := _given_shot(shot, window, item, knowledge)) is not None
    ]
    given = [
        found
        if (reason := unconfirmed_reason(shot, knowledge)) is None
        else _unconfirmed(shot, found, reason, knowledge)
        for shot, found in given_shots
    ]
    findings += given
    # a live vaccine on file whose status could not be read (`cds.fhir.vaccines`): not verified
    findings += [
        emit(
            "live-vaccine-record-unreadable",
            settings.window_source,
            vaccine=vaccine_name(shot.codes, knowledge, shot.text),
            resource=shot.resource,
        )
        for shot in item.patient.immunizations
        if not shot.status and not shot.codes.isdisjoint(live)
    ]
    # an order on file is still to be given: in the 2 weeks before a first cycle as much as
    # during treatment
    on_file = memoized(
        item.patient.memo,
        f"live-vaccine-orders {sorted(live)}",
        knowledge,
        lambda: [
            o for o in item.patient.medication_orders if is_live_vaccine_order(o, live, knowledge)
        ],
    )
    for ordered in on_file:
        name = vaccine_name(order_vaccine_codes(ordered, knowledge), knowledge, ordered.text)
        if ordered.status in settings.ordered_statuses:
            findings.append(
                emit("live-vaccine-still-ordered", settings.during_treatment_source, vaccine=name)
            )
        elif ordered.status == "completed" and not given:
            findings += _completed_unrecorded(ordered, name, window, knowledge)
    return findings


# what a record's words say that doubts its shot (`cds.fhir.vaccines.unconfirmed_reason`): in the
# card's summary ("its text ..."), and in its detail ("its words (...) ...")
_DOUBTS = {
    "not-given": (
        "says not given",
        'say it was not given (declined, refused, exempt, or answered "no")',
    ),
    "tested": (
        "names a test and a shot",
        "name both a test (a titer or antibody result) and a shot, so the record may be a test "
        "of immunity rather than a vaccination",
    ),
}


def _unconfirmed(
    shot: ImmunizationFact, found: Emission, reason: str, knowledge: Knowledge
) -> Emission:
    """A live vaccine recorded as given whose words say it was not given ("MMR: declined",
    "Varicella vaccine given: no") or name a test beside the shot ("MMR booster for low rubella
    titer"; `cds.fhir.vaccines.unconfirmed_reason`), where a shot given then drew `found`: the
    record does not say surely that it was given, a warning asks to confirm (never the critical
    card of a shot, never silence)."""
    values = found.values
    if found.code == "live-vaccine-recent":
        when = f"on {values['date']}, {values['days_before']} before this infusion starts"
    elif found.code == "live-vaccine-during-treatment":
        when = (
            f"on {values['date']}, during blinatumomab treatment "
            f"(begun {values['treatment_start']})"
        )
    elif found.code == "live-vaccine-date-approximate":
        when = f"in {values['date_text']}, possibly within {values['period']}"
    else:  # live-vaccine-date-unreadable
        when = f"with {values['date_problem']}"
    return emit(
        "live-vaccine-given-unconfirmed",
        found.source,
        vaccine=values["vaccine"],
        recognised=values["recognised"],
        resource=shot.resource,
        text=shot.text,
        when=when,
        days=knowledge.vaccines.window_before_start_days,
        doubt=_DOUBTS[reason][0],
        words=_DOUBTS[reason][1],
    )


def _completed_unrecorded(
    ordered: MedicationOrder, name: str, window: _Window, knowledge: Knowledge
) -> list[Emission]:
    """A live-vaccine order completed in the chart, written in the window or during treatment,
    where no vaccination on file already gave a card (the EHR completes an order when the shot
    is given; the Immunization may be kept elsewhere): whether it was given is unknown."""
    written = ordered.first_start()
    if written is None or not window.earliest <= written <= window.start:
        return []
    days = (window.start.date() - written.astimezone(window.start.tzinfo).date()).days
    if written >= window.window_start and days >= knowledge.vaccines.window_before_start_days:
        return []
    return [
        emit(
            "live-vaccine-order-completed",
            knowledge.vaccines.window_source,
            vaccine=name,
            order=ordered.resource,
            date=written.date().isoformat(),
            period=window.part_of(written, written),
        )
    ]


def _before_window(last_day: date, window: _Window, days: int) -> bool:
    """Whether a shot given on `last_day` at the latest cannot fall in the window before the
    start nor during treatment: more than `days` days before the start (one day more than a dated
    shot is allowed, for the time zone the day was written in) and before treatment began."""
    if (window.start.date() - last_day).days <= days:
        return False
    begun = window.treatment_start
    return begun is None or last_day < begun.astimezone(window.start.tzinfo).date()


def _childhood_end_age(text: str, rules: ChildhoodDates) -> int | None:
    """The age (years) before which a shot dated `text` was given, when the text says only that
    it was given in childhood ("childhood", "as a child", "age 5": before 6); None when it says
    anything else ("recently", "unknown", "childhood booster last week", "?")."""
    if "?" in text:
        return None
    words = as_words(text)
    ages: list[int] = []
    for phrase in sorted(rules.age_phrases, key=len, reverse=True):
        pattern = " ".join(
            r"(\d{1,3})" if token == "{n}" else re.escape(words_of(token).strip())
            for token in phrase.split()
        )
        while (found := re.search(f" {pattern} ", words)) is not None:
            ages.append(int(found.group(1)) + 1)
            words = words[: found.start()] + "  " + words[found.end() :]
    said = bool(ages)
    for phrase in sorted(rules.phrases, key=len, reverse=True):
        phrase_words = as_words(phrase)
        while phrase_words in words:
            said = True
            words = words.replace(phrase_words, "  ")
    filler = {words_of(word).strip() for word in rules.filler_words}
    if not said or len(ages) > 1 or any(word not in filler for word in words.split()):
        return None
    return ages[0] if ages else rules.childhood_ends_at_age


def _placed_before_window(
    shot: ImmunizationFact, window: _Window, patient: PatientSnapshot, knowledge: Knowledge
) -> bool:
    """Whether a live vaccine with no date the service reads still cannot have been given in the
    window or during treatment: its record was made before both (Immunization.recorded), or its
    date in words says only childhood and the patient's childhood ended long before them
    (vaccines.yaml recorded_bounds_date, childhood_dates)."""
    settings = knowledge.vaccines
    days = settings.window_before_start_days
    if (
        settings.recorded_bounds_date
        and shot.recorded is not None
        and (shot.date_text is None or not _says_later(shot.date_text, shot.recorded, knowledge))
        and _before_window(shot.recorded, window, days)
    ):
        return True
    if shot.date_text is None:
        return False
    rules = settings.childhood_dates
    end_age = _childhood_end_age(shot.date_text, rules)
    ages = patient.age_years_range(window.earliest.astimezone(window.start.tzinfo).date())
    return end_age is not None and ages is not None and ages[0] >= end_age + rules.margin_years


def _date_doubted(
    text: str, readings: list[tuple[date, date]], recorded: date | None, knowledge: Knowledge
) -> str | None:
    """Why the dates read from `text` (`readings`) cannot be trusted to place a shot outside the
    window: its record was made before one of them (Immunization.recorded: the record
    contradicts itself), or the text also holds words of recency ("2015, booster last week").
    None: trusted."""
    if recorded is not None and any(recorded < first for first, _ in readings):
        return f"which is after the day its record was made ({recorded.isoformat()})"
    words = set(words_of(text).split())
    recency = {words_of(word).strip() for word in knowledge.vaccines.recorded_not_with_words}
    if not words.isdisjoint(recency):
        return "which gives a date beside words the service cannot read"
    return None


def _given_shot(
    shot: ImmunizationFact, window: _Window, item: CheckInput, knowledge: Knowledge
) -> Emission | None:
    """What a live vaccine given (status completed) says of this order, by its date."""
    settings = knowledge.vaccines
    now = item.now
    values: dict[str, Any] = {
        "vaccine": vaccine_name(shot.codes, knowledge, shot.text),
        "recognised": f" ({shot.recognised_by})" if shot.recognised_by else "",
        "days": settings.window_before_start_days,
    }
    if shot.when is None:
        text = shot.date_text
        recorded_days = None if text is None else _days_recorded(text)
        readings = (
            []
            if text is None
            else [recorded_days]
            if recorded_days is not None
            else _written_readings(text, now.date())
        )
        # a date still ahead is no day a shot was given (an expiry date "exp 02/2028")
        readings = [r for r in readings if r[0] <= now.date()] or readings
        meeting = [
            r for r in readings if _approximate_shot(shot, r, window, now, values, knowledge)
        ]
        if len(readings) > 1 and text is not None and 0 < len(meeting) < len(readings):
            # several dates: which one the shot was given on, the text does not say; one in the
            # window is never silence, and never certain (vaccines.yaml several_dates)
            return emit(
                "live-vaccine-date-unreadable",
                settings.several_dates_source,
                **values,
                date_problem=f'the date "{text}", which gives several dates '
                f"({', '.join(_reading_text(r) for r in readings)}), of which "
                f"{', '.join(_reading_text(r) for r in meeting)} "
                f"{'falls' if len(meeting) == 1 else 'fall'} within "
                f"{window.part_of(_midnight(meeting[0][0]), _midnight(meeting[-1][1]))}",
            )
        if readings and text is not None:
            days = (min(r[0] for r in readings), max(r[1] for r in readings))
            found = (  # one date, or several that all fall in the window: judged as one
                _approximate_shot(shot, days, window, now, values, knowledge)
                if len(readings) == 1 or len(meeting) == len(readings)
                else None
            )
            doubt = _date_doubted(text, readings, shot.recorded, knowledge)
            if found is not None or doubt is None:
                return found
            problem = f'the date "{text}", {doubt}'
        elif _placed_before_window(shot, window, item.patient, knowledge):
            return None
        else:
            problem = (
                f'the date "{text}", which is not a date the service can read'
                if text is not None
                else "no date of administration that the service can read (none recorded, or "
                "one in a form it does not read)"
            )
        return emit(
            "live-vaccine-date-unreadable", settings.window_source, **values, date_problem=problem
        )
    # counted in calendar days where the infusion starts, as a day recorded alone is: a shot at
    # 22:00 on the 19th at -05:00 is 14 days before a start on the 3rd there, not 13 in UTC
    day = shot.when.astimezone(window.start.tzinfo).date()
    days_before = (window.start.date() - day).days
    values["date"] = day.isoformat()
    if shot.when <= window.start and days_before < settings.window_before_start_days:
        return emit(
            "live-vaccine-recent",
            settings.window_source,
            **values,
            days_before=_days_text(days_before),
        )
    if (
        window.treatment_start is not None
        and window.treatment_start <= shot.when < window.window_start
    ):
        return emit(
            "live-vaccine-during-treatment",
            settings.during_treatment_source,
            **values,
            treatment_start=window.treatment_start.date().isoformat(),
        )
    if window.start < shot.when <= now:
        # given after this infusion's start and before it is signed (an order signed after the
        # start it was written for): given during treatment
        begun = window.treatment_start or window.start
        return emit(
            "live-vaccine-during-treatment",
            settings.during_treatment_source,
            **values,
            treatment_start=begun.date().isoformat(),
        )
    return None


@dataclass(frozen=True)
class LastInfusion:
    """The blinatumomab infusion that ends last on file, and its treatment-free interval."""

    order: MedicationOrder | None  # None: known only from administrations of no order on file
    end: datetime
    free_until: datetime


def last_infusion(patient: PatientSnapshot, knowledge: Knowledge) -> LastInfusion | None:
    """The last blinatumomab infusion of the medication history (None: never given): of the
    orders (their planned end) and of the administrations (`cds.orders.given_until`)."""
    orders = earlier_blinatumomab_orders(patient, knowledge)
    ends: list[tuple[MedicationOrder | None, datetime]] = [
        (order, infusion_end(order, begun, knowledge.cycles.default_infusion_days))
        for order in orders
        if (begun := order.first_start()) is not None
    ]
    by_resource = {order.resource: order for order in orders}
    ends += [
        (by_resource.get(a.request or ""), given_until(a, begun, patient, knowledge))
        for a in blinatumomab_administrations(patient, knowledge)
        if (begun := a.start) is not None
    ]
    if not ends:
        return None
    order, end = max(ends, key=lambda item: item[1])
    coded = (
        {c for system, c in order.reason_codes if system == INDICATION_SYSTEM}
        if order is not None
        else set()
    )
    indication = next(iter(coded)) if len(coded) == 1 and coded <= set(INDICATIONS) else None
    cycle = cycle_of(order) if order is not None else None
    possible = [
        s
        for s in knowledge.dose.schedules
        if (indication is None or s.indication == indication)
        and (cycle is None or s.cycles.contains(cycle))
    ] or list(knowledge.dose.schedules)
    free_days = max(s.treatment_free_days for s in possible)  # unknown: the longest possible
    return LastInfusion(order, end, end + timedelta(days=free_days))


def _months_after(when: datetime, months: int) -> date:
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    day = min(when.day, 28)  # month ends: a day or three early, never late
    return date(year, month, day)


def _recovery(patient: PatientSnapshot, knowledge: Knowledge, last: LastInfusion) -> str | None:
    """The result that documents B-cell recovery (None: none on file), per local policy: a
    count above the threshold taken at least the policy's months after the last infusion."""
    recovery = knowledge.vaccines_after_treatment.recovery
    earliest = _months_after(last.end, recovery.min_months_after_last_dose)
    for fact in patient.observations_of(knowledge.b_cell_recovery_codes()):
        if fact.when is None or not is_usable_result(fact.status) or fact.when.date() < earliest:
            continue
        try:
            if fact.value is None or not fact.unit or not fact.is_exact:
                continue
            count = units.convert(fact.value, fact.unit, recovery.unit)
        except units.UnitError:
            continue
        if count > recovery.b_cell_threshold_per_mm3:
            return f"{fact.resource} ({fact.when.date().isoformat()})"
        return None  # newest first: the newest qualifying result decides
    return None


def _planned_start_ahead(
    patient: PatientSnapshot, knowledge: Knowledge, given: datetime
) -> datetime | None:
    """The planned start of blinatumomab after a vaccine given at `given`, when no blinatumomab
    has begun by then (None: treatment already begun, or none planned): the vaccine falls
    before treatment, not during it."""
    starts = [
        start
        for order in earlier_blinatumomab_orders(patient, knowledge)
        if (start := order.first_start()) is not None
    ] + [a.start for a in blinatumomab_administrations(patient, knowledge) if a.start]
    if not starts or min(starts) <= given:
        return None
    return min(starts)


def check_vaccine_order(
    order: MedicationOrder, patient: PatientSnapshot, knowledge: Knowledge, now: datetime
) -> list[Emission]:
    """A live-vaccine order without blinatumomab among the drafts, for a patient whose medication
    history holds blinatumomab (label §5: no live vaccines during treatment and until immune
    recovery after the last cycle). No blinatumomab on file: nothing to say."""
    last = last_infusion(patient, knowledge)
    if last is None:
        return []
    rules_ = knowledge.vaccines_after_treatment
    # a start already past (a renewed or template order) cannot be when it is given: now is
    given = max(order.first_start() or now, now)
    vaccine = vaccine_name(order_vaccine_codes(order, knowledge), knowledge, order.text)
    cycle = cycle_of(last.order) if last.order is not None else None
    before = _planned_start_ahead(patient, knowledge, given)
    window = knowledge.vaccines.window_before_start_days
    if before is not None and (before.date() - given.date()).days >= window:
        # far enough ahead if it is given now; an order may be given later: by when, it says
        return [
            emit(
                "live-vaccine-ordered-ahead-of-start",
                knowledge.vaccines.window_source,
                vaccine=vaccine,
                start=before.date().isoformat(),
                latest=(before - timedelta(days=window)).date().isoformat(),
                window=window,
            )
        ]
    if before is not None:
        days = (before.date() - given.date()).days
        return [
            emit(
                "live-vaccine-ordered-before-start",
                knowledge.vaccines.window_source,
                indicator=rules_.during_treatment_indicator,
                actions=_removal(order),
                vaccine=vaccine,
                start=before.date().isoformat(),
                days=_days_text(days),
                window=knowledge.vaccines.window_before_start_days,
            )
        ]
    if given < last.free_until:
        return [
            emit(
                "live-vaccine-ordered-during-treatment",
                rules_.during_treatment_source,
                indicator=rules_.during_treatment_indicator,
                actions=_removal(order),
                vaccine=vaccine,
                last_end=last.end.date().isoformat(),
                cycle=f"cycle {cycle}" if cycle is not None else "the last cycle on file",
                free_until=last.free_until.date().isoformat(),
            )
        ]
    if _recovery(patient, knowledge, last) is not None:
        return []
    recovery = rules_.recovery
    latest = (
        "the laboratory results could not be read: " + patient.unavailable["observations"]
        if "observations" in patient.unavailable
        else "none on file"
    )
    return [
        emit(
            "live-vaccine-before-immune-recovery",
            rules_.after_treatment_source,
            indicator=rules_.after_treatment_indicator,
            vaccine=vaccine,
            last_end=last.end.date().isoformat(),
            recovery_rule=(
                f"a CD19+ B-cell count above {format_number(recovery.b_cell_threshold_per_mm3)} "
                f"cells/mm³ (LOINC {', '.join(recovery.loinc)}) taken at least "
                f"{recovery.min_months_after_last_dose} months after the last infusion"
            ),
            latest=latest,
        )
    ]


CHECK = Check(
    topic=TOPIC,
    verifies="live vaccines given or ordered",
    requires=frozenset(),
    run=check_live_vaccines,
    findings=FINDINGS,
)
