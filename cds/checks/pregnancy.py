"""Pregnancy-status check (card topic `pregnancy-status`; label §5 embryo-fetal toxicity, §8).

For females of reproductive potential: a positive result with no later negative one is critical in
any cycle; before cycle 1 a negative result must be on file within the window (local policy) before
the first infusion of cycle 1 (else a warning with an hCG order to accept); later cycles get a
reminder. Day-8 and bag-change orders inside a cycle already begun get neither. Contraception is
reminded once per course, with the first order of cycle 1; breastfeeding whenever it is charted.
The newest result that cannot be read as positive or negative is a warning: an older negative never
clears the order past it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from cds import units
from cds.checks import Check, CheckInput
from cds.findings import Declarations, Emission, ProposedAction, declare, emit
from cds.knowledge import Knowledge
from cds.knowledge.models import PregnancyRules
from cds.orders import cycle_of, earlier_blinatumomab_orders
from cds.patient import ObservationFact
from cds.pregnancy_conditions import current_pregnancy
from cds.suggestions import hcg_test_order

TOPIC = "pregnancy-status"
FINDINGS: Declarations = {
    "pregnancy-applicability-unknown": declare("warning", "gender", "birth_date"),
    "pregnancy-positive": declare("critical", "date", "resource"),
    "pregnancy-on-problem-list": declare("critical", "date", "resource"),
    "pregnancy-status-unknown": declare("warning", "days", "last", "cycle"),
    "pregnancy-result-unreadable": declare("warning", "date", "resource", "value"),
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
    interpretation flags, else its text."""
    if fact.value_boolean is not None:
        return "positive" if fact.value_boolean else "negative"
    values = fact.value_codes
    if not values.isdisjoint(
        knowledge.codes_of("answer_pregnant") | knowledge.codes_of("answer_positive")
    ):
        return "positive"
    if not values.isdisjoint(
        knowledge.codes_of("answer_not_pregnant") | knowledge.codes_of("answer_negative")
    ):
        return "negative"
    if fact.has_code(knowledge.codes_of("hcg_quantitative")):
        measured = _quantity_reading(_quantity_in_text(fact), settings)
        if measured is not None:
            return measured
    positive_flags, negative_flags = settings.result_flags()
    # the flags as the interpretation, or sent as the value itself (valueCodeableConcept v3 POS)
    if not (fact.interpretation | values).isdisjoint(positive_flags):
        return "positive"
    if not (fact.interpretation | values).isdisjoint(negative_flags):
        return "negative"
    return _text_reading(fact.value_text, settings)


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


