"""Cycle limits and intervals (label §2.2-2.5): more cycles than the indication allows, a new cycle
inside the previous cycle's treatment-free interval, or a cycle continued after an interruption of
more than 7 days -> warning; correct sequences and a first cycle -> silent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.fhir.bundle import request_from_bundle
from cds.interruptions import Period, resume
from cds.knowledge import KNOWLEDGE_DIR, load_knowledge
from tests.conftest import FIXTURES, SIGN, load_json, without_prefetch
from tests.fixtures_util import (
    START,
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

PID = "pt-cycles"
TOPIC = "cycle-limits"
BEGIN = datetime.fromisoformat(START)  # the draft order's infusion starts 2026-03-02T10:00Z
STEP_UP = [Step(9, days=7), Step(28, days=21)]
FULL = [Step(28, days=28)]
RR, MRD, CONSOLIDATION = "relapsed-refractory", "mrd-positive", "consolidation"


def free_days(indication: str, cycle: int) -> int:
    """The label's treatment-free days after `cycle` (R/R 6-9: 56; otherwise 14)."""
    return 56 if indication == RR and cycle >= 6 else 14


def given(
    cycle: int | None,
    start: datetime,
    *,
    indication: str | None = RR,
    days: int = 28,
    status: str = "completed",
    oid: str | None = None,
) -> dict[str, Any]:
    """An earlier blinatumomab order of `cycle` (None: no cycle extension) from `start`."""
    steps = [Step(9, days=7), Step(28, days=days - 7)] if cycle == 1 and indication == RR else None
    return blinatumomab_order(
        PID,
        steps or [Step(28, days=days)],
        oid=oid or f"blin-c{cycle}-{start.date()}",
        indication=indication,
        cycle=cycle,
        start=start.isoformat(),
        status=status,
        authored=(start - timedelta(hours=2)).isoformat(),
    )


def one_bag_orders(last_bag_ended: int) -> list[dict[str, Any]]:
    """MRD-positive cycle 1 written as four orders of one 7-day bag each (expectedSupplyDuration
    7 d, numberOfRepeatsAllowed 0, a start and no end), the last bag ending `last_bag_ended` days
    before the draft order starts."""
    bags = []
    for bag in range(4):
        start = days_before(last_bag_ended + 28 - 7 * bag)
        order = given(None, start, indication=MRD, oid=f"blin-bag-{bag + 1}")
        repeat = order["dosageInstruction"][0]["timing"]["repeat"]
        del repeat["boundsPeriod"]["end"]
        order["dispenseRequest"] = {
            "numberOfRepeatsAllowed": 0,
            "expectedSupplyDuration": {"value": 7, "unit": "days", "system": UCUM, "code": "d"},
        }
        bags.append(order)
    return bags


def history(cycles: int, indication: str = RR, gap: int | None = None) -> list[dict[str, Any]]:
    """Cycles 1..`cycles`, each 28 days then its treatment-free interval, the last one ending
    `gap` days (default: exactly the interval it needs) before the draft order starts."""
    if cycles == 0:
        return []
    gap = free_days(indication, cycles) if gap is None else gap
    starts = [BEGIN - timedelta(days=gap + 28)]
    for cycle in range(cycles - 1, 0, -1):
        starts.insert(0, starts[0] - timedelta(days=28 + free_days(indication, cycle)))
    return [given(n, s, indication=indication) for n, s in enumerate(starts, start=1)]


def chart(
    *earlier: dict[str, Any],
    cycle: int | None,
    indication: str | None = RR,
    steps: list[Step] | None = None,
) -> dict[str, Any]:
    """A 70 kg adult's draft blinatumomab order of `cycle` starting 2026-03-02, with `earlier`
    blinatumomab orders in the medication history."""
    draft = blinatumomab_order(
        PID,
        steps or (STEP_UP if cycle == 1 and indication == RR else FULL),
        indication=indication,
        cycle=cycle,
    )
    return bundle(
        [
            patient(PID, birth_date="1969-11-23", given="Jonas", family="Lindqvist"),
            weight(PID, 70),
            height(PID, 176),
            draft,
            dexamethasone_order(PID, 20),
            *earlier,
        ]
    )


def days_before(days: int) -> datetime:
    return BEGIN - timedelta(days=days)


def stopped_c1(given: int, gap: int) -> dict[str, Any]:
    """R/R cycle 1's order (coded), stopped after `given` days (its meta.lastUpdated), `gap` days
    before the draft order starts."""
    order = blinatumomab_order(
        PID,
        STEP_UP,
        oid="blin-c1-stopped",
        indication=RR,
        cycle=1,
        start=days_before(given + gap).isoformat(),
        status="stopped",
        authored=(days_before(given + gap) - timedelta(hours=2)).isoformat(),
    )
    return order | {"meta": {"lastUpdated": days_before(gap).isoformat()}}


