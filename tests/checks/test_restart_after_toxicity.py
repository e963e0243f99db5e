"""Restarts after a toxicity or an interruption, read from the problem list and the MAR (label
§2.4), as red teams 4 and 5 charted them: each scenario runs the whole service (order-sign) and
asserts the exact cards of the topics it names.

The chart: an adult (72 kg, 178 cm) on R/R cycle 2 from 2026-02-19 10:00, one 24-hour bag a day
on the MAR. Red team 5's cases t02-t07, t10, t13 and i11 are these scenarios, moved to the
fixtures' dates (signed 2026-03-02 08:00).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.cards import FINDING_CODE_EXTENSION
from cds.knowledge import load_knowledge
from tests.conftest import SIGN
from tests.fixtures_util import (
    START,
    Step,
    blinatumomab_administration,
    blinatumomab_order,
    bundle,
    condition,
    dexamethasone_order,
    height,
    order_sign,
    patient,
    suggested_doses,
    weight,
)

P = "pt-restart"
C2_START = datetime.fromisoformat("2026-02-19T10:00:00+00:00")
CRS_DAY = "2026-02-24"  # the last bag was hung that day at 10:00 and stopped at 18:00
OVERDOSE = ("critical", "dose-overdose")
UNDERDOSE = ("warning", "dose-underdose")
GRADE_UNKNOWN = ("warning", "dose-toxicity-grade-unknown")
TOO_SOON = ("warning", "dose-toxicity-restart-too-soon")
DISCONTINUE = ("critical", "dose-toxicity-discontinue")
PREMED_MISSING = ("warning", "premedication-missing")
PREMED_UNVERIFIED = ("warning", "premedication-restart-unverified")
DATE_UNKNOWN = ("warning", "dose-toxicity-date-unknown")
RESOLUTION_UNKNOWN = ("warning", "dose-toxicity-resolution-unknown")
Fix = list[tuple[float, str, int | None]]


@dataclass(frozen=True)
class Scenario:
    chart: list[dict[str, Any]]
    cards: list[tuple[str, str]]  # (indicator, finding code) of the `topic` cards
    fix: Fix | None = None  # the dose card's corrected order; None: no suggestion
    topic: str = "dose"
    detail_has: tuple[str, ...] = ()
    detail_lacks: tuple[str, ...] = ()


def adult() -> list[dict[str, Any]]:
    return [patient(P), weight(P, 72), height(P, 178)]


def cycle_2(
    *, last_bag_ends: str = "2026-02-24T18:00:00+00:00", updated: str | None = None
) -> list[dict[str, Any]]:
    """R/R cycle 2 at 28 mcg/day from 02-19 10:00, stopped: daily bags, the last one hung on the
    24th at 10:00 and taken down at `last_bag_ends`."""
    order = blinatumomab_order(
        P,
        [Step(28, days=28)],
        oid="blinatumomab-c2",
        cycle=2,
        start=C2_START.isoformat(),
        status="stopped",
        authored="2026-02-19T08:00:00+00:00",
    )
    if updated is not None:
        order["meta"] = {"lastUpdated": updated}
    bags = [
        blinatumomab_administration(
            P,
            f"mar-{day}",
            C2_START + timedelta(days=day),
            C2_START + timedelta(days=day + 1),
            request="MedicationRequest/blinatumomab-c2",
        )
        for day in range(5)
    ]
    last = blinatumomab_administration(
        P,
        "mar-5",
        C2_START + timedelta(days=5),
        datetime.fromisoformat(last_bag_ends),
        request="MedicationRequest/blinatumomab-c2",
    )
    return [order, *bags, last]


def toxicity(
    code: str, display: str, onset: str, resolved: str | None = None, cid: str = "tox-1"
) -> dict[str, Any]:
    resource = condition(
        P,
        code,
        display,
        cid=cid,
        clinical_status="resolved" if resolved else "active",
        onset=onset,
    )
    if resolved:
        resource["abatementDateTime"] = resolved
    return resource


def crs3(onset: str, resolved: str | None = None) -> dict[str, Any]:
    return toxicity("D89.833", "Cytokine release syndrome, grade 3", onset, resolved)


def icans3(onset: str, resolved: str | None = None, cid: str = "tox-1") -> dict[str, Any]:
    display = "Immune effector cell-associated neurotoxicity syndrome, grade 3"
    return toxicity("G92.03", display, onset, resolved, cid)


def restart(
    *steps: Step, start: str = START, cycle: int = 2, note: str | None = None
) -> dict[str, Any]:
    order = blinatumomab_order(P, steps, cycle=cycle, start=start)
    if note is not None:
        order["note"] = [{"text": note}]
    return order


def pancreatitis(
    onset: str,
    resolved: str | None,
    text: str = "Acute pancreatitis without necrosis or infection, unspecified",
) -> dict[str, Any]:
    """Acute pancreatitis (ICD-10-CM K85.90) on the problem list, graded or not in its words."""
    resource = toxicity("K85.90", text, onset, resolved, cid="ae-1")
    resource["code"]["coding"][0]["display"] = (
        "Acute pancreatitis without necrosis or infection, unspecified"
    )
    return resource


def resolved_without_date(resource: dict[str, Any]) -> dict[str, Any]:
    """The Condition marked resolved, with no abatement date (how long it lasted is unknown)."""
    resource["clinicalStatus"]["coding"][0]["code"] = "resolved"
    resource.pop("abatementDateTime", None)
    return resource


def step_up_cycle(ended: str) -> list[dict[str, Any]]:
    """R/R cycle 1 from 02-19 10:00: 9 mcg/day for 7 days, then 28 from 02-26 10:00 (the
    step-up), stopped; one bag charted from the start to `ended`."""
    order = blinatumomab_order(
        P,
        [Step(9, days=7), Step(28, days=21)],
        oid="blinatumomab-c1",
        cycle=1,
        start=C2_START.isoformat(),
        status="stopped",
        authored="2026-02-19T08:00:00+00:00",
    )
    bag = blinatumomab_administration(
        P,
        "mar-c1",
        C2_START,
        datetime.fromisoformat(ended),
        request="MedicationRequest/blinatumomab-c1",
    )
    return [order, bag]


SIX_DAYS_LATER = "2026-03-03T10:00:00+00:00"  # 6.7 days after the bag stopped: same cycle
TEN_DAYS_LATER = "2026-03-06T10:00:00+00:00"  # over 7 days: a new cycle


def stopped_bag_without_end(updated: str | None) -> list[dict[str, Any]]:
    """Cycle 2 as above, but its sixth bag, hung 02-24 10:00, charted `stopped` with only an
    effectiveDateTime (red team 5 case i11); the order stopped, last updated at `updated`."""
    chart = cycle_2(updated=updated)[:-1]
    chart.append(
        {
            "resourceType": "MedicationAdministration",
            "id": "mar-5",
            "status": "stopped",
            "medicationCodeableConcept": chart[1]["medicationCodeableConcept"],
            "subject": {"reference": f"Patient/{P}"},
            "effectiveDateTime": "2026-02-24T10:05:00+00:00",
            "request": {"reference": "MedicationRequest/blinatumomab-c2"},
            "dosage": chart[1]["dosage"],
        }
    )
    return chart


RESUME_NEXT_MORNING = "2026-02-25T08:00:00+00:00"

SCENARIOS = [
    # --- a grade 3 CRS dated by day alone, on the day a bag was hung (redteam5 #3) ------------
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                crs3(CRS_DAY, "2026-02-26"),
                restart(Step(28, days=22), start=SIX_DAYS_LATER),
            ],
            [OVERDOSE],
            [(9.0, "ug/d", 7), (28.0, "ug/d", 15)],
            detail_has=("Label schedule for a restart after toxicity",),
            detail_lacks=("Relapsed/refractory cycle 1 starts",),
        ),
        id="grade 3 CRS dated 02-24 alone, the day's bag hung at 10:00 before it; resumed 6.7 "
        "days later straight at 28 -> critical, 9 for 7 days from the restart offered",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                crs3(CRS_DAY, "2026-02-26"),
                restart(Step(28, days=28), start=TEN_DAYS_LATER, cycle=3),
            ],
            [OVERDOSE],
            [(9.0, "ug/d", 7), (28.0, "ug/d", 21)],
        ),
        id="grade 3 CRS dated by day alone, a 10-day hold, then cycle 3 at 28 -> critical",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                crs3(CRS_DAY, "2026-02-26"),
                restart(Step(9, days=7), Step(28, days=15), start=SIX_DAYS_LATER),
            ],
            [],
        ),
        id="grade 3 CRS dated by day alone, resumed at 9 for 7 days then 28 -> no dose card",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                crs3("2026-02-24T15:00:00+00:00", "2026-02-26"),
                restart(Step(28, days=22), start=SIX_DAYS_LATER),
            ],
            [OVERDOSE],
            [(9.0, "ug/d", 7), (28.0, "ug/d", 15)],
        ),
        id="grade 3 CRS timed 15:00 during the day's bag, resumed at 28 -> critical (as before)",
    ),
    # --- a toxicity whose grade is unknown: no one-click escalation (redteam5 #5) --------------
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                toxicity(
                    "D89.839", "Cytokine release syndrome, grade unspecified", CRS_DAY, "2026-02-26"
                ),
                restart(Step(9, days=7), Step(28, days=15), start=SIX_DAYS_LATER),
            ],
            [GRADE_UNKNOWN],
            None,
        ),
        id="CRS of unknown grade, resumed at 9 for 7 days -> confirm the grade, no 'dose low' "
        "and no suggestion to give 28 (it may be grade 3; red team rt-tox)",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                toxicity(
                    "D89.839", "Cytokine release syndrome, grade unspecified", CRS_DAY, "2026-02-26"
                ),
                restart(Step(40, days=14), start=SIX_DAYS_LATER),
            ],
            [GRADE_UNKNOWN, OVERDOSE],
            [(28.0, "ug/d", 14)],
        ),
        id="CRS of unknown grade, resumed at 40 -> the overdose card still offers the lower dose",
    ),
    # --- a restart before the toxicity has resolved (redteam5 #4) ------------------------------
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                crs3("2026-02-24T15:00:00+00:00"),
                restart(Step(9, days=7), Step(28, days=15), start=SIX_DAYS_LATER),
            ],
            [TOO_SOON],
            detail_has=("CRS grade 3 is not recorded as resolved",),
        ),
        id="grade 3 CRS still active, restart at 9 then 28 -> warning: withheld until resolved",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                icans3("2026-02-24T15:00:00+00:00"),
                restart(Step(9, days=7), Step(28, days=21)),
            ],
            [TOO_SOON],
        ),
        id="grade 3 ICANS still active 6 days on, restart at 9 -> warning",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                icans3("2026-02-24T15:00:00+00:00", "2026-03-01T20:00:00+00:00"),
                restart(Step(9, days=7), Step(28, days=21)),
            ],
            [TOO_SOON],
            detail_has=("resolved 14 hours before this order starts",),
        ),
        id="grade 3 ICANS resolved 14 hours before the restart at 9 -> warning: at most grade 1 "
        "for 3 days first",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                icans3("2026-02-24T15:00:00+00:00", "2026-02-26T10:00:00+00:00"),
                restart(Step(9, days=7), Step(28, days=21)),
            ],
            [],
        ),
        id="grade 3 ICANS resolved 4 days before the restart at 9 -> no card",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                crs3("2026-02-24T15:00:00+00:00", "2026-03-01T10:00:00+00:00"),
                restart(Step(9, days=7), Step(28, days=21)),
            ],
            [],
        ),
        id="grade 3 CRS resolved the day before the restart at 9 -> no card",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(last_bag_ends="2026-02-22T18:00:00+00:00")[:-3],
                crs3("2026-02-22T15:00:00+00:00"),
                blinatumomab_order(
                    P,
                    [Step(9, days=7)],
                    oid="blinatumomab-restart-9",
                    cycle=2,
                    start="2026-02-23T10:00:00+00:00",
                    status="completed",
                ),
                restart(Step(28, days=14)),
            ],
            [],
        ),
        id="grade 3 CRS never charted resolved, the 9 mcg/day restart already given, the 28 "
        "order on restart day 8 -> no card (the restart is under way)",
    ),
    # --- another clinically relevant grade 3 reaction (label §2.4; red team rt_tox #1) ---------
    *[
        pytest.param(
            Scenario(
                [
                    *adult(),
                    *cycle_2(),
                    restart(Step(28, days=22), start=SIX_DAYS_LATER, note=note),
                ],
                [OVERDOSE],
                [(9.0, "ug/d", 7), (28.0, "ug/d", 15)],
            ),
            id=f"note '{note}', resumed straight at 28 -> critical, 9 for 7 days offered",
        )
        for note in (
            "Restarting blinatumomab after grade 3 pancreatitis, resolved",
            "Restart after Grade III tumour lysis syndrome",
            "Restart after grade 3 AE",
            "Restart after grade 3 adverse event",
            "Resume after grade 3 infusion reaction",
            "Resume blinatumomab after G3 hepatotoxicity",
            "Restart: CTCAE grade 3 febrile neutropenia resolved",
            "Restart after pancreatitis grade 4, resolved",
            # red team 7a #3: CTCAE terms of the liver and pancreas
            "Restart after Grade 3 ALT elevation, now grade 1",
            "Restart after grade 3 hepatic toxicity",
            "Restart: alanine aminotransferase increased, grade 3, resolved",
            "Restart after lipase increased grade 3",
            "Restart after drug-induced hepatitis, grade 3",
            "Restart after DILI grade 3",
        )
    ],
    *[
        pytest.param(
            Scenario(
                [
                    *adult(),
                    *cycle_2(),
                    restart(Step(28, days=22), start=SIX_DAYS_LATER, note=note),
                ],
                [],
            ),
            id=f"note '{note}' (a tumour grade or a performance status), resumed at 28 -> no "
            "dose card",
        )
        for note in (
            "Restart blinatumomab; history of grade 3 follicular lymphoma",
            "Resume infusion, ECOG 3",
            "Restart after line change; grade 2 pancreatitis resolved",
        )
    ],
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                pancreatitis(CRS_DAY, "2026-02-26", "Acute pancreatitis, grade 3"),
                restart(Step(28, days=22), start=SIX_DAYS_LATER),
            ],
            [OVERDOSE],
            [(9.0, "ug/d", 7), (28.0, "ug/d", 15)],
        ),
        id="K85.90 'Acute pancreatitis, grade 3' on the day of the last bag, resumed at 28 with "
        "no note -> critical",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                pancreatitis(CRS_DAY, "2026-02-26", "Acute pancreatitis, grade 3"),
                restart(Step(9, days=7), Step(28, days=15), start=SIX_DAYS_LATER),
            ],
            [],
        ),
        id="K85.90 'Acute pancreatitis, grade 3', resumed at 9 for 7 days then 28 -> no card",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                pancreatitis("2026-02-10", "2026-02-14", "Acute pancreatitis, grade 3"),
                restart(Step(28, days=22), start=SIX_DAYS_LATER),
            ],
            [],
        ),
        id="grade 3 pancreatitis before blinatumomab, resumed at 28 -> no card",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                toxicity("C82.20", "Follicular lymphoma grade III, unspecified", CRS_DAY),
                restart(Step(28, days=22), start=SIX_DAYS_LATER),
            ],
            [],
        ),
        id="C82.20 'Follicular lymphoma grade III' dated during the infusion -> no card (a "
        "tumour's grade)",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                pancreatitis(CRS_DAY, "2026-03-12"),
                restart(
                    Step(9, days=7),
                    Step(28, days=21),
                    start="2026-03-13T10:00:00+00:00",
                    cycle=3,
                    note="Restart after grade 3 adverse reaction (pancreatitis)",
                ),
            ],
            [DISCONTINUE],
            detail_has=("took 16 days to resolve (more than 14)",),
        ),
        id="the note's grade 3 adverse reaction is the K85.90 pancreatitis charted during the "
        "infusion, 16 days to resolve -> critical discontinue (red team rt_tox #1b)",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                pancreatitis(CRS_DAY, "2026-03-12", "Acute pancreatitis, grade 3"),
                restart(Step(9, days=7), Step(28, days=21), start="2026-03-13T10:00:00+00:00"),
            ],
            [DISCONTINUE],
        ),
        id="'Acute pancreatitis, grade 3' charted during the infusion, 16 days to resolve -> "
        "critical discontinue",
    ),
    # --- a grade 3 ICANS dated by the step-up day alone (red team rt_tox #2) -------------------
    pytest.param(
        Scenario(
            [
                *adult(),
                *step_up_cycle(ended="2026-02-26T21:00:00+00:00"),
                icans3("2026-02-26", "2026-02-26"),
                restart(Step(9, days=7), Step(28, days=21), cycle=1),
            ],
            [DATE_UNKNOWN],
            None,
            detail_has=("2026-02-26",),
        ),
        id="grade 3 ICANS dated 02-26 alone, the day the dose went from 9 to 28; restart at 9 "
        "-> confirm when it began (at 9 mcg/day: discontinue permanently), no offer of 28",
    ),
    # --- resolved, but not when (red team rt_tox #3) -------------------------------------------
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                resolved_without_date(icans3("2026-02-24T15:00:00+00:00")),
                restart(Step(9, days=7), Step(28, days=21)),
            ],
            [RESOLUTION_UNKNOWN],
            detail_lacks=("not yet recorded as resolved",),
        ),
        id="grade 3 ICANS 6 days ago, resolved without an abatement date, restart at 9 -> "
        "warning: confirm when it resolved (not 'took 6 days')",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                icans3("2026-02-20T15:00:00+00:00"),
                restart(Step(9, days=7), Step(28, days=21)),
            ],
            [DISCONTINUE],
        ),
        id="grade 3 ICANS still active 10 days on -> critical discontinue (as before)",
    ),
    # --- discontinue permanently: only why (redteam5 #10, case t13) ----------------------------
    pytest.param(
        Scenario(
            [
                *adult(),
                *cycle_2(),
                icans3("2026-02-20T15:00:00+00:00", "2026-02-21T10:00:00+00:00", cid="icans-1"),
                blinatumomab_order(
                    P,
                    [Step(9, days=7)],
                    oid="blinatumomab-restart-9",
                    cycle=2,
                    start="2026-02-25T10:00:00+00:00",
                    status="stopped",
                ),
                icans3("2026-02-26T15:00:00+00:00", "2026-02-27T10:00:00+00:00", cid="icans-2"),
                restart(Step(9, days=7), Step(28, days=14)),
            ],
            [DISCONTINUE],
            detail_lacks=("restart at the reduced dose",),
        ),
        id="grade 3 ICANS again while at 9 mcg/day after a reduced restart -> critical "
        "discontinue, which does not also say 'restart at the reduced dose'",
    ),
    # --- a stopped MAR bag without an end (redteam5 #6, case i11) ------------------------------
    pytest.param(
        Scenario(
            [
                *adult(),
                *stopped_bag_without_end(updated="2026-02-24T16:00:00+00:00"),
                restart(Step(28, days=22), start=RESUME_NEXT_MORNING),
            ],
            [PREMED_MISSING],
            topic="premedication",
        ),
        id="last bag charted 'stopped' at 10:05 without an end, the order stopped at 16:00; "
        "resumed 08:00 next day without dexamethasone -> premedication missing (gap >= 16 h)",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *stopped_bag_without_end(updated=None),
                restart(Step(28, days=22), start=RESUME_NEXT_MORNING),
            ],
            [PREMED_UNVERIFIED],
            topic="premedication",
        ),
        id="last bag charted 'stopped' without an end, nothing dates the stop; resumed next "
        "morning without dexamethasone -> cannot tell if it restarts: premedicate",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *stopped_bag_without_end(updated="2026-02-24T16:00:00+00:00"),
                restart(Step(28, days=22), start=RESUME_NEXT_MORNING),
                dexamethasone_order(P, when="2026-02-25T07:00:00+00:00"),
            ],
            [],
            topic="premedication",
        ),
        id="stopped bag without an end, resumed next morning with dexamethasone 20 mg -> no card",
    ),
    pytest.param(
        Scenario(
            [
                *adult(),
                *stopped_bag_without_end(updated="2026-02-25T07:30:00+00:00"),
                restart(Step(28, days=22), start=RESUME_NEXT_MORNING),
            ],
            [PREMED_UNVERIFIED],
            topic="premedication",
        ),
        id="stopped bag without an end, the order last updated 30 min before the restart (the "
        "edit made with it, interruptions.yaml stop_edit_window_hours, not the stop); resumed "
        "without dexamethasone -> cannot tell if it restarts (was silent: a '30-minute gap')",
    ),
    # --- card text that fits the order (redteam4 #3, #8) ---------------------------------------
    pytest.param(
        Scenario(
            [
                patient(P, birth_date="2017-04-02"),
                weight(P, 25),
                height(P, 125),
                blinatumomab_order(P, [Step(27, days=28)], indication="mrd-positive"),
            ],
            [OVERDOSE],
            [(13.98, "ug/d", 28)],
            detail_has=("MRD-positive B-ALL cycle 1: 15 mcg/m²/day (at most 28 mcg/day)",),
            detail_lacks=("Relapsed/refractory", "9 mcg/day"),
        ),
        id="MRD-positive child 25 kg given the adult 27 mcg/day -> critical naming the MRD "
        "per-m² schedule, not R/R cycle 1's",
    ),
    pytest.param(
        Scenario(
            [
                patient(P, gender="female", birth_date="2011-09-30"),
                weight(P, 99.2, unit="[lb_av]"),
                height(P, 160.02),
                blinatumomab_order(P, [Step(28, days=28)], indication="mrd-positive"),
            ],
            [OVERDOSE],
            [(21.21, "ug/d", 28)],
            detail_has=("weight 44.996 kg",),
            detail_lacks=("weight 45 kg",),
        ),
        id="MRD-positive teenager weighed 99.2 lb (44.996 kg) given 28 -> critical that shows "
        "the weight under 45 kg as 44.996 kg, not 45",
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_restart_after_toxicity(client: FlaskClient, scenario: Scenario) -> None:
    response = client.post(SIGN, json=order_sign(bundle(scenario.chart)))
    assert response.status_code == 200, response.get_json()
    cards = [
        c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == scenario.topic
    ]
    got = sorted((c["indicator"], c["extension"][FINDING_CODE_EXTENSION]) for c in cards)
    assert got == sorted(scenario.cards), [c["summary"] for c in cards]
    fixes = [c for c in cards if c.get("suggestions")]
    if scenario.topic == "dose":
        assert [suggested_doses(c) for c in fixes] == ([scenario.fix] if scenario.fix else [])
    details = " ".join(c.get("detail", "") for c in cards)
    for text in scenario.detail_has:
        assert text in details, details
    for text in scenario.detail_lacks:
        assert text not in details, details


def test_beside_discontinue_permanently_no_card_says_how_to_go_on_with_the_order(
    client: FlaskClient,
) -> None:
    """Grade 3 ICANS again at 9 mcg/day (red team 5, t13): "must not be restarted" stands alone
    for the order; "this resumed order runs 0.8 days longer" and the day-8 step-up reminder beside
    it were noise (toxicity.yaml `discontinue_supersedes`)."""
    recurred = next(p for p in SCENARIOS if "again while at 9" in str(p.id)).values[0]
    assert isinstance(recurred, Scenario)
    cards = client.post(SIGN, json=order_sign(bundle(recurred.chart))).get_json()["cards"]
    codes = {c["extension"][FINDING_CODE_EXTENSION] for c in cards}
    assert "dose-toxicity-discontinue" in codes
    assert codes.isdisjoint(load_knowledge().toxicity.discontinue_supersedes), codes


def test_every_superseded_code_is_a_finding_some_check_declares() -> None:
    from cds.checks import declared_findings, registry

    declared = declared_findings(registry())
    assert set(load_knowledge().toxicity.discontinue_supersedes) <= set(declared)
