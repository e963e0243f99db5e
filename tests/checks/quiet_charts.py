"""Correct orders for patients with a complete chart, as inpatients ("Quiet by design", issue 15).

Each scenario is a chart a careful team would send: a current weight and height, a liver panel and
a blood count from this week, the ALL diagnosis on the problem list, the right dose for the
indication, cycle and day, the premedication (and the day-8 one when the order steps up), a
negative pregnancy test for a woman of reproductive potential, and an inpatient encounter in the
hook's context. Such an order must draw no warning or critical card and at most one information
card; `expected_info` names the one it may draw. Used by `tests/checks/test_quiet_by_design.py`
and `bench/quiet.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fixtures_util import (
    SNOMED,
    Step,
    blinatumomab_order,
    bundle,
    condition,
    dexamethasone_order,
    height,
    in_encounter,
    liver_panel,
    neutrophils,
    observation,
    order_sign,
    patient,
    weight,
)

PID = "pt-quiet"
STEP_UP = [Step(9, days=7), Step(28, days=21)]
FULL = [Step(28, days=28)]
DAY_8 = "2026-03-09T09:00:00+00:00"  # one hour before the day-8 step-up of an order starting today
ALL_CODES = {
    "relapsed-refractory": ("C91.02", "Acute lymphoblastic leukemia, in relapse"),
    "mrd-positive": ("C91.01", "Acute lymphoblastic leukemia, in remission"),
    "consolidation": ("C91.01", "Acute lymphoblastic leukemia, in remission"),
}


@dataclass(frozen=True)
class QuietScenario:
    chart: dict[str, Any]
    expected_info: tuple[str, ...] = ()  # the finding code of the one info card it may draw

    def request(self) -> dict[str, Any]:
        """The order-sign request, prefetch complete, from an inpatient encounter."""
        return in_encounter(order_sign(self.chart), "IMP")


def _negative_hcg(when: str = "2026-02-28T09:00:00+00:00") -> dict[str, Any]:
    return observation(
        PID,
        "hcg-neg",
        "2106-3",
        "Choriogonadotropin (pregnancy test) [Presence] in Urine",
        when,
        "laboratory",
    ) | {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "260385009"}]}}


def _earlier(
    steps: list[Step], cycle: int, start: str, indication: str, oid: str, status: str = "completed"
) -> dict[str, Any]:
    return blinatumomab_order(
        PID,
        steps,
        oid=oid,
        cycle=cycle,
        start=start,
        status=status,
        authored=start,
        indication=indication,
    )


def chart(
    steps: list[Step],
    *,
    indication: str = "relapsed-refractory",
    cycle: int = 1,
    premedication: tuple[float, ...] = (20,),
    born: str = "1968-07-14",
    gender: str = "male",
    kg: float = 78,
    cm: float = 180,
    history: tuple[dict[str, Any], ...] = (),
    extra: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    code, display = ALL_CODES[indication]
    premeds = [dexamethasone_order(PID, premedication[0])]
    if len(premedication) > 1:  # the day-8 step-up premedication
        premeds.append(
            dexamethasone_order(PID, premedication[1], oid="dexamethasone-day-8", when=DAY_8)
        )
    return bundle(
        [
            patient(PID, birth_date=born, gender=gender),
            weight(PID, kg),
            height(PID, cm),
            *liver_panel(PID),
            neutrophils(PID, 3.2),
            condition(PID, code, display, onset="2025-09-01"),
            blinatumomab_order(PID, steps, indication=indication, cycle=cycle),
            *premeds,
            *history,
            *extra,
        ]
    )


C1_RR = _earlier(STEP_UP, 1, "2026-01-05T10:00:00+00:00", "relapsed-refractory", "blin-c1")
C1_MRD = _earlier(FULL, 1, "2026-01-05T10:00:00+00:00", "mrd-positive", "blin-c1")

QUIET: dict[str, QuietScenario] = {
    "man 57 y, R/R cycle 1 day 1, 9 then 28 mcg/day, dexamethasone 20 mg day 1 and day 8": (
        QuietScenario(chart(STEP_UP, premedication=(20, 20)))
    ),
    "woman 27 y, R/R cycle 1 day 1, negative hCG 2 days ago -> the contraception reminder": (
        QuietScenario(
            chart(
                STEP_UP,
                premedication=(20, 20),
                born="1998-05-03",
                gender="female",
                kg=64,
                cm=168,
                extra=(_negative_hcg(),),
            ),
            ("pregnancy-contraception-reminder",),
        )
    ),
    "man, R/R cycle 1 day-8 step-up bag, 28 mcg/day, dexamethasone 20 mg": QuietScenario(
        chart(
            [Step(28, days=21)],
            history=(
                _earlier(
                    [Step(9, days=7)],
                    1,
                    "2026-02-23T10:00:00+00:00",
                    "relapsed-refractory",
                    "blin-c1-week-1",
                ),
            ),
        )
    ),
    "man, R/R cycle 2 day 1 after 14 treatment-free days, 28 mcg/day": QuietScenario(
        chart(FULL, cycle=2, history=(C1_RR,))
    ),
    "man, MRD-positive cycle 1 day 1, 28 mcg/day, dexamethasone 16 mg": QuietScenario(
        chart(FULL, indication="mrd-positive", premedication=(16,))
    ),
    "woman 30 y, MRD-positive cycle 2, 28 mcg/day -> the pregnancy test reminder": QuietScenario(
        chart(
            FULL,
            indication="mrd-positive",
            cycle=2,
            premedication=(16,),
            born="1995-11-20",
            gender="female",
            kg=60,
            cm=165,
            history=(C1_MRD,),
        ),
        ("pregnancy-test-reminder",),
    ),
    "man, consolidation cycle 1 day 1, 28 mcg/day, dexamethasone 20 mg": QuietScenario(
        chart(FULL, indication="consolidation")
    ),
    "boy 8 y 20 kg 115 cm, R/R cycle 1, 5 then 15 mcg/m²/day, dexamethasone 4 mg day 1 and 8": (
        QuietScenario(
            chart(
                [Step(5, unit="ug/m2/d", days=7), Step(15, unit="ug/m2/d", days=21)],
                premedication=(4, 4),
                born="2017-09-15",
                kg=20,
                cm=115,
            )
        )
    ),
    "boy 8 y 20 kg, MRD-positive cycle 1, 15 mcg/m²/day, dexamethasone 4 mg": QuietScenario(
        chart(
            [Step(15, unit="ug/m2/d", days=28)],
            indication="mrd-positive",
            premedication=(4,),
            born="2017-09-15",
            kg=20,
            cm=115,
        )
    ),
}
