"""Golden matrix: the indication the problem list leaves possible."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds.knowledge import load_knowledge
from cds.patient import ConditionFact
from cds.problem_list import indication_from_problem_list, least_severe

KNOWLEDGE = load_knowledge()
RULES = KNOWLEDGE.problem_list
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
ALL3 = {"mrd-positive", "relapsed-refractory", "consolidation"}
REMISSION = {"mrd-positive", "consolidation"}


def dx(
    code: str,
    year: int | None,
    status: str | None = "active",
    abated: bool = False,
    verification: str | None = "confirmed",
    system: str = ICD,
) -> ConditionFact:
    return ConditionFact(
        resource=f"Condition/{code}-{year}",
        codes=frozenset({(system, code)}),
        clinical_status=status,
        verification_status=verification,
        onset=datetime(year, 6, 1, tzinfo=UTC) if year else None,
        abatement=datetime.min.replace(tzinfo=UTC) if abated else None,
    )


CASES = [
    (
        "ALL in relapse, active -> relapsed/refractory",
        [dx("C91.02", 2025)],
        {"relapsed-refractory"},
    ),
    (
        "ALL not in remission, active -> relapsed/refractory",
        [dx("C91.00", 2025)],
        {"relapsed-refractory"},
    ),
    ("ALL in remission C91.01 -> MRD or consolidation, never R/R", [dx("C91.01", 2025)], REMISSION),
    (
        "relapse 2024 then remission 2025 -> the newest wins: remission",
        [dx("C91.02", 2024), dx("C91.01", 2025)],
        REMISSION,
    ),
    (
        "remission 2024 then relapse 2025 -> relapsed/refractory",
        [dx("C91.01", 2024), dx("C91.02", 2025)],
        {"relapsed-refractory"},
    ),
    (
        "relapse resolved, remission active -> remission",
        [dx("C91.02", 2026, status="resolved"), dx("C91.01", 2025)],
        REMISSION,
    ),
    ("relapse with an abatement -> does not count", [dx("C91.02", 2025, abated=True)], ALL3),
    (
        "relapse entered in error -> does not count",
        [dx("C91.02", 2025, verification="entered-in-error")],
        ALL3,
    ),
    (
        "B-ALL SNOMED without remission status -> every indication",
        [dx("277571004", 2025, system=SCT)],
        ALL3,
    ),
    ("nothing on the problem list -> every indication", [], ALL3),
    (
        "undated relapse and undated remission -> nothing can be ruled out",
        [dx("C91.02", None), dx("C91.01", None)],
        ALL3,
    ),
]


@pytest.mark.parametrize(("scenario", "conditions", "possible"), CASES, ids=[c[0] for c in CASES])
def test_indication_from_problem_list(
    scenario: str, conditions: list[ConditionFact], possible: set[str]
) -> None:
    found = indication_from_problem_list(conditions, KNOWLEDGE, RULES)
    assert found.possible == frozenset(possible)
    assert found.basis
    assert (found.condition is None) == (possible == ALL3 and found.basis.startswith("no ALL"))


def test_a_dose_right_for_every_possible_indication_is_not_flagged() -> None:
    # 28 mcg/day on cycle 1 day 1: an overdose for R/R (step-up), right for MRD and consolidation.
    verdicts = {"relapsed-refractory": "critical", "mrd-positive": "none", "consolidation": "none"}
    assert least_severe(verdicts, frozenset(REMISSION)) == "none"
    assert least_severe(verdicts, frozenset(ALL3)) == "none"
    assert least_severe(verdicts, frozenset({"relapsed-refractory"})) == "critical"
