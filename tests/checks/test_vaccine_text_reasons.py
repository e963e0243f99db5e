"""Live vaccines named in free text beside a test or a refusal (label §5 immunization).

Two ways the reader of an Immunization's text (`cds.fhir.vaccines.by_text`) misread a record:

1. Harm, silent on a live shot: a test word ("titer", "IgG") outside brackets in the same part
   as a shot word ("given", "administered", a dose number, "vaccine", a live brand) was read as a
   titer, with no card. Since red team 12a (`test_vaccine_text_parts`) such a part is ambiguous:
   the warning live-vaccine-given-unconfirmed asks to confirm whether it was given ("MMR given
   because titer negative", "Varicella vaccine titer"); a shot part beside a separate test part
   ("Varicella vaccine given - titer negative") is a shot.
2. Noise on refusals: a completed Immunization whose text says the vaccine was not given
   ("MMR: declined", "Varicella vaccine given? no") was critical as a live shot. The record
   contradicts itself (status completed, text not given): a warning asks to confirm whether it
   was given, only when a shot on that date would have drawn a card. A not-done record stays
   silent.

Each presentation is one an EHR sends: the text alone, CVX 999 ("unknown vaccine or immune
globulin") with the text, a local code whose display is the text, and (refusals) a CVX code of the
live vaccine with the text beside it. The infusion starts 2026-03-02T10:00Z; the shots are dated
2026-02-25 (5 days before) unless said otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.checks.test_vaccines import (
    CVX,
    EARLIER_CYCLE,
    ORDERED_TOGETHER,
    PID,
    RECENT,
    cdc_full_name,
    chart,
    dated,
    named_only,
)
from tests.conftest import SIGN
from tests.fixtures_util import Expected, findings_of_topic, order_sign

UNCONFIRMED = ("live-vaccine", "warning", "live-vaccine-given-unconfirmed")
LOCAL_SYSTEM = "https://ehr.example.org/fhir/CodeSystem/immunization-history"


def local_display(text: str, when: str = "2026-02-25") -> dict[str, Any]:
    """An Immunization coded in the EHR's own code system, its display the only words (no text,
    no CVX): as historical entries converted from a local immunization table arrive."""
    shot = named_only(text, when)
    shot["vaccineCode"] = {
        "coding": [{"system": LOCAL_SYSTEM, "code": "IMM-4471", "display": text}]
    }
    return shot


def cvx_coded(cvx: str, display: str) -> Callable[..., dict[str, Any]]:
    """An Immunization coded by the live vaccine's CVX code, the clinician's words in its text."""

    def shot(text: str, when: str = "2026-02-25") -> dict[str, Any]:
        made = named_only(text, when)
        made["vaccineCode"] = {
            "coding": [{"system": CVX, "code": cvx, "display": display}],
            "text": text,
        }
        return made

    return shot


PRESENTATIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "text only": named_only,
    "CVX 999 with the text": cdc_full_name,
    "local code, display only": local_display,
}

# --- defect 1: a shot named apart from its test, or with the test only in a remark -------------
GIVEN_AFTER_A_TEST = (
    "Varicella vaccine given - titer negative",
    "MMR vaccine administered, rubella titer non-immune",
    "Varicella vaccine (non-immune by titer)",
    "MMR #2 given - rubella IgG negative",
)
# a test and a shot word in one part (red team 12a): ambiguous, a warning asks to confirm. The
# first three were critical ("given" made the test the shot's reason) and the last two silent
# ("vaccine" named no shot) before: a part naming both is read neither way
TEST_AND_SHOT = (
    "MMR given because titer negative",
    "MMR titer (MMR given)",
    "Varicella titer negative, dose 2 given",
    "Varicella vaccine titer",
    "Measles titer after MMR vaccine",
)
# a test, whatever vaccine it names: no shot word outside a remark naming only a vaccine
ONLY_A_TEST = (
    "Varicella titer",
    "MMR IgG",
    "MMR titers - immune",
    "Rubella antibody",
    "Varicella IgG (vaccine response)",
    "Yellow fever (titer)",
    "Varicella titer (Varivax series complete)",
    "MMR titer (not given, immune)",  # an administration word negated is none
)

# --- defect 2: the text says the vaccine was not given ------------------------------------------
# each with the CVX code (and display) of the vaccine it names
NOT_GIVEN_CODED = {
    "Varicella vaccine given? no": ("21", "varicella"),
    "MMR: declined": ("03", "MMR"),
    "Yellow fever vaccine - exempt": ("37", "yellow fever"),
    "Varivax - declined, patient immune": ("21", "varicella"),
    "MMR refused": ("03", "MMR"),
}
NOT_GIVEN = tuple(NOT_GIVEN_CODED)

TEXT_MATRIX: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    **{
        f"{how}: {text!r} 5 days before -> critical (the test is why it was given)": (
            chart(make(text)),
            [RECENT],
        )
        for how, make in PRESENTATIONS.items()
        for text in GIVEN_AFTER_A_TEST
    },
    **{
        f"{how}: {text!r} 5 days before -> warning (a test and a shot: confirm)": (
            chart(make(text)),
            [UNCONFIRMED],
        )
        for how, make in PRESENTATIONS.items()
        for text in TEST_AND_SHOT
    },
    **{
        f"{how}: {text!r} 5 days before -> silent (a test, no shot)": (chart(make(text)), [])
        for how, make in PRESENTATIONS.items()
        for text in ONLY_A_TEST
    },
    **{
        f"{how}: {text!r}, status completed, 5 days before -> warning (confirm it was given)": (
            chart(make(text)),
            [UNCONFIRMED],
        )
        for how, make in PRESENTATIONS.items()
        for text in NOT_GIVEN
    },
    **{
        f"CVX {cvx} {display}, text {text!r}, completed -> warning (confirm it was given)": (
            chart(cvx_coded(cvx, display)(text)),
            [UNCONFIRMED],
        )
        for text, (cvx, display) in NOT_GIVEN_CODED.items()
    },
    **{
        f"text only {text!r} 20 days before -> silent (outside the window, given or not)": (
            chart(named_only(text, "2026-02-10")),
            [],
        )
        for text in NOT_GIVEN
    },
    **{
        f"text only {text!r} during treatment, cycle 2 -> warning (confirm it was given)": (
            chart(named_only(text, "2026-02-05"), cycle=2, history=[EARLIER_CYCLE]),
            [UNCONFIRMED],
        )
        for text in ("MMR: declined", "Varicella vaccine given? no")
    },
    "text only 'MMR: declined', no date at all -> warning (confirm it was given, not its date)": (
        chart(dated(named_only("MMR: declined"))),
        [UNCONFIRMED],
    ),
    "text only 'MMR refused', dated 'unknown' in words -> warning (confirm it was given)": (
        chart(dated(named_only("MMR refused"), occurrenceString="unknown")),
        [UNCONFIRMED],
    ),
    **{
        f"guard: text only {text!r} -> critical (one live vaccine said given)": (
            chart(named_only(text)),
            [RECENT],
        )
        for text in (
            "MMR given; varicella declined",
            "MMR (initially declined, given after counselling)",
            "MMR dose 2 given",
        )
    },
    "guard: CVX 03 MMR, text 'MMR' -> critical (nothing says not given)": (
        chart(cvx_coded("03", "MMR")("MMR")),
        [RECENT],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), TEXT_MATRIX.values(), ids=TEXT_MATRIX.keys())
def test_a_live_vaccine_named_beside_a_test_or_a_refusal(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "live-vaccine") == expected


def not_done(text: str) -> dict[str, Any]:
    """The refusal recorded as R4 says it: status not-done, with its reason."""
    shot = named_only(text)
    shot["status"] = "not-done"
    shot["statusReason"] = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                "code": "PATOBJ",
                "display": "patient objection",
            }
        ]
    }
    return shot


@pytest.mark.parametrize("text", NOT_GIVEN)
def test_a_refusal_recorded_not_done_stays_silent(client: FlaskClient, text: str) -> None:
    body = client.post(SIGN, json=order_sign(chart(not_done(text)))).get_json()
    assert findings_of_topic(body, "live-vaccine") == []


def test_the_unconfirmed_card_says_what_contradicts_and_asks_to_confirm(
    client: FlaskClient,
) -> None:
    body = client.post(SIGN, json=order_sign(chart(named_only("MMR: declined")))).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Live vaccine (MMR (measles")
    assert "confirm" in card["summary"].lower()
    assert "Immunization/imm-1" in card["detail"]
    assert "2026-02-25" in card["detail"]
    assert "mmr: declined" in card["detail"].lower()
    assert "completed" in card["detail"]


# The same texts as a draft live-vaccine order beside blinatumomab: an order is to be given, so
# whatever its text says of a test or a refusal, a live vaccine named in it is ordered together
# (critical); since red team 12a that includes a test beside a shot word ("Measles titer after
# MMR vaccine", silent before: fail-safe, an order naming a vaccine is read as one). A text
# naming only a test orders no vaccine.
def text_order(text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "vaccine-order",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": text},
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": "2026-03-02T08:00:00+00:00",
    }


ORDER_MATRIX: dict[str, tuple[str, list[Expected]]] = {
    **{
        f"draft order {text!r} -> critical (ordered together)": (text, [ORDERED_TOGETHER])
        for text in (*GIVEN_AFTER_A_TEST, *TEST_AND_SHOT, *NOT_GIVEN, "MMR - declined")
    },
    **{
        f"draft order {text!r} -> silent (a test, no vaccine)": (text, [])
        for text in ("Varicella titer", "MMR IgG", "Varicella titer (Varivax series complete)")
    },
}


@pytest.mark.parametrize(("text", "expected"), ORDER_MATRIX.values(), ids=ORDER_MATRIX.keys())
def test_the_same_texts_as_a_draft_order(
    client: FlaskClient, text: str, expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart(text_order(text)))).get_json()
    assert findings_of_topic(body, "live-vaccine") == expected


def test_the_unconfirmed_card_during_treatment_says_when_treatment_began(
    client: FlaskClient,
) -> None:
    chart_bundle = chart(named_only("MMR refused", "2026-02-05"), cycle=2, history=[EARLIER_CYCLE])
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]
    assert card["indicator"] == "warning"
    assert "2026-02-05" in card["detail"]
    assert "during blinatumomab treatment (begun 2026-01-05)" in card["detail"]
