"""Lab monitoring (label §2.5, §5 hepatotoxicity; labs.yaml): ALT or AST > 5 × ULN or total
bilirubin > 3 × ULN -> hold during treatment (critical when the order starts a cycle, else
warning), before the first dose a warning to confirm; no liver panel in the 14 days before cycle 1
-> warning; a low neutrophil count -> info (grade 3, or any grade at an R/R cycle start) or warning
(grade 4 during treatment), nothing before the first dose of a course. Normal, current results ->
silence."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds import units
from cds.checks.labs import count_unit
from cds.knowledge import load_knowledge
from tests.conftest import SIGN
from tests.fixtures_util import (
    UCUM,
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


BILIRUBIN = ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma")
BILIRUBIN_SI = ("1975-2", "Bilirubin.total [Moles/volume] in Serum or Plasma")
ALT = ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma")
AST = ("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma")


def ranged(
    test: tuple[str, str],
    oid: str,
    value: float,
    unit: str,
    high: float,
    high_unit: str,
    *,
    ucum: bool = True,
) -> dict[str, Any]:
    """A result whose referenceRange.high is in another unit than the value (an interface that
    reports the value in conventional units and the range in SI ones, or the reverse); `ucum`
    False: the high carries only the laboratory's own text, no UCUM code."""
    result = lab(PID, oid, *test, value, unit)
    bound: dict[str, Any] = {"value": high, "unit": high_unit}
    if ucum:
        bound |= {"system": UCUM, "code": high_unit}
    result["referenceRange"] = [{"high": bound}]
    return result


def printed_anc(value: float, printed: str) -> dict[str, Any]:
    """An automated neutrophil count whose unit is the laboratory's printed text, with no UCUM
    code (an interface that copies the report's unit column)."""
    result = neutrophils(PID, value, printed)
    result["valueQuantity"] = {"value": value, "unit": printed}
    result["referenceRange"] = [{"low": {"value": 1.5, "unit": printed}}]
    return result


