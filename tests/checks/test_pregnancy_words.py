"""A pregnancy written in words on the problem list, and other real shapes of pregnancy evidence.

EHRs type pregnancies on the problem list as free text ("Pregnancy, 12 weeks", "IUP 8 wks") or
under a local code whose display says it; a woman with a negative test weeks ago and such an
entry since must get the critical pregnancy card, and negations, rule-outs and past pregnancies
must not raise it (pregnancy-conditions.yaml `text_names`, `negation_before`, `negation_after`).
The infusion starts 2026-03-02T10:00Z; the woman is 27 and in cycle 1 (tests/checks/test_pregnancy).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.knowledge import load_knowledge
from cds.pregnancy_conditions import means_current_pregnancy
from tests.checks.test_pregnancy import (
    CONTRACEPTION_REMINDER,
    ON_PROBLEM_LIST,
    PID,
    POSITIVE,
    PROBLEM_LIST_CONFLICT,
    STATUS_UNKNOWN,
    TWO_DAYS_AGO,
    UNREADABLE,
    YESTERDAY,
    chart,
    coded,
    flagged,
    lab,
    pregnancy_problem,
    reported,
    status,
    urine_hcg,
    urine_hcg_as,
)
from tests.conftest import SIGN
from tests.fixtures_util import (
    ICD10CM,
    LOINC,
    SNOMED,
    Expected,
    condition,
    findings_of_topic,
    order_sign,
)

NAMED = ("pregnancy-status", "critical", "pregnancy-named-on-problem-list")
EPIC_LOCAL = "urn:oid:1.2.840.114350.1.13.0.1.7.2.696871"  # an EHR's own problem-list codes
THREE_WEEKS_AGO = "2026-02-09T09:00:00+00:00"
KNOWLEDGE = load_knowledge()


def typed_problem(
    text: str,
    *,
    onset: str | None = "2026-02-23",
    category: str = "problem-list-item",
    local_code: str | None = None,
    clinical_status: str = "active",
    verification: str = "confirmed",
    cid: str = "typed-pregnancy",
    coding: tuple[str, str, str] | None = None,
) -> dict[str, Any]:
    """A Condition as the clinician typed it: `code.text` only, or with an EHR-local code whose
    display is the same words (`local_code`), or beside a standard `coding`."""
    problem = condition(
        PID,
        "",
        text,
        cid=cid,
        clinical_status=clinical_status,
        verification=verification,
        category=category,
    )
    problem["code"] = {"text": text}
    if local_code is not None:
        problem["code"]["coding"] = [{"system": EPIC_LOCAL, "code": local_code, "display": text}]
    if coding is not None:
        system, value, display = coding
        problem["code"]["coding"] = [{"system": system, "code": value, "display": display}]
    if onset is None:
        del problem["onsetDateTime"]
    else:
        problem["onsetDateTime"] = onset
    return problem


# --- the words alone (what pregnancy-conditions.yaml makes of a Condition's name) ---------------

NAMES_A_PREGNANCY = [
    "Pregnant",
    "Pregnancy, 12 weeks",
    "IUP 8 wks",
    "currently pregnant",
    "PREGNANCY",
    "Intrauterine pregnancy, 10w2d by US",
    "Twin gestation",
    "Possible early pregnancy",
    "Pregnancy test positive",
    "High-risk pregnancy (advanced maternal age)",
    "Not on contraception; pregnant 12 wks",
    "G2P1, currently pregnant",
    # an answer word that does not end the entry is no negation (red team, cross-check)
    "Pregnancy, no complications",
    "Pregnant - no prenatal care yet",
    "Pregnancy, unknown LMP",
]
NAMES_NO_PREGNANCY = [
    "not pregnant",
    "Not pregnant",
    "pregnancy ruled out",
    "Pregnancy (ruled out)",
    "R/O pregnancy",
    "r/o pregnancy",
    "history of pregnancy",
    "hx of ectopic pregnancy",
    "H/O pregnancy-induced hypertension",
    "pregnancy test negative",
    "Pregnancy test: negative",
    "postpartum",
    "s/p delivery",
    "pregnancy loss",
    "desires pregnancy",
    "pregnancy prevention counseling",
    "contraception",
    "G2P2",
    "not currently pregnant",
    "No evidence of current pregnancy",
    "Non-pregnant",
    "Previous pregnancy complicated by preeclampsia",
    "Pregnancy status unknown",
    "Encounter for pregnancy test, result negative",
    "Gestational diabetes in previous pregnancy",
    "Planning pregnancy",
    "Pregnant: no",
    # the patient's own birth: an adolescent's prematurity on her problem list
    "Born at 28 weeks gestation",
    "Prematurity, 30 weeks gestation at birth",
    "Preterm birth at 32 weeks gestation",
]


@pytest.mark.parametrize("words", NAMES_A_PREGNANCY)
def test_words_that_name_a_current_pregnancy(words: str) -> None:
    assert means_current_pregnancy((), KNOWLEDGE, words.lower())
    local = ((EPIC_LOCAL, "4711"),)  # a local code's display: its words are read the same
    assert means_current_pregnancy(local, KNOWLEDGE, words.lower())


@pytest.mark.parametrize("words", NAMES_NO_PREGNANCY)
def test_words_that_negate_rule_out_or_past_a_pregnancy(words: str) -> None:
    assert not means_current_pregnancy((), KNOWLEDGE, words.lower())


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ((ICD10CM, "Z32.02"), "encounter for pregnancy test, result negative pregnant?"),
        ((ICD10CM, "O03.4"), "incomplete spontaneous abortion, pregnancy 9 weeks"),
        ((ICD10CM, "Z39.2"), "routine postpartum follow-up; pregnancy ended"),
        ((SNOMED, "60001007"), "not pregnant"),
    ],
)
def test_a_standard_code_decides_and_its_words_are_not_reread(
    code: tuple[str, str], words: str
) -> None:
    """The curated ICD-10-CM and SNOMED CT lists leave out the puerperium and abortive outcomes on
    purpose: a coded Condition's display never overrides them."""
    assert not means_current_pregnancy((code,), KNOWLEDGE, words)


