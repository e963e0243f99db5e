"""FHIR resources offered as fixes on cards (corrected orders, missing orders)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from cds.fhir.parsing import normalise

UCUM = "http://unitsofmeasure.org"


def order_with_daily_doses(
    raw: Mapping[str, Any], doses: Sequence[Decimal | None]
) -> dict[str, Any]:
    """A copy of the MedicationRequest with the dose of each dosage (by sequence order) replaced
    where `doses` gives one, in mcg/day."""
    resource, _ = normalise(dict(raw))
    resource = copy.deepcopy(resource)
    dosages = sorted(
        resource.get("dosageInstruction") or [],
        key=lambda d: (d.get("sequence") is None, d.get("sequence") or 0),
    )
    for dosage, dose in zip(dosages, doses, strict=False):
        if dose is None:
            continue
        value = float(dose.quantize(Decimal("0.01")).normalize())
        quantity = {"value": value, "unit": "ug/d", "system": UCUM, "code": "ug/d"}
        dosage["doseAndRate"] = [{"doseQuantity": quantity}]
        dosage.pop("text", None)
    return resource
