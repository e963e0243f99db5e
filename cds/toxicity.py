"""Toxicity recorded on the chart: what it means for a new blinatumomab order (label §2.4).

CRS and neurological toxicity (ICANS, toxic encephalopathy) carry their grade in the ICD-10-CM
code (D89.83-, G92.0-) or in the Condition's words ("Cytokine release syndrome, grade IV"; "D89.839
CRS grade 4 - ICU transfer"): a grade stated both ways is the higher. Seizures (ICD-10-CM R56.9,
G40.-, status epilepticus G41.-, SNOMED CT, or named) are counted as events: one seizure charted
twice (a problem-list item and an encounter diagnosis, minutes apart or one dated by day) is one;
words may state more than one ("Recurrent seizures", "Seizures x2"), and an encounter diagnosis
timed hours from a problem-list seizure of its day may be either (asked).
Only Conditions that began after an earlier blinatumomab start count, whatever their clinical
status: a resolved grade 4 CRS still means never again. Codes and limits live in
`knowledge/toxicity.yaml`; this module turns them into one verdict.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from cds.knowledge.models import SeizureCountWords, ToxicityKind, ToxicityRules
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
    # the last day it may have begun, when its onset is no date or an age ("2015", "6 a")
    onset_by: date | None = None
    categories: frozenset[str] = frozenset()  # its Condition's ("encounter-diagnosis")


# "seizure grade": a seizure charted without a grade (CTCAE v5: a new-onset seizure is grade 3,
# so the reduced restart may apply); "seizure count": seizure Conditions dated by one day alone,
# one seizure charted twice or two (more than one: discontinue permanently)
Unknown = Literal["grade", "onset date", "seizure grade", "seizure count"]


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
    # seizure Conditions dated by the same day alone: one seizure charted twice, or two? (label
    # §2.4: more than one seizure -> discontinue permanently); also among `reasons`
    seizure_count_unknown: tuple[str, ...] = ()
    # seizures without a grade: what the reduced restart (9 mcg/day for 7 days) already answers,
    # since one seizure is at most grade 3 (prolonged repetitive seizures read as more than one);
    # not one that began at 9 mcg/day, whose grade 3 means discontinue (red team rt12/c H2): its
    # line stays among `reasons` for the reduced restart too
    seizure_grade_unknown: tuple[str, ...] = ()

    @property
    def blocks_any_order(self) -> bool:
        return self.action == "discontinue"

    def confirm_reasons(self, reduced_restart: bool) -> tuple[str, ...]:
        """The lines a "confirm the grade / the date" card lists, for an order that is (True) or
        is not the label's reduced restart (9 mcg/day, 5 mcg/m²/day under 45 kg, for its first 7
        days): a seizure's unknown grade matters only above it; the seizure count has its own card
        (`seizure_count_unknown`), asked first. Empty: no such card."""
        if self.action != "confirm":
            return ()
        left_out = set(self.seizure_count_unknown)
        if reduced_restart or self.seizure_count_unknown:  # one card at a time: the count first
            left_out |= set(self.seizure_grade_unknown)
        return tuple(line for line in self.reasons if line not in left_out)


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


def grade_stated(text: str) -> int | None:
    """The grade words state ("Grade 3", "CTCAE Gr. IV", "ICANS G2"): a Condition's name, or its
    stage summary's text and coding displays; None: none stated."""
    if not text:
        return None
    stated = _GRADE.search(f" {normalised(text, {})} ")
    return int(stated[1]) if stated else None


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
    said = _said(text)  # lower case, punctuation as spaces, "grade 3", parts apart by " | "
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
    words_count = rules.text_seizure_counts
    seizures = [
        max(rules.text_seizures.get(name, 1), _counted(said, name, rules))
        for name, kind in found.items()
        if kind == "seizure"
    ]
    if seizures and words_count is not None and words_count.dated_mentions:
        seizures.append(_dated(text, said, rules))
    if kinds:
        (kind,) = kinds
        # "ICANS grade 3 with seizure" is the graded ICANS; "ICANS grade 2, seizures x2" is also
        # more than one seizure, whatever else it names (label §2.4; red team rt13/c H1)
        many = max(seizures, default=0)
        return kind, int(grade[1]) if grade else None, many if many > 1 else 0
    # a seizure's CTCAE grade ("Seizure, grade 2": a brief generalized one) when its words state it
    return ("seizure", int(grade[1]) if grade else None, max(seizures)) if seizures else None


