"""UCUM conversion of the units EHRs write blinatumomab doses and vital signs in.

Doses are compared at 0.01 mcg/day, so every conversion factor must be an exact decimal: 0.028 mg/d
is 28.00 mcg/day, not 28.000000000000004 and therefore "over the 28 mcg/day cap".
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from cds import units

CENT = Decimal("0.01")


@pytest.mark.parametrize(
    ("value", "unit", "mcg_per_day"),
    [
        pytest.param("0.028", "mg/d", "28.00", id="0.028 mg/d is exactly the 28 mcg/day cap"),
        pytest.param("0.009", "mg/d", "9.00", id="0.009 mg/d is the 9 mcg/day step-up dose"),
        pytest.param("28", "ug/(24.h)", "28.00", id="ug per 24 hours"),
        pytest.param("28", "ug/d", "28.00", id="ug/d unchanged"),
        pytest.param("28", "ug.d-1", "28.00", id="ug.d-1 (UCUM exponent form)"),
        pytest.param("0.375", "ug/h", "9.00", id="pump rate 0.375 ug/h = 9 mcg/day"),
        pytest.param("1.1666666666", "ug/h", "28.00", id="pump rate 28/24 ug/h rounds to 28.00"),
        pytest.param("28", "mcg/day", "28.00", id="free-text mcg/day"),
        pytest.param("28", "mcg/24h", "28.00", id="free-text mcg/24h"),
    ],
)
def test_daily_dose_conversions_are_exact_at_the_comparison_precision(
    value: str, unit: str, mcg_per_day: str
) -> None:
    converted = units.convert(Decimal(value), unit, "ug/d")
    assert converted.quantize(CENT) == Decimal(mcg_per_day)


def test_the_factor_of_mg_to_mcg_carries_no_binary_noise() -> None:
    assert units.convert(Decimal("0.028"), "mg/d", "ug/d") == Decimal("28")
    assert units.convert(Decimal("0.0285"), "mg/d", "ug/d") == Decimal("28.5")


def test_pounds_to_kilograms_uses_the_exact_avoirdupois_factor() -> None:
    assert units.convert(Decimal(1), "[lb_av]", "kg") == Decimal("0.45359237")
    assert units.convert(Decimal("99.2"), "[lb_av]", "kg").quantize(Decimal("0.001")) == Decimal(
        "44.996"
    )
    assert units.convert(Decimal("154"), "lb", "kg").quantize(CENT) == Decimal("69.85")


@pytest.mark.parametrize(
    ("value", "unit", "target", "expected"),
    [
        ("25", "Kg", "kg", "25"),
        ("25", "KG", "kg", "25"),
        ("25", "kilograms", "kg", "25"),
        ("154", "pounds", "kg", "69.85"),
        ("125", "CM", "cm", "125"),
        ("50", "inches", "cm", "127"),
        ("28", "mcg/24 hr", "ug/d", "28"),
        ("28", "micrograms/day", "ug/d", "28"),
        ("28", "Micrograms per day", "ug/d", "28"),
        ("28", "mcg per day", "ug/d", "28"),
        ("28", "microg/d", "ug/d", "28"),
        ("28", "µg/day", "ug/d", "28"),  # the micro sign
        ("28", "μg/day", "ug/d", "28"),  # the Greek mu
        ("15", "mcg/m²/day", "ug/m2/d", "15"),
        ("15", "micrograms/m2/day", "ug/m2/d", "15"),
        ("1.17", "mcg/hour", "ug/d", "28.08"),
    ],
)
def test_body_units_as_ehrs_write_them_without_a_ucum_code(
    value: str, unit: str, target: str, expected: str
) -> None:
    """A weight of 25 "Kg" is on file: read as 25 kg, not skipped as "no body weight"."""
    assert units.convert(Decimal(value), unit, target).quantize(CENT) == Decimal(expected)


@pytest.mark.parametrize(
    ("value", "unit", "target", "expected"),
    [
        pytest.param("30000", "gm", "kg", "30", id="child's weight 30000 'gm' is 30 kg"),
        pytest.param("30000", "GMS", "kg", "30", id="'GMS'"),
        pytest.param("30000", "grams", "kg", "30", id="'grams'"),
        pytest.param("3400", "gram", "g", "3400", id="birth weight 3400 'gram'"),
        pytest.param("20", "MG", "mg", "20", id="dexamethasone 20 'MG'"),
        pytest.param("20", "milligrams", "mg", "20", id="dexamethasone 20 'milligrams'"),
        pytest.param("4", "milligram", "mg", "4", id="'milligram'"),
        pytest.param("28", "micrograms", "ug", "28", id="'micrograms'"),
        pytest.param("9", "microgram", "ug", "9", id="'microgram'"),
        pytest.param("28", "\u03bcg", "ug", "28", id="Greek mu 'μg' (U+03BC)"),
        pytest.param("9", "\u03bcg/d", "ug/d", "9", id="Greek mu 'μg/d'"),
        pytest.param("28", "mcg/24 hours", "ug/d", "28", id="'mcg/24 hours'"),
        pytest.param("28", "mcg/24hours", "ug/d", "28", id="'mcg/24hours'"),
        pytest.param("12", "mIU/mL", "m[IU]/mL", "12", id="hCG 12 'mIU/mL'"),
        pytest.param("12", "IU/L", "[IU]/L", "12", id="hCG 12 'IU/L'"),
        pytest.param("12", "IU/L", "m[IU]/mL", "12", id="hCG 12 IU/L is 12 mIU/mL"),
    ],
)
def test_doses_and_results_as_ehrs_write_them_in_free_text(
    value: str, unit: str, target: str, expected: str
) -> None:
    """A unit an EHR writes in Quantity.unit without a UCUM code is read, not "cannot verify"."""
    assert units.convert(Decimal(value), unit, target).quantize(CENT) == Decimal(expected)


@pytest.mark.parametrize("unit", ["mL/h", "mL/hr", "ml/hr", "cc/hr", "ML/HR", "mL/min"])
def test_a_pump_rate_in_volume_per_hour_is_a_volume_rate_not_a_dose(unit: str) -> None:
    """Epic sends the pump's "10 mL/hr" beside the ordered "28 mcg/day": it is no dose."""
    assert units.is_volume_rate(unit)
    assert not units.is_convertible(unit, "ug/d")


