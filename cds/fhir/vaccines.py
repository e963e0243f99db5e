"""Recognise live vaccines the chart does not code in CVX: by NDC or by name.

The checks read vaccines by CVX. A CVX code sent under another system URI (the OID of HL7 v2 table
0292, as C-CDA writes it) is read as CVX. An Immunization coded only by NDC gets the CVX the CDC's
NDC-to-CVX crosswalk gives it; one recorded as text only ("M-M-R II") gets the CVX of the curated
live-vaccine name it contains. All are data (`knowledge/vaccine-recognition.yaml`), and the fact
says how it was recognised so that the card can tell the clinician.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from cds.fhir.codings import CVX, NDC, equivalent_codes, ndc_forms
from cds.fhir.selection import code_pairs
from cds.knowledge import Knowledge
from cds.knowledge.models import NdcRow, TextName
from cds.patient import Code, ImmunizationFact

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def as_words(text: str) -> str:
    """`text` as space-separated lower-case words, with a space at each end (whole-word `in`)."""
    return " " + words_of(text).strip() + " "


def words_of(text: str) -> str:
    """`text` in lower case with every run of other characters than letters and digits made one
    space. The fast path looks for names in this form too (`cds.fast_path`): a name it missed
    that this module finds ("Yellow-Fever", "zoster,  live") would be a silent all-clear."""
    return _NOT_WORD.sub(" ", text.lower())


@dataclasses.dataclass(frozen=True)
class _Recognition:
    """The knowledge's crosswalk and curated names, normalised once per Knowledge: `by_text` runs
    for every draft order of every call, and normalising ~60 names each time cost ~0.3 ms."""

    knowledge: Knowledge
    crosswalk: dict[str, NdcRow]  # 11-digit NDC -> crosswalk row
    exclusions: tuple[str, ...]  # `as_words` of each exclusion
    live_words: tuple[str, ...]  # `as_words` of the words saying a vaccine is live
    not_live_words: tuple[str, ...]  # `as_words` of their negations ("not live")
    names: tuple[tuple[str, TextName], ...]  # (`as_words` of the name, the name)
    uninformative: frozenset[str]  # CVX codes that name no vaccine (999)
    uninformative_displays: tuple[str, ...]  # `as_words` of their displays
    cvx_aliases: frozenset[str]  # other system URIs under which CVX codes are sent
    vaccine_codes: frozenset[Code]  # the CVX codes of the live-vaccine code lists

    @classmethod
    def of(cls, knowledge: Knowledge) -> _Recognition:
        found = _RECOGNITIONS.get(id(knowledge))
        if found is None or found.knowledge is not knowledge:
            settings = knowledge.vaccine_recognition
            found = _RECOGNITIONS[id(knowledge)] = cls(
                knowledge,
                {form: row for row in settings.ndc_to_cvx for form in ndc_forms(row.ndc)},
                tuple(as_words(excluded) for excluded in settings.text_exclusions),
                tuple(as_words(word) for word in settings.text_live_words),
                tuple(as_words(word) for word in settings.text_not_live_words),
                tuple((as_words(name.text), name) for name in settings.text_names),
                frozenset(row.code for row in settings.uninformative_cvx),
                tuple(as_words(row.display) for row in settings.uninformative_cvx),
                frozenset(alias.system for alias in settings.cvx_system_aliases),
                knowledge.codes_of("live_vaccines")
                | knowledge.codes_of("live_nonreplicating_vaccines"),
            )
        return found


_RECOGNITIONS: dict[int, _Recognition] = {}


def as_cvx(codes: frozenset[Code], knowledge: Knowledge) -> frozenset[Code]:
    """`codes` with each code sent under another system URI for CVX (its HL7 v2 table 0292 OID)
    also under the CVX system, in the forms the knowledge lists ("3" is "03")."""
    aliases = _Recognition.of(knowledge).cvx_aliases
    return codes | {
        (CVX, form)
        for system, code in codes
        if system in aliases
        for form in equivalent_codes(CVX, code)
    }


def by_ndc(codes: frozenset[Code], knowledge: Knowledge) -> NdcRow | None:
    crosswalk = _Recognition.of(knowledge).crosswalk
    return next(
        (crosswalk[code] for system, code in sorted(codes) if system == NDC and code in crosswalk),
        None,
    )


def by_text(text: str, knowledge: Knowledge) -> TextName | None:
    """The curated live-vaccine name `text` contains as whole words (None if an exclusion word,
    such as "immune globulin" or "recombinant", is there too, unless the text says the vaccine is
    "live" and not "not live"; the display of a CVX code that names no vaccine is not read)."""
    recognition = _Recognition.of(knowledge)
    words = as_words(text)
    for display in recognition.uninformative_displays:
        words = words.replace(display, " ")
    says_live = any(word in words for word in recognition.live_words) and not any(
        negation in words for negation in recognition.not_live_words
    )
    if not says_live and any(excluded in words for excluded in recognition.exclusions):
        return None
    return next((name for normalised, name in recognition.names if normalised in words), None)


def _has_cvx(codes: frozenset[Code], knowledge: Knowledge) -> bool:
    """Whether a CVX code says which vaccine (999 "unknown" does not: then NDC and text count)."""
    uninformative = _Recognition.of(knowledge).uninformative
    return any(system == CVX and code not in uninformative for system, code in codes)


def recognised_codes(codes: frozenset[Code], text: str, knowledge: Knowledge) -> frozenset[Code]:
    """`codes` with the CVX code of a live vaccine recognised by NDC or by name: what an order
    for a vaccine (a MedicationRequest) is matched on. A CVX code naming a vaccine always wins
    (under the CVX system or an alias of it)."""
    codes = as_cvx(codes, knowledge)
    if _has_cvx(codes, knowledge):
        return codes
    row = by_ndc(codes, knowledge)
    if row is not None:
        return codes | {(CVX, row.cvx)}
    name = by_text(text, knowledge) if text else None
    return codes | {(CVX, name.cvx)} if name is not None else codes


def recognised(fact: ImmunizationFact, knowledge: Knowledge) -> ImmunizationFact:
    """`fact` with the CVX code of a live vaccine recognised by NDC or by name (a CVX code in the
    chart that names a vaccine always wins: text is read only when there is none)."""
    codes = as_cvx(fact.codes, knowledge)
    if codes != fact.codes:
        fact = dataclasses.replace(fact, codes=codes)
    if _has_cvx(fact.codes, knowledge):
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
            recognised_by=f'matched on the recorded text "{fact.text}" (no code naming a vaccine)',
        )
    return fact


def worth_reading(raw: dict[str, Any], knowledge: Knowledge) -> bool:
    """On the raw JSON: might this Immunization be a live vaccine known by NDC or by name?"""
    concept = raw.get("vaccineCode")
    if not isinstance(concept, dict):
        return False
    codes = frozenset(code_pairs(concept))
    if _has_cvx(codes, knowledge):  # CVX under its own system: kept if a code list names it
        return False
    codes = as_cvx(codes, knowledge)
    if _has_cvx(codes, knowledge):  # CVX under an alias (its OID): no code list names that
        return not codes.isdisjoint(_Recognition.of(knowledge).vaccine_codes)
    if by_ndc(codes, knowledge) is not None:
        return True
    codings = concept.get("coding")
    texts = [str(concept.get("text") or "")] + [
        str(c.get("display") or "")
        for c in (codings if isinstance(codings, list) else [])
        if isinstance(c, dict)
    ]
    return by_text(" ".join(texts), knowledge) is not None
