"""Local flowsheet rows whose name HOLDS a question about being pregnant (task B, 2026-12-03;
redesigned by task G, 2026-12-03).

Task B read an answer meaning pregnant to a row whose name only holds the question ("Pregnant?
(per patient)", "Currently pregnant - self report") as a pregnancy (critical), and dropped rows
saying one of a long list of words (verified, history, not, ever...). Red team rt12/b showed both
sides fail: "Pregnant: denies" true, "Pregnant - ruled out" Yes were critical positives, and
"Patient pregnant - confirmed by ultrasound" Yes beside an older negative hCG was silent. What
such a name asks cannot be told from its words, so now (task G) a row that only CONTAINS the
question and names no test is never critical and never verifies: an affirmative answer is the
"result could not be read" warning (UNREADABLE), its "No" is no result. Only a row whose WHOLE
name is the status question (pregnancy.yaml `status_names`) is read both ways. A row naming
another person, the future or counselling (`status_question_excluded`: partner, household, plan,
become...) is ignored. A name that says a test ("Pregnancy status verified?", "Pregnancy test
declined?") is read as that test with no yes/no answer read (as before). The scenarios that
asserted critical (task B) now assert the warning; see tests/checks/test_pregnancy_flowsheet_rows
for the red team's rows.

The infusion starts 2026-03-02T10:00Z; the woman is 27 and in cycle 1 unless said.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.checks.test_pregnancy import (
    AFTER_CYCLE_1,
    CONTRACEPTION_REMINDER,
    NO_SCT,
    POSITIVE,
    STATUS_UNKNOWN,
    TWO_DAYS_AGO,
    UNREADABLE,
    YES_SCT,
    YESTERDAY,
    chart,
    coded,
    named_test,
    urine_hcg,
)
from tests.conftest import SIGN
from tests.fixtures_util import LOINC, SNOMED, Expected, findings_of_topic, order_sign

PREGNANT_SCT = coded(SNOMED, "77386006", "Pregnant")
PREGNANT_LOINC = coded(LOINC, "LA15173-0", "Pregnant")
NEGATIVE_2_DAYS_AGO = urine_hcg(TWO_DAYS_AGO, "negative", oid="hcg-negative")


def row(name: str, **value: Any) -> dict[str, Any]:
    """A nursing-intake flowsheet row under an Epic local code, charted yesterday."""
    return named_test(YESTERDAY, name, "1570001234", **value)


# Rows whose name holds a question about being pregnant, answered "pregnant": the warning (task G:
# was critical under task B; a qualified name may ask something else, "Pregnant: denies").
SAYS_PREGNANT: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "'Pregnant? (per patient)' answered 'Yes' -> warning (was critical)": (
        chart(row("Pregnant? (per patient)", valueString="Yes")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Pregnant? (per patient)' answered SNOMED 77386006 Pregnant -> warning (was critical)": (
        chart(row("Pregnant? (per patient)", **PREGNANT_SCT)),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Currently pregnant - self report' valueBoolean true -> warning (was critical)": (
        chart(row("Currently pregnant - self report", valueBoolean=True)),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Currently pregnant - self report' answered 'Pregnant' -> warning (was critical)": (
        chart(row("Currently pregnant - self report", valueString="Pregnant")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Is patient pregnant or breastfeeding' answered SNOMED 373066001 Yes -> warning "
    "(was critical)": (
        chart(row("Is patient pregnant or breastfeeding", **YES_SCT)),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Pregnant (yes/no)' answered 'Yes' -> warning (was critical)": (
        chart(row("Pregnant (yes/no)", valueString="Yes")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Pregnant - high risk OB' valueBoolean true -> warning (was critical)": (
        chart(row("Pregnant - high risk OB", valueBoolean=True)),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    # two status phrases make a whole status name ("pregnancy status" "pregnant?"): read both
    # ways, as the whole-name rule reads a name sent as text and display
    "'Pregnancy status: pregnant' (a checkbox) valueBoolean true -> critical (whole name)": (
        chart(row("Pregnancy status: pregnant", valueBoolean=True)),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    # a name saying "pregnancy status" (pregnancy.yaml `test_names`) is read as a test holding
    # another question: no yes/no answer read, an answer code meaning pregnant read as for any
    # test (critical), as before task B
    "'Pregnancy status - nursing intake' answered LOINC LA15173-0 Pregnant -> critical": (
        chart(row("Pregnancy status - nursing intake", **PREGNANT_LOINC)),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "'Currently pregnant - self report' 'Yes' yesterday, negative urine hCG 2 days ago, "
    "cycle 3 -> warning (was critical)": (
        chart(
            row("Currently pregnant - self report", valueString="Yes"),
            NEGATIVE_2_DAYS_AGO,
            **AFTER_CYCLE_1,
        ),
        [UNREADABLE],
    ),
}

# ...answered "not pregnant": verifies nothing (and, no result, blocks no older negative test).
SAYS_NOT_PREGNANT: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "'Currently pregnant - self report' answered 'No' -> not verified": (
        chart(row("Currently pregnant - self report", valueString="No")),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "'Pregnant? (per patient)' answered SNOMED 373067005 No -> not verified": (
        chart(row("Pregnant? (per patient)", **NO_SCT)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "'Currently pregnant - self report' valueBoolean false, negative urine hCG 2 days ago "
    "-> verifies by the test (no new alarm)": (
        chart(row("Currently pregnant - self report", valueBoolean=False), NEGATIVE_2_DAYS_AGO),
        [CONTRACEPTION_REMINDER],
    ),
    "'Pregnant? (per patient)' answered 'Not pregnant', negative urine hCG 2 days ago "
    "-> verifies by the test": (
        chart(row("Pregnant? (per patient)", valueString="Not pregnant"), NEGATIVE_2_DAYS_AGO),
        [CONTRACEPTION_REMINDER],
    ),
}

# Names that ask something else, or cannot be told apart: their "Yes" is never read as pregnant
# (a test's name: unreadable; another person, the future: ignored; any other qualified name: the
# warning).
ASKS_SOMETHING_ELSE: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "'Pregnancy status verified?' answered 'Yes' -> unreadable, never positive": (
        chart(row("Pregnancy status verified?", valueString="Yes")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Pregnancy status verified?' answered 'No' -> unreadable (red team 10b, as before)": (
        chart(row("Pregnancy status verified?", valueString="No")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Pregnancy test declined?' answered 'Yes' -> not verified": (
        chart(row("Pregnancy test declined?", valueString="Yes")),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "'Breastfeeding?' answered 'Yes' -> not verified (no pregnancy)": (
        chart(row("Breastfeeding?", valueString="Yes")),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    # red team rt13/b: a word of another person or the future counts only before the pregnancy
    # word ("Pregnant - family aware" is her own pregnancy), so this one is the warning
    "'Pregnancy intention' answered 'Yes' -> warning (the word comes after 'pregnancy')": (
        chart(row("Pregnancy intention", valueString="Yes")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Pregnant? (not asked)' answered 'Yes' -> warning (task G: a qualified name)": (
        chart(row("Pregnant? (not asked)", valueString="Yes")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Not pregnant' (a checkbox) valueBoolean true -> warning, never positive (task G)": (
        chart(row("Not pregnant", valueBoolean=True)),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Partner pregnant?' answered 'Yes' -> not verified": (
        chart(row("Partner pregnant?", valueString="Yes")),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "'Household contact pregnant? (live vaccine screen)' answered 'Yes' -> not verified": (
        chart(row("Household contact pregnant? (live vaccine screen)", **YES_SCT)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "'Ever been pregnant?' answered 'Yes' -> warning (task G: a qualified name)": (
        chart(row("Ever been pregnant?", valueString="Yes")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "'Plans to become pregnant' valueBoolean true -> not verified": (
        chart(row("Plans to become pregnant", valueBoolean=True)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "'Could patient be pregnant - unable to assess' answered 'Yes' -> warning "
    "(task G: a qualified name)": (
        chart(row("Could patient be pregnant - unable to assess", valueString="Yes")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    # the whole name IS the status question: read both ways (red team 8c q01, 10b controls)
    "'Pregnant?' answered 'No' -> verifies (control)": (
        chart(row("Pregnant?", valueString="No")),
        [CONTRACEPTION_REMINDER],
    ),
    "'Is the patient pregnant?' answered 'Yes' -> critical (control)": (
        chart(row("Is the patient pregnant?", valueString="Yes")),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
}

SCENARIOS = SAYS_PREGNANT | SAYS_NOT_PREGNANT | ASKS_SOMETHING_ELSE


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_a_row_holding_a_pregnancy_question(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(expected)