# where a part of a Condition's words ends: a negation or a count word does not reach over it
# ("No prior history; seizures x2"; "Seizure; cluster headaches"). A full stop only after a word of
# three letters or more, or a number: "Gr. III", "Hx. seizures" are abbreviations.
_SEPARATOR = re.compile(r"[;\n\r]|(?:(?<=[A-Za-z]{3})|(?<=[0-9]))\.(?=\s|$)")
_PART = "|"  # stands between the parts of `_said`; `normalised` leaves no "|" in a part


_QUESTION = "?"  # ends a part of `_said` that asks (red team rt14/a N4: "Seizure, again?")
# a '?' right after a word asks about the words before it ("Seizure, again?"); one before a word
# asks about that word alone, a cause ("Seizures x2, ?PRES", "Seizures x 3 ? etiology": red team
# rt15/a H1), and leaves the count
_ASKED = re.compile(r"[^\W_]\?")
# a bare number that states a count after a seizure name, read as "x N" (red team rt14/a H2, H5):
# the multiplication sign ("Seizures ×2"), "#2" ("Seizure #2"), a number alone after a colon or
# in brackets ("Seizures: 2", "Seizures (3)"; not "Seizure: 2/24", "Seizure (2 of 2 entries)", nor
# a clock time: "Seizure 14:30", red team rt15/a N6)
_AS_TIMES = re.compile(r"\u00d7|#\s*(?=\d)|(?<!\d):\s*(?=\d+\s*(?:[,;)]|$))|\(\s*(?=\d+\s*\))")


def _said(text: str) -> str:
    """A Condition's words normalised (`normalised`) part by part, space-padded, the parts apart
    by " | "; a part with a question mark right after a word (`_ASKED`) ends in " ?". Once where
    code.text and a display are the same words: a word after the name is not read from the
    repeat ("Multiple sclerosis; seizure" twice is not "seizure multiple")."""
    half = len(text) // 2
    if text[half : half + 1] == " " and text[:half] == text[half + 1 :]:
        text = text[:half]
    parts = (
        normalised(_AS_TIMES.sub(" x ", part), {})
        + (f" {_QUESTION}" if _ASKED.search(part) else "")
        for part in _SEPARATOR.split(text)
    )
    return f" {f' {_PART} '.join(parts)} "


def _number(token: str, words: SeizureCountWords, ordinal: bool = True) -> int | None:
    """The count a token states by itself: a number ("6"), glued to a count marker ("x6", "2x"),
    an ordinal ("2nd", "3rd"; not unless `ordinal`); None: none (toxicity.yaml
    `text_seizure_counts`)."""
    if not words.any_number:
        return None
    if token.isdigit():
        return int(token) if int(token) <= words.number_max else None  # not a year
    for marker in words.number_markers:
        for rest in (token.removeprefix(marker), token.removesuffix(marker)):
            if rest != token and rest.isdigit() and int(rest) <= words.number_max:
                return int(rest)
    for suffix in words.ordinal_suffixes if ordinal else ():
        rest = token.removesuffix(suffix)
        if rest != token and rest.isdigit():
            return int(rest)
    return None


