"""Premedication judges a cycle start, a restart and a continuation as the dose check does: by the
interruption rules (`cds.interruptions.resume`, the review's `resumption`), not by the cycle
number coded on the order alone (label §2.2-2.5: premedicate before the first dose of each cycle,
before a step-up dose, and when restarting after an interruption of 4 hours or more).

EHR history rarely carries the cycle extension: an order coded cycle 2 that resumes, 3 hours after
the bag stopped, an infusion the history does not number is either that same cycle 2 continuing
or a continuation mis-coded; a cycle start 3 hours after 10 of its 28 days is neither (label
§2.4: an interruption of 7 days or less continues the same cycle). Either reading needs no
premedication under 4 hours; 4 hours or more needs it (R/R adults), and so does a new cycle after
the 14-day treatment-free interval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import SIGN
from tests.fixtures_util import (
    START,
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

PID = "pt-premed-resume"
RESTART = datetime.fromisoformat(START)  # 2026-03-02 10:00 UTC, signed at 08:00
MISSING = ("premedication", "warning", "premedication-missing")
HISTORY = "blin-cycle-bags"  # the cycle's order on file, as EHR history keeps it: no extension


def history(
    stopped: datetime,
    days: int = 10,
    *,
    cycle: int | None = None,
    kind: str = "administrations",
    indication: str = "relapsed-refractory",
) -> list[dict[str, Any]]:
    """`days` days of 28 mcg/day ending at `stopped`: `kind` "administrations" (the order, stopped,
    and the MAR's daily bags), "mar-only" (the bags alone) or "order" (a completed order whose
    plan ends then, no MAR)."""
    began = stopped - timedelta(days=days)
    order = blinatumomab_order(
        PID,
        [Step(28, days=days if kind == "order" else 28)],
        oid=HISTORY,
        indication=indication,
        cycle=cycle,
        start=began.isoformat(),
        status="completed" if kind == "order" else "stopped",
        authored=(began - timedelta(hours=2)).isoformat(),
    )
    if kind == "order":
        return [order]
    order["meta"] = {"lastUpdated": (stopped + timedelta(minutes=20)).isoformat()}
    bags = [
        blinatumomab_administration(
            PID,
            f"bag-{day + 1}",
            began + timedelta(days=day),
            min(began + timedelta(days=day + 1), stopped),
            request=None if kind == "mar-only" else f"MedicationRequest/{HISTORY}",
        )
        for day in range(days)
    ]
    return bags if kind == "mar-only" else [order, *bags]


def stopped_at_signing() -> dict[str, Any]:
    """The cycle's uncoded 28-day order, begun 10 days before the draft, its status set to stopped
    when the draft was signed (meta.lastUpdated 08:00): no administration says when it stopped."""
    began = RESTART - timedelta(days=10)
    order = blinatumomab_order(
        PID,
        [Step(28, days=28)],
        oid=HISTORY,
        cycle=None,
        start=began.isoformat(),
        status="stopped",
        authored=(began - timedelta(hours=2)).isoformat(),
    )
    order["meta"] = {"lastUpdated": (RESTART - timedelta(hours=2)).isoformat()}
    return order


def draft(cycle: int | None = 2, days: int = 18, indication: str = "relapsed-refractory") -> Any:
    return blinatumomab_order(
        PID, [Step(28, days=days)], cycle=cycle, indication=indication, start=RESTART.isoformat()
    )


def dexamethasone_hour_before() -> dict[str, Any]:
    return dexamethasone_order(PID, 20, when=(RESTART - timedelta(hours=1)).isoformat())


def chart(*resources: dict[str, Any]) -> dict[str, Any]:
    body = [patient(PID, birth_date="1970-02-14"), weight(PID, 80), height(PID, 178)]
    return bundle([*body, *resources])


def gap(hours: int, minutes: int = 0) -> datetime:
    """When the bag stopped, `hours` h `minutes` min before the draft order starts."""
    return RESTART - timedelta(hours=hours, minutes=minutes)


# the cycle's 28 days complete, then the 14 treatment-free days: the next order starts a cycle
AFTER_FREE_INTERVAL = RESTART - timedelta(days=14)

SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # the defect: the coded cycle 2 made a 3-hour gap a cycle start
    "coded cycle 2, MAR history uncoded, stopped 3 h ago, no dexamethasone -> silent": (
        chart(*history(gap(3)), draft(cycle=2)),
        [],
    ),
    "coded cycle 2, MAR bags alone (no order), stopped 3 h ago -> silent": (
        chart(*history(gap(3), kind="mar-only"), draft(cycle=2)),
        [],
    ),
    "coded cycle 2, an uncoded completed order ending 3 h ago (no MAR) -> silent": (
        chart(*history(gap(3), kind="order"), draft(cycle=2)),
        [],
    ),
    "uncoded draft, MAR history uncoded, stopped 3 h ago -> silent": (
        chart(*history(gap(3)), draft(cycle=None)),
        [],
    ),
    "coded cycle 2, history coded cycle 2, stopped 3 h ago -> silent": (
        chart(*history(gap(3), cycle=2), draft(cycle=2)),
        [],
    ),
    "MRD-positive adult, coded cycle 2, history uncoded, stopped 3 h ago -> silent": (
        chart(*history(gap(3), indication="mrd-positive"), draft(2, indication="mrd-positive")),
        [],
    ),
    # the stop dated only by an edit made with this order (interruptions.yaml stop_edit_window):
    # 4 hours or more cannot be ruled out, and the card says so (not "first dose of the cycle")
    "coded cycle 2, stopped order edited at signing, no MAR, no dexamethasone -> unverified": (
        chart(stopped_at_signing(), draft(cycle=2)),
        [("premedication", "warning", "premedication-restart-unverified")],
    ),
    # the label's boundary: "4 hours or more"
    "coded cycle 2, history uncoded, stopped 3 h 59 min ago -> silent": (
        chart(*history(gap(3, 59)), draft(cycle=2)),
        [],
    ),
    "coded cycle 2, history uncoded, stopped 4 h 00 min ago, no dexamethasone -> warning": (
        chart(*history(gap(4)), draft(cycle=2)),
        [MISSING],
    ),
    "uncoded draft, history uncoded, stopped 4 h 00 min ago, no dexamethasone -> warning": (
        chart(*history(gap(4)), draft(cycle=None)),
        [MISSING],
    ),
    "coded cycle 2, history coded cycle 2, stopped 4 h 00 min ago -> warning": (
        chart(*history(gap(4), cycle=2), draft(cycle=2)),
        [MISSING],
    ),
    "coded cycle 2, an uncoded completed order ending 4 h 00 min ago (no MAR) -> warning": (
        chart(*history(gap(4), kind="order"), draft(cycle=2)),
        [MISSING],
    ),
    "coded cycle 2, history uncoded, stopped 8 h ago, no dexamethasone -> warning": (
        chart(*history(gap(8)), draft(cycle=2)),
        [MISSING],
    ),
    "coded cycle 2, history uncoded, stopped 4 h 00 min ago, dexamethasone 1 h before -> silent": (
        chart(*history(gap(4)), draft(cycle=2), dexamethasone_hour_before()),
        [],
    ),
    # a new cycle after the 14-day treatment-free interval
    "coded cycle 2 after 28 uncoded days and 14 days free, no dexamethasone -> warning": (
        chart(*history(AFTER_FREE_INTERVAL, days=28), draft(cycle=2, days=28)),
        [MISSING],
    ),
    "uncoded draft after 28 uncoded days and 14 days free, no dexamethasone -> warning": (
        chart(*history(AFTER_FREE_INTERVAL, days=28), draft(cycle=None, days=28)),
        [MISSING],
    ),
    "coded cycle 2 after 28 uncoded days and 14 days free, dexamethasone 1 h before -> silent": (
        chart(
            *history(AFTER_FREE_INTERVAL, days=28),
            draft(cycle=2, days=28),
            dexamethasone_hour_before(),
        ),
        [],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_premedication_follows_the_interruption_rules(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "premedication") == sorted(expected), [
        c["summary"] for c in body["cards"]
    ]


def test_a_restart_after_4_hours_is_named_a_restart_not_a_cycle_start(
    client: FlaskClient,
) -> None:
    """The warning at 4 h 00 min on an order coded cycle 2 says why premedication is due."""
    body = client.post(SIGN, json=order_sign(chart(*history(gap(4)), draft(2)))).get_json()
    (card,) = [c for c in body["cards"] if c["source"]["topic"]["code"] == "premedication"]
    assert card["indicator"] == "warning"
    assert "restart after an interruption" in card["summary"], card["summary"]


# An evening restart (-05:00): the premedication window is counted in hours back from the restart
# time, not by calendar day. The bag stopped at 14:00 local, the restart is at 21:00 local (02:00
# UTC the next day), the orders signed at 20:00 local.
LOCAL = "-05:00"
EVENING_STOP = datetime.fromisoformat(f"2026-03-02T14:00:00{LOCAL}")
EVENING_RESTART = datetime.fromisoformat(f"2026-03-02T21:00:00{LOCAL}")
EVENING_SIGNED = datetime.fromisoformat(f"2026-03-02T20:00:00{LOCAL}")
TIMED_AFTER = ("premedication", "warning", "premedication-timed-after-start")


def evening_chart(*premeds: dict[str, Any]) -> dict[str, Any]:
    stopped = history(EVENING_STOP)
    restart = blinatumomab_order(
        PID,
        [Step(28, days=18)],
        cycle=2,
        start=EVENING_RESTART.isoformat(),
        authored=EVENING_SIGNED.isoformat(),
    )
    return chart(*stopped, restart, *premeds)


def dexamethasone_at(when: str, status: str = "draft") -> dict[str, Any]:
    order = dexamethasone_order(PID, 20, when=when)
    order["status"] = status
    order["authoredOn"] = EVENING_SIGNED.isoformat()
    return order


EVENING: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "restart 21:00, no dexamethasone -> warning": (evening_chart(), [MISSING]),
    "restart 21:00, dexamethasone drafted for 20:30 the same evening -> silent": (
        evening_chart(dexamethasone_at(f"2026-03-02T20:30:00{LOCAL}")),
        [],
    ),
    "restart 21:00, dexamethasone active for 20:30 the same evening (sent in UTC) -> silent": (
        evening_chart(dexamethasone_at("2026-03-03T01:30:00+00:00", "active")),
        [],
    ),
    "restart 21:00, dexamethasone drafted for 08:00 the next morning -> after the restart": (
        evening_chart(dexamethasone_at(f"2026-03-03T08:00:00{LOCAL}")),
        [TIMED_AFTER],
    ),
    "restart 21:00, dexamethasone active for 08:00 the next morning -> after the restart": (
        evening_chart(dexamethasone_at(f"2026-03-03T08:00:00{LOCAL}", "active")),
        [TIMED_AFTER],
    ),
    "restart 21:00, dexamethasone drafted for 08:00 that morning (13 h before) -> too early": (
        evening_chart(dexamethasone_at(f"2026-03-02T08:00:00{LOCAL}")),
        [("premedication", "warning", "premedication-timed-too-early")],
    ),
}


@pytest.fixture
def evening_client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(clock=lambda: EVENING_SIGNED).test_client()


@pytest.mark.parametrize(("chart_bundle", "expected"), EVENING.values(), ids=EVENING.keys())
def test_an_evening_restart_counts_the_window_in_hours_from_the_restart(
    evening_client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = evening_client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "premedication") == sorted(expected), [
        c["summary"] for c in body["cards"]
    ]


def test_a_dexamethasone_dated_the_next_day_alone_is_not_the_evening_restarts_premedication(
    evening_client: FlaskClient,
) -> None:
    """Dexamethasone "2026-03-03" (a day alone, the morning after in the export's own calendar):
    given after the 21:00 restart, it premedicates nothing; the restart has none."""
    late = dexamethasone_at(f"2026-03-02T20:30:00{LOCAL}")
    late["dosageInstruction"][0]["timing"] = {"event": ["2026-03-03"]}
    body = evening_client.post(SIGN, json=order_sign(evening_chart(late))).get_json()
    assert findings_of_topic(body, "premedication") in ([MISSING], [TIMED_AFTER])


HOSPITALISATION = ("hospitalization", "info", "hospitalization-recommended")
HOSPITAL_CASES: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # the dose check's judgement again: a 3-hour gap in an uncoded history is day 11 of the
    # cycle the order codes as 2, not its first day (label §2.3: the first 2 days of cycle 2)
    "coded cycle 2, history uncoded, stopped 3 h ago -> not the first days of cycle 2": (
        chart(*history(gap(3)), draft(cycle=2)),
        [],
    ),
    "coded cycle 2 after 28 uncoded days and 14 days free -> the first days of cycle 2": (
        chart(*history(AFTER_FREE_INTERVAL, days=28), draft(cycle=2, days=28)),
        [HOSPITALISATION],
    ),
}


@pytest.mark.parametrize(
    ("chart_bundle", "expected"), HOSPITAL_CASES.values(), ids=HOSPITAL_CASES.keys()
)
def test_hospitalisation_reads_a_resume_as_the_dose_check_does(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "hospitalization") == expected
