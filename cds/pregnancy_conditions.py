"""A current pregnancy on the problem list (`knowledge/pregnancy-conditions.yaml`).

A Condition that means a pregnancy going on now (SNOMED CT pregnancy findings, ICD-10-CM Z33.1,
Z33.3, Z34.-, Z3A.- and chapter 15 but for childbirth, the puerperium and the abortive outcomes
that ended it), active and not refuted, counts as a positive pregnancy status unless it has ended
(abatement; a confirmed delivery or removal of the uterus dated by its onset, or a completed
Procedure, after it), it is dated more than pregnancy.yaml
`positive_result_current_days` before the start (no pregnancy lasts that long), or a negative
result was recorded after it. A Condition coded in none of the systems whose codes
decide (free text only, or a local code) counts when its words name a pregnancy that no negation,
rule-out or past tense takes back ("Pregnancy, 12 weeks" counts, "R/O pregnancy" does not): an
EHR's typed problem is as real a pregnancy as a coded one, and missing it is the harm.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cds.fhir.codings import ICD10CM
from cds.knowledge import Knowledge
from cds.patient import Code, ConditionFact, PatientSnapshot
from cds.text_mentions import mention_pattern

# Everything but letters, digits and what ends a sentence (where a negation stops) is a space:
# "R/O" reads as "r o", "Pregnancy (ruled out)" as "pregnancy ruled out".
_NOT_WORD = re.compile(r"[^a-z0-9.;!?\n]+")
_LOOK_BACK = 60  # characters before a mention searched for a negation (two words and the phrase)


@dataclass(frozen=True)
class _Tables:
    """The knowledge's codes and words, normalised once per Knowledge (every Condition of every
    chart goes through `means_current_pregnancy` when a chart is cut)."""

    knowledge: Knowledge
    exact: frozenset[Code]
    prefixes: tuple[str, ...]
    chapter: str | None  # ICD-10-CM codes beginning with it count, but for `not_current`
    not_current: re.Pattern[str] | None
    deciding_systems: frozenset[str]
    names: tuple[str, ...]
    before: tuple[str, ...]
    after: tuple[str, ...]
    answers: re.Pattern[str] | None  # an answer that is all the rest of a mention's sentence
    test_names: re.Pattern[str] | None  # pregnancy.yaml `test_names`, as whole words
    not_test_names: re.Pattern[str] | None  # pregnancy.yaml `test_names_excluded`
    workflow_names: re.Pattern[str] | None  # pregnancy.yaml `test_names_workflow`
    status_names: re.Pattern[str] | None  # pregnancy.yaml `status_names`, anywhere in a name
    status_whole: re.Pattern[str] | None  # ...as the whole name (each of its parts)
    row_words: re.Pattern[str] | None  # pregnancy.yaml `status_row_words`
    not_the_patient: re.Pattern[str] | None  # pregnancy.yaml `status_question_excluded`
    the_patient: re.Pattern[str] | None  # pregnancy.yaml `status_row_patient_words`


_TABLES: dict[int, _Tables] = {}


def _words(text: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def _answers(answers: Iterable[str]) -> re.Pattern[str] | None:
    """ "Pregnant: no": an answer, then the sentence's end; matched in place at a mention's end
    (reading the rest of the sentence per mention made a long negated text quadratic)."""
    words = sorted({_words(a) for a in answers}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(rf" *(?:{'|'.join(re.escape(w) for w in words)}) *(?:[.;!?\n]|\Z)")


def _name(text: str) -> str:
    """A name as `_whole_name` compares it: lower case, any run of punctuation and spaces one
    space ("Pregnant?" is "pregnant")."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def _whole_name(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """A name that is one of `phrases` (to fullmatch `_words` of it), or several of them: a
    CodeableConcept's text and displays are read as one name ("Pregnancy status Pregnancy
    status")."""
    words = sorted({_name(p) for p in phrases} - {""}, key=len, reverse=True)
    if not words:
        return None
    one = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?:{one})(?: (?:{one}))*")


