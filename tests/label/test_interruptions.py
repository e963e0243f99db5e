"""Golden matrix: interruptions, infusion days used, and what a resuming order is (label §2.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cds.interruptions import Period, course_began, current_cycle, merged, resume, run_end
from cds.knowledge import load_knowledge

RULES = load_knowledge().interruptions
D1 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def day(n: float, hours: float = 0) -> datetime:
    """Cycle day n (1-based) at 09:00, plus hours."""
    return D1 + timedelta(days=n - 1, hours=hours)


def infused(first: float, last_exclusive: float, hours: float = 0) -> Period:
    return Period(day(first), day(last_exclusive, hours))


CASES = [
    # scenario, earlier periods, new start, new end, kind, days used, premed, too long
    (
        "cycle 1 day 1, nothing on file -> first infusion",
        [],
        day(1),
        day(29),
        "first-infusion",
        "0",
        False,
        False,
    ),
    (
        "single order day 1 to day 30 -> runs past day 28",
        [],
        day(1),
        day(30),
        "first-infusion",
        "0",
        False,
        True,
    ),
    (
        "bag change on day 8 (no gap) -> continues",
        [infused(1, 8)],
        day(8),
        day(29),
        "continues",
        "7",
        False,
        False,
    ),
    (
        "interrupted 2 h on day 10 -> restart in the same cycle, no premedication",
        [infused(1, 10)],
        day(10, 2),
        day(29, 2),
        "restart-same-cycle",
        "9",
        False,
        False,
    ),
    (
        "interrupted 6 h on day 10 -> restart, premedicate again",
        [infused(1, 10)],
        day(10, 6),
        day(29, 6),
        "restart-same-cycle",
        "9",
        True,
        False,
    ),
    (
        "interrupted 3 days after day 10, resumes for the 19 days left -> fits",
        [infused(1, 11)],
        day(14),
        day(32),
        "restart-same-cycle",
        "10",
        True,
        False,
    ),
    (
        "interrupted 3 days, resuming order for 28 days -> longer than the days left",
        [infused(1, 11)],
        day(14),
        day(42),
        "restart-same-cycle",
        "10",
        True,
        True,
    ),
    (
        "interrupted 8 days -> a new cycle",
        [infused(1, 11)],
        day(19),
        day(47),
        "new-cycle",
        "0",
        False,
        False,
    ),
    (
        "two interruptions of 5 days: days used add up across both",
        [infused(1, 6), infused(11, 16)],
        day(21),
        day(39),
        "restart-same-cycle",
        "10",
        True,
        False,
    ),
    (
        "28 days done, then the next cycle after 14 days free -> new cycle",
        [infused(1, 29)],
        day(43),
        day(71),
        "new-cycle",
        "0",
        False,
        False,
    ),
    (
        "order and administrations overlap: counted once",
        [infused(1, 11), infused(1, 5), infused(4, 11)],
        day(14),
        day(32),
        "restart-same-cycle",
        "10",
        True,
        False,
    ),
]


@pytest.mark.parametrize(
    ("scenario", "periods", "start", "end", "kind", "used", "premed", "too_long"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_resuming_order(
    scenario: str,
    periods: list[Period],
    start: datetime,
    end: datetime,
    kind: str,
    used: str,
    premed: bool,
    too_long: bool,
) -> None:
    verdict = resume(periods, start, end, RULES)
    assert verdict.kind == kind
    assert verdict.infusion_days_used == Decimal(used)
    assert verdict.needs_restart_premedication is premed
    assert verdict.order_too_long is too_long
    assert verdict.infusion_days_left == Decimal(28) - Decimal(used)


def test_an_earlier_cycle_is_not_counted_in_the_next() -> None:
    earlier = [infused(1, 29), infused(43, 50)]  # cycle 1 complete, cycle 2 seven days so far
    cycle = current_cycle(earlier, day(51), RULES)
    assert cycle.infusion_days_used == 7
    assert cycle.periods == (infused(43, 50),)


def test_periods_that_touch_are_merged_and_empty_ones_dropped() -> None:
    assert merged([infused(1, 3), infused(3, 5), Period(day(9), day(9))]) == [infused(1, 5)]


NEW_COURSE_AFTER = timedelta(days=112)  # cycles.yaml new_course_after_days


@pytest.mark.parametrize(
    ("periods", "new_start", "boundary", "began"),
    [
        pytest.param([], day(1), None, None, id="nothing on file -> no earlier course"),
        pytest.param(
            [infused(1, 29), infused(43, 71)],
            day(85),
            None,
            None,
            id="cycles 1-2, 14 days free each -> one course",
        ),
        pytest.param(
            [infused(1, 29)],
            day(29 + 112),
            None,
            None,
            id="exactly 112 days after the last infusion -> the same course",
        ),
        pytest.param(
            [infused(1, 29)],
            day(29 + 113),
            None,
            day(29 + 113),
            id="113 days after the last infusion -> a new course from this order",
        ),
        pytest.param(
            [infused(1, 29), infused(300, 328)],
            day(342),
            None,
            day(300),
            id="a course in year one, cycle 1 of another 271 days later -> the second course",
        ),
        pytest.param(
            [infused(1, 29), infused(43, 71)],
            day(120),
            day(29),
            day(43),
            id="another indication's infusions until day 29 -> the course begins at day 43",
        ),
        pytest.param(
            [infused(1, 29)],
            day(60),
            day(29),
            day(60),
            id="only another indication's infusions on file -> a new course from this order",
        ),
    ],
)
def test_course_began(
    periods: list[Period], new_start: datetime, boundary: datetime | None, began: datetime | None
) -> None:
    assert course_began(periods, new_start, NEW_COURSE_AFTER, boundary) == began


def test_run_end_is_the_end_of_the_joined_infusion_running_then() -> None:
    periods = [infused(1, 8), infused(8, 29), infused(43, 50)]
    assert run_end(periods, day(3)) == day(29)
    assert run_end(periods, day(35)) == day(35)
