"""Golden matrix of the dose check: clinical scenarios run through the whole service (order-sign,
or order-select where said), each asserting the exact dose cards (indicator and finding code)
and, where the right dose is known, the corrected order offered as an `update` suggestion.

Numbers come from the label (dose.yaml): ≥ 45 kg fixed 9/28 mcg/day; < 45 kg 5/15 mcg/m²/day × BSA
(Mosteller) capped at 9/28 mcg/day; ±10% rounding band; caps are hard ceilings.
Worked BSAs used below:
- child 30 kg, 135 cm: sqrt(135 × 30 / 3600) = 1.0607 m² -> 5.30 / 15.91 mcg/day
- 44.9 kg, 150 cm: 1.3678 m² -> 6.84 / 20.52 mcg/day; 45.0 kg, 150 cm: 1.3693 m² -> 6.85 / 20.54
- 40 kg, 150 cm: 1.2910 m² -> 19.36 mcg/day at 15 mcg/m²/day
- adult 70.2 kg, 176 cm: 1.8526 m² -> 15 mcg/m²/day = 27.79 mcg/day
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds import create_app
from cds.cards import FINDING_CODE_EXTENSION
from cds.settings import Settings
from tests.conftest import NOW, SELECT, SIGN
from tests.fixtures_util import (
    START,
    UCUM,
    Step,
    blinatumomab_administration,
    blinatumomab_order,
    bsa,
    bundle,
    condition,
    height,
    order_select,
    order_sign,
    patient,
    suggested_doses,
    weight,
)

P = "pt-dose"
CRIT, WARN, INFO = "critical", "warning", "info"
# The dose cards: (indicator, finding code).
OVERDOSE = (CRIT, "dose-overdose")
UNDERDOSE = (WARN, "dose-underdose")
NOT_COMPUTABLE = (WARN, "dose-not-computable")
DATES_REVERSED = (WARN, "dose-dates-reversed")
OVERLAP = (CRIT, "dose-orders-overlap")
ACTIVE_ON_FILE = (WARN, "dose-active-order-overlaps")
NO_WEIGHT = (WARN, "dose-no-weight")
WEIGHT_STALE = (WARN, "dose-weight-stale")
NO_BSA = (WARN, "dose-no-bsa")
SCHEDULE_UNKNOWN = (WARN, "dose-schedule-unknown")
PENDING = (INFO, "dose-pending")
RESTART_AFTER_DISCONTINUATION = (CRIT, "dose-restart-after-permanent-discontinuation")
TOXICITY_DISCONTINUE = (CRIT, "dose-toxicity-discontinue")
GRADE_UNKNOWN = (WARN, "dose-toxicity-grade-unknown")
STOP_UNKNOWN = (WARN, "dose-day-unverified-stop")
C1_START = "2026-01-05T10:00:00+00:00"  # cycle 1 of the toxicity scenarios
DAY1_C1 = "2026-02-23T10:00:00+00:00"  # cycle 1 day 1, so that NOW's bag is day 8
FIFTY_SIX_DAYS_AGO = "2026-01-05T10:00:00+00:00"
Fix = list[tuple[float, str, int | None]]


@dataclass(frozen=True)
class Scenario:
    chart: list[dict[str, Any]]
    cards: list[tuple[str, str]]  # (indicator, finding code) of the dose cards, in any order
    fix: Fix | None = None  # the corrected order's (dose, unit, days); None: no suggestion
    select: bool = False  # order-select instead of order-sign
    summary_has: tuple[str, ...] = field(default=())
    fixed_order: str = "blinatumomab-draft"  # the order the suggestion corrects


def body_of(
    kg: float | None = 70.2,
    cm: float | None = 176,
    *,
    kg_unit: str = "kg",
    weighed: str = "2026-02-27T09:10:00+00:00",
    measured: str = "2026-02-27T09:10:00+00:00",
    sent_bsa: float | None = None,
    bsa_taken: str = "2026-02-27T09:10:00+00:00",
    gender: str = "male",
    birth_date: str = "1968-07-14",
) -> list[dict[str, Any]]:
    chart = [patient(P, gender=gender, birth_date=birth_date)]
    if kg is not None:
        chart.append(weight(P, kg, unit=kg_unit, when=weighed))
    if cm is not None:
        chart.append(height(P, cm, when=measured))
    if sent_bsa is not None:
        chart.append(bsa(P, sent_bsa, when=bsa_taken))
    return chart


def child(kg: float = 30, cm: float | None = 135, **kwargs: Any) -> list[dict[str, Any]]:
    return body_of(kg, cm, birth_date="2016-05-09", **kwargs)


def order(*steps: Step, **kwargs: Any) -> dict[str, Any]:
    return blinatumomab_order(P, steps, **kwargs)


def history_c1(
    cycle: int | None = 1,
    start: str = DAY1_C1,
    days: int = 7,
    dose: float = 9,
    indication: str | None = "relapsed-refractory",
) -> dict[str, Any]:
    """An earlier blinatumomab order in `medications` (status completed)."""
    return blinatumomab_order(
        P,
        [Step(dose, days=days)],
        oid=f"blinatumomab-hist-{start[:10]}",
        indication=indication,
        cycle=cycle,
        start=start,
        status="completed",
        authored=start.replace("10:00", "08:00"),
    )


def written_the_evening_before(given: str = "2026-02-24T10:00:00+00:00") -> list[dict[str, Any]]:
    """A cycle-1 order on file written 2026-02-23 at 20:00 whose timing gives durations only (no
    boundsPeriod.start, as many EHRs write an infusion), and the MAR's record of its first bag,
    hung at `given`."""
    written = blinatumomab_order(
        P,
        [Step(9, days=7), Step(28, days=21)],
        oid="blinatumomab-c1",
        status="active",
        authored="2026-02-23T20:00:00+00:00",
    )
    repeat = written["dosageInstruction"][0]["timing"]["repeat"]
    del repeat["boundsPeriod"]
    repeat["boundsDuration"] = {"value": 7, "unit": "d", "system": UCUM, "code": "d"}
    hung = datetime.fromisoformat(given)
    bag = blinatumomab_administration(
        P,
        "blinatumomab-bag-1",
        hung,
        hung + timedelta(days=4),
        rate=9,
        request="MedicationRequest/blinatumomab-c1",
    )
    return [written, bag]


def replacing(
    draft: dict[str, Any], prior: str = "MedicationRequest/blinatumomab-c1"
) -> dict[str, Any]:
    """The draft as a modification of the order on file `prior` (its priorPrescription)."""
    return draft | {"priorPrescription": {"reference": prior}}


def cycle_order_on_file(status: str = "active", steps: tuple[Step, ...] = ()) -> dict[str, Any]:
    """The R/R cycle-1 order on file, begun 02-23 (so that 03-02 is day 8): 9 then 28 mcg/day."""
    return blinatumomab_order(
        P,
        steps or (Step(9, days=7), Step(28, days=21)),
        oid="blinatumomab-c1",
        start=DAY1_C1,
        status=status,
        authored="2026-02-23T08:00:00+00:00",
    )


def S(
    chart: list[dict[str, Any]], cards: list[tuple[str, str]], fix: Fix | None = None, **kwargs: Any
) -> Scenario:
    return Scenario(chart, cards, fix, **kwargs)


def split_step_up(
    cycle: int | None,
    first_days: int = 7,
    second_from_day: int | None = None,
    first_dose: float = 9,
) -> list[dict[str, Any]]:
    """R/R cycle 1 written as two orders signed together, as some EHRs' treatment plans do: the
    first `first_days` days at `first_dose`, then 28 mcg/day to day 28 (from `second_from_day`,
    by default the day after the first order ends)."""
    day = second_from_day or first_days + 1
    second_start = (datetime.fromisoformat(START) + timedelta(days=day - 1)).isoformat()
    return [
        order(Step(first_dose, days=first_days), cycle=cycle, oid="blinatumomab-draft"),
        order(Step(28, days=29 - day), cycle=cycle, start=second_start, oid="blinatumomab-draft-2"),
    ]


def with_rate(resource: dict[str, Any], value: float, unit: str) -> dict[str, Any]:
    """The order with a rateQuantity beside each dosage's doseQuantity, as pumps are ordered."""
    rate = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    for dosage in resource["dosageInstruction"]:
        dosage["doseAndRate"][0]["rateQuantity"] = rate
    return resource


def written_as(resource: dict[str, Any], dose_and_rate: dict[str, Any]) -> dict[str, Any]:
    """The order with each dosage's dose written in another R4 form (rateRatio, doseRange)."""
    for dosage in resource["dosageInstruction"]:
        dosage["doseAndRate"] = [dose_and_rate]
    return resource


