"""Hospitalisation reminder (card topic `hospitalization`; label §2.2-2.4).

The label recommends hospitalisation for the first days of cycles 1 and 2 (CRS and neurological
toxicity appear early). An order whose first dose falls inside those days gets an info card when
nothing says the patient is an inpatient (the order's category or its Encounter's class).
"""

from __future__ import annotations

from pydantic import Field

from cds.checks import Check, CheckInput
from cds.findings import Declarations, Emission, declare, emit
from cds.knowledge import Knowledge, StrictModel

TOPIC = "hospitalization"
FINDINGS: Declarations = {
    "hospitalization-recommended": declare("info", "cycle", "days", "indication", "day"),
}


class Coding(StrictModel):
    system: str
    code: str


class Stay(StrictModel):
    cycles: dict[int, int]  # cycle -> inpatient days from its day 1
    source: str
    label_differs_from_seed: str | None = None


class HospitalizationRules(StrictModel):
    version: str
    reviewed: str
    inpatient_days: dict[str, Stay]
    unknown_indication: Stay
    inpatient_order_categories: list[Coding] = Field(min_length=1)
    inpatient_encounter_classes: list[Coding] = Field(min_length=1)


def rules(knowledge: Knowledge) -> HospitalizationRules:
    settings = knowledge.section("hospitalization", HospitalizationRules)
    missing = set(knowledge.indications) - set(settings.inpatient_days)
    if missing:
        raise ValueError(f"hospitalization.yaml: no stay for {sorted(missing)}")
    return settings


def _inpatient(item: CheckInput, settings: HospitalizationRules) -> bool:
    order = item.review.order
    categories = {(c.system, c.code) for c in settings.inpatient_order_categories}
    if not order.category.isdisjoint(categories):
        return True
    classes = {(c.system, c.code) for c in settings.inpatient_encounter_classes}
    encounter_class = item.patient.encounter_classes.get(order.encounter or "")
    return encounter_class in classes


def check_hospitalization(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    settings = rules(knowledge)
    review = item.review
    if review.cycle is None:
        return []  # the dose check already says the cycle is unknown
    stay = settings.inpatient_days.get(review.indication or "", settings.unknown_indication)
    days = stay.cycles.get(review.cycle)
    if days is None or review.cycle_day > days or _inpatient(item, settings):
        return []
    indication = (
        knowledge.indications[review.indication].label
        if review.indication
        else "indication unknown: the longest stay of any indication"
    )
    return [
        emit(
            "hospitalization-recommended",
            stay.source,
            cycle=review.cycle,
            days=days,
            indication=indication,
            day=review.cycle_day,
        )
    ]


CHECK = Check(
    topic=TOPIC,
    verifies="the recommended hospitalisation",
    requires=frozenset(),
    source="label-2.3",
    run=check_hospitalization,
    rules=rules,
    findings=FINDINGS,
)