def test_every_system_whose_codes_decide_is_a_known_system() -> None:
    systems = KNOWLEDGE.codes.systems
    assert set(KNOWLEDGE.pregnancy_conditions.codes_decide_in) <= set(systems)


# --- the whole call ---------------------------------------------------------------------------

NEGATIVE_3_WEEKS_AGO = urine_hcg(THREE_WEEKS_AGO, "negative", oid="hcg-old")
NEGATIVE_YESTERDAY = urine_hcg(YESTERDAY, "negative", oid="hcg-yesterday")

SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # --- the gap: a current pregnancy typed on the problem list after an old negative test
    "woman 27, cycle 1, hCG negative 3 weeks ago, problem list 'Pregnancy, 12 weeks' (text "
    "only) since 2026-02-23 -> critical, said to be read from words": (
        chart(NEGATIVE_3_WEEKS_AGO, typed_problem("Pregnancy, 12 weeks")),
        [NAMED, CONTRACEPTION_REMINDER],
    ),
    "hCG negative 3 weeks ago, 'IUP 8 wks' under an EHR-local code -> critical": (
        chart(NEGATIVE_3_WEEKS_AGO, typed_problem("IUP 8 wks", local_code="4711")),
        [NAMED, CONTRACEPTION_REMINDER],
    ),
    "no test on file, encounter diagnosis 'currently pregnant' -> critical (not just the "
    "missing-test warning)": (
        chart(typed_problem("currently pregnant", category="encounter-diagnosis")),
        [NAMED, CONTRACEPTION_REMINDER],
    ),
    "'Pregnant' typed, undated (no onset), hCG negative 3 weeks ago -> critical": (
        chart(NEGATIVE_3_WEEKS_AGO, typed_problem("Pregnant", onset=None)),
        [NAMED, CONTRACEPTION_REMINDER],
    ),
    "cycle 3, 'Pregnant' typed last week -> critical in any cycle": (
        chart(typed_problem("Pregnant"), cycle=3),
        [NAMED],
    ),
    "Z32.01 'Encounter for pregnancy test, result positive' on the problem list -> critical": (
        chart(pregnancy_problem("Z32.01", "Encounter for pregnancy test, result positive")),
        [ON_PROBLEM_LIST, CONTRACEPTION_REMINDER],
    ),
    # --- a later negative result answers a typed pregnancy as it answers a coded one
    "'Pregnant' typed 2026-02-23 (confirmed), hCG negative yesterday -> conflict warning": (
        chart(typed_problem("Pregnant"), NEGATIVE_YESTERDAY),
        [PROBLEM_LIST_CONFLICT, CONTRACEPTION_REMINDER],
    ),
    "'Pregnant' typed 2026-02-23 (provisional), hCG negative yesterday -> all clear": (
        chart(typed_problem("Pregnant", verification="provisional"), NEGATIVE_YESTERDAY),
        [CONTRACEPTION_REMINDER],
    ),
    # --- ended, refuted or resolved entries are no current pregnancy
    "'Pregnancy, 12 weeks' resolved, hCG negative yesterday -> all clear": (
        chart(typed_problem("Pregnancy, 12 weeks", clinical_status="resolved"), NEGATIVE_YESTERDAY),
        [CONTRACEPTION_REMINDER],
    ),
    "'Pregnant' refuted, hCG negative yesterday -> all clear": (
        chart(typed_problem("Pregnant", verification="refuted"), NEGATIVE_YESTERDAY),
        [CONTRACEPTION_REMINDER],
    ),
    # --- a coded entry keeps its own card even when it also says more in words
    "ICD-10-CM Z3A.12 with text 'Pregnancy, 12 weeks' -> the coded card": (
        chart(
            typed_problem("Pregnancy, 12 weeks", coding=(ICD10CM, "Z3A.12", "12 weeks gestation"))
        ),
        [ON_PROBLEM_LIST, CONTRACEPTION_REMINDER],
    ),
    "ICD-10-CM Z32.02 'pregnancy test, result negative' typed 'Pregnant?' -> the code decides": (
        chart(
            typed_problem(
                "Pregnant?",
                coding=(ICD10CM, "Z32.02", "Encounter for pregnancy test, result negative"),
            ),
            NEGATIVE_YESTERDAY,
        ),
        [CONTRACEPTION_REMINDER],
    ),
}
# --- no false alarm: each way of writing "no current pregnancy", with a negative hCG yesterday
for _words in NAMES_NO_PREGNANCY:
    SCENARIOS[f"problem list '{_words}', hCG negative yesterday -> all clear"] = (
        chart(typed_problem(_words), NEGATIVE_YESTERDAY),
        [CONTRACEPTION_REMINDER],
    )


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_pregnancy_in_words_golden_matrix(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(expected)


def test_the_card_quotes_the_words_and_asks_to_confirm_them(client: FlaskClient) -> None:
    sent = chart(NEGATIVE_3_WEEKS_AGO, typed_problem("IUP 8 wks", local_code="4711"))
    body = client.post(SIGN, json=order_sign(sent)).get_json()
    [card] = [c for c in body["cards"] if c["indicator"] == "critical"]
    assert "2026-02-23" in card["summary"] and "problem list" in card["summary"]
    assert 'in words only,\n"iup 8 wks" (`Condition/typed-pregnancy`' in card["detail"]
    assert "Condition/typed-pregnancy" in card["detail"]
    assert "no pregnancy code" in card["detail"] and "confirm" in card["detail"].lower()


# --- real shapes of pregnancy status and hCG results ------------------------------------------


def status_answer(when: str, system: str, code: str, display: str) -> dict[str, Any]:
    """US Core pregnancy status (82810-3) answered with a SNOMED CT concept."""
    return status(when, (system, code, display))


SHAPES: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "82810-3 'Pregnant' (SNOMED 77386006) yesterday, hCG negative 2 days ago -> critical": (
        chart(
            urine_hcg(TWO_DAYS_AGO, "negative"),
            status_answer(YESTERDAY, SNOMED, "77386006", "Pregnant"),
        ),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "82810-3 'Not pregnant' (SNOMED 60001007) yesterday -> verified, reminder only": (
        chart(status_answer(YESTERDAY, SNOMED, "60001007", "Not pregnant")),
        [CONTRACEPTION_REMINDER],
    ),
    "82810-3 'Not pregnant' (SNOMED 60001007) 3 weeks ago -> too old: warning": (
        chart(status_answer(THREE_WEEKS_AGO, SNOMED, "60001007", "Not pregnant")),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "82810-3 'Pregnant' (SNOMED 77386006) but entered-in-error -> not counted": (
        chart(
            status_answer(YESTERDAY, SNOMED, "77386006", "Pregnant")
            | {"status": "entered-in-error"},
            urine_hcg(TWO_DAYS_AGO, "negative"),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "11449-6 'Pregnant' (LOINC LA15173-0) yesterday -> critical": (
        chart(reported(YESTERDAY, **coded(LOINC, "LA15173-0", "Pregnant"))),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "11449-6 'Not pregnant' (SNOMED 60001007) yesterday -> verified": (
        chart(reported(YESTERDAY, **coded(SNOMED, "60001007", "Not pregnant"))),
        [CONTRACEPTION_REMINDER],
    ),
    "urine hCG valueString 'Positive' yesterday -> critical": (
        chart(urine_hcg_as(YESTERDAY, valueString="Positive")),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "urine hCG valueString 'NEGATIVE' yesterday -> verified": (
        chart(urine_hcg_as(YESTERDAY, valueString="NEGATIVE")),
        [CONTRACEPTION_REMINDER],
    ),
    "serum hCG (2118-8) valueCodeableConcept SNOMED 10828004 Positive -> critical": (
        chart(
            lab(
                "hcg-serum-qual",
                "2118-8",
                "Choriogonadotropin (pregnancy test) [Presence] in Serum or Plasma",
                YESTERDAY,
                **coded(SNOMED, "10828004", "Positive"),
            )
        ),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "serum hCG (2118-8) valueCodeableConcept SNOMED 260385009 Negative -> verified": (
        chart(
            lab(
                "hcg-serum-qual",
                "2118-8",
                "Choriogonadotropin (pregnancy test) [Presence] in Serum or Plasma",
                YESTERDAY,
                **coded(SNOMED, "260385009", "Negative"),
            )
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "urine hCG with no value, interpretation POS only -> critical": (
        chart(urine_hcg_as(YESTERDAY, **flagged("POS"))),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "urine hCG with no value, interpretation NEG only -> verified": (
        chart(urine_hcg_as(YESTERDAY, **flagged("NEG"))),
        [CONTRACEPTION_REMINDER],
    ),
    "urine hCG with no value and no interpretation -> unreadable warning": (
        chart(urine_hcg_as(YESTERDAY)),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SHAPES.values(), ids=SHAPES.keys())
def test_real_shapes_of_pregnancy_results(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(expected)


def test_82810_3_unknown_in_snomed_is_no_result(client: FlaskClient) -> None:
    sent = chart(
        urine_hcg(TWO_DAYS_AGO, "negative"),
        status_answer(YESTERDAY, SNOMED, "261665006", "Unknown"),
    )
    body = client.post(SIGN, json=order_sign(sent)).get_json()
    assert findings_of_topic(body, "pregnancy-status") == [CONTRACEPTION_REMINDER]


def test_an_expected_delivery_date_in_the_future_is_a_current_pregnancy(
    client: FlaskClient,
) -> None:
    """Woman 27, hCG negative 3 weeks ago, an estimated delivery date of 2026-09-28 charted on
    2026-02-24 at the dating scan: she is pregnant now -> a critical card."""
    edd = lab(
        "edd",
        "11778-8",
        "Delivery date Estimated",
        "2026-02-24T11:00:00+00:00",
        valueDateTime="2026-09-28",
    )
    body = client.post(SIGN, json=order_sign(chart(NEGATIVE_3_WEEKS_AGO, edd))).get_json()
    indicators = [i for _, i, _ in findings_of_topic(body, "pregnancy-status")]
    assert "critical" in indicators
