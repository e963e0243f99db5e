"""Toxicity recorded on the chart: what it means for a new blinatumomab order (label §2.4).

CRS and neurological toxicity (ICANS, toxic encephalopathy) carry their grade in the ICD-10-CM
code (D89.83-, G92.0-) or in the Condition's words ("Cytokine release syndrome, grade IV"; "D89.839
CRS grade 4 - ICU transfer"): a grade stated both ways is the higher. Seizures (ICD-10-CM R56.9,
G40.-, status epilepticus G41.-, SNOMED CT, or named) are counted as events: one seizure charted
twice (a problem-list item and an encounter diagnosis, minutes apart or one dated by day) is one.
Only Conditions that began after an earlier blinatumomab start count, whatever their clinical
status: a resolved grade 4 CRS still means never again. Codes and limits live in
`knowledge/toxicity.yaml`; this module turns them into one verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from cds.knowledge.models import ToxicityKind, ToxicityRules
from cds.patient import Code, ConditionFact
from cds.restarts import normalised

Action = Literal["discontinue", "restart-reduced", "confirm", "none"]
# "other": another clinically relevant adverse reaction (toxicity.yaml `other_names`)
EventKind = ToxicityKind | Literal["other"]
_STRENGTH: dict[Action, int] = {"none": 0, "confirm": 1, "restart-reduced": 2, "discontinue": 3}


@dataclass(frozen=True)
class ToxicityEvent:
    resource: str
    kind: EventKind
    grade: int | None
    seizures: int
    onset: datetime | None
    abatement: datetime | None
    resolved: bool = False  # its clinical status says resolved (with or without an abatement)
    named: str = ""  # another adverse reaction: the name it was read by ("pancreatitis")


Unknown = Literal["grade", "onset date"]


@dataclass(frozen=True)
class ToxicityVerdict:
    action: Action  # confirm = a grade that cannot be read, or a toxicity whose date is unknown
    reasons: tuple[str, ...]  # one line per finding, strongest first
    events: tuple[ToxicityEvent, ...]
    source: str
    # what a "confirm" verdict lacks: a grade, an onset date, or both
    unknown: frozenset[Unknown] = frozenset()
    # grade 3 toxicities charted resolved without an abatement date, whose time to resolve the
    # label's rule needs (red team rt_tox #3: "took 10 days ... not yet resolved" was false)
    resolution_unknown: tuple[str, ...] = ()

    @property
    def blocks_any_order(self) -> bool:
        return self.action == "discontinue"


def is_toxicity(codes: Iterable[Code], text: str, rules: ToxicityRules) -> bool:
    """Whether a Condition coded or named so is one the toxicity rules read (kept when a chart is
    cut)."""
    coded = any(rules.classify_coding(system, code) for system, code in codes)
    return coded or _named(text, rules) is not None or _other_named(text, rules) is not None


def _other_named(text: str, rules: ToxicityRules) -> tuple[str, str] | None:
    """(the name, the normalised text) of another adverse reaction a Condition's name states
    (toxicity.yaml `other_names`), as whole words; None: none."""
    if not any(word in text for word in rules.other_first_words):
        return None  # most Conditions: no regex at all
    said = f" {normalised(text, {})} "
    named = next((n for n in rules.other_names if f" {n} " in said), None)
    return None if named is None else (named, said)


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
    history phrase, is followed by a qualifier that makes it no event ("seizure precautions",
    "rule out CRS grade 4"), or right after a cause that makes it another condition ("hepatic
    encephalopathy")."""
    exclusion = rules.text_exclusions.get(kind)
    if exclusion is None:
        return False
    # where the first negation or history phrase ends: every mention after it follows one (found
    # once, and each mention tested in place: a copy of the text per mention made a 100 KB name
    # of "r/o seizure r/o seizure ..." take seconds)
    ends = [i + len(p) + 2 for p in exclusion.before if (i := said.find(f" {p} ")) != -1]
    negated_from = min(ends, default=len(said) + 1)
    start = said.find(f" {name} ")
    while start != -1:
        end = start + len(name) + 1
        if not (
            negated_from <= start + 1
            or any(said.endswith(f" {phrase} ", 0, start + 1) for phrase in exclusion.right_before)
            or any(said.startswith(f" {phrase} ", end) for phrase in exclusion.after)
        ):
            return False  # one plain mention is enough
        start = said.find(f" {name} ", start + 1)
    return True