def stopped_c2(given_days: float, gap_days: float) -> dict[str, Any]:
    """R/R cycle 2's order (coded), stopped (its meta.lastUpdated) after `given_days` days of
    infusion, `gap_days` before the draft order starts: a stop and a restart at different clock
    times (red team rt-noise2 N1)."""
    began = BEGIN - timedelta(days=given_days + gap_days)
    order = blinatumomab_order(
        PID,
        FULL,
        oid="blin-c2-stopped-clock",
        indication=RR,
        cycle=2,
        start=began.isoformat(),
        status="stopped",
        authored=(began - timedelta(hours=2)).isoformat(),
    )
    return order | {"meta": {"lastUpdated": (BEGIN - timedelta(days=gap_days)).isoformat()}}


def restarted_c2(given_days: float, gap_days: float, ordered_days: int) -> dict[str, Any]:
    """Cycle 1 complete, cycle 2 stopped after `given_days` and restarted `gap_days` later by
    an order of `ordered_days` whole days."""
    return chart(
        *history(1, gap=40),
        stopped_c2(given_days, gap_days),
        cycle=2,
        steps=[Step(28, days=ordered_days)],
    )


def ending_after(chart_bundle: dict[str, Any], hours: float) -> dict[str, Any]:
    """`chart_bundle` with its draft order (one step) ending `hours` after it starts."""
    for entry in chart_bundle["entry"]:
        if entry["resource"]["id"] == "blinatumomab-draft":
            bounds = entry["resource"]["dosageInstruction"][-1]["timing"]["repeat"]["boundsPeriod"]
            bounds["end"] = (BEGIN + timedelta(hours=hours)).isoformat()
    return chart_bundle


def bags(start: datetime, count: int, days: int = 7) -> list[dict[str, Any]]:
    """A cycle as only the MAR knows it: `count` bags of `days` days each, hung 30 minutes after
    the one before ended (no order on file, no cycle number)."""
    hung = [start + timedelta(days=days * i, minutes=30 * i) for i in range(count)]
    return [
        blinatumomab_administration(PID, f"bag-{i}", at, at + timedelta(days=days))
        for i, at in enumerate(hung)
    ]


def new_bags_only(order_id: str, start: datetime, count: int, hours: int) -> list[dict[str, Any]]:
    """A MAR that records each bag only when it was hung (effectiveDateTime, no end), `hours`
    apart, as "new bag" events of the order `order_id`."""
    hung = [start + timedelta(hours=hours * i) for i in range(count)]
    events = []
    for i, at in enumerate(hung):
        bag = blinatumomab_administration(
            PID, f"new-bag-{i}", at, at, request=f"MedicationRequest/{order_id}"
        )
        del bag["effectivePeriod"]
        events.append(bag | {"effectiveDateTime": at.isoformat()})
    return events


# The cards of the golden matrix: (topic, indicator, finding code).
NOT_RUN = ("cycle-limits", "warning", "check-not-run")
ALREADY_COMPLETE = ("cycle-limits", "warning", "cycle-already-complete")
INTERRUPTION_NEW_CYCLE = ("cycle-limits", "warning", "cycle-interruption-new-cycle")
LIMIT_EXCEEDED = ("cycle-limits", "warning", "cycle-limit-exceeded")
NUMBER_UNKNOWN = ("cycle-limits", "warning", "cycle-number-unknown")
TREATMENT_FREE_INTERVAL = ("cycle-limits", "warning", "cycle-treatment-free-interval")
RESUME_TOO_LONG = ("cycle-limits", "warning", "cycle-resume-too-long")
PAST_DAY_28 = ("cycle-limits", "warning", "cycle-runs-past-day-28")
NUMBER_DISAGREES = ("cycle-limits", "warning", "cycle-number-disagrees")
DATES_UNVERIFIED = ("cycle-limits", "warning", "cycle-dates-unverified")


def signed_only(order: dict[str, Any], *, signed: datetime) -> dict[str, Any]:
    """An earlier order as an EHR sends it with only its signing time: `authoredOn` `signed`
    (before the first dose), boundsDuration for boundsPeriod, and no administration on file."""
    for dosage in order["dosageInstruction"]:
        repeat = dosage["timing"]["repeat"]
        period = repeat.pop("boundsPeriod", None)
        if period is not None:
            ends = datetime.fromisoformat(period["end"])
            days = (ends - datetime.fromisoformat(period["start"])).days
            repeat["boundsDuration"] = {"value": days, "unit": "d", "system": UCUM, "code": "d"}
    return order | {"authoredOn": signed.isoformat()}


def mar_history(cycles: int, gap: int) -> list[dict[str, Any]]:
    """R/R cycles 1..`cycles` as only the MAR records them (four weekly bags each, no order on
    file), each followed by its treatment-free interval, the last ending `gap` days before the
    draft order starts."""
    starts = [days_before(gap + 28)]
    for cycle in range(cycles - 1, 0, -1):
        starts.insert(0, starts[0] - timedelta(days=28 + free_days(RR, cycle)))
    return [
        bag | {"id": f"c{number}-{bag['id']}"}
        for number, start in enumerate(starts, start=1)
        for bag in bags(start, 4)
    ]


SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "adult 70 kg, R/R cycle 1, no history -> silent": (chart(cycle=1), []),
    "adult 70 kg, R/R cycle 10 after 9 cycles -> warning (max 9)": (
        chart(*history(9), cycle=10),
        [LIMIT_EXCEEDED],
    ),
    "adult 70 kg, R/R cycle 9 after 8 cycles, 56 days free -> silent": (
        chart(*history(8), cycle=9),
        [],
    ),
    "adult 70 kg, MRD-positive cycle 5 after 4 cycles -> warning (max 4)": (
        chart(*history(4, MRD), cycle=5, indication=MRD),
        [LIMIT_EXCEEDED],
    ),
    "adult 70 kg, MRD-positive cycle 4 after 3 cycles -> silent": (
        chart(*history(3, MRD), cycle=4, indication=MRD),
        [],
    ),
    "adult 70 kg, consolidation cycle 5 after 4 cycles -> warning at most": (
        chart(*history(4, CONSOLIDATION), cycle=5, indication=CONSOLIDATION),
        [LIMIT_EXCEEDED],
    ),
    "adult 70 kg, consolidation cycle 2 after 8 weeks of chemotherapy -> silent": (
        chart(
            given(1, days_before(84), indication=CONSOLIDATION), cycle=2, indication=CONSOLIDATION
        ),
        [],
    ),
    "adult 70 kg, indication unknown, cycle 10 after 9 cycles -> warning (highest max 9)": (
        chart(*history(9), cycle=10, indication=None),
        [LIMIT_EXCEEDED],
    ),
    "adult 70 kg, R/R cycle 2 starting 10 days after cycle 1 ended -> warning (14 days)": (
        chart(*history(1, gap=10), cycle=2),
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult 70 kg, R/R cycle 2 starting 5 days after a whole un-numbered cycle -> warning": (
        chart(given(None, days_before(33)), cycle=2),  # 28 days, ended 5 days ago, no extension
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult 70 kg, R/R cycle 2, 5 days after 4 weekly bags the MAR alone records -> warning": (
        chart(*bags(days_before(33), 4), cycle=2),
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult 70 kg, R/R cycle 2, 20 days after 4 weekly bags the MAR alone records -> silent": (
        chart(*bags(days_before(48), 4), cycle=2),
        [],
    ),
    "adult 70 kg, R/R cycle 2, 5 days after a 10-day un-numbered infusion -> resumed, too long": (
        chart(given(None, days_before(15), days=10, status="stopped"), cycle=2),
        [RESUME_TOO_LONG],  # this cycle, interrupted (not a cycle before it): 18 days left
    ),
    "adult 70 kg, R/R cycle 2 exactly 14 days after cycle 1 ended -> silent": (
        chart(*history(1, gap=14), cycle=2),
        [],
    ),
    "adult 70 kg, R/R cycle 7 starting 30 days after cycle 6 ended -> warning (56 days)": (
        chart(*history(6, gap=30), cycle=7),
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult 70 kg, R/R cycle 6 starting 14 days after cycle 5 ended -> silent": (
        chart(*history(5, gap=14), cycle=6),
        [],
    ),
    "adult 70 kg, MRD-positive cycle 3 starting 7 days after cycle 2 ended -> warning": (
        chart(*history(2, MRD, gap=7), cycle=3, indication=MRD),
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult 70 kg, MRD cycle 1 as four one-bag orders (7-day bag, no refills, no end), cycle 2 "
    "14 days after the last bag -> silent (each order lasts its bag, not 28 days)": (
        chart(*one_bag_orders(14), cycle=2, indication=MRD),
        [],
    ),
    "adult 70 kg, the same one-bag orders, cycle 2 3 days after the last bag -> warning": (
        chart(*one_bag_orders(3), cycle=2, indication=MRD),
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult 70 kg, an order with no indication nor cycle after four MRD-positive cycles on file "
    "-> warning: cycle 5 of MRD-positive treatment exceeds its 4": (
        chart(*history(4, indication=MRD), cycle=None, indication=None),
        [LIMIT_EXCEEDED],
    ),
    "adult 70 kg, cycle 7 coded with no indication 20 days after six R/R-coded cycles -> "
    "warning: the course is R/R, whose cycle 7 needs 56 days free": (
        chart(*history(6, gap=20), cycle=7, indication=None),
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult 70 kg, R/R cycle 2 continued 10 days after its infusion stopped -> warning": (
        chart(
            *history(1),
            given(2, days_before(20), days=10, status="stopped", oid="blin-c2-stopped"),
            cycle=2,
            steps=[Step(28, days=18)],
        ),
        [INTERRUPTION_NEW_CYCLE],
    ),
    "adult 70 kg, R/R cycle 2 continued 5 days after its infusion stopped -> silent": (
        chart(
            *history(1, gap=21),
            given(2, days_before(15), days=10, status="stopped", oid="blin-c2-stopped"),
            cycle=2,
            steps=[Step(28, days=18)],
        ),
        [],
    ),
    # --- interruptions and day 28 (issue 15 items 3-4) -----------------------------------------
    "resume after 5-day interruption with 28 days ordered -> warning too long (18 left)": (
        chart(
            *history(1, gap=21),
            given(2, days_before(15), days=10, status="stopped", oid="blin-c2-stopped"),
            cycle=2,
            steps=[Step(28, days=28)],
        ),
        [RESUME_TOO_LONG],
    ),
    "adult R/R cycle 2, one order of 35 days -> warning: runs past day 28": (
        chart(*history(1), cycle=2, steps=[Step(28, days=35)]),
        [PAST_DAY_28],
    ),
    "adult R/R cycle 1, 9 x 7 then 28 x 28 days (35 days) -> warning: runs past day 28": (
        chart(cycle=1, steps=[Step(9, days=7), Step(28, days=28)]),
        [PAST_DAY_28],
    ),
    # An overrun of part of a day is none (interruptions.yaml overrun_from_hours: 24): orders and
    # bags come in whole days, the stop and the restart at other clock times (rt-noise2 N1).
    "adult R/R cycle 2 stopped after 10.3 days, restarted 1.7 days later for 18 whole days "
    "(17.7 left) -> silent (was: 0.3 days too long, 'end it on' the order's own end)": (
        restarted_c2(given_days=10.3, gap_days=1.7, ordered_days=18),
        [],
    ),
    "adult R/R cycle 2 stopped after 10.3 days, restarted 1.7 days later for 19 days (1.3 days "
    "over) -> warning too long": (
        restarted_c2(given_days=10.3, gap_days=1.7, ordered_days=19),
        [RESUME_TOO_LONG],
    ),
    "adult R/R cycle 2 stopped after 10.9 days, restarted 14 hours later for 18 days (17.1 "
    "left, 0.9 over) -> silent": (
        restarted_c2(given_days=10.9, gap_days=14 / 24, ordered_days=18),
        [],
    ),
    "adult R/R cycle 2 stopped after 11 days, restarted 2.5 days later for 18 days (17 left, "
    "exactly 1 day over) -> warning too long": (
        restarted_c2(given_days=11, gap_days=2.5, ordered_days=18),
        [RESUME_TOO_LONG],
    ),
    # rt-harm3 H9: the whole-day allowance is for an order RESUMING a cycle; a new cycle's order
    # starts at its own clock time: more than the bag-change tolerance (1 h) past day 28 warns.
    "adult R/R cycle 6, a new cycle ordered for 28 days 23 hours -> warning: runs past day 28 "
    "(was: silent)": (
        ending_after(chart(*history(5), cycle=6, steps=FULL), 28 * 24 + 23),
        [PAST_DAY_28],
    ),
    # red team 4 C01-C06: an end on the calendar day day 28 ends is not past it (interruptions.yaml
    # first_order_day_28_calendar_day); the next day is
    "adult R/R cycle 2, a new cycle ordered for 28 days 2 hours (ends on day 28's calendar day) "
    "-> silent": (
        ending_after(chart(*history(1), cycle=2, steps=FULL), 28 * 24 + 2),
        [],
    ),
    "adult R/R cycle 1 (first infusion), ordered for 28 days 12 hours -> silent (same day)": (
        ending_after(chart(cycle=1, steps=FULL), 28 * 24 + 12),
        [],
    ),
    "adult R/R cycle 2 bag change (previous bag ends as this starts), 18 days left -> silent": (
        chart(
            *history(1, gap=24),
            given(2, days_before(10), days=10, status="active", oid="blin-c2-running"),
            cycle=2,
            steps=[Step(28, days=18)],
        ),
        [],
    ),
    "adult 70 kg, R/R cycle 1 day-8 order after the days 1-7 order -> silent": (
        chart(
            given(1, days_before(7), days=7, oid="blin-c1-days1-7"),
            cycle=1,
            steps=[Step(28, days=21)],
        ),
        [],
    ),
    "adult 70 kg, uncoded order 33 days after a complete cycle 1 began -> cycle 2, 5 days free": (
        chart(given(1, days_before(33)), cycle=None),
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult 70 kg, uncoded order 38 days after cycle 1 began (10 days free) -> warning": (
        chart(given(1, days_before(38)), cycle=None),
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult 70 kg, uncoded order 42 days after cycle 1 began (14 days free) -> silent": (
        chart(given(1, days_before(42)), cycle=None),
        [],
    ),
    "adult R/R cycle 2, cycle 1 on file as four unnumbered 7-day bag orders, 7 days free -> "
    "warning": (
        chart(
            *(
                given(None, days_before(35) + timedelta(days=7 * i), days=7, oid=f"bag-order-{i}")
                for i in range(4)
            ),
            cycle=2,
        ),
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult R/R cycle 2, the same four bag orders, 14 days free -> silent": (
        chart(
            *(
                given(None, days_before(42) + timedelta(days=7 * i), days=7, oid=f"bag-order-{i}")
                for i in range(4)
            ),
            cycle=2,
        ),
        [],
    ),
    "adult 70 kg, uncoded order 42 days after an unnumbered whole cycle -> cycle 2: silent": (
        chart(given(None, days_before(42), oid="blin-old"), cycle=None),
        [],
    ),
    "adult 70 kg, uncoded order, one run on file numbered cycles 1 and 2 -> cycle unknown": (
        chart(
            given(1, days_before(42), days=14, oid="blin-old-1"),
            given(2, days_before(28), days=14, oid="blin-old-2"),
            cycle=None,
        ),
        [NUMBER_UNKNOWN],
    ),
    "adult R/R cycle 1 continued, its order stopped (last updated) 10 days before, no MAR -> "
    "warning (start a new cycle)": (
        chart(
            given(1, days_before(14), status="stopped")
            | {"meta": {"lastUpdated": days_before(10).isoformat()}},
            cycle=1,
            steps=[Step(28, days=24)],
        ),
        [INTERRUPTION_NEW_CYCLE],
    ),
    "adult R/R cycle 2 resumed for 20 days after 3 96-hour bags the MAR records only as hung, "
    "then stopped -> warning (12 days used, 16 left; not 3 one-day bags)": (
        chart(
            blinatumomab_order(
                PID,
                [Step(28, days=28)],
                oid="blin-c2-96h",
                cycle=2,
                start=days_before(14).isoformat(),
                status="stopped",
                authored=days_before(14).isoformat(),
                bag_hours=96,
            ),
            *new_bags_only("blin-c2-96h", days_before(14), 3, 96),
            cycle=2,
            steps=[Step(28, days=20)],
        ),
        [RESUME_TOO_LONG],
    ),
    "adult R/R cycle 2, 12 days after cycle 1 was stopped on its day 10 (last updated) -> "
    "silent (no treatment-free interval after a cycle cut short)": (
        chart(
            given(1, days_before(21), status="stopped")
            | {"meta": {"lastUpdated": days_before(12).isoformat()}},
            cycle=2,
        ),
        [],
    ),
    "adult R/R cycle 2, 12 days after a whole cycle 1 (28 days) -> warning (14 days)": (
        chart(given(1, days_before(40)), cycle=2),
        [TREATMENT_FREE_INTERVAL],
    ),
    # A new course (cycles.yaml new_course_after_days: 112; or another indication): the earlier
    # course's cycles neither count nor time this one.
    "adult R/R cycle 1, nine cycles of an earlier course ended 700 days ago -> silent (no "
    "700-day interruption, no tenth cycle)": (
        chart(*history(9, gap=700), cycle=1),
        [],
    ),
    "adult R/R uncoded order, nine cycles ended 200 days ago -> a new course's cycle 1: silent": (
        chart(*history(9, gap=200), cycle=None, steps=STEP_UP),
        [],
    ),
    "adult R/R coded cycle 10, nine cycles ended 200 days ago -> warning (the coded cycle "
    "stands)": (
        chart(*history(9, gap=200), cycle=10),
        [LIMIT_EXCEEDED],
    ),
    "adult R/R cycle 1 after relapse, MRD-positive cycles 1-4 ended 60 days ago -> silent": (
        chart(*history(4, MRD, gap=60), cycle=1),
        [],
    ),
    "adult R/R uncoded order, R/R cycles 1-2 ended 100 days ago (one course) -> cycle 3: silent": (
        chart(*history(2, gap=100), cycle=None),
        [],
    ),
    "adult MRD-positive cycle 2 coded, MRD cycle 1 ended 7 days ago -> warning (one course, "
    "14 days free)": (
        chart(*history(1, MRD, gap=7), cycle=2, indication=MRD),
        [TREATMENT_FREE_INTERVAL],
    ),
    "adult R/R cycle 1 coded, an MRD-positive cycle 1 stopped 3 days ago -> warning (not a new "
    "course inside the interruption limit: its interruption rules judge it)": (
        chart(given(1, days_before(13), indication=MRD, days=10, status="stopped"), cycle=1),
        [RESUME_TOO_LONG],
    ),
    # A coded cycle lower than the history (cds/knowledge/cycles.yaml history_over_coded_source):
    # the history's cycle is judged, and one card says the two disagree.
    "adult 70 kg, R/R, cycle 1 coded, nine R/R cycles on file ending 60 days ago -> warnings: "
    "the history makes it cycle 10, over the 9 allowed (not a 522-day interruption of cycle 1)": (
        chart(*history(9, gap=60), cycle=1),
        [LIMIT_EXCEEDED, NUMBER_DISAGREES],
    ),
    "adult 70 kg, R/R, cycle 1 coded, nine cycles only the MAR records (weekly bags), ending 60 "
    "days ago -> warnings: cycle 10 by the history, over the 9 allowed": (
        chart(*mar_history(9, gap=60), cycle=1),
        [LIMIT_EXCEEDED, NUMBER_DISAGREES],
    ),
    "adult 70 kg, R/R, cycle 2 coded after cycles 1-3 (14 days free) -> warning: the history "
    "makes it cycle 4 (within 9; no 56-day interruption of cycle 2)": (
        chart(*history(3, gap=14), cycle=2),
        [NUMBER_DISAGREES],
    ),
    "adult 70 kg, MRD-positive cycle 1 coded after MRD cycles 1-4 ending 30 days ago -> "
    "warnings: cycle 5 by the history, over the 4 allowed": (
        chart(*history(4, MRD, gap=30), cycle=1, indication=MRD),
        [LIMIT_EXCEEDED, NUMBER_DISAGREES],
    ),
    "adult 70 kg, R/R, cycle 1 coded, cycles 1-3 on file ending 10 days ago -> warnings: cycle 4 "
    "by the history, 10 days after cycle 3 (14 needed)": (
        chart(*history(3, gap=10), cycle=1),
        [NUMBER_DISAGREES, TREATMENT_FREE_INTERVAL],
    ),
    # An earlier order giving only when it was signed (authoredOn, no boundsPeriod, no MAR):
    # findings a later first dose would undo say they could not be verified.
    "adult 70 kg, R/R cycle 2 resumed for its last 18 days 3 days after it stopped on day 10; "
    "its order gives only its signing, 5 days before day 1 -> could not verify (not '5 days too "
    "long')": (
        chart(
            *history(1, gap=30),
            signed_only(
                given(2, days_before(13), status="stopped", oid="blin-c2-signed")
                | {"meta": {"lastUpdated": days_before(3).isoformat()}},
                signed=days_before(18),
            ),
            cycle=2,
            steps=[Step(28, days=18)],
        ),
        [DATES_UNVERIFIED],
    ),
    "adult 70 kg, R/R cycle 2 11 days after cycle 1's real end; cycle 1's order gives only its "
    "signing, 4 days before day 1 (no MAR) -> could not verify (not silent)": (
        chart(signed_only(given(1, days_before(39)), signed=days_before(43)), cycle=2),
        [DATES_UNVERIFIED],
    ),
    "adult 70 kg, R/R cycle 4 coded, only cycle 3 on file 14 days before -> silent (a higher "
    "coded cycle stands: earlier cycles may have been given elsewhere)": (
        chart(given(3, days_before(42)), cycle=4),
        [],
    ),
    # A coded cycle HIGHER than the numbered cycle it resumes within 7 days (cycles.yaml
    # continued_cycle_over_coded; label §2.4: the same cycle continues), red team rt-harm2 D4.
    "adult 70 kg, R/R cycle 2 coded 3 days after cycle 1 (coded) stopped on day 10, for the 18 "
    "days cycle 1 has left -> warning: the same cycle 1 continues (was silent)": (
        chart(stopped_c1(given=10, gap=3), cycle=2, steps=[Step(28, days=18)]),
        [NUMBER_DISAGREES],
    ),
    "adult 70 kg, R/R cycle 2 coded 3 days after cycle 1 stopped on day 10, for 28 days -> "
    "warnings: cycle 1 continues, and its 18 days left are exceeded (no treatment-free interval)": (
        chart(stopped_c1(given=10, gap=3), cycle=2),
        [NUMBER_DISAGREES, RESUME_TOO_LONG],
    ),
    "adult 70 kg, R/R cycle 3 coded 6 days after cycle 1 stopped on day 2 -> warning: cycle 1 "
    "continues": (
        chart(stopped_c1(given=2, gap=6), cycle=3, steps=[Step(28, days=26)]),
        [NUMBER_DISAGREES],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_cycle_limits_golden_matrix(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, TOPIC) == sorted(expected)


def _cards(client: FlaskClient, chart_bundle: dict[str, Any]) -> list[dict[str, Any]]:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    return [c for c in body["cards"] if c["source"]["topic"]["code"] == TOPIC]


def test_the_interval_card_names_the_dates_and_the_earliest_start(client: FlaskClient) -> None:
    [card] = _cards(client, chart(*history(6, gap=30), cycle=7))
    assert card["summary"] == (
        "Cycle 7 starts 30 days after cycle 6 ended: 56 treatment-free days needed"
    )
    assert "2026-01-31" in card["detail"]  # cycle 6 ended
    assert "2026-03-28" in card["detail"]  # earliest start: 56 days later
    assert card["source"]["url"].endswith("#S2.2")  # relapsed/refractory: §2.2 of the 2024 label


def test_the_limit_card_counts_the_cycles_on_file(client: FlaskClient) -> None:
    # The order does not say its cycle; four MRD cycles are on file, so it is the fifth.
    [card] = _cards(client, chart(*history(4, MRD), cycle=None, indication=MRD))
    assert "cycle 5 exceeds the 4 cycles" in card["summary"]
    assert "4 earlier cycles on file" in card["detail"]


def test_the_limit_card_says_whose_number_it_is(client: FlaskClient) -> None:
    """Pharmacist red team: consolidation cycle 5 was said to exceed what "the label allows",
    though the 4 is this service's (E1910), marked not verified in the label."""
    [mrd] = _cards(client, chart(*history(4, MRD), cycle=5, indication=MRD))
    assert "the label allows at most **4** cycles" in mrd["detail"]
    cards = _cards(client, chart(*history(4, CONSOLIDATION), cycle=5, indication=CONSOLIDATION))
    [consolidation] = [c for c in cards if "exceeds" in c["summary"]]
    assert "the label allows" not in consolidation["detail"]
    assert "(not verified in the label) allows at most **4** cycles" in consolidation["detail"]


def test_a_cycle_coded_lower_than_the_history_says_both_numbers(client: FlaskClient) -> None:
    cards = _cards(client, chart(*history(9, gap=60), cycle=1))
    [disagrees] = [c for c in cards if c["summary"].startswith("Order says cycle 1")]
    assert disagrees["summary"] == (
        "Order says cycle 1, but the blinatumomab given on file makes this cycle 10"
    )
    assert "follows cycle 9 begun" in disagrees["detail"]
    assert "new course of treatment" in disagrees["detail"]  # re-treatment after a relapse
    [limit] = [c for c in cards if c is not disagrees]
    assert "cycle 10 exceeds the 9 cycles" in limit["summary"]
    assert "9 earlier cycles on file" in limit["detail"]
    assert not any("Interruption" in c["summary"] for c in cards)


def test_a_cycle_coded_higher_than_the_cycle_it_resumes_says_the_same_cycle_continues(
    client: FlaskClient,
) -> None:
    cards = _cards(client, chart(stopped_c1(given=5, gap=3), cycle=2, steps=[Step(28, days=23)]))
    [disagrees] = cards
    assert disagrees["summary"] == (
        "Order says cycle 2, but the blinatumomab given on file makes this cycle 1"
    )
    assert "continues cycle 1 begun" in disagrees["detail"]
    assert "the label continues the same cycle to 28 days of infusion" in disagrees["detail"]
    assert disagrees["source"]["url"].endswith("#S2.4")


def test_the_limit_card_counts_the_cycles_only_the_mar_records(client: FlaskClient) -> None:
    [limit] = [
        c
        for c in _cards(client, chart(*mar_history(9, gap=60), cycle=None, steps=FULL))
        if "exceeds" in c["summary"]
    ]
    assert "9 earlier cycles on file" in limit["detail"]  # not "0": none of them is numbered


def test_the_interruption_card_says_to_start_a_new_cycle(client: FlaskClient) -> None:
    earlier = given(2, days_before(20), days=10, status="stopped", oid="blin-c2-stopped")
    [card] = _cards(client, chart(*history(1), earlier, cycle=2, steps=[Step(28, days=18)]))
    assert "start a new cycle (cycle 3)" in card["summary"]
    assert card["source"]["url"].endswith("#S2.4")


def test_the_interruption_card_promises_a_step_up_only_for_a_cycle_with_one(
    client: FlaskClient,
) -> None:
    earlier = given(2, days_before(20), days=10, status="stopped", oid="blin-c2-stopped")
    [card] = _cards(client, chart(*history(1), earlier, cycle=2, steps=[Step(28, days=18)]))
    assert card["summary"].startswith("Interruption of 10 days:")
    assert "step-up" not in card["detail"]  # cycle 3 of R/R has no step-up
    assert "premedication and supervision of a cycle start" in card["detail"]


def test_one_day_is_said_in_the_singular(client: FlaskClient) -> None:
    [card] = _cards(client, chart(*history(1, gap=1), cycle=2))
    assert "starts 1 day after cycle 1 ended" in card["summary"]


def test_the_resume_card_counts_the_days_left(client: FlaskClient) -> None:
    earlier = given(2, days_before(15), days=10, status="stopped", oid="blin-c2-stopped")
    [card] = _cards(client, chart(*history(1, gap=21), earlier, cycle=2, steps=[Step(28, days=28)]))
    assert card["summary"] == (
        "The interrupted cycle has 18 days of infusion left; this order, resuming it, runs 10 days "
        "longer"
    )
    assert "5 days" in card["detail"]  # the interruption


@pytest.mark.parametrize("ordered_days", [18, 19, 20, 24])
@pytest.mark.parametrize(("given_days", "gap_days"), [(10.3, 1.7), (10.9, 14 / 24), (10.1, 5.6)])
def test_the_resume_card_never_suggests_the_orders_own_end_or_later(
    client: FlaskClient, given_days: float, gap_days: float, ordered_days: int
) -> None:
    """rt-noise2 N1: "runs 0.3 days longer: end it on 2026-03-20", the date the order already
    ends. A card comes only for a whole day or more over, and suggests an earlier end."""
    cards = _cards(client, restarted_c2(given_days, gap_days, ordered_days))
    left = 28 - given_days
    ends = (BEGIN + timedelta(days=ordered_days)).date()
    if ordered_days - left < 1:
        assert cards == []
        return
    [card] = cards
    suggested = card["detail"].split("end it on ")[1][:10]
    assert suggested == (BEGIN + timedelta(days=left)).date().isoformat()
    assert suggested < ends.isoformat()


def test_a_restart_after_an_interruption_needs_premedication_again(client: FlaskClient) -> None:
    earlier = given(2, days_before(15), days=10, status="stopped", oid="blin-c2-stopped")
    chart_bundle = chart(*history(1, gap=21), earlier, cycle=2, steps=[Step(28, days=18)])
    chart_bundle["entry"] = [
        e for e in chart_bundle["entry"] if e["resource"]["id"] != "dexamethasone-premed"
    ]
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "premedication") == [
        ("premedication", "warning", "premedication-missing")
    ]
    body = client.post(
        SIGN,
        json=order_sign(chart(*history(1, gap=21), earlier, cycle=2, steps=[Step(28, days=18)])),
    ).get_json()
    assert findings_of_topic(body, "premedication") == []


def test_cancelled_and_entered_in_error_orders_do_not_count(client: FlaskClient) -> None:
    noise = [
        given(n, days_before(300 - 20 * n), status="entered-in-error", oid=f"err-{n}")
        for n in range(1, 10)
    ]
    assert _cards(client, chart(*history(1), *noise, cycle=2)) == []


def test_medication_history_unavailable_says_the_check_could_not_run(client: FlaskClient) -> None:
    request = without_prefetch(order_sign(chart(*history(1), cycle=2)), "medications")
    body = client.post(SIGN, json=request).get_json()
    assert findings_of_topic(body, TOPIC) == [NOT_RUN]
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == TOPIC]
    assert "Could not verify the cycle count" in card["summary"]


def test_the_correct_order_charts_stay_silent(client: FlaskClient) -> None:
    charts = [
        c
        for c in sorted((FIXTURES / "charts").glob("*correct*.json"))
        if not c.name.endswith(".expected.json")
    ]
    assert len(charts) >= 3
    for path in charts:
        body = client.post(SIGN, json=request_from_bundle(load_json(path))).get_json()
        assert findings_of_topic(body, TOPIC) == [], path.name


# Red team 4 (C01-C06): a new cycle's order ending on the calendar day its 28th infusion day ends
# is not over: a date-only end (read as the end of that day: next midnight), noon, 23:59, mixed
# offsets (a later day still is: the 28 days 23 hours row above). `resume` as a pure
# function; previous cycle ended 2026-02-16T10:00Z, 14 days before: a new cycle.
_PREVIOUS = [
    Period(
        datetime.fromisoformat("2026-01-19T10:00:00+00:00"),
        datetime.fromisoformat("2026-02-16T10:00:00+00:00"),
    )
]
DAY_28_ENDS: dict[str, tuple[str, str, bool]] = {
    "end given as the date 2026-03-30 (next midnight) -> not over (was: 0.6 days over)": (
        "2026-03-02T10:00:00+00:00",
        "2026-03-31T00:00:00+00:00",
        False,
    ),
    "end 2026-03-30T12:00 -> not over (was: 0.1 days over)": (
        "2026-03-02T10:00:00+00:00",
        "2026-03-30T12:00:00+00:00",
        False,
    ),
    "end 2026-03-30T23:59 -> not over (was: 0.6 days over)": (
        "2026-03-02T10:00:00+00:00",
        "2026-03-30T23:59:00+00:00",
        False,
    ),
    "start 10:00-05:00, end 17:00Z the same day -> not over (was: over)": (
        "2026-03-02T10:00:00-05:00",
        "2026-03-30T17:00:00+00:00",
        False,
    ),
}


@pytest.mark.parametrize(
    ("start", "end", "too_long"),
    list(DAY_28_ENDS.values()),
    ids=list(DAY_28_ENDS.keys()),
)
def test_a_new_cycle_ending_on_day_28s_calendar_day_is_not_over(
    start: str, end: str, too_long: bool
) -> None:
    rules = load_knowledge(KNOWLEDGE_DIR).interruptions
    verdict = resume(_PREVIOUS, datetime.fromisoformat(start), datetime.fromisoformat(end), rules)
    assert verdict.kind == "new-cycle"
    assert verdict.order_too_long is too_long