def ucum(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": "http://unitsofmeasure.org", "code": code}


YESTERDAY = "2026-03-01T09:00:00+00:00"
THREE_WEEKS_AGO = "2026-02-10T09:10:00+00:00"
SNOMED = "http://snomed.info/sct"


def weighed_again(
    chart: list[dict[str, Any]], quantity: dict[str, Any], when: str = YESTERDAY
) -> list[dict[str, Any]]:
    """The chart with a newer weight, its valueQuantity as the EHR wrote it."""
    newer = weight(P, 0, when=when, oid="wt-newer") | {"valueQuantity": quantity}
    return [*chart, newer]


def measured_again(
    chart: list[dict[str, Any]], quantity: dict[str, Any], when: str = YESTERDAY
) -> list[dict[str, Any]]:
    """The chart with a newer height, its valueQuantity as the EHR wrote it."""
    newer = height(P, 0, when=when, oid="ht-newer") | {"valueQuantity": quantity}
    return [*chart, newer]


def pump_rate_first(resource: dict[str, Any], value: float, unit: str) -> dict[str, Any]:
    """The first dosage as Epic sends it: the pump's volume rate listed before the ordered dose
    ("admin-amount" 10 mL/hr, then "ordered" 28 mcg/day), both in free text."""
    dosage = resource["dosageInstruction"][0]
    dose = dosage["doseAndRate"][0]["doseQuantity"]
    dosage["doseAndRate"] = [
        {"rateQuantity": {"value": value, "unit": unit}},
        {"doseQuantity": {"value": dose["value"], "unit": "mcg/day"}},
    ]
    return resource


def in_free_text(resource: dict[str, Any], unit: str) -> dict[str, Any]:
    """Each dosage's dose in `unit` as free text, without a UCUM code."""
    for dosage in resource["dosageInstruction"]:
        dose = dosage["doseAndRate"][0]["doseQuantity"]
        dosage["doseAndRate"][0]["doseQuantity"] = {"value": dose["value"], "unit": unit}
    return resource


def date_only(resource: dict[str, Any], start: str, end: str) -> dict[str, Any]:
    """The first dosage bounded by days without a time (FHIR: both days included)."""
    resource["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = {
        "start": start,
        "end": end,
    }
    return resource


RR_STEP_UP = (Step(9, days=7), Step(28, days=21))
STEP_UP_FIX: Fix = [(9.0, "ug/d", 7), (28.0, "ug/d", 21)]
C91_02 = condition(
    P, "C91.02", "Acute lymphoblastic leukemia, in relapse", clinical_status="relapse"
)
C91_01 = condition(
    P, "C91.01", "Acute lymphoblastic leukemia, in remission", clinical_status="remission"
)

RESTART_SYSTEM = "https://cds.example.org/fhir/CodeSystem/blinatumomab-restart-reason"


def restart(code: str, display: str) -> dict[str, Any]:
    """The reasonCode an order carries when it restarts after a toxicity (restarts.yaml)."""
    return {"coding": [{"system": RESTART_SYSTEM, "code": code, "display": display}]}


def noted(resource: dict[str, Any], text: str) -> dict[str, Any]:
    return resource | {"note": [{"text": text, "time": "2026-03-02T07:30:00+00:00"}]}


def tox(
    code: str, onset: str, *, resolved: str | None = None, cid: str | None = None
) -> dict[str, Any]:
    """A toxicity on the problem list (ICD-10-CM grade in the code), resolved or not."""
    titles = {
        "D89.833": "Cytokine release syndrome, grade 3",
        "D89.834": "Cytokine release syndrome, grade 4",
        "D89.839": "Cytokine release syndrome, grade unspecified",
        "G92.03": "Immune effector cell-associated neurotoxicity syndrome, grade 3",
        "G92.04": "Immune effector cell-associated neurotoxicity syndrome, grade 4",
        "R56.9": "Unspecified convulsions",
    }
    resource = condition(
        P,
        code,
        titles[code],
        cid=cid or f"tox-{code}",
        clinical_status="resolved" if resolved else "active",
        onset=onset,
    )
    if resolved:
        resource["abatementDateTime"] = resolved
    return resource


ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def named_condition(name: str, onset: str, local: str | None = None) -> dict[str, Any]:
    """A problem-list entry in words: text only, or the EHR's own problem code with that display
    (no ICD-10-CM code to carry the grade)."""
    resource = condition(P, "R69", name, cid="named-1", onset=onset)
    coding = [{"system": "https://ehr.example.org/problem-list", "code": local, "display": name}]
    resource["code"] = {"coding": coding, "text": name} if local else {"text": name}
    return resource


STEPPED_UP_C1 = blinatumomab_order(  # R/R cycle 1 from 2026-01-05 as ordered: 9, then 28 from day 8
    P,
    RR_STEP_UP,
    oid="blinatumomab-c1",
    start=C1_START,
    status="completed",
    authored="2026-01-05T08:00:00+00:00",
)
RESTART = order(Step(9, days=7), Step(28, days=21), cycle=2)  # the reduced restart, then 28


CRS3 = restart("crs-grade-3", "Restart after cytokine release syndrome grade 3")

CHILD_C2_FIX: Fix = [(15.91, "ug/d", 28)]  # 15 mcg/m²/day x 1.0607 m² (30 kg, 135 cm)


def reweighed(kg: float, *, status: str = "final", oid: str = "wt-2") -> dict[str, Any]:
    """Another body weight of the child, taken the morning of the order (after `child`'s)."""
    return weight(P, kg, when="2026-03-02T07:00:00+00:00", oid=oid) | {"status": status}


def as_rates(*steps: tuple[float, str, int]) -> tuple[Step, ...]:
    """Steps written as an infusion rate (rateQuantity), as a pump is programmed."""
    return tuple(Step(rate, unit, days=days, rate=True) for rate, unit, days in steps)


def ending(resource: dict[str, Any], end: str, start: str | None = None) -> dict[str, Any]:
    """The order with its first dosage's boundsPeriod.end (and start) as typed."""
    period = resource["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]
    period["end"] = end
    if start is not None:
        period["start"] = start
    return resource


RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
BLINATUMOMAB = {"coding": [{"system": RXNORM, "code": "1597258", "display": "blinatumomab"}]}
STABILIZER = {"text": "IV Solution Stabilizer"}


def strength(mass: float, mass_unit: str, volume: float, volume_unit: str = "mL") -> dict[str, Any]:
    """A Ratio of mass per volume, as a bag's strength is written (28 ug / 240 mL)."""
    return {"numerator": ucum(mass, mass_unit), "denominator": ucum(volume, volume_unit)}


def from_bag(
    resource: dict[str, Any],
    *ingredients: tuple[dict[str, Any], dict[str, Any] | None],
    amount: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The order's medication as the pharmacy's bag: a contained Medication with its ingredients
    (item, strength) and `amount`, instead of medicationCodeableConcept."""
    bag: dict[str, Any] = {
        "resourceType": "Medication",
        "id": "bag",
        "code": {"text": "blinatumomab in sodium chloride 0.9% IV infusion bag"},
        "ingredient": [
            {"itemCodeableConcept": item} | ({"strength": ratio} if ratio else {})
            for item, ratio in ingredients
        ],
    }
    if amount is not None:
        bag["amount"] = amount
    del resource["medicationCodeableConcept"]
    return resource | {"contained": [bag], "medicationReference": {"reference": "#bag"}}


def pumped(rate: float, days: int = 28, **kwargs: Any) -> dict[str, Any]:
    """A blinatumomab order whose only dose is the pump's rate in mL/h."""
    return order(*as_rates((rate, "mL/h", days)), **kwargs)


TYPO_END = "2026-02-01T10:00:00+00:00"  # a month before START: the end typed before the start
CHILD_C1 = (Step(5.3, days=7), Step(16, days=21))  # 5 then 15 mcg/m²/day x 1.0607 m², rounded
EDITED = "2026-03-02T07:30:00+00:00"  # half an hour before the draft is signed (SIGNED)


def interrupted(
    given: float,
    gap: float,
    steps: tuple[Step, ...] = RR_STEP_UP,
    *,
    stop: str = "mar",
    status: str = "stopped",
    indication: str = "relapsed-refractory",
    cycle: int | None = 1,
    edited: bool = False,
) -> list[dict[str, Any]]:
    """The cycle's order on file, begun `given + gap` days before the draft starts (2026-03-02
    10:00), its infusion stopped after `given` days, `gap` days before the draft. `stop`: how the
    chart says when: "mar" (its bag on the MAR, hung and stopped), "last-updated" (only the
    order's meta.lastUpdated, set when it was stopped), "nothing" (neither). `edited`: its
    meta.lastUpdated is half an hour before the draft is signed (its status was changed as the
    restart order was written: an edit, not the stop)."""
    begun = datetime.fromisoformat(START) - timedelta(days=given + gap)
    stopped = begun + timedelta(days=given)
    on_file = blinatumomab_order(
        P,
        steps,
        oid="blinatumomab-c1",
        indication=indication,
        cycle=cycle,
        start=begun.isoformat(),
        status=status,
        authored=(begun - timedelta(hours=2)).isoformat(),
    )
    if stop == "last-updated":
        on_file["meta"] = {"lastUpdated": stopped.isoformat()}
    if edited:
        on_file["meta"] = {"lastUpdated": EDITED}
    if stop != "mar":
        return [on_file]
    bag = blinatumomab_administration(
        P,
        "blinatumomab-c1-bag",
        begun,
        stopped,
        rate=steps[0].dose or 0,
        request="MedicationRequest/blinatumomab-c1",
    )
    return [on_file, bag]


SCENARIOS = [
    # --- rates written rounded (dose.yaml rate_rounding_max_percent: 3%) --------------------------
    pytest.param(
        S([*body_of(), order(*as_rates((1.17, "ug/h", 28)), cycle=2)], []),
        id="adult 70 kg, R/R c2, rate 1.17 mcg/h (28/24 = 1.1667 to 2 decimals, 28.08 a day) -> "
        "no card: it is the 28 mcg/day dose, not above the cap",
    ),
    pytest.param(
        S([*body_of(), order(*as_rates((1.167, "ug/h", 28)), cycle=2)], []),
        id="adult 70 kg, R/R c2, rate 1.167 mcg/h (3 decimals, 28.008 a day) -> no card",
    ),
    pytest.param(
        S([*body_of(), order(*as_rates((1.2, "ug/h", 28)), cycle=2)], []),
        id="adult 70 kg, R/R c2, rate 1.2 mcg/h (1 decimal, 28.8 a day, +2.9%: within the 3% "
        "bound) -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(*as_rates((1.3, "ug/h", 28)), cycle=2)],
            [OVERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="adult 70 kg, R/R c2, rate 1.3 mcg/h (31.2 a day: no rounding of 1.1667) -> critical",
    ),
    pytest.param(
        S(
            [*body_of(), order(*as_rates((1, "ug/h", 28)), cycle=2)],
            [UNDERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="adult 70 kg, R/R c2, integer rate 1 mcg/h (24 a day, -14%: beyond the bound) -> "
        "underdose warning, never excused as rounding",
    ),
    pytest.param(
        S([*body_of(), order(*as_rates((0.00117, "mg/h", 28)), cycle=2)], []),
        id="adult 70 kg, R/R c2, rate 0.00117 mg/h (28.08 mcg a day) -> no card",
    ),
    pytest.param(
        S([*body_of(), order(*as_rates((0.0063, "ug/min", 7), (1.17, "ug/h", 21)))], []),
        id="adult 70 kg, R/R c1 as rates: 0.0063 mcg/min days 1-7 (9/1440 = 0.00625 rounded, "
        "9.07 a day) then 1.17 mcg/h -> no card",
    ),
    pytest.param(
        S([*body_of(), order(*as_rates((0.38, "ug/h", 7), (1.17, "ug/h", 21)))], []),
        id="adult 70 kg, R/R c1 as rates: 0.38 mcg/h days 1-7 (9/24 = 0.375 rounded, 9.12 a day) "
        "then 1.17 mcg/h -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(*as_rates((0.4, "ug/h", 7)))],
            [OVERDOSE],
            [(9.0, "ug/d", 7)],
        ),
        id="adult 70 kg, R/R c1 as rates: 0.4 mcg/h days 1-7 (9.6 a day, +6.7%: beyond the "
        "bound) -> critical above the 9 mcg/day cap",
    ),
    pytest.param(
        S(
            [
                *child(44, None, sent_bsa=1.4),
                order(*as_rates((0.21, "ug/m2/h", 7), (0.63, "ug/m2/h", 21))),
            ],
            [],
        ),
        id="child 44 kg, charted BSA 1.4 m², R/R c1 as per-m² rates: 0.21 mcg/m²/h (5/24 = 0.2083 "
        "rounded) then 0.63 mcg/m²/h (15/24 = 0.625 rounded) -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                blinatumomab_order(
                    P,
                    as_rates((0.38, "ug/h", 7), (1.17, "ug/h", 21)),
                    oid="blinatumomab-c1",
                    start=C1_START,
                    status="completed",
                    authored="2026-01-05T08:00:00+00:00",
                ),
                tox("G92.03", "2026-01-08", resolved="2026-01-10"),
                RESTART,
            ],
            [TOXICITY_DISCONTINUE],
            summary_has=("9 mcg/day",),
        ),
        id="adult, cycle 1 run as rates (0.38 mcg/h days 1-7), grade 3 ICANS on day 4, restart "
        "ordered -> critical: it occurred at 9 mcg/day, discontinue permanently",
    ),
    # --- dates reversed: the end typed before the start -------------------------------------------
    pytest.param(
        S([*body_of(), ending(order(Step(28, days=28), cycle=2), TYPO_END)], [DATES_REVERSED]),
        id="adult 70 kg, R/R c2, 28 mcg/day, boundsPeriod 2026-03-02 to 2026-02-01 -> "
        "dates-reversed warning (days unverifiable), dose fine",
    ),
    pytest.param(
        S(
            [*body_of(), ending(order(Step(28, days=28), cycle=2), "2026-03-01", "2026-03-02")],
            [DATES_REVERSED],
            summary_has=("reversed",),
        ),
        id="adult 70 kg, R/R c2, boundsPeriod of days alone 2026-03-02 to 2026-03-01 -> "
        "dates-reversed warning",
    ),
    pytest.param(
        S(
            [*body_of(), ending(order(Step(28, days=28), cycle=2), START)],
            [DATES_REVERSED],
        ),
        id="adult 70 kg, R/R c2, boundsPeriod ending the moment it starts -> dates-reversed",
    ),
    pytest.param(
        S(
            [*body_of(), ending(order(Step(28, days=7), Step(28, days=21)), TYPO_END)],
            [OVERDOSE, DATES_REVERSED],
        ),
        id="adult 70 kg, R/R c1 starting at 28 with dates reversed -> critical overdose on day 1 "
        "(the overdose check still runs) and dates-reversed warning; no fix (days unknown)",
    ),
    pytest.param(
        S(
            [*body_of(), ending(order(Step(9, days=7), Step(28, days=21)), TYPO_END)],
            [DATES_REVERSED],
        ),
        id="adult 70 kg, R/R c1 9 (dates reversed) then 28 for 21 days -> dates-reversed warning "
        "only: the 28 step's days are unknown, no false overdose on days 2-7",
    ),
    pytest.param(
        S(
            [*body_of(), ending(order(Step(9, days=7), Step(40, days=21)), TYPO_END)],
            [OVERDOSE, DATES_REVERSED],
        ),
        id="adult 70 kg, R/R c1 9 (dates reversed) then 40 mcg/day -> critical (above the cap on "
        "any day) and dates-reversed warning",
    ),
    # --- which weight: only a final measurement doses, and one moment has one weight -----------
    pytest.param(
        S([*child(), reweighed(30), order(Step(28, days=28), cycle=2)], [OVERDOSE], CHILD_C2_FIX),
        id="child 30 kg 135 cm reweighed 30 kg this morning, c2 at 28 mcg/day -> critical",
    ),
    pytest.param(
        S(
            [*child(), reweighed(80, status="preliminary"), order(Step(28, days=28), cycle=2)],
            [NO_WEIGHT],
        ),
        id="child 30 kg, a newer weight of 80 kg still preliminary, c2 at 28 -> no usable weight, "
        "not the silence the 80 kg would give",
    ),
    pytest.param(
        S(
            [*child(), reweighed(80, status="registered"), order(Step(28, days=28), cycle=2)],
            [NO_WEIGHT],
        ),
        id="child 30 kg, a newer weight of 80 kg only registered, c2 at 28 -> no usable weight",
    ),
    pytest.param(
        S(
            [*child(), reweighed(30, status="amended"), order(Step(28, days=28), cycle=2)],
            [OVERDOSE],
            CHILD_C2_FIX,
        ),
        id="child 30 kg, the newer weight amended to 30 kg, c2 at 28 -> critical",
    ),
    pytest.param(
        S(
            [*child(), reweighed(80), reweighed(30, oid="wt-3"), order(Step(28, days=28), cycle=2)],
            [NO_WEIGHT],
        ),
        id="child weighed 80 kg and 30 kg at the same moment, c2 at 28 -> which is right is "
        "unknown: no usable weight",
    ),
    pytest.param(
        S(
            [*child(), reweighed(30), reweighed(80, oid="wt-3"), order(Step(28, days=28), cycle=2)],
            [NO_WEIGHT],
        ),
        id="the same two weights in the other order in the chart -> the same card",
    ),
    pytest.param(
        S(
            [
                *child(),
                reweighed(30),
                reweighed(30.4, oid="wt-3"),
                order(Step(28, days=28), cycle=2),
            ],
            [OVERDOSE],
            CHILD_C2_FIX,
        ),
        id="child weighed 30 kg and 30.4 kg at the same moment (one weight recorded twice), c2 "
        "at 28 -> critical",
    ),
    pytest.param(
        S([*body_of(), order(Step(1e28, days=28), cycle=2)], [OVERDOSE], [(28.0, "ug/d", 28)]),
        id="adult R/R c2 at 1e28 mcg/day (too many digits to round) -> critical, not a dose check "
        "that failed",
    ),
    # --- a BSA recorded in the chart against the weight and height it should come from --------
    pytest.param(
        S(
            [*child(sent_bsa=1.6), order(Step(24, days=28), cycle=2)],
            [OVERDOSE],
            CHILD_C2_FIX,
            summary_has=("at most 17.5 mcg/day",),
        ),
        id="child 30 kg 135 cm (Mosteller 1.06 m²), chart BSA 1.6 m² (66 lb read as kg), c2 at "
        "24 mcg/day -> critical by Mosteller, not silence by the chart's BSA",
    ),
    pytest.param(
        S([*child(sent_bsa=1.1), order(Step(16.5, days=28), cycle=2)], []),
        id="child 30 kg 135 cm, chart BSA 1.10 m² (another formula, within 10% of Mosteller), c2 "
        "at 16.5 mcg/day (15 x 1.10) -> no card: the chart's BSA is dosed by",
    ),
    # --- a recorded BSA and no height: held to what the weight and age allow (red team 4) ------
    # 9 years, 30 kg, no height: any plausible height gives 0.96-1.18 m²
    pytest.param(
        S(
            [*child(30, None, sent_bsa=1.6), order(Step(24, days=28), indication="mrd-positive")],
            [OVERDOSE],
            summary_has=("at most 19.44 mcg/day",),
        ),
        id="9-year-old 30 kg, no height, chart BSA 1.6 m² (more than any height gives), MRD "
        "24 mcg/day -> critical by the plausible BSA, not silence by the chart's",
    ),
    pytest.param(
        S(
            [*child(30, None, sent_bsa=1.1), order(Step(16.5, days=28), indication="mrd-positive")],
            [],
        ),
        id="9-year-old 30 kg, no height, chart BSA 1.10 m² (plausible), MRD 16.5 mcg/day "
        "(15 x 1.10) -> no card: the chart's BSA is dosed by",
    ),
    # --- weight bands around 45 kg (height 150 cm) -------------------------------------------
    pytest.param(
        S(
            [*body_of(44.9, 150), order(*RR_STEP_UP)],
            [OVERDOSE],
            [(6.84, "ug/d", 7), (20.52, "ug/d", 21)],
        ),
        id="44.9 kg R/R c1 ordered the adult 9/28 -> critical, per-m2 doses 6.84/20.52 suggested",
    ),
    pytest.param(
        S(
            [*body_of(44.9, 150), order(Step(5, "ug/m2/d", days=7), Step(15, "ug/m2/d", days=21))],
            [],
        ),
        id="44.9 kg R/R c1 5/15 ug/m2/d -> no card",
    ),
    pytest.param(
        S([*body_of(45.0, 150), order(*RR_STEP_UP)], []), id="45.0 kg R/R c1 fixed 9/28 -> no card"
    ),
    pytest.param(
        S([*body_of(45.1, 150), order(*RR_STEP_UP)], []), id="45.1 kg R/R c1 fixed 9/28 -> no card"
    ),
    pytest.param(
        S(
            [*body_of(45.0, 150), order(Step(5, "ug/m2/d", days=7), Step(15, "ug/m2/d", days=21))],
            [UNDERDOSE],
            STEP_UP_FIX,
        ),
        id="45.0 kg R/R c1 ordered per m2 (6.85/20.54) -> underdose warning, fixed 9/28 suggested",
    ),
    pytest.param(
        S(
            [*body_of(99.2, 150, kg_unit="[lb_av]"), order(*RR_STEP_UP)],
            [OVERDOSE],
            [(6.85, "ug/d", 7), (20.54, "ug/d", 21)],
        ),
        id="99.2 lb (44.996 kg) is under 45 kg -> 9/28 is an overdose",
    ),
    # --- BSA edges: a BSA of 1.8-2.0 m² at 40 kg would bind the 9 and 28 mcg/day caps, but no
    # 9-year-old of 40 kg has one (any plausible height gives at most 1.36 m²): with no height
    # the recorded BSA is not used and the dose is judged by the plausible BSA (red team 4) ----
    pytest.param(
        S([*child(40, None, sent_bsa=2.0), order(*RR_STEP_UP)], [OVERDOSE]),
        id="9-year-old 40 kg, no height, EHR BSA 2.0 m2 (not possible), 9/28 -> critical: above "
        "what any plausible BSA allows",
    ),
    pytest.param(
        S(
            [
                *child(40, None, sent_bsa=2.0),
                order(Step(5, "ug/m2/d", days=7), Step(15, "ug/m2/d", days=21)),
            ],
            [NO_BSA],
        ),
        id="9-year-old 40 kg, no height, EHR BSA 2.0 m2 (not possible), 5/15 ug/m2/d -> no-BSA "
        "warning: the per-m² dose is right, the BSA to give it by is unknown",
    ),
    pytest.param(
        S(
            [*child(40, None, sent_bsa=1.8), order(Step(9, days=7), Step(27, days=21))],
            [OVERDOSE],
        ),
        id="9-year-old 40 kg, no height, EHR BSA 1.8 m2 (not possible), 9/27 mcg/day -> critical",
    ),
    pytest.param(
        S(
            [
                *child(40, 150, sent_bsa=2.0, bsa_taken="2026-01-20T09:00:00+00:00"),
                order(Step(28, days=28), indication="mrd-positive"),
            ],
            [OVERDOSE],
            [(19.36, "ug/d", 28)],
        ),
        id="stale EHR BSA ignored: Mosteller 1.29 m2 -> 28 mcg/day is an overdose, 19.36 suggested",
    ),
    # --- MRD-positive --------------------------------------------------------------------------
    pytest.param(
        S([*body_of(), order(Step(28, days=28), indication="mrd-positive")], []),
        id="MRD c1 d1-28 adult 28 mcg/day -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(9, days=28), indication="mrd-positive")],
            [UNDERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="MRD c1 adult 9 mcg/day (no step-up for MRD) -> underdose warning",
    ),
    pytest.param(
        S([*body_of(), order(Step(28, days=28), indication="mrd-positive", cycle=3)], []),
        id="MRD c3 adult 28 mcg/day -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(30, days=28), indication="mrd-positive", cycle=4)],
            [OVERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="MRD c4 adult 30 mcg/day -> critical",
    ),
    pytest.param(
        S([*child(), order(Step(15.91, days=28), indication="mrd-positive", cycle=2)], []),
        id="MRD c2 child 30 kg 15.91 mcg/day (15 mcg/m2/day) -> no card",
    ),
    # --- relapsed/refractory -----------------------------------------------------------------
    pytest.param(
        S([*body_of(), order(*RR_STEP_UP)], []),
        id="R/R c1 adult 9 mcg/day d1-7 then 28 d8-28 -> no card",
    ),
    pytest.param(
        S([*body_of(), order(Step(9, days=7))], []),
        id="R/R c1 adult d1-7 bag at 9 mcg/day -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(28, days=28))],
            [OVERDOSE],
            STEP_UP_FIX,
            summary_has=("28 mcg/day ordered for days 1–7", "at most 9 mcg/day"),
        ),
        id="R/R c1 adult starting at 28 -> critical, step-up 9 then 28 suggested",
    ),
    pytest.param(
        S([*body_of(), order(Step(9, days=28))], [UNDERDOSE], STEP_UP_FIX),
        id="R/R c1 adult 9 for all 28 days (no step-up to 28) -> underdose warning",
    ),
    pytest.param(
        S([*body_of(), order(Step(9), Step(28, days=21, at="2026-03-09T10:00:00+00:00"))], []),
        id="R/R c1 step-up as two boundsPeriods (day 1 open-ended, day 8 dated) -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(9), Step(28, days=21, at="2026-03-05T10:00:00+00:00"))],
            [OVERDOSE],
            [(9, "ug/d", None), (9.0, "ug/d", 4), (28.0, "ug/d", 17)],
            summary_has=("28 mcg/day ordered for days 4–7",),
        ),
        id="R/R c1 step-up dated day 4 -> critical for days 4-7",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                order(
                    Step(9, days=7),
                    Step(28, days=21, at="2026-03-09T02:00:00+00:00"),
                    start="2026-03-02T20:00:00-05:00",
                ),
            ],
            [OVERDOSE],  # both run 03-09 02:00Z to 03-10 01:00Z: no fix of one of them
            summary_has=(
                "37 mcg/day in all (the sum of 2 dosages given at the same time) for day 7",
            ),
        ),
        id="R/R c1 begun 03-02 20:00 at -05:00, step-up dated 03-09 02:00Z (03-08 21:00 there) "
        "-> day 7, critical",
    ),
    pytest.param(
        S(
            [*body_of(), history_c1(start="2026-02-23T14:00:00+00:00"), order(Step(28, days=21))],
            [],
        ),
        id="R/R c1 day-8 bag hung at 10:00, cycle began at 14:00 on day 1 -> still day 8, no card",
    ),
    pytest.param(
        S([*body_of(), history_c1(), order(Step(28, days=21))], []),
        id="R/R c1 day-8 bag (cycle began with an earlier order) at 28 -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), *written_the_evening_before(), replacing(order(Step(28, days=21)))],
            [OVERDOSE],
            [(9.0, "ug/d", 1), (28.0, "ug/d", 20)],
            summary_has=("28 mcg/day ordered for day 7",),
        ),
        id="R/R c1, the cycle's order written 02-23 20:00 with no start, its MAR from 02-24, "
        "modified: 28 on 03-02 is day 7, not day 8 -> critical",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *written_the_evening_before(given="2026-02-23T22:00:00+00:00"),
                replacing(order(Step(28, days=21))),
            ],
            [],
        ),
        id="R/R c1, the same order hung at 22:00 the evening it was written, modified -> 03-02 "
        "is day 8, no card",
    ),
    pytest.param(
        S([*body_of(), cycle_order_on_file(), order(Step(28, days=21))], [ACTIVE_ON_FILE]),
        id="R/R c1, the cycle's 9-then-28 order still active on file, a second 28 mcg/day order "
        "from day 8 that does not replace it -> both would run (56 mcg/day): warning",
    ),
    pytest.param(
        S([*body_of(), cycle_order_on_file(), replacing(order(Step(28, days=21)))], []),
        id="R/R c1, the same second order signed as a modification of it (priorPrescription) "
        "-> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                cycle_order_on_file(),
                replacing(
                    order(Step(28, days=21)),
                    "https://ehr.example.org/fhir/MedicationRequest/blinatumomab-c1/_history/3",
                ),
            ],
            [],
        ),
        id="R/R c1, the modification names it by an absolute, versioned URL -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(weighed="2026-02-20T09:00:00+00:00", measured="2026-02-20T09:00:00+00:00"),
                cycle_order_on_file(),
                cycle_order_on_file(status="draft"),
            ],
            [],
        ),
        id="R/R c1, the order on file sent again, edited, as the draft being signed (same id) -> "
        "no card",
    ),
    pytest.param(
        S(
            [*body_of(), cycle_order_on_file(steps=(Step(9, days=7),)), order(Step(28, days=21))],
            [],
        ),
        id="R/R c1 step-up as two orders, the 9 mcg/day order (days 1-7) still active on file, "
        "28 from day 8 -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), cycle_order_on_file(status="on-hold"), order(Step(28, days=21))],
            [STOP_UNKNOWN],
        ),
        id="R/R c1, the cycle's order on hold, 28 from day 8 -> not running beside it (no "
        "overlap card); when it was held is nowhere on file (no MAR, no update time): could not "
        "verify the day of infusion, not an all clear",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(days=28, start="2026-01-05T10:00:00+00:00") | {"status": "active"},
                order(Step(28, days=28), cycle=2),
            ],
            [],
        ),
        id="R/R c2 on 03-02, cycle 1 (01-05 to 02-02) never marked completed -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), history_c1(), order(Step(9, days=21))],
            [UNDERDOSE],
            [(28.0, "ug/d", 21)],
            summary_has=("days 8–28",),
        ),
        id="R/R c1 day-8 bag at 9 -> underdose warning, 28 suggested",
    ),
    pytest.param(
        S([*body_of(), history_c1(), order(Step(28, days=21), cycle=None)], []),
        id="R/R day-8 bag, cycle inferred from the earlier order, at 28 -> no card",
    ),
    pytest.param(
        S([*body_of(), history_c1(), order(Step(40, days=21))], [OVERDOSE], [(28.0, "ug/d", 21)]),
        id="R/R c1 day-8 bag at 40 -> critical",
    ),
    pytest.param(
        S([*body_of(), order(Step(28, days=28), cycle=2)], []), id="R/R c2 adult 28 -> no card"
    ),
    pytest.param(
        S([*body_of(), order(Step(9, days=28), cycle=2)], [UNDERDOSE], [(28.0, "ug/d", 28)]),
        id="R/R c2 adult 9 (step-up only in c1) -> underdose warning",
    ),
    pytest.param(
        S([*body_of(), order(Step(28, days=28), cycle=3)], []), id="R/R c3 adult 28 -> no card"
    ),
    pytest.param(
        S([*body_of(), order(Step(28, days=28), cycle=5)], []), id="R/R c5 adult 28 -> no card"
    ),
    pytest.param(
        S([*body_of(), order(Step(28, days=28), cycle=6)], []), id="R/R c6 adult 28 -> no card"
    ),
    pytest.param(
        S([*body_of(), order(Step(28, days=28), cycle=9)], []), id="R/R c9 adult 28 -> no card"
    ),
    # a cycle beyond the label's (the cycle-limits card says so): judged by the indication's last
    # schedule, not "partly checked ... code the indication and cycle" (red team rt-tox noise)
    pytest.param(
        S([*body_of(), order(Step(28, days=28), cycle=10)], []),
        id="R/R c10 adult 28 -> no dose card (continued therapy's 28 mcg/day)",
    ),
    pytest.param(
        S([*body_of(), order(Step(40, days=28), cycle=10)], [OVERDOSE], [(28.0, "ug/d", 28)]),
        id="R/R c10 adult 40 -> critical overdose",
    ),
    pytest.param(
        S([*body_of(), order(Step(28, days=28), cycle=5, indication="mrd-positive")], []),
        id="MRD c5 (beyond the 4 of the label) adult 28 -> no dose card",
    ),
    pytest.param(
        S([*body_of(), order(Step(32, days=28), cycle=7)], [OVERDOSE], [(28.0, "ug/d", 28)]),
        id="R/R c7 adult 32 -> critical",
    ),
    pytest.param(
        S([*child(), order(Step(5.3, days=7), Step(15.91, days=21))], []),
        id="R/R c1 child 30 kg 5.30/15.91 mcg/day -> no card",
    ),
    # --- consolidation ---------------------------------------------------------------------------
    pytest.param(
        S([*body_of(), order(Step(28, days=28), indication="consolidation")], []),
        id="consolidation c1 adult 28 (no step-up) -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(9, days=28), indication="consolidation", cycle=2)],
            [UNDERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="consolidation c2 adult 9 -> underdose warning",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(30, days=28), indication="consolidation", cycle=4)],
            [OVERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="consolidation c4 adult 30 -> critical",
    ),
    # --- unit forms (adult, R/R cycle 2, 28 mcg/day) ------------------------------------------
    pytest.param(
        S([*body_of(), order(Step(28, "ug/d", days=28), cycle=2)], []), id="28 ug/d -> no card"
    ),
    pytest.param(
        S([*body_of(), order(Step(28, "ug/(24.h)", days=28), cycle=2)], []),
        id="28 ug/(24.h) -> no card",
    ),
    pytest.param(
        S([*body_of(), order(Step(0.028, "mg/d", days=28), cycle=2)], []),
        id="0.028 mg/d is exactly 28 mcg/day -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(0.0285, "mg/d", days=28), cycle=2)],
            [OVERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="0.0285 mg/d = 28.5 mcg/day -> critical above the cap",
    ),
    pytest.param(
        S([*body_of(), order(Step(1.1667, "ug/h", days=28, rate=True), cycle=2)], []),
        id="rateQuantity 1.1667 ug/h = 28.00 mcg/day -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(1.25, "ug/h", days=28, rate=True), cycle=2)],
            [OVERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="rateQuantity 1.25 ug/h = 30 mcg/day -> critical",
    ),
    pytest.param(
        S([*body_of(), order(Step(28, "ug", days=28), cycle=2)], []),
        id="28 ug per administration once a day -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                written_as(
                    order(Step(28, days=28), cycle=1),
                    {"rateRatio": {"numerator": ucum(28, "ug"), "denominator": ucum(1, "d")}},
                ),
            ],
            [OVERDOSE],
            STEP_UP_FIX,
        ),
        id="R/R c1 rateRatio 28 ug / 1 d from day 1 -> critical, as 28 ug/d would be",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                written_as(
                    order(Step(28, days=28), cycle=2),
                    {"rateRatio": {"numerator": ucum(28, "ug"), "denominator": ucum(24, "h")}},
                ),
            ],
            [],
        ),
        id="rateRatio 28 ug / 24 h in cycle 2 -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                written_as(
                    order(Step(28, days=28), cycle=1),
                    {"doseRange": {"low": ucum(9, "ug/d"), "high": ucum(28, "ug/d")}},
                ),
            ],
            [OVERDOSE],
            STEP_UP_FIX,
        ),
        id="R/R c1 doseRange 9-28 ug/d from day 1 -> critical (the range allows 28 on day 1)",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                written_as(
                    order(Step(28, days=28), cycle=2),
                    {"rateRatio": {"numerator": ucum(28, "ug")}},
                ),
            ],
            [NOT_COMPUTABLE],
        ),
        id="rateRatio without its denominator -> cannot verify",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                order(Step(28, days=28), cycle=2),
                order(Step(28, days=28), cycle=2, oid="blinatumomab-draft-2"),
            ],
            [OVERLAP],
        ),
        id="two 28 mcg/day orders for the same 28 days signed together -> critical, said once",
    ),
    pytest.param(
        S([*body_of(), *split_step_up(cycle=1)], []),
        id="R/R cycle 1 step-up as two orders (9 mcg days 1-7, 28 mcg days 8-28) signed together "
        "-> no dose card (the second order is day 8, not day 1)",
    ),
    pytest.param(
        S([*body_of(), *split_step_up(cycle=None)], []),
        id="the same two orders with no cycle on either and no history -> no dose card (one cycle)",
    ),
    pytest.param(
        S(
            [*body_of(), *split_step_up(cycle=1, first_days=5)],
            [OVERDOSE],
            [(9, "ug/d", 2), (28, "ug/d", 21)],
            summary_has=("days 6–7",),
            fixed_order="blinatumomab-draft-2",
        ),
        id="step-up as two orders, the 28 mcg order from day 6 -> critical overdose for days 6-7",
    ),
    pytest.param(
        S(
            [*body_of(), *split_step_up(cycle=1, second_from_day=5)],
            [OVERLAP, OVERDOSE],
            [(9, "ug/d", 3), (28, "ug/d", 21)],
            summary_has=("days 5–7",),
            fixed_order="blinatumomab-draft-2",
        ),
        id="step-up as two orders, the 28 mcg order hung on day 5 while 9 mcg runs -> overlap, "
        "and an overdose for days 5-7",
    ),
    pytest.param(
        S([*body_of(), *split_step_up(cycle=1, first_dose=28)], [OVERDOSE], [(9, "ug/d", 7)]),
        id="step-up as two orders, 28 mcg/day from day 1 -> critical overdose on the first order",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                order(Step(28, days=14), cycle=2),
                order(
                    Step(28, days=14, at="2026-03-16T10:00:00+00:00"),
                    cycle=2,
                    oid="blinatumomab-draft-2",
                ),
            ],
            [],
        ),
        id="cycle 2 as two orders, days 1-14 then 15-28 -> no card (one after the other)",
    ),
    pytest.param(
        S(
            [*body_of(), with_rate(order(Step(28, days=28), cycle=2), 2.5, "ug/h")],
            [NOT_COMPUTABLE],
        ),
        id="28 ug/d beside a rate of 2.5 ug/h (60 mcg/day) -> cannot verify, they disagree",
    ),
    pytest.param(
        S([*body_of(), with_rate(order(Step(28, days=28), cycle=2), 1.1667, "ug/h")], []),
        id="28 ug/d beside a rate of 1.1667 ug/h (28 mcg/day) -> no card",
    ),
    pytest.param(
        S([*body_of(), with_rate(order(Step(28, days=28), cycle=2), 10, "mL/h")], []),
        id="28 ug/d beside a pump rate of 10 mL/h (a volume, not a dose) -> no card",
    ),
    pytest.param(
        S([*body_of(), order(Step(14, "ug", days=28, frequency=2), cycle=2)], []),
        id="14 ug per administration twice a day -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(28, "ug", days=28, frequency=3), cycle=2)],
            [OVERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="28 ug three times a day = 84 mcg/day -> critical",
    ),
    pytest.param(
        S([*body_of(), order(Step(28, "ug", days=28, frequency=None), cycle=2)], [NOT_COMPUTABLE]),
        id="28 ug per administration without frequency -> cannot verify",
    ),
    pytest.param(
        S([*body_of(), order(Step(15, "ug/m2/d", days=28), cycle=2)], []),
        id="adult 15 ug/m2/d x BSA 1.85 = 27.79 mcg/day -> no card",
    ),
    pytest.param(
        S([*body_of(), order(Step(2, "{pill}", days=28), cycle=2)], [NOT_COMPUTABLE]),
        id="{pill} unit -> cannot verify dose warning, never a silent pass",
    ),
    pytest.param(
        S([*body_of(), order(Step(240, "mL", days=28), cycle=2)], [NOT_COMPUTABLE]),
        id="mL (a volume) -> cannot verify dose warning",
    ),
    # --- tolerance edges -------------------------------------------------------------------------
    pytest.param(
        S([*child(), order(Step(17.34, days=28), indication="mrd-positive")], []),
        id="child 30 kg MRD 17.34 (+9% of 15.91) -> no card",
    ),
    pytest.param(
        S(
            [*child(), order(Step(17.66, days=28), indication="mrd-positive")],
            [OVERDOSE],
            [(15.91, "ug/d", 28)],
        ),
        id="child 30 kg MRD 17.66 (+11%) -> critical, 15.91 suggested",
    ),
    pytest.param(
        S([*child(), order(Step(14.48, days=28), indication="mrd-positive")], []),
        id="child 30 kg MRD 14.48 (-9%) -> no card",
    ),
    pytest.param(
        S(
            [*child(), order(Step(14.16, days=28), indication="mrd-positive")],
            [UNDERDOSE],
            [(15.91, "ug/d", 28)],
        ),
        id="child 30 kg MRD 14.16 (-11%) -> underdose warning",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(28.5, days=28), indication="mrd-positive")],
            [OVERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="adult 28.5 (inside +10% but above the 28 cap) -> critical",
    ),
    pytest.param(
        S([*body_of(), order(Step(25.2, days=28), indication="mrd-positive")], []),
        id="adult 25.2 (exactly -10%) -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(25, days=28), indication="mrd-positive")],
            [UNDERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="adult 25 (-10.7%, outside the band) -> underdose warning",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(24, days=28), indication="mrd-positive")],
            [UNDERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="adult 24 (-14%) -> underdose warning",
    ),
    pytest.param(
        S([*body_of(), order(Step(9.5, days=7), Step(28, days=21))], [OVERDOSE], STEP_UP_FIX),
        id="adult R/R c1 9.5 on days 1-7 (above the 9 cap) -> critical",
    ),
    # --- data the check needs ---------------------------------------------------------------------
    pytest.param(
        S([*body_of(None, 176), order(*RR_STEP_UP)], [NO_WEIGHT]),
        id="no weight, R/R c1 9/28 -> warning only (caps hold)",
    ),
    pytest.param(
        S([*body_of(None, 176), order(Step(30, days=28), cycle=2)], [OVERDOSE, NO_WEIGHT]),
        id="no weight, 30 mcg/day -> critical above the cap + no-weight warning, no fix",
    ),
    pytest.param(
        S([*body_of(None, 176), order(Step(28, days=28))], [OVERDOSE, NO_WEIGHT]),
        id="no weight, R/R c1 starting at 28 -> critical above the 9 cap of days 1-7",
    ),
    pytest.param(
        S([*body_of(weighed="2026-01-10T09:00:00+00:00"), order(*RR_STEP_UP)], []),
        id="adult 70.2 kg weighed 51 days ago, right dose -> silent (a newer weight cannot "
        "change the fixed dose)",
    ),
    pytest.param(
        S([*body_of(46, weighed="2026-01-10T09:00:00+00:00"), order(*RR_STEP_UP)], [WEIGHT_STALE]),
        id="46 kg (near 45) weighed 51 days ago, right dose -> stale-weight warning",
    ),
    pytest.param(
        S(
            [
                *child(weighed="2026-01-10T09:00:00+00:00"),
                order(Step(5.3, days=7), Step(15.91, days=21)),
            ],
            [WEIGHT_STALE],
        ),
        id="child 30 kg (BSA-dosed) weighed 51 days ago, right dose -> stale-weight warning",
    ),
    pytest.param(
        S(
            [
                *body_of(7.5, 68, birth_date="2025-06-01", weighed="2026-02-20T09:00:00+00:00"),
                order(Step(1.88, days=7), Step(5.65, days=21)),
            ],
            [WEIGHT_STALE],
        ),
        id="infant 9 months 7.5 kg weighed 10 days ago (infant limit 7 days) -> stale warning",
    ),
    pytest.param(
        S(
            [*body_of(weighed="2026-01-10T09:00:00+00:00"), order(Step(28, days=28))],
            [OVERDOSE],
            STEP_UP_FIX,
        ),
        id="adult weighed 51 days ago and R/R c1 starting at 28 -> critical only",
    ),
    pytest.param(
        S([*child(30, None), order(Step(15, days=28), indication="mrd-positive")], [NO_BSA]),
        id="child 30 kg, no height, 15 mcg/day -> no-BSA warning (caps checked)",
    ),
    pytest.param(
        S(
            [*child(30, None), order(Step(30, days=28), indication="mrd-positive")],
            [OVERDOSE],
        ),
        id="child 30 kg, no height, 30 mcg/day -> critical above any plausible BSA",
    ),
    # --- no height: the BSA bounded by the weight and the growth charts for the age (item 1) ---
    # 9 years (born 2016-05-09), 30 kg: height 109.6-166.7 cm (P3/P97 +/- 10%), BSA 0.96-1.18 m²
    # -> MRD 15 mcg/m²/day is 14.3-17.7 mcg/day; over 19.44 (+10%) or under 12.9 (-10%) is wrong.
    pytest.param(
        S(
            [*body_of(30, None, birth_date="2017-09-01"), order(Step(28, days=28))],
            [OVERDOSE],
            summary_has=("at most 6.36 mcg/day",),
        ),
        id="8-year-old 30 kg, no height, R/R cycle 1 day 1, 28 mcg/day -> critical overdose",
    ),
    pytest.param(
        S(
            [*child(30, None), order(Step(25, days=28), indication="mrd-positive")],
            [OVERDOSE],
            summary_has=("at most 19.44 mcg/day",),
        ),
        id="9-year-old 30 kg, no height, MRD 25 mcg/day (under the 28 cap) -> critical: above "
        "what any plausible BSA allows",
    ),
    pytest.param(
        S([*child(30, None), order(Step(10, days=28), indication="mrd-positive")], [UNDERDOSE]),
        id="9-year-old 30 kg, no height, MRD 10 mcg/day -> underdose warning: below the smallest "
        "plausible BSA",
    ),
    pytest.param(
        S([*child(30, None), order(Step(17, days=28), indication="mrd-positive")], [NO_BSA]),
        id="9-year-old 30 kg, no height, MRD 17 mcg/day (plausible) -> today's no-BSA warning",
    ),
    pytest.param(
        S(
            [*child(30, None), order(Step(15, "ug/m2/d", days=28), indication="mrd-positive")],
            [NO_BSA],
        ),
        id="child 30 kg, no height, 15 ug/m2/d MRD -> no-BSA warning only",
    ),
    pytest.param(
        S(
            [*child(30, None), order(Step(15, "ug/m2/d", days=28))],
            [OVERDOSE, NO_BSA],
            [(5.0, "ug/m2/d", 7), (15.0, "ug/m2/d", 21)],
        ),
        id="child 30 kg, no height, R/R c1 15 ug/m2/d from day 1 -> critical per m2 + no-BSA",
    ),
    pytest.param(
        S(
            [
                *child(30, 135, measured="2024-12-01T09:00:00+00:00"),
                order(Step(15, days=28), indication="mrd-positive"),
            ],
            [NO_BSA],
        ),
        id="child 30 kg, height 15 months old -> no-BSA warning",
    ),
    pytest.param(
        S([*body_of(), order(Step(28, days=28), indication=None)], [SCHEDULE_UNKNOWN]),
        id="unknown indication, c1 starting at 28 -> schedule-unknown warning, not critical",
    ),
    pytest.param(
        S([*body_of(), order(Step(9, days=7), indication=None)], [SCHEDULE_UNKNOWN]),
        id="unknown indication, c1 9 on days 1-7 -> schedule-unknown warning",
    ),
    pytest.param(
        S([*body_of(), order(Step(28, days=28), indication=None, cycle=2)], []),
        id="unknown indication, c2 28 (every indication agrees) -> no card",
    ),
    pytest.param(
        S([*body_of(), order(Step(30, days=28), indication=None)], [OVERDOSE]),
        id="unknown indication, 30 mcg/day -> critical (above every schedule)",
    ),
    pytest.param(
        S([*body_of(), C91_02, order(Step(28, days=28), indication=None)], [OVERDOSE], STEP_UP_FIX),
        id="indication from condition C91.02 (relapse) -> R/R c1 at 28 is critical",
    ),
    pytest.param(
        S([*body_of(), C91_02, order(*RR_STEP_UP, indication=None)], []),
        id="indication from condition C91.02, R/R step-up -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                C91_02 | {"code": {"coding": [{"system": ICD, "code": "C9102"}]}},
                order(Step(28, days=28), indication=None),
            ],
            [OVERDOSE],
            STEP_UP_FIX,
        ),
        id="condition C91.02 written without its dot (C9102), uncoded order at 28 -> R/R c1: "
        "critical, step-up suggested",
    ),
    pytest.param(
        S([*body_of(), C91_01, order(Step(28, days=28), indication=None)], [SCHEDULE_UNKNOWN]),
        id="condition C91.01 (remission: MRD or consolidation) at 28 -> schedule-unknown",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(None, FIFTY_SIX_DAYS_AGO, 28, 28),
                order(Step(28, days=28), cycle=None),
            ],
            [],
        ),
        id="history without cycle numbers, one whole cycle 56 days ago, R/R at 28 -> counted as "
        "cycle 2: no dose card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(1, FIFTY_SIX_DAYS_AGO, 14, 28),
                history_c1(2, "2026-01-19T10:00:00+00:00", 14, 28),
                order(Step(28, days=28), cycle=None),
            ],
            [SCHEDULE_UNKNOWN],
        ),
        id="one run of infusions on file numbered both cycle 1 and cycle 2, R/R at 28 -> "
        "schedule-unknown warning",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(None, FIFTY_SIX_DAYS_AGO, 28, 28),
                order(Step(30, days=28), cycle=None),
            ],
            [OVERDOSE],
            [(28, "ug/d", 28)],
        ),
        id="history without cycle numbers (counted as cycle 2), R/R at 30 -> critical, 28 offered",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(1, FIFTY_SIX_DAYS_AGO, 28, 28),
                order(Step(28, days=28), cycle=None),
            ],
            [],
        ),
        id="cycle 2 inferred from a cycle-1 order 56 days ago, 28 -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(1, FIFTY_SIX_DAYS_AGO, 28, 28),
                order(Step(9, days=28), cycle=None),
            ],
            [UNDERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="cycle 2 inferred, 9 mcg/day -> underdose warning",
    ),
    # --- a new course: cycle numbering starts again (cycles.yaml new_course_after_days) --------
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(1, "2024-01-08T10:00:00+00:00", 28, 28),
                history_c1(2, "2024-02-19T10:00:00+00:00", 28, 28),
                order(Step(28, days=28), cycle=None),
            ],
            [OVERDOSE],
            STEP_UP_FIX,
            summary_has=("28 mcg/day ordered for days 1–7",),
        ),
        id="R/R cycles 1-2 in 2024, R/R at 28 two years later without a cycle -> a new course: "
        "cycle 1, critical, step-up suggested",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(None, "2024-01-08T10:00:00+00:00", 28, 28, indication=None),
                order(Step(28, days=28), cycle=None),
            ],
            [OVERDOSE],
            STEP_UP_FIX,
        ),
        id="an unnumbered 2024 infusion, R/R at 28 without a cycle -> cycle 1, critical",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(1, "2024-01-08T10:00:00+00:00", 28, 28),
                history_c1(2, "2024-02-19T10:00:00+00:00", 28, 28),
                *split_step_up(None),
            ],
            [],
        ),
        id="a 2024 course on file, the new course's step-up as two uncoded orders (9 for days "
        "1-7, 28 from day 8) -> cycle 1 day 1 and day 8: no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(1, "2024-01-08T10:00:00+00:00", 28, 28),
                order(Step(28, days=28), cycle=1),
            ],
            [OVERDOSE],
            STEP_UP_FIX,
        ),
        id="R/R coded cycle 1 at 28, a coded cycle 1 from 2024 on file -> day 1 of the new "
        "course (not day 787 of the old one): critical",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(1, "2025-11-03T10:00:00+00:00", 28, 15, indication="mrd-positive"),
                history_c1(2, "2025-12-15T10:00:00+00:00", 28, 15, indication="mrd-positive"),
                order(Step(28, days=28), cycle=None),
            ],
            [OVERDOSE],
            STEP_UP_FIX,
        ),
        id="MRD-positive cycles 1-2 ended 49 days ago, relapse: R/R at 28 without a cycle -> "
        "cycle 1 of R/R, critical",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                C91_02,
                history_c1(1, "2026-01-19T10:00:00+00:00", 28, 28, indication="mrd-positive"),
                order(Step(28, days=28), cycle=None, indication=None),
            ],
            [],
        ),
        id="MRD-positive cycle 1 (coded) ended 14 days ago, an uncoded order at 28 and a relapse "
        "on the problem list -> the problem list does not start a new course: cycle 2, no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(1, "2025-10-27T10:00:00+00:00", 28, 28),
                order(Step(28, days=28), cycle=None),
            ],
            [],
        ),
        id="R/R cycle 1 ended 98 days ago (a long delay, same course), 28 -> cycle 2, no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(1, "2025-09-01T10:00:00+00:00", 28, 28),
                order(Step(28, days=28), cycle=2),
            ],
            [],
        ),
        id="R/R coded cycle 2 after 154 days free -> the coded cycle stands, no dose card",
    ),
    # --- order-select and empty doses ---------------------------------------------------------
    pytest.param(
        S([*body_of(), order(Step(None, days=28))], [PENDING], select=True),
        id="order-select, no dose yet -> info reminder only",
    ),
    pytest.param(
        S([*body_of(), order(Step(28, days=28))], [OVERDOSE], STEP_UP_FIX, select=True),
        id="order-select, R/R c1 at 28 -> critical already at selection",
    ),
    pytest.param(
        S([*body_of(), order(Step(None, days=28))], [NOT_COMPUTABLE]),
        id="order-sign, no dose -> cannot verify dose warning",
    ),
    # --- restarts after toxicity (label 2.5, restarts.yaml) ------------------------------------
    pytest.param(
        S([*body_of(), order(*RR_STEP_UP, cycle=2, reason=CRS3)], []),
        id="adult R/R c2 restart after CRS grade 3 at 9 then 28 -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(28, days=21), cycle=2, reason=CRS3)],
            [OVERDOSE],
            [(9.0, "ug/d", 7), (28.0, "ug/d", 14)],
            summary_has=("overdose",),
        ),
        id="adult R/R c2 restart after CRS grade 3 straight at 28 -> critical, 9 for 7 days offer",
    ),
    pytest.param(
        S(
            [*body_of(), noted(order(Step(28, days=21), cycle=3), "Restart after grade 3 CRS")],
            [OVERDOSE],
            [(9.0, "ug/d", 7), (28.0, "ug/d", 14)],
        ),
        id="adult R/R c3 note 'restart after grade 3 CRS' at 28 -> critical",
    ),
    pytest.param(
        S(
            [*body_of(), noted(order(Step(28, days=21), cycle=2), "Resume after CRS, resolved")],
            [GRADE_UNKNOWN],
        ),
        id="adult R/R c2 note 'resume after CRS' (grade not stated) at 28 -> warning asking for "
        "the grade, no critical 9 mcg/day restart (item 6)",
    ),
    pytest.param(
        S(
            [*body_of(), noted(order(Step(28, days=28), cycle=2), "Restart after grade 2 CRS")],
            [],
        ),
        id="adult R/R c2 note 'restart after grade 2 CRS' at 28 -> no card (grade 2 changes "
        "nothing)",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                noted(order(Step(28, days=28), cycle=2), "Restarting after neurotoxicity"),
            ],
            [GRADE_UNKNOWN],
        ),
        id="adult R/R c2 note 'restarting after neurotoxicity' -> grade-unknown warning only",
    ),
    # --- toxicity on the chart (item 2): Conditions with graded ICD-10-CM codes ----------------
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                tox("D89.834", "2026-01-07", resolved="2026-01-10"),
                order(Step(28, days=28), cycle=2),
            ],
            [TOXICITY_DISCONTINUE],
            summary_has=("CRS grade 4",),
        ),
        id="adult, resolved grade 4 CRS after cycle 1, new order -> critical discontinue",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                tox("D89.834", "2026-01-05", resolved="2026-01-08"),
                order(Step(28, days=28), cycle=2),
            ],
            [TOXICITY_DISCONTINUE],
        ),
        id="adult, grade 4 CRS dated 2026-01-05 alone, the day cycle 1 began at 10:00 -> "
        "blinatumomab's: critical discontinue",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                named_condition("Cytokine release syndrome, Grade IV", "2026-01-07"),
                order(Step(28, days=28), cycle=2),
            ],
            [TOXICITY_DISCONTINUE],
            summary_has=("CRS grade 4",),
        ),
        id="adult, 'Cytokine release syndrome, Grade IV' on the problem list in words only (no "
        "ICD-10-CM code) after cycle 1 -> critical discontinue",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                named_condition("ICANS G4", "2026-01-07", local="PL-88213"),
                order(Step(28, days=28), cycle=2),
            ],
            [TOXICITY_DISCONTINUE],
        ),
        id="adult, 'ICANS G4' (the EHR's own problem code) after cycle 1 -> critical discontinue",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                tox("D89.834", "2026-01-07")
                | {"code": {"coding": [{"system": ICD, "code": "D89834"}]}},
                order(Step(28, days=28), cycle=2),
            ],
            [TOXICITY_DISCONTINUE],
        ),
        id="adult, grade 4 CRS coded ICD-10-CM without its dot (D89834) -> critical discontinue",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                named_condition("Cytokine release syndrome", "2026-01-07"),
                order(Step(28, days=28), cycle=2),
            ],
            [GRADE_UNKNOWN],
        ),
        id="adult, 'Cytokine release syndrome' named without a grade after cycle 1 -> warning: "
        "confirm the grade",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                named_condition("Chronic rhinosinusitis (CRS)", "2026-01-07"),
                order(Step(28, days=28), cycle=2),
            ],
            [],
        ),
        id="adult, 'Chronic rhinosinusitis (CRS)' on the problem list -> not a toxicity, no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                tox("G92.04", "2026-01-12", resolved="2026-01-14"),
                order(Step(9, days=7), cycle=2),
            ],
            [TOXICITY_DISCONTINUE],
        ),
        id="adult, grade 4 ICANS in cycle 1, even a 9 mcg/day order -> critical discontinue",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                tox("R56.9", "2026-01-08", cid="sz-1"),
                tox("R56.9", "2026-01-20", cid="sz-2"),
                order(Step(28, days=28), cycle=2),
            ],
            [TOXICITY_DISCONTINUE],
        ),
        id="adult, two seizures after cycle 1 began -> critical discontinue",
    ),
    pytest.param(
        S(
            [*body_of(), tox("D89.834", "2025-06-01", resolved="2025-06-03"), order(*RR_STEP_UP)],
            [],
        ),
        id="adult, grade 4 CRS before any blinatumomab (no earlier order) -> not blinatumomab's, "
        "no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                tox("D89.833", "2026-01-08", resolved="2026-01-10"),
                order(Step(28, days=28), cycle=2),
            ],
            [OVERDOSE],
            [(9.0, "ug/d", 7), (28.0, "ug/d", 21)],
        ),
        id="adult, grade 3 CRS in cycle 1, next order straight at 28 -> critical, 9 for 7 days "
        "then 28 offered",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                tox("D89.833", "2026-01-08", resolved="2026-01-10"),
                order(Step(9, days=7), Step(28, days=21), cycle=2),
            ],
            [],
        ),
        id="adult, grade 3 CRS in cycle 1, restart 9 for 7 days then 28 -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                STEPPED_UP_C1,
                tox("G92.03", "2026-01-08", resolved="2026-01-10"),
                RESTART,
            ],
            [TOXICITY_DISCONTINUE],
            summary_has=("9 mcg/day",),
        ),
        id="adult, grade 3 ICANS on day 4 of cycle 1 (at 9 mcg/day), resolved in 2 days, a "
        "restart ordered -> critical: it occurred at 9 mcg/day, discontinue permanently",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                STEPPED_UP_C1,
                tox("G92.03", "2026-01-19", resolved="2026-01-21"),
                RESTART,
            ],
            [],
        ),
        id="adult, grade 3 ICANS on day 15 of cycle 1 (at 28), resolved in 2 days, restart 9 for "
        "7 days then 28 -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                tox("D89.833", "2026-01-08", resolved="2026-01-10"),
                order(Step(9, days=7), cycle=2, oid="blinatumomab-restart-9"),
                order(Step(28, days=21), cycle=2, start="2026-03-09T10:00:00+00:00"),
            ],
            [],
        ),
        id="adult, grade 3 CRS in cycle 1, the restart written as two orders signed together "
        "(9 for 7 days, then 28) -> no card (the 28 order is restart day 8)",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                tox("D89.833", "2026-01-08", resolved="2026-01-10"),
                history_c1(cycle=2, start="2026-02-20T10:00:00+00:00", days=7),
                order(Step(28, days=21), cycle=2),
            ],
            [],
        ),
        id="adult, grade 3 CRS, the 7 reduced days already given -> 28 mcg/day, no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                history_c1(start=C1_START, days=28),
                tox("D89.839", "2026-01-08", resolved="2026-01-10"),
                order(Step(28, days=28), cycle=2),
            ],
            [GRADE_UNKNOWN],
        ),
        id="adult, CRS grade unspecified (D89.839) on the chart -> warning to confirm the grade",
    ),
    pytest.param(
        S([*body_of(), noted(order(Step(28, days=28), cycle=2), "Monitor for CRS")], []),
        id="adult R/R c2 at 28 with a note about CRS that is no restart -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                order(
                    Step(9, days=7),
                    indication="mrd-positive",
                    reason=restart("neurotoxicity-grade-3", "Neurotoxicity grade 3"),
                ),
            ],
            [],
        ),
        id="adult MRD c1 restart after neurotoxicity grade 3, 9 mcg/day for 7 days -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), order(Step(9, days=28), cycle=2, reason=CRS3)],
            [UNDERDOSE],
            [(9.0, "ug/d", 7), (28.0, "ug/d", 21)],
        ),
        id="adult R/R c2 restart kept at 9 for 28 days -> underdose warning, escalate after day 7",
    ),
    pytest.param(
        S(
            [
                *child(),
                order(
                    Step(5, "ug/m2/d", days=7), Step(15, "ug/m2/d", days=14), cycle=2, reason=CRS3
                ),
            ],
            [],
        ),
        id="child 30 kg R/R c2 restart after CRS grade 3 at 5 then 15 mcg/m2/day -> no card",
    ),
    pytest.param(
        S(
            [*child(), order(Step(15, "ug/m2/d", days=21), cycle=2, reason=CRS3)],
            [OVERDOSE],
            [(5.3, "ug/d", 7), (15.91, "ug/d", 14)],
        ),
        id="child 30 kg R/R c2 restart after CRS grade 3 at 15 mcg/m2/day -> critical",
    ),
    pytest.param(
        S(
            [*body_of(), order(*RR_STEP_UP, cycle=2, reason=restart("crs-grade-4", "CRS grade 4"))],
            [RESTART_AFTER_DISCONTINUATION],
            summary_has=("discontinue permanently",),
        ),
        id="adult restart after CRS grade 4, even at 9 mcg/day -> critical, discontinue for good",
    ),
    pytest.param(
        S(
            [*body_of(), noted(order(*RR_STEP_UP, cycle=2), "Resume after second seizure")],
            [RESTART_AFTER_DISCONTINUATION],
            summary_has=("discontinue permanently",),
        ),
        id="adult restart after a second seizure (note) -> critical, discontinue permanently",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                order(
                    *RR_STEP_UP,
                    cycle=2,
                    reason=restart("neurotoxicity-grade-3-at-9-mcg", "Neurotoxicity at 9 mcg/day"),
                ),
            ],
            [RESTART_AFTER_DISCONTINUATION],
        ),
        id="adult restart after grade 3 neurotoxicity that occurred at 9 mcg/day -> critical",
    ),
    # --- the newest weight or height decides, or is said unusable (red team, item 1-2) ------
    pytest.param(
        S(
            [
                *weighed_again(child(46, weighed=THREE_WEEKS_AGO), {"value": 30000, "unit": "gm"}),
                order(Step(28, days=28), indication="mrd-positive"),
            ],
            [OVERDOSE],
            [(15.91, "ug/d", 28)],
        ),
        id="child 9 y, newest weight 30000 'gm' yesterday (46 kg three weeks ago), MRD 28 "
        "mcg/day -> critical overdose on 30 kg, 15.91 suggested",
    ),
    pytest.param(
        S(
            [
                *weighed_again(
                    child(46, weighed=THREE_WEEKS_AGO),
                    {"value": 30, "unit": "kg", "system": SNOMED, "code": "258683005"},
                ),
                order(Step(28, days=28), indication="mrd-positive"),
            ],
            [OVERDOSE],
            [(15.91, "ug/d", 28)],
        ),
        id="child 9 y, newest weight 30 kg with SNOMED's code for kg yesterday (46 kg three "
        "weeks ago), MRD 28 mcg/day -> critical overdose on 30 kg",
    ),
    pytest.param(
        S(
            [
                *weighed_again(child(46, weighed=THREE_WEEKS_AGO), {"value": 30, "unit": "Kilo"}),
                order(Step(28, days=28), indication="mrd-positive"),
            ],
            [NO_WEIGHT],
        ),
        id="child 9 y, newest weight 30 'Kilo' yesterday (46 kg three weeks ago), MRD 28 "
        "mcg/day -> no-weight warning, not silently dosed on the older 46 kg",
    ),
    pytest.param(
        S(
            [
                *weighed_again(child(30), ucum(50, "kg"), when="2062-02-27T09:10:00+00:00"),
                order(Step(28, days=28), indication="mrd-positive"),
            ],
            [NO_WEIGHT],
        ),
        id="child 9 y, 30 kg three days ago and 50 kg dated 2062 (a mistyped year), MRD 28 "
        "mcg/day -> no-weight warning, never dosed on a weight from the future",
    ),
    pytest.param(
        S(
            [
                *measured_again(
                    child(30, 135, measured="2026-01-05T09:00:00+00:00"),
                    {"value": 135, "system": SNOMED, "code": "258672001"},
                ),
                order(Step(17, days=28), indication="mrd-positive"),
            ],
            [NO_BSA],
        ),
        id="child 9 y 30 kg, newest height with only SNOMED's code for cm (135 cm two months "
        "ago), MRD 17 mcg/day -> no-BSA warning, the older height not used",
    ),
    # --- doses as EHRs write them (red team, items 1b, 3) ------------------------------------
    pytest.param(
        S(
            [*body_of(), pump_rate_first(order(Step(28, days=7), Step(28, days=21)), 10, "mL/hr")],
            [OVERDOSE],
            [(9.0, "ug/d", 7), (28, "ug/d", 21)],
        ),
        id="R/R c1 days 1-7 as Epic sends it, pump rate 10 mL/hr listed before 28 mcg/day -> "
        "critical overdose (the volume rate says nothing of the dose)",
    ),
    pytest.param(
        S(
            [*body_of(), pump_rate_first(order(Step(9, days=7), Step(28, days=21)), 10, "cc/hr")],
            [],
        ),
        id="R/R c1 days 1-7 as Epic sends it, 10 cc/hr then 9 mcg/day -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), in_free_text(order(Step(28, days=28)), "\u03bcg/d")],
            [OVERDOSE],
            STEP_UP_FIX,
        ),
        id="R/R c1 adult starting at 28 'μg/d' (Greek mu, free text) -> critical, as ug/d",
    ),
    pytest.param(
        S([*body_of(), in_free_text(order(Step(28, days=28), cycle=2), "mcg/24 hours")], []),
        id="R/R c2 adult 28 'mcg/24 hours' (free text) -> no card",
    ),
    # --- a rate in mL/h with the bag's concentration (label §2: 24 h at 10 mL/h ... 7 days at
    # 0.6 mL/h): mL/h × 24 × mcg/mL of blinatumomab is the daily dose ---------------------------
    pytest.param(
        S(
            [
                *body_of(),
                from_bag(
                    pumped(10, cycle=2),
                    (BLINATUMOMAB, strength(28, "ug", 240)),
                    (STABILIZER, strength(5.5, "mL", 270)),
                ),
            ],
            [],
        ),
        id="adult 70 kg, R/R c2, 24-hour bag 28 mcg in 240 mL (plus IV Solution Stabilizer) at "
        "10 mL/h = 28 mcg/day -> no card",
    ),
    pytest.param(
        S([*body_of(), from_bag(pumped(5, cycle=2), (BLINATUMOMAB, strength(56, "ug", 240)))], []),
        id="adult 70 kg, R/R c2, 48-hour bag 56 mcg in 240 mL at 5 mL/h = 28 mcg/day -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                from_bag(pumped(0.6, cycle=2), (BLINATUMOMAB, strength(196, "ug", 100.8))),
            ],
            [],
        ),
        id="adult 70 kg, R/R c2, 7-day bag 196 mcg in 100.8 mL at 0.6 mL/h = 28 mcg/day -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                from_bag(pumped(10, cycle=2), (BLINATUMOMAB, strength(0.1167, "mg", 1, "L"))),
            ],
            [],
        ),
        id="adult 70 kg, R/R c2, bag strength 0.1167 mg/L at 10 mL/h = 28.01 mcg/day -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), from_bag(pumped(10, cycle=2), amount=strength(0.1167, "ug", 1))],
            [],
        ),
        id="adult 70 kg, R/R c2, Medication.amount 0.1167 mcg/mL (the blinatumomab bag) at "
        "10 mL/h -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), from_bag(pumped(10, cycle=2), (BLINATUMOMAB, strength(84, "ug", 240)))],
            [OVERDOSE],
            [(28.0, "ug/d", 28)],
        ),
        id="adult 70 kg, R/R c2, 24-hour bag mixed with 84 mcg in 240 mL at 10 mL/h = 84 "
        "mcg/day -> critical overdose",
    ),
    pytest.param(
        S(
            [*body_of(), from_bag(pumped(10), (BLINATUMOMAB, strength(28, "ug", 240)))],
            [OVERDOSE],
            STEP_UP_FIX,
        ),
        id="adult 70 kg, R/R c1 day 1 at 10 mL/h of 28 mcg in 240 mL (28 mcg/day, no 9 mcg/day "
        "step) -> critical overdose",
    ),
    pytest.param(
        S(
            [*body_of(), from_bag(pumped(10, cycle=2), (STABILIZER, strength(28, "ug", 240)))],
            [NOT_COMPUTABLE],
        ),
        id="adult 70 kg, R/R c2, 10 mL/h, the only strength is the stabilizer's -> cannot verify",
    ),
    pytest.param(
        S([*body_of(), from_bag(pumped(10, cycle=2), (BLINATUMOMAB, None))], [NOT_COMPUTABLE]),
        id="adult 70 kg, R/R c2, 10 mL/h, the bag gives no strength -> cannot verify",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                from_bag(pumped(10, cycle=2), (BLINATUMOMAB, strength(35, "ug", 1, "{vial}"))),
            ],
            [NOT_COMPUTABLE],
        ),
        id="adult 70 kg, R/R c2, 10 mL/h, blinatumomab 35 mcg per vial (no volume) -> cannot "
        "verify",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                from_bag(
                    pumped(10, cycle=2),
                    (BLINATUMOMAB, strength(28, "ug", 240)),
                    amount=strength(0.35, "ug", 1),
                ),
            ],
            [NOT_COMPUTABLE],
        ),
        id="adult 70 kg, R/R c2, 10 mL/h, strength 28 mcg/240 mL but amount 0.35 mcg/mL "
        "(disagree) -> cannot verify",
    ),
    pytest.param(
        S([*body_of(), pumped(10, cycle=2)], [NOT_COMPUTABLE]),
        id="adult 70 kg, R/R c2, 10 mL/h with no Medication (no concentration) -> cannot verify",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                from_bag(pumped(10, cycle=2), (BLINATUMOMAB, strength(38.5, "ug", 3.08))),
            ],
            [NOT_COMPUTABLE],
        ),
        id="adult 70 kg, R/R c2, 10 mL/h, strength of the reconstituted vial (12.5 mcg/mL: no "
        "bag holds that) -> cannot verify, not a 3,000 mcg/day overdose",
    ),
    # --- a pump rate in mL/h beside the ordered dose: the bag's concentration makes it a dose too
    pytest.param(
        S(
            [
                *body_of(),
                from_bag(
                    pump_rate_first(order(Step(9, days=7), Step(28, days=21)), 10, "mL/hr"),
                    (BLINATUMOMAB, strength(28, "ug", 240)),
                ),
            ],
            [NOT_COMPUTABLE],
        ),
        id="adult 70 kg, R/R c1 day 1, 9 mcg/day ordered but the pump set to 10 mL/hr of a 28 mcg "
        "in 240 mL bag (28 mcg/day) -> cannot verify: the two doses disagree",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                from_bag(
                    pump_rate_first(order(Step(9, days=7), Step(28, days=21)), 10, "mL/hr"),
                    (BLINATUMOMAB, strength(9.3, "ug", 240)),
                ),
            ],
            [],
        ),
        id="adult 70 kg, R/R c1 day 1, 9 mcg/day at 10 mL/hr of a 9.3 mcg in 240 mL bag "
        "(9.3 mcg/day) -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                from_bag(
                    pump_rate_first(order(Step(28, days=28), cycle=2), 10, "mL/hr"),
                    (BLINATUMOMAB, strength(28, "ug", 240)),
                ),
            ],
            [],
        ),
        id="adult 70 kg, R/R c2, 28 mcg/day at 10 mL/hr of a 28 mcg in 240 mL bag -> no card",
    ),
    # --- a day without a time in boundsPeriod (red team, item 5) -------------------------------
    pytest.param(
        S([*body_of(), date_only(order(*RR_STEP_UP), "2026-03-02", "2026-03-08")], []),
        id="R/R c1 adult 9 mcg/day from 2026-03-02 to 2026-03-08 (days, both included), then 28 "
        "for 21 days -> no card (the 28 starts on day 8, not day 7)",
    ),
    # --- resuming an interrupted cycle: its day of infusion (label §2.4: an interruption of up to
    # 7 days continues the same cycle to 28 days OF INFUSION, days before and after it counted;
    # interruptions.yaml). The cycle-limits check counts the 28 days so; the dose, not the
    # calendar day since the cycle began, follows them (red team rt-cyc D1, D2). ------------------
    pytest.param(
        S(
            [*body_of(), *interrupted(2, 7), order(Step(28, days=26))],
            [OVERDOSE],
            [(9.0, "ug/d", 5), (28.0, "ug/d", 21)],
            summary_has=("28 mcg/day ordered for days 3–7",),
        ),
        id="adult 70 kg, R/R c1 stopped after 2 days at 9 (MAR), 7-day gap, resumed at 28 for 26 "
        "days -> critical: infusion day 3 (not calendar day 10), 9 due to day 7",
    ),
    pytest.param(
        S([*body_of(), *interrupted(2, 7), order(Step(9, days=5), Step(28, days=21))], []),
        id="adult 70 kg, R/R c1 stopped after 2 days at 9, 7-day gap, resumed 9 for 5 days then 28 "
        "for 21 -> no card (not 'low for days 10-14')",
    ),
    pytest.param(
        S(
            [*body_of(), *interrupted(5, 3), order(Step(28, days=23))],
            [OVERDOSE],
            [(9.0, "ug/d", 2), (28.0, "ug/d", 21)],
            summary_has=("28 mcg/day ordered for days 6–7",),
        ),
        id="adult 70 kg, R/R c1 stopped after day 5 (MAR), 3-day gap, resumed at 28 -> critical "
        "(infusion days 6-7 are due 9)",
    ),
    pytest.param(
        S([*body_of(), *interrupted(5, 3), order(Step(9, days=2), Step(28, days=21))], []),
        id="adult 70 kg, R/R c1 stopped after day 5, 3-day gap, resumed 9 for 2 days then 28 for "
        "21 -> no card (not 'low for days 9-10')",
    ),
    pytest.param(
        S(
            [*body_of(), *interrupted(6, 1), order(Step(28, days=22))],
            [OVERDOSE],
            [(9.0, "ug/d", 1), (28.0, "ug/d", 21)],
        ),
        id="adult 70 kg, R/R c1 stopped after day 6, 1-day gap, resumed at 28 -> critical for "
        "infusion day 7 (calendar day 8)",
    ),
    pytest.param(
        S([*body_of(), *interrupted(7, 1), order(Step(28, days=21))], []),
        id="adult 70 kg, R/R c1 stopped after day 7, 1-day gap, resumed at 28 -> no card "
        "(infusion day 8)",
    ),
    pytest.param(
        S([*body_of(), *interrupted(6 + 13 / 24, 11 / 24), order(Step(28, days=21))], []),
        id="adult 70 kg, R/R c1 stopped 11 hours before day 8's bag (half a day or less is no "
        "lost day, interruptions.yaml) -> no card (day 8 as by the calendar)",
    ),
    pytest.param(
        S(
            [*body_of(), *interrupted(6 + 11 / 24, 13 / 24), order(Step(28, days=21))],
            [OVERDOSE],
            [(9.0, "ug/d", 1), (28.0, "ug/d", 20)],
        ),
        id="adult 70 kg, R/R c1 stopped 13 hours before day 8's bag (over half a day: a lost "
        "day, the step-up kept) -> critical for infusion day 7",
    ),
    pytest.param(
        S(
            [*body_of(), *interrupted(5, 2, stop="last-updated"), order(Step(28, days=23))],
            [OVERDOSE],
            [(9.0, "ug/d", 2), (28.0, "ug/d", 21)],
        ),
        id="adult 70 kg, R/R c1 stopped after day 5 known only from the order's meta.lastUpdated, "
        "2-day gap, resumed at 28 -> critical",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *interrupted(5, 2, stop="last-updated"),
                order(Step(9, days=2), Step(28, days=21)),
            ],
            [],
        ),
        id="adult 70 kg, R/R c1 stopped after day 5 (meta.lastUpdated), resumed 9 for 2 days then "
        "28 -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), *interrupted(5, 2, status="on-hold"), order(Step(28, days=23))],
            [OVERDOSE],
            [(9.0, "ug/d", 2), (28.0, "ug/d", 21)],
        ),
        id="adult 70 kg, R/R c1 order on hold after day 5 (MAR), resumed at 28 -> critical",
    ),
    pytest.param(
        S(
            [*body_of(), *interrupted(5, 3), order(Step(28, days=23), cycle=None)],
            [OVERDOSE],
            [(9.0, "ug/d", 2), (28.0, "ug/d", 21)],
        ),
        id="adult 70 kg, R/R c1 stopped after day 5, resumed at 28 by a draft coding no cycle "
        "(continues cycle 1 by the history) -> critical",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *interrupted(5, 3),
                order(Step(9, days=2), Step(28, days=21), cycle=None),
            ],
            [],
        ),
        id="adult 70 kg, R/R c1 stopped after day 5, a draft coding no cycle resumes 9 for 2 days "
        "then 28 -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *interrupted(7, 3, (Step(9, days=7),), stop="nothing"),
                order(Step(28, days=21)),
            ],
            [STOP_UNKNOWN],
        ),
        id="adult 70 kg, R/R c1 days 1-7 order stopped, no MAR and no update time: how many days "
        "it gave is unknown, 28 resumed 3 days after its planned end -> could not verify (it may "
        "be infusion day 1-7), not an all clear",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *interrupted(7, 3, (Step(9, days=7),), stop="last-updated"),
                order(Step(28, days=21)),
            ],
            [],
        ),
        id="adult 70 kg, R/R c1 days 1-7 order stopped at its end (meta.lastUpdated), 3-day gap, "
        "28 for 21 days -> no card (infusion day 8)",
    ),
    pytest.param(
        S(
            [*child(), *interrupted(5, 3, CHILD_C1), order(Step(16, days=23))],
            [OVERDOSE],
            [(5.3, "ug/d", 2), (16.0, "ug/d", 21)],
        ),
        id="child 30 kg BSA 1.06, R/R c1 stopped after day 5 (MAR), 3-day gap, resumed at 16 "
        "mcg/day (15 mcg/m²) -> critical: 5 mcg/m²/day due to infusion day 7",
    ),
    pytest.param(
        S(
            [*child(), *interrupted(5, 3, CHILD_C1), order(Step(5.3, days=2), Step(16, days=21))],
            [],
        ),
        id="child 30 kg, R/R c1 stopped after day 5, resumed 5.3 mcg/day for 2 days then 16 -> "
        "no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *interrupted(5, 3, (Step(28, days=28),), indication="mrd-positive"),
                order(Step(28, days=23), indication="mrd-positive"),
            ],
            [],
        ),
        id="adult 70 kg, MRD-positive c1 stopped after day 5, 3-day gap, resumed at 28 -> no card "
        "(no step-up: nothing changes)",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *interrupted(5, 3, (Step(28, days=28),), indication="consolidation"),
                order(Step(28, days=23), indication="consolidation"),
            ],
            [],
        ),
        id="adult 70 kg, consolidation c1 stopped after day 5, 3-day gap, resumed at 28 -> no card "
        "(no step-up: nothing changes)",
    ),
    pytest.param(
        S(
            [
                *child(),
                *interrupted(5, 3, (Step(16, days=28),), indication="mrd-positive"),
                order(Step(16, days=23), indication="mrd-positive"),
            ],
            [],
        ),
        id="child 30 kg, MRD-positive c1 stopped after day 5, resumed at 16 mcg/day -> no card",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *interrupted(5, 3),
                order(Step(9, days=7), Step(28, days=14), reason=CRS3),
            ],
            [],
        ),
        id="adult 70 kg, R/R c1 stopped after day 5, restarted after CRS grade 3 (coded) at 9 for "
        "7 days then 28 -> no card (the restart's days count from the restart, restarts.yaml)",
    ),
    pytest.param(
        S(
            [*body_of(), *interrupted(10, 3), order(Step(28, days=18), reason=CRS3)],
            [OVERDOSE],
            [(9.0, "ug/d", 7), (28.0, "ug/d", 11)],
        ),
        id="adult 70 kg, R/R c1 stopped after day 10 for CRS grade 3, restarted at 28 -> critical "
        "(the restart's 7 days at 9; unchanged by the infusion-day count)",
    ),
    # --- a draft coding a HIGHER cycle than the numbered cycle it resumes within 7 days (label
    # §2.4: the same cycle continues; cycles.yaml continued_cycle_over_coded), red team rt-harm2
    # D4 ------------------------------------------------------------------------------------------
    pytest.param(
        S(
            [*body_of(), *interrupted(5, 3), order(Step(28, days=23), cycle=2)],
            [OVERDOSE],
            [(9.0, "ug/d", 2), (28.0, "ug/d", 21)],
            summary_has=("28 mcg/day ordered for days 6–7",),
        ),
        id="adult 70 kg, R/R c1 (coded) stopped after day 5 (MAR), 3-day gap, resumed at 28 by a "
        "draft CODED cycle 2 -> critical: still cycle 1, infusion days 6-7 are due 9 (was silent)",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *interrupted(5, 3),
                order(Step(9, days=2), Step(28, days=21), cycle=2),
            ],
            [],
        ),
        id="adult 70 kg, R/R c1 stopped after day 5, 3-day gap, a draft coded cycle 2 resumes 9 "
        "for 2 days then 28 -> no dose card (right for cycle 1 day 6; not 'low for cycle 2')",
    ),
    pytest.param(
        S(
            [*body_of(), *interrupted(2, 6), order(Step(28, days=26), cycle=3)],
            [OVERDOSE],
            [(9.0, "ug/d", 5), (28.0, "ug/d", 21)],
        ),
        id="adult 70 kg, R/R c1 stopped after 2 days, 6-day gap, resumed at 28 by a draft coded "
        "cycle 3 -> critical (cycle 1 infusion day 3)",
    ),
    # --- a stop dated only by a meta.lastUpdated edited as the restart was written
    # (interruptions.yaml stop_edit_window_hours), red team rt-harm2 D7 ---------------------------
    pytest.param(
        S(
            [*body_of(), *interrupted(7, 0, stop="nothing", edited=True), order(Step(28, days=23))],
            [STOP_UNKNOWN],
            summary_has=("may fall on day 1 of cycle 1",),
        ),
        id="adult 70 kg, R/R c1 order stopped, no MAR, its meta.lastUpdated 30 min before the "
        "restart is signed (the edit, not the stop), resumed at 28 -> could not verify the day "
        "(it may be infusion day 1), not silent",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *interrupted(7, 0, stop="nothing", edited=True),
                order(Step(9, days=7), Step(28, days=14)),
            ],
            [],
        ),
        id="adult 70 kg, R/R c1 order stopped, no MAR, edited 30 min before the restart, resumed "
        "9 for 7 days then 28 (right whichever day of infusion it is) -> no dose card (was 'dose "
        "low' for days 8-14 counted to the edit)",
    ),
    pytest.param(
        S(
            [*body_of(), *interrupted(5, 3, edited=True), order(Step(28, days=23))],
            [OVERDOSE],
            [(9.0, "ug/d", 2), (28.0, "ug/d", 21)],
        ),
        id="adult 70 kg, R/R c1 stopped after day 5 ON THE MAR, its order edited as the restart "
        "was written, resumed at 28 -> critical as before (the MAR dates the stop)",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *interrupted(5, 3, edited=True),
                order(Step(9, days=2), Step(28, days=21)),
            ],
            [],
        ),
        id="adult 70 kg, R/R c1 stopped after day 5 on the MAR, its order edited at the restart, "
        "resumed 9 for 2 days then 28 -> no card (the edit does not undo the MAR)",
    ),
]


