"""Pregnancy status downgrades (2026-12-03, task B): a self-reported "No" must not clear an order
while an hCG test is pending or unreadable, and a pregnancy entry with no dates ends nothing.

The infusion starts 2026-03-02T10:00Z; the woman is 27 and in cycle 1 unless said
(tests/checks/test_pregnancy). Each scenario is a realistic FHIR R4 chart; the expected value is
every pregnancy-status card as (topic, indicator, finding code).
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
    PID,
    POSITIVE,
    STATUS_UNKNOWN,
    UNREADABLE,
    YESTERDAY,
    chart,
    named_test,
    pending_hcg,
    reported,
    serum_hcg,
    status,
    urine_hcg,
    urine_hcg_as,
)
from tests.conftest import SIGN
from tests.fixtures_util import ICD10CM, SNOMED, Expected, condition, findings_of_topic, order_sign

THIS_MORNING = "2026-03-02T06:30:00+00:00"
TWO_DAYS_AGO = "2026-02-28T09:00:00+00:00"
FIVE_DAYS_AGO = "2026-02-25T09:00:00+00:00"
TWELVE_DAYS_AGO = "2026-02-18T09:00:00+00:00"


# --- 2. a pending or unreadable hCG test beside a status answered "No" ---------------------------


def said_no(when: str) -> dict[str, Any]:
    """The pregnancy status (82810-3) answered SNOMED "Not pregnant" at intake (self-report)."""
    return status(when, NOT_PREGNANT_SNOMED)


PENDING_SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "status 'Not pregnant' yesterday, serum hCG registered this morning -> pending warning": (
        chart(said_no(YESTERDAY), pending_hcg(THIS_MORNING)),
        [PENDING, CONTRACEPTION_REMINDER],
    ),
    "status 'Not pregnant' yesterday, serum hCG preliminary (no value) this morning -> pending": (
        chart(said_no(YESTERDAY), pending_hcg(THIS_MORNING, status="preliminary")),
        [PENDING, CONTRACEPTION_REMINDER],
    ),
    "serum hCG registered 2 days ago, status 'Not pregnant' this morning (same window) "
    "-> pending": (
        chart(said_no(THIS_MORNING), pending_hcg(TWO_DAYS_AGO)),
        [PENDING, CONTRACEPTION_REMINDER],
    ),
    "reported status (11449-6) 'No' yesterday, serum hCG registered this morning -> pending": (
        chart(reported(YESTERDAY, valueString="No"), pending_hcg(THIS_MORNING)),
        [PENDING, CONTRACEPTION_REMINDER],
    ),
    "local 'Pregnant?' 'No' yesterday, serum hCG registered this morning, cycle 3 -> pending": (
        chart(
            named_test(YESTERDAY, "Pregnant?", "1570000999", valueString="No"),
            pending_hcg(THIS_MORNING),
            **AFTER_CYCLE_1,
        ),
        [PENDING],
    ),
    # controls: a negative TEST verifies whatever is pending; a pending test outside the window
    # is an order left open, not this infusion's test
    "status 'Not pregnant' yesterday, serum hCG registered 12 days ago -> verifies (control)": (
        chart(said_no(YESTERDAY), pending_hcg(TWELVE_DAYS_AGO)),
        [CONTRACEPTION_REMINDER],
    ),
    "negative urine hCG yesterday, serum hCG registered this morning -> verifies (control)": (
        chart(urine_hcg(YESTERDAY, "negative"), pending_hcg(THIS_MORNING)),
        [CONTRACEPTION_REMINDER],
    ),
    "status 'Not pregnant' yesterday, negative serum hCG this morning (resulted) -> verifies "
    "(control)": (
        chart(said_no(YESTERDAY), serum_hcg(THIS_MORNING, 1.2)),
        [CONTRACEPTION_REMINDER],
    ),
    "status 'Not pregnant' yesterday alone -> verifies (control)": (
        chart(said_no(YESTERDAY)),
        [CONTRACEPTION_REMINDER],
    ),
    "serum hCG registered this morning, no status -> not verified (control)": (
        chart(pending_hcg(THIS_MORNING)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    # an unreadable hCG test: the "cannot verify" card a status "No" must not hide
    "urine hCG 'See scanned report' 2 days ago, no status -> unreadable (as today)": (
        chart(urine_hcg_as(TWO_DAYS_AGO, valueString="See scanned report")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "urine hCG 'See scanned report' 2 days ago, status 'Not pregnant' yesterday -> unreadable": (
        chart(urine_hcg_as(TWO_DAYS_AGO, valueString="See scanned report"), said_no(YESTERDAY)),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "urine hCG 'See scanned report' yesterday, reported status 'No' this morning, cycle 3 "
    "-> unreadable": (
        chart(
            urine_hcg_as(YESTERDAY, valueString="See scanned report"),
            reported(THIS_MORNING, valueString="No"),
            **AFTER_CYCLE_1,
        ),
        [UNREADABLE],
    ),
    "urine hCG 'See scanned report' 2 days ago, negative urine hCG yesterday -> verifies "
    "(control: a newer test reads)": (
        chart(
            urine_hcg_as(TWO_DAYS_AGO, oid="hcg-scanned", valueString="See scanned report"),
            urine_hcg(YESTERDAY, "negative"),
        ),
        [CONTRACEPTION_REMINDER],
    ),
}


@pytest.mark.parametrize(
    ("chart_bundle", "expected"), PENDING_SCENARIOS.values(), ids=PENDING_SCENARIOS.keys()
)
def test_a_status_no_never_clears_a_pending_or_unreadable_hcg(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(expected)


def test_the_pending_card_names_the_test_and_offers_no_second_order(
    client: FlaskClient,
) -> None:
    body = client.post(
        SIGN, json=order_sign(chart(said_no(YESTERDAY), pending_hcg(THIS_MORNING)))
    ).get_json()
    [card] = [
        c
        for c in body["cards"]
        if c["source"]["topic"]["code"] == "pregnancy-status" and c["indicator"] == "warning"
    ]
    assert card["source"]["topic"]["code"] == "pregnancy-status"
    assert "not yet available" in card["summary"]
    assert "Observation/hcg-pending" in card["detail"]
    assert "2026-03-02" in card["detail"] and "registered" in card["detail"]
    assert "Observation/preg-status" in card["detail"]  # the status answer it does not replace
    assert len(card["summary"]) <= 140
    assert not card.get("suggestions")  # the test is already ordered


# --- 3. a resolved pregnancy entry with no dates at all ----------------------------------------


def resolved_pregnancy(
    *,
    onset: str | None = None,
    abatement: str | None = None,
    recorded: str | None = None,
    code: tuple[str, str, str] = (ICD10CM, "Z33.1", "Pregnant state, incidental"),
) -> dict[str, Any]:
    """A pregnancy entry (ICD-10-CM Z33.1 unless said) resolved on the problem list, dated as
    given (by default not at all, as a problem-list clean-up files it)."""
    system, value, display = code
    problem = condition(
        PID, value, display, cid="pregnancy-resolved", system=system, clinical_status="resolved"
    )
    del problem["onsetDateTime"]
    if onset is not None:
        problem["onsetDateTime"] = onset
    if abatement is not None:
        problem["abatementDateTime"] = abatement
    if recorded is not None:
        problem["recordedDate"] = recorded
    return problem


POSITIVE_5_DAYS = urine_hcg(FIVE_DAYS_AGO, "positive", oid="hcg-pos")
ENTRY_SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "positive urine hCG 5 days ago, Z33.1 resolved with no dates -> critical": (
        chart(POSITIVE_5_DAYS, resolved_pregnancy()),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "positive urine hCG 5 days ago, SNOMED 77386006 resolved with no dates, cycle 3 -> critical": (
        chart(
            POSITIVE_5_DAYS,
            resolved_pregnancy(code=(SNOMED, "77386006", "Pregnancy")),
            **AFTER_CYCLE_1,
        ),
        [POSITIVE],
    ),
    # controls: the existing rules for dated entries
    "positive urine hCG 5 days ago, Z33.1 onset 2026-02-10 resolved 2026-02-27 (a loss) "
    "-> not verified": (
        chart(POSITIVE_5_DAYS, resolved_pregnancy(onset="2026-02-10", abatement="2026-02-27")),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "positive urine hCG 5 days ago, Z33.1 resolved 2026-02-20 (before the test) -> critical": (
        chart(POSITIVE_5_DAYS, resolved_pregnancy(onset="2026-01-10", abatement="2026-02-20")),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
}


@pytest.mark.parametrize(
    ("chart_bundle", "expected"), ENTRY_SCENARIOS.values(), ids=ENTRY_SCENARIOS.keys()
)
def test_a_pregnancy_entry_with_no_dates_ends_no_positive(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(expected)
