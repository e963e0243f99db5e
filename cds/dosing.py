"""Dose arithmetic: body size from the chart, and an ordered dose expressed in mcg/day.

Pure functions over patient facts and knowledge; unit conversion goes through `cds.units`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from cds import units
from cds.knowledge import Knowledge
from cds.patient import Code, DoseInstruction, ObservationFact, PatientSnapshot
from cds.units import format_number

MCG = "ug"
MCG_PER_DAY = "ug/d"
MCG_PER_M2 = "ug/m2"
PER_M2_PER_DAY = "ug/m2/d"
MCG_PER_ML = "ug/mL"
ML_PER_DAY = "mL/d"


# Not a clinical rule: the slack for clocks and time zones between the chart and this service. A
# measurement dated later than this after `now` (a mistyped year: 2062) is not the current one.
FUTURE_TOLERANCE = timedelta(days=1)


@dataclass(frozen=True)
class Measurement:
    value: Decimal
    when: datetime | None
    resource: str


@dataclass(frozen=True)
class Unusable:
    """The newest observation of a measurement, which could not be used, and why."""

    fact: ObservationFact
    why: str  # e.g. "has a unit that cannot be read as kg"


@dataclass(frozen=True)
class Reading:
    """The newest observation of a measurement: read (`measurement`), or found unusable
    (`unusable`: then no older one stands in for it); neither: none on file."""

    measurement: Measurement | None = None
    unusable: Unusable | None = None


def newest_measurement(
    patient: PatientSnapshot,
    knowledge: Knowledge,
    value_set: str,
    unit: str,
    now: datetime,
) -> Reading:
    """The newest observation of `value_set` with a value, in `unit`. One without a value
    (dataAbsentReason: nothing was measured) is passed over; one whose value cannot be used (a
    unit that does not convert to `unit`, a bound such as "<", a value not above 0, a date more
    than FUTURE_TOLERANCE after `now`) is said so and ends the search: an older measurement never
    silently stands in for the newest one."""
    codes = knowledge.codes_of(value_set)
    for fact in patient.observations_of(codes):
        if fact.value is None:
            continue
        why = _why_unusable(fact, fact.value, unit, now)
        if why is None and fact.status not in knowledge.dose.measurement_statuses:
            why = f"is not a final result (status {fact.status or 'missing'})"
        if why is None:
            try:
                value = units.convert(fact.value, fact.unit or "", unit)
            except units.UnitError:
                why = f"has a unit that cannot be read as {unit}"
            else:
                found = Measurement(value, fact.when, fact.resource)
                other = _disagreeing(patient, codes, fact, found, unit)
                return Reading(unusable=other) if other else Reading(measurement=found)
        return Reading(unusable=Unusable(fact, why))
    return Reading()


# Not a clinical rule: two measurements taken at the same time (or two strengths of one bag) that
# differ by less than this are the same one recorded twice (rounding, a unit converted by hand).
SAME_MEASUREMENT_PERCENT = Decimal(2)


def _disagreeing(
    patient: PatientSnapshot,
    codes: frozenset[Code],
    fact: ObservationFact,
    found: Measurement,
    unit: str,
) -> Unusable | None:
    """Another measurement taken at the same time as the newest that says otherwise (by more
    than SAME_MEASUREMENT_PERCENT): which one is right is unknown."""
    if fact.when is None:
        return None
    for other in patient.observations_taken_at(codes, fact.when):
        if other.resource == fact.resource or other.value is None or not other.unit:
            continue
        try:
            value = units.convert(other.value, other.unit, unit)
        except units.UnitError:
            continue
        if abs(value - found.value) > found.value * SAME_MEASUREMENT_PERCENT / 100:
            return Unusable(
                fact,
                f"disagrees with {other.resource}, taken at the same time "
                f"({format_number(value, '0.1')} {unit})",
            )
    return None


def _why_unusable(fact: ObservationFact, value: Decimal, unit: str, now: datetime) -> str | None:
    if not fact.is_exact:
        return f"is a bound ({fact.comparator}), not a measurement"
    if not value.is_finite() or value <= 0:
        return "is not a positive number"
    if not fact.unit:
        return f"has no unit (it should be in {unit})"
    if fact.when is not None and fact.when > now + FUTURE_TOLERANCE:
        return f"is dated in the future (after {now.date().isoformat()})"
    return None


def latest_measurement(
    patient: PatientSnapshot,
    knowledge: Knowledge,
    value_set: str,
    unit: str,
    now: datetime,
) -> Measurement | None:
    """The newest observation of `value_set` in `unit`; None when there is none, or when the
    newest cannot be used (`newest_measurement` says why)."""
    return newest_measurement(patient, knowledge, value_set, unit, now).measurement


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


class NoBagStrength(DoseNotComputable):
    """A pump's volume rate (mL/h) beside no blinatumomab strength of the bag: it says nothing
    of the dose (a strength stated but unusable does: `DoseNotComputable`)."""


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
        raise DoseNotComputable(
            "the dose is per administration, and the order gives no frequency that says how many "
            "doses a day"
        )
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


def bag_mcg_per_ml(dosage: DoseInstruction, knowledge: Knowledge) -> Decimal:
    """The blinatumomab concentration of the bag the order's Medication states, in mcg/mL: what
    turns a pump's mL/h into a dose (10 mL/h of 28 mcg in 240 mL is 28 mcg/day). Only the
    blinatumomab strength counts (not the IV Solution Stabilizer beside it), and only in a mass
    per volume. DoseNotComputable when none is stated, one is in another unit, or two disagree:
    a guessed concentration is a guessed dose."""
    codes = knowledge.codes_of("blinatumomab")
    patterns = knowledge.text_patterns("blinatumomab")
    stated = [
        s for s in dosage.bag if not s.codes.isdisjoint(codes) or any(p in s.text for p in patterns)
    ]
    if not stated:
        raise NoBagStrength(
            f"the rate is in {dosage.unit!r}, and the order states no blinatumomab "
            "concentration (mcg per mL) of the bag"
        )
    found: list[Decimal] = []
    for strength in stated:
        if (
            strength.amount is None
            or strength.unit is None
            or not units.is_convertible(strength.unit, MCG_PER_ML)
            or not strength.amount.is_finite()
            or strength.amount <= 0
        ):
            written = f"{format_number(strength.amount, '0.0001')} {strength.unit or ''}".strip()
            raise DoseNotComputable(
                f"the rate is in {dosage.unit!r}, and the bag's blinatumomab strength "
                f"({written}) is not a mass per volume"
            )
        found.append(units.convert(strength.amount, strength.unit, MCG_PER_ML))
    if max(found) - min(found) > min(found) * SAME_MEASUREMENT_PERCENT / 100:
        shown = " and ".join(f"{format_number(v, '0.0001')} mcg/mL" for v in found)
        raise DoseNotComputable(
            f"the rate is in {dosage.unit!r}, and the order states blinatumomab concentrations "
            f"of the bag that disagree ({shown})"
        )
    if found[0] > knowledge.dose.bag_max_mcg_per_ml:
        raise DoseNotComputable(
            f"the rate is in {dosage.unit!r}, and the blinatumomab concentration stated, "
            f"{format_number(found[0], '0.0001')} mcg/mL, is more than any infusion bag holds "
            f"(at most {format_number(knowledge.dose.bag_max_mcg_per_ml)} mcg/mL): it may be the "
            "vial's"
        )
    return found[0]


def ordered_mcg_per_day(
    dosage: DoseInstruction, bsa_m2: Decimal | None, knowledge: Knowledge | None = None
) -> Decimal:
    """The dose of one dosage instruction in mcg/day (per-m² orders use the patient's BSA).

    Accepts a daily amount (`ug/d`, `ug/(24.h)`, `mg/d`), a rate (`ug/h` as rateQuantity), an
    amount per administration (`ug`, `mg`) with timing.repeat frequency/period, the per-m² forms
    of these and, given `knowledge` (what names blinatumomab), a pump's rate (`mL/h`) with the
    bag's concentration (`bag_mcg_per_ml`). Raises DoseNotComputable (BsaNeeded for a per-m²
    order without BSA) otherwise.
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
    if knowledge is not None and units.is_volume_rate(unit):
        return units.convert(amount, unit, ML_PER_DAY) * bag_mcg_per_ml(dosage, knowledge)
    raise DoseNotComputable(f"the unit {unit!r} cannot be converted to mcg/day")


