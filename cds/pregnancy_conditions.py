"""A current pregnancy on the problem list (`knowledge/pregnancy-conditions.yaml`).

A Condition that means a pregnancy going on now (SNOMED CT pregnancy findings, ICD-10-CM Z33.1,
Z34.-, Z3A.- and the chapter-15 categories that mean an ongoing pregnancy, never the puerperium),
active and not refuted, counts as a positive pregnancy status unless it has ended (abatement) or
a negative result was recorded after it.
"""

from __future__ import annotations

from collections.abc import Iterable

from cds.fhir.codings import ICD10CM
from cds.knowledge import Knowledge
from cds.patient import Code, ConditionFact

_TABLES: dict[int, tuple[Knowledge, frozenset[Code], tuple[str, ...]]] = {}


def _tables(knowledge: Knowledge) -> tuple[frozenset[Code], tuple[str, ...]]:
    found = _TABLES.get(id(knowledge))
    if found is None or found[0] is not knowledge:
        settings, systems = knowledge.pregnancy_conditions, knowledge.codes.systems
        exact = frozenset((systems[c.system], c.code.upper()) for c in settings.codes)
        prefixes = tuple(p.prefix.upper() for p in settings.icd10cm_prefixes)
        found = _TABLES[id(knowledge)] = (knowledge, exact, prefixes)
    return found[1], found[2]


def means_current_pregnancy(codes: Iterable[Code], knowledge: Knowledge) -> bool:
    exact, prefixes = _tables(knowledge)
    for system, code in codes:
        normal = code.strip().upper()
        if (system, normal) in exact or (system == ICD10CM and normal.startswith(prefixes)):
            return True
    return False


def current_pregnancy(
    conditions: Iterable[ConditionFact], knowledge: Knowledge
) -> ConditionFact | None:
    """The newest active, unrefuted, unended Condition that means a current pregnancy."""
    found = [
        c
        for c in conditions
        if c.clinical_status in (None, "active", "recurrence", "relapse")
        and c.verification_status not in ("refuted", "entered-in-error", "differential")
        and c.abatement is None
        and means_current_pregnancy(c.codes, knowledge)
    ]
    return max(found, key=lambda c: (c.onset is not None, c.onset), default=None)
