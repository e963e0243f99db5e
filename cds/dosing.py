"""Dose arithmetic: body size from the chart, and an ordered dose expressed in mcg/day.

Pure functions over patient facts and knowledge; unit conversion goes through `cds.units`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from cds import units
from cds.knowledge import Knowledge
from cds.patient import DoseInstruction, ObservationFact, PatientSnapshot

MCG = "ug"
MCG_PER_DAY = "ug/d"
MCG_PER_M2 = "ug/m2"
PER_M2_PER_DAY = "ug/m2/d"


@dataclass(frozen=True)
class Measurement:
    value: Decimal
    when: datetime | None
    resource: str


def latest_measurement(
    patient: PatientSnapshot, knowledge: Knowledge, value_set: str, unit: str
) -> Measurement | None:
    """The newest observation of `value_set` convertible to `unit` (unusable ones are skipped)."""
    for fact in patient.observations_of(knowledge.codes_of(value_set)):
        if fact.value is None or fact.value <= 0 or not fact.unit or not fact.is_exact:
            continue  # no value (dataAbsentReason), or only a bound ("<", ">"): not a measurement
        try:
            return Measurement(units.convert(fact.value, fact.unit, unit), fact.when, fact.resource)
        except units.UnitError:
            continue
    return None


def unreadable_unit(
    patient: PatientSnapshot, knowledge: Knowledge, value_set: str, unit: str
) -> ObservationFact | None:
    """The newest observation of `value_set` with a value whose unit cannot be read as `unit`
    ("25 Kilo"): when `latest_measurement` finds none, the card says it is there, unreadable,
    rather than absent."""
    for fact in patient.observations_of(knowledge.codes_of(value_set)):
        readable = fact.unit is not None and units.is_convertible(fact.unit, unit)
        if fact.value is not None and fact.value > 0 and fact.is_exact and not readable:
            return fact
    return None


def is_stale(measurement: Measurement, max_age_days: int, now: datetime) -> bool:
    """Undated, or taken more than `max_age_days` before `now` (a future date is not stale)."""
    return measurement.when is None or now - measurement.when > timedelta(days=max_age_days)


def mosteller_bsa(height_cm: Decimal, weight_kg: Decimal) -> Decimal:
    """BSA (m²) = sqrt(height cm × weight kg / 3600) (Mosteller 1987)."""
    if height_cm <= 0 or weight_kg <= 0:
        raise ValueError("height and weight must be positive")
    return ((height_cm * weight_kg) / Decimal(3600)).sqrt()


class DoseNotComputable(Exception):
    """The ordered dose cannot be expressed in mcg/day; the message says why."""


class BsaNeeded(DoseNotComputable):
    """A per-m² order, and the patient's BSA is unknown."""


def is_per_m2(unit: str | None) -> bool:
    """A per-m² dose (`ug/m2/d`, `mg/m2/d`, or `ug/m2` per administration)?"""
    if not unit:
        return False
    return units.is_convertible(unit, PER_M2_PER_DAY) or units.is_convertible(unit, MCG_PER_M2)


def _per_day_factor(dosage: DoseInstruction) -> Decimal:
    """Administrations per day from timing.repeat (frequency per period)."""
    if dosage.frequency is None or dosage.period is None or dosage.period <= 0:
        raise DoseNotComputable("the dose is per administration but the order gives no frequency")
    if dosage.frequency <= 0:
        raise DoseNotComputable("the order's timing frequency is not positive")
    try:
        # frequency / period in 1/period-unit, times period-units per day ("h": exactly 24).
        per_day = units.duration(Decimal(1), "d", dosage.period_unit or "")
    except units.UnitError as error:
        raise DoseNotComputable(f"unknown timing period unit {dosage.period_unit!r}") from error
    return Decimal(dosage.frequency) / dosage.period * per_day


def _checked_amount(dosage: DoseInstruction) -> tuple[Decimal, str]:
    if dosage.amount is None or dosage.unit is None:
        raise DoseNotComputable("the order has no dose quantity")
    if dosage.amount < 0:
        raise DoseNotComputable("the ordered dose is negative")
    return dosage.amount, dosage.unit


def ordered_mcg_per_m2_per_day(dosage: DoseInstruction) -> Decimal:
    """A per-m² dose in mcg/m²/day (DoseNotComputable for anything else)."""
    amount, unit = _checked_amount(dosage)
    if units.is_convertible(unit, PER_M2_PER_DAY):
        return units.convert(amount, unit, PER_M2_PER_DAY)
    if units.is_convertible(unit, MCG_PER_M2):
        return units.convert(amount, unit, MCG_PER_M2) * _per_day_factor(dosage)
    raise DoseNotComputable(f"the unit {unit!r} is not a dose per m²")


def ordered_mcg_per_day(dosage: DoseInstruction, bsa_m2: Decimal | None) -> Decimal:
    """The dose of one dosage instruction in mcg/day (per-m² orders use the patient's BSA).

    Accepts a daily amount (`ug/d`, `ug/(24.h)`, `mg/d`), a rate (`ug/h` as rateQuantity), an
    amount per administration (`ug`, `mg`) with timing.repeat frequency/period, and the per-m² forms
    of these. Raises DoseNotComputable (BsaNeeded for a per-m² order without BSA) otherwise.
    """
    amount, unit = _checked_amount(dosage)
    if units.is_convertible(unit, MCG_PER_DAY):
        return units.convert(amount, unit, MCG_PER_DAY)
    if units.is_convertible(unit, MCG):
        return units.convert(amount, unit, MCG) * _per_day_factor(dosage)
    if is_per_m2(unit):
        if bsa_m2 is None:
            raise BsaNeeded("the dose is per m² but the patient's BSA is unknown")
        return ordered_mcg_per_m2_per_day(dosage) * bsa_m2
    raise DoseNotComputable(f"the unit {unit!r} cannot be converted to mcg/day")
