"""Dose arithmetic: body size from the chart, and an ordered dose expressed in mcg/day.

Pure functions over patient facts and knowledge; unit conversion goes through `cds.units`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from cds import units
from cds.knowledge import Knowledge
from cds.patient import DoseInstruction, PatientSnapshot

MCG_PER_DAY = "ug/d"
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
        if fact.value is None or fact.value <= 0 or not fact.unit:
            continue
        try:
            return Measurement(units.convert(fact.value, fact.unit, unit), fact.when, fact.resource)
        except units.UnitError:
            continue
    return None


def is_stale(measurement: Measurement, max_age_days: int, now: datetime) -> bool:
    return measurement.when is None or now - measurement.when > timedelta(days=max_age_days)


def mosteller_bsa(height_cm: Decimal, weight_kg: Decimal) -> Decimal:
    """BSA (m²) = sqrt(height cm × weight kg / 3600) (Mosteller 1987)."""
    return ((height_cm * weight_kg) / Decimal(3600)).sqrt()


class DoseNotComputable(Exception):
    """The ordered dose cannot be expressed in mcg/day; the message says why."""


def _per_day_factor(dosage: DoseInstruction) -> Decimal:
    """Administrations per day from timing.repeat (frequency per period)."""
    if dosage.frequency is None or dosage.period is None or dosage.period <= 0:
        raise DoseNotComputable("the dose is per administration but the order gives no frequency")
    try:
        period_days = units.convert(dosage.period, dosage.period_unit or "", "d")
    except units.UnitError as error:
        raise DoseNotComputable(f"unknown timing period unit {dosage.period_unit!r}") from error
    return Decimal(dosage.frequency) / period_days


def ordered_mcg_per_day(dosage: DoseInstruction, bsa_m2: Decimal | None) -> Decimal:
    """The dose of one dosage instruction in mcg/day (per-m² orders use the patient's BSA)."""
    if dosage.amount is None or dosage.unit is None:
        raise DoseNotComputable("the order has no dose quantity")
    if dosage.amount < 0:
        raise DoseNotComputable("the ordered dose is negative")
    unit = dosage.unit
    if units.is_convertible(unit, MCG_PER_DAY):
        return units.convert(dosage.amount, unit, MCG_PER_DAY)
    if units.is_convertible(unit, PER_M2_PER_DAY):
        if bsa_m2 is None:
            raise DoseNotComputable("the dose is per m² but the patient's BSA is unknown")
        return units.convert(dosage.amount, unit, PER_M2_PER_DAY) * bsa_m2
    if units.is_convertible(unit, "ug"):
        return units.convert(dosage.amount, unit, "ug") * _per_day_factor(dosage)
    raise DoseNotComputable(f"the unit {unit!r} cannot be converted to mcg/day")
