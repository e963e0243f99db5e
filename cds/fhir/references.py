"""FHIR references in every form R4 allows, resolved against what the EHR sent.

A reference may be relative (`Patient/123`), absolute (`https://ehr.example/fhir/Patient/123`),
versioned (`.../Patient/123/_history/2`), a `urn:uuid:` / `urn:oid:` naming a Bundle entry's
`fullUrl` (transaction Bundles, Synthea charts), or `#id` naming a contained resource. Every check
that asks "whose is this?" or "which Medication?" goes through here, so no form is lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

Raw = dict[str, Any]

# [base/]Type/id[/_history/version] (R4 3.1.0.3.3 "Literal references").
_LITERAL = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?/?$"
)


# Not a clinical rule: references longer than this are parsed each time, never kept in the cache
# (4,096 kept strings of a request's length would be gigabytes; a real one is under 200).
LONGEST_CACHED_REFERENCE = 512


def parse(reference: str) -> tuple[str, str] | None:
    """(type, id) of a relative, absolute or versioned reference; None for urn:, #id and others."""
    if not isinstance(reference, str) or reference.startswith(("urn:", "#")):
        return None
    if len(reference) > LONGEST_CACHED_REFERENCE:
        return _parse_literal.__wrapped__(reference)
    return _parse_literal(reference)


@lru_cache(maxsize=4096)  # keyed by the string itself; a chart resent asks for the same ~100
def _parse_literal(reference: str) -> tuple[str, str] | None:
    match = _LITERAL.search(reference.split("?", 1)[0])
    return (match.group("type"), match.group("id")) if match else None


def canonical(reference: str | None) -> str | None:
    """`Type/id` for any literal form; other references unchanged."""
    if reference is None:
        return None
    parsed = parse(reference)
    return f"{parsed[0]}/{parsed[1]}" if parsed else reference


def reference_of(value: Any) -> str | None:
    """The `reference` string of a Reference element, if it has one."""
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
    return None


class ReferenceIndex:
    """The resources an EHR sent, findable by `fullUrl` and by `Type/id`."""

    def __init__(self, entries: Iterable[tuple[str | None, Raw]] = ()) -> None:
        self._by_url: dict[str, Raw] = {}
        self._by_id: dict[str, Raw] = {}
        for full_url, resource in entries:
            self.add(resource, full_url)

    def add(self, resource: Raw, full_url: str | None = None) -> None:
        if not isinstance(resource, dict):
            return
        if isinstance(full_url, str) and full_url:
            self._by_url.setdefault(full_url, resource)
            if not resource.get("id") and (parsed := parse(full_url)):
                self._by_id.setdefault(f"{parsed[0]}/{parsed[1]}", resource)
        kind, ident = resource.get("resourceType"), resource.get("id")
        if isinstance(kind, str) and isinstance(ident, str):
            self._by_id.setdefault(f"{kind}/{ident}", resource)

    def resolve(self, reference: str | None, holder: Mapping[str, Any] | None = None) -> Raw | None:
        """The resource `reference` names: contained in `holder`, a Bundle entry, or by Type/id."""
        if not reference:
            return None
        if reference.startswith("#"):
            contained = holder.get("contained") if holder else None
            return next(
                (
                    c
                    for c in (contained if isinstance(contained, list) else [])
                    if isinstance(c, dict) and c.get("id") == reference[1:]
                ),
                None,
            )
        found = self._by_url.get(reference)
        if found is not None:
            return found
        key = canonical(reference)
        return self._by_id.get(key) if key else None


Verdict = str  # "mine" | "other" | "untied"


def patient_verdict(
    reference: str | None, patient_id: str, index: ReferenceIndex, patient: Raw | None = None
) -> Verdict:
    """Whether a subject/patient reference names the patient in context.

    "other": it names another patient (an EHR may answer an unfiltered search: never used);
    "untied": it names nothing this call can tie to a patient (a `urn:uuid:` with no Bundle
    entry, a reference by identifier only): not used, and said so when a check needed it.
    """
    if reference is None:
        return "mine"  # no subject at all: the query was for this patient
    target = index.resolve(reference)
    if target is not None and target.get("resourceType") == "Patient":
        if target is patient or target.get("id") in (None, patient_id):
            return "mine"
        return "other"
    parsed = parse(reference)
    if parsed is not None:
        if parsed[0] != "Patient":
            return "untied"
        return "mine" if parsed[1] == patient_id else "other"
    if reference.startswith("urn:uuid:") and reference[len("urn:uuid:") :] == patient_id:
        return "mine"  # Synthea and most exporters: fullUrl urn:uuid:<id>, id <id>
    return "untied"
