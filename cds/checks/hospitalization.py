"""Hospitalisation reminder (card topic `hospitalization`; label §2.2-2.4).

The label recommends hospitalisation for the first days of cycles 1 and 2 (CRS and neurological
toxicity appear early). An order whose first dose falls inside those days gets an info card when
nothing says the patient is an inpatient (the order's category, the class of the order's Encounter,
or of the encounter the EHR names in the hook's context: v3 ActCode IMP/ACUTE/NONAC/OBSENC or v2
table 0004 I, hospitalization.yaml).
"""

from __future__ import annotations

from cds.checks import Check, CheckInput
from cds.findings import Declarations, Emission, declare, emit
from cds.knowledge import Knowledge
from cds.knowledge.models import HospitalizationRules

TOPIC = "hospitalization"
FINDINGS: Declarations = {
    "hospitalization-recommended": declare("info", "cycle", "days", "indication", "day"),
}


def _class_key(coding: tuple[str, str], settings: HospitalizationRules) -> tuple[str, str]:
    """An encounter class as compared: without case when hospitalization.yaml says so."""
    system, code = coding
    return (system, code.upper()) if settings.encounter_class_ignore_case else (system, code)


def _inpatient(item: CheckInput, settings: HospitalizationRules) -> bool:
    order = item.review.order
    categories = {(c.system, c.code) for c in settings.inpatient_order_categories}
    if not order.category.isdisjoint(categories):
        return True
    classes = {
        _class_key((c.system, c.code), settings) for c in settings.inpatient_encounter_classes
    }
    encounters = (e for e in (order.encounter, item.patient.encounter) if e is not None)
    found = (item.patient.encounter_classes.get(e) for e in encounters)
    return any(_class_key(coding, settings) in classes for coding in found if coding is not None)


def check_hospitalization(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    settings = knowledge.hospitalization
    review = item.review
    # the cycle the infusions on file make it when the order codes a lower one (cds.orders)
    cycle, _, cycle_day = review.judged_cycle
    if cycle is None:
        return []  # the dose check already says the cycle is unknown
    if review.follows_draft is not None:
        return []  # the day-8 order of a step-up written as two: the first order's card says it
    stay = settings.inpatient_days.get(review.indication or "", settings.unknown_indication)
    days = stay.cycles.get(cycle)
    resumed = review.resumption
    if resumed is not None and review.resumes_its_cycle:  # its infusion days are the cycle's
        cycle_day = max(cycle_day, int(resumed.infusion_days_used) + 1)
    if days is None or cycle_day > days or _inpatient(item, settings):
        return []
    indication = knowledge.indication_label(review.indication)
    if review.indication is None:
        indication += ": the longest stay of any indication"
    return [
        emit(
            "hospitalization-recommended",
            stay.source,
            cycle=cycle,
            days=days,
            indication=indication,
            day=cycle_day,
        )
    ]


CHECK = Check(
    topic=TOPIC,
    verifies="the recommended hospitalisation",
    requires=frozenset(),
    run=check_hospitalization,
    findings=FINDINGS,
)


def setting_read(item: CheckInput, knowledge: Knowledge) -> tuple[str | None, str | None, bool]:
    """What this check reads, for the sandbox page: the order's Encounter, that Encounter's class
    code, and whether the check counts the patient as an inpatient."""
    encounter = item.review.order.encounter
    found = item.patient.encounter_classes.get(encounter or "")
    return encounter, found[1] if found else None, _inpatient(item, knowledge.hospitalization)
