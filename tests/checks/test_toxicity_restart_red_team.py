"""Restart after a seizure or another neurological toxicity: red team rt12/c (label §2.4).

Label §2.4: neurological toxicity grade 3 -> withhold, restart at 9 mcg/day; grade 4, MORE THAN
ONE SEIZURE, or a grade 3 that occurred at 9 mcg/day -> discontinue permanently. Findings:
- H1: more than one seizure named in one Condition's words ("Recurrent seizures", "Seizures x2")
  is more than one seizure; a bare plural ("Seizures", "Convulsions, unspecified") is a category.
- H2: an ungraded seizure that began at 9 mcg/day: the reduced restart does not answer its grade
  (a grade 3 there means discontinue permanently).
- N1/N6: an onset given as an age (onsetAge), a range or in words is no recordedDate.
- N2: a seizure timed in UTC and the same seizure dated by its local day are one seizure.
- N3: an ungraded toxicity already followed by a restart is not asked about again.
- H3: SNOMED CT 84757009 "Epilepsy (disorder)" is recurrent seizures, as ICD-10-CM G40.-.
- N5: a seizure dated by a year or a month wholly before blinatumomab is before it.

The chart is the restart chart of test_restart_after_toxicity (an adult on R/R cycle 2 at 28
mcg/day from 2026-02-19, stopped 02-24 18:00, resumed 03-03 10:00) unless a scenario says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.checks.test_restart_after_toxicity import P, adult
from tests.checks.test_toxicity_seizure_grade_and_count import (
    COUNT_UNKNOWN,
    DISCONTINUE,
    GRADE_UNKNOWN,
    REDUCED_RESTART,
    SEIZED_DAY,
    chart,
    codes,
    dose_cards,
    named,
    seizure,
)
from tests.fixtures_util import (
    SNOMED,
    Step,
    blinatumomab_administration,
    blinatumomab_order,
    bundle,
)

DATE_UNKNOWN = ("warning", "dose-toxicity-date-unknown")
ENCOUNTER_DIAGNOSIS = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "encounter-diagnosis",
            "display": "Encounter Diagnosis",
        }
    ]
}


def in_words(text: str, code: str = "R56.9", cid: str = "sz-words") -> dict[str, Any]:
    """R56.9 with the EHR's problem term in code.text (Epic maps "Recurrent seizures" so)."""
    return seizure(code, "Unspecified convulsions", cid=cid, text=text)


# --- H1: more than one seizure in one Condition's words ---------------------------------------
MANY_IN_WORDS: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    f"R56.9 '{text}', reduced restart -> discontinue": (
        chart(in_words(text), steps=REDUCED_RESTART),
        [DISCONTINUE],
    )
    for text in (
        "Recurrent seizures",
        "Seizures x2",
        "Seizures x 3",
        "Two generalized tonic-clonic seizures",
        "Cluster seizures",
        "Seizure cluster",
        "Multiple seizures",
        "Repeated seizures",
        "3 seizures during infusion",
    )
}
MANY_IN_WORDS |= {
    "'Recurrent seizures' in words only (local code), resumed at 28 -> discontinue": (
        chart(named("Recurrent seizures")),
        [DISCONTINUE],
    ),
    "problem list 'Recurrent seizures' + ED 91175000 the same day -> discontinue": (
        chart(
            in_words("Recurrent seizures", cid="sz-problem"),
            seizure("91175000", "Seizure (finding)", SEIZED_DAY, system=SNOMED, cid="sz-ed"),
            steps=REDUCED_RESTART,
        ),
        [DISCONTINUE],
    ),
    # a bare plural or an ICD title names a category, not a count
    "R56.9 'Seizures' alone, reduced restart -> no card": (
        chart(in_words("Seizures"), steps=REDUCED_RESTART),
        [],
    ),
    "R56.9 'Convulsions, unspecified', reduced restart -> no card": (
        chart(in_words("Convulsions, unspecified"), steps=REDUCED_RESTART),
        [],
    ),
    "R56.8 'Other seizures' named, resumed at 28 -> confirm the grade only": (
        chart(named("Other seizures")),
        [GRADE_UNKNOWN],
    ),
    "'Grade 2 seizures' (a grade, not a count), resumed at 28 -> no card": (
        chart(named("Grade 2 seizures")),
        [],
    ),
    "'Multiple sclerosis; seizure' named, resumed at 28 -> confirm the grade only": (
        chart(named("Multiple sclerosis; seizure")),
        [GRADE_UNKNOWN],
    ),
    "'Day 2 seizures' named (a day, not a count), resumed at 28 -> confirm the grade only": (
        chart(named("Day 2 seizures")),
        [GRADE_UNKNOWN],
    ),
    "'No recurrent seizures' beside R56.9 -> confirm the grade of the one": (
        chart(seizure(cid="sz-1"), named("No recurrent seizures", cid="sz-neg")),
        [GRADE_UNKNOWN],
    ),
}


