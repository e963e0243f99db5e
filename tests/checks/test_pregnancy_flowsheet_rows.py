"""Locally named flowsheet rows that mention being pregnant (task G, 2026-12-03; red team rt12/b).

The design, simpler and fail-safe (it replaces the word list of task B):
- a row whose WHOLE name is the status question ("Pregnant?", "Is the patient pregnant?") is read
  both ways: pregnant is critical, not pregnant verifies;
- a row whose name only CONTAINS "pregnant"/"pregnancy" or a status phrase and names no hCG test
  ("Patient pregnant - confirmed by ultrasound", "Pregnant: denies") is never critical and never
  verifies: an affirmative answer (Yes, Y, true, TRUE, LOINC LA33-6, "Pregnant", SNOMED 77386006)
  is the "could not be read" warning (`pregnancy-result-unreadable`, quoting the row's name and
  answer), unless a negative hCG TEST is newer; its negative answers are no result;
- a row naming another person or the future (pregnancy.yaml `status_question_excluded`: partner,
  caregiver, plan, become...) or counselling ("Counseled...", "...education", "risk") is ignored;
- a pending hCG test (registered/preliminary, no value) is pending whatever its name says about
  the workflow ("Serum hCG - collected 06:30");
- an unreadable hCG test older than the validity window, followed by a status answer, is not
  reported (the answer is the newer word on the status).

Infusion 2026-03-02T10:00Z, now 2026-03-02 (tests/conftest); a woman of 27 in cycle 1 unless said.
Rows are charted yesterday under an Epic local code (code.text and display = the name, no LOINC).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.checks.test_pregnancy import (
    AFTER_CYCLE_1,
    CONTRACEPTION_REMINDER,
    NOT_PREGNANT_SNOMED,
    PENDING,
    POSITIVE,
    STATUS_UNKNOWN,
    TEST_REMINDER,
    TWO_DAYS_AGO,
    UNREADABLE,
    YESTERDAY,
    chart,
    coded,
    named_test,
    status,
    urine_hcg,
    urine_hcg_as,
)
from tests.conftest import SIGN
from tests.fixtures_util import LOINC, SNOMED, Expected, findings_of_topic, order_sign

FOUR_DAYS_AGO = "2026-02-26T09:00:00+00:00"
THIS_MORNING = "2026-03-02T06:30:00+00:00"
THREE_YEARS_AGO = "2023-03-01T09:00:00+00:00"
PREGNANT_SCT = coded(SNOMED, "77386006", "Pregnant")
YES_LOINC = coded(LOINC, "LA33-6", "Yes")
OLDER_NEGATIVE = urine_hcg(FOUR_DAYS_AGO, "negative", oid="hcg-older-negative")


def row(name: str, when: str = YESTERDAY, **value: Any) -> dict[str, Any]:
    """An Epic flowsheet row under a local code (code.text and display: the name), no LOINC."""
    return named_test(when, name, "1570001234", **value)


def pending_named(name: str, when: str = THIS_MORNING) -> dict[str, Any]:
    """A serum hCG under a local lab code whose name says a workflow step: registered, no value."""
    result = named_test(when, name, "3099")
    result["status"] = "registered"
    result["id"] = "hcg-pending-local"
    return result


# --- (b) a name that only CONTAINS the question, answered pregnant: the warning, never critical
CONTAINED_AFFIRMATIVE: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # red team rt12/b H00-H06: silent before (an excluded word dropped the row, the older
    # negative hCG verified)
    "H00 'Currently pregnant (per OB history)' SNOMED 77386006, older negative -> warning": (
        chart(row("Currently pregnant (per OB history)", **PREGNANT_SCT), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "H01 'Patient pregnant - confirmed by ultrasound' Yes, older negative -> warning": (
        chart(row("Patient pregnant - confirmed by ultrasound", valueString="Yes"), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "H02 'Currently pregnant (per OB history)' Yes, older negative -> warning": (
        chart(row("Currently pregnant (per OB history)", valueString="Yes"), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "H03 'Pregnant - documented by OB' true, older negative -> warning": (
        chart(row("Pregnant - documented by OB", valueBoolean=True), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "H04 'Currently pregnant - verified' Yes, older negative -> warning": (
        chart(row("Currently pregnant - verified", valueString="Yes"), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "H05 'Pregnant, wants termination' Yes, older negative -> warning": (
        chart(row("Pregnant, wants termination", valueString="Yes"), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "H06 'Pregnant - high risk, hx of miscarriage' Yes, older negative -> warning": (
        chart(row("Pregnant - high risk, hx of miscarriage", valueString="Yes"), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Pregnant - OB referral scheduled' Yes (a workflow word), older negative -> warning": (
        chart(row("Pregnant - OB referral scheduled", valueString="Yes"), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    # H07: cycle 3 gave only the info reminder
    "H07 'Patient pregnant - confirmed by ultrasound' Yes, cycle 3 -> warning": (
        chart(
            row("Patient pregnant - confirmed by ultrasound", valueString="Yes"), **AFTER_CYCLE_1
        ),
        [UNREADABLE],
    ),
    # H08-H10: an answer not read as a status answer was dropped silently
    "H08 'Is the patient pregnant? (Y/N)' 'Y', older negative -> warning": (
        chart(row("Is the patient pregnant? (Y/N)", valueString="Y"), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "H09 'Pregnant? (per patient)' LOINC LA33-6 Yes, older negative -> warning": (
        chart(row("Pregnant? (per patient)", **YES_LOINC), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "H10 'Pregnant? (per patient)' 'TRUE', older negative -> warning": (
        chart(row("Pregnant? (per patient)", valueString="TRUE"), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Pregnancy - confirmed by ultrasound' 'Pregnant', older negative -> warning": (
        chart(row("Pregnancy - confirmed by ultrasound", valueString="Pregnant"), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    # red team rt12/b N01-N16: critical "positive result" before; now the warning at most
    "N01 'Pregnant: denies' true, negative urine hCG 2 days ago (older) -> warning": (
        chart(
            row("Pregnant: denies", valueBoolean=True),
            urine_hcg(TWO_DAYS_AGO, "negative", oid="hcg-negative"),
        ),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "N02 'Pregnant - no' true -> warning, never critical": (
        chart(row("Pregnant - no", valueBoolean=True)),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "N03 'ROS: denies being pregnant' true -> warning, never critical": (
        chart(row("ROS: denies being pregnant", valueBoolean=True)),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "N06 'Pregnant - ruled out' Yes -> warning, never critical": (
        chart(row("Pregnant - ruled out", valueString="Yes")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "N09 'Pregnant/breastfeeding: breastfeeding' true -> warning, never critical": (
        chart(row("Pregnant/breastfeeding: breastfeeding", valueBoolean=True)),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "N08 'Pregnant N/A' Yes, cycle 3 -> warning, never critical": (
        chart(row("Pregnant N/A", valueString="Yes"), **AFTER_CYCLE_1),
        [UNREADABLE],
    ),
    "N12 'Pregnant at time of diagnosis' Yes, cycle 3 -> warning, never critical": (
        chart(row("Pregnant at time of diagnosis", valueString="Yes"), **AFTER_CYCLE_1),
        [UNREADABLE],
    ),
    "N16 'Pregnant or postpartum (within 6 weeks)' Yes, cycle 3 -> warning, never critical": (
        chart(row("Pregnant or postpartum (within 6 weeks)", valueString="Yes"), **AFTER_CYCLE_1),
        [UNREADABLE],
    ),
    "was critical (task B): 'Pregnant? (per patient)' Yes, cycle 3 -> warning": (
        chart(row("Pregnant? (per patient)", valueString="Yes"), **AFTER_CYCLE_1),
        [UNREADABLE],
    ),
    "a status 'Not pregnant' today does not pass the row (only a test does), cycle 3 -> warning": (
        chart(
            row("Patient pregnant - confirmed by ultrasound", valueString="Yes"),
            status(THIS_MORNING, NOT_PREGNANT_SNOMED),
            **AFTER_CYCLE_1,
        ),
        [UNREADABLE],
    ),
}

# ...answered not pregnant, or superseded by a newer negative TEST: no result
CONTAINED_NO_RESULT: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "'Patient pregnant - confirmed by ultrasound' Yes, negative urine hCG this morning "
    "(newer) -> verifies by the test": (
        chart(
            row("Patient pregnant - confirmed by ultrasound", valueString="Yes"),
            urine_hcg(THIS_MORNING, "negative", oid="hcg-today"),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "C10 'Pregnant: denies' true, negative urine hCG this morning -> verifies": (
        chart(
            row("Pregnant: denies", valueBoolean=True),
            urine_hcg(THIS_MORNING, "negative", oid="hcg-today"),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "'Is the patient pregnant? (Y/N)' 'N', older negative -> the negative verifies": (
        chart(row("Is the patient pregnant? (Y/N)", valueString="N"), OLDER_NEGATIVE),
        [CONTRACEPTION_REMINDER],
    ),
    "'Currently pregnant - self report' 'No', no test -> not verified (no result)": (
        chart(row("Currently pregnant - self report", valueString="No")),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "'Pregnant? (per patient)' 'No', cycle 3 -> the reminder (no result)": (
        chart(row("Pregnant? (per patient)", valueString="No"), **AFTER_CYCLE_1),
        [TEST_REMINDER],
    ),
}

# another person, the future, counselling: not the patient's current status, ignored
IGNORED: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "N04 'Counseled to avoid getting pregnant during treatment' Yes -> ignored": (
        chart(row("Counseled to avoid getting pregnant during treatment", valueString="Yes")),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "N05 'Risk of harm if pregnant explained' Yes, older negative -> ignored": (
        chart(row("Risk of harm if pregnant explained", valueString="Yes"), OLDER_NEGATIVE),
        [CONTRACEPTION_REMINDER],
    ),
    "C07 'Partner pregnant?' Yes, older negative -> ignored": (
        chart(row("Partner pregnant?", valueString="Yes"), OLDER_NEGATIVE),
        [CONTRACEPTION_REMINDER],
    ),
    "C08 'Plans to become pregnant' Yes, older negative -> ignored": (
        chart(row("Plans to become pregnant", valueString="Yes"), OLDER_NEGATIVE),
        [CONTRACEPTION_REMINDER],
    ),
    "'Trying to get pregnant' true, cycle 3 -> ignored (the reminder)": (
        chart(row("Trying to get pregnant", valueBoolean=True), **AFTER_CYCLE_1),
        [TEST_REMINDER],
    ),
}

# (a) the whole name is the status question: read both ways, as before (controls)
WHOLE_NAME: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "'Is the patient pregnant?' Yes, older negative -> critical": (
        chart(row("Is the patient pregnant?", valueString="Yes"), OLDER_NEGATIVE),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "'Pregnant' SNOMED 77386006, cycle 3 -> critical": (
        chart(row("Pregnant", **PREGNANT_SCT), **AFTER_CYCLE_1),
        [POSITIVE],
    ),
    "'Pregnant?' No -> verifies": (
        chart(row("Pregnant?", valueString="No")),
        [CONTRACEPTION_REMINDER],
    ),
    # red team rt13/b H09/N04: Epic's Y/N and LOINC's answer codes on the status question itself
    "C02 'Pregnant?' 'Y', older negative -> critical (rt13/b H09)": (
        chart(row("Pregnant?", valueString="Y"), OLDER_NEGATIVE),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "'Pregnancy status' LOINC LA33-6 Yes, cycle 3 -> critical (rt13/b H10)": (
        chart(row("Pregnancy status", **YES_LOINC), **AFTER_CYCLE_1),
        [POSITIVE],
    ),
    "'Pregnant?' 'N' -> verifies (rt13/b N04)": (
        chart(row("Pregnant?", valueString="N")),
        [CONTRACEPTION_REMINDER],
    ),
    "'Pregnant?' LOINC LA32-8 No -> verifies (rt13/b N05)": (
        chart(row("Pregnant?", **coded(LOINC, "LA32-8", "No"))),
        [CONTRACEPTION_REMINDER],
    ),
}

# red team rt13/b: a word of `status_question_excluded` AFTER the pregnancy word is about the
# patient's own pregnancy ("Pregnant - family aware"): the warning, not ignored; one before it
# ("Partner pregnant?", "Plans to become pregnant") still says another person or the future
AFTER_THE_WORD: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    f"rt13/b H01 '{name}' Yes, older negative -> warning": (
        chart(row(name, valueString="Yes"), OLDER_NEGATIVE),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    )
    for name in (
        "Pregnant - family aware",
        "Pregnant, plans termination",
        "Pregnant - intends to continue pregnancy",
        "Pregnant - counseled on risks",
        "Currently pregnant - trying to decide",
        "Pregnant caregiver in home",
        "Pregnant patient education given",
        # red team rt14/b P-H2-H4: a heading before the part that says pregnant is not about
        # another person: only a word in the pregnancy word's own part, before it, is
        "Family planning: currently pregnant",
        "Plan: pregnant, OB referral",
        "Counseled: patient currently pregnant",
        "Caregiver note: patient is pregnant",
        # red team rt15/b P-H1: the patient named beside the other person
        "Patient/partner pregnant",
        "Pt and partner pregnant?",
    )
} | {
    "rt13/b 'Pregnant - family aware' SNOMED 77386006, cycle 3 -> warning": (
        chart(row("Pregnant - family aware", **PREGNANT_SCT), **AFTER_CYCLE_1),
        [UNREADABLE],
    ),
    # rt13/b N07: "1" is a count, not a yes
    "rt13/b 'Pregnancy count' '1' -> no result": (
        chart(row("Pregnancy count", valueString="1")),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
}

# red team rt13/b N01-N03: a test's workflow answered true is no positive test
WORKFLOW_TRUE: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    f"rt13/b '{name}' true -> no result": (
        chart(row(name, valueBoolean=True)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    )
    for name in (
        "Pregnancy test not indicated (post-menopausal)",
        "Pregnancy test not required",
        "Pregnancy test N/A",
        "Pregnancy test exempt",
        "Pregnancy test unable to obtain",
        "hCG not indicated - hysterectomy",
    )
} | {
    # red team rt14/b P-H1: "completed" is no workflow word: the row's name may carry the result
    "rt14/b 'Pregnancy test completed - positive' true, older negative -> critical": (
        chart(row("Pregnancy test completed - positive", valueBoolean=True), OLDER_NEGATIVE),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    # red team rt15/b P-N1/P-N2: a name saying a negative result or a pending step answered
    # true is no positive (no result: the status stays unverified)
    "rt15/b 'Pregnancy test completed - negative' true -> no result, not a positive": (
        chart(row("Pregnancy test completed - negative", valueBoolean=True)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "rt15/b 'Pregnancy test pending' true -> no result, not a positive": (
        chart(row("Pregnancy test pending", valueBoolean=True)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
}

# (c) a pending hCG test whatever its name says of the workflow; (d) an old unreadable test
TESTS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "H12 'Serum hCG - collected 06:30' registered this morning, status 'Not pregnant' "
    "yesterday -> pending": (
        chart(pending_named("Serum hCG - collected 06:30"), status(YESTERDAY, NOT_PREGNANT_SNOMED)),
        [PENDING, CONTRACEPTION_REMINDER],
    ),
    "'Pregnancy test, urine (POC) - ordered' registered this morning, status 'Not pregnant' "
    "yesterday, cycle 3 -> pending": (
        chart(
            pending_named("Pregnancy test, urine (POC) - ordered"),
            status(YESTERDAY, NOT_PREGNANT_SNOMED),
            **AFTER_CYCLE_1,
        ),
        [PENDING],
    ),
    "N14 urine hCG 'See scanned report' 2023, status 'Not pregnant' yesterday -> verifies": (
        chart(
            urine_hcg_as(THREE_YEARS_AGO, valueString="See scanned report"),
            status(YESTERDAY, NOT_PREGNANT_SNOMED),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "N15 urine hCG 'See scanned report' 2023, status 'Not pregnant' yesterday, cycle 3 "
    "-> nothing": (
        chart(
            urine_hcg_as(THREE_YEARS_AGO, valueString="See scanned report"),
            status(YESTERDAY, NOT_PREGNANT_SNOMED),
            **AFTER_CYCLE_1,
        ),
        [],
    ),
    "urine hCG 'See scanned report' 2023 and nothing after -> unreadable (as before)": (
        chart(urine_hcg_as(THREE_YEARS_AGO, valueString="See scanned report")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "C09 urine hCG 'See scanned report' 2 days ago, status 'Not pregnant' yesterday "
    "-> unreadable (inside the window, as before)": (
        chart(
            urine_hcg_as(TWO_DAYS_AGO, valueString="See scanned report"),
            status(YESTERDAY, NOT_PREGNANT_SNOMED),
        ),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
}

SCENARIOS = (
    CONTAINED_AFFIRMATIVE
    | CONTAINED_NO_RESULT
    | IGNORED
    | WHOLE_NAME
    | AFTER_THE_WORD
    | WORKFLOW_TRUE
    | TESTS
)


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_a_flowsheet_row_mentioning_pregnancy(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(expected)


def test_the_warning_quotes_the_row_and_its_answer_and_asks_to_confirm(
    client: FlaskClient,
) -> None:
    body = client.post(
        SIGN,
        json=order_sign(
            chart(
                row("Patient pregnant - confirmed by ultrasound", valueString="Yes"),
                OLDER_NEGATIVE,
            )
        ),
    ).get_json()
    [card] = [
        c
        for c in body["cards"]
        if c["extension"]["org.example.cds.finding-code"] == "pregnancy-result-unreadable"
    ]
    assert card["indicator"] == "warning"
    assert '"Patient pregnant - confirmed by ultrasound"' in card["detail"]
    assert '"Yes"' in card["detail"]
    assert "confirm the pregnancy status" in card["detail"].lower()


def test_a_row_a_year_old_is_no_current_pregnancy(client: FlaskClient) -> None:
    """A row older than pregnancy.yaml `positive_result_current_days` (as a positive test):
    cycle 3 gets the reminder, not the warning."""
    old = row("Patient pregnant - confirmed by ultrasound", "2025-01-10T09:00:00+00:00")
    old["valueString"] = "Yes"
    body = client.post(SIGN, json=order_sign(chart(old, **AFTER_CYCLE_1))).get_json()
    assert findings_of_topic(body, "pregnancy-status") == [TEST_REMINDER]
