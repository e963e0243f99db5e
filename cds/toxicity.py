"""Toxicity recorded on the chart: what it means for a new blinatumomab order (label §2.4).

CRS and neurological toxicity carry their grade in the ICD-10-CM code (D89.83-, G92.0-), or, named
in words (SNOMED CT, free text), in the name ("Cytokine release syndrome, grade IV"); seizures
(ICD-10-CM R56.9, G40.-, status epilepticus G41.-, SNOMED CT, or named) are counted as events: one
seizure charted twice (a problem-list item and an encounter diagnosis with the same onset) is one.
Only Conditions that began after an earlier blinatumomab start count, whatever their clinical
status: a resolved grade 4 CRS still means never again. Codes and limits live in
`knowledge/toxicity.yaml`; this module turns them into one verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from cds.knowledge.models import ToxicityKind, ToxicityRules
from cds.patient import Code, ConditionFact
from cds.restarts import normalised

Action = Literal["discontinue", "restart-reduced", "confirm", "none"]
_STRENGTH: dict[Action, int] = {"none": 0, "confirm": 1, "restart-reduced": 2, "discontinue": 3}


@dataclass(frozen=True)
class ToxicityEvent:
    resource: str
    kind: ToxicityKind
    grade: int | None
    seizures: int
    onset: datetime | None
    abatement: datetime | None


Unknown = Literal["grade", "onset date"]


@dataclass(frozen=True)
class ToxicityVerdict:
    action: Action  # confirm = a grade that cannot be read, or a toxicity whose date is unknown
    reasons: tuple[str, ...]  # one line per finding, strongest first
    events: tuple[ToxicityEvent, ...]
    source: str
    # what a "confirm" verdict lacks: a grade, an onset date, or both
    unknown: frozenset[Unknown] = frozenset()

    @property
    def blocks_any_order(self) -> bool:
        return self.action == "discontinue"


def is_toxicity(codes: Iterable[Code], text: str, rules: ToxicityRules) -> bool:
    """Whether a Condition coded or named so is one the toxicity rules read (kept when a chart is
    cut)."""
    coded = any(rules.classify_coding(system, code) for system, code in codes)
    return coded or _named(text, rules) is not None


_GRADE = re.compile(r" grade ([1-5]) ")


def named_toxicity(text: str, rules: ToxicityRules) -> tuple[ToxicityKind, int | None] | None:
    """The CRS, neurological toxicity or seizure a Condition's name states, with the grade it
    states (None: not stated); None when it names none (toxicity.yaml `text_names`)."""
    named = _named(text, rules)
    return None if named is None else (named[0], named[1])


def _named(text: str, rules: ToxicityRules) -> tuple[ToxicityKind, int | None, int] | None:
    """(kind, grade, seizures) a Condition's name states. A name after a negation (or, for
    seizures, a history phrase) is none (`text_exclusions`). CRS and neurotoxicity first: a
    seizure name counts only where neither is named."""
    every = {**rules.text_names, **rules.graded_only_names}
    if not any(name.split()[0] in text for name in every):  # most Conditions: no regex at all
        return None
    said = f" {normalised(text, {})} "  # lower case, punctuation as spaces, "grade 3"
    grade = _GRADE.search(said)
    names = {**rules.text_names, **(rules.graded_only_names if grade else {})}
    found = {
        name: kind
        for name, kind in names.items()
        if f" {name} " in said and not _excluded(said, name, kind, rules)
    }
    kinds = {kind for kind in found.values() if kind != "seizure"}
    if len(kinds) > 1:  # both with one grade: which is graded is unclear
        return None
    if kinds:
        (kind,) = kinds
        return kind, int(grade[1]) if grade else None, 0
    seizures = [
        rules.text_seizures.get(name, 1) for name, kind in found.items() if kind == "seizure"
    ]
    return ("seizure", None, max(seizures)) if seizures else None


def _excluded(said: str, name: str, kind: ToxicityKind, rules: ToxicityRules) -> bool:
    """Whether every mention of `name` in `said` (normalised, space-padded) follows a negation or
    history phrase, or is followed by a qualifier that makes it no event ("seizure precautions",
    "rule out CRS grade 4")."""
    exclusion = rules.text_exclusions.get(kind)
    if exclusion is None:
        return False
    start = said.find(f" {name} ")
    while start != -1:
        before, after = said[: start + 1], said[start + len(name) + 1 :]
        if not (
            any(f" {phrase} " in before for phrase in exclusion.before)
            or any(after.startswith(f" {phrase} ") for phrase in exclusion.after)
        ):
            return False  # one plain mention is enough
        start = said.find(f" {name} ", start + 1)
    return True


def toxicity_events(
    conditions: Iterable[ConditionFact], rules: ToxicityRules
) -> list[ToxicityEvent]:
    """Every Condition coded as a blinatumomab-relevant toxicity (undated ones included)."""
    events = []
    for condition in conditions:
        if condition.verification_status in rules.ignored_verification_statuses:
            continue
        entries = [
            entry
            for system, code in sorted(condition.codes)
            if (entry := rules.classify_coding(system, code)) is not None
        ]
        found = (entries[0].kind, entries[0].grade, entries[0].seizures) if entries else None
        if found is None:
            found = _named(condition.text, rules)
        if found is not None:
            kind, grade, seizures = found
            events.append(
                ToxicityEvent(
                    condition.resource, kind, grade, seizures, condition.onset, condition.abatement
                )
            )
    return events


def assess(
    conditions: Iterable[ConditionFact],
    first_blinatumomab_start: datetime | None,
    rules: ToxicityRules,
    now: datetime,
    at_restart_dose: Sequence[tuple[datetime, datetime]] = (),
) -> ToxicityVerdict:
    """The label's consequence of the charted toxicities for any new blinatumomab order.

    `first_blinatumomab_start`: the earliest earlier blinatumomab infusion (None: none on file, so
    no toxicity can be blinatumomab's). `at_restart_dose`: when the orders on file ran at the
    restart dose (9 mcg/day; 5 mcg/m²/day), for "if it occurred at 9 mcg/day"."""
    if first_blinatumomab_start is None:
        return ToxicityVerdict("none", (), (), rules.crs.source)
    found: list[tuple[Action, str, str]] = []
    counted: list[ToxicityEvent] = []
    unknown: set[Unknown] = set()
    for event in toxicity_events(conditions, rules):
        if event.onset is None:
            ungraded = event.kind != "seizure" and event.grade is None
            text = f"{_name(event)} has no onset date" + (" and no grade" if ungraded else "")
            found.append(("confirm", text, rules.crs.source))
            unknown |= {"onset date", "grade"} if ungraded else {"onset date"}
            counted.append(event)
        elif _began_by(event.onset, first_blinatumomab_start):
            counted.append(event)
    graded = _graded(counted, rules, now, at_restart_dose)
    if any(action == "confirm" for action, _, _ in graded):
        unknown.add("grade")
    found += graded
    found += _seizures(counted, rules)
    if not found:
        return ToxicityVerdict("none", (), tuple(counted), rules.crs.source)
    found.sort(key=lambda item: -_STRENGTH[item[0]])
    action, _, source = found[0]
    reasons = tuple(text for _, text, _ in found)
    lacking = frozenset(unknown) if action == "confirm" else frozenset()
    return ToxicityVerdict(action, reasons, tuple(counted), source, lacking)


def _graded(
    events: list[ToxicityEvent],
    rules: ToxicityRules,
    now: datetime,
    at_restart_dose: Sequence[tuple[datetime, datetime]],
) -> list[tuple[Action, str, str]]:
    found: list[tuple[Action, str, str]] = []
    for kind in ("crs", "neurotoxicity"):
        rule = rules.crs if kind == "crs" else rules.neurotoxicity
        mine = sorted(
            (e for e in events if e.kind == kind and e.onset is not None),
            key=lambda e: e.onset or now,
        )
        severe = [
            e for e in mine if e.grade is not None and e.grade >= rule.restart_reduced_from_grade
        ]
        for event in mine:
            grade = event.grade
            if grade is None:
                found.append(("confirm", f"{_name(event)}: grade not recorded", rule.source))
            elif grade >= rule.discontinue_from_grade:
                found.append(
                    ("discontinue", f"{_name(event)}: discontinue permanently", rule.source)
                )
            elif grade >= rule.restart_reduced_from_grade:
                found.append(_severe(event, severe, rules, now, at_restart_dose))
    return found


def _severe(
    event: ToxicityEvent,
    severe: list[ToxicityEvent],
    rules: ToxicityRules,
    now: datetime,
    at_restart_dose: Sequence[tuple[datetime, datetime]],
) -> tuple[Action, str, str]:
    """Grade 3: a reduced restart, unless neurotoxicity began at the restart dose, recurred or
    resolved too slowly."""
    rule = rules.crs if event.kind == "crs" else rules.neurotoxicity
    source = rule.source
    onset = event.onset
    if (
        rule.at_restart_dose_discontinues
        and onset is not None
        and any(_during(onset, begin, end) for begin, end in at_restart_dose)
    ):
        return (
            "discontinue",
            f"{_name(event)} began while the infusion ran at {rules.restart.mcg_per_day} mcg/day",
            source,
        )
    restart: tuple[Action, str, str] = (
        "restart-reduced",
        f"{_name(event)}: restart at the reduced dose for {rules.restart.reduced_days} days",
        source,
    )
    if event.kind != "neurotoxicity":
        return restart
    neuro, max_days = rules.neurotoxicity, rules.neurotoxicity.max_resolution_days
    earlier = [
        e
        for e in severe
        if e is not event
        and e.abatement is not None
        and e.onset is not None
        and event.onset is not None
        and e.abatement <= event.onset
    ]
    if neuro.recurrence_discontinues and earlier:
        return ("discontinue", f"{_name(event)} recurred after an earlier one resolved", source)
    if max_days is not None and event.onset is not None:
        end = event.abatement or now
        days = (end - event.onset) / timedelta(days=1)
        if days > max_days:
            still = "" if event.abatement else " and is not yet recorded as resolved"
            return (
                "discontinue",
                f"{_name(event)} took {days:.0f} days to resolve{still} (more than {max_days})",
                source,
            )
        if event.abatement is None:
            return (
                "restart-reduced",
                f"{_name(event)} is not yet recorded as resolved; restart only at the reduced dose",
                source,
            )
    return restart


def _began_by(onset: datetime, moment: datetime) -> bool:
    """Whether an event began at `moment` or later; an onset given as a day alone (its midnight):
    on `moment`'s day or later (CRS dated the first infusion's day is blinatumomab's)."""
    if onset.timetz().replace(tzinfo=None) == datetime.min.time():
        return onset.date() >= moment.date()
    return onset >= moment


def _during(onset: datetime, begin: datetime, end: datetime) -> bool:
    """Whether an event began inside begin..end; an onset given as a day alone only when that
    whole day is inside (on the day of a step-up it may have begun either side)."""
    return _began_by(onset, begin) and not _began_by(onset, end)


def seizure_count(events: Iterable[ToxicityEvent]) -> int:
    """Seizures the dated seizure Conditions record, counted as events: Conditions with the same
    onset instant are one event (a seizure on the problem list and as the encounter's diagnosis),
    which records the most seizures any of them does (R56.9 and G40.- charted together: 2);
    different onsets are different events, even on the same day."""
    by_onset: dict[datetime, int] = {}
    for event in events:
        if event.kind == "seizure" and event.onset is not None:
            by_onset[event.onset] = max(by_onset.get(event.onset, 0), event.seizures)
    return sum(by_onset.values())


def _seizures(events: list[ToxicityEvent], rules: ToxicityRules) -> list[tuple[Action, str, str]]:
    count = seizure_count(events)
    limit = rules.seizure.discontinue_when_more_than
    if count > limit:
        text = f"{count} seizures since blinatumomab (more than {limit})"
        return [("discontinue", text, rules.seizure.source)]
    return []


_KIND_NAMES = {"crs": "CRS", "neurotoxicity": "neurological toxicity", "seizure": "seizure"}


def _name(event: ToxicityEvent) -> str:
    kind = {"crs": "CRS", "neurotoxicity": "neurological toxicity", "seizure": "seizure"}[
        event.kind
    ]
    return f"{kind} grade {event.grade}" if event.grade is not None else kind


@dataclass(frozen=True)
class RestartDose:
    """The dose the label allows on the first days of a restart after a grade 3 toxicity."""

    mcg_per_day: Decimal | None  # fixed dose (>= 45 kg)
    mcg_per_m2_per_day: Decimal | None  # BSA-based (< 45 kg)
    cap_mcg_per_day: Decimal
    days: int


def reduced_restart(weight_kg: Decimal, rules: ToxicityRules) -> RestartDose:
    restart = rules.restart
    if weight_kg >= restart.weight_threshold_kg:
        return RestartDose(restart.mcg_per_day, None, restart.cap_mcg_per_day, restart.reduced_days)
    return RestartDose(
        None, restart.mcg_per_m2_per_day, restart.cap_mcg_per_day, restart.reduced_days
    )


def restart_too_high(
    ordered_mcg_per_day: Decimal,
    allowed: RestartDose,
    bsa_m2: Decimal | None,
    tolerance_above_percent: Decimal,
) -> bool | None:
    """Is the first step of a restart above what the label allows (None: BSA needed, unknown)?"""
    if allowed.mcg_per_day is not None:
        limit = allowed.mcg_per_day
    elif bsa_m2 is None or allowed.mcg_per_m2_per_day is None:
        return None
    else:
        limit = allowed.mcg_per_m2_per_day * bsa_m2
    band = limit * (1 + tolerance_above_percent / 100)
    return ordered_mcg_per_day > min(band, allowed.cap_mcg_per_day)  # the cap is a hard ceiling
