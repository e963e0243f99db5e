"""Build the patient snapshot and the draft orders from raw prefetch/draft JSON.

Selection comes first, on the raw JSON (by resource type, subject and code, then what a check can
use of a long history: `cds.fhir.selection`); only the selected resources are validated with
fhir.resources, one at a time, and observations only when a check reads them
(`cds.fhir.observations`). Anything unusable among them becomes a DataIssue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from cds.fhir import facts, selection
from cds.fhir.observations import ChartObservations
from cds.fhir.parsing import resource_label, validate
from cds.fhir.prefetch import SourceData
from cds.knowledge import Knowledge
from cds.patient import Code, DataIssue, MedicationOrder, PatientSnapshot


def _subject_reference(raw: Mapping[str, Any]) -> str | None:
    for field in ("subject", "patient"):
        value = raw.get(field)
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            return str(value["reference"])
    return None


def _names(reference: str, patient_id: str) -> bool:
    """An EHR may answer an unfiltered search: never use another patient's data."""
    return reference.rpartition("/")[2] == patient_id


# The code lists that name observations (the others are answers, drugs, vaccines, conditions).
OBSERVATION_VALUE_SETS = (
    "body_weight",
    "body_height",
    "body_surface_area",
    "pregnancy_status",
    "hcg_qualitative",
    "hcg_quantitative",
    "breastfeeding_status",
    "alt",
    "ast",
    "bilirubin_total",
    "ggt",
    "neutrophils_absolute",
    "birth_weight",
    "gestational_age_at_birth",
)


def observation_codes(knowledge: Knowledge) -> frozenset[Code]:
    """Every observation code some check reads (the prefetch template asks for exactly these)."""
    codes: set[Code] = set()
    for name in OBSERVATION_VALUE_SETS:
        codes |= knowledge.codes_of(name)
    return frozenset(codes)


def _pick(
    source: str, data: SourceData | None, resource_type: str, patient_id: str
) -> list[dict[str, Any]]:
    if data is None or not data.available:
        return []
    return [
        raw
        for raw in data.resources
        if raw.get("resourceType") == resource_type
        and ((reference := _subject_reference(raw)) is None or _names(reference, patient_id))
    ]


def _validated(raws: list[dict[str, Any]], source: str, issues: list[DataIssue]) -> list[Any]:
    models = []
    for raw in raws:
        model, issue = validate(raw, source)
        if issue is not None:
            issues.append(issue)
        else:
            models.append(model)
    return models


def _medications_by_reference(resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    found = {}
    for raw in resources:
        if raw.get("resourceType") == "Medication" and raw.get("id"):
            model, issue = validate(raw, "medications")
            if issue is None:
                found[f"Medication/{raw['id']}"] = model
    return found


def medication_orders(
    raws: Iterable[dict[str, Any]],
    source: str,
    issues: list[DataIssue],
    medications: Mapping[str, Any],
) -> list[MedicationOrder]:
    orders = []
    for raw in raws:
        model, issue = validate(raw, source)
        if issue is not None:
            issues.append(issue)
            continue
        orders.append(facts.medication_order(model, raw, medications))
    return orders


def build_snapshot(
    patient_id: str, sources: Mapping[str, SourceData], knowledge: Knowledge
) -> PatientSnapshot:
    issues: list[DataIssue] = []
    patient_raw = _pick("patient", sources.get("patient"), "Patient", patient_id)
    birth_date: date | None = None
    gender: str | None = None
    patients = _validated(
        [r for r in patient_raw if r.get("id") in (None, patient_id)] or patient_raw[:1],
        "patient",
        issues,
    )
    if patients:
        birth_date = patients[0].birthDate if isinstance(patients[0].birthDate, date) else None
        gender = patients[0].gender

    observations = ChartObservations(
        _pick("observations", sources.get("observations"), "Observation", patient_id),
        observation_codes(knowledge),
        "observations",
    )
    immunizations = _validated(
        selection.select_coded(
            _pick("immunizations", sources.get("immunizations"), "Immunization", patient_id),
            "vaccineCode",
            knowledge,
        ),
        "immunizations",
        issues,
    )
    conditions = _validated(
        selection.select_coded(
            _pick("conditions", sources.get("conditions"), "Condition", patient_id),
            "code",
            knowledge,
        ),
        "conditions",
        issues,
    )
    medications_data = sources.get("medications")
    medication_resources = (
        medications_data.resources if medications_data and medications_data.available else []
    )
    order_raws = selection.select_orders(
        _pick("medications", medications_data, "MedicationRequest", patient_id), knowledge
    )
    referenced = selection.referenced_medications(order_raws)
    orders = medication_orders(
        order_raws,
        "medications",
        issues,
        _medications_by_reference(
            r for r in medication_resources if f"Medication/{r.get('id')}" in referenced
        ),
    )
    unavailable = {key: data.problem for key, data in sources.items() if data.problem is not None}
    if (
        "patient" not in unavailable
        and not patients
        and not any(i.source == "patient" for i in issues)
    ):
        unavailable["patient"] = "the EHR sent no Patient resource for this patient"
    return PatientSnapshot(
        patient_id=patient_id,
        birth_date=birth_date,
        gender=gender,
        observation_source=observations,
        immunizations=tuple(facts.immunization_fact(m) for m in immunizations),
        medication_orders=tuple(orders),
        conditions=tuple(facts.condition_fact(m) for m in conditions),
        encounter_classes=encounter_classes(sources.values()),
        unavailable=unavailable,
        issues=tuple(issues),
    )


def encounter_classes(sources: Iterable[SourceData]) -> dict[str, Code]:
    """The class of every Encounter an EHR sent along (e.g. `_include=MedicationRequest:encounter`
    in `medications`): the hospitalisation check reads whether the order's encounter is inpatient.
    Only `class` is read, so the Encounter is not validated as a whole."""
    found: dict[str, Code] = {}
    for data in sources:
        for raw in data.resources if data.available else []:
            coding = raw.get("class") if raw.get("resourceType") == "Encounter" else None
            if isinstance(coding, dict) and isinstance(raw.get("id"), str):
                system, code = coding.get("system"), coding.get("code")
                if isinstance(system, str) and isinstance(code, str):
                    found[f"Encounter/{raw['id']}"] = (system, code)
    return found


def draft_orders(resources: list[dict[str, Any]], issues: list[DataIssue]) -> list[MedicationOrder]:
    """The MedicationRequests among the draft orders (other request types are context only)."""
    medications = _medications_by_reference(resources)
    requests = [r for r in resources if r.get("resourceType") == "MedicationRequest"]
    for index, raw in enumerate(requests):
        if not raw.get("id"):
            raw.setdefault("id", f"draft-{index + 1}")
    return medication_orders(requests, "draftOrders", issues, medications)


__all__ = ["build_snapshot", "draft_orders", "observation_codes", "resource_label"]
