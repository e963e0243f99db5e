"""Pregnancy-status check (card topic `pregnancy-status`; label §5 embryo-fetal toxicity, §8).

For every patient, positive evidence speaks: a positive result with no later negative one (while
it can still be the pregnancy going on: no pregnancy on file ended after it, and no older than
pregnancy.yaml `positive_result_current_days`), an estimated delivery date after the start, or a
current pregnancy on the problem list (or a gestational age of one going on), is critical in any
cycle; a preliminary positive newer than every final result, or a charted pregnancy (problem
list, gestational age, estimated delivery date) with a later negative, is a warning; breastfeeding
whenever it is charted. Who is a female of reproductive potential (the sex assigned at birth when
recorded, else any female record; the age window, no hysterectomy, as a Condition or a completed
Procedure, nor menopause) decides only
what a missing status gets: before cycle 1 a negative result must be on file within the window
(local policy) before the first infusion of cycle 1 (else a warning with an hCG order to accept);
later cycles get a reminder, unless a negative result is on file within the same window before
this cycle's start (the reminder would say what the chart shows). A positive that no longer counts
is such a missing status. Day-8 and bag-change orders inside a cycle already begun get neither.
Contraception is reminded once per course, with the first order of cycle 1, unless effective
contraception is on the problem list (codes.yaml `effective_contraception`) or the site turned
the reminder off (pregnancy.yaml `contraception_reminder`). The newest result that cannot be read
as positive or negative is a warning: an older negative never clears the order past it. A result
dated in the future (past the weights' tolerance) is ignored. A negative counts only when surely
taken after the positive (a day-only date covers its whole day against a timed one; of two
day-only dates the later day is later), and an Observation named a pregnancy or hCG test only in
words (pregnancy.yaml `test_names`, not `test_names_excluded`) is read as an hCG test, and one
named the status question (`status_names`) as a pregnancy status. "Yes" is pregnant (and a whole
"No" not) only as a pregnancy status answer, never as a test's result; a name that says a workflow
step (`test_names_workflow`: "collected") has its yes/no answer read as no result, its real result
read as any other. A row naming no test whose name only holds "pregnant"/"pregnancy" or a status
phrase (`status_row_words`: "Patient pregnant - confirmed by ultrasound") is never critical nor
verifying: an affirmative answer newer than every negative test is the unreadable-result warning,
quoting the row (task G); one naming another person, the future or counselling is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from cds import units
from cds.checks import Check, CheckInput
from cds.dosing import FUTURE_TOLERANCE
from cds.fhir.snapshot import FEMALE_NOT_AT_BIRTH, sex_codes, sex_said
from cds.findings import Declarations, Emission, ProposedAction, declare, emit
from cds.knowledge import Knowledge
from cds.knowledge.models import PregnancyRules
from cds.orders import cycle_of, earlier_blinatumomab_orders
from cds.patient import ObservationFact
from cds.pregnancy_conditions import (
    NAMED_OTHER_QUESTION,
    NAMED_PREGNANCY_STATUS,
    NAMED_PREGNANCY_TEST,
    NAMED_PREGNANT_QUESTION,
    NAMED_TEST_WORKFLOW,
    coded_pregnancy,
    current_pregnancy,
    entry_date,
    gestation_days_coded,
    pregnancy_ended_after,
    row_name,
)
from cds.suggestions import hcg_test_order

TOPIC = "pregnancy-status"
FINDINGS: Declarations = {
    "pregnancy-applicability-unknown": declare("warning", "gender", "birth_date"),
    "pregnancy-positive": declare("critical", "date", "resource"),
    "pregnancy-expected-delivery": declare("critical", "date", "resource", "charted"),
    "pregnancy-gestational-age": declare("critical", "date", "resource", "age"),
    "pregnancy-delivery-date-unreadable": declare("warning", "resource", "charted", "value"),
    "pregnancy-on-problem-list": declare("critical", "date", "resource"),
    "pregnancy-named-on-problem-list": declare("critical", "date", "resource", "words"),
    "pregnancy-preliminary-positive": declare("warning", "date", "resource", "last"),
    "pregnancy-problem-list-conflict": declare(
        "warning", "date", "resource", "negative_date", "negative_resource"
    ),
    "pregnancy-charted-conflict": declare(
        "warning", "what", "date", "resource", "negative_date", "negative_resource"
    ),
    "pregnancy-status-unknown": declare("warning", "days", "last", "cycle"),
    "pregnancy-result-unreadable": declare("warning", "date", "resource", "value"),
    "pregnancy-test-pending": declare(
        "warning", "date", "resource", "status", "answer_date", "answer_resource"
    ),
    "pregnancy-test-reminder": declare("info", "cycle"),
    "pregnancy-breastfeeding": declare("warning", "hours"),
    "pregnancy-contraception-reminder": declare("info", "hours"),
}
Reading = Literal["positive", "negative"]


def reading_of(
    fact: ObservationFact, knowledge: Knowledge, settings: PregnancyRules
) -> Reading | None:
    """What one pregnancy status or hCG result says (None: nothing definite). Its answer code
    (or a yes/no value: pregnant, or hCG present), else its quantity against the range, else its
    interpretation flags, else its text. A yes/no answer (codes.yaml answer_status_yes/no,
    pregnancy.yaml `status_yes_words`, `status_no_words`) is read only as a pregnancy status
    answer (coded, or named the status question in words: `status_names`), never as a test's
    result. A name that says a workflow step (`test_names_workflow`: "Pregnancy test performed:
    Yes", red team 7a) has no yes/no answer read, not even a boolean; its real result (Positive,
    a quantity, an answer code) is read (red team 8c: "Urine hCG - collected 08:00" Positive);
    so is a name that holds a status question but is none (NAMED_OTHER_QUESTION: "Pregnancy
    status unknown" true, "Pregnancy status verified?" No; red team 10b). A row that only holds
    the question (NAMED_PREGNANT_QUESTION: "Patient pregnant - confirmed by ultrasound") has no
    reading: never critical, never verifying (task G; `row_says_pregnant`)."""
    if NAMED_PREGNANT_QUESTION in fact.codes:
        return None
    workflow = not fact.codes.isdisjoint({NAMED_TEST_WORKFLOW, NAMED_OTHER_QUESTION})
    status = not workflow and fact.has_code(
        knowledge.codes_of("pregnancy_status") | {NAMED_PREGNANCY_STATUS}
    )
    if fact.value_boolean is not None:
        if workflow:
            return None
        return "positive" if fact.value_boolean else "negative"
    values = fact.value_codes
    yes = knowledge.codes_of("answer_status_yes") if status else frozenset()
    no = knowledge.codes_of("answer_status_no") if status else frozenset()
    if not values.isdisjoint(
        knowledge.codes_of("answer_pregnant") | knowledge.codes_of("answer_positive") | yes
    ):
        return "positive"
    if not values.isdisjoint(
        knowledge.codes_of("answer_not_pregnant") | knowledge.codes_of("answer_negative") | no
    ):
        return "negative"
    # a test named in words may be quantitative: its quantity, when it has one, is read too
    if fact.has_code(knowledge.codes_of("hcg_quantitative") | {NAMED_PREGNANCY_TEST}):
        measured = _quantity_reading(_quantity_in_text(fact), settings)
        if measured is not None:
            return measured
    positive_flags, negative_flags = settings.result_flags()
    # the flags as the interpretation, or sent as the value itself (valueCodeableConcept v3 POS)
    if not (fact.interpretation | values).isdisjoint(positive_flags):
        return "positive"
    if not (fact.interpretation | values).isdisjoint(negative_flags):
        return "negative"
    return _text_reading(fact.value_text, settings, status)


def is_status_answer(fact: ObservationFact, knowledge: Knowledge) -> bool:
    """An answer to the pregnancy status question (82810-3, 11449-6, a row named the question),
    not an hCG test: its "No" verifies an otherwise unknown status but never ends a positive test
    (blinatumomab.md: a positive counts "until a later negative one", a test; red team 10b)."""
    return fact.has_code(
        knowledge.codes_of("pregnancy_status") | {NAMED_PREGNANCY_STATUS}
    ) and not fact.has_code(
        knowledge.codes_of("hcg_qualitative") | knowledge.codes_of("hcg_quantitative")
    )


def counted(
    dated: list[tuple[datetime, Reading, ObservationFact]], knowledge: Knowledge
) -> list[tuple[datetime, Reading, ObservationFact]]:
    """The results newest first as they decide a positive: a status answered "No" (not
    pregnant) newer than a positive, a test or a status answered "pregnant", is left out: only a
    negative test ends one (red team 11: "Yes" then "No" had cleared the order)."""
    test = next((i for i, (_, reading, _) in enumerate(dated) if reading == "positive"), None)
    if test is None:
        return dated
    return [
        e
        for i, e in enumerate(dated)
        if i >= test or e[1] != "negative" or not is_status_answer(e[2], knowledge)
    ]


def is_workflow_step(fact: ObservationFact) -> bool:
    """An Observation named a step of a test's workflow ("collected", "declined", "ordered"):
    what it says is no result unless a result can be read from it (no unreadable result
    either). A pending one is still pending (task G: "Serum hCG - collected 06:30")."""
    return NAMED_TEST_WORKFLOW in fact.codes


def is_pregnancy_row(fact: ObservationFact) -> bool:
    """A row whose name naming no test only holds the pregnancy question ("Patient pregnant -
    confirmed by ultrasound", "Pregnant: denies"; pregnancy.yaml `status_row_words`)."""
    return NAMED_PREGNANT_QUESTION in fact.codes


def row_says_pregnant(
    fact: ObservationFact, knowledge: Knowledge, settings: PregnancyRules
) -> bool:
    """Whether such a row's answer is affirmative: one the status question reads as pregnant
    (Yes, true, "Pregnant", SNOMED 77386006, LOINC LA15173-0), or pregnancy.yaml
    `status_row_yes_answers` ("Y", "TRUE") or `status_row_yes_codes` (LOINC LA33-6)."""
    as_status = replace(
        fact, codes=(fact.codes - {NAMED_PREGNANT_QUESTION}) | {NAMED_PREGNANCY_STATUS}
    )
    if reading_of(as_status, knowledge, settings) == "positive":
        return True
    said = " ".join(re.sub(r"[^a-z0-9]+", " ", (fact.value_text or "").lower()).split())
    if said and said in {" ".join(w.lower().split()) for w in settings.status_row_yes_answers}:
        return True
    return not fact.value_codes.isdisjoint(
        (c.system, c.code) for c in settings.status_row_yes_codes
    )


# A quantitative result sent as text, as many lab interfaces send "<5 mIU/mL": only a short text
# is tried (a result is a few characters; a long one is no quantity, and costs no regex work).
_QUANTITY_TEXT = re.compile(r"(<=|>=|<|>|≤|≥)?\s*(\d+(?:\.\d+)?)\s*(\D*)")
_LONGEST_QUANTITY_TEXT = 40


def _quantity_in_text(fact: ObservationFact) -> ObservationFact:
    """The fact with the comparator, value and unit its text gives ("<5 mIU/mL", "< 2") when it
    has no valueQuantity; else as it is."""
    text = (fact.value_text or "").strip()
    if fact.value is not None or len(text) > _LONGEST_QUANTITY_TEXT:
        return fact
    match = _QUANTITY_TEXT.fullmatch(text)
    if match is None:
        return fact
    comparator = {"≤": "<=", "≥": ">="}.get(match[1], match[1])
    unit = match[3].strip() or None
    return replace(fact, value=Decimal(match[2]), unit=unit, comparator=comparator)


def _quantity_reading(fact: ObservationFact, settings: PregnancyRules) -> Reading | None:
    """A quantitative hCG against its reference range (in the result's own unit), else the
    default limit converted to its unit (None when neither can be compared: the flags and text
    are read next)."""
    if fact.value is None:
        return None
    limit = fact.reference_high
    if limit is not None and fact.reference_high_unit and fact.reference_high_unit != fact.unit:
        try:  # a range in its own unit (IU/L beside mIU/mL): in the result's, else not used
            limit = units.convert(limit, fact.reference_high_unit, fact.unit or "")
        except units.UnitError:
            limit = None
    if limit is None:
        if not fact.unit:
            return None
        try:
            limit = units.convert(
                settings.quantitative_positive_above, settings.quantitative_unit, fact.unit
            )
        except units.UnitError:
            return None
    if fact.comparator in ("<", "<=") and fact.value > limit:
        return None  # "< 25" with a limit of 5 says nothing either way
    if fact.comparator in (">", ">=") and fact.value < limit:
        return None
    return "positive" if fact.value > limit else "negative"


def _text_reading(
    text: str | None, settings: PregnancyRules, status: bool = False
) -> Reading | None:
    """The text when it begins with one of the knowledge's result words (negative ones first);
    "yes" (`status_yes_words`) only as the answer to a pregnancy status question (`status`), and
    "no" (`status_no_words`) only as the whole of such an answer ("No result" is none)."""
    said = " ".join((text or "").lower().split())
    if status and any(
        re.fullmatch(rf"{re.escape(' '.join(word.lower().split()))}\W*", said)
        for word in settings.status_no_words
    ):
        return "negative"
    readings: tuple[tuple[Reading, list[str]], ...] = (
        ("negative", settings.negative_words),
        ("positive", settings.positive_words + (settings.status_yes_words if status else [])),
    )
    for reading, words in readings:
        for word in words:
            if re.match(rf"{re.escape(' '.join(word.lower().split()))}(?!\w)", said):
                if reading == "positive" and _negated(said, settings):
                    return None
                return reading
    return None


def _negated(said: str, settings: PregnancyRules) -> bool:
    return any(
        re.search(rf"(?<!\w){re.escape(word.lower())}(?!\w)", said)
        for word in settings.negating_words
    )


def says_unknown(fact: ObservationFact, knowledge: Knowledge) -> bool:
    """An explicit "unknown" answer: no result, rather than one that cannot be read."""
    return not fact.value_codes.isdisjoint(knowledge.codes_of("answer_pregnancy_unknown"))


def says_unconfirmed(fact: ObservationFact, knowledge: Knowledge) -> bool:
    """A "not yet confirmed" answer (US Core): a pregnancy suspected, so the status is not
    verified, and no older negative verifies it; no unreadable result either."""
    return not fact.value_codes.isdisjoint(knowledge.codes_of("answer_pregnancy_unconfirmed"))


# A FHIR day alone ("2026-03-02") reaches the checks as its midnight UTC, and may be that day in
# any zone (UTC+14 to UTC-12): a result dated so may have been taken from 14 hours before to 36
# hours after. A negative clears a positive only when surely later: a day-only positive covers
# its whole day (red team e05/p03, 2026-12-03). A result sent with a time of day says so
# (ObservationFact.when_timed): "2026-03-01T00:00:00Z" is that instant, not a day (red team 8c
# d02: a negative at 00:00Z, 19:00 EST the day before, cleared a positive of that day). A date
# with no such flag (a Condition's) at midnight UTC is taken as a day, the safe side.
_DAY_BEGINS_UP_TO = timedelta(hours=14)
_DAY_ENDS_UP_TO = timedelta(hours=36)


def _taken(when: datetime, timed: bool = False) -> tuple[datetime, datetime]:
    """The earliest and latest a result dated `when` (sent with a time of day: `timed`) may have
    been taken."""
    if not timed and when.utcoffset() == timedelta(0) and when.time() == datetime.min.time():
        return when - _DAY_BEGINS_UP_TO, when + _DAY_ENDS_UP_TO
    return when, when


def _day_only(when: datetime, timed: bool = False) -> bool:
    return _taken(when, timed)[0] != when


def _surely_after(
    when: datetime, since: datetime, *, timed: bool = False, since_timed: bool = False
) -> bool:
    """Whether a result dated `when` was surely taken after one dated `since` (either a day).
    Two days alone are of one chart, so of one zone: a later day is later, the same day is not
    (red team 7a q08/q12); a day against a time keeps the whole-day window."""
    if _day_only(when, timed) and _day_only(since, since_timed):
        return when.date() > since.date()
    return _taken(when, timed)[0] > _taken(since, since_timed)[1]


def _newest_first(entry: tuple[datetime, Reading, ObservationFact]) -> tuple[datetime, bool]:
    """Sort key of the results, newest first: a positive as late as it may have been taken, a
    negative as early, so that a positive no negative is surely after comes first."""
    when, reading, fact = entry
    positive = reading == "positive"
    taken = _taken(when, fact.when_timed)
    return (taken[1] if positive else taken[0], positive)


def value_as_sent(fact: ObservationFact, knowledge: Knowledge) -> str:
    """The value of a result the check could not read, as the chart gives it; a row holding the
    pregnancy question (task G) quoted with its name and asked to be confirmed."""
    said = _value_as_sent(fact, knowledge)
    name = row_name(fact.codes)
    if name is None:
        return said
    return (
        f"{said}, the answer to the row {_quoted(name)}: it may record a pregnancy, but the row "
        "is not the pregnancy status question alone, so it is not read as a result. Confirm the "
        "pregnancy status"
    )


def _value_as_sent(fact: ObservationFact, knowledge: Knowledge) -> str:
    aliases = {uri: alias for alias, uri in knowledge.codes.systems.items()}
    parts: list[str] = []
    if fact.value is not None:
        parts.append(f"{fact.comparator or ''}{fact.value} {fact.unit or '(no unit)'}")
    if fact.value_boolean is not None:
        parts.append(str(fact.value_boolean).lower())
    if fact.value_text:
        parts.append(_quoted(fact.value_text))
    parts += [
        f"{aliases.get(system, system or 'no system')} {code}"
        for system, code in sorted(fact.value_codes)
    ]
    if fact.interpretation:
        flags = ", ".join(sorted(code for _, code in fact.interpretation))
        parts.append(f"interpretation {flags}")
    return "; ".join(parts) or "no value"


def applies_to(item: CheckInput, knowledge: Knowledge, settings: PregnancyRules) -> bool | None:
    """True for a female of reproductive potential, False if not, None if the chart cannot tell.
    A recorded sex ASSIGNED AT BIRTH (`recorded_sex`) decides when there is one: female puts a
    patient in scope whatever Patient.gender says (a trans man can be pregnant), male takes her
    out (a trans woman cannot be; records that disagree: in scope), unless the site turned that
    off (pregnancy.yaml `recorded_male_sex_out_of_scope`: then any female record keeps her in).
    With none, any female record (Patient.gender, a sex for clinical use, a US Core 7 sex) puts a
    patient in scope; gender male with none takes him out. A hysterectomy or another
    state of codes.yaml `no_reproductive_potential` stands the check down as a Condition whose
    verification status is pregnancy.yaml `end_verification_statuses` or absent (never
    provisional, unconfirmed, differential), or as a completed Procedure."""
    patient = item.patient
    at_birth = recorded_sex(item, knowledge)
    female = patient.gender == "female" or patient.birth_sex == FEMALE_NOT_AT_BIRTH
    if at_birth == "F":
        female = True
    elif at_birth == "M" and settings.recorded_male_sex_out_of_scope:
        return False
    if not female and (patient.gender == "male" or at_birth == "M"):
        return False
    ages = patient.age_years_range(item.review.start.date())
    if not female or ages is None:
        return None
    within = [
        settings.reproductive_age_min_years <= age <= settings.reproductive_age_max_years
        for age in ages
    ]
    if within[0] != within[1]:  # a year-only birth date on the edge of the range
        return None
    if not within[0]:
        return False
    stand_down = knowledge.codes_of("no_reproductive_potential")
    counted = (None, *settings.end_verification_statuses)
    # whatever its clinical status: a hysterectomy charted as a surgical history entry is
    # "resolved" once done, and every state listed is for good (codes.yaml leaves out the
    # reversible ones)
    return not any(
        not c.codes.isdisjoint(stand_down) and c.verification_status in counted
        for c in patient.conditions
    ) and not any(  # a hysterectomy done (Synthea and US Core chart it as a Procedure)
        not p.codes.isdisjoint(stand_down)
        and p.status == "completed"
        and (p.performed is None or p.performed <= item.review.start)
        for p in patient.procedures
    )


def recorded_sex(item: CheckInput, knowledge: Knowledge) -> str | None:
    """ "F" or "M" as the chart records the sex ASSIGNED AT BIRTH: the Patient's US Core birth sex
    or recorded sex typed 76689-9 (read into `birth_sex`; never a sex for clinical use nor a US
    Core 7 sex) and an Observation of the sex assigned at birth (LOINC 76689-9) among the
    observations fetched. Any female record wins (records that disagree keep the patient in
    scope), whatever the Observation's status (but entered-in-error); a male one counts only
    from an Observation with a usable status (pregnancy.yaml `usable_statuses`: a preliminary or
    unknown one takes nobody out of scope). None: no record of the sex at birth either way."""
    said = {item.patient.birth_sex} & {"F", "M"}
    if "observations" not in item.patient.unavailable:
        usable = knowledge.pregnancy.usable_statuses
        for fact in item.patient.observations_of(knowledge.codes_of("sex_assigned_at_birth")):
            answer = _sex_answer(fact, knowledge)
            if answer == "F" and fact.status != "entered-in-error":
                said.add("F")
            elif answer == "M" and fact.status in usable:
                said.add("M")
    if "F" in said:
        return "F"
    return "M" if "M" in said else None


def _sex_answer(fact: ObservationFact, knowledge: Knowledge) -> str | None:
    """ "F" or "M" as an Observation of the sex assigned at birth says it: a code or the words of
    codes.yaml `answer_female` / `answer_male` (SNOMED CT, LOINC LA3-6 / LA2-8, HL7
    AdministrativeGender, a valueString "Female"). Female when any says so (None: neither)."""
    sexes = sex_codes(knowledge)
    said = {sex_said(code, sexes) for _, code in fact.value_codes}
    said.add(sex_said(fact.value_text, sexes))
    return "F" if "F" in said else "M" if "M" in said else None


@dataclass
class Results:
    """The pregnancy results that decide the status, as read newest first."""

    # readable results down to the newest negative, newest first
    dated: list[tuple[datetime, Reading, ObservationFact]] = field(default_factory=list)
    unreadable: ObservationFact | None = None  # the newest usable result, when it cannot be read
    # a "not yet confirmed" answer newer than every result read: no older negative verifies
    unconfirmed: ObservationFact | None = None
    preliminary: ObservationFact | None = None  # a preliminary positive newer than every usable one
    # the newest hCG test not yet resulted (a preliminary status, no reading) newer than every
    # negative test: a status answered "No" does not verify past it
    pending: ObservationFact | None = None
    # `unreadable` is an hCG test a status answer came after (older than the window: not said)
    unreadable_answered: bool = False
    future: ObservationFact | None = None  # a result dated in the future, ignored
    # the newest result is a positive one that no longer counts as a current pregnancy: why
    past_positive: str | None = None


def read_results(item: CheckInput, knowledge: Knowledge, settings: PregnancyRules) -> Results:
    """The results down to the newest negative, and the positives it is not surely after (a
    day-only one of its day), newest first as `_newest_first` orders them. A result dated more
    than FUTURE_TOLERANCE after now (the weights' slack for clocks: a mistyped year) is no
    latest result unless it is a final positive, and a preliminary one is not relied on, except
    that a positive one newer than every usable result is kept."""
    tests = (
        knowledge.codes_of("pregnancy_status")
        | knowledge.codes_of("hcg_qualitative")
        | knowledge.codes_of("hcg_quantitative")
        | {NAMED_PREGNANCY_TEST}
    )
    latest = item.now + FUTURE_TOLERANCE
    current = timedelta(days=settings.positive_result_current_days)
    found = Results()
    negative: ObservationFact | None = None  # the newest negative, once read
    for fact in item.patient.observations_of(tests):
        preliminary = fact.status in settings.preliminary_statuses
        if (
            (fact.status not in settings.usable_statuses and not preliminary)
            or fact.when is None
            or says_unknown(fact, knowledge)
        ):
            continue
        if fact.when > latest and (
            preliminary or reading_of(fact, knowledge, settings) != "positive"
        ):
            found.future = found.future or fact  # a positive one still counts: never dropped
            continue
        if negative is not None and negative.when is not None:
            # older than the newest negative: only a positive it may precede
            if fact.when + _DAY_ENDS_UP_TO < _taken(negative.when, negative.when_timed)[0]:
                break  # newest first: none older can be
            if (
                not preliminary
                and not _surely_after(
                    negative.when,
                    fact.when,
                    timed=negative.when_timed,
                    since_timed=fact.when_timed,
                )
                and reading_of(fact, knowledge, settings) == "positive"
            ):
                found.dated.append((fact.when, "positive", fact))
            continue
        # newer than every usable result
        newest = not found.dated and found.unreadable is None and found.unconfirmed is None
        # ...but for a status answer: an hCG test no later TEST reads (a status "No" after an
        # unreadable or pending test is a self-report, not its result; task B)
        newest_test = (
            not is_status_answer(fact, knowledge)
            and found.unreadable is None
            and found.unconfirmed is None
            and all(is_status_answer(e[2], knowledge) for e in found.dated)
        )
        if is_pregnancy_row(fact):
            # a row holding the question: never a reading; an affirmative answer newer than
            # every negative TEST (a status answer does not pass it), and recent enough to be a
            # pregnancy going on, is a result that could not be read (task G)
            if (
                newest_test
                and fact.when >= item.review.start - current
                and row_says_pregnant(fact, knowledge, settings)
            ):
                found.unreadable = fact
            continue
        if says_unconfirmed(fact, knowledge) and not preliminary:
            found.unconfirmed = found.unconfirmed or (fact if not found.dated else None)
            continue
        if preliminary:
            reading = reading_of(fact, knowledge, settings)
            if newest and not found.preliminary and reading == "positive":
                found.preliminary = fact
            elif newest_test and reading is None:
                found.pending = found.pending or fact  # whatever its name says (task G)
            continue
        reading = reading_of(fact, knowledge, settings)
        if reading is None:
            # a workflow step's "Yes" is no result; an older negative must not clear the order
            # past an unreadable one
            if (newest or newest_test) and not is_workflow_step(fact) and not found.unreadable:
                found.unreadable = fact
                found.unreadable_answered = not newest  # a status answer came after it
            continue
        found.dated.append((fact.when, reading, fact))
        if reading == "negative" and not is_status_answer(fact, knowledge):
            negative = fact  # an older result changes nothing below but a positive of its day
    found.dated.sort(key=_newest_first, reverse=True)
    usable = found.unreadable or (found.dated[0][2] if found.dated else None)
    early = found.preliminary
    if early and usable and early.when and usable.when and early.when <= usable.when:
        found.preliminary = None  # no newer than a usable result (the same test, finalised)
    return found


def check_pregnancy(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    settings = knowledge.pregnancy
    applies = applies_to(item, knowledge, settings)
    if "observations" in item.patient.unavailable:
        # no result can clear a pregnancy on the problem list; a man needs no "not run" card
        problem = _problem_list_evidence(item, knowledge, settings, [])
        findings: list[Emission] = [problem] if problem is not None else []
        if applies:
            reason = f"observations: {item.patient.unavailable['observations']}"
            findings.append(
                emit(
                    "check-not-run",
                    knowledge.check_sources[TOPIC],
                    what=CHECK.verifies,
                    reason=reason,
                )
            )
        elif applies is None and not findings:
            findings.append(_applicability_unknown(item, settings))
        return findings
    results = read_results(item, knowledge, settings)
    results.past_positive = _past_positive(
        item, knowledge, settings, counted(results.dated, knowledge)
    )
    findings = []
    evidence = _evidence(item, knowledge, settings, results)
    if evidence is not None:
        findings.append(evidence)
    elif applies is None:
        findings.append(_applicability_unknown(item, settings))
    elif applies:
        status = _status(item, knowledge, settings, results)
        if status is not None:
            findings.append(status)
    breastfeeding = next(
        item.patient.observations_of(knowledge.codes_of("breastfeeding_status")), None
    )
    if breastfeeding is not None and not breastfeeding.value_codes.isdisjoint(
        knowledge.codes_of("answer_breastfeeding")
    ):
        findings.append(
            emit(
                "pregnancy-breastfeeding",
                settings.contraception_source,
                hours=settings.contraception_hours_after_last_dose,
            )
        )
    cycle, _, cycle_day = item.review.judged_cycle
    if (
        applies
        and cycle in (None, 1)
        and cycle_day == 1  # once per course, cycle 1
        and settings.contraception_reminder
        and not _contraception_documented(item, knowledge)
    ):
        findings.append(
            emit(
                "pregnancy-contraception-reminder",
                settings.contraception_source,
                hours=settings.contraception_hours_after_last_dose,
            )
        )
    return findings


def _contraception_documented(item: CheckInput, knowledge: Knowledge) -> bool:
    """Effective contraception (an IUD, an implant, pill or injectable surveillance) as an active
    problem-list entry: the counselling the reminder asks for is charted as done."""
    methods = knowledge.codes_of("effective_contraception")
    return any(
        not c.codes.isdisjoint(methods)
        and c.verification_status not in ("refuted", "entered-in-error")
        and c.clinical_status not in ("inactive", "resolved")
        for c in item.patient.conditions
    )


def _negative_within(
    dated: list[tuple[datetime, Reading, ObservationFact]],
    anchor: datetime,
    settings: PregnancyRules,
) -> bool:
    """A negative result no more than `negative_result_valid_hours` before `anchor`."""
    earliest = anchor - timedelta(hours=settings.negative_result_valid_hours)
    return any(reading == "negative" and when >= earliest for when, reading, _ in dated)


def _applicability_unknown(item: CheckInput, settings: PregnancyRules) -> Emission:
    return emit(
        "pregnancy-applicability-unknown",
        settings.reproductive_age_source,
        gender=item.patient.gender or "not recorded",
        birth_date=item.patient.birth_date_text(),
    )


def _evidence(
    item: CheckInput, knowledge: Knowledge, settings: PregnancyRules, results: Results
) -> Emission | None:
    """What the chart says of a pregnancy, whoever the patient: a positive result with no later
    negative, an estimated delivery date or a gestational age of a pregnancy going on, a
    pregnancy on the problem list, a newer preliminary positive, or a charted pregnancy (an
    estimated delivery date, a gestational age, a problem-list entry) a later negative
    contradicts (None: no sign of one)."""
    dated = results.dated
    head = counted(dated, knowledge)  # a status answered "No" ends no positive test
    if head and head[0][1] == "positive" and results.past_positive is None:
        when, _, fact = head[0]
        return emit(
            "pregnancy-positive",
            settings.positive_result_source,
            date=when.date().isoformat(),
            resource=fact.resource,
        )
    conflicts: list[Emission] = []
    for found in (
        _expected_delivery(item, knowledge, settings, dated),
        _gestational_age(item, knowledge, settings, dated),
    ):
        if found is not None and found.code != "pregnancy-charted-conflict":
            return found
        conflicts += [found] if found is not None else []
    problem = _problem_list_evidence(item, knowledge, settings, dated)
    if problem is not None and problem.code != "pregnancy-problem-list-conflict":
        return problem
    conflict = next(iter(conflicts), problem)
    preliminary = results.preliminary
    if preliminary is not None and preliminary.when is not None:
        newest = results.unreadable or (dated[0][2] if dated else None)
        last = "none on file"
        if newest is not None and newest.when is not None:
            said = "negative" if dated and newest is dated[0][2] else "unreadable"
            last = f"{said}, {newest.when.date().isoformat()}"
        return emit(
            "pregnancy-preliminary-positive",
            settings.preliminary_positive_source,
            actions=(_hcg_order_action(item, knowledge),),
            date=preliminary.when.date().isoformat(),
            resource=preliminary.resource,
            last=last,
        )
    return conflict


def _status(
    item: CheckInput, knowledge: Knowledge, settings: PregnancyRules, results: Results
) -> Emission | None:
    """For a female of reproductive potential with no sign of pregnancy: is the status verified?
    Only by a negative newer than every positive on file: a positive no longer counted (a
    pregnancy ended since) leaves the status unknown, never verified by an older negative."""
    unreadable = results.unreadable
    positive = next((fact for _, reading, fact in results.dated if reading == "positive"), None)
    unconfirmed = results.unconfirmed.when if results.unconfirmed else None
    dated = [
        e
        for e in results.dated
        if all(
            since is None
            or since.when is None
            or _surely_after(e[0], since.when, timed=e[2].when_timed, since_timed=since.when_timed)
            for since in (positive, results.unconfirmed)
        )
    ]
    cycle, _, cycle_day = item.review.judged_cycle
    anchor = _cycle_one_start(item, knowledge) if cycle == 1 else item.review.start
    window = timedelta(hours=settings.negative_result_valid_hours)
    if (
        unreadable is not None
        and results.unreadable_answered
        and unreadable.when is not None
        and unreadable.when < anchor - window
    ):
        unreadable = None  # an old unreadable test a status answer came after (task G)
    # a day-8 or bag-change order of a cycle already begun: the status was due at its start
    inside_cycle = cycle is not None and cycle_day > 1
    if inside_cycle and (unreadable is None or not _since_cycle_began(unreadable, item)):
        return None  # due at the cycle's start, where an older unreadable one was said
    if unreadable is not None and unreadable.when is not None:
        return emit(
            "pregnancy-result-unreadable",
            settings.unreadable_result_source,
            actions=(_hcg_order_action(item, knowledge),),
            date=unreadable.when.date().isoformat(),
            resource=unreadable.resource,
            value=value_as_sent(unreadable, knowledge),
        )
    if cycle in (None, 1) or settings.test_before_every_cycle:
        if _negative_within(dated, anchor, settings):
            return _pending(item, knowledge, settings, results, dated, anchor)
        negative = next((e for e in dated if e[1] == "negative"), None)
        last = negative[0].date().isoformat() if negative else "none on file"
        if results.past_positive is not None:
            last += f"; {results.past_positive}"
        if results.unconfirmed is not None and unconfirmed is not None:
            said = unconfirmed.date().isoformat()
            last += f"; pregnancy not yet confirmed {said} ({results.unconfirmed.resource})"
        future = results.future
        if future is not None and future.when is not None:
            last += f"; {future.resource} dated {future.when.date().isoformat()} (future) ignored"
        return emit(
            "pregnancy-status-unknown",
            settings.result_window_source,
            actions=(_hcg_order_action(item, knowledge),),
            days=settings.negative_result_valid_hours // 24,
            last=last,
            cycle=cycle if cycle is not None else "unknown (checked as cycle 1)",
        )
    if _negative_within(dated, item.review.start, settings):
        # verified for this cycle as cycle 1 is: nothing to remind, unless only by a status
        # answer while a test is pending
        return _pending(item, knowledge, settings, results, dated, item.review.start)
    return emit("pregnancy-test-reminder", settings.test_before_every_cycle_source, cycle=cycle)


def _pending(
    item: CheckInput,
    knowledge: Knowledge,
    settings: PregnancyRules,
    results: Results,
    dated: list[tuple[datetime, Reading, ObservationFact]],
    anchor: datetime,
) -> Emission | None:
    """A status verified only by a status ANSWER ("No": a self-report) within the window before
    `anchor`, while an hCG test dated in that window is not yet resulted (`Results.pending`): a
    warning that the test result is not yet available (None: a negative test in the window
    verifies, or no test is pending there)."""
    pending = results.pending
    earliest = anchor - timedelta(hours=settings.negative_result_valid_hours)
    if pending is None or pending.when is None or pending.when < earliest:
        return None
    window = [e for e in dated if e[1] == "negative" and e[0] >= earliest]
    if any(not is_status_answer(fact, knowledge) for _, _, fact in window):
        return None  # a negative test verifies whatever else is pending
    answer = window[0] if window else None
    return emit(
        "pregnancy-test-pending",
        settings.unreadable_result_source,
        date=pending.when.date().isoformat(),
        resource=pending.resource,
        status=pending.status,
        answer_date=answer[0].date().isoformat() if answer else "none",
        answer_resource=answer[2].resource if answer else "none",
    )


def _past_positive(
    item: CheckInput,
    knowledge: Knowledge,
    settings: PregnancyRules,
    dated: list[tuple[datetime, Reading, ObservationFact]],
) -> str | None:
    """Why the newest result, a positive one, is no current pregnancy (None: it is one, or the
    newest is no positive): a pregnancy on file ended after it, or it is older than the longest
    a pregnancy lasts after its first positive test. Said on the card that asks for a new test."""
    if not dated or dated[0][1] != "positive":
        return None
    when, _, fact = dated[0]
    said = f"positive {when.date().isoformat()} ({fact.resource}) no longer counted"
    ended = pregnancy_ended_after(
        item.patient,
        when,
        item.now + FUTURE_TOLERANCE,
        knowledge,
        gestation_days=_weeks_beside(item, knowledge, settings, when),
    )
    if ended is not None:
        return f"{said}: a pregnancy ended {ended[0].date().isoformat()} ({ended[1]})"
    overdue = timedelta(days=settings.expected_delivery_overdue_days)
    passed = next(
        (
            f
            for f in _expected_deliveries(item, knowledge, settings)
            if f.value_date is not None and when < f.value_date < item.review.start - overdue
        ),
        None,
    )
    if passed is not None and passed.value_date is not None:
        return (
            f"{said}: its expected delivery date {passed.value_date.date().isoformat()} "
            f"({passed.resource}) passed more than {overdue.days} days before the start"
        )
    days = settings.positive_result_current_days
    if item.review.start - when > timedelta(days=days):
        return f"{said}: more than {days} days before the start"
    return None


def _expected_deliveries(
    item: CheckInput, knowledge: Knowledge, settings: PregnancyRules
) -> list[ObservationFact]:
    """The usable estimated delivery dates on file, newest charted first (a date sent as text
    read as `delivery_date_in_text` reads it; one it cannot read has no `value_date`)."""
    codes = knowledge.codes_of("expected_delivery_date")
    found: list[ObservationFact] = []
    for f in item.patient.observations_of(codes):
        if f.status not in settings.usable_statuses:
            continue
        if f.value_date is None and f.value_text:
            read = delivery_date_in_text(f.value_text, item.review.start)
            f = replace(f, value_date=read) if read is not None else f
        if f.value_date is not None or f.value_text:
            found.append(f)
    return found


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.+\-Z]*)?")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def delivery_date_in_text(text: str, start: datetime) -> datetime | None:
    """A delivery date sent as text: ISO (2026-09-10), or MM/DD/YYYY as US systems write it when
    that is unambiguous (a day above 12), or when both readings (MM/DD and DD/MM) fall on the
    same side of the start day (the later one is taken: what the check asks is whether the date
    is still ahead). None: no date the check can rely on (the card says it could not be read)."""
    said = text.strip()
    candidates: list[datetime] = []
    if match := _ISO_DATE.fullmatch(said):
        candidates = _dates((int(match[1]), int(match[2]), int(match[3])))
    elif match := _US_DATE.fullmatch(said):
        first, second, year = int(match[1]), int(match[2]), int(match[3])
        candidates = _dates((year, first, second), (year, second, first))
    if not candidates:
        return None
    ahead = {c.date() >= start.date() for c in candidates}
    return max(candidates) if len(ahead) == 1 else None


def _dates(*ymds: tuple[int, int, int]) -> list[datetime]:
    found: set[datetime] = set()
    for year, month, day in ymds:
        try:
            found.add(datetime(year, month, day, tzinfo=UTC))
        except ValueError:
            continue
    return sorted(found)


def _expected_delivery(
    item: CheckInput,
    knowledge: Knowledge,
    settings: PregnancyRules,
    dated: list[tuple[datetime, Reading, ObservationFact]],
) -> Emission | None:
    """The newest usable estimated delivery date, when it falls on or after the start day: a
    pregnancy going on now, unless a negative result came after it was charted (undated: a
    negative result recent enough to clear the order); then the chart contradicts itself, a
    warning (one test does not clear a charted pregnancy)."""
    fact = next(iter(_expected_deliveries(item, knowledge, settings)), None)
    if fact is None:
        return None
    since = fact.when or item.review.start - timedelta(hours=settings.negative_result_valid_hours)
    negative = _negative_after(dated, since, fact.when is not None and fact.when_timed)
    if fact.value_date is None and negative is not None:
        return None  # a date that could not be read, and a negative result after it
    if fact.value_date is None:  # a date sent as text that could not be read: never silence
        return emit(
            "pregnancy-delivery-date-unreadable",
            settings.expected_delivery_source,
            actions=(_hcg_order_action(item, knowledge),),
            resource=fact.resource,
            charted=fact.when.date().isoformat() if fact.when else "undated",
            value=_quoted(fact.value_text or ""),
        )
    if fact.value_date.date() < item.review.start.date():
        return None
    if negative is not None:
        return _charted_conflict(
            settings,
            f"Estimated delivery date {fact.value_date.date().isoformat()}",
            fact,
            negative,
        )
    return emit(
        "pregnancy-expected-delivery",
        settings.expected_delivery_source,
        date=fact.value_date.date().isoformat(),
        resource=fact.resource,
        charted=fact.when.date().isoformat() if fact.when else "undated",
    )


def _gestational_age(
    item: CheckInput,
    knowledge: Knowledge,
    settings: PregnancyRules,
    dated: list[tuple[datetime, Reading, ObservationFact]],
) -> Emission | None:
    """The newest final gestational age of a pregnancy (codes.yaml pregnancy_gestational_age),
    when it is still the pregnancy going on: charted no more than `positive_result_current_days`
    before the start, no pregnancy on file ended after it, and the pregnancy cannot have gone
    past term by the start (its weeks plus the time since, against 40 weeks and
    `expected_delivery_overdue_days`). A negative result after it: the chart contradicts itself,
    a warning (one test does not clear a charted pregnancy). Never when the patient was surely
    younger than `gestational_age_own_below_patient_years` when it was taken (her own
    gestational age at birth); a girl of 11 can be pregnant."""
    codes = knowledge.codes_of("pregnancy_gestational_age")
    fact = next(
        (
            f
            for f in item.patient.observations_of(codes)
            if f.status in settings.usable_statuses and f.when is not None
        ),
        None,
    )
    if fact is None or fact.when is None:
        return None
    when, start = fact.when, item.review.start
    ages = item.patient.age_years_range(when.date())
    if ages is not None and ages[1] < settings.gestational_age_own_below_patient_years:
        return None
    if start - when > timedelta(days=settings.positive_result_current_days):
        return None
    days = _gestation_days(fact)
    if pregnancy_ended_after(
        item.patient, when, item.now + FUTURE_TOLERANCE, knowledge, gestation_days=days
    ):
        return None
    term = 280 + settings.expected_delivery_overdue_days
    if days is not None and days + (start - when).days > term:
        return None
    age = f"{fact.value.normalize():f} {fact.unit}" if fact.value is not None else "no value"
    age = age if fact.unit else age + " (no unit)"
    negative = _negative_after(dated, when, fact.when_timed)
    if negative is not None:
        return _charted_conflict(settings, f"Gestational age {age}", fact, negative)
    return emit(
        "pregnancy-gestational-age",
        settings.gestational_age_source,
        date=when.date().isoformat(),
        resource=fact.resource,
        age=age,
    )


def _negative_after(
    dated: list[tuple[datetime, Reading, ObservationFact]],
    since: datetime,
    since_timed: bool = False,
) -> tuple[datetime, Reading, ObservationFact] | None:
    """The newest negative result surely taken after `since` (sent with a time of day:
    `since_timed`; None: none)."""
    return next(
        (
            e
            for e in dated
            if e[1] == "negative"
            and _surely_after(e[0], since, timed=e[2].when_timed, since_timed=since_timed)
        ),
        None,
    )


def _charted_conflict(
    settings: PregnancyRules,
    what: str,
    fact: ObservationFact,
    negative: tuple[datetime, Reading, ObservationFact],
) -> Emission:
    """A charted pregnancy (an estimated delivery date, a gestational age) with a negative result
    after it: the chart contradicts itself."""
    return emit(
        "pregnancy-charted-conflict",
        settings.charted_pregnancy_conflict_source,
        what=what,
        date=fact.when.date().isoformat() if fact.when else "undated",
        resource=fact.resource,
        negative_date=negative[0].date().isoformat(),
        negative_resource=negative[2].resource,
    )


_WEEKS = {"wk": 7, "week": 7, "weeks": 7, "w": 7, "wks": 7, "d": 1, "day": 1, "days": 1}


def _gestation_days(fact: ObservationFact) -> int | None:
    """A gestational age in days, from weeks or days (None: no value or another unit)."""
    per = _WEEKS.get((fact.unit or "").strip().lower())
    return int(fact.value * per) if fact.value is not None and per is not None else None


def _weeks_beside(
    item: CheckInput, knowledge: Knowledge, settings: PregnancyRules, when: datetime
) -> int | None:
    """The gestation in days, at `when`, that a final gestational age or a Z3A code (not
    refuted) charted within pregnancy.yaml `positive_result_weeks_within_days` of a positive
    result at `when` gives (the nearest one; the same pregnancy). None: none there, and the
    result gives no weeks (any later delivery ends it)."""
    window = timedelta(days=settings.positive_result_weeks_within_days)
    found: list[tuple[timedelta, int]] = []
    codes = knowledge.codes_of("pregnancy_gestational_age")
    for fact in item.patient.observations_of(codes):
        days = _gestation_days(fact)
        if fact.status in settings.usable_statuses and fact.when is not None and days is not None:
            found.append((fact.when - when, days))
    for condition in item.patient.conditions:
        days = gestation_days_coded(condition.codes)
        if (
            days is not None
            and condition.onset is not None
            and condition.verification_status not in ("refuted", "entered-in-error")
        ):
            found.append((condition.onset - when, days))
    near = [(abs(apart), days - apart.days) for apart, days in found if abs(apart) <= window]
    return min(near)[1] if near else None


def _since_cycle_began(fact: ObservationFact, item: CheckInput) -> bool:
    """A result dated on or after the first day of the order's cycle: news since its start."""
    began = item.review.start - timedelta(days=item.review.judged_cycle[2] - 1)
    return fact.when is not None and fact.when.date() >= began.date()


def _hcg_order_action(item: CheckInput, knowledge: Knowledge) -> ProposedAction:
    return ProposedAction(
        "create",
        "Order a serum hCG pregnancy test",
        hcg_test_order(knowledge, item.patient.patient_id, item.now),
    )


def _cycle_one_start(item: CheckInput, knowledge: Knowledge) -> datetime:
    """The first infusion of this course's cycle 1 on file (this order's start when none is
    earlier)."""
    starts = [
        begun
        for order in earlier_blinatumomab_orders(item.patient, knowledge, item.review.order)
        if cycle_of(order) == 1
        and (begun := order.first_start()) is not None
        and item.review.in_course(begun)
    ]
    return min([*starts, item.review.start])


def _problem_list_evidence(
    item: CheckInput,
    knowledge: Knowledge,
    settings: PregnancyRules,
    dated: list[tuple[datetime, Reading, ObservationFact]],
) -> Emission | None:
    """A current pregnancy on the problem list: critical unless a negative result came after it
    (an undated entry: unless a negative result recent enough to clear the order came); then, if
    the entry is confirmed (or says nothing), the chart contradicts itself: a warning. One named
    only in words is as critical, and its card quotes the words: the service read them, the
    clinician confirms them."""
    problem = current_pregnancy(
        item.patient.conditions,
        knowledge,
        patient=item.patient,
        start=item.review.start,
        until=item.now + FUTURE_TOLERANCE,
    )
    if problem is None:
        return None
    since = entry_date(problem, knowledge) or (
        item.review.start - timedelta(hours=settings.negative_result_valid_hours)
    )
    date = problem.onset.date().isoformat() if problem.onset else "undated"
    negative = _negative_after(dated, since)
    if negative is None:
        if not coded_pregnancy(problem.codes, knowledge):
            return emit(
                "pregnancy-named-on-problem-list",
                knowledge.pregnancy_conditions.text_source or settings.positive_result_source,
                date=date,
                resource=problem.resource,
                words=_quoted(_once(problem.text)),
            )
        return emit(
            "pregnancy-on-problem-list",
            settings.positive_result_source,
            date=date,
            resource=problem.resource,
        )
    if problem.verification_status not in (None, "confirmed"):
        return None  # provisional or unconfirmed: the negative result answers it
    return emit(
        "pregnancy-problem-list-conflict",
        settings.problem_list_conflict_source,
        date=date,
        resource=problem.resource,
        negative_date=negative[0].date().isoformat(),
        negative_resource=negative[2].resource,
    )


def _once(text: str) -> str:
    """A Condition's name said once where its code.text and its display are the same words (the
    fact joins them: "iup 8 wks iup 8 wks")."""
    half = len(text) // 2
    return text[:half] if text[half : half + 1] == " " and text[:half] == text[half + 1 :] else text


def _quoted(text: str) -> str:
    """A Condition's words as the card quotes them (at most 100 characters)."""
    said = " ".join(text.split())
    return f'"{said[:100]}…"' if len(said) > 100 else f'"{said}"'


CHECK = Check(
    topic=TOPIC,
    verifies="the pregnancy status",
    requires=frozenset({"patient"}),  # observations: checked once the check applies
    run=check_pregnancy,
    findings=FINDINGS,
)
