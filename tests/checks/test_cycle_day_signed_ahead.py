"""Which day and which cycle the dose is judged for, when the chart leaves them in doubt.

- The cycle's first order on file gives only when it was signed (authoredOn, no boundsPeriod, no
  MAR): the first dose may have come up to cycles.yaml `signed_start_lead_days` later, so an
  order counted as day 8 may be day 5 of R/R cycle 1, where 28 mcg/day is an overdose. A dose too
  high on a day the order may fall on gets a "could not verify" warning naming that order; one
  too low only on the counted day is no underdose (the step-up extended for a late first dose).
- A cycle coded lower than the course's history (cycle 1 coded after cycles given): the dose is
  judged for the history's cycle as well as the coded one, so 28 mcg/day on day 1 is no "start at
  9" overdose on top of the cycle-limits disagreement card, and a cycle-1 step-up no underdose.
- An earlier or signed-with order whose boundsPeriod ends before it starts has no known end: its
  infusion is not over before it began (cycle history, overlapping orders).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.checks.test_cycle_limits import (
    LIMIT_EXCEEDED,
    NUMBER_DISAGREES,
    PID,
    STEP_UP,
    TREATMENT_FREE_INTERVAL,
    chart,
    days_before,
    given,
    history,
    mar_history,
    signed_only,
)
from tests.conftest import SIGN
from tests.fixtures_util import (
    Expected,
    Step,
    blinatumomab_administration,
    blinatumomab_order,
    findings_of_topic,
    order_sign,
)

DOSE_DAY_UNVERIFIED = ("dose", "warning", "dose-day-unverified")
OVERDOSE = ("dose", "critical", "dose-overdose")
UNDERDOSE = ("dose", "warning", "dose-underdose")
DATES_REVERSED = ("dose", "warning", "dose-dates-reversed")
ACTIVE_ON_FILE = ("dose", "warning", "dose-active-order-overlaps")
ORDERS_OVERLAP = ("dose", "critical", "dose-orders-overlap")
FIRST_DOSE = days_before(4)  # R/R cycle 1's real day 1: the draft (2026-03-02) is its day 5


def days_1_to_7(*, signed: datetime = FIRST_DOSE - timedelta(days=3), cycle: int | None = 1) -> Any:
    """R/R cycle 1 days 1-7 (9 mcg/day) as a treatment-plan order gives it: boundsDuration 7 d,
    no boundsPeriod, authoredOn `signed` (3 days before its first dose), no MAR."""
    order = given(cycle, FIRST_DOSE, days=7, oid="blin-c1-days-1-7")
    order["dosageInstruction"] = order["dosageInstruction"][:1]  # 9 mcg/day for 7 days
    order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 9
    return signed_only(order, signed=signed)


def with_mar(order: dict[str, Any], start: datetime, days: int) -> list[dict[str, Any]]:
    """The order and its bag on the MAR, hung at `start` for `days` days."""
    return [
        order,
        blinatumomab_administration(
            PID,
            f"ma-{order['id']}",
            start,
            start + timedelta(days=days),
            rate=9,
            request=f"MedicationRequest/{order['id']}",
        ),
    ]


def reversed_period(order: dict[str, Any], end: datetime) -> dict[str, Any]:
    """The order with its first boundsPeriod's end typed as `end` (before its start)."""
    order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["end"] = end.isoformat()
    return order