# --- shapes of the red team's 2026-12 review (rt_shapes) ----------------------------------------


def text_q(value: float, unit: str) -> dict[str, Any]:
    """A Quantity as a pharmacist types it: a free-text unit, no UCUM code."""
    return {"value": value, "unit": unit}


def rate_ratio(top: dict[str, Any], bottom: dict[str, Any]) -> dict[str, Any]:
    return {"rateRatio": {"numerator": top, "denominator": bottom}}


def cycle_coded(resource: dict[str, Any], *values: int) -> dict[str, Any]:
    """The order's treatment-cycle extension repeated, once per value, in that order."""
    resource["extension"] = [{"url": CYCLE_EXTENSION, "valueInteger": v} for v in values]
    return resource


def one_sequence(resource: dict[str, Any]) -> dict[str, Any]:
    """Every dosage with sequence 1 (FHIR R4: the same sequence is given concurrently)."""
    for dosage in resource["dosageInstruction"]:
        dosage["sequence"] = 1
    return resource


def counted(resource: dict[str, Any], *counts: int) -> dict[str, Any]:
    """Each step as once a day, timing.repeat.count times (no boundsDuration, no end): the first
    keeps its boundsPeriod.start."""
    for dosage, count in zip(resource["dosageInstruction"], counts, strict=True):
        repeat = dosage["timing"]["repeat"]
        repeat.pop("boundsDuration", None)
        repeat.get("boundsPeriod", {}).pop("end", None)
        repeat["count"] = count
    return resource


