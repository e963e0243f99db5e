"""Tolerant R4 parsing: repair the known real-client quirks, then validate one resource at a time.

We never validate Bundles (one bad field would reject the whole chart): callers pick the resources
a check needs from the raw JSON, and each is validated against the elements the checks read of it
(`cds.fhir.read_models`). A resource that still fails becomes a `DataIssue`.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from cds.errors import problem_text
from cds.fhir.read_models import MODELS, Element
from cds.patient import DataIssue
from cds.units import UCUM_SYSTEM


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


def needs_repair(raw: dict[str, Any]) -> bool:
    """Whether `normalise` would change anything (most resources need no repair)."""
    if isinstance(raw.get("category"), dict) or isinstance(raw.get("reasonCode"), dict):
        return True
    if raw.get("resourceType") != "MedicationRequest":
        return False
    dosages = raw.get("dosageInstruction")
    return (
        "intent" not in raw
        or isinstance(dosages, dict)
        or any(
            isinstance(d, dict) and ("doseQuantity" in d or "rateQuantity" in d)
            for d in (dosages if isinstance(dosages, list) else [])
        )
    )


def validate(raw: Any, source: str) -> tuple[Element | None, DataIssue | None]:
    """The read model of `raw` (`cds.fhir.read_models`), or the issue that made it unusable
    (never raises).

    `raw` is copied only when a quirk has to be repaired: validation reads its input and never
    changes it, and a deep copy of every resource cost more than a tenth of a call.
    """
    if not isinstance(raw, dict):
        return None, DataIssue(source, "?", "not a JSON object")
    model = MODELS.get(str(raw.get("resourceType")))
    if model is None:
        return None, DataIssue(source, resource_label(raw), "unexpected resource type")
    fixed = normalise(raw)[0] if needs_repair(raw) else raw
    try:
        return model.model_validate(fixed), None
    except ValidationError as error:
        first = problem_text(error.errors()[0], whole="the resource")
        return None, DataIssue(source, resource_label(raw), f"invalid FHIR R4 at {first}")
    except Exception as error:  # fhir.resources raises non-pydantic errors on odd primitives
        return None, DataIssue(
            source, resource_label(raw), f"invalid FHIR R4: {type(error).__name__}"
        )


def resources_in(value: Any) -> list[dict[str, Any]]:
    """The resources held by a prefetch value: a resource itself, or a Bundle's entries.

    Tolerates a Bundle without `type`, entries without `resource`, and nested searchset Bundles.
    """
    return [resource for _, resource in entries_in(value)]


def entries_in(value: Any) -> list[tuple[str | None, dict[str, Any]]]:
    """(fullUrl, resource) of every resource `resources_in` finds: `urn:uuid:` references in a
    transaction Bundle or a Synthea chart name their target by its entry's fullUrl."""
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") != "Bundle":
        return [(None, value)]
    found: list[tuple[str | None, dict[str, Any]]] = []
    for entry in value.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            if resource.get("resourceType") == "Bundle":
                found.extend(entries_in(resource))
            elif (entry.get("search") or {}).get("mode") != "outcome":
                full_url = entry.get("fullUrl")
                found.append((full_url if isinstance(full_url, str) else None, resource))
    return found


def warm_up() -> None:
    """Build fhir.resources' lazily imported and constructed classes before the first request.

    fhir.resources imports each element class (Identifier, Timing, Dosage, ...) the first time a
    resource uses it: a first realistic chart cost about 25 ms more than the next one. So every
    field the checks read, and the common ones EHRs send, is exercised here, and the facts built.
    """
    from cds.fhir import facts

    for model in MODELS.values():
        model.model_validate(_MINIMAL[model.__name__])
    for raw in _TYPICAL:
        built = MODELS[raw["resourceType"]].model_validate(raw)
        if raw["resourceType"] == "Observation":
            facts.observation_fact(built)
        elif raw["resourceType"] == "Immunization":
            facts.immunization_fact(built)
        elif raw["resourceType"] == "Condition":
            facts.condition_fact(built)
        elif raw["resourceType"] == "MedicationRequest":
            facts.medication_order(built, raw)
    facts.administration_fact(
        MODELS["MedicationAdministration"].model_validate(_MINIMAL["MedicationAdministration"])
    )


