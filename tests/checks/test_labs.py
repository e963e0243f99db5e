"""Lab monitoring (label §2.5, §5 hepatotoxicity; labs.yaml): ALT or AST > 5 × ULN or total
bilirubin > 3 × ULN -> hold during treatment (critical when the order starts a cycle, else
warning), before the first dose a warning to confirm; no liver panel in the 14 days before cycle 1
-> warning; a low neutrophil count -> info (grade 3, or any grade at an R/R cycle start) or warning
(grade 4 during treatment). Normal, current results -> silence."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import SIGN
from tests.fixtures_util import (
    Expected,
    Step,
    blinatumomab_order,
    bundle,
    course_2024,
    dexamethasone_order,
    findings_of_topic,
    height,
    lab,
    liver_panel,
    neutrophils,
    order_sign,
    patient,
    weight,
)

PID = "pt-labs"
TOPIC = "lab-monitoring"
STEP_UP = [Step(9, days=7), Step(28, days=21)]
START = "2026-03-02T10:00:00+00:00"  # the new bag (tests.conftest.NOW is 08:00 that day)
CYCLE_BEGAN_A_WEEK_AGO = "2026-02-23T10:00:00+00:00"  # so the new bag is the day-8 step-up


def chart(
    *labs: dict[str, Any], cycle: int = 1, day8: bool = False, earlier_course: bool = False
) -> dict[str, Any]:
    steps = STEP_UP if cycle == 1 and not day8 else [Step(28, days=21)]
    history: list[dict[str, Any]] = []
    if earlier_course:  # ended more than 112 days before this one
        history.append(course_2024(PID))
    if day8:
        history.append(
            blinatumomab_order(
                PID,
                [Step(9, days=7)],
                oid="blin-c1-week1",
                cycle=cycle,
                start=CYCLE_BEGAN_A_WEEK_AGO,
                status="completed",
                authored="2026-02-23T08:00:00+00:00",
            )
        )
    return bundle(
        [
            patient(PID),
            weight(PID, 72),
            height(PID, 171),
            *labs,
            blinatumomab_order(PID, steps, cycle=cycle, start=START),
            dexamethasone_order(PID),
            *history,
        ]
    )


# The cards of the golden matrix: (topic, indicator, finding code).
LIVER_BASELINE_MISSING = ("lab-monitoring", "warning", "lab-liver-baseline-missing")
LIVER_HOLD_CRITICAL = ("lab-monitoring", "critical", "lab-liver-hold")
LIVER_HIGH_BEFORE_START = ("lab-monitoring", "warning", "lab-liver-high-before-start")
LIVER_HOLD_WARNING = ("lab-monitoring", "warning", "lab-liver-hold")
NEUTROPENIA_WARNING = ("lab-monitoring", "warning", "lab-neutropenia")
NEUTROPENIA_INFO = ("lab-monitoring", "info", "lab-neutropenia")
RESULT_UNREADABLE = ("lab-monitoring", "warning", "lab-result-unreadable")

SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "adult R/R c1 day 1, normal liver panel 2 days before -> silent": (
        chart(*liver_panel(PID)),
        [],
    ),
    "c1 day 1 (first dose), ALT 250 U/L (ULN 41, 6.1 x) -> warning: confirm before starting": (
        chart(*liver_panel(PID, alt=250)),
        [LIVER_HIGH_BEFORE_START],
    ),
    "c1 day 1, ALT 200 U/L (4.9 x ULN 41) -> silent": (
        chart(*liver_panel(PID, alt=200)),
        [],
    ),
    "c1 day 1 (first dose), AST 205 U/L (5.1 x ULN 40) -> warning: confirm before starting": (
        chart(*liver_panel(PID, ast=205)),
        [LIVER_HIGH_BEFORE_START],
    ),
    "c1 day 1 (first dose), bilirubin 3.7 mg/dL (3.1 x ULN 1.2) -> warning: confirm": (
        chart(*liver_panel(PID, bilirubin=3.7)),
        [LIVER_HIGH_BEFORE_START],
    ),
    "c1 day 1, bilirubin 3.5 mg/dL (2.9 x ULN) -> silent": (
        chart(*liver_panel(PID, bilirubin=3.5)),
        [],
    ),
    "c1 day 1 of a new course (a 2024 course on file), ALT 250 U/L -> warning: confirm before "
    "starting": (
        chart(*liver_panel(PID, alt=250), earlier_course=True),
        [LIVER_HIGH_BEFORE_START],
    ),
    "c1 day 8 step-up bag, ALT 300 U/L -> warning hold (not a cycle start)": (
        chart(*liver_panel(PID, alt=300), day8=True),
        [LIVER_HOLD_WARNING],
    ),
    "c2 day 1, ALT 300 U/L -> critical hold": (
        chart(*liver_panel(PID, alt=300), cycle=2),
        [LIVER_HOLD_CRITICAL],
    ),
    "c1 day 1, ALT 250 U/L with no reference range -> warning on the default ULN 40": (
        chart(*liver_panel(PID, alt=250, ranges=False)),
        [LIVER_HIGH_BEFORE_START],
    ),
    "c1 day 1, ALT 180 U/L with no range (4.5 x default 40) -> silent": (
        chart(*liver_panel(PID, alt=180, ranges=False)),
        [],
    ),
    "c1 day 1, bilirubin 70 umol/L without range (3.3 x default 21) -> warning": (
        chart(
            *liver_panel(PID, bilirubin=None),
            lab(PID, "bili-si", "1975-2", "Bilirubin.total", 70, "umol/L"),
        ),
        [LIVER_HIGH_BEFORE_START],
    ),
    "c1 day 1, ALT 400 U/L taken 10 days ago (not current) with a normal panel -> silent": (
        chart(
            *liver_panel(PID),
            lab(PID, "alt-old", "1742-6", "ALT", 400, "U/L", when="2026-02-20T07:00:00+00:00"),
        ),
        [],
    ),
    "c1 day 1, no liver tests at all -> warning: monitor before initiation": (
        chart(),
        [LIVER_BASELINE_MISSING],
    ),
    "c1 day 1, ALT but no bilirubin -> warning (bilirubin missing)": (
        chart(*liver_panel(PID, ast=None, bilirubin=None, ggt=None)),
        [LIVER_BASELINE_MISSING],
    ),
    "c1 day 1, AST and bilirubin without ALT or GGT -> silent (ALT or AST is enough)": (
        chart(*liver_panel(PID, alt=None, ggt=None)),
        [],
    ),
    "c1 day 1, liver panel 20 days ago -> warning (outside the 14-day window)": (
        chart(*liver_panel(PID, when="2026-02-10T07:00:00+00:00")),
        [LIVER_BASELINE_MISSING],
    ),
    "c2 day 1 without any liver tests -> silent (baseline is before cycle 1)": (
        chart(cycle=2),
        [],
    ),
    "c1 day 1, ALT in [IU]/L 260 without range -> warning (IU/L taken as U/L)": (
        chart(
            *liver_panel(PID, alt=None),
            lab(PID, "alt-iu", "1742-6", "ALT", 260, "[IU]/L"),
        ),
        [LIVER_HIGH_BEFORE_START],
    ),
    "c1 day 1, ALT in an unknown unit -> warning: could not check it": (
        chart(
            *liver_panel(PID, alt=None),
            lab(PID, "alt-odd", "1742-6", "ALT", 260, "mmol/s"),
        ),
        [RESULT_UNREADABLE],
    ),
    "R/R c1 day-8 bag, ANC 0.3 x10^9/L (grade 4, during treatment) -> warning": (
        chart(*liver_panel(PID), neutrophils(PID, 0.3), day8=True),
        [NEUTROPENIA_WARNING],
    ),
    "R/R c1 day 1, ANC 0.3 x10^9/L (grade 4 at the cycle start) -> info": (
        chart(*liver_panel(PID), neutrophils(PID, 0.3)),
        [NEUTROPENIA_INFO],
    ),
    "R/R c2 day 1, ANC 0.3 x10^9/L (a cycle start) -> info": (
        chart(*liver_panel(PID), neutrophils(PID, 0.3), cycle=2),
        [NEUTROPENIA_INFO],
    ),
    "ANC 800 /uL (0.8 x10^9/L, grade 3) -> info": (
        chart(*liver_panel(PID), neutrophils(PID, 800, "/uL")),
        [NEUTROPENIA_INFO],
    ),
    "ANC 2.1 10*3/uL -> silent": (
        chart(*liver_panel(PID), neutrophils(PID, 2.1, "10*3/uL")),
        [],
    ),
    "ANC 0.3 taken 3 weeks ago -> silent (not current)": (
        chart(*liver_panel(PID), neutrophils(PID, 0.3, when="2026-02-09T07:00:00+00:00")),
        [],
    ),
    "c1 day 1, ALT 300 and ANC 0.4 -> confirm-before-start warning and a neutropenia info": (
        chart(*liver_panel(PID, alt=300), neutrophils(PID, 0.4)),
        [LIVER_HIGH_BEFORE_START, NEUTROPENIA_INFO],
    ),
    "c1 day-8 bag, ALT 300 and ANC 0.4 -> warning hold and a neutropenia warning": (
        chart(*liver_panel(PID, alt=300), neutrophils(PID, 0.4), day8=True),
        [LIVER_HOLD_WARNING, NEUTROPENIA_WARNING],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_lab_monitoring_golden_matrix(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, TOPIC) == sorted(expected), [c["summary"] for c in body["cards"]]


def test_the_hold_card_names_the_result_its_limit_and_where_the_uln_came_from(
    client: FlaskClient,
) -> None:
    request = order_sign(chart(*liver_panel(PID, alt=250), cycle=2))
    body = client.post(SIGN, json=request).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == TOPIC]
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("ALT 250 U/L is 6.1 × ULN")
    assert "the laboratory's range" in card["detail"]
    assert "elevated liver enzymes" in card["source"]["label"]  # §5, not §2


def test_without_observations_the_lab_check_says_it_could_not_run(client: FlaskClient) -> None:
    request = order_sign(chart(*liver_panel(PID, alt=250)))
    request["prefetch"]["observations"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception", "diagnostics": "LIS offline"}],
    }
    body = client.post(SIGN, json=request).get_json()
    labs = [c for c in body["cards"] if c["source"]["topic"]["code"] == TOPIC]
    assert [c["indicator"] for c in labs] == ["warning"]
    assert "LIS offline" in labs[0]["detail"]