DOSE: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # --- the cycle day counted from an order's signing ---------------------------------------
    "adult 70 kg, R/R cycle 1 days 1-7 order signed 3 days before its first dose (no start, no "
    "MAR), 28 mcg/day for 21 days on its real day 5 (day 8 counted from the signing) -> could "
    "not verify (it may be day 1-7: 9 mcg/day), not an all clear": (
        chart(days_1_to_7(), cycle=1, steps=[Step(28, days=21)]),
        [DOSE_DAY_UNVERIFIED],
    ),
    "adult 70 kg, the same days 1-7 order without a cycle extension (as EHR history comes), 28 "
    "mcg/day coded cycle 1 -> could not verify": (
        chart(days_1_to_7(cycle=None), cycle=1, steps=[Step(28, days=21)]),
        [DOSE_DAY_UNVERIFIED],
    ),
    "adult 70 kg, the same, the draft coding no cycle either -> could not verify": (
        chart(days_1_to_7(cycle=None), cycle=None, steps=[Step(28, days=21)]),
        [DOSE_DAY_UNVERIFIED],
    ),
    "adult 70 kg, days 1-7 order with its bag on the MAR from 7 days ago, 28 mcg/day on day 8 "
    "-> silent (the MAR dates day 1)": (
        chart(
            *with_mar(days_1_to_7(signed=days_before(10)), days_before(7), 7),
            cycle=1,
            steps=[Step(28, days=21)],
        ),
        [],
    ),
    "adult 70 kg, days 1-7 order signed-only, 3 more days of 9 mcg/day on day 8 counted (its "
    "first dose came late) -> silent (9 is right on the days it may be; not 'low for day 8')": (
        chart(days_1_to_7(), cycle=1, steps=[Step(9, days=3)]),
        [],
    ),
    "adult 70 kg, days 1-7 order signed-only, 9 mcg/day for 21 days from day 8 counted -> "
    "underdose (days 15-28 are past day 8 whatever the first dose)": (
        chart(days_1_to_7(), cycle=1, steps=[Step(9, days=21)]),
        [UNDERDOSE],
    ),
    "adult 70 kg, days 1-7 order signed-only, 40 mcg/day on day 8 counted -> critical overdose "
    "(too high on any day), no second card": (
        chart(days_1_to_7(), cycle=1, steps=[Step(40, days=21)]),
        [OVERDOSE],
    ),
    "adult 70 kg, days 1-7 order signed 10 days before the draft, 28 mcg/day on day 11 counted "
    "(may be day 4) -> could not verify": (
        chart(days_1_to_7(signed=days_before(10)), cycle=1, steps=[Step(28, days=18)]),
        [DOSE_DAY_UNVERIFIED],
    ),
    "adult 70 kg, R/R cycle 2 continued, its first order signed-only -> silent (28 mcg/day on "
    "every day of cycle 2)": (
        chart(
            *history(1, gap=30),
            signed_only(given(2, days_before(10), days=10, oid="blin-c2"), signed=days_before(13)),
            cycle=2,
            steps=[Step(28, days=18)],
        ),
        [],
    ),
    # --- a cycle coded lower than the history -----------------------------------------------
    "adult 70 kg, R/R cycle 1 coded, nine cycles only the MAR records ending 60 days ago, 28 "
    "mcg/day from day 1 -> no dose card (cycle 10 by the history; not 'start at 9')": (
        chart(*mar_history(9, gap=60), cycle=1, steps=[Step(28, days=28)]),
        [],
    ),
    "adult 70 kg, R/R cycle 1 coded, cycles 1-3 on file without cycle extension, 28 mcg/day from "
    "day 1 -> no dose card (cycle 4 by the history)": (
        chart(
            *({**o, "extension": []} for o in history(3, gap=14)),
            cycle=1,
            steps=[Step(28, days=28)],
        ),
        [],
    ),
    "adult 70 kg, R/R cycle 1 coded, cycles 1-3 on file, the cycle-1 step-up 9 then 28 -> no "
    "dose card (a re-treatment's step-up is no underdose)": (
        chart(*history(3, gap=14), cycle=1, steps=STEP_UP),
        [],
    ),
    "adult 70 kg, R/R cycle 1 coded, cycles 1-3 on file, 40 mcg/day -> critical overdose": (
        chart(*history(3, gap=14), cycle=1, steps=[Step(40, days=28)]),
        [OVERDOSE],
    ),
    # --- reversed dates on another order ------------------------------------------------------
    "adult 70 kg, R/R cycle 2 draft; an active cycle 2 order on file from 5 days ago whose end is "
    "typed a year before its start -> the active order overlaps (not 'ended before it began')": (
        chart(
            *history(1, gap=40),
            reversed_period(
                given(2, days_before(5), status="active", oid="blin-c2-active"),
                days_before(5) - timedelta(days=365),
            ),
            cycle=2,
            steps=[Step(28, days=23)],
        ),
        [ACTIVE_ON_FILE],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), DOSE.values(), ids=DOSE.keys())