def _counted_after(said: str, end: int, words: SeizureCountWords, names: Iterable[str] = ()) -> int:
    """The most seizures the words right after a seizure name (ending at `end`) state: a phrase
    of `after` ("x2", "recurrent", "again"), a number with a marker ("x 10", "6x", "2 episodes"),
    past words of `after_skip` ("episodes x2", "activity x2"). A count followed by a unit of time
    is a duration ("x 2 min", "x 2-3 min", "x 2.5 min"), unless 'apart' follows ("x 3 hours
    apart"); an ordinal after the name counts before "episode" or ending the phrase ("3rd
    episode", "2nd"; not "2nd to PRES": secondary to); "2 episodes of" counts only the seizure's
    own kind ("of GTC", not "of emesis"). A word of `after_at_end` counts only ending the phrase
    (before the part's end or a name of `names` past `display_lead` words: the coding's
    display)."""
    tokens = said[end : end + 80].split()[:8]
    i = 0
    while i < len(tokens) and tokens[i] in words.after_skip:
        i += 1
    rest = tokens[i:]

    def duration(at: int) -> bool:  # the word at `at` is a unit of time ("x 2 min")
        # past a range or a decimal's other number ("x 2-3 min", "x 2 to 3 min", "x 2.5 min")
        if at + 1 < len(rest) and (rest[at].isdigit() or rest[at] == "to"):
            at += 2 if rest[at] == "to" and at + 2 < len(rest) and rest[at + 1].isdigit() else 1
        # not before 'apart': separate seizures ("Seizures x 3 hours apart": red team rt15/a H4)
        return (
            at < len(rest)
            and rest[at] in words.time_units
            and not (at + 1 < len(rest) and rest[at + 1] in words.duration_not_before)
        )

    def at_end(at: int) -> bool:  # the phrase ends at `at` (the part's end, or a display's name)
        while at < len(rest) and rest[at] in words.display_lead:
            at += 1
        following = f" {' '.join(rest[at:])} "
        return (
            at >= len(rest)
            or rest[at] in (_PART, _QUESTION)
            or any(following.startswith(f" {name} ") for name in names)
        )

    def a_count(token: str) -> bool:  # a number or a number word ("x 2", "times two", "several")
        return any(c.isdigit() for c in token) or token in words.plural_only

    def own_kind(at: int) -> bool:  # the seizure's own kind follows ("of tonic clonic activity")
        following = f" {' '.join(rest[at:])} "
        return any(following.startswith(f" {kind} ") for kind in words.number_nouns_of_kinds)

    most = 1
    # an ordinal counts before an `ordinal_nouns` word or ending the phrase ("Seizure, 3rd
    # episode", "Seizure, 2nd"; not "2nd to PRES", "second opinion": red team rt15/a H3)
    ordinal = words.after_ordinals.get(rest[0]) if rest else None
    if rest and ordinal is None and not rest[0].isdigit():
        ordinal = _number(rest[0], words) if words.any_number else None
    lifetime = _earlier_time(said, end, words)  # "Seizure, 3rd episode since childhood"
    if (
        ordinal is not None
        and not lifetime
        and ((len(rest) > 1 and rest[1] in words.ordinal_nouns) or at_end(1))
    ):
        most = ordinal
    for phrase, n in words.after.items():
        said_words = phrase.split()
        if (
            rest[: len(said_words)] == said_words
            and not (lifetime and _ordinal(said_words[0], words))  # "second episode since 2019"
            and not (a_count(said_words[-1]) and duration(len(said_words)))
            and (phrase not in words.after_at_end or at_end(len(said_words)))
        ):
            most = max(most, n)
    first, second, third = [*rest[:3], "", "", ""][:3]
    if words.any_number:
        if (
            first in words.number_markers
            and second.isdigit()
            and int(second) <= words.number_max
            and not duration(2)
        ):
            most = max(most, int(second))  # "x 10", "times 3"
        elif (
            first.isdigit()
            and second in words.number_nouns
            and int(first) <= words.number_max
            and (third not in words.number_nouns_not_before or own_kind(3))
        ):
            most = max(most, int(first))  # "2 episodes", "6 x", "2 episodes of gtc"
        elif (glued := _number(first, words, ordinal=False)) is not None and not (
            first.isdigit() or duration(1)
        ):
            most = max(most, glued)  # "x6", "2x" (not "3rd": an ordinal counts before the name)
    return most


def _ordinal(token: str, words: SeizureCountWords) -> bool:
    """Whether a token is an ordinal ("2nd", "second", "another": `after_ordinals`)."""
    return token in words.after_ordinals or any(
        token.removesuffix(suffix) != token and token.removesuffix(suffix).isdigit()
        for suffix in words.ordinal_suffixes
    )


_YEAR = re.compile(r"(?:19|20)\d\d")


def _earlier_time(said: str, at: int, words: SeizureCountWords) -> bool:
    """Whether the part of `said` holding the index `at` says an earlier time (toxicity.yaml
    `ordinal_not_with`: "since", "lifetime", "childhood"; a year): an ordinal there counts the
    patient's seizures of a lifetime, not since blinatumomab (red team rt16/b N1)."""
    begin = said.rfind(f" {_PART} ", 0, at)
    stop = said.find(f" {_PART} ", at)
    part = said[begin + 1 if begin != -1 else 0 : stop if stop != -1 else len(said)].split()
    return any(
        token in words.ordinal_not_with
        or (words.ordinal_not_with_years and _YEAR.fullmatch(token) is not None)
        for token in part
    )


