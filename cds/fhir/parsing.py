"""Tolerant R4 parsing: repair the known real-client quirks, then validate one resource at a time.

`fhir.resources` has no R4 package; R4B reads R4 for the resources we use. It rejects a whole
Bundle for one bad field, so we never validate Bundles: callers pick the resources a check needs
from the raw JSON and validate only those. A resource that still fails becomes a `DataIssue`.
"""

from __future__ import annotations

import copy
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import BaseModel, ValidationError

from cds.patient import DataIssue

MODELS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        Condition,
        Immunization,
        Medication,
        MedicationRequest,
        Observation,
        OperationOutcome,
        Patient,
        ServiceRequest,
    )
}


def resource_label(raw: dict[str, Any]) -> str:
    return f"{raw.get('resourceType', 'resource')}/{raw.get('id', '?')}"


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


def normalise(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Repair the quirks real clients send (cds-hooks-notes "Quirks"); say what was repaired."""
    fixed = copy.deepcopy(raw)
    repairs: list[str] = []
    for field in ("category", "reasonCode"):
        if isinstance(fixed.get(field), dict):
            fixed[field] = _as_list(fixed[field])
            repairs.append(f"{field} sent as an object")
    if fixed.get("resourceType") == "MedicationRequest":
        if "intent" not in fixed:
            fixed["intent"] = "proposal"
            repairs.append("intent missing")
        dosages = fixed.get("dosageInstruction")
        if isinstance(dosages, dict):
            fixed["dosageInstruction"] = dosages = [dosages]
        for dosage in dosages if isinstance(dosages, list) else []:
            if not isinstance(dosage, dict):
                continue
            moved = {k: dosage.pop(k) for k in ("doseQuantity", "rateQuantity") if k in dosage}
            if moved:
                dosage.setdefault("doseAndRate", []).append(moved)
                repairs.append("doseQuantity directly on the dosage (STU3 style)")
    return fixed, repairs


def validate(raw: Any, source: str) -> tuple[BaseModel | None, DataIssue | None]:
    """An R4B model of `raw`, or the issue that made it unusable (never raises)."""
    if not isinstance(raw, dict):
        return None, DataIssue(source, "?", "not a JSON object")
    model = MODELS.get(str(raw.get("resourceType")))
    if model is None:
        return None, DataIssue(source, resource_label(raw), "unexpected resource type")
    fixed, _ = normalise(raw)
    try:
        return model.model_validate(fixed), None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return None, DataIssue(
            source, resource_label(raw), f"invalid FHIR R4 at {where}: {first['msg']}"
        )
    except Exception as error:  # fhir.resources raises non-pydantic errors on odd primitives
        return None, DataIssue(
            source, resource_label(raw), f"invalid FHIR R4: {type(error).__name__}"
        )


def resources_in(value: Any) -> list[dict[str, Any]]:
    """The resources held by a prefetch value: a resource itself, or a Bundle's entries.

    Tolerates a Bundle without `type`, entries without `resource`, and nested searchset Bundles.
    """
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") != "Bundle":
        return [value]
    found: list[dict[str, Any]] = []
    for entry in value.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            if resource.get("resourceType") == "Bundle":
                found.extend(resources_in(resource))
            elif (entry.get("search") or {}).get("mode") != "outcome":
                found.append(resource)
    return found


def warm_up() -> None:
    """Import and build the lazily constructed validators before the first request."""
    for model in MODELS.values():
        model.model_validate(_MINIMAL[model.__name__])


_MINIMAL: dict[str, dict[str, Any]] = {
    "Condition": {"resourceType": "Condition", "subject": {"reference": "Patient/x"}},
    "Immunization": {
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": {"text": "x"},
        "patient": {"reference": "Patient/x"},
        "occurrenceDateTime": "2020-01-01",
    },
    "Medication": {"resourceType": "Medication"},
    "MedicationRequest": {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": "x"},
        "subject": {"reference": "Patient/x"},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"boundsPeriod": {"start": "2020-01-01"}}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "code": "ug/d"}}],
            }
        ],
    },
    "Observation": {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueQuantity": {"value": 1},
        "effectiveDateTime": "2020-01-01",
        "referenceRange": [{"high": {"value": 1}}],
    },
    "OperationOutcome": {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing"}],
    },
    "Patient": {"resourceType": "Patient", "birthDate": "2000-01-01"},
    "ServiceRequest": {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/x"},
    },
}
