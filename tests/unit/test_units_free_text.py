"""Free-text units a pharmacist types without a UCUM code (red team 2026-12, item 5): each is read
as what it says, and a unit that could be read two ways stays unreadable."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cds import units


@pytest.mark.parametrize(
    ("written", "target", "factor"),
    [
        ("mcg/mL", "ug/mL", "1"),  # a bag's strength: Ratio "mcg" over "mL"
        ("MCG/ML", "ug/mL", "1"),
        ("mcg/m²/d", "ug/m2/d", "1"),
        ("mcg/m2/24 hr", "ug/m2/d", "1"),
        ("mcg/m^2/24 hours", "ug/m2/d", "1"),
        ("mcg/hours", "ug/d", "24"),  # a rateRatio "mcg" over "hours"
        ("micrograms/hr", "ug/h", "1"),
        ("M2", "m2", "1"),  # a BSA charted in "M2"
        ("mg/m2/day", "ug/m2/d", "1000"),
    ],
)
def test_a_free_text_unit_is_read_as_what_it_says(written: str, target: str, factor: str) -> None:
    assert units.convert(Decimal(1), written, target) == Decimal(factor)


@pytest.mark.parametrize(
    ("written", "target"),
    [
        ("mcg/kg/d", "ug/d"),  # per kg is no dose a day
        ("mcg/24", "ug/d"),  # 24 of what?
        ("mcg/m", "ug/m2/d"),  # a metre is no square metre
        ("units/day", "ug/d"),
        ("M", "m2"),
    ],
)
def test_a_unit_that_says_something_else_or_nothing_is_not_read(written: str, target: str) -> None:
    assert not units.is_convertible(written, target)


def test_ucum_codes_are_read_as_before() -> None:
    assert units.convert(Decimal(28), "ug/(24.h)", "ug/d") == Decimal(28)
    assert units.convert(Decimal(10), "mL/h", "mL/d") == Decimal(240)
    assert units.convert(Decimal(1), "/d", "/d") == Decimal(1)