_CODED = {
    "coding": [{"system": "http://example.org/cs", "code": "x", "display": "x"}],
    "text": "x",
}
_QUANTITY = {"value": 1.5, "unit": "kg", "system": UCUM_SYSTEM, "code": "kg"}
_PATIENT_REF = {"reference": "Patient/x", "display": "x"}
_TYPICAL: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": "x",
        "meta": {"versionId": "1", "lastUpdated": "2020-01-01T00:00:00Z"},
        "identifier": [{"use": "usual", "type": _CODED, "system": "urn:oid:1.2", "value": "1"}],
        "active": True,
        "name": [{"use": "official", "family": "x", "given": ["x"], "prefix": ["x"]}],
        "telecom": [{"system": "phone", "value": "1", "use": "home"}],
        "gender": "female",
        "birthDate": "2000-01-01",
        "deceasedBoolean": False,
        "address": [{"line": ["x"], "city": "x", "postalCode": "1", "country": "x"}],
        "extension": [{"url": "http://example.org/e", "valueCodeableConcept": _CODED}],
    },
    {
        "resourceType": "Observation",
        "id": "x",
        "status": "final",
        "category": [_CODED],
        "code": _CODED,
        "subject": _PATIENT_REF,
        "encounter": {"reference": "Encounter/x"},
        "effectiveDateTime": "2020-01-01T10:00:00+00:00",
        "issued": "2020-01-01T10:05:00+00:00",
        "performer": [{"reference": "Practitioner/x"}],
        "valueQuantity": _QUANTITY,
        "interpretation": [_CODED],
        "note": [{"text": "x"}],
        "referenceRange": [{"low": _QUANTITY, "high": _QUANTITY, "text": "x"}],
    },
    {
        "resourceType": "Observation",
        "id": "y",
        "status": "final",
        "code": _CODED,
        "subject": _PATIENT_REF,
        "effectivePeriod": {"start": "2020-01-01", "end": "2020-01-02"},
        "valueCodeableConcept": _CODED,
    },
    {
        "resourceType": "Observation",
        "id": "z",
        "status": "amended",
        "code": _CODED,
        "effectiveInstant": "2020-01-01T10:00:00Z",
        "valueString": "x",
        "component": [{"code": _CODED, "valueQuantity": _QUANTITY}],
    },
    {
        "resourceType": "Immunization",
        "id": "x",
        "status": "completed",
        "vaccineCode": _CODED,
        "patient": _PATIENT_REF,
        "occurrenceDateTime": "2020-01-01",
        "primarySource": True,
        "lotNumber": "x",
        "site": _CODED,
        "route": _CODED,
        "doseQuantity": _QUANTITY,
    },
    {
        "resourceType": "Condition",
        "id": "x",
        "clinicalStatus": _CODED,
        "verificationStatus": _CODED,
        "category": [_CODED],
        "code": _CODED,
        "subject": _PATIENT_REF,
        "onsetDateTime": "2020-01-01",
        "recordedDate": "2020-01-01",
    },
    {
        "resourceType": "MedicationRequest",
        "id": "x",
        "contained": [{"resourceType": "Medication", "id": "m", "code": _CODED}],
        "extension": [{"url": "http://example.org/e", "valueInteger": 1}],
        "status": "active",
        "intent": "order",
        "category": [_CODED],
        "medicationReference": {"reference": "#m", "display": "x"},
        "subject": _PATIENT_REF,
        "encounter": {"reference": "Encounter/x"},
        "authoredOn": "2020-01-01T08:00:00+00:00",
        "requester": {"reference": "Practitioner/x", "display": "x"},
        "reasonCode": [_CODED],
        "note": [{"text": "x"}],
        "dosageInstruction": [
            {
                "sequence": 1,
                "text": "x",
                "timing": {
                    "event": ["2020-01-01T09:00:00+00:00"],
                    "repeat": {
                        "boundsPeriod": {"start": "2020-01-01", "end": "2020-01-08"},
                        "frequency": 1,
                        "period": 1,
                        "periodUnit": "d",
                    },
                },
                "route": _CODED,
                "doseAndRate": [{"type": _CODED, "doseQuantity": _QUANTITY}],
            },
            {
                "sequence": 2,
                "timing": {"repeat": {"boundsDuration": _QUANTITY | {"code": "d"}}},
                "doseAndRate": [{"rateQuantity": _QUANTITY}],
            },
        ],
        "dispenseRequest": {"expectedSupplyDuration": _QUANTITY | {"code": "h"}},
    },
    {
        "resourceType": "MedicationRequest",
        "id": "y",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": _CODED,
        "subject": _PATIENT_REF,
    },
]

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
    "MedicationAdministration": {
        "resourceType": "MedicationAdministration",
        "status": "completed",
        "medicationCodeableConcept": {"text": "x"},
        "subject": {"reference": "Patient/x"},
        "effectivePeriod": {"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"},
    },
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
    "Patient": {"resourceType": "Patient", "birthDate": "2000-01-01"},
}
