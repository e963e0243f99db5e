"""Seizures restarted after, and grades held in Condition.stage (label §2.4; toxicity.yaml).

Label §2.4: neurological toxicity grade 3 -> withhold, restart at 9 mcg/day for 7 days; grade 4,
or more than one seizure -> discontinue permanently. CTCAE v5 "Seizure" (Nervous system
disorders): grade 2 a brief generalized seizure, grade 3 new-onset seizures, grade 4 prolonged
repetitive seizures. So one seizure charted without a grade may be the label's grade 3
neurological toxicity: a restart above 9 mcg/day asks to confirm the grade; a seizure graded in its
words counts as that grade of neurological toxicity.

Two seizure Conditions dated by the same day alone may be one seizure charted twice or two
seizures: the order asks to confirm how many (more than one: discontinue permanently). Timed
onsets minutes apart stay one seizure; seizures on different days stay "discontinue".

The chart is the restart chart of test_restart_after_toxicity: an adult on R/R cycle 2 at 28
mcg/day from 2026-02-19, stopped on 02-24 at 18:00, the order to sign resumes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.cards import FINDING_CODE_EXTENSION
from cds.knowledge import load_knowledge
from cds.patient import ConditionFact
from cds.toxicity import assess, grade_stated
from tests.checks.test_restart_after_toxicity import (
    SIX_DAYS_LATER,
    adult,
    cycle_2,
    restart,
    toxicity,
)
from tests.conftest import SIGN
from tests.fixtures_util import SNOMED, Step, bundle, order_sign

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOCAL = "https://ehr.example.org/problem-list"
GRADE_UNKNOWN = ("warning", "dose-toxicity-grade-unknown")
COUNT_UNKNOWN = ("warning", "dose-toxicity-seizure-count-unknown")
DISCONTINUE = ("critical", "dose-toxicity-discontinue")
OVERDOSE = ("critical", "dose-overdose")
SEIZED = "2026-02-24T15:00:00+00:00"  # during the day's bag (10:00-18:00)
SEIZED_DAY = "2026-02-24"
RESOLVED = "2026-02-25T09:00:00+00:00"
STRAIGHT_28 = (Step(28, days=22),)
RESUMED_9_THEN_28 = (Step(9, days=3), Step(28, days=19))  # the cycle's step-up, not 7 days at 9
REDUCED_RESTART = (Step(9, days=7), Step(28, days=15))


def seizure(
    code: str = "R56.9",
    display: str = "Unspecified convulsions",
    onset: str = SEIZED,
    *,
    system: str = ICD10CM,
    cid: str = "sz-1",
    text: str | None = None,
) -> dict[str, Any]:
    """A resolved seizure Condition on the problem list (abatement the next morning)."""
    resource = toxicity(code, display, onset, RESOLVED, cid=cid)
    resource["code"]["coding"][0]["system"] = system
    if text is not None:
        resource["code"]["text"] = text
    return resource


def named(text: str, onset: str = SEIZED, cid: str = "sz-words") -> dict[str, Any]:
    """A problem-list entry in words under the EHR's own problem code."""
    return seizure(f"P{cid}", text, onset, system=LOCAL, cid=cid, text=text)