def timed(resource: dict[str, Any], **timing: Any) -> dict[str, Any]:
    """The first dosage timed by `timing` (timing.code, repeat.timeOfDay) instead of a
    frequency per period."""
    dosage_timing = resource["dosageInstruction"][0]["timing"]
    for name in ("frequency", "period", "periodUnit"):
        dosage_timing["repeat"].pop(name, None)
    if "code" in timing:
        dosage_timing["code"] = timing["code"]
    if "timeOfDay" in timing:
        dosage_timing["repeat"]["timeOfDay"] = timing["timeOfDay"]
    return resource


GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
QD = {"coding": [{"system": GTS, "code": "QD"}]}
CYCLE_EXTENSION = "https://cds.example.org/fhir/StructureDefinition/treatment-cycle"


def coded_as(resource: dict[str, Any], system: str, code: str) -> dict[str, Any]:
    """The order's drug named by a code alone, in `system` as sent."""
    resource["medicationCodeableConcept"] = {"coding": [{"system": system, "code": code}]}
    return resource


def bsa_as_written(value: float, unit: str) -> dict[str, Any]:
    """A BSA charted with a free-text unit and no UCUM code."""
    return bsa(P, value) | {"valueQuantity": text_q(value, unit)}


C2_FIX: Fix = [(28.0, "ug/d", 28)]
RED_TEAM_2026_12 = [
    # 1. a rateRatio whose quotient does not terminate (40/24) crashed the rounding test
    *(
        pytest.param(
            S(
                [
                    *body_of(),
                    written_as(
                        order(Step(28, days=28), cycle=2),
                        rate_ratio(ucum(mass, "ug"), ucum(24, "h")),
                    ),
                ],
                cards,
                fix,
            ),
            id=f"adult 70 kg, R/R cycle 2, rateRatio {mass} mcg per 24 h -> {said}",
        )
        for mass, cards, fix, said in (
            (40, [OVERDOSE], C2_FIX, "critical overdose (was: the check failed unexpectedly)"),
            (32, [OVERDOSE], C2_FIX, "critical overdose"),
            (100, [OVERDOSE], C2_FIX, "critical overdose"),
            (20, [UNDERDOSE], C2_FIX, "dose low (20 < 25.2), not a crash"),
        )
    ),
    pytest.param(
        S(
            [
                *body_of(),
                written_as(
                    order(Step(28, days=28), cycle=2), rate_ratio(ucum(120, "ug"), ucum(72, "h"))
                ),
            ],
            [OVERDOSE],
            C2_FIX,
        ),
        id="adult 70 kg, R/R cycle 2, rateRatio 120 mcg per 72 h (40 a day) -> critical overdose",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                written_as(
                    order(Step(28, days=28), cycle=1), rate_ratio(ucum(28, "ug"), ucum(24, "h"))
                ),
            ],
            [OVERDOSE],
            STEP_UP_FIX,
        ),
        id="adult 70 kg, R/R cycle 1, rateRatio 28 mcg per 24 h from day 1 -> critical (9 due)",
    ),
    *(
        pytest.param(
            S(
                [
                    *body_of(),
                    written_as(order(Step(28, days=28), cycle=2), rate_ratio(top, bottom)),
                ],
                [],
            ),
            id=f"adult 70 kg, R/R cycle 2, rateRatio {said} -> no card",
        )
        for top, bottom, said in (
            (ucum(0.028, "mg"), ucum(24, "h"), "0.028 mg per 24 h"),
            (ucum(84, "ug"), ucum(72, "h"), "84 mcg per 72 h"),
            (ucum(196, "ug"), ucum(7, "d"), "196 mcg per 7 d"),
            (text_q(28, "mcg"), text_q(24, "hours"), "28 'mcg' per 24 'hours' (free text)"),
        )
    ),
    # 5. free-text units a pharmacist writes
    pytest.param(
        S(
            [
                *body_of(),
                written_as(
                    order(Step(28, days=28), cycle=2),
                    rate_ratio(text_q(40, "mcg"), text_q(24, "hours")),
                ),
            ],
            [OVERDOSE],
            C2_FIX,
        ),
        id="adult 70 kg, R/R cycle 2, rateRatio 40 'mcg' per 24 'hours' (free text) -> critical "
        "overdose (was: cannot verify, unit 'mcg/hours')",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                from_bag(
                    pumped(10, cycle=2),
                    (
                        BLINATUMOMAB,
                        {"numerator": text_q(28, "mcg"), "denominator": text_q(240, "mL")},
                    ),
                ),
            ],
            [],
        ),
        id="adult 70 kg, R/R cycle 2, bag 28 'mcg' in 240 'mL' (free text) at 10 mL/h = 28 "
        "mcg/day -> no card (was: strength not a mass per volume)",
    ),
    pytest.param(
        S(
            [
                *child(cm=None),
                bsa_as_written(1.06, "M2"),
                order(Step(15, "ug/m2/d", days=28), cycle=2),
            ],
            [],
        ),
        id="child 30 kg, no height, BSA 1.06 'M2' charted, R/R cycle 2, 15 mcg/m²/day -> no card "
        "(was: BSA unknown)",
    ),
    pytest.param(
        S(
            [*child(), in_free_text(order(Step(20, "ug/m2/d", days=28), cycle=2), "mcg/m²/d")],
            [OVERDOSE],
            CHILD_C2_FIX,
        ),
        id="child 30 kg 135 cm, R/R cycle 2, 20 'mcg/m²/d' (free text; 21.2 mcg/day) -> critical "
        "overdose (was: cannot verify)",
    ),
    pytest.param(
        S(
            [*child(), in_free_text(order(Step(15, "ug/m2/d", days=28), cycle=2), "mcg/m2/24 hr")],
            [],
        ),
        id="child 30 kg 135 cm, R/R cycle 2, 15 'mcg/m2/24 hr' (free text) -> no card",
    ),
    pytest.param(
        S(
            [*child(), in_free_text(order(Step(20, "ug/m2/d", days=28), cycle=2), "mcg/m2/24 hr")],
            [OVERDOSE],
            CHILD_C2_FIX,
        ),
        id="child 30 kg 135 cm, R/R cycle 2, 20 'mcg/m2/24 hr' (free text) -> critical overdose",
    ),
    # 2. the treatment-cycle extension twice
    pytest.param(
        S([*body_of(), cycle_coded(order(Step(28, days=28)), 1, 2)], [OVERDOSE], STEP_UP_FIX),
        id="adult 70 kg, R/R, no blinatumomab on file, cycle extension 1 then 2, 28 mcg/day from "
        "day 1 -> critical as with no cycle coded (cycle 1 by history), never cycle 2 silently",
    ),
    pytest.param(
        S([*body_of(), cycle_coded(order(Step(28, days=28)), 2, 1)], [OVERDOSE], STEP_UP_FIX),
        id="adult 70 kg, R/R, no blinatumomab on file, cycle extension 2 then 1, 28 mcg/day from "
        "day 1 -> critical (cycle 1 by history)",
    ),
    pytest.param(
        S([*body_of(), cycle_coded(order(Step(28, days=28)), 2, 2)], []),
        id="adult 70 kg, R/R, cycle extension 2 twice, 28 mcg/day -> no card (cycle 2)",
    ),
    # 3. dosage instructions with the same sequence are concurrent
    pytest.param(
        S(
            [*body_of(), one_sequence(order(Step(14, days=28), Step(28, days=28), cycle=2))],
            [OVERDOSE],
            summary_has=(
                "42 mcg/day in all (the sum of 2 dosages given at the same time) for days 1–28",
            ),
        ),
        id="adult 70 kg, R/R cycle 2, 14 and 28 mcg/day both sequence 1 (concurrent: 42 a day) "
        "-> critical of the sum, no one-click fix, never 'dose low: 14'",
    ),
    pytest.param(
        S(
            [*body_of(), one_sequence(order(Step(9, days=7), Step(28, days=28), cycle=1))],
            [OVERDOSE],
            summary_has=(
                "37 mcg/day in all (the sum of 2 dosages given at the same time) for days 1–7",
            ),
        ),
        id="adult 70 kg, R/R cycle 1, 9 for 7 days and 28 for 28 days both sequence 1 "
        "(concurrent: 37 a day on days 1-7) -> critical of the sum, not silent",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                one_sequence(
                    order(
                        Step(9, days=7),
                        Step(28, days=21, at="2026-03-09T10:00:00+00:00"),
                        cycle=1,
                    )
                ),
            ],
            [],
        ),
        id="adult 70 kg, R/R cycle 1, 9 then 28 both sequence 1 but dated one after the other -> "
        "no card (concurrent instructions on different days)",
    ),
    # 4. timing.repeat.count gives a step's length
    pytest.param(
        S([*body_of(), counted(order(Step(9), Step(28), cycle=1), 7, 21)], []),
        id="adult 70 kg, R/R cycle 1, 9 mcg/day once a day count 7, then 28 count 21 -> no card "
        "(was: critical on day 2, count ignored)",
    ),
    pytest.param(
        S(
            [*body_of(), counted(order(Step(9), Step(280), cycle=1), 7, 21)],
            [OVERDOSE],
            [(9.0, "ug/d", None), (28.0, "ug/d", None)],  # the counts kept: 7, then 21
            summary_has=("days 8–28",),
        ),
        id="adult 70 kg, R/R cycle 1, 9 count 7, then 280 count 21 -> critical on days 8-28",
    ),
    # 6. RxNorm written with a trailing slash
    pytest.param(
        S(
            [*body_of(), coded_as(order(Step(40, days=28), cycle=2), RXNORM + "/", "1597267")],
            [OVERDOSE],
            C2_FIX,
        ),
        id="adult 70 kg, R/R cycle 2, drug coded RxNorm 1597267 under '.../rxnorm/' (trailing "
        "slash), 40 mcg/day -> critical overdose (was: no card at all)",
    ),
    # 7. once a day said by timing.code QD or a single timeOfDay
    pytest.param(
        S([*body_of(), timed(order(Step(28, "ug", days=28), cycle=2), code=QD)], []),
        id="adult 70 kg, R/R cycle 2, 28 mcg per administration, timing.code QD -> no card",
    ),
    pytest.param(
        S(
            [*body_of(), timed(order(Step(40, "ug", days=28), cycle=2), code=QD)],
            [OVERDOSE],
            C2_FIX,
        ),
        id="adult 70 kg, R/R cycle 2, 40 mcg per administration, timing.code QD -> critical",
    ),
    pytest.param(
        S([*body_of(), timed(order(Step(28, "ug", days=28), cycle=2), timeOfDay=["10:00:00"])], []),
        id="adult 70 kg, R/R cycle 2, 28 mcg per administration at 10:00 (timeOfDay) -> no card",
    ),
]

