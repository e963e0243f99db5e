"""UCUM unit conversion: a small table of the units charts and orders nearly always carry, and
`ucumvert` (a UCUM grammar on top of pint) for every other unit.

Doses are compared in Decimal at a fixed precision so that 0.028 mg/d is exactly 28 mcg/day and
never "over the cap" through floating-point error.

Importing pint and ucumvert and building their registry costs 0.3-0.7 s on these 2 cores (as
much as the rest of a `python -m cds check` run, a third of `serve`'s start), so the registry is
built only when a unit outside the table arrives: once per process (per gunicorn worker), 9 MB.
tests/unit/test_units.py checks every pair of table units against ucumvert: same factor, same
refusals.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

UCUM_SYSTEM = "http://unitsofmeasure.org"

# Free-text units real EHRs put in Quantity.unit when Quantity.code is missing.
_UNIT_ALIASES = {
    "mcg": "ug",
    "mcg/day": "ug/d",
    "mcg/d": "ug/d",
    "microgram/day": "ug/d",
    "micrograms/day": "ug/d",
    "microgram/d": "ug/d",
    "micrograms/d": "ug/d",
    "microg/d": "ug/d",
    "microg/day": "ug/d",
    "mcg per day": "ug/d",
    "micrograms per day": "ug/d",
    "mcg/24 hours": "ug/(24.h)",
    "mcg/24h": "ug/(24.h)",
    "mcg/24 h": "ug/(24.h)",
    "mcg/24hr": "ug/(24.h)",
    "mcg/24 hr": "ug/(24.h)",
    "mcg/24hrs": "ug/(24.h)",
    "mcg/24 hrs": "ug/(24.h)",
    "ug/24h": "ug/(24.h)",
    "ug/24 h": "ug/(24.h)",
    "mcg/24hours": "ug/(24.h)",
    "µg/d": "ug/d",  # the micro sign, U+00B5
    "µg/day": "ug/d",
    "µg": "ug",
    "μg/d": "ug/d",  # the Greek small letter mu, U+03BC: keyboards give either
    "μg/day": "ug/d",
    "μg": "ug",
    "microgram": "ug",
    "micrograms": "ug",
    "mg": "mg",  # "MG"
    "milligram": "mg",
    "milligrams": "mg",
    "gm": "g",
    "gms": "g",
    "gram": "g",
    "grams": "g",
    "mcg/m2/day": "ug/m2/d",
    "mcg/m^2/day": "ug/m2/d",
    "mcg/m²/day": "ug/m2/d",
    "mcg/m2/d": "ug/m2/d",
    "microgram/m2/day": "ug/m2/d",
    "micrograms/m2/day": "ug/m2/d",
    "mg/day": "mg/d",
    "mcg/h": "ug/h",
    "mcg/hr": "ug/h",
    "mcg/hour": "ug/h",
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "in": "[in_i]",
    "kgs": "kg",
    "kg": "kg",  # "KG", "Kg": UCUM is case-sensitive, EHR free text is not
    "kilogram": "kg",
    "kilograms": "kg",
    "pounds": "[lb_av]",
    "cm": "cm",  # "CM"
    "inches": "[in_i]",
    "m²": "m2",
    "m^2": "m2",
    "miu/ml": "m[IU]/mL",  # hCG as labs print it
    "iu/l": "[IU]/L",
    # a pump's volume rate: says nothing of the dose without the bag's concentration
    "ml/hr": "mL/h",
    "ml/h": "mL/h",
    "cc/hr": "mL/h",
    "cc/h": "mL/h",
}


# UCUM code -> (quantity, factor to that quantity's reference unit, the first one listed).
_KNOWN: dict[str, tuple[str, Decimal]] = {
    code: (quantity, Decimal(factor))
    for quantity, factors in {
        "mass": {"g": "1", "ug": "0.000001", "mg": "0.001", "kg": "1000", "[lb_av]": "453.59237"},
        "length": {"m": "1", "mm": "0.001", "cm": "0.01", "[in_i]": "0.0254"},
        "area": {"m2": "1", "cm2": "0.0001"},
        "volume": {"mL": "1", "L": "1000"},
        "volume rate": {"mL/h": "1", "mL/min": "60", "L/h": "1000"},
        "time": {"s": "1", "min": "60", "h": "3600", "d": "86400", "wk": "604800"},
        "frequency": {"/d": "1", "/h": "24", "/min": "1440"},
        "dose rate": {"ug/d": "1", "ug/(24.h)": "1", "mg/d": "1000", "ug/h": "24", "mg/h": "24000"},
        "dose rate per area": {"ug/m2/d": "1", "mg/m2/d": "1000"},
        "dose per area": {"ug/m2": "1", "mg/m2": "1000"},
        "mass concentration": {"mg/dL": "1", "mg/L": "0.1", "g/L": "100", "g/dL": "1000"},
        "substance concentration": {"umol/L": "1", "mmol/L": "1000"},
        "number concentration": {
            "/uL": "1",
            "10*3/uL": "1000",
            "10*9/L": "1000",
            "10*6/L": "1",
            "/mm3": "1",  # a cubic millimetre is a microlitre ("cells/mm3" counts)
        },
        "arbitrary concentration": {"[IU]/L": "1", "m[IU]/mL": "1", "[IU]/mL": "1000"},
        "catalytic concentration": {"U/L": "1"},
    }.items()
    for code, factor in factors.items()
}


class UnitError(ValueError):
    """The unit is unknown or cannot be converted to what the check needs."""


@lru_cache(maxsize=1)
def _registry() -> Callable[[str], Any]:
    """UCUM code -> pint quantity. ucumvert's own `PintUcumRegistry` also builds pint's
    application registry, uncached, and converts in that one: a second registry, 0.4 s. Here one
    registry, whose parsed definition files pint keeps in the user's cache directory (":auto:",
    keyed by the files' content) unless that cannot be written."""
    from pathlib import Path

    import ucumvert
    from pint import UnitRegistry

    registry: Any
    try:
        registry = UnitRegistry(cache_folder=":auto:")
    except OSError:
        registry = UnitRegistry()
    definitions = Path(ucumvert.__file__).parent / "pint_ucum_defs.txt"
    registry._build_cache(registry.load_definitions(definitions))
    parser = ucumvert.get_ucum_parser()
    transform = ucumvert.UcumToPintTransformer(ureg=registry).transform
    return lambda code: transform(ucumvert.parse_ucum(code, parser))


