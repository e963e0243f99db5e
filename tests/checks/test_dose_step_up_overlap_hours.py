"""A step-up's 9 and 28 mcg/day dosages overlapping by hours both sides state (red team rt12-d,
2026-12-03): the hours of both are judged as the sum whatever cycle days the steps' lengths give;
a midnight end is a day only beside a day (a start given alone or at 00:00), not beside a start
at 13:00; and a day-8 order given as the day a timed day-7 order ends takes over when that one
ends, in the overlap card as in the dose cards.

Clinical scenarios through the whole service (adult 70.2 kg, R/R cycle 1), asserting the exact
dose cards (indicator, finding code).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.checks.test_dose_matrix import OVERDOSE, OVERLAP, body_of, order, periods
from tests.checks.test_dose_step_up_orders import (  # noqa: F401 (the module's service fixture)
    Cards,
    codes,
    dose_cards,
    service,
)
from tests.fixtures_util import Step, bundle, order_sign

STEP_UP = (Step(9, days=7), Step(28, days=21))
CHICAGO = "2026-03-02T07:00:00-05:00"  # signed at the bedside


def one_order(
    first: tuple[str, str], second: tuple[str, str], sequenced: bool = True
) -> dict[str, Any]:
    """R/R cycle 1 as one order: 9 mcg/day over `first`, 28 mcg/day over `second` (boundsPeriod
    start, end); `sequenced`: the dosages carry sequence 1 and 2 (else none, as some EHRs)."""
    resource = periods(order(*STEP_UP, cycle=1, authored=CHICAGO), first, second)
    if not sequenced:
        for dosage in resource["dosageInstruction"]:
            dosage.pop("sequence", None)
    return resource


def unsequenced(resource: dict[str, Any]) -> dict[str, Any]:
    resource = copy.deepcopy(resource)
    for dosage in resource["dosageInstruction"]:
        dosage.pop("sequence", None)
    return resource


# 1: timed dosages of one order overlapping beyond a bag change, whatever days their lengths give
TIMED_OVERLAPS = [
    pytest.param(
        one_order(
            ("2026-03-02T10:00:00-05:00", "2026-03-09T10:00:00-05:00"),
            ("2026-03-09T04:00:00-05:00", "2026-03-30T04:00:00-05:00"),
        ),
        [OVERDOSE],
        "day 8",
        id="F1: 9 mcg/day for exactly 7 days to 03-09 10:00, 28 from 03-09 04:00 (6 h of both) "
        "-> critical 37 mcg/day on day 8 (was: no dose card)",
    ),
    pytest.param(
        one_order(
            ("2026-03-02T10:00:00-05:00", "2026-03-09T10:00:00-05:00"),
            ("2026-03-09T04:00:00-05:00", "2026-03-30T04:00:00-05:00"),
            sequenced=False,
        ),
        [OVERDOSE],
        "day 8",
        id="F1 without sequence numbers -> critical 37 mcg/day on day 8 (was: no dose card)",
    ),
    pytest.param(
        one_order(
            ("2026-03-02T14:00:00-05:00", "2026-03-09T13:00:00-05:00"),
            ("2026-03-09T03:00:00-05:00", "2026-03-30T03:00:00-05:00"),
        ),
        [OVERDOSE],
        "day 8",
        id="F1b: 9 mcg/day 03-02 14:00 to 03-09 13:00, 28 from 03-09 03:00 (10 h of both) -> "
        "critical 37 mcg/day on day 8 (was: no dose card)",
    ),
    pytest.param(
        one_order(
            ("2026-03-02T10:00:00Z", "2026-03-09T02:00:00Z"),
            ("2026-03-08T20:00:00Z", "2026-03-29T20:00:00Z"),
        ),
        [OVERDOSE],
        "day 7",
        id="9 mcg/day to 03-09 02:00, 28 from 03-08 20:00 (6 h of both across midnight) -> "
        "critical 37 mcg/day on day 7 (the day the steps' days share)",
    ),
]


@pytest.mark.parametrize(("resource", "cards", "days"), TIMED_OVERLAPS)
def test_hours_of_both_dosages_of_one_order_are_judged_whatever_the_days(
    service: FlaskClient,  # noqa: F811
    resource: dict[str, Any],
    cards: Cards,
    days: str,
) -> None:
    got = dose_cards(service, order_sign(bundle([*body_of(), resource])))
    assert codes(got) == sorted(cards), [c["summary"] for c in got]
    [card] = got
    assert "37 mcg/day in all" in card["summary"], card["summary"]
    assert days in card["summary"], card["summary"]
    assert not card.get("suggestions"), "no one-click fix of dosages given together"


# 2: a midnight end is a day beside a day only, not beside a start at a time of day
MIDNIGHT_ENDS = [
    pytest.param(
        one_order(
            ("2026-03-02T10:00:00-05:00", "2026-03-09T00:00:00-05:00"),
            ("2026-03-08T13:00:00-05:00", "2026-03-29T13:00:00-05:00"),
        ),
        [OVERDOSE],
        id="F2: 9 mcg/day to 03-09 00:00, 28 from 03-08 13:00 (11 h of both on day 7) -> "
        "critical (was: a whole-day hand-over, no card)",
    ),
    pytest.param(
        one_order(
            ("2026-03-02T10:00:00-05:00", "2026-03-09T00:00:00-05:00"),
            ("2026-03-08T22:00:00-05:00", "2026-03-29T22:00:00-05:00"),
        ),
        [OVERDOSE],
        id="F2b: 9 mcg/day to 03-09 00:00, 28 from 03-08 22:00 (2 h of both) -> critical "
        "(was: no card)",
    ),
    pytest.param(
        one_order(
            ("2026-03-02T10:00:00-05:00", "2026-03-09T00:00:00-05:00"),
            ("2026-03-09T00:00:00-05:00", "2026-03-30T00:00:00-05:00"),
        ),
        [],
        id="9 mcg/day to 03-09 00:00, 28 from 03-09 00:00 -> no card",
    ),
    pytest.param(
        one_order(
            ("2026-03-02T10:00:00-05:00", "2026-03-09T00:00:00-05:00"),
            ("2026-03-09", "2026-03-30"),
        ),
        [],
        id="9 mcg/day to 03-09 00:00, 28 from the day 03-09 -> no card",
    ),
    pytest.param(
        one_order(("2026-03-02", "2026-03-09"), ("2026-03-09", "2026-03-30")),
        [],
        id="Epic's days: 9 mcg/day 03-02 to 03-09, 28 from 03-09 -> no card",
    ),
    pytest.param(
        one_order(
            ("2026-03-02T10:00:00-05:00", "2026-03-09T00:00:00-05:00"),
            ("2026-03-08T23:15:00-05:00", "2026-03-29T23:15:00-05:00"),
        ),
        [],
        id="9 mcg/day to 03-09 00:00, 28 hung at 03-08 23:15 (a bag change) -> no card",
    ),
    pytest.param(
        one_order(
            ("2026-03-02T00:00:00-05:00", "2026-03-09T00:00:00-05:00"),
            ("2026-03-09T00:00:00-05:00", "2026-03-30T00:00:00-05:00"),
        ),
        [],
        id="every bound at midnight, 9 to the 28's start -> no card",
    ),
]


@pytest.mark.parametrize(("resource", "cards"), MIDNIGHT_ENDS)
def test_a_midnight_end_is_a_day_only_beside_a_day(
    service: FlaskClient,  # noqa: F811
    resource: dict[str, Any],
    cards: Cards,
) -> None:
    for sent in (resource, unsequenced(resource)):
        got = dose_cards(service, order_sign(bundle([*body_of(), sent])))
        assert codes(got) == sorted(cards), [c["summary"] for c in got]
        if cards:
            [card] = got
            assert "37 mcg/day in all" in card["summary"], card["summary"]
            assert "day 7" in card["summary"], card["summary"]
            assert not card.get("suggestions"), "no one-click fix of dosages given together"


# 3: two orders: the day-8 order given as the day the timed day-7 order ends takes over from it
def two_orders(first: tuple[str, str, str], second: tuple[str, str, str]) -> list[dict[str, Any]]:
    """R/R cycle 1 as two drafts: (authoredOn, boundsPeriod start, end) of the 9 and 28 orders."""
    days_1_to_7 = order(Step(9, days=7), cycle=1, oid="blinatumomab-c1-d1-7", authored=first[0])
    days_8_to_28 = order(
        Step(28, days=21), cycle=1, oid="blinatumomab-c1-d8-28", authored=second[0]
    )
    return [periods(days_1_to_7, first[1:]), periods(days_8_to_28, second[1:])]


NINE_TIMED = (CHICAGO, "2026-03-02T10:00:00-05:00", "2026-03-09T10:00:00-05:00")
TAKE_OVERS = [
    pytest.param(
        two_orders(NINE_TIMED, ("2026-03-02T12:30:00Z", "2026-03-09", "2026-03-30")),
        [],
        id="F6: 9 mcg/day to 03-09 10:00, the 28 order from the day 03-09 (signed in UTC) -> no "
        "card: hung when the 9 ends (was: critical 'run at the same time', no overdose)",
    ),
    pytest.param(
        two_orders(NINE_TIMED, (CHICAGO, "2026-03-09", "2026-03-30")),
        [],
        id="the same, both signed -05:00 -> no card",
    ),
    pytest.param(
        two_orders(NINE_TIMED, ("2026-03-02T12:30:00Z", "2026-03-09", "2026-03-30"))[::-1],
        [],
        id="the same two orders sent day-8 order first -> no card",
    ),
    pytest.param(
        two_orders(NINE_TIMED, (CHICAGO, "2026-03-08", "2026-03-29")),
        [OVERLAP, OVERDOSE],
        id="the 28 order from the day 03-08 (a day before the 9 ends) -> critical overlap and "
        "overdose on day 7 (as before)",
    ),
]


@pytest.mark.parametrize(("chart", "cards"), TAKE_OVERS)
def test_a_day_alone_on_the_day_a_timed_order_ends_takes_over_from_it(
    service: FlaskClient,  # noqa: F811
    chart: list[dict[str, Any]],
    cards: Cards,
) -> None:
    got = dose_cards(service, order_sign(bundle([*body_of(), *chart])))
    assert codes(got) == sorted(cards), [c["summary"] for c in got]
