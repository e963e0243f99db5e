"""A step-up written as two orders, or as two dosages of one order, as EHRs date it (task D of
2026-12-03): a day given alone means the same calendar day in every order of one call, whatever
offset each order's authoredOn carries; an active order on file hands over to a draft as two
drafts do; hours both dosages of one order state overlap as two bags running (one bag change, not
half a day); and order-select names the group of orders signed together that run at the same
time, whichever of them is selected.

Clinical scenarios through the whole service, asserting the exact dose cards (indicator, finding
code); the helpers and cards are those of `test_dose_matrix`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds import create_app
from cds.cards import FINDING_CODE_EXTENSION
from cds.settings import Settings
from tests.checks.test_dose_matrix import (
    ACTIVE_ON_FILE,
    OVERDOSE,
    OVERLAP,
    STEP_UP,
    UNDERDOSE,
    body_of,
    order,
    periods,
)
from tests.conftest import NOW, SELECT, SIGN
from tests.fixtures_util import Step, blinatumomab_order, bundle, order_select, order_sign

Chart = list[dict[str, Any]]
Cards = list[tuple[str, str]]
LOCAL = "2026-03-02T02:30:00-05:00"  # signed at the bedside, the clinician's clock (Chicago)
SERVER = "2026-03-02T07:30:00Z"  # the same morning, stamped in UTC by an integration engine


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    database = tmp_path_factory.mktemp("step-up") / "feedback.sqlite3"
    app = create_app(
        Settings(dev_mode=True, database_url=f"sqlite:///{database}"), clock=lambda: NOW
    )
    with app.test_client() as client:
        yield client


def dose_cards(service: FlaskClient, request: dict[str, Any]) -> list[dict[str, Any]]:
    response = service.post(SELECT if request["hook"] == "order-select" else SIGN, json=request)
    assert response.status_code == 200, response.get_json()
    return [c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "dose"]


def codes(cards: list[dict[str, Any]]) -> Cards:
    return sorted((c["indicator"], c["extension"][FINDING_CODE_EXTENSION]) for c in cards)


def two_drafts(
    first: tuple[str, str, str], second: tuple[str, str, str], second_dose: float = 28
) -> Chart:
    """R/R cycle 1 as two drafts signed together: (authoredOn, boundsPeriod start, end) of the
    9 mcg/day order and of the `second_dose` order."""
    days_1_to_7 = order(Step(9, days=7), cycle=1, authored=first[0])
    days_8_to_28 = order(
        Step(second_dose, days=21), cycle=1, oid="blinatumomab-draft-2", authored=second[0]
    )
    return [periods(days_1_to_7, first[1:]), periods(days_8_to_28, second[1:])]


# 1: a day given alone is the same calendar day in both orders, whatever offset each was signed in
MIXED_OFFSETS = [
    pytest.param(
        two_drafts((LOCAL, "2026-03-02", "2026-03-09"), (SERVER, "2026-03-09", "2026-03-29")),
        [],
        id="9 mcg/day 03-02 to 03-09 signed -05:00, 28 from 03-09 signed in UTC (Epic's end = "
        "next start) -> no card (was: critical overlap and critical overdose)",
    ),
    pytest.param(
        two_drafts((LOCAL, "2026-03-02", "2026-03-08"), (SERVER, "2026-03-09", "2026-03-29")),
        [],
        id="9 mcg/day 03-02 to 03-08 (inclusive) signed -05:00, 28 from 03-09 signed in UTC -> "
        "no card",
    ),
    pytest.param(
        two_drafts((SERVER, "2026-03-02", "2026-03-09"), (LOCAL, "2026-03-09", "2026-03-29")),
        [],
        id="the 9 mcg/day order signed in UTC, the 28 one -05:00 -> no card",
    ),
    pytest.param(
        two_drafts((LOCAL, "2026-03-02", "2026-03-09"), (SERVER, "2026-03-09", "2026-03-29"))[::-1],
        [],
        id="the same two orders sent day-8 order first -> no card",
    ),
    pytest.param(
        two_drafts((LOCAL, "2026-03-02", "2026-03-09"), (SERVER, "2026-03-09", "2026-03-29"), 14),
        [UNDERDOSE],
        id="mixed offsets, 14 mcg/day from day 8 -> dose low on days 8-28 (still judged)",
    ),
    pytest.param(
        two_drafts((LOCAL, "2026-03-02", "2026-03-09"), (SERVER, "2026-03-07", "2026-03-27")),
        [OVERLAP, OVERDOSE, UNDERDOSE],
        id="mixed offsets, 28 mcg/day from 03-07 (day 6) while 9 runs to 03-09 -> critical "
        "overlap and overdose (days 6-7), and 9 on day 8 judged alone: as when both orders are "
        "signed in one offset",
    ),
]


@pytest.mark.parametrize(("chart", "cards"), MIXED_OFFSETS)
def test_a_day_alone_means_the_same_day_in_every_order_of_the_call(
    service: FlaskClient, chart: Chart, cards: Cards
) -> None:
    got = dose_cards(service, order_sign(bundle([*body_of(), *chart])))
    assert codes(got) == sorted(cards), [c["summary"] for c in got]


def test_mixed_offsets_say_which_days_are_wrong(service: FlaskClient) -> None:
    chart = two_drafts((LOCAL, "2026-03-02", "2026-03-09"), (SERVER, "2026-03-07", "2026-03-27"))
    got = dose_cards(service, order_sign(bundle([*body_of(), *chart])))
    [overdose] = [c for c in got if c["extension"][FINDING_CODE_EXTENSION] == "dose-overdose"]
    assert "days 6–7" in overdose["summary"], overdose["summary"]


# 2: the 9 mcg/day order of days 1-7 active on file hands over to the day-8 draft as two drafts do
def on_file(bounds: tuple[str, str], authored: str = "2026-02-23T08:00:00+00:00") -> dict[str, Any]:
    """R/R cycle 1's days 1-7 at 9 mcg/day, active in the chart, begun 02-23 (03-02 is day 8)."""
    active = blinatumomab_order(
        "pt-dose",
        (Step(9, days=7),),
        oid="blinatumomab-c1",
        start="2026-02-23T10:00:00+00:00",
        status="active",
        authored=authored,
    )
    return periods(active, bounds)