SCENARIOS.extend(RED_TEAM_2026_12)  # golden rows like the rest (tests.scenario_fixtures)


def sequenced(resource: dict[str, Any], *sequences: int | None) -> dict[str, Any]:
    """Each dosage's sequence as given (None: the dosage sends none)."""
    for dosage, sequence in zip(resource["dosageInstruction"], sequences, strict=True):
        dosage.pop("sequence", None)
        if sequence is not None:
            dosage["sequence"] = sequence
    return resource


def repeating(resource: dict[str, Any], **repeat: Any) -> dict[str, Any]:
    """The first dosage's timing.repeat with further elements (dayOfWeek, frequencyMax)."""
    resource["dosageInstruction"][0]["timing"]["repeat"].update(repeat)
    return resource


def twice(dose: float, *sequences: int | None, cycle: int = 2) -> dict[str, Any]:
    """Two dosages of `dose` mcg/day over the same 28 days (both dated from START)."""
    both = order(Step(dose, days=28), Step(dose, days=28, at=START), cycle=cycle)
    return sequenced(both, *sequences)


BID = {"system": GTS, "code": "BID"}
QD_AND_BID = {"coding": [QD["coding"][0], BID]}
RED_TEAM_7C = [
    # D1/D2: dosages over the same days are given together, whatever their sequence: their sum
    *(
        pytest.param(
            S([*body_of(), twice(dose, *sequences)], cards),
            id=f"adult 70 kg, R/R cycle 2, {dose} mcg/day twice over the same 28 days, {said} -> "
            f"{verdict}, no one-click fix (was: {was})",
        )
        for dose, sequences, cards, said, verdict, was in (
            (20, (None, None), [OVERDOSE], "no sequence", "critical (40 a day)", "dose low: 20"),
            (20, (1, None), [OVERDOSE], "sequence 1 and none", "critical (40)", "dose low: 20"),
            (20, (1, 2), [OVERDOSE], "sequences 1 and 2", "critical (40)", "dose low: 20"),
            (20, (1, 1), [OVERDOSE], "both sequence 1", "critical (40)", "cannot verify"),
            (28, (1, 1), [OVERDOSE], "both sequence 1", "critical (56)", "cannot verify"),
            (14, (None, None), [], "no sequence", "no card (28 a day)", "dose low: 14"),
            (10, (None, None), [UNDERDOSE], "no sequence", "dose low: 20", "dose low: 10"),
        )
    ),
    pytest.param(
        S(
            [
                *body_of(),
                sequenced(
                    order(
                        Step(20, days=28), Step(10, "mL/h", days=28, at=START, rate=True), cycle=2
                    ),
                    None,
                    None,
                ),
            ],
            [NOT_COMPUTABLE],
        ),
        id="adult 70 kg, R/R cycle 2, 20 mcg/day and a pump at 10 mL/h (no bag strength) over the "
        "same 28 days -> cannot verify the sum, never 'dose low: 20'",
    ),
    # D3/D4: a timing that says more than once a day (or on some days) is not read as QD
    *(
        pytest.param(
            S(
                [*body_of(), repeating(timed(order(Step(28, "ug", days=28), cycle=2), **t), **r)],
                [NOT_COMPUTABLE],
            ),
            id=f"adult 70 kg, R/R cycle 2, 28 mcg per administration, {said} -> cannot verify "
            "(was: silent, read as once a day)",
        )
        for t, r, said in (
            ({"code": QD_AND_BID}, {}, "timing.code QD and BID"),
            ({"code": QD, "timeOfDay": ["08:00:00", "20:00:00"]}, {}, "QD at 08:00 and 20:00"),
            ({"code": {"coding": [BID]}, "timeOfDay": ["08:00:00"]}, {}, "BID at 08:00"),
            ({"code": QD}, {"dayOfWeek": ["mon"]}, "QD on Mondays"),
            ({"timeOfDay": ["08:00:00"]}, {"dayOfWeek": ["mon"]}, "at 08:00 on Mondays"),
            (
                {"timeOfDay": ["08:00:00"]},
                {"frequency": 1, "frequencyMax": 2, "period": 1, "periodUnit": "d"},
                "once or twice a day (frequencyMax 2)",
            ),
        )
    ),
    # D5: UCUM under https: its code (ug/h) is the unit, not the text beside it
    pytest.param(
        S(
            [
                *body_of(),
                written_as(
                    order(Step(28, days=28), cycle=2),
                    {
                        "rateQuantity": {
                            "value": 28,
                            "unit": "mcg/day",
                            "system": "https://unitsofmeasure.org",
                            "code": "ug/h",
                        }
                    },
                ),
            ],
            [OVERDOSE],
            C2_FIX,
        ),
        id="adult 70 kg, R/R cycle 2, rate 28 ug/h (UCUM under https, text 'mcg/day': 672 a "
        "day) -> critical (was: silent, the text read)",
    ),
    # D6: count 7 with countMax 7 is exactly 7
    pytest.param(
        S(
            [
                *body_of(),
                repeating(
                    counted(order(Step(9, "ug"), Step(28, "ug"), cycle=1), 7, 21), countMax=7
                ),
            ],
            [],
        ),
        id="adult 70 kg, R/R cycle 1, 9 mcg once a day count 7 countMax 7, then 28 count 21 -> "
        "no card (was: critical on days 2-7)",
    ),
]
SCENARIOS.extend(RED_TEAM_7C)


