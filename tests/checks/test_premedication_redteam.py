"""Premedication found by red teams 4 and 5 (2026-12-03): a steroid timed the afternoon before is
not the premedication (timed too early); a child's prednisolone is named and offered to be
replaced; a "Resume" note does not beat a MAR that dates a gap under 4 hours; the escalation to
28 mcg/day after a restart at 9, written as its own order, needs premedication; a child's card
does not speak of MRD-positive adults' prednisone; the coded route and timeOfDay are read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import SIGN
from tests.fixtures_util import (
    RXNORM,
    SNOMED,
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

PID = "pt-premed-redteam"
START = datetime.fromisoformat("2026-03-02T10:00:00+00:00")  # the new order's start
ADULT, CHILD_8 = "1972-03-10", "2017-09-15"
EARLY = ("premedication", "warning", "premedication-timed-too-early")
LATE = ("premedication", "warning", "premedication-timed-after-start")
MISSING = ("premedication", "warning", "premedication-missing")
NOT_DEX = ("premedication", "warning", "premedication-not-dexamethasone")
ROUTE = ("premedication", "warning", "premedication-route-not-label")
STEP_UP_REMINDER = ("premedication", "info", "premedication-step-up-reminder")
ORAL_ROUTE = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}


def at(hours: float) -> str:
    """A time `hours` from the new order's start (negative: before it)."""
    return (START + timedelta(hours=hours)).isoformat()


def dex(
    mg: float = 20, when: str = at(-1), *, status: str = "draft", **dosage: Any
) -> dict[str, Any]:
    order = dexamethasone_order(PID, mg, when=when)
    order["status"] = status
    order["dosageInstruction"][0] |= dosage
    return order


def dex_at_time_of_day(clock: str) -> dict[str, Any]:
    """Dexamethasone 20 mg "at `clock`" on the start's day: a dated boundsPeriod, timeOfDay."""
    order = dex()
    timing: dict[str, Any] = {
        "repeat": {"boundsPeriod": {"start": "2026-03-02", "end": "2026-03-02"}}
    }
    timing["repeat"] |= {"frequency": 1, "period": 1, "periodUnit": "d", "timeOfDay": [clock]}
    order["dosageInstruction"][0]["timing"] = timing
    return order


def child_steroid(name: str, rxcui: str, mg: float) -> dict[str, Any]:
    order = dex(mg)
    order["medicationCodeableConcept"] = {
        "coding": [{"system": RXNORM, "code": rxcui, "display": name}],
        "text": name,
    }
    order["dosageInstruction"][0]["text"] = f"{name} {mg} mg 1 hour before blinatumomab"
    return order


def chart(
    *resources: dict[str, Any],
    born: str = ADULT,
    kg: float = 72,
    cm: float = 178,
    indication: str = "consolidation",
    steps: list[Step] | None = None,
    cycle: int | None = 1,
    note: str | None = None,
) -> dict[str, Any]:
    order = blinatumomab_order(
        PID, steps or [Step(28, days=28)], indication=indication, cycle=cycle, start=at(0)
    )
    if note:
        order["note"] = [{"text": note}]
    body = [patient(PID, birth_date=born), weight(PID, kg), height(PID, cm), order]
    return bundle([*body, *resources])


def cycle_2_stopped(gap_hours: float) -> list[dict[str, Any]]:
    """R/R cycle 2 at 28 mcg/day from 02-22, daily bags on the MAR, the last stopped
    `gap_hours` before the new order's start (line occlusion)."""
    began = START - timedelta(days=8)
    order = blinatumomab_order(
        PID,
        [Step(28, days=28)],
        oid="blin-c2",
        cycle=2,
        start=began.isoformat(),
        status="stopped",
        authored=began.isoformat(),
    )
    stop = START - timedelta(hours=gap_hours)
    bags = [
        blinatumomab_administration(
            PID,
            f"bag-{day}",
            began + timedelta(days=day),
            min(began + timedelta(days=day + 1), stop),
            request="MedicationRequest/blin-c2",
        )
        for day in range(8)
        if began + timedelta(days=day) < stop
    ]
    return [order, *bags]


def restart_at_9_for_7_days() -> list[dict[str, Any]]:
    """After a grade 3 CRS, cycle 2 restarted at 9 mcg/day for 7 days, ending at the new order's
    start (its MAR); the new order is the escalation to 28."""
    began = START - timedelta(days=7)
    order = blinatumomab_order(
        PID,
        [Step(9, days=7)],
        oid="blin-restart-9",
        cycle=2,
        start=began.isoformat(),
        status="completed",
        authored=began.isoformat(),
    )
    bags = [
        blinatumomab_administration(
            PID,
            f"restart-bag-{day}",
            began + timedelta(days=day),
            began + timedelta(days=day + 1),
            rate=9,
            request="MedicationRequest/blin-restart-9",
        )
        for day in range(7)
    ]
    return [order, *bags]


def rr(*resources: dict[str, Any], note: str | None = None) -> dict[str, Any]:
    """An adult R/R order continuing the infusions on file: no cycle coded."""
    return chart(*resources, indication="relapsed-refractory", cycle=None, note=note)


SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # 1. timed too early (red team 4 item 2; case 46)
    "child 8 y R/R c1, dexamethasone 4.7 mg draft timed the previous afternoon (20 h) -> early": (
        chart(
            dex(4.7, at(-20)),
            born=CHILD_8,
            kg=25,
            cm=125,
            indication="relapsed-refractory",
            steps=[Step(5, unit="ug/m2/d", days=7), Step(15, unit="ug/m2/d", days=21)],
        ),
        [EARLY, STEP_UP_REMINDER],
    ),
    "adult consolidation c1, dexamethasone 20 mg draft timed the evening before (14 h) -> early": (
        chart(dex(20, at(-14))),
        [EARLY],
    ),
    "adult consolidation c1, dexamethasone 20 mg draft timed 3 hours before -> silent": (
        chart(dex(20, at(-3))),
        [],
    ),
    "adult consolidation c1, active dexamethasone given 10 hours before -> early": (
        chart(dex(20, at(-10), status="active")),
        [EARLY],
    ),
    "adult consolidation c1, dexamethasone draft for the day before's dose (30 h) -> missing": (
        chart(dex(20, at(-30))),
        [MISSING],
    ),
    # 2. a child's other glucocorticoid (red team 4 item 4; cases 45, 55)
    "child 8 y consolidation c1 on prednisolone 30 mg -> not dexamethasone, replace it": (
        chart(
            child_steroid("prednisolone", "8638", 30),
            born=CHILD_8,
            kg=25,
            cm=125,
            steps=[Step(15, unit="ug/m2/d", days=28)],
        ),
        [NOT_DEX],
    ),
    "child 8 y consolidation c1 on methylprednisolone 6.2 mg -> not dexamethasone": (
        chart(
            child_steroid("methylprednisolone", "6902", 6.2),
            born=CHILD_8,
            kg=25,
            cm=125,
            steps=[Step(15, unit="ug/m2/d", days=28)],
        ),
        [NOT_DEX],
    ),
    "adult consolidation c1 on methylprednisolone 125 mg -> silent (adults: any steroid)": (
        chart(child_steroid("methylprednisolone", "6902", 125)),
        [],
    ),
    # 3. a "Resume" note against the MAR (red team 5 #8; case i01)
    "adult R/R c2 resumed 2 h after the MAR's stop, note 'Resume after line occlusion' -> ok": (
        rr(*cycle_2_stopped(2), note="Resume blinatumomab after line occlusion"),
        [],
    ),
    "adult R/R c2 resumed 6 h after the MAR's stop, same note, no dexamethasone -> missing": (
        rr(*cycle_2_stopped(6), note="Resume blinatumomab after line occlusion"),
        [MISSING],
    ),
    "adult R/R c2 resumed 2 h after the MAR's stop, no note -> silent": (
        rr(*cycle_2_stopped(2)),
        [],
    ),
    # 4. the escalation to 28 after a restart at 9, its own order (red team 5 #9; case t16)
    "adult R/R escalation to 28 after 7 days of a restart at 9, no dexamethasone -> missing": (
        rr(*restart_at_9_for_7_days()),
        [MISSING],
    ),
    "adult R/R escalation to 28 after the restart at 9, dexamethasone 20 mg 1 h before -> ok": (
        rr(*restart_at_9_for_7_days(), dex(20)),
        [],
    ),
    "adult R/R c2 next bag at the same 28 mcg/day (bag change), no dexamethasone -> silent": (
        rr(*cycle_2_stopped(0)),
        [],
    ),
    # 6. the dosage's route and timeOfDay
    "adult consolidation c1, dexamethasone 20 mg coded by ingredient, oral route -> route": (
        chart(dex(20, route=ORAL_ROUTE)),
        [ROUTE],
    ),
    "adult consolidation c1, dexamethasone 20 mg 'at 11:00' on the start's day (10:00) -> late": (
        chart(dex_at_time_of_day("11:00:00")),
        [LATE],
    ),
    "adult consolidation c1, dexamethasone 20 mg 'at 09:00' on the start's day -> silent": (
        chart(dex_at_time_of_day("09:00:00")),
        [],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_premedication_red_team(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "premedication") == sorted(expected), [
        c["summary"] for c in body["cards"]
    ]


def _premedication_card(body: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in body["cards"] if c["source"]["topic"]["code"] == "premedication")


def test_a_childs_prednisolone_is_named_and_replaced(client: FlaskClient) -> None:
    """Case 45: not "none was found", and the one-click action replaces the prednisolone."""
    steps = [Step(15, unit="ug/m2/d", days=28)]
    bundle_ = chart(
        child_steroid("prednisolone", "8638", 30), born=CHILD_8, kg=25, cm=125, steps=steps
    )
    card = _premedication_card(client.post(SIGN, json=order_sign(bundle_)).get_json())
    assert "prednisolone 30 mg" in card["summary"]
    assert "None was found" not in card["detail"]
    actions = [a for s in card["suggestions"] for a in s["actions"]]
    assert [a["type"] for a in actions] == ["update"]
    assert actions[0]["resource"]["id"] == "dexamethasone-premed"


@pytest.mark.parametrize(
    ("born", "kg", "indication", "said", "not_said"),
    [
        (CHILD_8, 25, "consolidation", "IV or by mouth", "MRD-positive adults"),
        (ADULT, 72, "mrd-positive", "prednisone 100 mg or equivalent", "IV or by mouth"),
        (ADULT, 72, "consolidation", "dexamethasone 20 mg IV", "prednisone"),
    ],
    ids=["child", "MRD-positive adult", "consolidation adult"],
)
def test_the_missing_card_speaks_of_the_patients_own_premedication(
    client: FlaskClient, born: str, kg: float, indication: str, said: str, not_said: str
) -> None:
    """Red team 5 #10: a child's card spoke of MRD-positive adults' prednisone."""
    per_m2 = kg < 45
    bundle_ = chart(
        born=born,
        kg=kg,
        cm=125 if per_m2 else 178,
        indication=indication,
        steps=[Step(15 if per_m2 else 28, unit="ug/m2/d" if per_m2 else "ug/d", days=28)],
    )
    card = _premedication_card(client.post(SIGN, json=order_sign(bundle_)).get_json())
    assert said in card["detail"] and not_said not in card["detail"], card["detail"]