_ANNOTATION = re.compile(r"\{[^{}]*\}")


def without_annotations(ucum: str) -> str:
    """A UCUM code with its annotations dropped: UCUM (§2.1) makes an annotation `{...}`
    equal to 1, so "{cells}/uL" is "/uL" and "10*3{cells}/uL" is "10*3/uL"; an annotation alone
    ("{cells}") is "1"."""
    if "{" not in ucum:
        return ucum
    bare = _ANNOTATION.sub("", ucum.strip())
    bare = re.sub(r"^\.|\.(?=/|$)|(?<=/)\.", "", bare)  # the "." that joined an annotation
    return bare or "1"


# Not a clinical rule: the longest unit text parsed. UCUM units in charts are short ("ug/(24.h)",
# "10*3/uL"); the parser's time grows steeply with length and nesting (10,000 nested brackets took
# 8 s), so a longer text from a request is no unit, at once.
LONGEST_UNIT = 40


# Each part of a free-text unit written as parts joined by "/" ("mcg/mL", "mcg/m²/d", "mcg/m2/24
# hr", a Ratio's "mcg" over "hours"), when every part is one of these: the part's UCUM code. Only
# parts that cannot be read two ways; any other part leaves the text as sent (then UCUM or not).
_PART_ALIASES = {
    **{word: "ug" for word in ("mcg", "ug", "µg", "μg", "microgram", "micrograms")},
    **{word: "mg" for word in ("mg", "milligram", "milligrams")},
    **{word: "m2" for word in ("m2", "m²", "m^2")},  # "M2": a BSA's square metres
    **{word: "mL" for word in ("ml", "milliliter", "milliliters", "millilitre", "millilitres")},
    **{word: "d" for word in ("d", "day", "days")},
    **{word: "h" for word in ("h", "hr", "hrs", "hour", "hours")},
    **{word: "(24.h)" for word in ("24h", "24 h", "24hr", "24 hr", "24hrs", "24 hrs", "24 hours")},
}


def _free_text_code(text: str) -> str | None:
    """The UCUM code of a free-text unit made of `_PART_ALIASES` parts joined by "/" (None when
    a part is not one of them): "mcg/m²/d" is "ug/m2/d", "M2" is "m2"."""
    parts = text.lower().split("/")
    codes = [_PART_ALIASES[part.strip()] for part in parts if part.strip() in _PART_ALIASES]
    return "/".join(codes) if len(codes) == len(parts) else None


def _code(ucum: str) -> str:
    written = ucum.strip()
    code = _UNIT_ALIASES.get(written.lower()) or _free_text_code(written) or written
    if len(code) > LONGEST_UNIT:
        raise UnitError(f"unit {ucum[:LONGEST_UNIT]!r}... is longer than any UCUM unit read")
    if not code or "{" in code:
        raise UnitError(f"unit {ucum!r} is not a measurable UCUM unit")
    return code


@lru_cache(maxsize=512)
def _parse(code: str) -> Any:
    try:
        return _registry()(code)
    except Exception as error:  # ucumvert raises lark and pint errors of many kinds
        raise UnitError(f"unknown UCUM unit {code!r}") from error


@lru_cache(maxsize=512)
def _factor(source: str, target: str) -> Decimal:
    source_code, target_code = _code(source), _code(target)
    if source_code in _KNOWN and target_code in _KNOWN:
        return _known_factor(source_code, target_code)
    return _library_factor(source_code, target_code)