def periods(
    resource: dict[str, Any], *bounds: tuple[str | None, str | None] | int
) -> dict[str, Any]:
    """Each dosage's bounds as an EHR sends them: a boundsPeriod (start, end; None leaves one
    out, both None: no bounds at all), or a boundsDuration of that many days."""
    for dosage, bound in zip(resource["dosageInstruction"], bounds, strict=True):
        repeat = dosage["timing"]["repeat"]
        repeat.pop("boundsPeriod", None)
        repeat.pop("boundsDuration", None)
        if isinstance(bound, int):
            repeat["boundsDuration"] = {"value": bound, "unit": "d", "system": UCUM, "code": "d"}
        elif bound != (None, None):
            repeat["boundsPeriod"] = {
                k: v for k, v in zip(("start", "end"), bound, strict=True) if v
            }
    return resource


def events(
    resource: dict[str, Any], *when: str, code: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The first dosage's timing.event (and timing.code), its repeat's frequency removed."""
    timing = resource["dosageInstruction"][0]["timing"]
    timing["event"] = list(when)
    if code is not None:
        timing["code"] = code
        for key in ("frequency", "period", "periodUnit"):
            timing["repeat"].pop(key, None)
    return resource


STEP_UP = (Step(9, days=7), Step(28, days=21))
RED_TEAM_8A = [
    # 1: a correct step-up whose dosages touch or overlap by a hand-over is no double dose
    *(
        pytest.param(
            S([*body_of(), periods(order(*STEP_UP), *bounds)], []),
            id=f"adult 70 kg, R/R cycle 1, 9 then 28 mcg/day, {said} -> no card (was: critical, "
            "'37 mcg/day ordered for day 8')",
        )
        for bounds, said in (
            (
                (("2026-03-02", "2026-03-09"), ("2026-03-09", "2026-03-30")),
                "Epic dates (step 1 ends 03-09, the day step 2 starts)",
            ),
            (
                (
                    ("2026-03-02T10:00:00Z", "2026-03-09T11:00:00Z"),
                    ("2026-03-09T10:00:00Z", "2026-03-30T10:00:00Z"),
                ),
                "step 1 ending an hour after step 2 starts (bag change)",
            ),
            (
                (
                    ("2026-03-02T10:00:00Z", "2026-03-09T10:00:00.001Z"),
                    ("2026-03-09T10:00:00Z", "2026-03-30T10:00:00Z"),
                ),
                "step 1 ending a millisecond after step 2 starts",
            ),
            (
                (
                    ("2026-03-02T00:00:00+01:00", "2026-03-08"),
                    ("2026-03-09T00:00:00+01:00", "2026-03-29"),
                ),
                "+01:00 midnights with day-only ends",
            ),
            (
                (
                    ("2026-03-02T10:00:00-05:00", "2026-03-09T10:00:00-05:00"),
                    ("2026-03-09", "2026-03-29"),
                ),
                "-05:00 step 1 and a day-only step-2 start",
            ),
            (
                (
                    ("2026-03-02", "2026-03-08"),
                    ("2026-03-08T23:00:00-05:00", "2026-03-29T23:00:00-05:00"),
                ),
                "step 2 hung at 23:00 -05:00 on step 1's last day",
            ),
            ((7, ("2026-03-09T10:00:00Z", "2026-03-30T10:00:00Z")), "7 days, then a dated step 2"),
            ((7, ("2026-03-09", "2026-03-29")), "7 days, then a day-only step 2"),
        )
    ),
    # 2: an undated dosage begins with the order: beside a dated one from the same time, the sum
    pytest.param(
        S(
            [
                *body_of(),
                sequenced(
                    periods(
                        order(Step(28, days=28), Step(20, days=28), cycle=2),
                        28,
                        ("2026-03-02T08:00:00Z", "2026-03-30T10:00:00Z"),
                    ),
                    None,
                    None,
                ),
            ],
            [OVERDOSE],
            summary_has=("48 mcg/day in all (the sum of 2 dosages given at the same time)",),
        ),
        id="adult 70 kg, R/R cycle 2, 28 mcg/day for 28 days (no start) beside 20 from authoredOn, "
        "no sequence -> critical 48, no one-click fix (was: 'dose low: 20' and a fix to 56)",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                sequenced(
                    periods(
                        order(Step(28, days=28), Step(28, days=28), cycle=2),
                        (None, None),
                        (START, "2026-03-30T10:00:00Z"),
                    ),
                    None,
                    None,
                ),
            ],
            [OVERDOSE],
        ),
        id="adult 70 kg, R/R cycle 2, 28 mcg/day with no bounds beside 28 dated, no sequence -> "
        "critical 56 (was: silent)",
    ),
    # 3: more times a day than the frequency says
    pytest.param(
        S(
            [
                *body_of(),
                timed(order(Step(28, "ug", days=28), cycle=2), timeOfDay=["08:00:00", "20:00:00"]),
            ],
            [NOT_COMPUTABLE],
        ),
        id="adult 70 kg, R/R cycle 2, 28 mcg once a day at 08:00 and 20:00 -> cannot verify (was: "
        "silent, once a day)",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                events(
                    order(Step(28, "ug", days=28), cycle=2),
                    "2026-03-02T10:00:00Z",
                    "2026-03-02T22:00:00Z",
                    code=QD,
                ),
            ],
            [NOT_COMPUTABLE],
        ),
        id="adult 70 kg, R/R cycle 2, 28 mcg QD with two events on 03-02 -> cannot verify (was: "
        "silent)",
    ),
    # 6: a bag strength above any bag's beside a pump rate is said, never silence
    pytest.param(
        S(
            [
                *body_of(),
                from_bag(
                    with_rate(order(Step(9, days=7), cycle=1), 0.58, "mL/h"),
                    (BLINATUMOMAB, strength(840, "ug", 240)),
                ),
            ],
            [NOT_COMPUTABLE],
        ),
        id="adult 70 kg, R/R cycle 1, 9 mcg/day beside 0.58 mL/h of an 840 mcg / 240 mL bag (10x "
        "the pharmacy's) -> cannot verify the pump rate (was: silent)",
    ),
]
SCENARIOS.extend(RED_TEAM_8A)


def two_orders(*bounds: tuple[str, str]) -> list[dict[str, Any]]:
    """R/R cycle 1's step-up written as two orders signed together (`split_step_up`), each
    order's boundsPeriod as the EHR dates it."""
    return [periods(r, b) for r, b in zip(split_step_up(cycle=1), bounds, strict=True)]


# red team 8a: a step-up as two orders hands over from one to the other as the steps of one order
RED_TEAM_8A_TWO_ORDERS = [
    pytest.param(
        S(
            [*body_of(), *two_orders(("2026-03-02", "2026-03-09"), ("2026-03-09", "2026-03-29"))],
            [],
        ),
        id="adult 70 kg, R/R cycle 1 as two orders, Epic dates (9 mcg/day ends 03-09, the day 28 "
        "mcg/day starts) -> no card (was: critical 'orders run at the same time' and dose low on "
        "day 8)",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *two_orders(
                    ("2026-03-02T10:00:00Z", "2026-03-09T11:00:00Z"),
                    ("2026-03-09T10:00:00Z", "2026-03-30T10:00:00Z"),
                ),
            ],
            [],
        ),
        id="adult 70 kg, R/R cycle 1 as two orders, the 9 mcg/day bag ending an hour after 28 "
        "mcg/day starts (bag change) -> no card (was: dose low on day 8)",
    ),
    pytest.param(
        S(
            [
                *body_of(),
                *two_orders(
                    ("2026-03-02T10:00:00Z", "2026-03-09T23:00:00Z"),
                    ("2026-03-09T10:00:00Z", "2026-03-30T10:00:00Z"),
                ),
            ],
            [OVERLAP, UNDERDOSE],
        ),
        id="adult 70 kg, R/R cycle 1 as two orders, 9 mcg/day running 13 h beside 28 mcg/day -> "
        "critical, the orders run at the same time (a true overlap, not a hand-over; each order "
        "judged alone: 9 on day 8, no one-click fix running it into the next order's days; was: a "
        "fix to 28 mcg/day on day 8, 56 in all)",
    ),
    # red team 10a: a timed overlap between two orders beyond a bag change (1 h) is two bags
    # running: 11 h of 28 beside 9 gives some 32 mcg that day (the half-day rule is for the steps
    # of one order and for dates, not for hours both orders state)
    *[
        pytest.param(
            S(
                [
                    *body_of(),
                    *two_orders(
                        ("2026-03-02T10:00:00Z", end),
                        ("2026-03-09T10:00:00Z", "2026-03-30T10:00:00Z"),
                    ),
                ],
                [OVERLAP],
            ),
            id=f"adult 70 kg, R/R cycle 1 as two orders, 9 mcg/day running {hours} beside 28 "
            "mcg/day -> critical, the orders run at the same time",
        )
        for end, hours in (("2026-03-09T16:00:00Z", "6 h"), ("2026-03-09T21:00:00Z", "11 h"))
    ],
]
SCENARIOS.extend(RED_TEAM_8A_TWO_ORDERS)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    database = tmp_path_factory.mktemp("dose") / "feedback.sqlite3"
    app = create_app(
        Settings(dev_mode=True, database_url=f"sqlite:///{database}"), clock=lambda: NOW
    )
    with app.test_client() as client:
        yield client


