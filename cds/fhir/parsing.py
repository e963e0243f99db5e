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
    except Exception as error:  # fhir_core's primitive types may raise others on odd values
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
    entries = value.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            if resource.get("resourceType") == "Bundle":
                found.extend(entries_in(resource))
            elif (entry.get("search") or {}).get("mode") != "outcome":
                full_url = entry.get("fullUrl")
                found.append((full_url if isinstance(full_url, str) else None, resource))
    return found