def _counted(said: str, name: str, rules: ToxicityRules) -> int:
    """The most seizures the words around a plain mention of the seizure name `name` state
    (toxicity.yaml `text_seizure_counts`: "recurrent seizures", "two generalized tonic-clonic
    seizures", "seizures x 3"); 1: none stated (a bare plural is a category name)."""
    words = rules.text_seizure_counts
    if words is None:
        return 1
    plural_name = name.split()[-1] in words.plural_names
    most = 1
    for start in _plain_mentions(said, name, "seizure", rules):
        end = start + len(name) + 1
        stop = said.find(f" {_PART} ", end - 1)
        if said[: stop if stop != -1 else len(said)].rstrip().endswith(f" {_QUESTION}"):
            continue  # a question ("Seizure, again?"): no count (red team rt14/a N4)
        most = max(most, _counted_after(said, end, words, rules.text_names))
        tokens = said[:start].split()
        # "multiple seizure episodes", "two episodes of seizure": as a plural name
        plural = plural_name or next(iter(said[end:].split()), "") in words.plural_after
        for phrase in words.plural_before:
            if tokens[-len(phrase.split()) :] == phrase.split():
                tokens, plural = tokens[: -len(phrase.split())], True
                break
        # back from the name over the seizure's kind ("two generalized tonic clonic seizures")
        i = len(tokens) - 1
        while i >= 0 and tokens[i] in words.between and len(tokens) - i < words.before_within_words:
            i -= 1
        token = tokens[i] if i >= 0 else ""
        # a phrase of several words ("back to back seizures", "recurrence of seizure")
        phrased = [
            n
            for phrase, n in words.before.items()
            if " " in phrase
            and i >= 0
            and tokens[: i + 1][-len(phrase.split()) :] == phrase.split()
        ]
        if phrased:
            most = max(most, *phrased)
            continue
        n = words.before.get(token)
        cardinal = token.isdigit()
        if any(c.isdigit() for c in token) and _named_before(tokens[:i], rules):
            # a number after another seizure name of its part counts none: code.text's number
            # before the display's name ("Seizure, T 38 Simple febrile convulsions": red team
            # rt15/a N1; the words read are code.text and the displays, joined by a space)
            continue
        if n is None and not (i > 0 and any(c.isdigit() for c in tokens[i - 1])):
            # any number ("6 seizures"), an ordinal ("2nd seizure"); not a code's or a date's
            # ("R56.9 seizures", "24/02/2026 seizures")
            n = _number(token, words)
        if n is not None and _ordinal(token, words) and _earlier_time(said, start + 1, words):
            continue  # a lifetime count ("2nd seizure in lifetime": red team rt16/b N1)
        if n is not None and not (
            (token in words.plural_only or cardinal)
            and (not plural or (i > 0 and tokens[i - 1] in words.numbers_not_after))
        ):
            most = max(most, n)
    return most


_DATE = r"\d{1,2}/\d{1,2}(?:/\d{2,4})?(?![\d/])"
# a seizure name followed by a date, a plural one by a list of dates ("Seizure 2/24",
# "Seizures on 2/24 and 2/25"); "2/2" is "secondary to" ("Seizure 2/2 PRES")
_DATED = re.compile(
    rf"\b(seizure|seizures|convulsion|convulsions|gtc|gtcs)(?:\s*[,:-])?(?:\s+on)?\s+({_DATE}"
    rf"(?:\s*(?:,|and|&)\s*{_DATE})*)"
)


def _dated(text: str, said: str, rules: ToxicityRules) -> int:
    """Seizures a Condition's words date on different days: a seizure name followed by a date,
    not after a negation or history phrase ("Seizure 2/24, seizure 2/25", "Seizures on 2/24 and
    2/25": two; red team rt14/a H4); 1: fewer than two dates."""
    days: set[tuple[int, int]] = set()
    seen: dict[str, int] = {}
    words = rules.text_seizure_counts
    not_after = words.dated_not_after if words is not None else []
    for match in itertools.islice(_DATED.finditer(text.lower()), 20):
        name = match[1]
        nth = seen[name] = seen.get(name, -1) + 1
        if rules.text_names.get(name) != "seizure":
            continue
        at = -1
        for _ in range(nth + 1):  # the same mention in `said`
            at = said.find(f" {name} ", at + 1)
        if at == -1 or at not in _plain_mentions(said, name, "seizure", rules):
            continue
        if any(said.endswith(f" {word} ", 0, at + 1) for word in not_after):
            continue  # a test or a visit for it ("EEG for seizure 2/25": red team rt16/b N2)
        dates = re.findall(_DATE, match[2])
        for dated in dates if name.endswith("s") else dates[:1]:
            day = tuple(int(n) for n in dated.split("/")[:2])
            if day != (2, 2) or len(dated.split("/")) > 2:
                days.add((day[0], day[1]))
    return max(1, len(days))


