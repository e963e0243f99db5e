"""Which premedication counts for which dose, by when it is timed (red team, multi-order flows):
a dexamethasone draft copied from the order set for day 1 does not premedicate a day-8 order
signed alone; an active order timed for days 1 and 8 does; an order after more than 7 days'
interruption starts a new cycle and needs the premedication of one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import SIGN
from tests.fixtures_util import (
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

PID = "pt-premed-timing"
DAY_1 = datetime.fromisoformat("2026-02-23T10:00:00+00:00")  # cycle 1 day 1; START is day 8
DAY_8 = DAY_1 + timedelta(days=7)
MISSING = ("premedication", "warning", "premedication-missing")


def hour_before(when: datetime) -> str:
    return (when - timedelta(hours=1)).isoformat()


def days_1_to_7(status: str = "active", cycle: int | None = None) -> dict[str, Any]:
    """The cycle's first order on file, as EHR history keeps it: no cycle extension."""
    return blinatumomab_order(
        PID,
        [Step(9, days=7)],
        oid="blin-days-1-7",
        cycle=cycle,
        start=DAY_1.isoformat(),
        status=status,
        authored=DAY_1.isoformat(),
    )


def day_8_order() -> dict[str, Any]:
    return blinatumomab_order(PID, [Step(28, days=21)], cycle=1, start=DAY_8.isoformat())


def chart(*resources: dict[str, Any]) -> dict[str, Any]:
    body = [patient(PID, birth_date="1970-02-14"), weight(PID, 80), height(PID, 178)]
    return bundle([*body, *resources])


def active_dexamethasone_for_days_1_and_8() -> dict[str, Any]:
    order = dexamethasone_order(PID, 20, oid="dex-days-1-and-8", when=hour_before(DAY_1))
    order["status"] = "active"
    order["dosageInstruction"][0]["timing"]["event"].append(hour_before(DAY_8))
    return order


def restart_after_nine_days(cycle: int | None = None) -> list[dict[str, Any]]:
    """Cycle 1 ran days 1-7 and stopped on day 12 (the MAR says so); restarted 9 days later,
    its orders coded `cycle` (None: no extension)."""
    stopped = blinatumomab_order(
        PID,
        [Step(28, days=21)],
        oid="blin-day-8",
        cycle=cycle,
        start=DAY_8.isoformat(),
        status="stopped",
        authored=DAY_8.isoformat(),
    )
    given = [
        blinatumomab_administration(
            PID, "bag-1", DAY_1, DAY_8, request="MedicationRequest/blin-days-1-7"
        ),
        blinatumomab_administration(
            PID, "bag-2", DAY_8, DAY_8 + timedelta(days=4), request="MedicationRequest/blin-day-8"
        ),
    ]
    restart = blinatumomab_order(
        PID, [Step(9, days=7)], cycle=cycle, start=(DAY_8 + timedelta(days=13)).isoformat()
    )
    return [days_1_to_7("completed", cycle), stopped, *given, restart]


def dexamethasone_untimed() -> dict[str, Any]:
    """A draft that says nothing of time (no event, no bounds): signed for this infusion."""
    order = dexamethasone_order(PID, 20, oid="dex-untimed")
    del order["dosageInstruction"][0]["timing"]
    return order


def dexamethasone_daily_around(when: datetime) -> dict[str, Any]:
    """Daily dexamethasone from the day before `when` to the day after (boundsPeriod, no event)."""
    order = dexamethasone_order(PID, 20, oid="dex-daily")
    order["dosageInstruction"][0]["timing"] = {
        "repeat": {
            "frequency": 1,
            "period": 1,
            "periodUnit": "d",
            "boundsPeriod": {
                "start": (when - timedelta(days=1)).isoformat(),
                "end": (when + timedelta(days=1)).isoformat(),
            },
        }
    }
    return order


def on_hold_dexamethasone(when: datetime) -> dict[str, Any]:
    order = dexamethasone_order(PID, 20, oid="dex-on-hold", when=hour_before(when))
    order["status"] = "on-hold"
    return order


SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "day-8 order with a dexamethasone draft that says nothing of time -> silent (counts)": (
        chart(days_1_to_7(), day_8_order(), dexamethasone_untimed()),
        [],
    ),
    "day-8 order with a daily dexamethasone draft from the day before to the day after -> silent": (
        chart(days_1_to_7(), day_8_order(), dexamethasone_daily_around(DAY_8)),
        [],
    ),
    "day-8 order, the only dexamethasone on hold (timed 1 hour before) -> warning": (
        chart(days_1_to_7(), day_8_order(), on_hold_dexamethasone(DAY_8)),
        [MISSING],
    ),
    "day-8 order signed alone with a dexamethasone draft timed for day 1 -> warning": (
        chart(days_1_to_7(), day_8_order(), dexamethasone_order(PID, when=hour_before(DAY_1))),
        [MISSING],
    ),
    "day-8 order signed alone with a dexamethasone draft for 1 hour before it -> silent": (
        chart(days_1_to_7(), day_8_order(), dexamethasone_order(PID, when=hour_before(DAY_8))),
        [],
    ),
    "day-8 order signed alone, active dexamethasone timed for days 1 and 8 -> silent": (
        chart(days_1_to_7(), day_8_order(), active_dexamethasone_for_days_1_and_8()),
        [],
    ),
    "restart 9 days after the infusion stopped (a new cycle), no dexamethasone -> warning": (
        chart(*restart_after_nine_days()),
        [MISSING],
    ),
    "the same with every order coded cycle 1, no dexamethasone -> warning (a new cycle)": (
        chart(*restart_after_nine_days(cycle=1)),
        [MISSING],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_premedication_timing(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "premedication") == sorted(expected), [
        c["summary"] for c in body["cards"]
    ]