def staged(resource: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The Condition with its grade in Condition.stage.summary (R4 Condition.stage)."""
    resource["stage"] = [{"summary": summary}]
    return resource


def chart(*conditions: dict[str, Any], steps: tuple[Step, ...] = STRAIGHT_28) -> dict[str, Any]:
    return bundle([*adult(), *cycle_2(), *conditions, restart(*steps, start=SIX_DAYS_LATER)])


def dose_cards(client: FlaskClient, chart_bundle: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(SIGN, json=order_sign(chart_bundle))
    assert response.status_code == 200, response.get_json()
    return [c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "dose"]


def codes(cards: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((c["indicator"], c["extension"][FINDING_CODE_EXTENSION]) for c in cards)


# --- defect 1: one ungraded seizure, then a restart -------------------------------------------
ONE_SEIZURE: dict[str, Any] = {
    "R56.9 during the infusion, resumed straight at 28 -> confirm the grade (may be grade 3)": (
        chart(seizure()),
        [GRADE_UNKNOWN],
    ),
    "SNOMED CT 91175000 during the infusion, resumed straight at 28 -> confirm the grade": (
        chart(seizure("91175000", "Seizure (finding)", system=SNOMED)),
        [GRADE_UNKNOWN],
    ),
    "R56.9 dated by day alone, resumed straight at 28 -> confirm the grade": (
        chart(seizure(onset=SEIZED_DAY)),
        [GRADE_UNKNOWN],
    ),
    "'Seizure' in words, resumed at 9 for 3 days then 28 (no 7 days at 9) -> confirm the grade": (
        chart(named("Seizure"), steps=RESUMED_9_THEN_28),
        [GRADE_UNKNOWN],
    ),
    "one seizure charted twice (problem list 15:00, ED 15:05), resumed at 28 -> confirm the "
    "grade, no count card (one event)": (
        chart(seizure(cid="sz-problem"), seizure(onset="2026-02-24T15:05:00+00:00", cid="sz-ed")),
        [GRADE_UNKNOWN],
    ),
    "'Seizure, grade 2' (brief generalized) in words, resumed at 28 -> no card": (
        chart(named("Seizure, grade 2")),
        [],
    ),
    "R56.9 whose words say 'new onset seizure grade 3', resumed at 28 -> the reduced restart "
    "(critical: 9 mcg/day for 7 days)": (
        chart(seizure(text="New onset seizure, CTCAE grade 3")),
        [OVERDOSE],
    ),
    "'Seizure grade 3', resumed at 9 for 7 days then 28 -> no card": (
        chart(named("Seizure grade 3"), steps=REDUCED_RESTART),
        [],
    ),
    "'Seizure, grade 4' (life-threatening) -> discontinue permanently": (
        chart(named("Seizure, grade 4")),
        [DISCONTINUE],
    ),
    "R56.9 and a second on another day -> discontinue (as before)": (
        chart(seizure(), seizure(onset="2026-02-22T11:00:00+00:00", cid="sz-2")),
        [DISCONTINUE],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), ONE_SEIZURE.values(), ids=ONE_SEIZURE.keys())
def test_a_restart_after_one_seizure(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


def test_the_grade_card_names_the_seizure_and_ctcae(client: FlaskClient) -> None:
    [card] = dose_cards(client, chart(seizure()))
    assert card["summary"] == "Confirm the grade of the toxicity before restarting blinatumomab"
    detail = " ".join(card["detail"].split())
    assert "seizure on 2026-02-24: grade not recorded" in detail
    assert "new-onset seizure is grade 3" in detail


def test_one_ungraded_seizure_then_the_reduced_restart_gives_no_card(client: FlaskClient) -> None:
    """9 mcg/day for 7 days is what grade 3 asks; one seizure is not grade 4 (prolonged,
    repetitive seizures are status epilepticus, read as more than one)."""
    assert codes(dose_cards(client, chart(seizure(), steps=REDUCED_RESTART))) == []


# --- defect 2: two seizures dated by the same day alone ---------------------------------------
def two_on_one_day(**kwargs: Any) -> dict[str, Any]:
    return chart(
        seizure(onset=SEIZED_DAY, cid="sz-problem"),
        seizure("91175000", "Seizure (finding)", SEIZED_DAY, system=SNOMED, cid="sz-ed"),
        **kwargs,
    )


@pytest.mark.parametrize(
    "chart_bundle",
    [
        pytest.param(two_on_one_day(), id="two ungraded, resumed at 28"),
        pytest.param(two_on_one_day(steps=REDUCED_RESTART), id="two ungraded, reduced restart"),
        pytest.param(
            chart(
                named("Seizure, grade 2", SEIZED_DAY, "sz-a"),
                named("Brief generalized seizure, grade 2", SEIZED_DAY, "sz-b"),
            ),
            id="two graded 2 in words",
        ),
    ],
)
def test_two_seizures_dated_by_one_day_ask_how_many_now(
    client: FlaskClient, chart_bundle: dict[str, Any]
) -> None:
    """Whatever card carries it, a warning says that more than one seizure means discontinue."""
    cards = dose_cards(client, chart_bundle)
    assert [c["indicator"] for c in cards] == ["warning"], [c["summary"] for c in cards]
    detail = " ".join(cards[0]["detail"].split())
    assert "2 seizure Conditions are dated 2026-02-24 without a time" in detail
    assert "discontinue permanently" in detail


@pytest.mark.parametrize(
    ("chart_bundle", "expected"),
    [
        pytest.param(two_on_one_day(), [COUNT_UNKNOWN], id="resumed at 28 (the count first)"),
        pytest.param(two_on_one_day(steps=REDUCED_RESTART), [COUNT_UNKNOWN], id="at 9 for 7 days"),
    ],
)
def test_two_seizures_dated_by_one_day_give_the_count_card(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert codes(dose_cards(client, chart_bundle)) == sorted(expected)


# --- defect 3: a grade held in Condition.stage.summary ----------------------------------------
CRS_UNSPECIFIED = ("D89.839", "Cytokine release syndrome, grade unspecified")
ASTCT_GRADE = "https://ehr.example.org/CodeSystem/astct-grade"


@pytest.mark.parametrize(
    ("chart_bundle", "expected"),
    [
        pytest.param(
            chart(staged(seizure(*CRS_UNSPECIFIED, cid="crs"), {"text": "Grade 3"})),
            [OVERDOSE],
            id="D89.839 with stage text 'Grade 3', resumed at 28 -> the reduced restart",
        ),
        pytest.param(
            chart(
                staged(
                    seizure(*CRS_UNSPECIFIED, cid="crs"),
                    {"coding": [{"system": ASTCT_GRADE, "code": "4", "display": "Grade 4"}]},
                )
            ),
            [DISCONTINUE],
            id="D89.839 with a stage coding displayed 'Grade 4' -> discontinue",
        ),
        pytest.param(
            chart(
                staged(
                    seizure(
                        "G92.00",
                        "Immune effector cell-associated neurotoxicity syndrome, grade unspecified",
                        cid="icans",
                    ),
                    {"coding": [{"system": ASTCT_GRADE, "code": "G2", "display": "ICANS grade 2"}]},
                )
            ),
            [],
            id="G92.00 with a stage coding displayed 'ICANS grade 2' -> no card",
        ),
        pytest.param(
            chart(staged(seizure(), {"text": "CTCAE grade 2"})),
            [],
            id="R56.9 with stage text 'CTCAE grade 2' -> no card",
        ),
    ],
)
def test_a_grade_in_condition_stage(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


# --- the pieces, without the service ----------------------------------------------------------
RULES = load_knowledge().toxicity
CYCLE1 = datetime(2026, 1, 5, 10, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
DAY_4 = datetime(2026, 1, 8, 14, 20, tzinfo=UTC)


def fact(
    codes: set[tuple[str, str]], onset: datetime | None, text: str = "", rid: str = "c"
) -> ConditionFact:
    return ConditionFact(
        resource=f"Condition/{rid}",
        codes=frozenset(codes),
        clinical_status="resolved",
        verification_status="confirmed",
        onset=onset,
        abatement=onset,
        text=text.lower(),
    )


def test_one_ungraded_seizure_asks_for_its_grade_but_not_at_the_reduced_restart() -> None:
    verdict = assess([fact({(ICD10CM, "R56.9")}, DAY_4)], CYCLE1, RULES, NOW)
    assert verdict.action == "confirm"
    assert verdict.unknown == {"seizure grade"}
    assert verdict.seizure_count_unknown == ()
    assert verdict.confirm_reasons(reduced_restart=False) == verdict.reasons
    assert verdict.confirm_reasons(reduced_restart=True) == ()


def test_an_undated_seizure_still_asks_for_its_date_only() -> None:
    """What the old `event.kind != "seizure"` kept: an undated seizure's card is "when did it
    begin" (tox11), not "confirm the grade"."""
    verdict = assess([fact({(ICD10CM, "R56.9")}, None)], CYCLE1, RULES, NOW)
    assert verdict.action == "confirm"
    assert verdict.unknown == {"onset date"}


def test_two_seizure_entries_dated_by_one_day_leave_the_count_unknown() -> None:
    day = datetime(2026, 1, 8, tzinfo=UTC)
    entries = [fact({(ICD10CM, "R56.9")}, day, rid="a"), fact({(SNOMED, "91175000")}, day, rid="b")]
    verdict = assess(entries, CYCLE1, RULES, NOW)
    assert verdict.action == "confirm"
    assert "seizure count" in verdict.unknown
    [line] = verdict.seizure_count_unknown
    assert line.startswith("2 seizure Conditions are dated 2026-01-08 without a time")
    assert line not in verdict.confirm_reasons(reduced_restart=False)
    # with a timed one that day, the day-only entries are that seizure (red-team 5 t12)
    timed = fact({(ICD10CM, "R56.9")}, DAY_4, rid="t")
    assert assess([*entries, timed], CYCLE1, RULES, NOW).seizure_count_unknown == ()


def test_timed_entries_within_the_window_are_one_seizure_silently() -> None:
    later = DAY_4.replace(minute=25)
    entries = [fact({(ICD10CM, "R56.9")}, DAY_4, rid="a"), fact({(SNOMED, "91175000")}, later)]
    verdict = assess(entries, CYCLE1, RULES, NOW)
    assert verdict.seizure_count_unknown == ()
    assert verdict.reasons == (
        "seizure on 2026-01-08: grade not recorded (CTCAE v5: a new-onset "
        "seizure is grade 3, a brief generalized one grade 2)",
    )


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("Seizure, grade 1", "none"),
        ("Seizure grade 2", "none"),
        ("Seizure Gr. III", "restart-reduced"),
        ("Seizure grade 4", "discontinue"),
    ],
)
def test_a_seizure_graded_in_words_is_that_grade_of_neurological_toxicity(
    text: str, action: str
) -> None:
    assert assess([fact({(LOCAL, "P1")}, DAY_4, text)], CYCLE1, RULES, NOW).action == action


@pytest.mark.parametrize(
    ("stage", "grade"),
    [
        ("grade 3", 3),
        ("ctcae grade iv", 4),
        ("gr. 2 (moderate)", 2),
        ("astct grade 3 icans", 3),
        ("severe", None),
        ("", None),
    ],
)
def test_the_grade_a_stage_summary_states(stage: str, grade: int | None) -> None:
    assert grade_stated(stage) == grade