def _library_factor(source: str, target: str) -> Decimal:
    """The factor between two UCUM codes, through ucumvert and pint."""
    try:
        # "ug/(24.h)" parses to the quantity 1/24 ug/h; `to()` would keep only its unit
        unit = 1 * _parse(target)
        magnitude = (1 * _parse(source)).to(unit.units).magnitude / unit.magnitude
    except UnitError:
        raise
    except Exception as error:  # pint's DimensionalityError and friends
        raise UnitError(f"cannot convert {source!r} to {target!r}") from error
    # pint works in binary floating point: 1 [lb_av] comes back as 0.4535923700000001 kg. Every
    # UCUM factor is a short decimal or a ratio of small integers, so 15 significant digits give
    # the exact decimal factor (0.45359237) without the binary noise.
    return Decimal(format(float(magnitude), ".15g"))


def _known_factor(source: str, target: str) -> Decimal:
    """The factor between two table units, rounded as ucumvert's are (1/24, not 28 digits)."""
    (source_quantity, source_factor), (target_quantity, target_factor) = (
        _KNOWN[source],
        _KNOWN[target],
    )
    if source_quantity != target_quantity:
        raise UnitError(f"cannot convert {source!r} ({source_quantity}) to {target!r}")
    return Decimal(format(source_factor / target_factor, ".15g"))


def convert(value: Decimal, source: str, target: str) -> Decimal:
    """`value` in UCUM `source` expressed in UCUM `target` (UnitError if impossible)."""
    if source == target:
        return value
    return value * _factor(source, target)


_MICROMOL_PER_MOL = Decimal(1_000_000)


def convert_concentration(
    value: Decimal, source: str, target: str, molar_mass_g_per_mol: Decimal | None = None
) -> Decimal:
    """`value` in `source` expressed in `target`, as `convert`, and also between a mass and a
    substance concentration (mg/dL <-> umol/L) given the analyte's molar mass: UCUM alone cannot
    do that, the factor depends on the molecule (UnitError if impossible)."""
    try:
        return convert(value, source, target)
    except UnitError:
        if molar_mass_g_per_mol is None or molar_mass_g_per_mol <= 0:
            raise
    if is_convertible(source, "g/L") and is_convertible(target, "umol/L"):
        grams_per_litre = convert(value, source, "g/L")
        return convert(grams_per_litre / molar_mass_g_per_mol * _MICROMOL_PER_MOL, "umol/L", target)
    if is_convertible(source, "umol/L") and is_convertible(target, "g/L"):
        micromoles_per_litre = convert(value, source, "umol/L")
        return convert(
            micromoles_per_litre * molar_mass_g_per_mol / _MICROMOL_PER_MOL, "g/L", target
        )
    raise UnitError(f"cannot convert {source!r} to {target!r}, even by molar mass")


# Durations (boundsDuration, expectedSupplyDuration, gestational age) in exact seconds: a 24 h bag
# is exactly 1 day, never 1.0000000000000008 (pint's floating point) and so never "2 days".
_SECONDS = {
    "s": Decimal(1),
    "min": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "wk": Decimal(604800),
    "mo": Decimal(2629800),  # UCUM mean Julian month, 30.4375 d
    "a": Decimal(31557600),  # UCUM mean Julian year, 365.25 d
}
# Free-text duration units EHRs send in Quantity.unit without a UCUM code.
_DURATION_ALIASES = {
    **{word: "s" for word in ("sec", "secs", "second", "seconds")},
    **{word: "min" for word in ("mins", "minute", "minutes")},
    **{word: "h" for word in ("hr", "hrs", "hour", "hours")},
    **{word: "d" for word in ("day", "days")},
    **{word: "wk" for word in ("wks", "week", "weeks")},
    **{word: "mo" for word in ("month", "months")},
    **{word: "a" for word in ("yr", "yrs", "year", "years")},
}


def duration(value: Decimal, unit: str | None, target: str) -> Decimal:
    """A duration in UCUM time unit `unit` (s, min, h, d, wk, mo, a, or their English names)
    expressed in `target`, exactly (UnitError if `unit` is not a time unit)."""
    code = (unit or "").strip()
    code = _DURATION_ALIASES.get(code.lower(), code.lower())
    if code not in _SECONDS or target not in _SECONDS:
        raise UnitError(f"{unit!r} is not a duration unit (s, min, h, d, wk, mo, a)")
    return value * _SECONDS[code] / _SECONDS[target]


def is_convertible(source: str, target: str) -> bool:
    try:
        _factor(source, target)
    except UnitError:
        return False
    return True


def is_volume_rate(unit: str | None) -> bool:
    """A pump's rate in volume per time (mL/h, "mL/hr", "cc/hr"): without the bag's
    concentration it says nothing of the dose."""
    return bool(unit) and is_convertible(unit or "", "mL/h")


def quantize(value: Decimal, precision: Decimal) -> Decimal:
    try:
        return value.quantize(precision)
    except InvalidOperation as error:
        raise UnitError(f"value {value} cannot be compared at precision {precision}") from error


def format_number(value: Decimal | None, precision: str = "0.01") -> str:
    """A dose for a card: rounded to `precision`, without trailing zeros ("?" when unknown)."""
    if value is None:
        return "?"
    try:
        text = f"{value.quantize(Decimal(precision)):f}"
    except InvalidOperation:  # more digits than the context holds (1e28 mcg): shown as sent
        return f"{value:E}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"