def toxicity_events(
    conditions: Iterable[ConditionFact], rules: ToxicityRules
) -> list[ToxicityEvent]:
    """Every Condition coded or named as a blinatumomab-relevant toxicity (undated ones
    included)."""
    events = []
    for condition in conditions:
        if condition.verification_status in rules.ignored_verification_statuses:
            continue
        if found := _read(condition, rules):
            kind, grade, seizures = found
            events.append(
                ToxicityEvent(
                    condition.resource,
                    kind,
                    grade,
                    seizures,
                    condition.onset,
                    condition.abatement,
                    condition.clinical_status in rules.resolved_clinical_statuses,
                )
            )
    return events


def other_reactions(
    conditions: Iterable[ConditionFact],
    rules: ToxicityRules,
    infused: Sequence[tuple[datetime, datetime]],
    noted_grade: int | None = None,
) -> list[ToxicityEvent]:
    """Other adverse reactions (toxicity.yaml `other_names`: "Acute pancreatitis, grade 3") that
    began during an infusion (`infused`: begin, end). The grade is the one their words state, else
    `noted_grade` (the restart note's "grade 3 adverse reaction"); ungraded ones are left out:
    grade 1-2 changes nothing (label §2.4)."""
    events = []
    for condition in conditions:
        if condition.verification_status in rules.ignored_verification_statuses:
            continue
        onset = condition.onset
        if onset is None or not any(_within(onset, b, e) for b, e in infused):
            continue
        found = _other_named(condition.text, rules)
        if found is None or _read(condition, rules) is not None:
            continue  # a CRS or neurotoxicity graded by its own rules
        named, said = found
        stated = _GRADE.search(said)
        grade = int(stated[1]) if stated else noted_grade
        if grade is None:
            continue
        resolved = condition.clinical_status in rules.resolved_clinical_statuses
        events.append(
            ToxicityEvent(
                condition.resource, "other", grade, 0, onset, condition.abatement, resolved, named
            )
        )
    return events


def _within(onset: datetime, begin: datetime, end: datetime) -> bool:
    """Whether an event began while an infusion ran; an onset given as a day alone: on one of its
    days (a reaction on the day the bag came down is the one it was stopped for)."""
    if day_only(onset):
        return begin.date() <= onset.date() <= end.date()
    return begin <= onset <= end


def _read(
    condition: ConditionFact, rules: ToxicityRules
) -> tuple[ToxicityKind, int | None, int] | None:
    """(kind, grade, seizures) of a Condition. The code decides the kind; its words may add the
    grade the code lacks ("D89.839 ... CRS grade 4 - ICU transfer"), and where both state one the
    higher counts (fail safe). A code of another condition (K76.82 hepatic encephalopathy) leaves
    its words unread: their grade is on another scale."""
    entries = [
        entry
        for system, code in sorted(condition.codes)
        if (entry := rules.classify_coding(system, code)) is not None
    ]
    if not entries:
        other = any(rules.names_other_condition(system, code) for system, code in condition.codes)
        return None if other else _named(condition.text, rules)
    entry = entries[0]
    named = _named(condition.text, rules) if entry.kind != "seizure" else None
    grades = [g for g in (entry.grade, named[1] if named and named[0] == entry.kind else None) if g]
    return entry.kind, max(grades, default=None), entry.seizures