def test_inches_to_centimetres() -> None:
    assert units.convert(Decimal(1), "[in_i]", "cm") == Decimal("2.54")
    assert units.convert(Decimal("69.3"), "[in_i]", "cm") == Decimal("176.022")
    assert units.convert(Decimal("1.76"), "m", "cm") == Decimal("176")


def test_per_m2_doses_convert_between_mass_units_but_not_to_a_plain_daily_dose() -> None:
    assert units.convert(Decimal("0.015"), "mg/m2/d", "ug/m2/d") == Decimal("15")
    assert units.is_convertible("ug/m2/d", "ug/m2/d")
    assert not units.is_convertible("ug/m2/d", "ug/d")
    assert not units.is_convertible("ug/d", "ug/m2/d")


def test_a_timing_period_converts_to_administrations_per_day() -> None:
    assert units.convert(Decimal(1), "/h", "/d") == Decimal(24)
    assert units.convert(Decimal(2), "/d", "/d") == Decimal(2)


@pytest.mark.parametrize(
    "unit",
    [
        pytest.param("{pill}", id="annotation only"),
        pytest.param("ug/{bag}", id="annotation in a compound unit"),
        pytest.param("microgramz", id="not a unit"),
        pytest.param("", id="empty"),
        pytest.param("ug//d", id="broken syntax"),
    ],
)
def test_unknown_units_raise_unit_error(unit: str) -> None:
    with pytest.raises(units.UnitError):
        units.convert(Decimal(1), unit, "ug/d")
    assert not units.is_convertible(unit, "ug/d")


@pytest.mark.parametrize(
    ("source", "target"),
    [
        pytest.param("mL", "ug/d", id="a volume is not a dose"),
        pytest.param("mL/h", "ug/d", id="a pump rate in mL/h needs the bag concentration"),
        pytest.param("ug", "ug/d", id="an amount is not a daily dose"),
        pytest.param("ug/24.h", "ug/d", id="ug/24.h is (ug/24)*h in UCUM, not per 24 h"),
        pytest.param("ug/kg/d", "ug/d", id="per-kg dose"),
    ],
)
def test_incompatible_dimensions_raise_unit_error(source: str, target: str) -> None:
    with pytest.raises(units.UnitError):
        units.convert(Decimal(1), source, target)


def test_quantize_refuses_what_cannot_be_compared() -> None:
    assert units.quantize(Decimal("28.004"), CENT) == Decimal("28.00")
    with pytest.raises(units.UnitError):
        units.quantize(Decimal("Infinity"), CENT)


