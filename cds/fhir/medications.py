"""The medication of a draft order, wherever it is: coded on the order, contained, in the
draft-orders Bundle or the prefetch, or an external `Medication` read from `fhirServer`.

An order that names its medication only by reference (no display) would otherwise look like
"some other drug" and get no cards at all. External Medications are read under the same rules as
every other fetch (the allow-listed `fhirServer`, its bearer token, the call's deadline); when
the read fails, the order is reported as unidentified rather than passed in silence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cds import units
from cds.fhir import facts, references
from cds.fhir.client import FhirClient, FhirFetchError
from cds.fhir.parsing import entries_in, validate
from cds.patient import MedicationOrder


@dataclass(frozen=True)
class Unresolved:
    """A draft order whose medication could not be read, and why."""

    order: str
    reference: str
    reason: str


def _index(draft_bundle: Any, prefetch: Mapping[str, Any] | None) -> references.ReferenceIndex:
    index = references.ReferenceIndex(entries_in(draft_bundle))
    for value in (prefetch or {}).values():
        for url, resource in entries_in(value):
            if resource.get("resourceType") == "Medication":
                index.add(resource, url)
    return index


def _unresolved_reference(order: MedicationOrder) -> str | None:
    """The reference of an order that knows nothing of its drug but a reference (no code, no
    display, nothing contained under it), or whose pump rate in mL/h needs the bag's strength
    that only the referenced Medication states (a display names the drug, not the bag)."""
    reference = references.reference_of(order.raw.get("medicationReference"))
    if reference is None or reference.startswith("#"):
        return None
    named = order.codes or order.text
    pumped = any(
        units.is_volume_rate(unit)
        for d in order.dosages
        if not d.bag
        for unit in (d.unit, *(other for _, other, _ in d.other_amounts))
    )
    return reference if not named or pumped else None


def resolve_draft_medications(
    orders: Sequence[MedicationOrder],
    draft_bundle: Any,
    prefetch: Mapping[str, Any] | None,
    client_factory: Callable[[], FhirClient | None],
    deadline_seconds: float,
) -> tuple[list[MedicationOrder], list[Unresolved]]:
    """`orders` with every referenced Medication found and read; those that stay unknown."""
    pending = {o.resource: r for o in orders if (r := _unresolved_reference(o)) is not None}
    if not pending:
        return list(orders), []
    index = _index(draft_bundle, prefetch)
    medications: dict[str, Any] = {}
    unresolved: list[Unresolved] = []
    client: FhirClient | None = None
    deadline = time.monotonic() + deadline_seconds
    try:
        for order_id, reference in pending.items():
            if reference in medications:
                continue
            target = index.resolve(reference)
            if target is None:
                if client is None:
                    client = client_factory()
                target, reason = _fetch(client, reference, deadline)
                if target is None:
                    unresolved.append(Unresolved(order_id, reference, reason))
                    continue
            model, issue = validate(target, "draftOrders")
            if issue is not None or target.get("resourceType") != "Medication":
                why = issue.problem if issue else f"it is a {target.get('resourceType')}"
                unresolved.append(Unresolved(order_id, reference, why))
                continue
            medications[reference] = model
    finally:
        if client is not None:
            client.close()
    resolved = []
    for order in orders:
        pending_reference = pending.get(order.resource)
        model = validate(order.raw, "draftOrders")[0] if pending_reference in medications else None
        resolved.append(
            facts.medication_order(model, order.raw, medications) if model is not None else order
        )
    return resolved, unresolved


def _fetch(client: FhirClient | None, reference: str, deadline: float) -> tuple[Any, str]:
    parsed = references.parse(reference)
    if parsed is None or parsed[0] != "Medication":
        return None, "the reference names nothing in the request"
    if client is None:
        return None, "it is not in the request and there is no usable fhirServer to read it from"
    if "://" in reference and not reference.startswith(client.base_url + "/"):
        return None, "it lives on another server than fhirServer (not fetched)"
    try:
        return client.get(f"Medication/{quote(parsed[1], safe='')}", deadline), ""
    except FhirFetchError as error:
        return None, f"reading it from fhirServer failed ({error})"
    except Exception as error:  # a fetch must never break the call
        return None, f"reading it from fhirServer failed ({type(error).__name__})"