@pytest.mark.parametrize(
    ("chart_bundle", "expected"), MANY_IN_WORDS.values(), ids=MANY_IN_WORDS.keys()
)
def test_more_than_one_seizure_in_one_condition_s_words(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


# --- H2: an ungraded seizure at 9 mcg/day, then the reduced restart ---------------------------
C1_AT_9 = datetime(2026, 2, 20, 10, tzinfo=UTC)  # R/R cycle 1: 9 mcg/day for 7 days, then 28
STOPPED = datetime(2026, 2, 23, 16, tzinfo=UTC)  # day 4, still at 9
RESTART = "2026-03-02T10:00:00+00:00"


def cycle_1_stopped_at_9(*conditions: dict[str, Any], steps: tuple[Step, ...]) -> dict[str, Any]:
    order = blinatumomab_order(
        P,
        [Step(9, days=7), Step(28, days=21)],
        oid="blinatumomab-c1",
        cycle=1,
        start=C1_AT_9.isoformat(),
        status="stopped",
        authored="2026-02-20T08:00:00+00:00",
    )
    bags = [
        blinatumomab_administration(
            P,
            f"mar-{day}",
            C1_AT_9 + timedelta(days=day),
            min(C1_AT_9 + timedelta(days=day + 1), STOPPED),
            rate=9,
            request="MedicationRequest/blinatumomab-c1",
        )
        for day in range(4)
    ]
    draft = blinatumomab_order(P, steps, cycle=1, start=RESTART)
    return bundle([*adult(), order, *bags, *conditions, draft])


AT_9: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "R56.9 timed on day 4 at 9 mcg/day, reduced restart -> confirm the grade": (
        cycle_1_stopped_at_9(seizure(onset="2026-02-23T14:00:00+00:00"), steps=REDUCED_RESTART),
        [GRADE_UNKNOWN],
    ),
    "R56.9 dated 2026-02-23 alone (the day the 9 mcg/day bag stopped), reduced restart -> "
    "confirm the grade": (
        cycle_1_stopped_at_9(seizure(onset="2026-02-23"), steps=REDUCED_RESTART),
        [GRADE_UNKNOWN],
    ),
    "control: 'Seizure, grade 3' at 9 mcg/day -> discontinue": (
        cycle_1_stopped_at_9(
            named("Seizure, grade 3", "2026-02-23T14:00:00+00:00"), steps=REDUCED_RESTART
        ),
        [DISCONTINUE],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), AT_9.values(), ids=AT_9.keys())