def written_as_rounded(
    written: Decimal, per_day: Decimal, dose: Decimal, max_percent: Decimal
) -> bool:
    """Is the order's number `written` (1.17 of "1.17 ug/h"), whose daily dose is `per_day`, the
    label dose `dose` (in per_day's unit) rounded at the precision it is written with, changing
    the daily dose by at most `max_percent`? 28 mcg/day is 1.1667 mcg/h, which nobody writes:
    1.17 (28.08 mcg/day) is that dose, not an overdose above the 28 mcg/day cap. A rounding
    larger than the bound (1 mcg/h, 24 mcg/day) is a different dose. Either rounding direction
    of a tie (0.625 to 0.63 or 0.62) counts."""
    if not (written.is_finite() and per_day.is_finite()) or min(written, per_day, dose) <= 0:
        return False
    exponent = written.as_tuple().exponent
    if not isinstance(exponent, int):
        return False
    half_digit = Decimal(5).scaleb(exponent - 1)  # half a unit of the last digit written
    exact = dose * written / per_day  # the label dose in the order's own unit, unrounded
    misses = abs(written - exact) / half_digit
    # a number off by over 2 half-digits is no rounding; and quantizing such a miss overflows the
    # context when `written` is a non-terminating quotient (a rateRatio's 40 ug / 24 h)
    if misses > 2:
        return False
    # 12 digits: a tie (0.375 written 0.38) is no miss through the 28th digit of a BSA product
    rounded = misses.quantize(Decimal("1e-12")) <= 1
    return rounded and abs(per_day - dose) <= dose * max_percent / 100