def _named_before(tokens: list[str], rules: ToxicityRules) -> bool:
    """Whether a seizure name stands among `tokens` (the words before a number) in the part the
    number is in (after the last part separator)."""
    part = tokens[len(tokens) - tokens[::-1].index(_PART) :] if _PART in tokens else tokens
    said = f" {' '.join(part)} "
    return any(f" {name} " in said for name, kind in rules.text_names.items() if kind == "seizure")


def _excluded(said: str, name: str, kind: ToxicityKind, rules: ToxicityRules) -> bool:
    """Whether every mention of `name` in `said` (normalised, space-padded) follows a negation or
    history phrase, is followed by a qualifier that makes it no event ("seizure precautions",
    "rule out CRS grade 4"), or right after a cause that makes it another condition ("hepatic
    encephalopathy")."""
    return rules.text_exclusions.get(kind) is not None and not _plain_mentions(
        said, name, kind, rules, first_only=True
    )


def _plain_mentions(
    said: str, name: str, kind: ToxicityKind, rules: ToxicityRules, first_only: bool = False
) -> list[int]:
    """Where `name` is mentioned in `said` (normalised, space-padded) neither after a negation or
    history phrase, nor before a qualifier or after a cause that makes it no event (see
    `_excluded`): the index of the space before each (`first_only`: the first alone)."""
    exclusion = rules.text_exclusions.get(kind)
    found: list[int] = []
    if exclusion is None:
        start = said.find(f" {name} ")
        while start != -1 and not (first_only and found):
            found.append(start)
            start = said.find(f" {name} ", start + 1)
        return found
    # per part of the words (`_said`: a negation ends at ';', '.', a new line: red team rt13/c
    # H2c), where its first negation or history phrase ends: every mention after it in that part
    # follows one (found once per part, and each mention tested in place: a copy of the text per
    # mention made a 100 KB name of "r/o seizure r/o seizure ..." take seconds)
    bounds = [-1, *_part_starts(said), len(said)]
    negated_from = []
    for begin, stop in itertools.pairwise(bounds):
        ends = [
            i + len(p) + 2
            for p in exclusion.before
            if (i := said.find(f" {p} ", begin + 1, stop + 1)) != -1
        ]
        negated_from.append(min(ends, default=len(said) + 1))
    start = said.find(f" {name} ")
    while start != -1:
        end = start + len(name) + 1
        if not (
            negated_from[bisect.bisect_right(bounds, start) - 1] <= start + 1
            or any(said.endswith(f" {phrase} ", 0, start + 1) for phrase in exclusion.right_before)
            or any(said.startswith(f" {phrase} ", end) for phrase in exclusion.after)
        ):
            found.append(start)
            if first_only:
                break  # one plain mention is enough
        start = said.find(f" {name} ", start + 1)
    return found


def _part_starts(said: str) -> list[int]:
    """Where the part separators (" | ") of `_said`'s text stand."""
    found = []
    at = said.find(f" {_PART} ")
    while at != -1:
        found.append(at)
        at = said.find(f" {_PART} ", at + 1)
    return found


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
                    onset_by=condition.onset_by,
                    categories=condition.categories,
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
        staged = grade_stated(condition.stage)
        grade = int(stated[1]) if stated else staged or noted_grade
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
    staged = grade_stated(condition.stage)
    if not entries:
        other = any(rules.names_other_condition(system, code) for system, code in condition.codes)
        named = None if other else _named(condition.text, rules)
        if named is None:
            return None
        grades = [g for g in (named[1], staged) if g]
        return named[0], max(grades, default=None), named[2]
    entry = entries[0]
    named = _named(condition.text, rules)
    said = named[1] if named and named[0] == entry.kind else None
    grades = [g for g in (entry.grade, said, staged) if g]
    # R56.9 whose words say "Recurrent seizures": the most either states; more than one seizure
    # stated beside another kind's code (G92.02 "ICANS grade 2, seizures x2") counts too
    stated = named[2] if named and (named[0] == entry.kind or named[2] > 1) else 0
    seizures = max(entry.seizures, stated)
    return entry.kind, max(grades, default=None), seizures


