"""The BSA a child can plausibly have, from the weight and age alone (no height charted).

With a weight and no height only the caps could be checked; bounding the height by the growth
charts (`knowledge/growth-bounds.yaml`) bounds the BSA (Mosteller), so a dose above what any
plausible BSA allows, or below what the smallest needs, can still be called.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from cds.dosing import mosteller_bsa
from cds.knowledge.models import GrowthBand, GrowthBounds


@dataclass(frozen=True)
class BsaBounds:
    min_m2: Decimal
    max_m2: Decimal
    min_height_cm: Decimal
    max_height_cm: Decimal
    basis: str  # e.g. "age 8: height 105.5-160.3 cm (growth charts +/- 10%)"
    source: str


def _band(age_years: int | None, rules: GrowthBounds) -> tuple[Decimal, Decimal, str, str]:
    """(min height, max height, what, source) for the age; age unknown: the widest of all."""
    bands = rules.bands
    if age_years is None:
        low = min(b.min_height_cm for b in bands)
        high = max(b.max_height_cm for b in bands)
        return low, high, "age unknown", bands[-1].source
    band: GrowthBand = next((b for b in reversed(bands) if b.age_years <= age_years), bands[0])
    return band.min_height_cm, band.max_height_cm, f"age {age_years}", band.source


def bsa_bounds(weight_kg: Decimal, age_years: int | None, rules: GrowthBounds) -> BsaBounds:
    low, high, what, source = _band(age_years, rules)
    margin = rules.height_margin_percent / 100
    low, high = low * (1 - margin), high * (1 + margin)
    return BsaBounds(
        min_m2=mosteller_bsa(low, weight_kg),
        max_m2=mosteller_bsa(high, weight_kg),
        min_height_cm=low,
        max_height_cm=high,
        basis=(
            f"{what}: plausible height {low:.0f}-{high:.0f} cm (growth-chart P3/P97 "
            f"± {rules.height_margin_percent}%), so BSA {mosteller_bsa(low, weight_kg):.2f}-"
            f"{mosteller_bsa(high, weight_kg):.2f} m²"
        ),
        source=source,
    )


Plausibility = Literal["above-any-plausible", "below-any-plausible", "plausible"]


def judge_per_m2_dose(
    ordered_mcg_per_day: Decimal,
    mcg_per_m2_per_day: Decimal,
    cap_mcg_per_day: Decimal,
    bounds: BsaBounds,
    tolerance_above_percent: Decimal,
    tolerance_below_percent: Decimal,
) -> Plausibility:
    """A daily dose against a per-m² schedule when only the BSA's bounds are known.

    above: more than the largest plausible BSA allows (with the rounding band), or above the cap
    (critical); below: less than the smallest plausible BSA needs (warning); else plausible (the
    usual "cannot fully verify" warning)."""
    highest = min(mcg_per_m2_per_day * bounds.max_m2, cap_mcg_per_day)
    if ordered_mcg_per_day > cap_mcg_per_day or ordered_mcg_per_day > highest * (
        1 + tolerance_above_percent / 100
    ):
        return "above-any-plausible"
    lowest = min(mcg_per_m2_per_day * bounds.min_m2, cap_mcg_per_day)
    if ordered_mcg_per_day < lowest * (1 - tolerance_below_percent / 100):
        return "below-any-plausible"
    return "plausible"
