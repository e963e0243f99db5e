"""A sweep over realistic course histories (label §2.2-2.4) as EHRs send them: R/R induction
cycles 1-2 then consolidation 3-5 (14 days free) and continued therapy 6-9 (56 days free),
MRD-positive cycles 1-4 (14 days free); each cycle on file as one numbered order, one order
without the cycle extension, one order of 7-day bags with `numberOfRepeatsAllowed`, four one-bag
orders, orders with their MAR, the MAR alone, or orders that give only their signing time.

A correct next cycle gets no cycle-limits card (but the cycle limit where the label's count is
reached); a wrong one (started inside the treatment-free interval, or coded lower than the cycles
given) gets the right card. Orders that give only when they were signed (authoredOn) leave the
interval unverifiable: the card says so, and with the MAR on file nothing is said.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.checks.test_cycle_limits import (
    FULL,
    LIMIT_EXCEEDED,
    MRD,
    NUMBER_DISAGREES,
    PID,
    RR,
    STEP_UP,
    TOPIC,
    TREATMENT_FREE_INTERVAL,
    chart,
    days_before,
    free_days,
    given,
    signed_only,
)
from tests.conftest import SIGN
from tests.fixtures_util import (
    UCUM,
    Expected,
    Step,
    blinatumomab_administration,
    findings_of_topic,
    order_sign,
)

DATES_UNVERIFIED = ("cycle-limits", "warning", "cycle-dates-unverified")
MAX = {RR: 9, MRD: 4}
SIGNED_AHEAD = timedelta(days=3)  # a treatment-plan order signed three days before day 1

Resources = list[dict[str, Any]]


def cycle_starts(cycles: int, indication: str, gap: int) -> list[datetime]:
    """When cycles 1..`cycles` began, each 28 days then its treatment-free interval, the last
    ending `gap` days before the draft order starts (2026-03-02)."""
    starts = [days_before(gap + 28)]
    for cycle in range(cycles - 1, 0, -1):
        starts.insert(0, starts[0] - timedelta(days=28 + free_days(indication, cycle)))
    return starts


def _without_end(order: dict[str, Any], bag_days: int, repeats: int) -> dict[str, Any]:
    """The order as a bag order: a start, no end; each bag 7 days, `repeats` more after the
    first (dispenseRequest), as Epic and Oracle Health send a home-infusion order."""
    for dosage in order["dosageInstruction"][1:]:
        order["dosageInstruction"].remove(dosage)
    repeat = order["dosageInstruction"][0]["timing"]["repeat"]
    del repeat["boundsPeriod"]["end"]
    order["dispenseRequest"] = {
        "numberOfRepeatsAllowed": repeats,
        "expectedSupplyDuration": {"value": bag_days, "unit": "days", "system": UCUM, "code": "d"},
    }
    return order


def numbered(n: int, start: datetime, indication: str) -> Resources:
    return [given(n, start, indication=indication)]


def unnumbered(n: int, start: datetime, indication: str) -> Resources:
    return [given(None, start, indication=indication, oid=f"blin-{n}")]


def repeats_order(n: int, start: datetime, indication: str) -> Resources:
    """One order for the cycle: a 7-day bag and 3 repeats (28 days), no end, no cycle."""
    order = given(None, start, indication=indication, oid=f"blin-{n}")
    return [_without_end(order, 7, 3)]


def bag_orders(n: int, start: datetime, indication: str) -> Resources:
    """Four orders for the cycle, one 7-day bag each (no repeats, no end, no cycle)."""
    return [
        _without_end(
            given(None, start + timedelta(days=7 * bag), indication=indication, oid=f"b{n}-{bag}"),
            7,
            0,
        )
        for bag in range(4)
    ]


def _mar(n: int, start: datetime, request: str | None) -> Resources:
    """The cycle's four 7-day bags on the MAR, each hung 30 minutes after the one before ended
    (28 infusion days over 28 days and 90 minutes)."""
    hung = [start + timedelta(days=7 * bag, minutes=30 * bag) for bag in range(4)]
    return [
        blinatumomab_administration(
            PID, f"ma-{n}-{bag}", at, at + timedelta(days=7), request=request
        )
        for bag, at in enumerate(hung)
    ]


def orders_and_mar(n: int, start: datetime, indication: str) -> Resources:
    order = given(n, start, indication=indication)
    return [order, *_mar(n, start, f"MedicationRequest/{order['id']}")]


def mar_only(n: int, start: datetime, indication: str) -> Resources:
    return _mar(n, start, None)


def signed_orders(n: int, start: datetime, indication: str) -> Resources:
    return [signed_only(given(n, start, indication=indication), signed=start - SIGNED_AHEAD)]


def signed_with_mar(n: int, start: datetime, indication: str) -> Resources:
    order = signed_only(given(n, start, indication=indication), signed=start - SIGNED_AHEAD)
    return [order, *_mar(n, start, f"MedicationRequest/{order['id']}")]


Shape = Callable[[int, datetime, str], Resources]
SHAPES: dict[str, Shape] = {
    "one numbered order a cycle": numbered,
    "one order a cycle, no cycle extension": unnumbered,
    "one order a cycle of a 7-day bag and 3 repeats": repeats_order,
    "four one-bag orders a cycle": bag_orders,
    "numbered orders with their MAR": orders_and_mar,
    "the MAR alone": mar_only,
    "orders with their MAR, giving only when they were signed": signed_with_mar,
}
COURSES = [(RR, 1), (RR, 2), (RR, 5), (RR, 6), (RR, 9), (MRD, 1), (MRD, 3), (MRD, 4)]


def course(shape: Shape, indication: str, cycles: int, gap: int) -> Resources:
    starts = cycle_starts(cycles, indication, gap)
    return [r for n, s in enumerate(starts, start=1) for r in shape(n, s, indication)]


def draft(history: Resources, indication: str, cycle: int | None, next_cycle: int) -> Any:
    steps = STEP_UP if next_cycle == 1 and indication == RR else FULL
    return chart(*history, cycle=cycle, indication=indication, steps=steps)


def _rows() -> list[Any]:
    rows = []
    for shape_name, shape in SHAPES.items():
        for indication, done in COURSES:
            label = "R/R" if indication == RR else "MRD-positive"
            nxt = done + 1
            free = free_days(indication, done)
            over = [LIMIT_EXCEEDED] if nxt > MAX[indication] else []
            on_time = course(shape, indication, done, free)
            early = course(shape, indication, done, free - 5)
            what = f"adult 70 kg, {label} cycles 1-{done} as {shape_name}"
            rows += [
                pytest.param(
                    draft(on_time, indication, nxt, nxt),
                    over,
                    id=f"{what}, cycle {nxt} coded {free} days after -> "
                    + ("limit" if over else "silent"),
                ),
                pytest.param(
                    draft(on_time, indication, None, nxt),
                    over,
                    id=f"{what}, next cycle uncoded {free} days after -> "
                    + ("limit" if over else "silent"),
                ),
                pytest.param(
                    draft(early, indication, nxt, nxt),
                    sorted([*over, TREATMENT_FREE_INTERVAL]),
                    id=f"{what}, cycle {nxt} coded {free - 5} days after -> interval",
                ),
            ]
            if done >= 2:
                rows.append(
                    pytest.param(
                        draft(on_time, indication, 1, nxt),
                        sorted([*over, NUMBER_DISAGREES]),
                        id=f"{what}, cycle 1 coded {free} days after -> disagrees with cycle {nxt}",
                    )
                )
    return rows


@pytest.mark.parametrize(("chart_bundle", "expected"), _rows())
def test_course_history_sweep(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, TOPIC) == sorted(expected)


SIGNED_ONLY: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # The MAR absent, the interval cannot be told from orders signed ahead: the card says so
    # where a later first dose could make the gap too short, and only there.
    "adult 70 kg, R/R cycle 1 signed 3 days ahead (no start, no MAR), cycle 2 14 days after its "
    "planned end -> could not verify the interval": (
        draft(course(signed_orders, RR, 1, 14), RR, 2, 2),
        [DATES_UNVERIFIED],
    ),
    "adult 70 kg, R/R cycles 1-6 signed ahead, cycle 7 56 days after -> could not verify": (
        draft(course(signed_orders, RR, 6, 56), RR, 7, 7),
        [DATES_UNVERIFIED],
    ),
    "adult 70 kg, R/R cycle 1 signed ahead, cycle 2 21 days after its planned end -> silent (a "
    "week's signing lead cannot make it short)": (
        draft(course(signed_orders, RR, 1, 21), RR, 2, 2),
        [],
    ),
    "adult 70 kg, R/R cycle 2 continued for 18 days after a 10-day order signed 5 days before "
    "its first dose, which ended 5 days ago by its real dates -> could not verify (not 'an "
    "interruption of 10 days: start cycle 3')": (
        chart(
            *course(numbered, RR, 1, 28),
            signed_only(
                given(2, days_before(15), days=10, oid="blin-c2-10d"), signed=days_before(20)
            ),
            cycle=2,
            steps=[Step(28, days=18)],
        ),
        [DATES_UNVERIFIED],
    ),
    "adult 70 kg, R/R cycle 1 signed ahead, cycle 2 10 days after -> interval (a later first "
    "dose only makes it shorter)": (
        draft(course(signed_orders, RR, 1, 10), RR, 2, 2),
        [TREATMENT_FREE_INTERVAL],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SIGNED_ONLY.values(), ids=SIGNED_ONLY.keys())
def test_orders_giving_only_their_signing_time(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, TOPIC) == sorted(expected)