def assess(
    conditions: Iterable[ConditionFact],
    first_blinatumomab_start: datetime | None,
    rules: ToxicityRules,
    now: datetime,
    at_restart_dose: Sequence[tuple[datetime, datetime]] = (),
    infused: Sequence[tuple[datetime, datetime]] = (),
    noted_grade: int | None = None,
    restarts: Sequence[datetime] = (),
) -> ToxicityVerdict:
    """The label's consequence of the charted toxicities for any new blinatumomab order.

    `first_blinatumomab_start`: the earliest earlier blinatumomab infusion (None: none on file, so
    no toxicity can be blinatumomab's). `at_restart_dose`: when the orders on file ran at the
    restart dose (9 mcg/day; 5 mcg/m²/day), for "if it occurred at 9 mcg/day". `infused`: when
    they ran, and `noted_grade` the grade of another adverse reaction the order's note states
    (`other_reactions`). `restarts`: when the earlier orders were written and began (the later
    of the two): an ungraded toxicity one of them followed was asked about when that order, the
    first after it, was signed, and is not asked about again (red team rt12/c N3)."""
    if first_blinatumomab_start is None:
        return ToxicityVerdict("none", (), (), rules.crs.source)
    found: list[tuple[Action, str, str]] = []
    counted: list[ToxicityEvent] = []
    unknown: set[Unknown] = set()
    for event in toxicity_events(conditions, rules):
        by = event.onset_by
        if by is not None and by < first_blinatumomab_start.date():
            continue  # a year, a month or an age wholly before blinatumomab ("2015", "6 a")
        if (
            event.onset is not None
            and by is not None
            and not _began_by(event.onset, first_blinatumomab_start)
        ):
            event = replace(event, onset=None)  # an age that may end after the first start
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
    found += _graded(counted, rules, now, at_restart_dose, unknown, unresolved, restarts)
    seizures = _seizures(counted, rules, now, at_restart_dose, unknown, unresolved, restarts)
    found += seizures.found
    if not found:
        return ToxicityVerdict("none", (), tuple(counted), rules.crs.source)
    resolution = tuple(unresolved)
    found.sort(key=lambda item: -_STRENGTH[item[0]])
    action, _, source = found[0]
    # under "discontinue permanently", only why (not "restart at the reduced dose": redteam5 #10)
    reasons = tuple(
        dict.fromkeys(text for a, text, _ in found if a == action or action != "discontinue")
    )
    confirming = action == "confirm"
    lacking = frozenset(unknown) if confirming else frozenset()
    return ToxicityVerdict(
        action,
        reasons,
        tuple(counted),
        source,
        lacking,
        resolution,
        seizures.count_unknown if confirming else (),
        seizures.grade_unknown if confirming else (),
    )