def unusable_text(unusable: Unusable, what: str) -> str:
    """The newest measurement that could not be used, for a card: "the newest body weight on
    file (30000 Kilo, 2026-03-01) has a unit that cannot be read as kg, and no older one was used
    in its place"."""
    fact = unusable.fact
    value = f"{fact.comparator or ''}{format_number(fact.value)}"
    date = fact.when.date().isoformat() if fact.when else "undated"
    return (
        f"the newest {what} on file ({value} {fact.unit or 'without a unit'}, {date}) "
        f"{unusable.why}, and no older one was used in its place"
    )


def _implausible_for_size(
    sent: Decimal, weight_kg: Decimal, patient: PatientSnapshot, knowledge: Knowledge, now: datetime
) -> str | None:
    """Why a recorded BSA cannot be this patient's, when no current height lets Mosteller's check
    it: outside what any plausible height for the age gives at this weight (growth-bounds.yaml).
    A 5-year-old of 18 kg charted 1.4 m² (at most 0.83) had been dosed by it: a 90% overdose."""
    from cds.bsa_bounds import bsa_bounds  # it builds on this module's Mosteller

    bounds = bsa_bounds(weight_kg, patient.age_years(now.date()), knowledge.growth_bounds)
    if bounds.min_m2 <= sent <= bounds.max_m2:
        return None
    side = "more" if sent > bounds.max_m2 else "less"
    return (
        f"the BSA recorded in the chart, {format_number(sent)} m², is {side} than any plausible "
        f"height gives at {format_number(weight_kg)} kg and was not used"
    )


def format_weight(kg: Decimal, threshold_kg: Decimal) -> str:
    """A weight for a card, with the digits it takes to stay on its side of the dosing threshold:
    44.996 kg (99.2 lb) is not "45 kg" on an "under 45 kg" card (redteam4 #8)."""
    for precision in ("0.01", "0.001", "0.0001", "0.00001"):
        text = format_number(kg, precision)
        if (Decimal(text) >= threshold_kg) == (kg >= threshold_kg):
            return text
    return f"{kg:f}"


def body_surface_area(
    patient: PatientSnapshot, knowledge: Knowledge, weight: Measurement | None, now: datetime
) -> tuple[Decimal | None, str]:
    """The BSA the EHR sent (LOINC 8277-6) when current and at least as new as the weight, else
    Mosteller from the latest height and weight."""
    rules = knowledge.dose
    sent = newest_measurement(patient, knowledge, "body_surface_area", "m2", now).measurement
    if sent is not None and is_stale(sent, rules.weight_max_age_days, now):
        sent = None
    height_reading = newest_measurement(patient, knowledge, "body_height", "cm", now)
    height = height_reading.measurement
    computed: Decimal | None = None
    if weight is None:
        reason = "no body weight on file"
    elif height_reading.unusable is not None:
        reason = unusable_text(height_reading.unusable, "height")
    elif height is None:
        reason = "no height on file"
    elif is_stale(height, rules.height_max_age_days, now):
        reason = f"the latest height is older than {rules.height_max_age_days} days"
    else:
        computed = mosteller_bsa(height.value, weight.value)
        kg = format_weight(weight.value, rules.weight_threshold_kg)
        size = f"{format_number(height.value)} cm, {kg} kg"
        reason = f"BSA {format_number(computed)} m² (Mosteller, {size})"
    if sent is not None and computed is None and weight is not None:
        implausible = _implausible_for_size(sent.value, weight.value, patient, knowledge, now)
        if implausible is not None:
            reason += f"; {implausible}"
            sent = None
    if sent is not None and (
        computed is None
        or weight is None
        or weight.when is None
        or (sent.when is not None and sent.when >= weight.when)
    ):
        if computed is None or abs(sent.value - computed) <= computed * (
            rules.sent_bsa_max_difference_percent / 100
        ):
            return sent.value, f"BSA {format_number(sent.value)} m² recorded in the chart"
        reason += (
            f"; the BSA recorded in the chart, {format_number(sent.value)} m², differs from it "
            f"by more than {format_number(rules.sent_bsa_max_difference_percent)}% and was not "
            "used"
        )
    return computed, reason