def _text_reading(text: str | None, settings: PregnancyRules) -> Reading | None:
    """The text when it begins with one of the knowledge's result words (negative ones first)."""
    said = " ".join((text or "").lower().split())
    readings: tuple[tuple[Reading, list[str]], ...] = (
        ("negative", settings.negative_words),
        ("positive", settings.positive_words),
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


def value_as_sent(fact: ObservationFact, knowledge: Knowledge) -> str:
    """The value of a result the check could not read, as the chart gives it."""
    aliases = {uri: alias for alias, uri in knowledge.codes.systems.items()}
    parts: list[str] = []
    if fact.value is not None:
        parts.append(f"{fact.comparator or ''}{fact.value} {fact.unit or '(no unit)'}")
    if fact.value_text:
        text = " ".join(fact.value_text.split())
        parts.append(f'"{text[:100]}…"' if len(text) > 100 else f'"{text}"')
    parts += [
        f"{aliases.get(system, system or 'no system')} {code}"
        for system, code in sorted(fact.value_codes)
    ]
    if fact.interpretation:
        flags = ", ".join(sorted(code for _, code in fact.interpretation))
        parts.append(f"interpretation {flags}")
    return "; ".join(parts) or "no value"


def applies_to(item: CheckInput, knowledge: Knowledge, settings: PregnancyRules) -> bool | None:
    """True for a female of reproductive potential, False if not, None if the chart cannot tell."""
    patient = item.patient
    if patient.gender in ("male",):
        return False
    ages = patient.age_years_range(item.review.start.date())
    if patient.gender != "female" or ages is None:
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
    return not any(
        not c.codes.isdisjoint(stand_down)
        and c.verification_status not in ("refuted", "entered-in-error")
        and c.clinical_status not in ("inactive", "resolved")
        for c in patient.conditions
    )


def check_pregnancy(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    settings = knowledge.pregnancy
    applies = applies_to(item, knowledge, settings)
    if applies is False:
        return []
    if applies is None:
        return [
            emit(
                "pregnancy-applicability-unknown",
                settings.reproductive_age_source,
                gender=item.patient.gender or "not recorded",
                birth_date=item.patient.birth_date_text(),
            )
        ]
    if "observations" in item.patient.unavailable:  # only now: a man needs no such card
        reason = f"observations: {item.patient.unavailable['observations']}"
        return [
            emit(
                "check-not-run", knowledge.check_sources[TOPIC], what=CHECK.verifies, reason=reason
            )
        ]
    start = item.review.start
    tests = (
        knowledge.codes_of("pregnancy_status")
        | knowledge.codes_of("hcg_qualitative")
        | knowledge.codes_of("hcg_quantitative")
    )
    dated: list[tuple[datetime, Reading, ObservationFact]] = []
    unreadable: ObservationFact | None = None  # the newest result, when it cannot be read
    for fact in item.patient.observations_of(tests):
        if (
            fact.status not in settings.usable_statuses
            or fact.when is None
            or says_unknown(fact, knowledge)
        ):
            continue
        reading = reading_of(fact, knowledge, settings)
        if reading is None:
            if not dated and unreadable is None:
                unreadable = fact  # an older negative must not clear the order past it
            continue
        dated.append((fact.when, reading, fact))
        if reading == "negative":
            break  # newest first: an older result changes nothing below (and stays unread)
    findings: list[Emission] = []
    cycle = item.review.cycle
    # a day-8 or bag-change order of a cycle already begun: the status was due at its start
    inside_cycle = cycle is not None and item.review.cycle_day > 1
    if dated and dated[0][1] == "positive":
        when, _, fact = dated[0]
        findings.append(
            emit(
                "pregnancy-positive",
                settings.positive_result_source,
                date=when.date().isoformat(),
                resource=fact.resource,
            )
        )
    elif (problem := _pregnancy_on_problem_list(item, knowledge, settings, dated)) is not None:
        findings.append(problem)
    elif inside_cycle and (unreadable is None or not _since_cycle_began(unreadable, item)):
        pass  # the status was due at the cycle's start, where an older unreadable one was said
    elif unreadable is not None and unreadable.when is not None:
        findings.append(
            emit(
                "pregnancy-result-unreadable",
                settings.unreadable_result_source,
                actions=(_hcg_order_action(item, knowledge),),
                date=unreadable.when.date().isoformat(),
                resource=unreadable.resource,
                value=value_as_sent(unreadable, knowledge),
            )
        )
    elif cycle in (None, 1) or settings.test_before_every_cycle:
        anchor = _cycle_one_start(item, knowledge) if cycle == 1 else start
        earliest = anchor - timedelta(hours=settings.negative_result_valid_hours)
        recent = [entry for entry in dated if entry[1] == "negative" and entry[0] >= earliest]
        if not recent:
            last = next((e for e in dated if e[1] == "negative"), None)
            findings.append(
                emit(
                    "pregnancy-status-unknown",
                    settings.result_window_source,
                    actions=(_hcg_order_action(item, knowledge),),
                    days=settings.negative_result_valid_hours // 24,
                    last=last[0].date().isoformat() if last else "none on file",
                    cycle=cycle if cycle is not None else "unknown (checked as cycle 1)",
                )
            )
    else:
        findings.append(
            emit("pregnancy-test-reminder", settings.test_before_every_cycle_source, cycle=cycle)
        )
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
    if cycle in (None, 1) and item.review.cycle_day == 1:  # once per course, with cycle 1
        findings.append(
            emit(
                "pregnancy-contraception-reminder",
                settings.contraception_source,
                hours=settings.contraception_hours_after_last_dose,
            )
        )
    return findings


def _since_cycle_began(fact: ObservationFact, item: CheckInput) -> bool:
    """A result dated on or after the first day of the order's cycle: news since its start."""
    began = item.review.start - timedelta(days=item.review.cycle_day - 1)
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


def _pregnancy_on_problem_list(
    item: CheckInput,
    knowledge: Knowledge,
    settings: PregnancyRules,
    dated: list[tuple[datetime, Reading, ObservationFact]],
) -> Emission | None:
    """A current pregnancy on the problem list, unless a negative result came after it (an
    undated entry: unless a negative result recent enough to clear the order came)."""
    problem = current_pregnancy(item.patient.conditions, knowledge)
    if problem is None:
        return None
    since = problem.onset or (
        item.review.start - timedelta(hours=settings.negative_result_valid_hours)
    )
    if any(reading == "negative" and when > since for when, reading, _ in dated):
        return None
    return emit(
        "pregnancy-on-problem-list",
        settings.positive_result_source,
        date=problem.onset.date().isoformat() if problem.onset else "undated",
        resource=problem.resource,
    )


CHECK = Check(
    topic=TOPIC,
    verifies="the pregnancy status",
    requires=frozenset({"patient"}),  # observations: checked once the check applies
    run=check_pregnancy,
    findings=FINDINGS,
)