def _graded(
    events: list[ToxicityEvent],
    rules: ToxicityRules,
    now: datetime,
    at_restart_dose: Sequence[tuple[datetime, datetime]],
    unknown: set[Unknown],
    unresolved: list[str],
    restarts: Sequence[datetime] = (),
) -> list[tuple[Action, str, str]]:
    """The findings of the graded kinds; what a "confirm" lacks goes to `unknown`, a grade 3
    resolved on an unknown day to `unresolved`. An ungraded one the infusion has restarted after
    (`restarts`) is not asked about again."""
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
            if (
                grade is None
                and event.onset is not None
                and _restarted_since(event.onset, restarts)
            ):
                continue
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
    together: 2). Onsets further apart are different seizures, even on the same day. Day-only
    onsets of one day without a timed one are counted as one event here (the fewest they may be:
    `_seizure_events` says when they may be more)."""
    return sum(event.seizures for event in _seizure_events(events, rules))


@dataclass(frozen=True)
class _Seizure:
    """One seizure event: the Conditions that chart it (`entries`, onset order)."""

    entries: tuple[ToxicityEvent, ...]
    # dated by the day alone, with no timed entry that day: several entries may be several events
    day_only: bool
    # entries timed when entered (an encounter diagnosis) apart from this event on its day: they
    # may be this seizure or others (toxicity.yaml `timed_when_entered_categories`)
    entered_apart: tuple[ToxicityEvent, ...] = ()

    @property
    def doubtful(self) -> bool:
        """Its entries may be more events than one."""
        return self.day_only or bool(self.entered_apart)

    @property
    def seizures(self) -> int:
        return max(e.seizures for e in self.entries)

    @property
    def grade(self) -> int | None:
        return max((e.grade for e in self.entries if e.grade is not None), default=None)

    @property
    def onset(self) -> datetime:
        return min(e.onset for e in self.entries if e.onset is not None)


def _seizure_events(events: Iterable[ToxicityEvent], rules: ToxicityRules) -> list[_Seizure]:
    """The dated seizure Conditions grouped into events (see `seizure_count`)."""
    window = timedelta(minutes=rules.seizure.same_event_within_minutes)
    dated = sorted(
        (e for e in events if _records_seizures(e) and e.onset is not None),
        key=lambda e: (e.onset, e.resource),
    )
    timed: list[list[ToxicityEvent]] = []  # per event, its first onset first
    by_day: dict[date, list[ToxicityEvent]] = {}  # day-only onsets
    for event in dated:
        onset = event.onset
        assert onset is not None
        if day_only(onset):
            by_day.setdefault(onset.date(), []).append(event)
        elif timed and onset - (timed[-1][0].onset or onset) <= window:
            timed[-1].append(event)
        else:
            timed.append([event])
    entered = frozenset(rules.seizure.timed_when_entered_categories)

    def entered_only(group: list[ToxicityEvent]) -> bool:
        return all(e.categories & entered for e in group)

    # an event charted only by entries timed when entered, on the day of another event: maybe
    # that event (the first such one of its day), maybe another seizure
    apart: dict[int, list[ToxicityEvent]] = {}
    hosts = [g for g in timed if not entered_only(g)]
    kept = []
    for group in timed:
        day = group[0].onset.date() if group[0].onset else None
        host = next((h for h in hosts if h[0].onset and h[0].onset.date() == day), None)
        if host is not None and entered_only(group):
            apart.setdefault(id(host), []).extend(group)
        else:
            kept.append(group)
    found = []
    for group in kept:
        first = group[0].onset
        assert first is not None
        days = by_day.pop(first.date(), [])
        # a timed onset sent in UTC ("2026-02-25T02:30Z": 21:30 on the 24th at -05:00) may be on
        # a day-only entry's day in any real offset (-12:00..+14:00), as the pregnancy check
        # reads a day alone (red team rt12/c N2); one with a local offset is on its own day
        if first.utcoffset() == timedelta(0):
            for day in [d for d in by_day if _on_day_anywhere(first, d)]:
                days += by_day.pop(day)
        others = tuple(apart.get(id(group), ()))
        found.append(_Seizure((*group, *days, *others), day_only=False, entered_apart=others))
    found += [_Seizure(tuple(group), day_only=True) for group in by_day.values()]
    return sorted(found, key=lambda s: s.onset)


def _records_seizures(event: ToxicityEvent) -> bool:
    """A seizure Condition, or a CRS or ICANS one whose words state more than one seizure
    ("ICANS grade 2, seizures x2": red team rt13/c H1)."""
    return event.kind == "seizure" or event.seizures > 1


@dataclass(frozen=True)
class _SeizureFindings:
    found: list[tuple[Action, str, str]]
    count_unknown: tuple[str, ...]
    grade_unknown: tuple[str, ...]


def _seizures(
    events: list[ToxicityEvent],
    rules: ToxicityRules,
    now: datetime,
    at_restart_dose: Sequence[tuple[datetime, datetime]],
    unknown: set[Unknown],
    unresolved: list[str],
    restarts: Sequence[datetime] = (),
) -> _SeizureFindings:
    """More than one seizure: discontinue permanently (label §2.4). Else each seizure is a
    neurological toxicity of its CTCAE grade (v5 "Seizure": 2 a brief generalized seizure, 3
    new-onset seizures, 4 prolonged repetitive ones): graded in its words or stage, the
    neurological rules apply; ungraded, it may be grade 3: confirm (`unknown` "seizure grade").
    Seizure Conditions dated by one day alone may record more seizures than one event: confirm
    how many (`unknown` "seizure count")."""
    seizures = _seizure_events(events, rules)
    count = sum(s.seizures for s in seizures)
    limit = rules.seizure.discontinue_when_more_than
    source = rules.seizure.source
    if count > limit:
        text = f"{count} seizures since blinatumomab (more than {limit})"
        return _SeizureFindings([("discontinue", text, source)], (), ())
    found: list[tuple[Action, str, str]] = []
    count_unknown: list[str] = []
    most = count + sum(
        sum(e.seizures for e in s.entries) - s.seizures for s in seizures if s.doubtful
    )
    if most > limit:
        for s in seizures:
            if s.day_only and len(s.entries) > 1:
                count_unknown.append(
                    f"{len(s.entries)} seizure Conditions are dated {s.onset.date().isoformat()} "
                    f"without a time ({', '.join(e.resource for e in s.entries)}): one seizure "
                    f"charted twice, or {len(s.entries)} seizures? More than {limit} seizure "
                    f"means discontinue permanently"
                )
            elif s.entered_apart:
                count_unknown.append(
                    f"{len(s.entries)} seizure Conditions on {s.onset.date().isoformat()} are "
                    f"timed apart ({', '.join(e.resource for e in s.entries)}), "
                    f"{', '.join(e.resource for e in s.entered_apart)} an encounter diagnosis, "
                    f"often timed when it was entered: one seizure charted twice, or "
                    f"{len(s.entries)} seizures? More than {limit} seizure means discontinue "
                    f"permanently"
                )
        unknown.add("seizure count")
        found += [("confirm", line, rules.seizure.same_event_source) for line in count_unknown]
    grade_unknown: list[str] = []
    rule = rules.graded("seizure")  # a seizure is a neurological toxicity
    severe = [
        s.entries[0]
        for s in seizures
        if s.grade is not None and s.grade >= rule.restart_reduced_from_grade
    ]
    for s in seizures:
        grade = s.grade
        if grade is None and _restarted_since(s.onset, restarts):
            continue  # asked about at the restart after it
        if grade is None:
            line = (
                f"seizure on {s.onset.date().isoformat()}: grade not recorded (CTCAE v5: a "
                f"new-onset seizure is grade 3, a brief generalized one grade 2)"
            )
            if _at_restart_dose(s.onset, at_restart_dose):
                # the reduced restart does not answer it: grade 3 at 9 mcg/day -> discontinue
                low = rules.restart.mcg_per_day
                line = (
                    f"seizure on {s.onset.date().isoformat()}, while the infusion ran at {low} "
                    f"mcg/day: grade not recorded (CTCAE v5: a new-onset seizure is grade 3; a "
                    f"grade 3 neurological toxicity at {low} mcg/day means discontinue "
                    f"permanently)"
                )
            else:
                grade_unknown.append(line)  # what the reduced restart answers
            unknown.add("seizure grade")
            found.append(("confirm", line, source))
            continue
        event = max(s.entries, key=lambda e: e.grade or 0)
        if grade >= rule.discontinue_from_grade:
            found.append(("discontinue", f"{_name(event)}: discontinue permanently", rule.source))
        elif grade >= rule.restart_reduced_from_grade:
            found.append(_severe(event, severe, rules, now, at_restart_dose, unknown, unresolved))
    return _SeizureFindings(found, tuple(count_unknown), tuple(dict.fromkeys(grade_unknown)))


def _at_restart_dose(onset: datetime, at_restart_dose: Sequence[tuple[datetime, datetime]]) -> bool:
    """Whether an event may have begun while the infusion ran at the restart dose (9 mcg/day):
    timed, inside such a run; dated by a day alone, on any day of one (it may have been either
    dose on the day the dose changed)."""
    if day_only(onset):
        return any(b.date() <= onset.date() <= e.date() for b, e in at_restart_dose)
    return any(_during(onset, b, e) for b, e in at_restart_dose)


# A day alone may be that day in any real offset (UTC+14 to UTC-12): from 14 hours before its
# midnight UTC to 36 hours after, the window `cds.checks.pregnancy._taken` gives a day-only result
# (not imported: cds.checks.pregnancy imports the snapshot, which imports this module).
_DAY_BEGINS_UP_TO = timedelta(hours=14)
_DAY_ENDS_UP_TO = timedelta(hours=36)


def _restarted_since(onset: datetime, restarts: Sequence[datetime]) -> bool:
    """Whether an order was written and began after an event (dated by a day alone: after that
    day, as `cds.checks.dose._restart_began` counts it)."""
    after = onset + timedelta(days=1) if day_only(onset) else onset
    return any(start >= after for start in restarts)


def _on_day_anywhere(when: datetime, day: date) -> bool:
    """Whether an instant falls on `day` in some real offset (UTC-12 to UTC+14)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return midnight - _DAY_BEGINS_UP_TO <= when < midnight + _DAY_ENDS_UP_TO


def day_only(onset: datetime) -> bool:
    """An onset given as a day alone (read as its midnight)."""
    return onset.timetz().replace(tzinfo=None) == datetime.min.time()


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
