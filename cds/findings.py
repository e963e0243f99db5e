"""Findings: what a check concluded, before it is worded as a card.

The contract between checks and cards: each check declares the finding codes it emits (`declare`),
with the indicator of each (unless it depends on the case) and the names of the values each
carries. A check returns `emit(...)`s; the runner `stamp`s each into a `Finding` with the check's
topic and the order under review, refusing a code or value the declaration does not name. The
card renderer checks at start-up that every declared code has a template in `cards/` whose
placeholders are all declared values (`CardRenderer.verify`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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

# The topics whose cards are about one blinatumomab order (its dose, cycle, premedication, stay,
# preparation), not about the patient: such a card names its order (an extension, and in words
# when the call holds more than one blinatumomab order).
ORDER_TOPICS = frozenset(
    {"dose", "premedication", "cycle-limits", "hospitalization", "neonate-formulation"}
)


class ContractError(Exception):
    """A finding and its declaration (or its card template) disagree: a bug, never a patient's
    data."""


@dataclass(frozen=True)
class ProposedAction:
    type: Literal["create", "update", "delete"]
    description: str
    resource: Mapping[str, Any] | None = None
    resource_id: str | None = None


@dataclass(frozen=True)
class FindingSpec:
    """What one finding code carries: its indicator (None: the check chooses it case by case,
    e.g. from a threshold in the knowledge files) and the names of its template values."""

    indicator: Indicator | None
    values: frozenset[str]


Declarations = Mapping[str, FindingSpec]


def declare(indicator: Indicator | None, *values: str) -> FindingSpec:
    """`declare("warning", "what", "reason")`: one entry of a check's `findings` table."""
    return FindingSpec(indicator, frozenset(values))


@dataclass(frozen=True)
class Emission:
    """What a check says, before the runner stamps the topic and the order on it."""

    code: str  # the card template in cards/
    source: str  # a source id of the knowledge files
    values: Mapping[str, Any]
    indicator: Indicator | None = None  # only for codes declared without one
    actions: tuple[ProposedAction, ...] = ()


def emit(
    code: str,
    source: str,
    /,
    *,
    indicator: Indicator | None = None,
    actions: Sequence[ProposedAction] = (),
    **values: Any,
) -> Emission:
    """`emit("hospitalization-recommended", stay.source, cycle=2, days=2, ...)`."""
    return Emission(code, source, values, indicator, tuple(actions))


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


def stamp(emission: Emission, declared: Declarations, topic: str, order: str | None) -> Finding:
    """The finding of one emission, checked against its declaration."""
    spec = declared.get(emission.code)
    if spec is None:
        raise ContractError(f"finding {emission.code!r} is not declared for topic {topic!r}")
    given = set(emission.values)
    if given != spec.values:
        raise ContractError(
            f"finding {emission.code!r}: values missing {sorted(spec.values - given)}, "
            f"undeclared {sorted(given - spec.values)}"
        )
    if spec.indicator is not None and emission.indicator not in (None, spec.indicator):
        raise ContractError(f"finding {emission.code!r} is declared {spec.indicator!r}")
    indicator = spec.indicator or emission.indicator
    if indicator is None:
        raise ContractError(f"finding {emission.code!r} needs an indicator when emitted")
    return Finding(
        emission.code,
        topic,
        indicator,
        emission.source,
        dict(emission.values),
        order,
        emission.actions,
    )


def merge(*tables: Declarations) -> dict[str, FindingSpec]:
    """One table of several; a code declared twice must be declared alike."""
    merged: dict[str, FindingSpec] = {}
    for table in tables:
        for code, spec in table.items():
            if merged.setdefault(code, spec) != spec:
                raise ContractError(f"finding {code!r} is declared twice, differently")
    return merged
