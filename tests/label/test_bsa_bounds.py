"""Golden matrix: a child's per-m² dose with a weight but no height, bounded by growth charts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cds.bsa_bounds import bsa_bounds, judge_per_m2_dose
from cds.dosing import mosteller_bsa
from cds.knowledge import load_knowledge

RULES = load_knowledge().growth_bounds
TEN = Decimal(10)

CASES = [
    # scenario, weight kg, age, ordered mcg/day, mcg/m2/day, cap, expected
    (
        "8-year-old 30 kg, MRD, 28 mcg/day -> above any plausible BSA",
        "30",
        8,
        "28",
        "15",
        "28",
        "above-any-plausible",
    ),
    (
        "8-year-old 30 kg, MRD, 15 mcg/day -> plausible (cannot fully verify)",
        "30",
        8,
        "15",
        "15",
        "28",
        "plausible",
    ),
    (
        "8-year-old 30 kg, R/R day 1, 9 mcg/day -> above the 5/m2 of any plausible BSA",
        "30",
        8,
        "9",
        "5",
        "9",
        "above-any-plausible",
    ),
    (
        "8-year-old 30 kg, MRD, 5 mcg/day -> below the smallest plausible BSA",
        "30",
        8,
        "5",
        "15",
        "28",
        "below-any-plausible",
    ),
    (
        "age unknown 30 kg, 28 mcg/day -> still above the widest bound",
        "30",
        None,
        "28",
        "15",
        "28",
        "above-any-plausible",
    ),
    (
        "infant 8 kg, 8 mcg/day -> above any plausible infant BSA (0.44 m2)",
        "8",
        0,
        "8",
        "15",
        "28",
        "above-any-plausible",
    ),
    ("infant 8 kg, 5 mcg/day -> plausible", "8", 0, "5", "15", "28", "plausible"),
    (
        "16-year-old 44 kg, 24 mcg/day -> plausible (a tall 44 kg teen, BSA up to 1.59 m2)",
        "44",
        16,
        "24",
        "15",
        "28",
        "plausible",
    ),
    (
        "16-year-old 44 kg, 28 mcg/day -> above: needs BSA 1.87 m2, a height over 2 m",
        "44",
        16,
        "28",
        "15",
        "28",
        "above-any-plausible",
    ),
    ("any age, 30 mcg/day -> above the cap", "44", 16, "30", "15", "28", "above-any-plausible"),
]


@pytest.mark.parametrize(
    ("scenario", "weight", "age", "ordered", "per_m2", "cap", "expected"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_per_m2_dose_without_height(
    scenario: str, weight: str, age: int | None, ordered: str, per_m2: str, cap: str, expected: str
) -> None:
    bounds = bsa_bounds(Decimal(weight), age, RULES)
    verdict = judge_per_m2_dose(Decimal(ordered), Decimal(per_m2), Decimal(cap), bounds, TEN, TEN)
    assert verdict == expected, bounds.basis


def test_bounds_bracket_a_real_childs_bsa() -> None:
    """An 8-year-old of 128 cm (the median) and 30 kg lies inside the bounds."""
    bounds = bsa_bounds(Decimal(30), 8, RULES)
    actual = mosteller_bsa(Decimal(128), Decimal(30))
    assert bounds.min_m2 < actual < bounds.max_m2
    assert bounds.max_height_cm == Decimal("145.7") * Decimal("1.1")
    assert "age 8" in bounds.basis


def test_the_last_band_covers_adults_with_low_weight() -> None:
    assert bsa_bounds(Decimal(40), 35, RULES).max_height_cm == Decimal("190.1") * Decimal("1.1")
