"""A chart as one FHIR Bundle (the sample charts, a pasted chart): as the order-sign request an EHR
would send for its draft orders, when those orders are signed, and the chart moved to another day.

Used by `python -m cds check` and the sandbox page, so both read a chart the same way.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from cds.errors import InvalidRequest
from cds.fhir.facts import as_datetime

CHART_KEYS = {
    "Patient": "patient",
    "Observation": "observations",
    "Immunization": "immunizations",
    "MedicationRequest": "medications",
    "Medication": "medications",
    "Condition": "conditions",
    "Encounter": "medications",  # as `_include=MedicationRequest:encounter` brings it
}


def request_from_bundle(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """A FHIR Bundle holding a chart plus draft orders -> an order-sign request with full prefetch.

    MedicationRequests with status `draft` (and ServiceRequests) are the draft orders; the rest of
    the chart fills the prefetch keys (keys with nothing in the chart are sent as null: no data).
    Raises InvalidRequest when the Bundle holds no Patient.
    """
    resources = [
        e["resource"] for e in bundle.get("entry", []) if isinstance(e, dict) and "resource" in e
    ]
    patient = next((r for r in resources if r.get("resourceType") == "Patient"), None)
    if patient is None:
        raise InvalidRequest("the Bundle holds no Patient")
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
    for key in ("observations", "immunizations", "medications", "conditions"):
        entries = chart.get(key)
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
    for entry in (bundle or {}).get("entry") or []:
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