def _whole_words(phrases: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({_words(p) for p in phrases} - {""}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(rf"(?<![a-z0-9])(?:{'|'.join(re.escape(w) for w in words)})(?![a-z0-9])")


# The code an Observation named a pregnancy test in words is read under (`named_test_codes`):
# no code system's, so never in a prefetch query nor on a card.
NAMED_PREGNANCY_TEST: Code = ("urn:cds:named-in-words", "pregnancy-test")
# ...beside it, a name that asks the pregnancy STATUS question (read as 82810-3 is), and a name
# that says a step of the test's workflow (a yes/no answer of it is no result), and a name that
# says a status question but asks something else ("Pregnancy status verified?", "Pregnancy status
# unknown": a yes/no answer of it is no result either, red team 10b)
NAMED_PREGNANCY_STATUS: Code = ("urn:cds:named-in-words", "pregnancy-status")
NAMED_TEST_WORKFLOW: Code = ("urn:cds:named-in-words", "pregnancy-test-workflow")
NAMED_OTHER_QUESTION: Code = ("urn:cds:named-in-words", "pregnancy-status-other-question")
# ...and a name naming no test that only holds "pregnant"/"pregnancy" or a status phrase
# ("Patient pregnant - confirmed by ultrasound", "Pregnant: denies"): never critical nor
# verifying, an affirmative answer the unreadable-result warning (task G, 2026-12-03), the row's
# name kept beside it (NAMED_ROW_SYSTEM, the name as its code) for the card to quote
NAMED_PREGNANT_QUESTION: Code = ("urn:cds:named-in-words", "pregnant-question")
NAMED_ROW_SYSTEM = "urn:cds:named-in-words:row-name"
_LONGEST_ROW_NAME = 200  # the card quotes at most 100 characters of it


def named_test_codes(knowledge: Knowledge) -> Callable[[str], frozenset[Code]]:
    """For `ChartObservations`: the codes an Observation coded in no list gets from its name
    (code.text, coding displays). NAMED_PREGNANCY_TEST and NAMED_PREGNANCY_STATUS when the whole
    name (lower case, punctuation and spaces collapsed; a name sent as text and display: each)
    IS a status question (pregnancy.yaml `status_names`): read both ways, as 82810-3.
    NAMED_PREGNANCY_TEST when the name says a pregnancy or hCG test (`test_names`: a
    point-of-care test a site codes locally is as real as a LOINC one, and missing a positive is
    the harm), with NAMED_OTHER_QUESTION when it also holds a status question or, outside the
    test's name, a `status_row_words` word ("Pregnancy status verified?", "Pregnant (verified by
    hCG)": no yes/no answer read; red team 10b) and NAMED_TEST_WORKFLOW when it says a step of
    the workflow (`test_names_workflow`: "collected"). None when the name says
    `test_names_excluded` (a tumour marker: a man's hCG tumour marker is no pregnancy test).
    A name naming no test that holds a `status_row_words` word or a status phrase
    ("Patient pregnant - confirmed by ultrasound", "Pregnant: denies"): NAMED_PREGNANT_QUESTION
    and its name (NAMED_ROW_SYSTEM), never critical nor verifying (task G), unless it says
    `status_question_excluded` BEFORE its first pregnancy word (another person, the future,
    counselling: "Partner pregnant?", "Plans to become pregnant": ignored); after it, the words
    are about the patient's own pregnancy ("Pregnant - family aware", red team rt13/b)."""
    tables = _tables(knowledge)

    def says(pattern: re.Pattern[str] | None, said: str) -> bool:
        return pattern is not None and pattern.search(said) is not None

    def codes(name: str) -> frozenset[Code]:
        said = _words(name)
        if says(tables.not_test_names, said):
            return frozenset()
        whole = tables.status_whole
        if whole is not None and whole.fullmatch(_name(name)) is not None:
            return frozenset({NAMED_PREGNANCY_TEST, NAMED_PREGNANCY_STATUS})
        question = says(tables.status_names, said)
        if says(tables.test_names, said):
            # a status word outside the test's own name ("pregnancy" of "urine pregnancy test"
            # is the test's)
            assert tables.test_names is not None
            rest = tables.test_names.sub(" ", said)
            found = {NAMED_PREGNANCY_TEST}
            if question or says(tables.row_words, rest):
                found.add(NAMED_OTHER_QUESTION)
            if says(tables.workflow_names, said):
                found.add(NAMED_TEST_WORKFLOW)
            return frozenset(found)
        if not _about_the_patient(name, tables):
            return frozenset()  # no pregnancy word, or another person's or the future's before it
        return frozenset(
            {NAMED_PREGNANCY_TEST, NAMED_PREGNANT_QUESTION, (NAMED_ROW_SYSTEM, _row_name(name))}
        )

    return codes


_NAME_PARTS = re.compile(r"[:;,|/]| - ")


def _about_the_patient(name: str, tables: _Tables) -> bool:
    """Whether a row's name says a pregnancy word with no `status_question_excluded` word before
    it in the same part of the name ("Partner pregnant?", "Plans to become pregnant": no;
    "Pregnant - family aware", "Family planning: currently pregnant": yes, her own), or with the
    patient named there too (`status_row_patient_words`: "Patient/partner pregnant")."""
    earlier = ""  # the parts before this one: the patient may be named there ("Patient/partner")
    for part in _NAME_PARTS.split(name):
        said = _words(part)
        first = _first_match(tables.status_names, tables.row_words, said=said)
        if first is not None:
            before = said[:first]
            other, patient = tables.not_the_patient, tables.the_patient
            return (
                other is None
                or other.search(before) is None
                or (patient is not None and patient.search(f"{earlier} {before}") is not None)
            )
        earlier += f" {said}"
    return False


def _first_match(*patterns: re.Pattern[str] | None, said: str) -> int | None:
    """Where the first match of any of `patterns` begins in `said` (None: none matches)."""
    found = [m.start() for p in patterns if p is not None and (m := p.search(said)) is not None]
    return min(found, default=None)


def _row_name(name: str) -> str:
    """A row's name as the card quotes it: once where its code.text and its display (often in
    capitals) are the same words, at most `_LONGEST_ROW_NAME` characters."""
    said = " ".join(name.split())
    half = len(said) // 2
    if said[half : half + 1] == " " and said[:half].lower() == said[half + 1 :].lower():
        said = said[:half]
    return said[:_LONGEST_ROW_NAME]


def row_name(codes: Iterable[Code]) -> str | None:
    """The name `named_test_codes` kept of a row holding the pregnancy question (None: none)."""
    return next((code for system, code in codes if system == NAMED_ROW_SYSTEM), None)


def _tables(knowledge: Knowledge) -> _Tables:
    found = _TABLES.get(id(knowledge))
    if found is None or found.knowledge is not knowledge:
        settings, systems = knowledge.pregnancy_conditions, knowledge.codes.systems
        found = _TABLES[id(knowledge)] = _Tables(
            knowledge,
            frozenset((systems[c.system], c.code.upper()) for c in settings.codes),
            tuple(p.prefix.upper() for p in settings.icd10cm_prefixes),
            (settings.icd10cm_pregnancy_chapter or "").upper() or None,
            re.compile("|".join(f"(?:{p.pattern})" for p in settings.icd10cm_not_current))
            if settings.icd10cm_not_current
            else None,
            frozenset(systems[alias] for alias in settings.codes_decide_in),
            tuple(_words(w) for w in settings.text_names),
            tuple(_words(w) for w in settings.negation_before),
            tuple(_words(w) for w in settings.negation_after),
            _answers(settings.negation_answers),
            _whole_words(knowledge.pregnancy.test_names),
            _whole_words(knowledge.pregnancy.test_names_excluded),
            _whole_words(knowledge.pregnancy.test_names_workflow),
            _whole_words(knowledge.pregnancy.status_names),
            _whole_name(knowledge.pregnancy.status_names),
            _whole_words(knowledge.pregnancy.status_row_words),
            _whole_words(knowledge.pregnancy.status_question_excluded),
            _whole_words(knowledge.pregnancy.status_row_patient_words),
        )
    return found


def coded_pregnancy(codes: Iterable[Code], knowledge: Knowledge) -> bool:
    """Whether one of the codes means a current pregnancy."""
    tables = _tables(knowledge)
    for system, code in codes:
        normal = code.strip().upper()
        if (system, normal) in tables.exact or (
            system == ICD10CM and normal.startswith(tables.prefixes)
        ):
            return True
        if (
            system == ICD10CM
            and tables.chapter is not None
            and normal.startswith(tables.chapter)
            and "." in normal  # the dotted form (codings.equivalent_codes adds it)
            and not (tables.not_current is not None and tables.not_current.match(normal))
        ):
            return True
    return False


def named_pregnancy(codes: Iterable[Code], text: str, knowledge: Knowledge) -> bool:
    """Whether a Condition coded in no deciding system names a current pregnancy in its words
    (code.text, coding displays): one mention no negation in its sentence takes back."""
    tables = _tables(knowledge)
    if not tables.names or any(system in tables.deciding_systems for system, _ in codes):
        return False
    said = _words(text)
    mention, before, after = mention_pattern(tables.names, tables.before, tables.after)
    for match in mention.finditer(said):
        # matched in place: the look-back starts mid-word at worst ("pia|no pregnancy" is no "no")
        if not (
            before.search(said, max(0, match.start() - _LOOK_BACK), match.start())
            or after.match(said, match.end())
            or (tables.answers is not None and tables.answers.match(said, match.end()))
        ):
            return True
    return False


def means_current_pregnancy(codes: Iterable[Code], knowledge: Knowledge, text: str = "") -> bool:
    """A pregnancy code, or (no deciding code) words that name a current pregnancy."""
    codes = tuple(codes)
    return coded_pregnancy(codes, knowledge) or named_pregnancy(codes, text, knowledge)


def current_pregnancy(
    conditions: Iterable[ConditionFact],
    knowledge: Knowledge,
    *,
    patient: PatientSnapshot | None = None,
    start: datetime | None = None,
    until: datetime | None = None,
) -> ConditionFact | None:
    """The newest active, unrefuted, unended Condition that means a current pregnancy (a coded
    one before a named one of the same date). Ended: an abatement; with `start`, dated more than
    pregnancy.yaml `positive_result_current_days` before it (an old encounter diagnosis with no
    status is no pregnancy now); with `patient` and `until`, a pregnancy end on file after its
    date (`pregnancy_ended_after`: a delivery, a removal of the uterus). Its date is its onset, or
    its recordedDate when later (pregnancy-conditions.yaml `recorded_date_renews`: recorded
    active since). An entry whose clinical status says a new episode (`recurring_statuses`:
    recurrence, relapse) is current whatever its date: its onset is the first episode's."""
    rules = knowledge.pregnancy_conditions
    oldest = (
        start - timedelta(days=knowledge.pregnancy.positive_result_current_days)
        if start is not None
        else None
    )

    def ended(c: ConditionFact) -> bool:
        if c.clinical_status in rules.recurring_statuses:
            return False  # a new episode since its onset: only an abatement ends it
        dated = entry_date(c, knowledge)
        if dated is None:
            return False
        if oldest is not None and dated < oldest:
            return True
        return (
            patient is not None
            and until is not None
            and pregnancy_ended_after(
                patient, dated, until, knowledge, gestation_days=gestation_days_coded(c.codes)
            )
            is not None
        )

    found = [
        c
        for c in conditions
        if c.clinical_status in (None, "active", "recurrence", "relapse")
        and c.verification_status not in ("refuted", "entered-in-error", "differential")
        and c.abatement is None
        and means_current_pregnancy(c.codes, knowledge, c.text)
        and not ended(c)
    ]
    return max(
        found,
        key=lambda c: (c.onset is not None, c.onset, coded_pregnancy(c.codes, knowledge)),
        default=None,
    )


def entry_date(condition: ConditionFact, knowledge: Knowledge) -> datetime | None:
    """The date a pregnancy entry counts from: its onset (else recordedDate), or its recordedDate
    when later and pregnancy-conditions.yaml `recorded_date_renews` (recorded active since)."""
    dated = [d for d in (condition.onset, condition.recorded) if d is not None]
    if not dated:
        return None
    return max(dated) if knowledge.pregnancy_conditions.recorded_date_renews else condition.onset


_UNKNOWN_END = datetime.min.replace(tzinfo=UTC)  # an abatement with no date (`facts._abatement`)


_WEEKS_OF_GESTATION = re.compile(r"Z3A\.?(\d\d)")


def gestation_days_coded(codes: Iterable[Code]) -> int | None:
    """The weeks of gestation an ICD-10-CM Z3A code gives, in days (Z3A.49, more than 42 weeks,
    as 42; None: no such code, or Z3A.00/Z3A.01, unspecified or under 8 weeks)."""
    weeks = [
        min(int(match[1]), 42)
        for system, code in codes
        if system == ICD10CM
        and (match := _WEEKS_OF_GESTATION.fullmatch(code.strip().upper())) is not None
        and int(match[1]) >= 8
    ]
    return min(weeks) * 7 if weeks else None


def _could_have_ended(
    end: datetime, after: datetime, gestation_days: int | None, knowledge: Knowledge
) -> bool:
    """Whether a pregnancy in evidence at `after` could have reached a delivery dated `end`: at
    least pregnancy.yaml `min_weeks_at_delivery` after its last menstrual period (`after` less
    its weeks of gestation), or, with no weeks, any time after `after` (an evidence that gives
    no weeks may be of any week: a prenatal visit 9 days before a delivery is the same
    pregnancy)."""
    if gestation_days is None:
        return end > after
    period = after - timedelta(days=gestation_days)
    return end - period >= timedelta(weeks=knowledge.pregnancy.min_weeks_at_delivery)


def _could_be_its_end(
    condition: ConditionFact, end: datetime, after: datetime, knowledge: Knowledge
) -> bool:
    """Whether a pregnancy entry's abatement can be the end of the pregnancy in evidence at
    `after`: the entry's onset no more than pregnancy.yaml `longest_pregnancy_entry_days` before
    its end (an entry of 2024 resolved in a problem-list clean-up ends no pregnancy of this
    month), and the evidence no more than the longest pregnancy (42 completed weeks: 280 days and
    `expected_delivery_overdue_days`) after that onset (red team 8c c01: a positive hCG of
    2026-02-20 is no pregnancy that began 2025-03-10). The onset is the entry's onset, else its
    recordedDate (an onset sent as the recordedDate, as Epic does, is still a bound: the entry
    began no later; red team 8c c02); an entry dated by neither may end any pregnancy."""
    onset = condition.onset or condition.recorded
    if onset is None:
        return True
    rules = knowledge.pregnancy
    longest_entry = timedelta(days=rules.longest_pregnancy_entry_days)
    longest_pregnancy = timedelta(days=280 + rules.expected_delivery_overdue_days)
    return end - onset <= longest_entry and after - onset <= longest_pregnancy


def pregnancy_ended_after(
    patient: PatientSnapshot,
    after: datetime,
    until: datetime,
    knowledge: Knowledge,
    *,
    gestation_days: int | None = None,
) -> tuple[datetime, str] | None:
    """The newest end of a pregnancy on file dated after `after` (and not after `until`), with the
    resource that records it: a pregnancy Condition's abatement date; a delivery or a removal of
    the uterus (codes.yaml `pregnancy_ended`) as a Condition dated by its onset (its recordedDate
    says when it was typed in, not when it happened: one dated by nothing else ends nothing) whose
    verification status is one of pregnancy.yaml `end_verification_statuses` or absent (never
    provisional, unconfirmed, differential), or as a completed Procedure by its performed date,
    a delivery only when the pregnancy in evidence at `after` (`gestation_days` along, when known)
    could have reached it (`_could_have_ended`: history re-charted with its import day ends
    nothing; a removal of the uterus ends one at any week). A pregnancy entry's abatement ends one
    only when it can be that entry's end (`_could_be_its_end`). A
    pregnancy Condition resolved with no abatement date ends nothing: when it ended is not on
    file. None: no such end."""
    delivered = knowledge.codes_of("pregnancy_ended")
    uterus_removed = delivered & knowledge.codes_of("no_reproductive_potential")

    def could_have_ended(end: datetime, codes: frozenset[Code]) -> bool:
        # a removal of the uterus ends a pregnancy at any week; a delivery only a possible one
        return not codes.isdisjoint(uterus_removed) or _could_have_ended(
            end, after, gestation_days, knowledge
        )

    counted = knowledge.pregnancy.end_verification_statuses
    ends: list[tuple[datetime, str]] = []
    for condition in patient.conditions:
        end: datetime | None = None
        if not condition.codes.isdisjoint(delivered):
            if condition.verification_status in (None, *counted):
                end = onset_of(condition)
                if end is not None and not could_have_ended(end, condition.codes):
                    end = None
        elif condition.verification_status in ("refuted", "entered-in-error"):
            continue
        elif (
            condition.abatement is not None
            and condition.abatement != _UNKNOWN_END
            and means_current_pregnancy(condition.codes, knowledge, condition.text)
            and _could_be_its_end(condition, condition.abatement, after, knowledge)
        ):
            end = condition.abatement
        if end is not None:
            ends.append((end, condition.resource))
    ends += [
        (procedure.performed, procedure.resource)
        for procedure in patient.procedures
        if procedure.status == "completed"
        and procedure.performed is not None
        and not procedure.codes.isdisjoint(delivered)
        and could_have_ended(procedure.performed, procedure.codes)
    ]
    return max(
        ((end, resource) for end, resource in ends if after < end <= until),
        default=None,
        key=lambda found: found[0],
    )


def onset_of(condition: ConditionFact) -> datetime | None:
    """A Condition's own onset: None when the read model's onset is its recordedDate (no onset
    sent, or one the same instant as the recordedDate: the read model cannot tell them apart, and
    the safe side is to take it as no date)."""
    if condition.onset is None or condition.onset == condition.recorded:
        return None
    return condition.onset
