"""Codes as EHRs write them -> the forms the knowledge files list.

CVX codes come with or without the leading zero ("3" and "03" are the same vaccine); NDCs come
in the 10-digit labeler-product-package forms (4-4-2, 5-3-2, 5-4-1, with or without hyphens) or
the 11-digit 5-4-2 form billing systems use. Every form is reduced to the 11-digit form, so an
NDC matches whatever way the chart or the knowledge file wrote it. ICD-10-CM codes come without
their dot, or in lower case, as claims and some exports write them ("D89834" is D89.834). A code
system named by its OID or an older URI is the one the knowledge files name (`canonical_system`).
"""

from __future__ import annotations

CVX = "http://hl7.org/fhir/sid/cvx"
NDC = "http://hl7.org/fhir/sid/ndc"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"

# Code systems as EHRs name them by another URI -> the URI the knowledge files list. C-CDA
# documents (and FHIR converted from them) and HL7 v2 feeds name a code system by its HL7 OID
# (HL7 Terminology NamingSystems: LOINC 2.16.840.1.113883.6.1, SNOMED CT .6.96, ICD-10-CM .6.90,
# CVX .12.292, NDC .6.69, RxNorm .6.88); older FHIR versions named v2 tables
# http://hl7.org/fhir/v2/NNNN. A code under an alias is the same code.
SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "urn:oid:2.16.840.1.113883.12.292": CVX,
    "urn:oid:2.16.840.1.113883.6.69": NDC,
    "urn:oid:2.16.840.1.113883.6.88": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "urn:oid:2.16.840.1.113883.6.12": "http://www.ama-assn.org/go/cpt",
    "urn:oid:2.16.840.1.113883.6.8": UCUM,
    "urn:oid:2.16.840.1.113883.6.4": "http://www.cms.gov/Medicare/Coding/ICD10",
    "urn:oid:2.16.840.1.113883.12.136": "http://terminology.hl7.org/CodeSystem/v2-0136",
    "http://hl7.org/fhir/v2/0136": "http://terminology.hl7.org/CodeSystem/v2-0136",
    "http://snomed.info/sct/": SNOMED,
    "http://loinc.org/": LOINC,
}


def canonical_system(system: str) -> str:
    """The URI the knowledge files use for a code system sent as `system` (an OID, an old URI,
    a known URI with a trailing slash or the other of http/https); any other system as sent."""
    found = _AS_SENT.get(system)  # nearly every system: one lookup (hot on long charts)
    if found is not None:
        return found
    written = system.strip()
    urn = written[:4].lower() == "urn:"  # "URN:OID:..." as some interface engines write it
    found = _KNOWN_FORMS.get(written.lower() if urn else written, written)
    if len(_AS_SENT) < _MOST_REMEMBERED:  # a chart names a few dozen systems; a caller, any
        _AS_SENT[system] = found
    return found


def _written_otherwise(name: str) -> list[str]:
    """A known system URI as EHRs also send it: with a trailing slash, and with https for http
    (and back). Listed up front, so that reading them stays one dict lookup."""
    swapped = (
        "https://" + name[len("http://") :]
        if name.startswith("http://")
        else "http://" + name[len("https://") :]
        if name.startswith("https://")
        else None
    )
    return [f"{form}/" for form in (name, swapped) if form] + ([swapped] if swapped else [])


_KNOWN_SYSTEMS = {CVX, NDC, ICD10CM, LOINC, SNOMED, UCUM, *SYSTEM_ALIASES.values()}
_KNOWN_FORMS = {
    **{other: name for name in _KNOWN_SYSTEMS for other in _written_otherwise(name)},
    **{name: name for name in _KNOWN_SYSTEMS},
    **SYSTEM_ALIASES,
}
_AS_SENT = dict(_KNOWN_FORMS)
_MOST_REMEMBERED = 1_000


# 10-digit NDC layouts and where the 11-digit form adds its zero (segment lengths).
_LAYOUTS = ((4, 4, 2), (5, 3, 2), (5, 4, 1))


def _pad(segments: list[str]) -> str:
    labeler, product, package = segments
    return labeler.zfill(5) + product.zfill(4) + package.zfill(2)


def ndc_forms(code: str) -> frozenset[str]:
    """The 11-digit forms an NDC can stand for (one, except for an unhyphenated 10-digit code,
    whose layout is unknown: each of the three layouts is a candidate)."""
    text = code.strip().replace(" ", "")
    if "-" in text:
        segments = text.split("-")
        if len(segments) == 3 and all(s.isdigit() for s in segments):
            return frozenset({_pad(segments)})
        return frozenset()
    if not text.isdigit():
        return frozenset()
    if len(text) == 11:
        return frozenset({text})
    if len(text) != 10:
        return frozenset()
    forms = set()
    for labeler, product, _ in _LAYOUTS:
        forms.add(
            _pad([text[:labeler], text[labeler : labeler + product], text[labeler + product :]])
        )
    return frozenset(forms)


def equivalent_codes(system: str, code: str) -> tuple[str, ...]:
    """`code` plus the normal forms it matches under (the code itself always comes first); a
    system named by an alias (its OID) is read as the system it names."""
    system = canonical_system(system)
    if system == CVX and code.strip().isdigit():
        return (code, code.strip().lstrip("0").zfill(2))
    if system == NDC:
        return (code, *sorted(ndc_forms(code)))
    if system == ICD10CM:
        written = code.strip().upper()
        dotted = written if "." in written or len(written) <= 3 else f"{written[:3]}.{written[3:]}"
        return (code,) if dotted == code else (code, dotted)
    return (code,)