@pytest.mark.parametrize(
    ("value", "precision", "text"),
    [("28.000", "0.01", "28"), ("1250", "1", "1250"), ("0.125", "0.01", "0.12"), ("0", "0.1", "0")],
)
def test_numbers_on_cards_lose_only_decimal_zeros(value: str, precision: str, text: str) -> None:
    assert units.format_number(Decimal(value), precision) == text


@pytest.mark.parametrize(
    ("value", "unit", "target", "expected"),
    [
        pytest.param("24", "h", "d", "1", id="a 24-hour bag is exactly one day (never 2 by ceil)"),
        pytest.param("96", "hours", "d", "4", id="free-text hours"),
        pytest.param("72", "hrs", "d", "3", id="free-text hrs"),
        pytest.param("1", "wk", "h", "168", id="the 7-day bag in UCUM wk is 168 h"),
        pytest.param("2", "weeks", "d", "14", id="free-text weeks"),
        pytest.param("7", "d", "wk", "1", id="days to weeks"),
        pytest.param("224", "d", "wk", "32", id="gestational age 224 days is 32 weeks"),
        pytest.param("1440", "min", "d", "1", id="minutes"),
        pytest.param("86400", "s", "d", "1", id="seconds"),
        pytest.param("1", "mo", "d", "30.4375", id="UCUM mean Julian month"),
        pytest.param("28", "Days", "d", "28", id="case does not matter"),
    ],
)
def test_durations_convert_exactly(value: str, unit: str, target: str, expected: str) -> None:
    assert units.duration(Decimal(value), unit, target) == Decimal(expected)


@pytest.mark.parametrize("unit", ["mg", "", None, "{bag}", "ug/d", "dys"])
def test_a_unit_that_is_not_a_duration_is_refused(unit: str | None) -> None:
    with pytest.raises(units.UnitError):
        units.duration(Decimal(1), unit, "d")


def _outcome(factor: Callable[[str, str], Decimal], source: str, target: str) -> Decimal | None:
    """The factor, or None when the conversion is refused."""
    try:
        return factor(source, target)
    except units.UnitError:
        return None


def test_the_table_of_common_units_agrees_with_ucumvert_on_every_pair() -> None:
    """The hand-written table spares `check` the UCUM registry; ucumvert is the reference: for
    every pair of table units, the same factor (to the digit) or the same refusal."""
    codes = sorted(units._KNOWN)
    disagreements = {
        (source, target): (table, library)
        for source in codes
        for target in codes
        if (table := _outcome(units._known_factor, source, target))
        != (library := _outcome(units._library_factor, source, target))
    }
    # One known difference, where the table follows UCUM: an international unit is an arbitrary
    # unit, "not commensurable with any other unit"; ucumvert makes [IU] dimensionless, so that
    # 1 m[IU]/mL of hCG would "convert" to 1,000,000 /uL of neutrophils.
    arbitrary = {
        (source, target)
        for source in codes
        for target in codes
        if ("[IU]" in source) != ("[IU]" in target)
    }
    assert {pair for pair, (table, _) in disagreements.items() if table is not None} == set()
    assert set(disagreements) <= arbitrary
    assert _outcome(units._known_factor, "mg/d", "ug/h") == Decimal("41.6666666666667")
    assert _outcome(units._known_factor, "U/L", "[IU]/L") is None


def test_a_unit_outside_the_table_still_converts_through_ucumvert() -> None:
    assert "ug/min" not in units._KNOWN
    assert units.convert(Decimal(1), "ug/min", "ug/d") == Decimal(1440)
    assert units.convert(Decimal(1), "ug.d-1", "ug/d") == Decimal(1)
    assert units.convert(Decimal(28), "ug.d-1", "ug/(24.h)") == Decimal(28)


def test_a_unit_text_longer_than_any_ucum_unit_is_refused_at_once() -> None:
    """10,000 nested brackets took the UCUM parser 8 s (50,000: 40 s): a weight sent with such a
    unit pinned a worker. Now it is no unit, before the parser sees it."""
    hostile = "(" * 10_000 + "g" + ")" * 10_000
    with pytest.raises(units.UnitError, match="longer than any UCUM unit"):  # not the parser's
        units.convert(Decimal(70), hostile, "kg")
    assert units.convert(Decimal(1), "ug/(24.h)", "ug/d") == 1  # real units are untouched