def day_8_draft(bounds: tuple[str, str], authored: str = "2026-03-02T08:00:00+00:00") -> Chart:
    return [periods(order(Step(28, days=21), cycle=1, authored=authored), bounds)]


ACTIVE_HAND_OVERS = [
    pytest.param(
        [on_file(("2026-02-23", "2026-03-02")), *day_8_draft(("2026-03-02", "2026-03-22"))],
        [],
        id="on file 02-23 to 03-02 (end = the draft's start), draft from 03-02 -> no card (was: "
        "'an active order runs on this order's days')",
    ),
    pytest.param(
        [
            on_file(("2026-02-23", "2026-03-02"), authored="2026-02-23T03:00:00-05:00"),
            *day_8_draft(("2026-03-02", "2026-03-22")),
        ],
        [],
        id="the same, the order on file signed -05:00 and the draft in UTC -> no card",
    ),
    pytest.param(
        [
            on_file(("2026-02-23T10:00:00Z", "2026-03-02T10:40:00Z")),
            *day_8_draft(("2026-03-02T10:00:00Z", "2026-03-23T10:00:00Z")),
        ],
        [],
        id="on file until 10:40, draft hung at 10:00 (a bag change) -> no card",
    ),
    pytest.param(
        [on_file(("2026-02-23", "2026-03-01")), *day_8_draft(("2026-03-02", "2026-03-22"))],
        [],
        id="on file 02-23 to 03-01 (inclusive), draft from 03-02 -> no card",
    ),
    pytest.param(
        [on_file(("2026-02-23", "2026-03-04")), *day_8_draft(("2026-03-02", "2026-03-22"))],
        [ACTIVE_ON_FILE],
        id="on file to 03-04, the draft from 03-02 -> warning, both run on 03-02 to 03-04",
    ),
    pytest.param(
        [
            on_file(("2026-02-23T10:00:00Z", "2026-03-02T18:00:00Z")),
            *day_8_draft(("2026-03-02T10:00:00Z", "2026-03-23T10:00:00Z")),
        ],
        [ACTIVE_ON_FILE],
        id="on file until 18:00, the draft hung at 10:00 (8 h of both) -> warning",
    ),
]