def run(service: FlaskClient, scenario: Scenario) -> list[dict[str, Any]]:
    chart = bundle(scenario.chart)
    if scenario.select:
        response = service.post(
            SELECT, json=order_select(chart, "MedicationRequest/blinatumomab-draft")
        )
    else:
        response = service.post(SIGN, json=order_sign(chart))
    assert response.status_code == 200, response.get_json()
    return [c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "dose"]


def overlapping(resource: dict[str, Any]) -> bool:
    """Whether two dosages of an order run at the same time for half a day or more: each from
    its boundsPeriod.start, else the one before's end (the first: authoredOn), for its
    boundsPeriod.end or boundsDuration (none: open-ended)."""
    cursor = datetime.fromisoformat(resource["authoredOn"])
    spans: list[tuple[datetime, datetime | None]] = []
    dosages = sorted(resource["dosageInstruction"], key=lambda d: d.get("sequence") or 0)
    for dosage in dosages:
        repeat = dosage.get("timing", {}).get("repeat", {})
        bounds = repeat.get("boundsPeriod") or {}
        begin = datetime.fromisoformat(bounds["start"]) if "start" in bounds else cursor
        end = datetime.fromisoformat(bounds["end"]) if "end" in bounds else None
        if end is None and "boundsDuration" in repeat:
            end = begin + timedelta(days=repeat["boundsDuration"]["value"])
        if end is None and "count" in repeat:  # once a day, count times
            end = begin + timedelta(days=repeat["count"] / repeat.get("frequency", 1))
        spans.append((begin, end))
        cursor = end or begin
    half_day = timedelta(hours=12)
    for index, (begin, end) in enumerate(spans):
        for other_begin, other_end in spans[index + 1 :]:
            if end is None and other_begin > begin:
                continue  # an open-ended step gives way to a later start
            ends = [e for e in (end, other_end) if e is not None]
            if not ends or min(ends) - max(begin, other_begin) >= half_day:
                return True
    return False


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_dose_matrix(service: FlaskClient, scenario: Scenario) -> None:
    cards = run(service, scenario)
    got = sorted((c["indicator"], c["extension"][FINDING_CODE_EXTENSION]) for c in cards)
    assert got == sorted(scenario.cards), [c["summary"] for c in cards]
    fixes = [c for c in cards if c.get("suggestions")]
    if scenario.fix is None:
        assert fixes == []
    else:
        assert len(fixes) == 1
        assert suggested_doses(fixes[0]) == scenario.fix
        action = fixes[0]["suggestions"][0]["actions"][0]
        assert action["type"] == "update"
        assert action["resource"]["id"] == scenario.fixed_order
        assert action["resource"]["status"] == "draft"
        assert not overlapping(action["resource"]), action["resource"]["dosageInstruction"]
    for text in scenario.summary_has:
        assert any(text in c["summary"] for c in cards), [c["summary"] for c in cards]


