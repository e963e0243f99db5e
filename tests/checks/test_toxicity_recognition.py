"""Which Conditions are a blinatumomab toxicity, and of what grade -> the dose card (label §2.4;
toxicity.yaml).

Golden matrix through the whole service (red-team 5, t19-t21): an adult R/R patient (78 kg) whose
cycle 1 ran 9 mcg/day for 7 days then 28 mcg/day from 2026-01-05; a toxicity on day 15 (at 28
mcg/day), resolved two days later; a cycle 2 order signed on 2026-03-02, straight at 28 mcg/day or
restarted at 9 for 7 days then 28.

- Toxic encephalopathy (ICD-10-CM G92.8, G92.9, SNOMED CT 17762009, or named "toxic
  encephalopathy", or "encephalopathy" with a grade) is a neurological toxicity (label §5.2 names
  encephalopathy among them): grade 4 discontinues, grade 3 restarts at 9 mcg/day.
- Another encephalopathy (hepatic K76.82, Wernicke E51.2, hypertensive I67.4, metabolic G93.41, or
  named so) is not: hepatic encephalopathy has West Haven grades of its own.
- A code without a grade (D89.839, G92.00, G92.9) takes the grade its words state ("CRS grade 4 -
  ICU transfer"); a grade in the code and another in the words: the higher.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.cards import FINDING_CODE_EXTENSION
from cds.knowledge import load_knowledge
from cds.patient import ConditionFact
from cds.toxicity import toxicity_events
from tests.checks.test_seizures import dose_cards
from tests.fixtures_util import (
    SNOMED,
    Step,
    blinatumomab_order,
    bundle,
    condition,
    height,
    patient,
    weight,
)

P = "pt-tox-words"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOCAL = "https://ehr.example.org/problem-list"
DAY_15 = "2026-01-19T16:00:00+00:00"  # cycle 1 day 15: at 28 mcg/day
RESOLVED = "2026-01-21T09:00:00+00:00"
DISCONTINUE = ("critical", "dose-toxicity-discontinue")
OVERDOSE = ("critical", "dose-overdose")
GRADE_UNKNOWN = ("warning", "dose-toxicity-grade-unknown")
STRAIGHT_28 = (Step(28, days=28),)
RESTART_9_THEN_28 = (Step(9, days=7), Step(28, days=21))


def tox(
    code: str, display: str, text: str | None = None, *, system: str = ICD10CM, onset: str = DAY_15
) -> dict[str, Any]:
    """A resolved problem-list Condition: its code, the code's title, and the words the clinician
    wrote as code.text (None: the title only)."""
    resource = condition(
        P, code, display, cid="tox-1", clinical_status="resolved", system=system, onset=onset
    )
    resource["abatementDateTime"] = RESOLVED
    resource["code"]["text"] = text or display
    return resource


def named(text: str) -> dict[str, Any]:
    """A problem-list entry in words under the EHR's own problem code (no ICD-10-CM, no SNOMED)."""
    return tox("P-1", text, system=LOCAL)


def chart(toxicity: dict[str, Any], steps: tuple[Step, ...] = STRAIGHT_28) -> dict[str, Any]:
    cycle_1 = blinatumomab_order(
        P,
        [Step(9, days=7), Step(28, days=21)],
        oid="blinatumomab-c1",
        cycle=1,
        start="2026-01-05T10:00:00+00:00",
        status="completed",
        authored="2026-01-05T08:00:00+00:00",
    )
    return bundle(
        [
            patient(P),
            weight(P, 78),
            height(P, 176),
            cycle_1,
            toxicity,
            blinatumomab_order(P, list(steps), cycle=2),
        ]
    )