@pytest.mark.parametrize(("chart", "cards"), ACTIVE_HAND_OVERS)
def test_an_active_order_on_file_hands_over_to_the_draft_as_drafts_do(
    service: FlaskClient, chart: Chart, cards: Cards
) -> None:
    got = dose_cards(service, order_sign(bundle([*body_of(), *chart])))
    assert codes(got) == sorted(cards), [c["summary"] for c in got]


# 3: the dosages of ONE order, both bounds timed: overlapping beyond a bag change is two bags
def one_order(first_end: str, second_start: str) -> dict[str, Any]:
    return periods(
        order(*STEP_UP, cycle=1),
        ("2026-03-02T10:00:00Z", first_end),
        (second_start, "2026-03-30T10:00:00Z"),
    )


ONE_ORDER_OVERLAPS = [
    pytest.param(
        one_order("2026-03-09T20:00:00Z", "2026-03-09T09:00:00Z"),
        [OVERDOSE],
        id="9 mcg/day until 03-09 20:00, 28 from 03-09 09:00 (11 h of both) -> critical 37 mcg/day "
        "on day 8 (was: a hand-over, no card)",
    ),
    pytest.param(
        one_order("2026-03-09T16:00:00Z", "2026-03-09T10:00:00Z"),
        [OVERDOSE],
        id="6 h of both -> critical 37 mcg/day on day 8 (was: no card)",
    ),
    pytest.param(
        one_order("2026-03-09T23:00:00Z", "2026-03-09T10:00:00Z"),
        [OVERDOSE],
        id="13 h of both -> critical 37 mcg/day on day 8 (as before)",
    ),
    pytest.param(
        one_order("2026-03-09T11:00:00Z", "2026-03-09T10:00:00Z"),
        [],
        id="an hour of both (a bag change) -> no card",
    ),
    pytest.param(
        one_order("2026-03-09T10:30:00Z", "2026-03-09T10:00:00Z"),
        [],
        id="half an hour of both -> no card",
    ),
]


@pytest.mark.parametrize(("resource", "cards"), ONE_ORDER_OVERLAPS)
def test_timed_dosages_of_one_order_overlapping_beyond_a_bag_change_are_given_together(
    service: FlaskClient, resource: dict[str, Any], cards: Cards
) -> None:
    got = dose_cards(service, order_sign(bundle([*body_of(), resource])))
    assert codes(got) == sorted(cards), [c["summary"] for c in got]
    if cards:
        [card] = got
        assert "37 mcg/day in all" in card["summary"], card["summary"]
        assert "day 8" in card["summary"], card["summary"]
        assert not card.get("suggestions"), "no one-click fix of dosages given together"


# 4: order-select of any order of a group of drafts running at the same time shows the group
def copies() -> Chart:
    return [
        order(Step(28, days=28), cycle=2),
        order(Step(28, days=28), cycle=2, oid="blinatumomab-draft-2"),
    ]


@pytest.mark.parametrize(
    "selected",
    [
        ("MedicationRequest/blinatumomab-draft-2",),
        ("MedicationRequest/blinatumomab-draft",),
        ("MedicationRequest/blinatumomab-draft", "MedicationRequest/blinatumomab-draft-2"),
        ("MedicationRequest/blinatumomab-draft-2", "MedicationRequest/blinatumomab-draft"),
    ],
    ids=["the second selected (was: nothing)", "the first", "both", "both, second named first"],
)
def test_order_select_of_any_order_of_a_group_shows_the_group_once(
    service: FlaskClient, selected: tuple[str, ...]
) -> None:
    got = dose_cards(service, order_select(bundle([*body_of(), *copies()]), *selected))
    assert codes(got) == [OVERLAP], [c["summary"] for c in got]
    [card] = got
    others = {"MedicationRequest/blinatumomab-draft", "MedicationRequest/blinatumomab-draft-2"}
    assert any(o in card["detail"] for o in others), card["detail"]


def test_order_select_of_an_order_beside_none_shows_no_overlap(service: FlaskClient) -> None:
    """The second order of a correct step-up selected alone: nothing runs beside it."""
    chart = two_drafts((SERVER, "2026-03-02", "2026-03-09"), (SERVER, "2026-03-09", "2026-03-29"))
    request = order_select(bundle([*body_of(), *chart]), "MedicationRequest/blinatumomab-draft-2")
    assert dose_cards(service, request) == []
