"""Premedication (label §2.2-2.5): the glucocorticoid for the order's first dose must be ordered;
missing or >10% low is a warning with the right dexamethasone order; the day-8 step-up (inside the
same order, or its own order signed with the cycle's first days) is an info reminder."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from tests.conftest import SIGN
from tests.fixtures_util import (
    RXNORM,
    UCUM,
    Expected,
    Step,
    blinatumomab_administration,
    blinatumomab_order,
    bundle,
    dexamethasone_order,
    findings_of_topic,
    height,
    order_sign,
    patient,
    weight,
)

PID = "pt-premed"
STEP_UP = [Step(9, days=7), Step(28, days=21)]
FULL = [Step(28, days=28)]
ADULT = "1971-04-02"
CHILD_8 = "2017-09-15"


def prednisone_order(mg: float) -> dict[str, Any]:
    order = dexamethasone_order(PID, mg, oid="prednisone-premed")
    order["medicationCodeableConcept"] = {
        "coding": [{"system": RXNORM, "code": "8640", "display": "prednisone"}],
        "text": "prednisone",
    }
    order["dosageInstruction"][0]["text"] = f"prednisone {mg} mg IV 1 hour before blinatumomab"
    return order


def active_dexamethasone(mg: float, when: str) -> dict[str, Any]:
    order = dexamethasone_order(PID, mg, oid="dex-active", when=when)
    order["status"] = "active"
    return order


def chart(
    *premeds: dict[str, Any],
    born: str = ADULT,
    kg: float = 80,
    cm: float | None = 178,
    indication: str | None = "relapsed-refractory",
    cycle: int | None = 1,
    steps: list[Step] | None = None,
    history: list[dict[str, Any]] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    order = blinatumomab_order(
        PID,
        steps or (STEP_UP if cycle == 1 and indication == "relapsed-refractory" else FULL),
        indication=indication,
        cycle=cycle,
    )
    if note:
        order["note"] = [{"text": note}]
    return bundle(
        [
            patient(PID, birth_date=born),
            weight(PID, kg),
            *([] if cm is None else [height(PID, cm)]),
            order,
            *premeds,
            *(history or []),
        ]
    )


EARLIER_C1 = blinatumomab_order(
    PID,
    STEP_UP,
    oid="blin-c1",
    cycle=1,
    start="2026-01-05T10:00:00+00:00",
    status="completed",
    authored="2026-01-05T08:00:00+00:00",
)

STOPPED_C1 = blinatumomab_order(  # cycle 1 from 02-21, stopped for CRS; the EHR sent no MAR
    PID,
    STEP_UP,
    oid="blin-c1-stopped",
    cycle=1,
    start="2026-02-21T10:00:00+00:00",
    status="stopped",
    authored="2026-02-21T08:00:00+00:00",
) | {"meta": {"lastUpdated": "2026-02-25T08:00:00+00:00"}}

# the same order as the EHR sent it without meta.lastUpdated: when it stopped is unknown
STOPPED_C1_UNDATED = {k: v for k, v in STOPPED_C1.items() if k != "meta"}
ON_HOLD_C1_UNDATED = STOPPED_C1_UNDATED | {"status": "on-hold"}
MAR_TO_03_02 = blinatumomab_administration(  # the stopped order's bag, running up to 03-02 10:00
    PID,
    "blin-c1-bag",
    datetime(2026, 2, 26, 10, tzinfo=UTC),
    datetime(2026, 3, 2, 10, tzinfo=UTC),
    request="MedicationRequest/blin-c1-stopped",
)


def prn_dexamethasone(mg: float = 20) -> dict[str, Any]:
    """Dexamethasone kept for cytokine release syndrome: every 8 hours as needed, no set time."""
    order = dexamethasone_order(PID, mg, oid="dex-prn-crs")
    dosage = order["dosageInstruction"][0]
    dosage["text"] = f"dexamethasone {mg} mg IV every 8 hours as needed for CRS"
    dosage["timing"] = {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}}
    dosage["asNeededCodeableConcept"] = {"text": "cytokine release syndrome"}  # a PRN reason
    return order


def revision(start: str) -> dict[str, Any]:
    """R/R cycle 1 as signed again to change its bag (a revision naming the order on file as its
    priorPrescription, same start), with no dexamethasone in this signing."""
    on_file = blinatumomab_order(
        PID, STEP_UP, oid="blin-c1-original", start=start, status="active", authored=start
    )
    revised = blinatumomab_order(PID, STEP_UP, start=start, bag_hours=48) | {
        "priorPrescription": {"reference": "MedicationRequest/blin-c1-original"}
    }
    return bundle(
        [patient(PID, birth_date=ADULT), weight(PID, 80), height(PID, 178), revised, on_file]
    )


# The cards of the golden matrix: (topic, indicator, finding code).
AGE_UNKNOWN = ("premedication", "warning", "premedication-age-unknown")
LOW_DOSE = ("premedication", "warning", "premedication-low-dose")
MISSING = ("premedication", "warning", "premedication-missing")
STEP_UP_REMINDER = ("premedication", "info", "premedication-step-up-reminder")
STEP_UP_ORDER_REMINDER = ("premedication", "info", "premedication-step-up-order-reminder")
UNREADABLE = ("premedication", "warning", "premedication-dose-unreadable")
RESTART_UNVERIFIED = ("premedication", "warning", "premedication-restart-unverified")
NOT_VERIFIED = ("premedication", "warning", "premedication-dose-not-verified")
DAY_8_DEXAMETHASONE = dexamethasone_order(
    PID, 20, oid="dexamethasone-day-8", when="2026-03-09T09:00:00+00:00"
)


def steroid_order(name: str, rxcui: str, amount: float, unit: str) -> dict[str, Any]:
    """A premedication order as written: any glucocorticoid, any unit."""
    order = dexamethasone_order(PID, oid="steroid-premed")
    order["medicationCodeableConcept"] = {
        "coding": [{"system": RXNORM, "code": rxcui, "display": name}],
        "text": name,
    }
    dosage = order["dosageInstruction"][0]
    dosage["text"] = f"{name} {amount} {unit} IV 1 hour before blinatumomab"
    dosage["doseAndRate"][0]["doseQuantity"] = {
        "value": amount,
        "unit": unit,
        "system": "http://unitsofmeasure.org",
        "code": unit,
    }
    return order


def without_start(chart_bundle: dict[str, Any]) -> dict[str, Any]:
    """The chart with the blinatumomab order's first step given a duration, not a start date (its
    start is then the signing time, a guess): as orders signed before the bag is hung are."""
    for entry in chart_bundle["entry"]:
        resource = entry["resource"]
        if resource.get("id") == "blinatumomab-draft":
            repeat = resource["dosageInstruction"][0]["timing"]["repeat"]
            repeat.pop("boundsPeriod", None)
            repeat["boundsDuration"] = {"value": 7, "unit": "d", "system": UCUM, "code": "d"}
    return chart_bundle


def step_up_as_two_orders(*premeds: dict[str, Any]) -> dict[str, Any]:
    """Adult R/R cycle 1 written as two orders signed together, as some EHRs' treatment plans do:
    9 mcg/day days 1-7, then 28 mcg/day from day 8 (2026-03-09 10:00) to day 28."""
    days_1_to_7 = blinatumomab_order(PID, [Step(9, days=7)])
    days_8_to_28 = blinatumomab_order(
        PID, [Step(28, days=21)], oid="blinatumomab-draft-2", start="2026-03-09T10:00:00+00:00"
    )
    body = [patient(PID, birth_date=ADULT), weight(PID, 80), height(PID, 178)]
    return bundle([*body, days_1_to_7, days_8_to_28, *premeds])


def dexamethasone_written(dose_and_rate: dict[str, Any]) -> dict[str, Any]:
    """Dexamethasone for the first dose, its dose written as the EHR sent it (a range, a unit in
    free text)."""
    order = dexamethasone_order(PID)
    order["dosageInstruction"][0]["doseAndRate"] = [dose_and_rate]
    return order


def mg(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mg", "system": UCUM, "code": "mg"}


def step_up_as_two_orders_by_day(*premeds: dict[str, Any]) -> dict[str, Any]:
    """Adult R/R cycle 1 as two orders bounded by days without a time, both included: 9 mcg/day
    2026-03-02 to 2026-03-08, then 28 mcg/day 2026-03-09 to 2026-03-29 (one after the other)."""
    chart_bundle = step_up_as_two_orders(*premeds)
    periods = {
        "blinatumomab-draft": {"start": "2026-03-02", "end": "2026-03-08"},
        "blinatumomab-draft-2": {"start": "2026-03-09", "end": "2026-03-29"},
    }
    for entry in chart_bundle["entry"]:
        resource = entry["resource"]
        if resource["id"] in periods:
            repeat = resource["dosageInstruction"][0]["timing"]["repeat"]
            repeat["boundsPeriod"] = periods[resource["id"]]
    return chart_bundle


SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "adult R/R c1 with dexamethasone 20 mg -> only the day-8 reminder": (
        chart(dexamethasone_order(PID, 20)),
        [STEP_UP_REMINDER],
    ),
    "adult R/R c1 without premedication -> warning": (chart(), [STEP_UP_REMINDER, MISSING]),
    "adult R/R c1 with dexamethasone 20 mg for day 1 and for the day-8 step-up -> silent": (
        chart(dexamethasone_order(PID, 20), DAY_8_DEXAMETHASONE),
        [],
    ),
    "adult R/R c1 step-up as two orders, dexamethasone for day 1 -> only the day-8 reminder": (
        step_up_as_two_orders(dexamethasone_order(PID, 20)),
        [STEP_UP_ORDER_REMINDER],
    ),
    "adult R/R c1 step-up as two orders, dexamethasone for days 1 and 8 -> silent": (
        step_up_as_two_orders(dexamethasone_order(PID, 20), DAY_8_DEXAMETHASONE),
        [],
    ),
    "adult R/R c1 step-up as two orders without premedication -> day-1 warning, day-8 reminder": (
        step_up_as_two_orders(),
        [STEP_UP_ORDER_REMINDER, MISSING],
    ),
    "adult born in 1971 (year only), R/R c1 with dexamethasone 20 mg -> checked: reminder only": (
        chart(dexamethasone_order(PID, 20), born="1971"),
        [STEP_UP_REMINDER],
    ),
    "born in 2008 (year only: 17 or 18), R/R c1 -> age unknown, not checked": (
        chart(dexamethasone_order(PID, 20), born="2008"),
        [AGE_UNKNOWN],
    ),
    "adult R/R c1 with dexamethasone 20 mg only for the day-8 step-up -> day-1 warning": (
        chart(DAY_8_DEXAMETHASONE),
        [MISSING],
    ),
    "adult R/R c2 with dexamethasone 20 mg timed on day 3 -> warning (not the first dose's)": (
        chart(
            dexamethasone_order(PID, 20, when="2026-03-04T09:00:00+00:00"),
            cycle=2,
            history=[EARLIER_C1],
        ),
        [MISSING],
    ),
    "adult R/R c1 order without a start date, dexamethasone timed after signing -> counted": (
        without_start(chart(dexamethasone_order(PID, 20, when="2026-03-02T09:00:00+00:00"))),
        [STEP_UP_REMINDER],
    ),
    # 14 h before: outside the 4-hour window drafts and active orders share (red team 4 item 2)
    "adult R/R c2 with dexamethasone 20 mg timed the evening before -> timed too early": (
        chart(
            dexamethasone_order(PID, 20, when="2026-03-01T20:00:00+00:00"),
            cycle=2,
            history=[EARLIER_C1],
        ),
        [("premedication", "warning", "premedication-timed-too-early")],
    ),
    "adult R/R c1 methylprednisolone 125 mg IV (dexamethasone 23.4 mg equivalent) -> ok": (
        chart(steroid_order("methylprednisolone", "6902", 125, "mg")),
        [STEP_UP_REMINDER],
    ),
    "adult R/R c1 prednisolone 60 mg (dexamethasone 9 mg equivalent) -> low, replace it": (
        chart(steroid_order("prednisolone", "8638", 60, "mg")),
        [STEP_UP_REMINDER, LOW_DOSE],
    ),
    "adult R/R c1 dexamethasone 5 mL of the 4 mg/mL vial (product 1116927) -> ok (20 mg)": (
        chart(steroid_order("dexamethasone 4 MG/ML Injectable Solution", "1116927", 5, "mL")),
        [STEP_UP_REMINDER],
    ),
    "adult R/R c1 dexamethasone 5 mL, ingredient code only -> dose unreadable (not 0 mg)": (
        chart(steroid_order("dexamethasone", "3264", 5, "mL")),
        [STEP_UP_REMINDER, UNREADABLE],
    ),
    "adult R/R c1 dexamethasone 10 mg/m2 for 2.0 m2 -> ok (20 mg)": (
        chart(steroid_order("dexamethasone", "3264", 10, "mg/m2"), kg=100, cm=144),
        [STEP_UP_REMINDER],
    ),
    "child 8 y MRD c1 day-8 bag (no step-up in MRD) without premedication -> silent": (
        chart(
            born=CHILD_8,
            kg=20,
            cm=115,
            indication="mrd-positive",
            steps=[Step(15, unit="ug/m2/d", days=21)],
            history=[
                blinatumomab_order(
                    PID,
                    [Step(15, unit="ug/m2/d", days=7)],
                    oid="blin-c1-week1",
                    indication="mrd-positive",
                    cycle=1,
                    start="2026-02-23T10:00:00+00:00",
                    status="active",
                    authored="2026-02-23T08:00:00+00:00",
                )
            ],
        ),
        [],
    ),
    "adult R/R c1 dexamethasone 16 mg (20% low) -> warning": (
        chart(dexamethasone_order(PID, 16)),
        [STEP_UP_REMINDER, LOW_DOSE],
    ),
    "adult R/R c1 dexamethasone 18.5 mg (7.5% low) -> no warning": (
        chart(dexamethasone_order(PID, 18.5)),
        [STEP_UP_REMINDER],
    ),
    "adult MRD c1 prednisone 100 mg -> ok": (
        chart(prednisone_order(100), indication="mrd-positive"),
        [],
    ),
    "adult MRD c1 dexamethasone 16 mg -> ok": (
        chart(dexamethasone_order(PID, 16), indication="mrd-positive"),
        [],
    ),
    "adult MRD c1 prednisone 50 mg -> warning": (
        chart(prednisone_order(50), indication="mrd-positive"),
        [LOW_DOSE],
    ),
    "adult consolidation c2, active dexamethasone timed 1 h before -> ok": (
        chart(
            active_dexamethasone(20, "2026-03-02T09:00:00+00:00"),
            indication="consolidation",
            cycle=2,
            history=[EARLIER_C1],
        ),
        [],
    ),
    "adult consolidation c2, active dexamethasone from last week -> warning": (
        chart(
            active_dexamethasone(20, "2026-02-23T09:00:00+00:00"),
            indication="consolidation",
            cycle=2,
            history=[EARLIER_C1],
        ),
        [MISSING],
    ),
    "adult R/R c2 without premedication -> warning (every cycle)": (
        chart(indication="relapsed-refractory", cycle=2, history=[EARLIER_C1]),
        [MISSING],
    ),
    "adult R/R day-8 step-up bag without premedication -> warning": (
        chart(
            cycle=1,
            steps=[Step(28, days=21)],
            history=[
                blinatumomab_order(
                    PID,
                    [Step(9, days=7)],
                    oid="blin-c1-week1",
                    cycle=1,
                    start="2026-02-23T10:00:00+00:00",
                    status="active",
                    authored="2026-02-23T08:00:00+00:00",
                )
            ],
        ),
        [MISSING],
    ),
    "adult R/R c3 restart after interruption without premedication -> warning": (
        chart(
            cycle=3,
            history=[EARLIER_C1],
            steps=[Step(28, days=10)],
            note="Restart after 6-hour interruption (line occlusion)",
        ),
        [MISSING],
    ),
    "adult R/R c2 restart after grade 3 CRS, 9 for 7 days then 28, dexamethasone 20 mg -> the "
    "step-up reminder (the escalation is a step dose)": (
        chart(
            dexamethasone_order(PID, 20),
            cycle=2,
            history=[EARLIER_C1],
            steps=[Step(9, days=7), Step(28, days=14)],
            note="Restart after grade 3 CRS, resolved 2026-03-01",
        ),
        [STEP_UP_REMINDER],
    ),
    "adult R/R c2 restart after grade 3 CRS, 9 then 28, dexamethasone also timed for the "
    "escalation -> ok": (
        chart(
            dexamethasone_order(PID, 20),
            DAY_8_DEXAMETHASONE,
            cycle=2,
            history=[EARLIER_C1],
            steps=[Step(9, days=7), Step(28, days=14)],
            note="Restart after grade 3 CRS, resolved 2026-03-01",
        ),
        [],
    ),
    "child 8 y 20 kg, no height (BSA unknown), dexamethasone 4 mg -> warning: not verified": (
        chart(
            dexamethasone_order(PID, 4),
            born=CHILD_8,
            kg=20,
            cm=None,
            steps=[Step(5, unit="ug/m2/d", days=7)],
        ),
        [NOT_VERIFIED],
    ),
    "child 8 y 20 kg, no height, dexamethasone 20 mg (the cap, enough for any BSA) -> ok": (
        chart(
            dexamethasone_order(PID, 20),
            born=CHILD_8,
            kg=20,
            cm=None,
            steps=[Step(5, unit="ug/m2/d", days=7)],
        ),
        [],
    ),
    "child 8 y 20 kg, no height, no dexamethasone -> warning (missing)": (
        chart(born=CHILD_8, kg=20, cm=None, steps=[Step(5, unit="ug/m2/d", days=7)]),
        [MISSING],
    ),
    "adult R/R c1 resumed 03-02, its order stopped (last updated) 02-25 with no MAR, no "
    "dexamethasone -> warning (a restart after 5 days, not day 10 running on)": (
        chart(cycle=1, history=[STOPPED_C1], steps=[Step(28, days=19)]),
        [MISSING],
    ),
    "adult R/R c1 resumed 03-02 after the stopped order, dexamethasone 20 mg -> ok": (
        chart(
            dexamethasone_order(PID, 20), cycle=1, history=[STOPPED_C1], steps=[Step(28, days=19)]
        ),
        [],
    ),
    "adult R/R c1 resumed 03-02, its order stopped with no MAR and no lastUpdated (when it "
    "stopped is unknown), no dexamethasone -> warning: a restart cannot be ruled out": (
        chart(cycle=1, history=[STOPPED_C1_UNDATED], steps=[Step(28, days=19)]),
        [RESTART_UNVERIFIED],
    ),
    "adult R/R c1 resumed 03-02, its order on hold, undated, no dexamethasone -> warning": (
        chart(cycle=1, history=[ON_HOLD_C1_UNDATED], steps=[Step(28, days=19)]),
        [RESTART_UNVERIFIED],
    ),
    "adult R/R c1 resumed 03-02 after the undated stopped order, dexamethasone 20 mg -> ok": (
        chart(
            dexamethasone_order(PID, 20),
            cycle=1,
            history=[STOPPED_C1_UNDATED],
            steps=[Step(28, days=19)],
        ),
        [],
    ),
    "adult R/R c1 resumed 03-02, the undated stopped order's MAR runs to 03-02 10:00 -> a bag "
    "change, ok": (
        chart(cycle=1, history=[STOPPED_C1_UNDATED, MAR_TO_03_02], steps=[Step(28, days=19)]),
        [],
    ),
    "adult R/R c1, only dexamethasone 20 mg IV q8h as needed for CRS -> warning (missing): "
    "nothing is given before the first dose": (
        chart(prn_dexamethasone()),
        [MISSING, STEP_UP_REMINDER],
    ),
    "adult R/R c1, dexamethasone 20 mg premedication only proposed (intent proposal) -> "
    "warning (missing)": (
        chart(dexamethasone_order(PID, 20) | {"intent": "proposal"}),
        [MISSING, STEP_UP_REMINDER],
    ),
    "adult R/R c1, dexamethasone 20 mg 1 h before and another as needed for CRS -> only the "
    "day-8 reminder": (
        chart(dexamethasone_order(PID, 20), prn_dexamethasone()),
        [STEP_UP_REMINDER],
    ),
    "adult R/R c1 begun 02-27, revised 03-02 to 48-hour bags (priorPrescription, same start), "
    "no dexamethasone -> silent: its first dose was given under the order it revises": (
        revision("2026-02-27T10:00:00+00:00"),
        [],
    ),
    "adult R/R c1 starting 10:00 today, revised at 08:00 before it began, no dexamethasone -> "
    "warning (missing)": (
        revision("2026-03-02T10:00:00+00:00"),
        [MISSING, STEP_UP_REMINDER],
    ),
    "child 8 y 20 kg 115 cm R/R c1 without dexamethasone -> warning": (
        chart(born=CHILD_8, kg=20, cm=115, steps=[Step(5, unit="ug/m2/d", days=7)]),
        [MISSING],
    ),
    "child 8 y R/R c1 dexamethasone 4 mg for 0.8 m² -> ok": (
        chart(
            dexamethasone_order(PID, 4),
            born=CHILD_8,
            kg=20,
            cm=115,
            steps=[Step(5, unit="ug/m2/d", days=7)],
        ),
        [],
    ),
    "child 8 y MRD cycle 2 -> no premedication card": (
        chart(
            born=CHILD_8,
            kg=20,
            cm=115,
            indication="mrd-positive",
            cycle=2,
            history=[EARLIER_C1],
            steps=[Step(15, unit="ug/m2/d", days=28)],
        ),
        [],
    ),
    "unknown indication adult c1 dexamethasone 16 mg -> ok": (
        chart(dexamethasone_order(PID, 16), indication=None, steps=FULL),
        [],
    ),
    # red team: doses as written, counted by the least they give
    "adult R/R c1 dexamethasone as a range 4-20 mg -> low (counted as 4 mg, the least ordered)": (
        chart(dexamethasone_written({"doseRange": {"low": mg(4), "high": mg(20)}})),
        [STEP_UP_REMINDER, LOW_DOSE],
    ),
    "adult R/R c1 dexamethasone 'up to 20 mg' (a range without its low end) -> unreadable": (
        chart(dexamethasone_written({"doseRange": {"high": mg(20)}})),
        [STEP_UP_REMINDER, UNREADABLE],
    ),
    "adult R/R c1 dexamethasone 20 'MG' (free text, upper case) -> ok, not unreadable": (
        chart(dexamethasone_written({"doseQuantity": {"value": 20, "unit": "MG"}})),
        [STEP_UP_REMINDER],
    ),
    "adult R/R c1 dexamethasone 20 'milligrams' (free text) -> ok, not unreadable": (
        chart(dexamethasone_written({"doseQuantity": {"value": 20, "unit": "milligrams"}})),
        [STEP_UP_REMINDER],
    ),
    # red team: a day without a time ends at the end of that day, not at its midnight
    "adult R/R c1 as two orders by day (03-02 to 03-08, 03-09 to 03-29), dexamethasone the "
    "evening before -> only the day-8 reminder (no phantom 24-hour interruption to restart)": (
        step_up_as_two_orders_by_day(
            dexamethasone_order(PID, 20, when="2026-03-01T20:00:00+00:00")
        ),
        [STEP_UP_ORDER_REMINDER],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_premedication_golden_matrix(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "premedication") == sorted(expected)


@pytest.mark.parametrize(
    ("steps", "when"),
    [
        ([Step(9, days=7), Step(28, days=21)], "2026-03-09 (day 8 of this order)"),
        ([Step(9, days=3), Step(28, days=21)], "2026-03-05 (day 4 of this order)"),
    ],
    ids=["cycle 1 day 8", "9 for 3 days then 28: the step-up on the order's day 4"],
)
def test_the_step_up_reminder_names_the_day_the_order_steps_up(
    client: FlaskClient, steps: list[Step], when: str
) -> None:
    body = client.post(SIGN, json=order_sign(chart(dexamethasone_order(PID, 20), steps=steps)))
    [card] = [
        c for c in body.get_json()["cards"] if c["source"]["topic"]["code"] == "premedication"
    ]
    assert card["summary"] == (
        f"Reminder: premedicate again before the step-up dose on {when} (dexamethasone 20 mg)"
    )


def _suggested(body: dict[str, Any]) -> dict[str, Any]:
    [card] = [
        c
        for c in body["cards"]
        if c["source"]["topic"]["code"] == "premedication" and c["indicator"] == "warning"
    ]
    [action] = card["suggestions"][0]["actions"]
    assert action["type"] == "create"
    return cast(dict[str, Any], action["resource"])


def test_the_missing_adult_premedication_is_offered_as_an_order(client: FlaskClient) -> None:
    resource = _suggested(client.post(SIGN, json=order_sign(chart())).get_json())
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "3264"
    dosage = resource["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 20
    assert dosage["timing"]["event"] == ["2026-03-02T09:00:00+00:00"]
    assert resource["subject"] == {"reference": f"Patient/{PID}"}


def test_a_childs_premedication_is_5_mg_per_m2_from_bsa(client: FlaskClient) -> None:
    request = order_sign(
        chart(born=CHILD_8, kg=20, cm=115, steps=[Step(5, unit="ug/m2/d", days=7)])
    )
    resource = _suggested(client.post(SIGN, json=request).get_json())
    # Mosteller: sqrt(115 × 20 / 3600) = 0.799 m² -> 4.0 mg
    assert resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 4.0


def test_a_teenagers_premedication_scales_with_bsa_below_the_20_mg_cap(client: FlaskClient) -> None:
    request = order_sign(
        chart(born="2010-01-01", kg=44, cm=190, steps=[Step(5, unit="ug/m2/d", days=7)])
    )
    resource = _suggested(client.post(SIGN, json=request).get_json())
    # Mosteller: sqrt(190 × 44 / 3600) = 1.524 m² -> 7.6 mg (the 20 mg cap binds only from 4 m²)
    assert resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 7.6


def test_a_low_premedication_is_replaced_not_doubled(client: FlaskClient) -> None:
    request = order_sign(chart(prednisone_order(50), indication="mrd-positive"))
    body = client.post(SIGN, json=request).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "premedication"]
    [action] = card["suggestions"][0]["actions"]
    assert action["type"] == "update"
    assert action["resource"]["id"] == "prednisone-premed"
    assert action["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] == {
        "value": 16.0,  # MRD adult: the label's example, dexamethasone 16 mg
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert card["summary"] == (
        "Premedication too low for the first dose of the cycle: 7.5 mg dexamethasone-equivalent, "
        "15 mg needed"
    )


def test_without_a_bsa_the_childs_dose_is_said_once_with_its_unit(client: FlaskClient) -> None:
    chart_bundle = chart(born=CHILD_8, kg=20, cm=115, steps=[Step(5, unit="ug/m2/d", days=7)])
    chart_bundle["entry"] = [
        e for e in chart_bundle["entry"] if e["resource"].get("id") != "ht-1"
    ]  # no height: BSA unknown
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "premedication"]
    assert "(dexamethasone 5 mg/m² (max 20 mg))" in card["summary"]
    assert "mg) mg" not in card["summary"] + card["detail"]


def test_no_birth_date_is_a_warning(client: FlaskClient) -> None:
    chart_bundle = chart(dexamethasone_order(PID, 20))
    del chart_bundle["entry"][0]["resource"]["birthDate"]
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "premedication") == [AGE_UNKNOWN]


def test_a_low_dexamethasone_draft_sent_without_an_id_is_not_named_by_a_made_up_id(
    client: FlaskClient,
) -> None:
    """Adult R/R cycle 1, dexamethasone 16 mg drafted without an id (read as `draft-N`, a name
    of ours the EHR does not know): the low-dose card offers the 20 mg order to create, never an
    update of `draft-N` (red team 6)."""
    request = order_sign(chart(dexamethasone_order(PID, 16)))
    for entry in request["context"]["draftOrders"]["entry"]:
        if entry["resource"].get("id") == "dexamethasone-premed":
            del entry["resource"]["id"]
    body = client.post(SIGN, json=request).get_json()
    [card] = [c for c in body["cards"] if c["summary"].startswith("Premedication too low")]
    actions = [a for s in card["suggestions"] for a in s["actions"]]
    assert [a["type"] for a in actions] == ["create"], actions
    assert all("draft-" not in json.dumps(a) for a in actions), actions
