"""UCUM unit conversion through `ucumvert` (a UCUM grammar on top of pint).

Doses are compared in Decimal at a fixed precision so that 0.028 mg/d is exactly 28 mcg/day and
never "over the cap" through floating-point error.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from ucumvert import PintUcumRegistry

UCUM_SYSTEM = "http://unitsofmeasure.org"

# Free-text units real EHRs put in Quantity.unit when Quantity.code is missing.
_UNIT_ALIASES = {
    "mcg": "ug",
    "mcg/day": "ug/d",
    "mcg/d": "ug/d",
    "microgram/day": "ug/d",
    "mcg/24h": "ug/(24.h)",
    "mcg/24 h": "ug/(24.h)",
    "mcg/24hr": "ug/(24.h)",
    "ug/24h": "ug/(24.h)",
    "ug/24 h": "ug/(24.h)",
    "µg/d": "ug/d",
    "µg": "ug",
    "mcg/m2/day": "ug/m2/d",
    "mcg/m^2/day": "ug/m2/d",
    "mg/day": "mg/d",
    "mcg/h": "ug/h",
    "mcg/hr": "ug/h",
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "in": "[in_i]",
    "kgs": "kg",
    "m²": "m2",
    "m^2": "m2",
}


class UnitError(ValueError):
    """The unit is unknown or cannot be converted to what the check needs."""


@lru_cache(maxsize=1)
def _registry() -> Any:
    """The UCUM registry. Parsing pint's and ucumvert's definition files is half of its ~0.5 s
    build, a quarter of the service's start-up: pint keeps the parsed files in the user's cache
    directory (":auto:", keyed by the files' content), unless that cannot be written."""
    try:
        return PintUcumRegistry(cache_folder=":auto:")
    except OSError:
        return PintUcumRegistry()


@lru_cache(maxsize=512)
def _parse(ucum: str) -> Any:
    code = _UNIT_ALIASES.get(ucum.strip().lower(), ucum.strip())
    if not code or "{" in code:
        raise UnitError(f"unit {ucum!r} is not a measurable UCUM unit")
    try:
        return _registry().from_ucum(code)
    except Exception as error:  # ucumvert raises lark and pint errors of many kinds
        raise UnitError(f"unknown UCUM unit {ucum!r}") from error


@lru_cache(maxsize=512)
def _factor(source: str, target: str) -> Decimal:
    try:
        magnitude = (1 * _parse(source)).to(_parse(target)).magnitude
    except UnitError:
        raise
    except Exception as error:  # pint's DimensionalityError and friends
        raise UnitError(f"cannot convert {source!r} to {target!r}") from error
    # pint works in binary floating point: 1 [lb_av] comes back as 0.4535923700000001 kg. Every
    # UCUM factor is a short decimal or a ratio of small integers, so 15 significant digits give
    # the exact decimal factor (0.45359237) without the binary noise.
    return Decimal(format(float(magnitude), ".15g"))


def convert(value: Decimal, source: str, target: str) -> Decimal:
    """`value` in UCUM `source` expressed in UCUM `target` (UnitError if impossible)."""
    if source == target:
        return value
    return value * _factor(source, target)


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


def quantize(value: Decimal, precision: Decimal) -> Decimal:
    try:
        return value.quantize(precision)
    except InvalidOperation as error:
        raise UnitError(f"value {value} cannot be compared at precision {precision}") from error


def warm_up() -> None:
    """Build the UCUM registry before the first request (0.25-0.5 s)."""
    for unit in ("ug/d", "ug/(24.h)", "ug/m2/d", "mg/d", "ug/h", "kg", "cm", "[lb_av]", "[in_i]"):
        _parse(unit)


def format_number(value: Decimal | None, precision: str = "0.01") -> str:
    """A dose for a card: rounded to `precision`, without trailing zeros ("?" when unknown)."""
    if value is None:
        return "?"
    text = f"{value.quantize(Decimal(precision)):f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"