def test_an_ungraded_seizure_at_the_restart_dose(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


def test_the_grade_card_at_9_says_grade_3_there_means_discontinue(client: FlaskClient) -> None:
    chart_bundle = cycle_1_stopped_at_9(
        seizure(onset="2026-02-23T14:00:00+00:00"), steps=REDUCED_RESTART
    )
    [card] = [c for c in dose_cards(client, chart_bundle) if c["indicator"] == "warning"]
    detail = " ".join(card["detail"].split())
    assert "while the infusion ran at 9 mcg/day" in detail
    assert "discontinue permanently" in detail


# --- N1, N6, N5: onsets given as an age, in words, or as a year -------------------------------
def with_onset(resource: dict[str, Any], recorded: str, **onset: Any) -> dict[str, Any]:
    """The Condition with its onset[x] replaced and a recordedDate in the course (a problem list
    reconciled at the cycle's admission)."""
    resource.pop("onsetDateTime", None)
    resource["recordedDate"] = recorded
    resource.update(onset)
    return resource


def age(value: float, unit: str = "a") -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


EPILEPSY = ("G40.909", "Epilepsy, unspecified, not intractable, without status epilepticus")
DURING = "2026-02-25T09:12:00+00:00"
ONSETS: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "G40.909 onsetAge 6 years, recorded during the course -> no card": (
        chart(with_onset(seizure(*EPILEPSY), DURING, onsetAge=age(6))),
        [],
    ),
    "G40.909 onsetString 'childhood', recorded during the course -> confirm when it began": (
        chart(with_onset(seizure(*EPILEPSY), "2026-02-20T09:00:00+00:00", onsetString="childhood")),
        [DATE_UNKNOWN],
    ),
    "G40.909 onsetRange 5-7 years -> no card": (
        chart(with_onset(seizure(*EPILEPSY), DURING, onsetRange={"low": age(5), "high": age(7)})),
        [],
    ),
    "R56.00 febrile convulsions onsetAge 2 years, abatementAge 3 -> no card": (
        chart(
            with_onset(
                seizure("R56.00", "Simple febrile convulsions"),
                DURING,
                onsetAge=age(2),
                abatementAge=age(3),
            )
        ),
        [],
    ),
    "R56.9 onsetAge 21044 days (2026-02-24, in the course) -> confirm the grade": (
        chart(with_onset(seizure(), DURING, onsetAge=age(21044, "d"))),
        [GRADE_UNKNOWN],
    ),
    "R56.9 onsetAge 690 months (2026-01-14 to 02-13, before blinatumomab) -> no card": (
        chart(with_onset(seizure(), DURING, onsetAge=age(690, "mo"))),
        [],
    ),
    "R56.9 onsetAge 691 months (2026-02-14 to 03-13: either side of the 02-19 start) -> "
    "confirm when it began": (
        chart(with_onset(seizure(), DURING, onsetAge=age(691, "mo"))),
        [DATE_UNKNOWN],
    ),
    "R56.9 onset '2015' (a year) -> no card": (
        chart(seizure(onset="2015")),
        [],
    ),
    "R56.9 onset '2010-03' (a month) -> no card": (
        chart(seizure(onset="2010-03")),
        [],
    ),
    "R56.9 onset '2026-02' (the month blinatumomab began) -> confirm when it began": (
        chart(seizure(onset="2026-02")),
        [DATE_UNKNOWN],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), ONSETS.values(), ids=ONSETS.keys())
def test_an_onset_not_given_as_a_date(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


# --- N2: a seizure timed in UTC and dated by its local day ------------------------------------
def encounter_diagnosis(resource: dict[str, Any]) -> dict[str, Any]:
    resource["category"] = [ENCOUNTER_DIAGNOSIS]
    return resource


EVENING_UTC = "2026-02-25T02:30:00Z"  # 21:30 on the 24th at -05:00
ZONES: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "problem list 02-25T02:30Z + ED dx dated 02-24, reduced restart -> one seizure, no card": (
        chart(
            seizure(onset=EVENING_UTC, cid="sz-pl"),
            encounter_diagnosis(
                seizure("91175000", "Seizure (finding)", SEIZED_DAY, system=SNOMED, cid="sz-ed")
            ),
            steps=REDUCED_RESTART,
        ),
        [],
    ),
    "the same, resumed at 28 -> confirm the grade of the one": (
        chart(
            seizure(onset=EVENING_UTC, cid="sz-pl"),
            encounter_diagnosis(
                seizure("91175000", "Seizure (finding)", SEIZED_DAY, system=SNOMED, cid="sz-ed")
            ),
        ),
        [GRADE_UNKNOWN],
    ),
    "control: timed 02-22T15:00Z + dated 02-24 (two days) -> discontinue": (
        chart(
            seizure(onset="2026-02-22T15:00:00Z", cid="sz-pl"),
            seizure("91175000", "Seizure (finding)", SEIZED_DAY, system=SNOMED, cid="sz-ed"),
            steps=REDUCED_RESTART,
        ),
        [DISCONTINUE],
    ),
    "control: timed 21:30-05:00 on the 24th + dated 02-25 (its own offset says the 24th) -> "
    "discontinue": (
        chart(
            seizure(onset="2026-02-24T21:30:00-05:00", cid="sz-pl"),
            seizure("91175000", "Seizure (finding)", "2026-02-25", system=SNOMED, cid="sz-ed"),
            steps=REDUCED_RESTART,
        ),
        [DISCONTINUE],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), ZONES.values(), ids=ZONES.keys())