def test_a_weight_whose_unit_cannot_be_read_is_said_to_be_there(service: FlaskClient) -> None:
    """A weight of 70.2 "Kilo" is on file: the card says its unit is unreadable, not that there
    is no weight ("Record a current weight" would send staff the wrong way)."""
    chart = [*body_of(kg_unit="Kilo"), order(Step(28, days=28), cycle=2)]
    [card] = run(service, S(chart, [NO_WEIGHT]))
    assert card["extension"][FINDING_CODE_EXTENSION] == "dose-no-weight"
    assert "The newest body weight on file (70.2 Kilo, 2026-02-27) has a unit" in card["detail"]
    [absent] = run(service, S([*body_of(kg=None), order(Step(28, days=28), cycle=2)], []))
    assert "No body weight was found" in absent["detail"]


@pytest.mark.parametrize(
    ("newest", "when", "found"),
    [
        pytest.param(
            {"value": 30, "unit": "Kilo"},
            YESTERDAY,
            "The newest body weight on file (30 Kilo, 2026-03-01) has a unit that cannot be read "
            "as kg, and no older one was used in its place",
            id="30 'Kilo' yesterday",
        ),
        pytest.param(
            ucum(50, "kg"),
            "2062-02-27T09:10:00+00:00",
            "The newest body weight on file (50 kg, 2062-02-27) is dated in the future (after "
            "2026-03-02), and no older one was used in its place",
            id="50 kg dated 2062",
        ),
    ],
)
def test_the_newest_weight_that_cannot_be_used_is_named_and_no_older_one_decides(
    service: FlaskClient, newest: dict[str, Any], when: str, found: str
) -> None:
    """Child 9 y with 46 kg three weeks ago: the card names the newest weight and why it was not
    used; the dose is not judged on the 46 kg (a fixed 28 mcg/day would have passed)."""
    chart = weighed_again(child(46, weighed=THREE_WEEKS_AGO), newest, when=when)
    [card] = run(service, S([*chart, order(Step(28, days=28), indication="mrd-positive")], []))
    assert card["extension"][FINDING_CODE_EXTENSION] == "dose-no-weight"
    assert found in " ".join(card["detail"].split()), card["detail"]


def test_five_copies_of_an_order_get_one_overlap_card_not_ten(service: FlaskClient) -> None:
    """One card for a group of overlapping orders (200 copies once gave 19,900 cards)."""
    copies = [order(Step(28, days=28), cycle=2, oid=f"copy-{i}") for i in range(4)]
    cards = run(service, S([*body_of(), order(Step(28, days=28), cycle=2), *copies], []))
    overlaps = [c for c in cards if c["extension"][FINDING_CODE_EXTENSION] == "dose-orders-overlap"]
    assert len(overlaps) == 1
    assert (
        "copy-0, MedicationRequest/copy-1, MedicationRequest/copy-2 and 1 more"
        in (overlaps[0]["detail"])
    )


@pytest.mark.parametrize(
    ("day_8_dose", "expected"),
    [(28, []), (14, [UNDERDOSE])],
    ids=["28 mcg/day -> no dose card", "14 mcg/day -> underdose warning for days 8-28"],
)
def test_order_select_of_the_day_8_order_counts_its_days_from_the_day_1_order_beside_it(
    service: FlaskClient, day_8_dose: float, expected: list[tuple[str, str]]
) -> None:
    """R/R cycle 1 as two orders; the clinician edits the day-8 one (order-select names it alone):
    it is day 8 of the cycle the day-1 draft begins, not day 1."""
    days_1_to_7, days_8_to_28 = split_step_up(cycle=1)
    days_8_to_28["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = day_8_dose
    request = order_select(
        bundle([*body_of(), days_1_to_7, days_8_to_28]), "MedicationRequest/blinatumomab-draft-2"
    )
    response = service.post(SELECT, json=request)
    assert response.status_code == 200, response.get_json()
    cards = [c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "dose"]
    assert [(c["indicator"], c["extension"][FINDING_CODE_EXTENSION]) for c in cards] == expected
    assert all("days 8–28" in c["summary"] for c in cards), [c["summary"] for c in cards]


def test_a_dose_card_says_how_it_read_the_cycle_a_new_course(service: FlaskClient) -> None:
    """R/R cycles 1-2 in 2024, 28 mcg/day ordered two years later without a cycle: the critical
    card rests on an inference (cycle 1 of a new course), so it says so."""
    chart = [
        *body_of(),
        history_c1(1, "2024-01-08T10:00:00+00:00", 28, 28),
        history_c1(2, "2024-02-19T10:00:00+00:00", 28, 28),
        order(Step(28, days=28), cycle=None),
    ]
    [card] = run(service, S(chart, [OVERDOSE]))
    assert (
        "How the indication and cycle were read: indication: coded on the order; cycle: a new "
        "course (the last blinatumomab infusion on file ended 2024-03-18, 714 days before this "
        "order: over 112 days)." in card["detail"]
    )


def test_a_resumed_cycle_card_says_which_day_of_infusion_it_judged(service: FlaskClient) -> None:
    """R/R cycle 1 stopped after 2 days, resumed 7 days later at 28 mcg/day: the overdose card
    says the order resumes on infusion day 3, and the calendar day it is not judged by."""
    chart = [*body_of(), *interrupted(2, 7), order(Step(28, days=26))]
    [card] = run(service, S(chart, [OVERDOSE]))
    assert card["summary"] == (
        "Blinatumomab overdose: 28 mcg/day ordered for days 3–7; at most 9 mcg/day allowed"
    )
    assert "its day 3 of infusion (2 days given before; day 10 by the calendar)" in card["detail"]


def test_the_unknown_stop_card_names_the_order_and_the_earliest_day(service: FlaskClient) -> None:
    chart = [
        *body_of(),
        *interrupted(7, 3, (Step(9, days=7),), stop="nothing"),
        order(Step(28, days=21)),
    ]
    [card] = run(service, S(chart, [STOP_UNKNOWN]))
    assert card["summary"] == (
        "Could not verify the blinatumomab dose: this order may fall on day 1 of cycle 1, "
        "where at most 9 mcg/day is allowed"
    )
    assert "MedicationRequest/blinatumomab-c1" in card["detail"]
    assert "day 8 of cycle 1" in card["detail"]
