"""FHIR resources offered as fixes on cards (corrected orders, missing orders)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cds.knowledge import Knowledge
from cds.units import UCUM_SYSTEM


def hcg_test_order(knowledge: Knowledge, patient_id: str, now: datetime) -> dict[str, Any]:
    """A draft ServiceRequest for the hCG test of the `hcg_order` code list."""
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "priority": "urgent",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "108252007",
                        "display": "Laboratory procedure",
                    }
                ]
            }
        ],
        "code": {
            "coding": [knowledge.coding("hcg_order")],
            "text": "hCG pregnancy test before blinatumomab",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": now.isoformat(),
        "reasonCode": [
            {"text": "Verify pregnancy status before blinatumomab (embryo-fetal toxicity)"}
        ],
    }


def hours_text(hours: int) -> str:
    return f"{hours} hour{'' if hours == 1 else 's'}"


def dexamethasone_order(
    knowledge: Knowledge,
    patient_id: str,
    mg: Decimal,
    hours_before: int,
    start: datetime,
    now: datetime,
    before: str = "blinatumomab",
) -> dict[str, Any]:
    """A draft dexamethasone IV order for the blinatumomab premedication, `hours_before` the
    infusion `start` (or the step-up: `before` names it in the order's text), coded with the
    first code of the `dexamethasone` code list."""
    when = start - timedelta(hours=hours_before)
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [knowledge.coding("dexamethasone")],
            "text": "dexamethasone",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": now.isoformat(),
        "dosageInstruction": [
            {
                "text": f"dexamethasone {mg} mg IV once, {hours_text(hours_before)} before "
                f"{before}",
                "timing": {"event": [when.isoformat()]},
                "route": {
                    "coding": [
                        {
                            "system": "http://snomed.info/sct",
                            "code": "47625008",
                            "display": "Intravenous route",
                        }
                    ]
                },
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": float(mg),
                            "unit": "mg",
                            "system": UCUM_SYSTEM,
                            "code": "mg",
                        }
                    }
                ],
            }
        ],
    }
