"""Tolerant R4 parsing: repair the known real-client quirks, then validate one resource at a time.

We never validate Bundles (one bad field would reject the whole chart): callers pick the resources
a check needs from the raw JSON, and each is validated against the elements the checks read of it
(`cds.fhir.read_models`). A resource that still fails becomes a `DataIssue`.
"""

from __future__ import annotations

import copy
import re
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
        dated = _days_of_offsetless_times(fixed, error)
        if dated is not None:
            return validate(dated, source)
        first = problem_text(error.errors()[0], whole="the resource")
        return None, DataIssue(source, resource_label(raw), f"invalid FHIR R4 at {first}")
    except Exception as error:  # fhir_core's primitive types may raise others on odd values
        return None, DataIssue(
            source, resource_label(raw), f"invalid FHIR R4: {type(error).__name__}"
        )


# A dateTime with a time and no UTC offset: FHIR requires the offset, some exports drop it.
_OFFSETLESS_TIME = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d+)?)?"
)


def _days_of_offsetless_times(raw: dict[str, Any], error: ValidationError) -> dict[str, Any] | None:
    """`raw` with each dateTime that failed only for a missing offset read as its day (a whole
    day, as a FHIR date-only value is): an MMR given "2026-02-25T10:00:00" is still a live vaccine
    five days ago, where refusing the resource would hide it. None when any other error is there
    (only the validation's failure pays for this).

    An Observation's instants (`issued`, `effectiveInstant`) cannot hold a day: one without its
    offset is moved to `effectiveDateTime` as its day when nothing else dates the Observation,
    else dropped. A bad `issued` beside an effective[x] is dropped whatever it holds: the checks
    read `issued` only when nothing else dates the Observation (`facts.observation_fact`), and a
    weight refused for it had hidden a child's overdose behind "no usable weight"."""
    problems = error.errors()
    if not all(_offsetless(p) or _unread_issued(raw, p) for p in problems):
        return None
    fixed = copy.deepcopy(raw)
    try:
        for problem in problems:
            *parents, last = problem["loc"]
            if not parents and last in _OBSERVATION_INSTANTS:
                day = fixed.pop(last)
                if _offsetless(problem) and not any(k in fixed for k in _EFFECTIVE):
                    fixed["effectiveDateTime"] = day[:10]
                continue
            node: Any = fixed
            for part in parents:
                node = node[part]
            node[last] = problem["input"][:10]
    except (KeyError, IndexError, TypeError):  # a location that is not a path in the JSON
        return None
    return fixed


_OBSERVATION_INSTANTS = ("effectiveInstant", "issued")
_EFFECTIVE = ("effectiveDateTime", "effectivePeriod", "effectiveInstant")


def _offsetless(problem: Any) -> bool:
    """A dateTime, or an Observation's instant, that failed only for want of its UTC offset."""
    message, value = problem["msg"], problem["input"]
    if not (isinstance(value, str) and _OFFSETLESS_TIME.fullmatch(value)):
        return False
    if message.startswith("Value error, Instant value"):
        return tuple(problem["loc"]) in (("issued",), ("effectiveInstant",))
    return bool(message.startswith("Value error, DateTime value"))


def _unread_issued(raw: dict[str, Any], problem: Any) -> bool:
    """An invalid `issued` on an Observation dated by its effective[x]: never read."""
    return (
        raw.get("resourceType") == "Observation"
        and tuple(problem["loc"]) == ("issued",)
        and any(isinstance(raw.get(k), (str, dict)) for k in _EFFECTIVE[:2])
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