def assess(
    conditions: Iterable[ConditionFact],
    first_blinatumomab_start: datetime | None,
    rules: ToxicityRules,
    now: datetime,
    at_restart_dose: Sequence[tuple[datetime, datetime]] = (),
    infused: Sequence[tuple[datetime, datetime]] = (),
    noted_grade: int | None = None,
) -> ToxicityVerdict:
    """The label's consequence of the charted toxicities for any new blinatumomab order.

    `first_blinatumomab_start`: the earliest earlier blinatumomab infusion (None: none on file, so
    no toxicity can be blinatumomab's). `at_restart_dose`: when the orders on file ran at the
    restart dose (9 mcg/day; 5 mcg/m²/day), for "if it occurred at 9 mcg/day". `infused`: when
    they ran, and `noted_grade` the grade of another adverse reaction the order's note states
    (`other_reactions`)."""
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
    counted += other_reactions(conditions, rules, infused, noted_grade)
    unresolved: list[str] = []
    found += _graded(counted, rules, now, at_restart_dose, unknown, unresolved)
    found += _seizures(counted, rules)
    if not found:
        return ToxicityVerdict("none", (), tuple(counted), rules.crs.source)
    resolution = tuple(unresolved)
    found.sort(key=lambda item: -_STRENGTH[item[0]])
    action, _, source = found[0]
    # under "discontinue permanently", only why (not "restart at the reduced dose": redteam5 #10)
    reasons = tuple(text for a, text, _ in found if a == action or action != "discontinue")
    lacking = frozenset(unknown) if action == "confirm" else frozenset()
    return ToxicityVerdict(action, reasons, tuple(counted), source, lacking, resolution)


def _graded(
    events: list[ToxicityEvent],
    rules: ToxicityRules,
    now: datetime,
    at_restart_dose: Sequence[tuple[datetime, datetime]],
    unknown: set[Unknown],
    unresolved: list[str],
) -> list[tuple[Action, str, str]]:
    """The findings of the graded kinds; what a "confirm" lacks goes to `unknown`, a grade 3
    resolved on an unknown day to `unresolved`."""
    found: list[tuple[Action, str, str]] = []
    for kind in ("crs", "neurotoxicity", "other"):
        rule = rules.graded(kind)
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
                unknown.add("grade")
                found.append(("confirm", f"{_name(event)}: grade not recorded", rule.source))
            elif grade >= rule.discontinue_from_grade:
                found.append(
                    ("discontinue", f"{_name(event)}: discontinue permanently", rule.source)
                )
            elif grade >= rule.restart_reduced_from_grade:
                found.append(
                    _severe(event, severe, rules, now, at_restart_dose, unknown, unresolved)
                )
    return found


def _severe(
    event: ToxicityEvent,
    severe: list[ToxicityEvent],
    rules: ToxicityRules,
    now: datetime,
    at_restart_dose: Sequence[tuple[datetime, datetime]],
    unknown: set[Unknown],
    unresolved: list[str],
) -> tuple[Action, str, str]:
    """Grade 3: a reduced restart, unless neurotoxicity began at the restart dose, recurred, or
    it resolved too slowly (neurotoxicity: 7 days, another reaction: 14). A day-only onset on the
    day the restart dose ended may be either dose: confirm the onset (red team rt_tox #2)."""
    rule = rules.graded(event.kind)
    source = rule.source
    onset = event.onset
    low = rules.restart.mcg_per_day
    if rule.at_restart_dose_discontinues and onset is not None:
        if any(_during(onset, begin, end) for begin, end in at_restart_dose):
            return (
                "discontinue",
                f"{_name(event)} began while the infusion ran at {low} mcg/day",
                source,
            )
        if day_only(onset) and any(onset.date() == end.date() for _, end in at_restart_dose):
            unknown.add("onset date")
            return (
                "confirm",
                f"{_name(event)} is dated {onset.date().isoformat()} alone, the day the infusion "
                f"at {low} mcg/day ended: if it began at {low} mcg/day, discontinue permanently",
                source,
            )
    restart: tuple[Action, str, str] = (
        "restart-reduced",
        f"{_name(event)}: restart at the reduced dose for {rules.restart.reduced_days} days",
        source,
    )
    max_days = rule.max_resolution_days
    earlier = [
        e
        for e in severe
        if e is not event
        and e.abatement is not None
        and e.onset is not None
        and event.onset is not None
        and e.abatement <= event.onset
    ]
    if rule.recurrence_discontinues and earlier:
        return ("discontinue", f"{_name(event)} recurred after an earlier one resolved", source)
    if (
        max_days is not None
        and event.onset is not None
        and event.abatement is None
        and event.resolved
    ):
        unresolved.append(
            f"{_name(event)} is recorded as resolved, but not when: if it took more than "
            f"{max_days} days to resolve, discontinue permanently"
        )
        return restart
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


