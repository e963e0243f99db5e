"""FHIR resources offered as fixes on cards (corrected orders, missing orders)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from cds.knowledge import Knowledge
from cds.units import UCUM_SYSTEM


def hcg_test_order(knowledge: Knowledge, patient_id: str, now: datetime) -> dict[str, Any]:
    """A draft ServiceRequest for the hCG test of the `hcg_order` code list."""
    code = knowledge.codes.value_sets["hcg_order"].codes[0]
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
            "coding": [
                {
                    "system": knowledge.codes.systems[code.system],
                    "code": code.code,
                    "display": code.display,
                }
            ],
            "text": "hCG pregnancy test before blinatumomab",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": now.isoformat(),
        "reasonCode": [
            {"text": "Verify pregnancy status before blinatumomab (embryo-fetal toxicity)"}
        ],
    }


def dexamethasone_order(
    patient_id: str, mg: Decimal, when: datetime, now: datetime
) -> dict[str, Any]:
    """A draft dexamethasone IV order for the blinatumomab premedication."""
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "3264",
                    "display": "dexamethasone",
                }
            ],
            "text": "dexamethasone",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": now.isoformat(),
        "dosageInstruction": [
            {
                "text": f"dexamethasone {mg} mg IV once, 1 hour before blinatumomab",
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
