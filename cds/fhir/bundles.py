"""A FHIR Bundle as EHRs export it and Synthea writes it -> one patient's resources.

Transaction, batch, collection and searchset Bundles alike: entries may carry `request`, resources
may lack an id (the entry's `urn:uuid:` fullUrl names them), and references inside may be
`urn:uuid:`/`urn:oid:` fullUrls, absolute or versioned. Every resource gets an id and every
reference that names an entry of the Bundle becomes `Type/id`, so the chart reads the same as a
prefetch would. A Bundle holding several patients must say which one is meant.
"""

from __future__ import annotations

import copy
from typing import Any

from cds.fhir import references
from cds.fhir.parsing import entries_in

Raw = dict[str, Any]


class BundleError(ValueError):
    """The Bundle cannot be read as one patient's chart (the message says why)."""


def _assign_ids(entries: list[tuple[str | None, Raw]]) -> None:
    for position, (url, resource) in enumerate(entries, start=1):
        if resource.get("id"):
            continue
        parsed = references.parse(url) if url else None
        if parsed is not None:
            resource["id"] = parsed[1]
        elif url and url.startswith(("urn:uuid:", "urn:oid:")):
            resource["id"] = url.rsplit(":", 1)[1][:64]
        else:
            resource["id"] = f"entry-{position}"


def _rewrite(node: Any, targets: dict[str, str]) -> None:
    """Every `reference` naming a Bundle entry -> `Type/id` (contained `#id` left alone)."""
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str) and reference in targets:
            node["reference"] = targets[reference]
        for key, value in node.items():
            if key != "reference":
                _rewrite(value, targets)
    elif isinstance(node, list):
        for value in node:
            _rewrite(value, targets)


def _label(patient: Raw) -> str:
    names = patient.get("name") if isinstance(patient.get("name"), list) else []
    name = names[0] if names and isinstance(names[0], dict) else {}
    given = " ".join(str(g) for g in name.get("given") or [])
    text = name.get("text") or " ".join(p for p in (given, str(name.get("family") or "")) if p)
    born = patient.get("birthDate")
    return f"Patient/{patient['id']}" + (f" ({text}, born {born})" if text else "")


def chart_resources(bundle: Raw, patient_id: str | None = None) -> tuple[Raw, list[Raw]]:
    """(the Patient, every resource of the Bundle with ids set and references made relative).

    Raises BundleError when the Bundle holds no Patient, or several and `patient_id` picks none.
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleError("the file is not a FHIR Bundle")
    entries = [(url, copy.deepcopy(r)) for url, r in entries_in(bundle)]
    _assign_ids(entries)
    targets: dict[str, str] = {}
    for url, resource in entries:
        relative = f"{resource.get('resourceType')}/{resource['id']}"
        if url:
            targets[url] = relative
        targets.setdefault(relative, relative)
    for _, resource in entries:
        for field in ("subject", "patient"):
            reference = references.reference_of(resource.get(field))
            canonical = references.canonical(reference)
            if reference and canonical and canonical != reference and canonical in targets:
                targets[reference] = canonical  # absolute or versioned form of an entry
        _rewrite(resource, targets)
    patients = [r for _, r in entries if r.get("resourceType") == "Patient"]
    if not patients:
        raise BundleError("the Bundle holds no Patient")
    if patient_id is not None:
        chosen = [p for p in patients if p["id"] == patient_id.removeprefix("Patient/")]
        if not chosen:
            listed = ", ".join(_label(p) for p in patients)
            raise BundleError(f"no patient {patient_id!r} in the Bundle; it holds {listed}")
        patient = chosen[0]
    elif len(patients) > 1:
        listed = "; ".join(_label(p) for p in patients)
        raise BundleError(
            f"the Bundle holds {len(patients)} patients ({listed}): pick one with --patient ID"
        )
    else:
        patient = patients[0]
    mine = f"Patient/{patient['id']}"
    kept = []
    for _, resource in entries:
        if resource.get("resourceType") == "Patient" and resource is not patient:
            continue
        subject = references.reference_of(resource.get("subject") or resource.get("patient"))
        if subject is None or references.canonical(subject) == mine or len(patients) == 1:
            kept.append(resource)
    return patient, kept