SCENARIOS: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    # --- toxic encephalopathy is a neurological toxicity (t19, t20) ------------------------------
    "G92.9 'Encephalopathy grade 4' on cycle 1 day 15, cycle 2 ordered -> critical discontinue": (
        chart(tox("G92.9", "Unspecified toxic encephalopathy", "Encephalopathy grade 4")),
        [DISCONTINUE],
    ),
    "G92.8 'Toxic encephalopathy, CTCAE grade 3', cycle 2 straight at 28 -> critical overdose "
    "(restart at 9 mcg/day for 7 days)": (
        chart(tox("G92.8", "Other toxic encephalopathy", "Toxic encephalopathy, CTCAE grade 3")),
        [OVERDOSE],
    ),
    "G92.8 'Toxic encephalopathy, CTCAE grade 3', restart 9 for 7 days then 28 -> no card": (
        chart(
            tox("G92.8", "Other toxic encephalopathy", "Toxic encephalopathy, CTCAE grade 3"),
            RESTART_9_THEN_28,
        ),
        [],
    ),
    "G92.9 with no grade written -> warning to confirm the grade": (
        chart(tox("G92.9", "Unspecified toxic encephalopathy")),
        [GRADE_UNKNOWN],
    ),
    "SNOMED CT 17762009 'Toxic encephalopathy, grade IV' -> critical discontinue": (
        chart(
            tox(
                "17762009",
                "Toxic encephalopathy",
                "Toxic encephalopathy, grade IV",
                system=SNOMED,
            )
        ),
        [DISCONTINUE],
    ),
    "in words only: 'Encephalopathy, CTCAE grade 4 (blinatumomab)' -> critical discontinue": (
        chart(named("Encephalopathy, CTCAE grade 4 (blinatumomab)")),
        [DISCONTINUE],
    ),
    "G92.9 grade 4 before any blinatumomab (2025-12-01) -> no card (not blinatumomab's)": (
        chart(
            tox(
                "G92.9",
                "Unspecified toxic encephalopathy",
                "Encephalopathy grade 4",
                onset="2025-12-01T10:00:00+00:00",
            )
        ),
        [],
    ),
    # --- other encephalopathies are other conditions (no false alarm) ----------------------------
    "in words only: 'Encephalopathy' with no grade (septic? metabolic?) -> no card": (
        chart(named("Encephalopathy")),
        [],
    ),
    "K76.82 'Hepatic encephalopathy, grade 3' (West Haven) -> no card": (
        chart(tox("K76.82", "Hepatic encephalopathy", "Hepatic encephalopathy, grade 3")),
        [],
    ),
    "K76.82 with the words 'Encephalopathy grade 3, lactulose' -> no card (the code says "
    "hepatic)": (
        chart(tox("K76.82", "Hepatic encephalopathy", "Encephalopathy grade 3, lactulose")),
        [],
    ),
    "E51.2 'Wernicke's encephalopathy, grade 3' -> no card": (
        chart(tox("E51.2", "Wernicke's encephalopathy", "Wernicke's encephalopathy, grade 3")),
        [],
    ),
    "I67.4 'Hypertensive encephalopathy grade 4' -> no card": (
        chart(tox("I67.4", "Hypertensive encephalopathy", "Hypertensive encephalopathy grade 4")),
        [],
    ),
    "G93.41 'Metabolic encephalopathy grade 3 (hyponatremia)' -> no card": (
        chart(
            tox(
                "G93.41",
                "Metabolic encephalopathy",
                "Metabolic encephalopathy grade 3 (hyponatremia)",
            )
        ),
        [],
    ),
    "in words only: 'Hepatic encephalopathy grade 4' -> no card": (
        chart(named("Hepatic encephalopathy grade 4")),
        [],
    ),
    # --- the grade the words state where the code has none (t21) ---------------------------------
    "D89.839 (grade unspecified) written 'CRS grade 4 - ICU transfer' -> critical discontinue": (
        chart(
            tox(
                "D89.839",
                "Cytokine release syndrome, grade unspecified",
                "CRS grade 4 - ICU transfer",
            )
        ),
        [DISCONTINUE],
    ),
    "D89.839 written 'Cytokine release syndrome grade 3', cycle 2 straight at 28 -> critical "
    "overdose": (
        chart(
            tox(
                "D89.839",
                "Cytokine release syndrome, grade unspecified",
                "Cytokine release syndrome grade 3",
            )
        ),
        [OVERDOSE],
    ),
    "G92.00 (ICANS, grade unspecified) written 'ICANS grade 4 (ICE score 0)' -> critical": (
        chart(
            tox(
                "G92.00",
                "Immune effector cell-associated neurotoxicity syndrome, grade unspecified",
                "ICANS grade 4 (ICE score 0)",
            )
        ),
        [DISCONTINUE],
    ),
    "D89.839 written 'Rule out CRS grade 4' -> warning to confirm the grade (a negated grade is "
    "none)": (
        chart(
            tox("D89.839", "Cytokine release syndrome, grade unspecified", "Rule out CRS grade 4")
        ),
        [GRADE_UNKNOWN],
    ),
    # --- a grade in the code and another in the words: the higher --------------------------------
    "D89.833 (grade 3) written 'CRS grade 4, intubated' -> critical discontinue": (
        chart(tox("D89.833", "Cytokine release syndrome, grade 3", "CRS grade 4, intubated")),
        [DISCONTINUE],
    ),
    "D89.834 (grade 4) written 'CRS grade 2' -> critical discontinue (the code's higher grade)": (
        chart(tox("D89.834", "Cytokine release syndrome, grade 4", "CRS grade 2")),
        [DISCONTINUE],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_toxicity_recognition_golden_matrix(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    got = sorted((c["indicator"], c["extension"][FINDING_CODE_EXTENSION]) for c in cards)
    assert got == sorted(expected), [c["summary"] for c in cards]


def test_a_grade_4_encephalopathy_is_named_as_neurological_toxicity(client: FlaskClient) -> None:
    toxicity = tox("G92.9", "Unspecified toxic encephalopathy", "Encephalopathy grade 4")
    [card] = dose_cards(client, chart(toxicity))
    assert "neurological toxicity grade 4: discontinue permanently" in card["summary"]


# --- the pieces, without the service ----------------------------------------------------------

RULES = load_knowledge().toxicity
DAY = datetime(2026, 1, 19, 16, tzinfo=UTC)


def read(codes: set[tuple[str, str]], text: str) -> list[tuple[str, int | None]]:
    fact = ConditionFact(
        resource="Condition/c",
        codes=frozenset(codes),
        clinical_status="resolved",
        verification_status="confirmed",
        onset=DAY,
        text=text.lower(),
    )
    return [(e.kind, e.grade) for e in toxicity_events([fact], RULES)]


@pytest.mark.parametrize(
    ("codes", "text", "events"),
    [
        ({(ICD10CM, "G92.8")}, "other toxic encephalopathy", [("neurotoxicity", None)]),
        ({(ICD10CM, "G92.9")}, "encephalopathy grade 3", [("neurotoxicity", 3)]),
        ({(ICD10CM, "D89.839")}, "crs grade 4 - icu transfer", [("crs", 4)]),
        ({(ICD10CM, "D89.831")}, "cytokine release syndrome grade 3", [("crs", 3)]),
        ({(ICD10CM, "D89.834")}, "crs grade 1", [("crs", 4)]),
        # words naming another kind give the code no grade: which is graded is unclear
        ({(ICD10CM, "D89.839")}, "icans grade 4", [("crs", None)]),
        ({(ICD10CM, "K76.82")}, "encephalopathy grade 3", []),
        ({(LOCAL, "P-1")}, "wernicke's encephalopathy grade 3", []),
        ({(LOCAL, "P-1")}, "septic encephalopathy grade 3", []),
        ({(LOCAL, "P-1")}, "toxic encephalopathy", [("neurotoxicity", None)]),
        ({(LOCAL, "P-1")}, "leukoencephalopathy grade 2 on mri", []),
    ],
)
def test_the_kind_and_grade_a_condition_records(
    codes: set[tuple[str, str]], text: str, events: list[tuple[str, int | None]]
) -> None:
    assert read(codes, text) == events