def manual_anc(value: float) -> dict[str, Any]:
    """A neutrophil count from a manual differential (LOINC 753-3), in 10*3/uL."""
    display = "Neutrophils [#/volume] in Blood by Manual count"
    return lab(PID, "anc-manual-1", "753-3", display, value, "10*3/uL", low=1.5, high=8.0)


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
    # The laboratory's range in another unit than the result: the ULN is converted first.
    "c2 day 1, bilirubin 4.0 mg/dL against a range high of 21 umol/L (1.23 mg/dL: 3.3 x ULN) "
    "-> critical hold": (
        chart(
            *liver_panel(PID, bilirubin=None),
            ranged(BILIRUBIN, "bili-mixed", 4.0, "mg/dL", 21, "umol/L"),
            cycle=2,
        ),
        [LIVER_HOLD_CRITICAL],
    ),
    "c1 day 1 (first dose), bilirubin 4.0 mg/dL, ULN 21 umol/L (3.3 x) -> warning: confirm "
    "before starting": (
        chart(
            *liver_panel(PID, bilirubin=None),
            ranged(BILIRUBIN, "bili-mixed", 4.0, "mg/dL", 21, "umol/L"),
        ),
        [LIVER_HIGH_BEFORE_START],
    ),
    "c2 day 1, bilirubin 30 umol/L against ULN 1.2 mg/dL (20.5 umol/L: 1.5 x, not 25 x) "
    "-> silent": (
        chart(
            *liver_panel(PID, bilirubin=None),
            ranged(BILIRUBIN_SI, "bili-mixed", 30, "umol/L", 1.2, "mg/dL"),
            cycle=2,
        ),
        [],
    ),
    "c2 day 1, ALT 6 ukat/L against ULN 40 U/L (0.67 ukat/L: 9 x) -> critical hold": (
        chart(
            *liver_panel(PID, alt=None),
            ranged(ALT, "alt-si", 6, "ukat/L", 40, "U/L"),
            cycle=2,
        ),
        [LIVER_HOLD_CRITICAL],
    ),
    "c1 day-8 bag, AST 150 U/L against ULN 0.6 ukat/L (36 U/L: 4.2 x, not 250 x) -> silent": (
        chart(
            *liver_panel(PID, ast=None),
            ranged(AST, "ast-mixed", 150, "U/L", 0.6, "ukat/L"),
            day8=True,
        ),
        [],
    ),
    "c2 day 1, bilirubin 2.0 mg/dL with a range high in 'mg%' (no UCUM unit; 1.7 x the default "
    "ULN) -> warning: could not check it against the laboratory's limit": (
        chart(
            *liver_panel(PID, bilirubin=None),
            ranged(BILIRUBIN, "bili-pct", 2.0, "mg/dL", 1.2, "mg%", ucum=False),
            cycle=2,
        ),
        [RESULT_UNREADABLE],
    ),
    "R/R c1 day-8 bag, ANC 0.3 x10^9/L (grade 4, during treatment) -> warning": (
        chart(*liver_panel(PID), neutrophils(PID, 0.3), day8=True),
        [NEUTROPENIA_WARNING],
    ),
    "R/R c1 day 1, ANC 0.3 x10^9/L (grade 4 before the first dose: the disease's) -> silent": (
        chart(*liver_panel(PID), neutrophils(PID, 0.3)),
        [],
    ),
    "R/R c2 day 1, ANC 0.3 x10^9/L (a cycle start) -> info": (
        chart(*liver_panel(PID), neutrophils(PID, 0.3), cycle=2),
        [NEUTROPENIA_INFO],
    ),
    "c1 day-8 bag, ANC 800 /uL (0.8 x10^9/L, grade 3) -> info": (
        chart(*liver_panel(PID), neutrophils(PID, 800, "/uL"), day8=True),
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
    "c1 day 1, ALT 300 and ANC 0.4 -> confirm-before-start warning (no neutropenia card before "
    "the first dose)": (
        chart(*liver_panel(PID, alt=300), neutrophils(PID, 0.4)),
        [LIVER_HIGH_BEFORE_START],
    ),
    "c1 day-8 bag, ALT 300 and ANC 0.4 -> warning hold and a neutropenia warning": (
        chart(*liver_panel(PID, alt=300), neutrophils(PID, 0.4), day8=True),
        [LIVER_HOLD_WARNING, NEUTROPENIA_WARNING],
    ),
    # Neutrophils as laboratories print them (red-team cases lab1-lab5): each was a generic
    # "could not check" warning, or silence, for a grade 4 count.
    "c1 day-8 bag, ANC 0.3 K/uL (unit text only, as Epic prints it) -> grade 4 warning": (
        chart(*liver_panel(PID), printed_anc(0.3, "K/uL"), day8=True),
        [NEUTROPENIA_WARNING],
    ),
    "c1 day-8 bag, ANC 0.3 x10E3/uL (unit text only, as LabCorp prints it) -> grade 4 warning": (
        chart(*liver_panel(PID), printed_anc(0.3, "x10E3/uL"), day8=True),
        [NEUTROPENIA_WARNING],
    ),
    "c1 day-8 bag, ANC 300 {cells}/uL (UCUM code with an annotation) -> grade 4 warning": (
        chart(*liver_panel(PID), neutrophils(PID, 300, "{cells}/uL"), day8=True),
        [NEUTROPENIA_WARNING],
    ),
    "c1 day-8 bag, ANC 300 cells/mm3 -> grade 4 warning": (
        chart(*liver_panel(PID), printed_anc(300, "cells/mm3"), day8=True),
        [NEUTROPENIA_WARNING],
    ),
    "c1 day-8 bag, ANC 800 cells/mm3 (0.8 x10^9/L, grade 3) -> info": (
        chart(*liver_panel(PID), printed_anc(800, "cells/mm3"), day8=True),
        [NEUTROPENIA_INFO],
    ),
    **{
        f"c1 day-8 bag, ANC 0.3 {printed} ({spelling}) -> grade 4 warning": (
            chart(*liver_panel(PID), printed_anc(0.3, printed), day8=True),
            [NEUTROPENIA_WARNING],
        )
        for printed, spelling in (
            ("K/mcL", "mcL as ISMP asks"),
            ("x10(3)/mcL", "power in brackets"),
            ("x10^3/mcL", "power with a caret"),
            ("thou/uL", "thousands"),
        )
    },
    "c1 day-8 bag, ANC 0.3 THOU/uL (upper case, as Cerner prints it) -> grade 4 warning": (
        chart(*liver_panel(PID), printed_anc(0.3, "THOU/uL"), day8=True),
        [NEUTROPENIA_WARNING],
    ),
    "c1 day-8 bag, ANC 300 cells/mcL -> grade 4 warning": (
        chart(*liver_panel(PID), printed_anc(300, "cells/mcL"), day8=True),
        [NEUTROPENIA_WARNING],
    ),
    "c1 day-8 bag, ANC 2.1 x10(3)/mcL -> silent (thousands, not units)": (
        chart(*liver_panel(PID), printed_anc(2.1, "x10(3)/mcL"), day8=True),
        [],
    ),
    "c1 day-8 bag, ANC 2.1 K/uL -> silent (thousands, not units)": (
        chart(*liver_panel(PID), printed_anc(2.1, "K/uL"), day8=True),
        [],
    ),
    "c1 day-8 bag, ANC 0.3 10*3/uL by manual count (LOINC 753-3) -> grade 4 warning": (
        chart(*liver_panel(PID), manual_anc(0.3), day8=True),
        [NEUTROPENIA_WARNING],
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


def _liver_card(client: FlaskClient, *labs: dict[str, Any], cycle: int = 2) -> dict[str, Any]:
    body = client.post(SIGN, json=order_sign(chart(*labs, cycle=cycle))).get_json()
    cards: list[dict[str, Any]] = [
        c for c in body["cards"] if c["source"]["topic"]["code"] == TOPIC
    ]
    [card] = cards
    return card


def test_a_range_in_other_units_is_shown_converted_and_as_the_laboratory_sent_it(
    client: FlaskClient,
) -> None:
    card = _liver_card(
        client,
        *liver_panel(PID, bilirubin=None),
        ranged(BILIRUBIN, "bili-mixed", 4.0, "mg/dL", 21, "umol/L"),
    )
    assert card["summary"].startswith("total bilirubin 4 mg/dL is 3.3 × ULN")
    assert "1.23 mg/dL; the laboratory's range, 21 umol/L" in card["detail"]


def test_a_range_in_a_unit_that_cannot_be_converted_falls_back_on_the_default_and_says_so(
    client: FlaskClient,
) -> None:
    """Bilirubin 4.0 mg/dL is 3.3 x the default 1.2 mg/dL: held, and the card says the
    laboratory's limit (1.2 "mg%") was not used, rather than dividing by it as if in mg/dL."""
    card = _liver_card(
        client,
        *liver_panel(PID, bilirubin=None),
        ranged(BILIRUBIN, "bili-pct", 4.0, "mg/dL", 1.2, "mg%", ucum=False),
    )
    assert card["extension"]["org.example.cds.finding-code"] == "lab-liver-hold"
    assert (
        "default 1.2 mg/dL, as the laboratory's upper limit 1.2 mg% cannot be converted"
        in (card["detail"])
    )


def test_the_unchecked_card_names_the_range_that_could_not_be_converted(
    client: FlaskClient,
) -> None:
    card = _liver_card(
        client,
        *liver_panel(PID, bilirubin=None),
        ranged(BILIRUBIN, "bili-pct", 2.0, "mg/dL", 1.2, "mg%", ucum=False),
    )
    assert (
        "Observation/bili-pct: the laboratory's upper limit 1.2 mg% cannot be converted to "
        in (card["detail"])
    )
    assert "1.7 × the default ULN 1.2 mg/dL" in card["detail"]


def test_one_mg_per_dl_of_bilirubin_is_17_1_umol_per_l() -> None:
    molar_mass = load_knowledge().labs.liver.molar_masses["bilirubin_total"].g_per_mol
    one = units.convert_concentration(Decimal(1), "mg/dL", "umol/L", molar_mass)
    assert one.quantize(Decimal("0.001")) == Decimal("17.104")
    back = units.convert_concentration(one, "umol/L", "mg/dL", molar_mass)
    assert back.quantize(Decimal("0.000001")) == Decimal(1)
    with pytest.raises(units.UnitError):  # no molar mass: mass and substance do not convert
        units.convert_concentration(Decimal(1), "mg/dL", "umol/L")


# Behaviour the unit conversion must not change (these pass on the code before it too).
UNCHANGED: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "c2 day 1, bilirubin 3.7 mg/dL, range with only a low bound -> default ULN 1.2: hold": (
        chart(
            *liver_panel(PID, bilirubin=None),
            lab(PID, "bili-low", *BILIRUBIN, 3.7, "mg/dL", low=0.2),
            cycle=2,
        ),
        [LIVER_HOLD_CRITICAL],
    ),
    "c2 day 1, bilirubin 3.7 mg/dL, range high 1.5 with no unit (the result's) -> 2.5 x: silent": (
        chart(
            *liver_panel(PID, bilirubin=None),
            lab(PID, "bili-bare", *BILIRUBIN, 3.7, "mg/dL")
            | {"referenceRange": [{"high": {"value": 1.5}}]},
            cycle=2,
        ),
        [],
    ),
    "c2 day 1, ALT 300 U/L, range high 41 [IU]/L (an alias of U/L) -> critical hold": (
        chart(
            *liver_panel(PID, alt=None),
            ranged(ALT, "alt-iu", 300, "U/L", 41, "[IU]/L"),
            cycle=2,
        ),
        [LIVER_HOLD_CRITICAL],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), UNCHANGED.values(), ids=UNCHANGED.keys())
def test_ranges_in_the_results_own_unit_are_read_as_before(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, TOPIC) == sorted(expected), [c["summary"] for c in body["cards"]]


@pytest.mark.parametrize(
    ("written", "value", "per_litre"),
    [
        ("10*9/L", "0.3", "0.3"),
        ("10*3/uL", "0.3", "0.3"),
        ("/uL", "300", "0.3"),
        ("{cells}/uL", "300", "0.3"),  # a UCUM annotation equals 1
        ("10*3{cells}/uL", "0.3", "0.3"),
        ("K/uL", "0.3", "0.3"),  # UCUM alone reads K as kelvin
        ("x10E3/uL", "0.3", "0.3"),
        ("x10E9/L", "0.3", "0.3"),
        ("cells/mm3", "300", "0.3"),
        ("/mm3", "300", "0.3"),
    ],
)
def test_neutrophil_units_as_laboratories_write_them(
    written: str, value: str, per_litre: str
) -> None:
    settings = load_knowledge().labs
    unit = count_unit(written, settings)
    assert units.convert(Decimal(value), unit, "10*9/L") == Decimal(per_litre)


@pytest.mark.parametrize("written", ["{cells}", "K", "cells", "g/L"])
def test_a_count_unit_that_is_no_concentration_stays_unreadable(written: str) -> None:
    with pytest.raises(units.UnitError):
        units.convert(Decimal(1), count_unit(written, load_knowledge().labs), "10*9/L")
