"""Codes as EHRs write them -> the forms the knowledge files list.

CVX codes come with or without the leading zero ("3" and "03" are the same vaccine); NDCs come
in the 10-digit labeler-product-package forms (4-4-2, 5-3-2, 5-4-1, with or without hyphens) or
the 11-digit 5-4-2 form billing systems use. Every form is reduced to the 11-digit form, so an
NDC matches whatever way the chart or the knowledge file wrote it. ICD-10-CM codes come without
their dot, or in lower case, as claims and some exports write them ("D89834" is D89.834).
"""

from __future__ import annotations

CVX = "http://hl7.org/fhir/sid/cvx"
NDC = "http://hl7.org/fhir/sid/ndc"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"

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
    """`code` plus the normal forms it matches under (the code itself always comes first)."""
    if system == CVX and code.strip().isdigit():
        return (code, code.strip().lstrip("0").zfill(2))
    if system == NDC:
        return (code, *sorted(ndc_forms(code)))
    if system == ICD10CM:
        written = code.strip().upper()
        dotted = written if "." in written or len(written) <= 3 else f"{written[:3]}.{written[3:]}"
        return (code,) if dotted == code else (code, dotted)
    return (code,)