def too_soon_to_restart(
    events: Iterable[ToxicityEvent],
    rules: ToxicityRules,
    withhold_days: Mapping[str, int],
    restart_at: datetime,
) -> tuple[str, ...]:
    """Why an infusion restarting at `restart_at` after a grade 3 toxicity comes before the label
    allows (§2.4: CRS withheld until resolved, neurological toxicity until at most grade 1 for 3
    days; restarts.yaml `withhold_days_after_resolution`). A Condition with no abatement has not
    resolved as far as the chart says (redteam5 #4: only the info reminder before)."""
    found = []
    for event in events:
        days = withhold_days.get(event.kind)
        rule = rules.graded(event.kind)
        grade = event.grade
        if days is None or event.onset is None or grade is None:
            continue
        if event.abatement is None and event.resolved:
            continue  # resolved on an unknown day: ToxicityVerdict.resolution_unknown asks
        if not rule.restart_reduced_from_grade <= grade < rule.discontinue_from_grade:
            continue
        wait = f" (the label: resolved and at most grade 1 for {days} days first)" if days else ""
        if event.abatement is None:
            found.append(f"{_name(event)} is not recorded as resolved")
        elif restart_at < event.abatement:
            found.append(f"{_name(event)} is recorded as resolved only after this order starts")
        elif restart_at < event.abatement + timedelta(days=days):
            since = _duration(restart_at - event.abatement)
            found.append(f"{_name(event)} resolved {since} before this order starts{wait}")
    return tuple(found)


def _duration(span: timedelta) -> str:
    hours = span / timedelta(hours=1)
    return f"{hours:.0f} hours" if hours < 48 else f"{hours / 24:.1f} days"


def _began_by(onset: datetime, moment: datetime) -> bool:
    """Whether an event began at `moment` or later; an onset given as a day alone (its midnight):
    on `moment`'s day or later (CRS dated the first infusion's day is blinatumomab's)."""
    if day_only(onset):
        return onset.date() >= moment.date()
    return onset >= moment


def _during(onset: datetime, begin: datetime, end: datetime) -> bool:
    """Whether an event began inside begin..end; an onset given as a day alone only when that
    whole day is inside (on the day of a step-up it may have begun either side)."""
    return _began_by(onset, begin) and not _began_by(onset, end)


def seizure_count(events: Iterable[ToxicityEvent], rules: ToxicityRules) -> int:
    """Seizures the dated seizure Conditions record, counted as events. One seizure is often
    charted twice (the problem list and the encounter's diagnosis): onsets within
    `same_event_within_minutes` of an event's first, and a day-only onset on the day of a timed one,
    are that event, which records the most seizures any of them does (R56.9 and G40.- charted
    together: 2). Onsets further apart are different seizures, even on the same day."""
    window = timedelta(minutes=rules.seizure.same_event_within_minutes)
    dated = sorted(
        (e.onset, e.seizures) for e in events if e.kind == "seizure" and e.onset is not None
    )
    timed: list[tuple[datetime, int]] = []  # (first onset, seizures) per event
    by_day: dict[date, int] = {}  # day-only onsets
    for onset, seizures in dated:
        if day_only(onset):
            by_day[onset.date()] = max(by_day.get(onset.date(), 0), seizures)
        elif timed and onset - timed[-1][0] <= window:
            timed[-1] = (timed[-1][0], max(timed[-1][1], seizures))
        else:
            timed.append((onset, seizures))
    merged = [max(seizures, by_day.pop(first.date(), 0)) for first, seizures in timed]
    return sum(merged) + sum(by_day.values())


def day_only(onset: datetime) -> bool:
    """An onset given as a day alone (read as its midnight)."""
    return onset.timetz().replace(tzinfo=None) == datetime.min.time()


def _seizures(events: list[ToxicityEvent], rules: ToxicityRules) -> list[tuple[Action, str, str]]:
    count = seizure_count(events, rules)
    limit = rules.seizure.discontinue_when_more_than
    if count > limit:
        text = f"{count} seizures since blinatumomab (more than {limit})"
        return [("discontinue", text, rules.seizure.source)]
    return []


_KIND_NAMES = {"crs": "CRS", "neurotoxicity": "neurological toxicity", "seizure": "seizure"}


def _name(event: ToxicityEvent) -> str:
    if event.kind == "other":
        return f"grade {event.grade} adverse reaction ({event.named})"
    kind = _KIND_NAMES[event.kind]
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
