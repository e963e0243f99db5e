"""Recognise live vaccines the chart does not code in CVX: by NDC or by name.

The checks read vaccines by CVX. An Immunization coded only by NDC gets the CVX the CDC's
NDC-to-CVX crosswalk gives it; one recorded as text only ("M-M-R II") gets the CVX of the curated
live-vaccine name it contains. Both are data (`knowledge/vaccine-recognition.yaml`), and the fact
says how it was recognised so that the card can tell the clinician.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from cds.fhir.codings import CVX, NDC, ndc_forms
from cds.fhir.selection import code_pairs
from cds.knowledge import Knowledge
from cds.knowledge.models import NdcRow, TextName
from cds.patient import Code, ImmunizationFact


def _words(text: str) -> str:
    return " " + " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split()) + " "


_CROSSWALKS: dict[int, tuple[Knowledge, dict[str, NdcRow]]] = {}


def _crosswalk(knowledge: Knowledge) -> dict[str, NdcRow]:
    """11-digit NDC -> crosswalk row, built once per Knowledge."""
    found = _CROSSWALKS.get(id(knowledge))
    if found is None or found[0] is not knowledge:
        table = {
            form: row
            for row in knowledge.vaccine_recognition.ndc_to_cvx
            for form in ndc_forms(row.ndc)
        }
        found = _CROSSWALKS[id(knowledge)] = (knowledge, table)
    return found[1]


def by_ndc(codes: frozenset[Code], knowledge: Knowledge) -> NdcRow | None:
    crosswalk = _crosswalk(knowledge)
    return next(
        (crosswalk[code] for system, code in sorted(codes) if system == NDC and code in crosswalk),
        None,
    )


def by_text(text: str, knowledge: Knowledge) -> TextName | None:
    """The curated live-vaccine name `text` contains as whole words (None if an exclusion word,
    such as "immune globulin" or "recombinant", is there too)."""
    settings = knowledge.vaccine_recognition
    words = _words(text)
    if any(_words(excluded) in words for excluded in settings.text_exclusions):
        return None
    return next((n for n in settings.text_names if _words(n.text) in words), None)


def _has_cvx(codes: frozenset[Code]) -> bool:
    return any(system == CVX for system, _ in codes)


def recognised_codes(codes: frozenset[Code], text: str, knowledge: Knowledge) -> frozenset[Code]:
    """`codes` with the CVX code of a live vaccine recognised by NDC or by name: what an order
    for a vaccine (a MedicationRequest) is matched on. A CVX code already there always wins."""
    if _has_cvx(codes):
        return codes
    row = by_ndc(codes, knowledge)
    if row is not None:
        return codes | {(CVX, row.cvx)}
    name = by_text(text, knowledge) if text else None
    return codes | {(CVX, name.cvx)} if name is not None else codes


def recognised(fact: ImmunizationFact, knowledge: Knowledge) -> ImmunizationFact:
    """`fact` with the CVX code of a live vaccine recognised by NDC or by name (a CVX code in the
    chart always wins: text is read only when there is none)."""
    if _has_cvx(fact.codes):
        return fact
    row = by_ndc(fact.codes, knowledge)
    if row is not None:
        return dataclasses.replace(
            fact,
            codes=fact.codes | {(CVX, row.cvx)},
            recognised_by=f"NDC {row.ndc} ({row.name}), mapped to CVX {row.cvx}",
        )
    name = by_text(fact.text, knowledge)
    if name is not None:
        return dataclasses.replace(
            fact,
            codes=fact.codes | {(CVX, name.cvx)},
            recognised_by=f'matched on the recorded text "{fact.text}" (no vaccine code)',
        )
    return fact


def worth_reading(raw: dict[str, Any], knowledge: Knowledge) -> bool:
    """On the raw JSON: might this Immunization be a live vaccine known by NDC or by name?"""
    concept = raw.get("vaccineCode")
    if not isinstance(concept, dict):
        return False
    codes = frozenset(code_pairs(concept))
    if _has_cvx(codes):
        return False
    if by_ndc(codes, knowledge) is not None:
        return True
    codings = concept.get("coding")
    texts = [str(concept.get("text") or "")] + [
        str(c.get("display") or "")
        for c in (codings if isinstance(codings, list) else [])
        if isinstance(c, dict)
    ]
    return by_text(" ".join(texts), knowledge) is not None