def test_a_day_only_seizure_and_a_timed_one_in_utc(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


# --- N3: an ungraded toxicity in cycle 1, already followed by a reduced restart ---------------
C1 = datetime(2026, 1, 5, 10, tzinfo=UTC)
C1_STOPPED = datetime(2026, 1, 15, 16, tzinfo=UTC)
C1_RESTART = datetime(2026, 1, 20, 10, tzinfo=UTC)


def handled_in_cycle_1(toxicity: dict[str, Any], *, restarted: bool = True) -> dict[str, Any]:
    """Cycle 1 from 01-05 (9 then 28), stopped on 01-15 at 16:00 after the toxicity; (with
    `restarted`) the reduced restart 9 x 7 days then 28, completed 01-20 -> 02-07; the cycle 2
    order at 28 on 03-02 to sign."""
    c1 = blinatumomab_order(
        P,
        [Step(9, days=7), Step(28, days=21)],
        oid="blinatumomab-c1",
        cycle=1,
        start=C1.isoformat(),
        status="stopped",
        authored="2026-01-05T08:00:00+00:00",
    )
    resources = [
        c1,
        blinatumomab_administration(
            P, "mar-c1", C1, C1_STOPPED, request="MedicationRequest/blinatumomab-c1"
        ),
    ]
    if restarted:
        resources += [
            blinatumomab_order(
                P,
                [Step(9, days=7), Step(28, days=11)],
                oid="blinatumomab-c1-restart",
                cycle=1,
                start=C1_RESTART.isoformat(),
                status="completed",
                authored="2026-01-20T08:00:00+00:00",
            ),
            blinatumomab_administration(
                P,
                "mar-c1-restart",
                C1_RESTART,
                C1_RESTART + timedelta(days=18),
                request="MedicationRequest/blinatumomab-c1-restart",
            ),
        ]
    cycle_2 = blinatumomab_order(P, [Step(28, days=28)], cycle=2, start="2026-03-02T10:00:00+00:00")
    return bundle([*adult(), *resources, toxicity, cycle_2])


def resumed_under_the_same_order(chart_bundle: dict[str, Any]) -> dict[str, Any]:
    """The chart with the cycle 1 bag hung again on 01-16 under the cycle 1 order (the MAR)."""
    resumed = blinatumomab_administration(
        P,
        "mar-c1-resumed",
        datetime(2026, 1, 16, 10, tzinfo=UTC),
        datetime(2026, 1, 28, 10, tzinfo=UTC),
        request="MedicationRequest/blinatumomab-c1",
    )
    entry = {"fullUrl": "urn:uuid:medicationadministration-mar-c1-resumed", "resource": resumed}
    chart_bundle["entry"].insert(-1, entry)
    return chart_bundle


C1_SEIZURE = "2026-01-15T15:00:00+00:00"
HANDLED: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "ungraded R56.9 in cycle 1, reduced restart done, cycle 2 at 28 -> no card": (
        handled_in_cycle_1(seizure(onset=C1_SEIZURE)),
        [],
    ),
    "ungraded CRS D89.839 in cycle 1, reduced restart done, cycle 2 at 28 -> no card": (
        handled_in_cycle_1(
            seizure("D89.839", "Cytokine release syndrome, grade unspecified", C1_SEIZURE)
        ),
        [],
    ),
    "ungraded ICANS G92.00 in cycle 1, reduced restart done, cycle 2 at 28 -> no card": (
        handled_in_cycle_1(
            seizure(
                "G92.00",
                "Immune effector cell-associated neurotoxicity syndrome, grade unspecified",
                C1_SEIZURE,
            )
        ),
        [],
    ),
    "control: ungraded R56.9 in cycle 1, no restart since, cycle 2 at 28 -> confirm the grade": (
        handled_in_cycle_1(seizure(onset=C1_SEIZURE), restarted=False),
        [GRADE_UNKNOWN],
    ),
    "control: ungraded R56.9 in cycle 1, the bag resumed under the same order (no order "
    "signed since), cycle 2 at 28 -> confirm the grade": (
        resumed_under_the_same_order(
            handled_in_cycle_1(seizure(onset=C1_SEIZURE), restarted=False)
        ),
        [GRADE_UNKNOWN],
    ),
    "control: ungraded CRS in cycle 1, no restart since -> confirm the grade": (
        handled_in_cycle_1(
            seizure("D89.839", "Cytokine release syndrome, grade unspecified", C1_SEIZURE),
            restarted=False,
        ),
        [GRADE_UNKNOWN],
    ),
    "control: 'Seizures x2' in cycle 1, reduced restart done -> still discontinue": (
        handled_in_cycle_1(seizure(onset=C1_SEIZURE, text="Seizures x2")),
        [DISCONTINUE],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), HANDLED.values(), ids=HANDLED.keys())
