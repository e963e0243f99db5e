"""What marks a blinatumomab order as a restart after a toxicity (restarts.yaml): a coded reason,
or a note that says "restart"/"resume" together with the toxicity, however it is written."""

from __future__ import annotations

from typing import Any

import pytest

from cds.fhir.snapshot import draft_orders
from cds.knowledge import load_knowledge
from cds.restarts import mentions_restart, restart_of
from tests.fixtures_util import Step, blinatumomab_order

KNOWLEDGE = load_knowledge()
SYSTEM = "https://cds.example.org/fhir/CodeSystem/blinatumomab-restart-reason"


def _reason(note: str | None = None, code: str | None = None) -> str | None:
    raw: dict[str, Any] = blinatumomab_order("pt-1", [Step(9, days=7)], cycle=2)
    if note is not None:
        raw["note"] = [{"text": note}]
    if code is not None:
        raw.setdefault("reasonCode", []).append({"coding": [{"system": SYSTEM, "code": code}]})
    [order] = draft_orders([raw], [])
    found = restart_of(order, KNOWLEDGE)
    return None if found is None else found.code


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("Restart after grade 3 CRS, resolved 2026-02-27", "crs-grade-3"),
        ("Restart after Gr. III cytokine release syndrome", "crs-grade-3"),
        ("Resume post CRS (grade 3)", "crs-grade-3"),
        ("Restart after CRS", "crs"),
        ("Re-initiate after ICANS G3", "neurotoxicity-grade-3"),
        ("Restart after neurologic toxicity grade-4", "neurotoxicity-grade-4"),
        ("Restart after grade 3 encephalopathy", "neurotoxicity-grade-3"),
        ("Resume after toxic encephalopathy G4", "neurotoxicity-grade-4"),
        ("Resume after CRS grade 4", "crs-grade-4"),
        ("Resume after 2 seizures", "seizure-more-than-one"),
        ("Restart after a grade 3 reaction (rash)", "other-grade-3"),
        ("Monitor closely for CRS and neurotoxicity", None),  # no restart word: not a restart
        ("Restart after line occlusion", None),  # an interruption, not a toxicity
        (None, None),
    ],
)
def test_note_wording(note: str | None, expected: str | None) -> None:
    assert _reason(note) == expected


def test_a_coded_reason_wins_over_the_note_unless_the_note_says_discontinue() -> None:
    assert _reason("Restart after CRS", code="neurotoxicity-grade-3") == "neurotoxicity-grade-3"
    assert _reason("Restart after CRS grade 4", code="crs-grade-3") == "crs-grade-4"


@pytest.mark.parametrize(
    ("note", "restart"),
    [
        ("Resume after interruption (line occlusion 6 h)", True),
        ("Resumption after pump failure", True),
        ("Re-start after 5-hour interruption", True),
        ("Rechallenge after CRS grade 3", True),
        ("Monitor closely for CRS", False),
        ("Cycle 2 as planned", False),
    ],
)
def test_one_list_of_restart_words_for_every_check(note: str, restart: bool) -> None:
    """restarts.yaml `restart_words` is what marks a restart for the premedication check (after an
    interruption) and for the restart-after-toxicity rules alike."""
    raw: dict[str, Any] = blinatumomab_order("pt-1", [Step(28, days=28)], cycle=2)
    raw["note"] = [{"text": note}]
    [order] = draft_orders([raw], [])
    assert mentions_restart(order, KNOWLEDGE.restarts) is restart