def test_the_dose_is_judged_for_the_days_and_cycle_it_may_be(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "dose") == sorted(expected)


CYCLES: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "adult 70 kg, R/R cycle 2 12 days after cycle 1, whose order's end is typed a year before "
    "its start -> treatment-free interval (its 28 days end 12 days ago; not an infusion over a "
    "year before it began, a new course)": (
        chart(
            reversed_period(given(1, days_before(40)), days_before(40) - timedelta(days=365)),
            cycle=2,
        ),
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult 70 kg, R/R cycle 2 14 days after cycle 1, whose order's end is typed a year early -> "
    "silent": (
        chart(
            reversed_period(given(1, days_before(42)), days_before(42) - timedelta(days=365)),
            cycle=2,
        ),
        [],
    ),
    "adult 70 kg, R/R cycle 1 coded, nine cycles only the MAR records -> the history's cycle 10 "
    "is judged (unchanged by the dose fix)": (
        chart(*mar_history(9, gap=60), cycle=1, steps=[Step(28, days=28)]),
        [LIMIT_EXCEEDED, NUMBER_DISAGREES],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), CYCLES.values(), ids=CYCLES.keys())
def test_cycle_cards_for_reversed_dates_and_history(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "cycle-limits") == sorted(expected)


def test_the_day_card_names_the_signed_order_and_the_earliest_day(client: FlaskClient) -> None:
    body = client.post(
        SIGN, json=order_sign(chart(days_1_to_7(), cycle=1, steps=[Step(28, days=21)]))
    ).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "dose"]
    assert card["summary"] == (
        "Could not verify the blinatumomab dose: this order may fall on day 1 of cycle 1, "
        "where at most 9 mcg/day is allowed"
    )
    assert "blin-c1-days-1-7" in card["detail"]
    assert "2026-02-23" in card["detail"]  # signed 3 days before its first dose (02-26)
    assert "day 8 of cycle 1" in card["detail"]


def test_an_overdose_card_names_both_cycles(client: FlaskClient) -> None:
    body = client.post(
        SIGN, json=order_sign(chart(*history(3, gap=14), cycle=1, steps=[Step(40, days=28)]))
    ).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "dose"]
    assert "cycle 4 by the infusions on file (the order says 1)" in card["detail"]


def test_two_drafts_one_with_reversed_dates_overlapping(client: FlaskClient) -> None:
    """A draft whose end is typed before its start runs an unknown time: a second draft
    starting inside its first 28 days is said to overlap, not passed as 'ended already'."""
    first = reversed_period(
        blinatumomab_order(PID, [Step(28, days=28)], oid="blin-a", cycle=2),
        datetime.fromisoformat("2026-02-02T10:00:00+00:00"),
    )
    second = blinatumomab_order(
        PID, [Step(28, days=14)], oid="blin-b", cycle=2, start=(days_before(-3)).isoformat()
    )
    bundle = chart(*history(1, gap=40), cycle=2)
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["id"] != "blinatumomab-draft"]
    bundle["entry"] += [{"fullUrl": f"urn:uuid:{o['id']}", "resource": o} for o in (first, second)]
    body = client.post(SIGN, json=order_sign(bundle)).get_json()
    assert ORDERS_OVERLAP in findings_of_topic(body, "dose")