def test_an_ungraded_toxicity_already_followed_by_a_restart(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


# --- H3: SNOMED CT epilepsy -------------------------------------------------------------------
EPILEPSY_SNOMED: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "SNOMED CT 84757009 'Epilepsy (disorder)' new during the infusion, reduced restart -> "
    "discontinue": (
        chart(seizure("84757009", "Epilepsy (disorder)", system=SNOMED), steps=REDUCED_RESTART),
        [DISCONTINUE],
    ),
    "control: 84757009 with onset 1985, resumed at 28 -> no card": (
        chart(seizure("84757009", "Epilepsy (disorder)", "1985-04-02", system=SNOMED)),
        [],
    ),
    "control: ICD-10-CM G40.909 new during the infusion -> discontinue": (
        chart(seizure(*EPILEPSY), steps=REDUCED_RESTART),
        [DISCONTINUE],
    ),
}


@pytest.mark.parametrize(
    ("chart_bundle", "expected"), EPILEPSY_SNOMED.values(), ids=EPILEPSY_SNOMED.keys()
)
def test_epilepsy_coded_in_snomed_ct(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


# --- N4: a problem-list seizure and an encounter diagnosis timed apart on one day -------------
ED_SEIZURE = ("91175000", "Seizure (finding)")
TIMED_APART: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "problem list R56.9 15:00 + encounter diagnosis R56.9 17:12 (entered then), reduced restart "
    "-> confirm how many": (
        chart(
            seizure(cid="sz-pl"),
            encounter_diagnosis(seizure(onset="2026-02-24T17:12:00+00:00", cid="sz-ed")),
            steps=REDUCED_RESTART,
        ),
        [COUNT_UNKNOWN],
    ),
    "problem list R56.9 15:00 + ED 91175000 15:20, reduced restart -> confirm how many": (
        chart(
            seizure(cid="sz-pl"),
            encounter_diagnosis(
                seizure(*ED_SEIZURE, "2026-02-24T15:20:00+00:00", system=SNOMED, cid="sz-ed")
            ),
            steps=REDUCED_RESTART,
        ),
        [COUNT_UNKNOWN],
    ),
    "control: two problem-list seizures hours apart the same day -> discontinue": (
        chart(
            seizure(cid="sz-1"),
            seizure(*ED_SEIZURE, "2026-02-24T09:10:00+00:00", system=SNOMED, cid="sz-2"),
            steps=REDUCED_RESTART,
        ),
        [DISCONTINUE],
    ),
    "control: two encounter diagnoses hours apart the same day -> discontinue": (
        chart(
            encounter_diagnosis(seizure(cid="sz-1")),
            encounter_diagnosis(seizure(onset="2026-02-24T09:10:00+00:00", cid="sz-2")),
            steps=REDUCED_RESTART,
        ),
        [DISCONTINUE],
    ),
    "control: problem list on the 24th + encounter diagnosis on the 22nd -> discontinue": (
        chart(
            seizure(cid="sz-pl"),
            encounter_diagnosis(seizure(onset="2026-02-22T11:00:00+00:00", cid="sz-ed")),
            steps=REDUCED_RESTART,
        ),
        [DISCONTINUE],
    ),
    "control: two problem-list seizures hours apart + an encounter diagnosis -> discontinue": (
        chart(
            seizure(cid="sz-1"),
            seizure(onset="2026-02-24T09:10:00+00:00", cid="sz-2"),
            encounter_diagnosis(seizure(onset="2026-02-24T17:12:00+00:00", cid="sz-ed")),
            steps=REDUCED_RESTART,
        ),
        [DISCONTINUE],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), TIMED_APART.values(), ids=TIMED_APART.keys())
def test_an_encounter_diagnosis_timed_apart_from_the_problem_list_entry(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


def test_the_count_card_says_the_encounter_diagnosis_may_be_timed_when_entered(
    client: FlaskClient,
) -> None:
    chart_bundle = chart(
        seizure(cid="sz-pl"),
        encounter_diagnosis(seizure(onset="2026-02-24T17:12:00+00:00", cid="sz-ed")),
        steps=REDUCED_RESTART,
    )
    [card] = [c for c in dose_cards(client, chart_bundle) if c["indicator"] == "warning"]
    detail = " ".join(card["detail"].split())
    assert "Condition/sz-ed" in detail
    assert "encounter diagnosis" in detail
    assert "discontinue permanently" in detail
