"""Which resources of a chart to validate: what a check can use, chosen on the raw JSON.

Validating and reducing a resource to facts costs tens of µs, and a chart of years holds hundreds
of old labs, conditions and finished orders. The checks read
immunizations, conditions and orders only through the code lists (and text patterns) of the
knowledge files, so, per prefetch key, these are left out:

- immunizations whose vaccine code is in no code list (no check can tell anything from them; live
  vaccines are kept at any age: "during treatment" may reach back to a first cycle long ago);
- conditions whose code is in no code list (the checks read conditions only by code: indication,
  no reproductive potential; a chart's years of hypertension and reflux tell them nothing);
- finished MedicationRequests (completed, stopped, cancelled, entered-in-error) for a drug that no
  code list names, by code or text. Earlier blinatumomab cycles, premedication and vaccine orders
  are kept at any age, and so is every order that is not finished or whose medication is a
  reference (resolved later).

Observations are not selected here: each is validated when a check first reads it
(`cds.fhir.observations`). A kept resource is validated as before (an invalid one is a
data-quality finding); one left out is neither validated nor reported. Patients and draft orders
are never left out. `tests/unit/test_selection.py` checks that every fixture gets the same answer
with and without this selection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cds.fhir.codings import canonical_system, equivalent_codes
from cds.fhir.facts import as_datetime
from cds.knowledge import Knowledge
from cds.patient import Code

FINISHED_ORDER_STATUSES = frozenset({"completed", "stopped", "cancelled", "entered-in-error"})

Raw = dict[str, Any]


def status_of(raw: Raw) -> str | None:
    """The status if it is a string (anything else is invalid: kept, reported when validated)."""
    status = raw.get("status")
    return status if isinstance(status, str) else None


def observation_when(raw: Raw) -> datetime | None:
    """The date the checks see (`facts.observation_fact`: effective[x], else issued)."""
    period = raw.get("effectivePeriod")
    for value in (
        raw.get("effectiveDateTime"),
        period.get("start") if isinstance(period, dict) else None,
        raw.get("effectiveInstant"),
        raw.get("issued"),
    ):
        if value:
            return as_datetime(value) if isinstance(value, str) else None
    return None


class KnownCodes:
    """Every code and text pattern of the knowledge files' code lists, built once per Knowledge."""

    _cache: dict[int, tuple[Knowledge, KnownCodes]] = {}  # noqa: RUF012 (id -> keep-alive pair)

    def __init__(self, knowledge: Knowledge) -> None:
        names = list(knowledge.codes.value_sets)
        self.codes: frozenset[Code] = frozenset().union(*(knowledge.codes_of(n) for n in names))
        self.texts: tuple[str, ...] = tuple(
            sorted({t for n in names for t in knowledge.text_patterns(n)})
        )

    @classmethod
    def of(cls, knowledge: Knowledge) -> KnownCodes:
        found = cls._cache.get(id(knowledge))
        if found is None or found[0] is not knowledge:
            found = (knowledge, cls(knowledge))
            cls._cache[id(knowledge)] = found
        return found[1]


def code_pairs(concept: Any) -> list[Code]:
    """(system, code) of a raw CodeableConcept, without building a set (hot on long charts)."""
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list):
        return []
    return [
        (system, code)
        for c in codings
        if isinstance(c, dict) and c.get("code") is not None
        for system in (canonical_system(str(c.get("system") or "")),)
        for code in equivalent_codes(system, str(c["code"]))
    ]


def concept_text(concept: Any) -> str:
    """The text and coding displays of a raw CodeableConcept, as written (the facts keep them in
    lower case; an abbreviation matched in capitals only, "VAR", needs the case)."""
    if not isinstance(concept, dict):
        return ""
    codings = concept.get("coding")
    texts = [concept.get("text")] + [
        c.get("display")
        for c in (codings if isinstance(codings, list) else [])
        if isinstance(c, dict)
    ]
    return " ".join(t.strip() for t in texts if isinstance(t, str) and t.strip())


def select_coded(raws: Sequence[Raw], field: str, knowledge: Knowledge) -> list[Raw]:
    """The resources whose `field` (a CodeableConcept) has a code of some code list."""
    known = KnownCodes.of(knowledge).codes
    return [raw for raw in raws if not known.isdisjoint(code_pairs(raw.get(field)))]


def _names_known_drug(raw: Raw, known: KnownCodes) -> bool:
    concepts: list[Any] = [raw.get("medicationCodeableConcept")]
    contained = raw.get("contained")
    for resource in contained if isinstance(contained, list) else []:
        if isinstance(resource, dict):
            concepts.append(resource.get("code"))
    texts: list[str] = []
    for concept in concepts:
        if not isinstance(concept, dict):
            continue
        if not known.codes.isdisjoint(code_pairs(concept)):
            return True
        texts.append(str(concept.get("text") or ""))
        codings = concept.get("coding")
        for coding in codings if isinstance(codings, list) else []:
            if isinstance(coding, dict):
                texts.append(str(coding.get("display") or ""))
    text = " ".join(texts).lower()
    return any(pattern in text for pattern in known.texts)


def select_orders(raws: Sequence[Raw], knowledge: Knowledge) -> list[Raw]:
    known = KnownCodes.of(knowledge)
    return [
        raw
        for raw in raws
        if status_of(raw) not in FINISHED_ORDER_STATUSES
        or "medicationReference" in raw
        or _names_known_drug(raw, known)
    ]


def referenced_medications(orders: Iterable[Mapping[str, Any]]) -> set[str]:
    """`Medication/id` references of these orders (only those Medications need validating)."""
    found = set()
    for raw in orders:
        reference = raw.get("medicationReference")
        if isinstance(reference, dict) and isinstance(reference.get("reference"), str):
            found.add(str(reference["reference"]))
    return found
