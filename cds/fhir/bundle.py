"""A chart as one FHIR Bundle (the sample charts, a pasted chart): as the order-sign request an EHR
would send for its draft orders, when those orders are signed, and the chart moved to another day.

Used by `python -m cds check` and the sandbox page, so both read a chart the same way.
Transaction, batch, collection and searchset Bundles alike, as EHRs export them and Synthea writes
them: entries may carry `request`, resources may lack an id (the entry's `urn:uuid:` fullUrl names
them), and references inside may be `urn:uuid:`/`urn:oid:` fullUrls, absolute or versioned. Every
resource gets an id and every reference that names an entry of the Bundle becomes `Type/id`, so
the chart reads the same as a prefetch would. A Bundle holding several patients must say which
one is meant.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from cds.errors import InvalidRequest
from cds.fhir import references
from cds.fhir.facts import as_datetime
from cds.fhir.parsing import entries_in

Raw = dict[str, Any]


class BundleError(InvalidRequest):
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
        # the one patient with draft orders is the one to check (the others are context)
        ordered_for = {
            references.canonical(references.reference_of(r.get("subject")))
            for _, r in entries
            if r.get("resourceType") in ("MedicationRequest", "ServiceRequest")
            and r.get("status") == "draft"
        }
        with_drafts = [p for p in patients if f"Patient/{p['id']}" in ordered_for]
        if len(with_drafts) != 1:
            listed = "; ".join(_label(p) for p in patients)
            raise BundleError(
                f"the Bundle holds {len(patients)} patients ({listed}), "
                f"{len(with_drafts)} of them with draft orders: pick one with --patient ID"
            )
        patient = with_drafts[0]
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


CHART_KEYS = {
    "Patient": "patient",
    "Observation": "observations",
    "Immunization": "immunizations",
    "MedicationRequest": "medications",
    "Medication": "medications",
    "Condition": "conditions",
    "MedicationAdministration": "administrations",
    "Procedure": "procedures",
    "Encounter": "medications",  # as `_include=MedicationRequest:encounter` brings it
}


CHART_SEARCH_KEYS = (
    "observations",
    "immunizations",
    "medications",
    "conditions",
    "administrations",
    "procedures",
)


def _failed_searches(bundle: Mapping[str, Any]) -> dict[str | None, dict[str, Any]]:
    """The OperationOutcomes with an error an export carries (a searchset's "Observation search
    failed"), by the prefetch key of the resource type they name; under None when they name
    none. A failed search left out of the chart would have read as "nothing on file"."""
    failed: dict[str | None, dict[str, Any]] = {}
    for resource in _outcomes_in(bundle):
        issues = [i for i in resource.get("issue") or [] if isinstance(i, dict)]
        if not any(i.get("severity") in ("error", "fatal") for i in issues):
            continue
        said = json.dumps(issues)
        named: set[str | None] = {
            key
            for kind, key in CHART_KEYS.items()
            if kind not in ("Encounter", "Patient") and re.search(rf"\b{kind}\b", said)
        }
        for key in named or {None}:
            failed.setdefault(key, resource)
    return failed


def _outcomes_in(bundle: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """Every OperationOutcome of the Bundle, nested Bundles' and search outcomes' included."""
    for resource in _resources(bundle):
        if resource.get("resourceType") == "OperationOutcome":
            yield dict(resource)
        elif resource.get("resourceType") == "Bundle":
            yield from _outcomes_in(resource)


def request_from_bundle(bundle: Mapping[str, Any], patient_id: str | None = None) -> dict[str, Any]:
    """A FHIR Bundle holding a chart plus draft orders -> an order-sign request with full prefetch.

    MedicationRequests with status `draft` (and ServiceRequests) are the draft orders; the rest of
    the chart fills the prefetch keys (keys with nothing in the chart are sent as null: no data).
    An OperationOutcome with an error in the export stands in for the keys of the resource types it
    names (or, naming none, for every key the chart has nothing for): a failed search is no data.
    Raises BundleError (an InvalidRequest) when the Bundle holds no Patient, or several and
    `patient_id` picks none.
    """
    patient, resources = chart_resources(dict(bundle), patient_id)
    drafts = [
        r
        for r in resources
        if r.get("resourceType") in ("MedicationRequest", "ServiceRequest")
        and r.get("status") == "draft"
    ]
    chart: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        key = CHART_KEYS.get(resource.get("resourceType", ""))
        if key and resource not in drafts and key != "patient":
            chart.setdefault(key, []).append(resource)
    prefetch: dict[str, Any] = {"patient": patient}
    failures = _failed_searches(bundle)
    for key in CHART_SEARCH_KEYS:
        entries = chart.get(key)
        failed = failures.get(key) or (None if entries else failures.get(None))
        if failed is not None:
            prefetch[key] = failed  # an error, never data: its checks say what was not verified
            continue
        prefetch[key] = (
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in entries],
            }
            if entries
            else None
        )
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/sandbox-user",
            "patientId": patient.get("id", "unknown"),
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in drafts],
            },
        },
        "prefetch": prefetch,
    }


def _resources(bundle: Mapping[str, Any] | None) -> Iterable[Mapping[str, Any]]:
    entries = (bundle or {}).get("entry")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(resource := entry.get("resource"), dict):
            yield resource


def newest_authored_on(resources: Iterable[Mapping[str, Any]]) -> datetime | None:
    """When orders are signed: the newest `authoredOn` among them (None when none is dated)."""
    times = [t for r in resources if (t := as_datetime(r.get("authoredOn"))) is not None]
    return max(times, default=None)


def chart_signing_time(bundle: Mapping[str, Any]) -> datetime | None:
    """When a chart Bundle's draft orders are signed."""
    return newest_authored_on(r for r in _resources(bundle) if r.get("status") == "draft")


def request_signing_time(request: Mapping[str, Any]) -> datetime | None:
    """When a CDS Hooks request's draft orders are signed."""
    context = request.get("context")
    return newest_authored_on(
        _resources(context.get("draftOrders") if isinstance(context, dict) else None)
    )


def days_to(anchor: datetime | None, now: datetime) -> int:
    """Whole days that move the anchor's calendar date to `now`'s (0 without an anchor)."""
    return 0 if anchor is None else (now.date() - anchor.date()).days


_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$")
_NOT_DATES = frozenset(
    {"id", "fullUrl", "reference", "url", "system", "code", "version", "display", "text", "div"}
)


def shift_dates(value: Any, days: int, key: str | None = None) -> Any:
    """A copy with every FHIR date/dateTime moved by whole `days` (times and zones kept), so that
    ages, the weight's age, vaccine windows and cycle days all stay as the chart was written."""
    if isinstance(value, dict):
        return {k: shift_dates(v, days, k) for k, v in value.items()}
    if isinstance(value, list):
        return [shift_dates(v, days, key) for v in value]
    if days and isinstance(value, str) and key not in _NOT_DATES:
        match = _DATE.match(value)
        if match:
            try:
                moved = date.fromisoformat(match.group(1)) + timedelta(days=days)
            except (ValueError, OverflowError):
                return value
            return moved.isoformat() + (match.group(2) or "")
    return value


def patients_in(bundle: Mapping[str, Any]) -> list[Raw]:
    """The Patients of a chart Bundle, with the ids `chart_resources` gives them (to pick one)."""
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        raise BundleError("the file is not a FHIR Bundle")
    entries = [(url, copy.deepcopy(r)) for url, r in entries_in(dict(bundle))]
    _assign_ids(entries)
    return [r for _, r in entries if r.get("resourceType") == "Patient"]


def patient_label(patient: Raw) -> str:
    """`Patient/id (name, born date)`, as a message or a picker names a patient."""
    return _label(patient)
