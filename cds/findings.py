"""Findings: what a check concluded, before it is worded as a card.

A finding names a card template (`code`), the card topic and indicator of the design contract, the
knowledge source it rests on, the values the template fills in, and any fix as FHIR actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Indicator = Literal["info", "warning", "critical"]

TOPICS = (
    "dose",
    "premedication",
    "pregnancy-status",
    "live-vaccine",
    "lab-monitoring",
    "hospitalization",
    "neonate-formulation",
    "cycle-limits",
    "data-quality",
)


@dataclass(frozen=True)
class ProposedAction:
    type: Literal["create", "update", "delete"]
    description: str
    resource: Mapping[str, Any] | None = None
    resource_id: str | None = None


@dataclass(frozen=True)
class Finding:
    code: str  # the card template in cards/
    topic: str
    indicator: Indicator
    source: str  # a source id of the knowledge files
    values: Mapping[str, Any] = field(default_factory=dict)
    order: str | None = None  # the order it is about, e.g. "MedicationRequest/x"
    actions: tuple[ProposedAction, ...] = ()

    def __post_init__(self) -> None:
        if self.topic not in TOPICS:
            raise ValueError(f"unknown card topic {self.topic!r}")
