"""Turn validated R4 resources into the plain facts of `cds.patient`.

Works on the read models of `cds.fhir.read_models` (validated one by one), which hold only the
elements read here. Datetimes without a zone are taken as UTC so that comparisons never raise.
"""

from __future__ import annotations

import calendar
import dataclasses
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from cds import units
from cds.fhir.codings import UCUM, canonical_system, equivalent_codes
from cds.fhir.references import canonical
from cds.patient import (
    AdministrationFact,
    BagStrength,
    Code,
    ConditionFact,
    DoseInstruction,
    ImmunizationFact,
    MedicationOrder,
    ObservationFact,
)


def as_datetime(value: Any) -> datetime | None:
    """FHIR date/dateTime (as parsed by fhir_core's types, or a string) -> aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                value = date.fromisoformat(value[:10])
            except ValueError:
                return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def is_date_only(value: Any) -> bool:
    """A FHIR dateTime given as a day alone ("2026-03-02"): a whole day, not its midnight."""
    if isinstance(value, str):
        return len(value) == 10 and as_datetime(value) is not None
    return isinstance(value, date) and not isinstance(value, datetime)


def period_end(value: Any) -> datetime | None:
    """A Period's end: a day given alone is inclusive (FHIR: the end "includes any matching
    date/time"), so it ends at the next midnight; "2026-03-08" runs to 2026-03-09T00:00Z."""
    end = as_datetime(value)
    if end is not None and is_date_only(value):
        return end + timedelta(days=1)
    return end


def quantity_unit(quantity: Any) -> str | None:
    """The unit of a Quantity (or Duration): its `code` when that is a UCUM code (`system` UCUM
    or absent), else its human-readable `unit`. A SNOMED or local code is no unit `cds.units`
    converts; the "kg" written beside it is."""
    if quantity is None:
        return None
    # UCUM as systems write it (none, its URL with a slash or https, its OID): an https one read
    # as another system let the text beside the code decide ("mcg/day" beside ug/h: 24x)
    if quantity.code and (quantity.system is None or canonical_system(quantity.system) == UCUM):
        return str(quantity.code)
    # no readable text beside another system's code: the code is all there is (a SNOMED code
    # then reads as no unit and is said so)
    return str(quantity.unit or quantity.code) if quantity.unit or quantity.code else None


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def codes_of(concepts: Any) -> frozenset[Code]:
    """(system, code) of one CodeableConcept or a list of them."""
    if concepts is None:
        return frozenset()
    if not isinstance(concepts, list):
        concepts = [concepts]
    return frozenset(
        (system, code)
        for concept in concepts
        for coding in (concept.coding or [])
        if coding.code
        for system in (canonical_system(coding.system or ""),)  # an OID is the system it names
        for code in equivalent_codes(system, coding.code)
    )


def _texts(concepts: Iterable[Any]) -> str:
    parts: list[str] = []
    for concept in concepts:
        if concept is None:
            continue
        parts.append(concept.text or "")
        parts.extend(coding.display or "" for coding in (concept.coding or []))
    return " ".join(p for p in parts if p).lower()


def observation_fact(model: Any) -> ObservationFact:
    quantity = model.valueQuantity
    reference = (model.referenceRange or [None])[0]
    taken = (
        model.effectiveDateTime
        or (model.effectivePeriod.start if model.effectivePeriod else None)
        or model.effectiveInstant
        or model.issued
    )
    return ObservationFact(
        resource=f"Observation/{model.id}",
        codes=codes_of(model.code),
        when=as_datetime(taken),
        when_timed=taken is not None and not is_date_only(taken),
        status=model.status or "",
        value=_decimal(quantity.value) if quantity else None,
        unit=quantity_unit(quantity),
        value_codes=codes_of(model.valueCodeableConcept),
        value_text=(
            model.valueString
            or (model.valueCodeableConcept.text if model.valueCodeableConcept else None)
        ),
        reference_low=_decimal(reference.low.value) if reference and reference.low else None,
        reference_high=_decimal(reference.high.value) if reference and reference.high else None,
        reference_high_unit=quantity_unit(reference.high) if reference and reference.high else None,
        interpretation=codes_of(model.interpretation),
        comparator=quantity.comparator if quantity else None,
        value_boolean=model.valueBoolean,
        value_date=as_datetime(model.valueDateTime),  # an estimated delivery date
    )


def partial_date_range(value: str) -> tuple[date, date] | None:
    """The first and last day of a FHIR date given as a year or a year and month ("1995",
    "1995-07"); None for anything else (fhir_core has already held it to FHIR's pattern)."""
    parts = value.split("-")
    try:
        if len(parts) == 1:
            year = int(parts[0])
            return date(year, 1, 1), date(year, 12, 31)
        if len(parts) == 2:
            year, month = int(parts[0]), int(parts[1])
            return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    except ValueError:
        return None
    return None


def immunization_fact(model: Any) -> ImmunizationFact:
    occurred = model.occurrenceDateTime
    # a year or a month alone ("2026-02") stays text in fhir_core: the check reads it as its days
    partial = occurred if isinstance(occurred, str) else None
    return ImmunizationFact(
        resource=f"Immunization/{model.id}",
        codes=codes_of(model.vaccineCode),
        when=as_datetime(occurred),
        status=model.status or "",
        text=_texts([model.vaccineCode]),
        date_text=model.occurrenceString if occurred is None else partial,
        recorded=_last_day(model.recorded),
    )


def _last_day(value: Any) -> date | None:
    """The last day a FHIR dateTime can mean: its day, or the last day of a year or a month given
    alone ("2015", "2015-03"); None when there is none."""
    if isinstance(value, str) and (days := partial_date_range(value)) is not None:
        return days[1]
    when = as_datetime(value)
    return when.date() if when is not None else None


def condition_fact(model: Any) -> ConditionFact:
    """A Condition's facts. Its onset: onsetDateTime or onsetPeriod.start; the recordedDate only
    when no onset is stated at all. An onset given as an age, an age range, words or a year alone
    is no date (red team rt12/c N1, N5): `onset_by` (its last possible day, never after the
    recordedDate) and `onset_age` (what the birthDate dates: `ConditionFact.dated`) say it."""

    def status(concept: Any) -> str | None:
        codes = codes_of(concept)
        return next(iter(sorted(code for _, code in codes)), None)

    onset, onset_by = _condition_onset(model)
    recorded = as_datetime(model.recordedDate)
    stated = any(
        getattr(model, name) is not None
        for name in ("onsetDateTime", "onsetPeriod", "onsetAge", "onsetRange", "onsetString")
    )
    if onset is None and not stated:
        onset = recorded  # no onset at all: the entry's date (Epic sends the onset so)
    elif onset is None and recorded is not None:
        onset_by = min(d for d in (onset_by, recorded.date()) if d is not None)
    return ConditionFact(
        resource=f"Condition/{model.id}",
        codes=codes_of(model.code),
        clinical_status=status(model.clinicalStatus),
        verification_status=status(model.verificationStatus),
        onset=onset,
        abatement=_abatement(model),
        text=_texts([model.code]),
        recorded=recorded,
        stage=_texts([stage.summary for stage in model.stage or ()]),
        onset_by=onset_by,
        onset_age=_age(model.onsetAge),
        onset_age_by=_age(model.onsetRange.high if model.onsetRange else None),
        categories=frozenset(
            code for concept in model.category or () for _, code in codes_of(concept)
        ),
    )


def _condition_onset(model: Any) -> tuple[datetime | None, date | None]:
    """(the onset as a date, the last day it may be) of onsetDateTime or onsetPeriod.start: a
    year or a month alone ("2015", "2010-03") is no date, its last day is."""
    started = model.onsetDateTime
    if started is None and model.onsetPeriod is not None:
        started = model.onsetPeriod.start
    if isinstance(started, str) and (days := partial_date_range(started)) is not None:
        return None, days[1]
    return as_datetime(started), None


def _age(quantity: Any) -> tuple[Decimal, str] | None:
    """An Age (or a Range's end) as (value, UCUM unit code; else its unit)."""
    if quantity is None or quantity.value is None:
        return None
    unit = str(quantity.code or quantity.unit or "").strip()
    return (Decimal(str(quantity.value)), unit) if unit else None


def _abatement(model: Any) -> datetime | None:
    """When a condition ended: its abatement date; an abatement without a readable date (an age,
    a range, a string) counts as ended at an unknown time, i.e. before anything now."""
    if model.abatementDateTime is not None:
        return as_datetime(model.abatementDateTime)
    if model.abatementPeriod is not None:
        return as_datetime(model.abatementPeriod.end or model.abatementPeriod.start)
    if any(
        getattr(model, name) is not None
        for name in ("abatementAge", "abatementRange", "abatementString")
    ):
        return datetime.min.replace(tzinfo=UTC)
    return None


@dataclass(frozen=True)
class _Amount:
    """One dose or rate of a doseAndRate; for a Range, its high end (`amount`) and its low end
    (`low`, in `unit`; None when the range gives none or in a unit that does not convert)."""

    amount: Decimal | None
    unit: str | None
    is_rate: bool
    is_range: bool = False
    low: Decimal | None = None

    def as_other(self) -> tuple[Decimal | None, str | None, bool]:
        return self.amount, self.unit, self.is_rate


def _judged(amounts: list[_Amount]) -> _Amount | None:
    """The amount the order is judged by: the first that is a dose. A pump's volume rate (Epic
    lists "10 mL/hr" before "28 mcg/day") says nothing of the dose; only when nothing else is
    given is it judged (and found not computable)."""
    if len(amounts) > 1:
        for found in amounts:
            if not units.is_volume_rate(found.unit):
                return found
    return amounts[0] if amounts else None


GTS_ABBREVIATION = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
ONCE_A_DAY = (1, Decimal(1), "d")


def _says_once_a_day(timing: Any) -> bool:
    """A timing without frequency/period that still says once a day: the HL7 GTS abbreviation QD
    as timing.code, or a single timeOfDay (the dose is given at that time each day), and nothing
    beside it says otherwise: QD beside BID, or at 08:00 and 20:00, is not known to be once a day
    (read as QD, 28 mcg twice a day passed as 28 a day)."""
    codes = codes_of(timing.code)
    times = len(timing.repeat.timeOfDay or ()) if timing.repeat else 0
    if codes:
        return codes == {(GTS_ABBREVIATION, "QD")} and times <= 1
    return times == 1


def _says_more_than_a_frequency(repeat: Any) -> bool:
    """A timing.repeat whose doses a day the reader does not know: on some weekdays only
    (dayOfWeek), a range of frequencies or periods, or several times of day named (`when`). Its
    frequency per period is then not read (QD on Mondays is no dose a day)."""
    return repeat is not None and (
        bool(repeat.dayOfWeek)
        or repeat.frequencyMax is not None
        or repeat.periodMax is not None
        or len(repeat.when or ()) > 1
    )


def _more_times_than_the_frequency(
    timing: Any, repeat: Any, frequency: int | None, period: Decimal | None, unit: str | None
) -> bool:
    """Times of day or events that give more doses a day than the frequency says: once a day at
    08:00 and 20:00, or QD with two events on one day, is not known to be once a day (read as
    once a day, 28 mcg twice a day passed as 28 a day). Read only when the frequency a day is
    the number of times."""
    times = len(repeat.timeOfDay or ()) if repeat is not None else 0
    days: dict[date, int] = {}
    for event in (timing.event or []) if timing is not None else []:
        when = as_datetime(event)
        if when is not None:
            days[when.date()] = days.get(when.date(), 0) + 1
    most = max([times, *days.values()])
    if most <= 1:
        return False
    return not (frequency == most and period == 1 and unit == "d")


def _counted_days(
    repeat: Any, frequency: int | None, period: Decimal | None, unit: str | None
) -> Decimal | None:
    """How long repeat.count administrations at frequency per period last, in days (count 7
    once a day: 7 days); None without a count (or with a larger countMax: then count is only the
    least)."""
    if (
        repeat is None
        or repeat.count is None
        or repeat.countMax not in (None, repeat.count)
        or not frequency
        or period is None
        or period <= 0
    ):
        return None
    return _duration_in_days(Decimal(repeat.count) / frequency * period, unit)


def _dose_instruction(dosage: Any, bag: tuple[BagStrength, ...] = ()) -> DoseInstruction:
    amounts = [
        found for dose_and_rate in dosage.doseAndRate or [] for found in _amounts(dose_and_rate)
    ]
    judged = _judged(amounts)
    repeat = dosage.timing.repeat if dosage.timing else None
    bounds = repeat.boundsPeriod if repeat else None
    duration = repeat.boundsDuration if repeat else None
    frequency = repeat.frequency if repeat else None
    period = _decimal(repeat.period) if repeat else None
    period_unit = repeat.periodUnit if repeat else None
    if _says_more_than_a_frequency(repeat):
        frequency, period, period_unit = None, None, None
    elif frequency is None and period is None and dosage.timing and _says_once_a_day(dosage.timing):
        frequency, period, period_unit = ONCE_A_DAY
    if _more_times_than_the_frequency(dosage.timing, repeat, frequency, period, period_unit):
        frequency, period, period_unit = None, None, None
    duration_days = None
    if duration is not None and duration.value is not None:
        duration_days = _duration_in_days(Decimal(str(duration.value)), quantity_unit(duration))
    elif bounds is None or bounds.end is None:  # no end given: count administrations give one
        duration_days = _counted_days(repeat, frequency, period, period_unit)
    return DoseInstruction(
        sequence=dosage.sequence,
        amount=judged.amount if judged else None,
        unit=judged.unit if judged else None,
        is_rate=judged.is_rate if judged else False,
        frequency=frequency,
        period=period,
        period_unit=period_unit,
        bounds_start=as_datetime(bounds.start) if bounds else None,
        bounds_end=period_end(bounds.end) if bounds else None,
        bounds_duration_days=duration_days,
        events=tuple(
            e
            for e in (
                as_datetime(v) for v in ((dosage.timing.event or []) if dosage.timing else [])
            )
            if e
        ),
        text=dosage.text,
        other_amounts=tuple(a.as_other() for a in amounts if a is not judged),
        as_needed=bool(dosage.asNeededBoolean) or dosage.asNeededCodeableConcept is not None,
        bounds_start_is_date=bounds is not None and is_date_only(bounds.start),
        is_range=judged.is_range if judged else False,
        amount_low=judged.low if judged else None,
        route=codes_of(dosage.route),
        times_of_day=tuple(repeat.timeOfDay or ()) if repeat else (),
        bag=bag,
    )


def _bag_strengths(medication: Any) -> tuple[BagStrength, ...]:
    """What the Medication says it holds: each ingredient's strength, named by its item (a
    concept, or a reference's display), and `amount` named by the Medication's own code."""
    if medication is None:
        return ()
    found = []
    for ingredient in medication.ingredient or []:
        if ingredient.strength is None:
            continue
        item = ingredient.itemCodeableConcept
        if item is None and ingredient.itemReference is not None:
            item = _Text(ingredient.itemReference.display or "")
        concepts = [item] if item is not None else []
        found.append(
            BagStrength(codes_of(concepts), _texts(concepts), *_ratio(ingredient.strength))
        )
    amount, unit = _ratio(medication.amount) if medication.amount is not None else (None, None)
    # `amount` in a mass per volume is the drug's concentration; in anything else (250 mL per
    # bag, 35 ug per vial) it is the package's size, which says nothing of the concentration
    if unit is not None and units.is_convertible(unit, "ug/mL"):
        concepts = [medication.code] if medication.code is not None else []
        found.append(BagStrength(codes_of(concepts), _texts(concepts), amount, unit))
    return tuple(found)


def _amounts(dose_and_rate: Any) -> list[_Amount]:
    """Each dose or rate a doseAndRate gives, in every R4 form: a Quantity; a Range by its high
    end (what a range allows at most; its low end without one), its low end kept beside it; a
    Ratio as numerator over denominator (28 ug / 1 d is 28 ug/d; 28 ug / 24 h, 1.17 ug/h)."""
    found = []
    for quantity, ranged, is_rate in (
        (dose_and_rate.doseQuantity, dose_and_rate.doseRange, False),
        (dose_and_rate.rateQuantity, dose_and_rate.rateRange, True),
    ):
        if ranged is not None and quantity is None:
            top = ranged.high or ranged.low
            if top is not None:
                unit = quantity_unit(top)
                found.append(
                    _Amount(_decimal(top.value), unit, is_rate, True, _low_end(ranged, unit))
                )
        elif quantity is not None:
            found.append(_Amount(_decimal(quantity.value), quantity_unit(quantity), is_rate))
        if is_rate and dose_and_rate.rateRatio is not None:
            found.append(_Amount(*_ratio(dose_and_rate.rateRatio), True))
    return found


def _low_end(ranged: Any, unit: str | None) -> Decimal | None:
    """A Range's low end in `unit` (the unit of its high end; a low end written without a unit
    is in it, as R4 holds both ends to one unit); None when it has none or it does not convert."""
    low = ranged.low
    value = _decimal(low.value) if low is not None else None
    if value is None or unit is None:
        return None
    try:
        return units.convert(value, quantity_unit(low) or unit, unit)
    except units.UnitError:
        return None


def _ratio(ratio: Any) -> tuple[Decimal | None, str | None]:
    top, bottom = ratio.numerator, ratio.denominator
    top_unit = quantity_unit(top)
    bottom_unit = quantity_unit(bottom)
    value, per = _decimal(top.value) if top else None, _decimal(bottom.value) if bottom else None
    if value is None or not top_unit or not bottom_unit:
        return None, None  # no amount, or a ratio without its time: said not computable
    amount = value / per if per else value  # a denominator without a value is one of its unit
    return amount, f"{top_unit}/{bottom_unit}"


def _duration_in_days(value: Decimal, unit: str | None) -> Decimal | None:
    try:
        return units.duration(value, unit, "d")
    except units.UnitError:
        return None


@dataclass(frozen=True)
class Conflicting:
    """An extension sent more than once with different values (treatment cycle 1, then 2): which
    one holds is unknown, so it reads as none of them (`cds.orders.cycle_of`: no cycle coded), not
    as the last one, silently."""

    values: tuple[Any, ...]


def _extensions(model: Any) -> dict[str, Any]:
    """Extension url -> its value; the same value sent twice is that value, different values are
    `Conflicting`."""
    found: dict[str, Any] = {}
    for extension in model.extension or []:
        value = next(
            (
                getattr(extension, name)
                for name in type(extension).model_fields
                if name.startswith("value") and getattr(extension, name) is not None
            ),
            None,
        )
        if extension.url in found and found[extension.url] != value:
            before = found[extension.url]
            earlier = before.values if isinstance(before, Conflicting) else (before,)
            value = Conflicting((*earlier, value))
        found[extension.url] = value
    return found


def medication_concepts(model: Any, medications: Mapping[str, Any] | None) -> list[Any]:
    """What names the medication of a MedicationRequest or MedicationAdministration: its
    CodeableConcept, or its referenced Medication's code (contained, or among `medications`,
    Medication models keyed by the reference as written) and the reference's display."""
    concepts: list[Any] = [model.medicationCodeableConcept]
    medication = _medication(model, medications)
    if medication is not None:
        concepts.append(medication.code)
    if model.medicationReference is not None and model.medicationReference.display:
        concepts.append(_Text(model.medicationReference.display))
    return [c for c in concepts if c is not None]


def _medication(model: Any, medications: Mapping[str, Any] | None) -> Any:
    """The Medication a medicationReference names: contained (`#id`), or among `medications`
    (keyed by the reference as written); None when there is none or it is not at hand."""
    reference = model.medicationReference.reference if model.medicationReference else None
    if not reference:
        return None
    if reference.startswith("#"):
        return next(
            (c for c in (model.contained or []) if getattr(c, "id", None) == reference[1:]), None
        )
    return medications.get(reference) if medications else None


def medication_order(
    model: Any, raw: Mapping[str, Any], medications: Mapping[str, Any] | None = None
) -> MedicationOrder:
    """A MedicationRequest with its medication resolved from `contained` or `medications`
    (Medication models keyed by `Medication/id`)."""
    concepts = medication_concepts(model, medications)
    bag = _bag_strengths(_medication(model, medications))
    supply = model.dispenseRequest.expectedSupplyDuration if model.dispenseRequest else None
    sent_dosages = _raw_dosages(raw)
    zone, stated = _zone_of([_raw_bounds(m) for m in sent_dosages], model.authoredOn)
    return MedicationOrder(
        resource=f"MedicationRequest/{model.id or 'unidentified'}",
        status=model.status or "",
        intent=model.intent or "",
        codes=codes_of(concepts),
        text=_texts(concepts),
        authored_on=as_datetime(model.authoredOn),
        dosages=_as_steps(
            tuple(_dose_instruction(d, bag) for d in (model.dosageInstruction or [])),
            sent_dosages,
            zone,
        ),
        reason_codes=codes_of(model.reasonCode),
        extensions=_extensions(model),
        notes=tuple(n.text for n in (model.note or []) if n.text),
        supply_duration=(Decimal(str(supply.value)), quantity_unit(supply) or "")
        if supply is not None and supply.value is not None
        else None,
        encounter=canonical(model.encounter.reference) if model.encounter else None,
        category=codes_of(model.category),
        raw=raw,
        last_updated=_last_updated(raw),
        replaces=canonical(model.priorPrescription.reference) if model.priorPrescription else None,
        repeats_allowed=model.dispenseRequest.numberOfRepeatsAllowed
        if model.dispenseRequest
        else None,
        day_zone=zone,
        day_zone_stated=stated,
    )


def _zone_of(sent: list[tuple[Any, Any]], authored: Any) -> tuple[tzinfo, bool]:
    """The order's own offset: that of its first timed bound, else of authoredOn; UTC without
    either (`_as_steps`); and whether a timed bound states it."""
    timed = [
        value
        for start, end in sent
        for value in (start, end)
        if value is not None and not is_date_only(value)
    ]
    anchor = as_datetime(timed[0]) if timed else None
    stated = anchor is not None
    if anchor is None and authored is not None and not is_date_only(authored):
        anchor = as_datetime(authored)
    zone = anchor.tzinfo if anchor is not None and anchor.tzinfo is not None else UTC
    return zone, stated


def _hand_over(
    this: DoseInstruction, following: DoseInstruction, end_is_date: bool, zone: tzinfo
) -> tuple[DoseInstruction, DoseInstruction, bool]:
    """A step and the next one as one infusion passing from one to the other (`_as_steps`):
    this step's day-only end on the day the next starts ends it as the next begins (Epic; True:
    that convention was used), and a next day-only start on the day a timed end falls begins
    when this one ends."""
    begin, end = following.bounds_start, this.bounds_end
    if begin is None or end is None or this.bounds_start is None or begin <= this.bounds_start:
        return this, following, False
    if end_is_date and (end - timedelta(days=1)).date() == begin.astimezone(zone).date():
        return dataclasses.replace(this, bounds_end=begin), following, True
    if (
        following.bounds_start_is_date
        and not end_is_date
        and begin < end
        and end.astimezone(zone).date() == begin.astimezone(zone).date()
    ):
        return this, dataclasses.replace(following, bounds_start=end), False
    return this, following, False


def signed_hand_over(earlier: MedicationOrder, later: MedicationOrder) -> MedicationOrder:
    """`earlier` as a step-up written as two orders signed together reads it (design.md): its last
    step hands over to `later`'s first as the steps of one order do (`_hand_over`): an end given
    as the day `later` starts is a hand-over, not a day of both. Only the earlier order's end
    moves (the later's own ends are its own convention); `later`'s day-only start on the day a
    timed end falls: `signed_take_over`."""
    sent_dosages = _raw_dosages(earlier.raw)
    if not earlier.dosages or not later.dosages or len(sent_dosages) != len(earlier.dosages):
        return earlier
    sent = [_raw_bounds(m) for m in sent_dosages]
    zone = earlier.day_zone
    last = max(
        range(len(earlier.dosages)),
        key=lambda i: (earlier.dosages[i].sequence is not None, earlier.dosages[i].sequence or 0),
    )
    first = later.ordered_dosages()[0]
    end = sent[last][1]
    this, _, _ = _hand_over(
        earlier.dosages[last], first, isinstance(end, str) and is_date_only(end), zone
    )
    if this is earlier.dosages[last]:
        return earlier
    dosages = list(earlier.dosages)
    dosages[last] = this
    return dataclasses.replace(earlier, dosages=tuple(dosages))


def signed_take_over(earlier: MedicationOrder, later: MedicationOrder) -> MedicationOrder:
    """`later` as a step-up written as two orders signed together reads it: its first step's
    start given as a day alone, on the day `earlier`'s last step's timed end falls (in `later`'s
    day offset), begins when that step ends, as the steps of one order do (`_hand_over`): "from
    03-09" after a bag that runs until 10:00 on 03-09 is hung at 10:00, not 10 h of both (red team
    rt12-d F6). Otherwise `later` unchanged."""
    sent_dosages = _raw_dosages(earlier.raw)
    if not earlier.dosages or not later.dosages or len(sent_dosages) != len(earlier.dosages):
        return later
    last = max(
        range(len(earlier.dosages)),
        key=lambda i: (earlier.dosages[i].sequence is not None, earlier.dosages[i].sequence or 0),
    )
    end = _raw_bounds(sent_dosages[last])[1]
    first = later.ordered_dosages()[0]
    _, following, _ = _hand_over(
        earlier.dosages[last], first, isinstance(end, str) and is_date_only(end), later.day_zone
    )
    if following is first:
        return later
    dosages = tuple(following if d is first else d for d in later.dosages)
    return dataclasses.replace(later, dosages=dosages)


def _raw_dosages(raw: Mapping[str, Any]) -> list[Any]:
    """An order's dosageInstruction as sent: its bounds as written (a day alone or a time)."""
    dosages = raw.get("dosageInstruction")
    return dosages if isinstance(dosages, list) else []


def _raw_bounds(dosage: Any) -> tuple[Any, Any]:
    """boundsPeriod (start, end) of a raw dosageInstruction, as sent (None where absent)."""
    timing = dosage.get("timing") if isinstance(dosage, dict) else None
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    bounds = repeat.get("boundsPeriod") if isinstance(repeat, dict) else None
    if not isinstance(bounds, dict):
        return None, None
    return bounds.get("start"), bounds.get("end")


def _raw_events(dosage: Any) -> list[Any]:
    """timing.event of a raw dosageInstruction, as sent (a day alone or a time). JSON objects
    are dicts: `dict`, not `Mapping`, spares an ABC check on every order of every call."""
    timing = dosage.get("timing") if isinstance(dosage, dict) else None
    events = timing.get("event") if isinstance(timing, dict) else None
    return [e for e in events if isinstance(e, str)] if isinstance(events, list) else []


def _as_steps(
    dosages: tuple[DoseInstruction, ...], sent_dosages: list[Any], zone: tzinfo
) -> tuple[DoseInstruction, ...]:
    """The dosages of one order read as the steps of one schedule (design contract: ordered by
    sequence, each bounded by boundsDuration or boundsPeriod):

    - a day given alone is that calendar day in the order's own offset (`zone`: that of its
      first timed bound, else of authoredOn; UTC without either), not UTC's: "2026-03-09" beside
      "2026-03-02T10:00:00+01:00" begins at 00:00+01:00; so is a timing event given as a day
      (a steroid dated "2026-03-03" is not 19:00 of the 2nd at -05:00);
    - a day given alone as a step's end that is the day the next step starts is the day the
      infusion passes from one to the other (Epic's "end = the next step's start"), not a day
      of both: the step ends when the next begins, and the order's last day given alone as an
      end is exclusive too (that convention is the order's); a next step's day-only start on
      the day a timed end falls begins "some time that day": when this one ends;
    - steps sent before the first dated one with a boundsDuration alone (7 days, then a step
      from 2026-03-09) end where the next begins: 2026-03-02 to 2026-03-09, not both from the
      9th (the order's own arithmetic, design contract). Only strictly sequenced steps are a
      chain; unsequenced dosages are not moved."""
    if not dosages or len(sent_dosages) != len(dosages):
        return dosages
    sent = [_raw_bounds(m) for m in sent_dosages]
    steps = list(dosages)
    end_is_date = []
    for index, (dosage, (start, end)) in enumerate(zip(dosages, sent, strict=True)):
        changes: dict[str, Any] = {}
        events = _raw_events(sent_dosages[index])
        if any(is_date_only(event) for event in events) and len(events) == len(dosage.events):
            changes["events"] = tuple(
                when.replace(tzinfo=zone) if is_date_only(event) else when
                for event, when in zip(events, dosage.events, strict=True)
            )
        if start is not None and is_date_only(start) and dosage.bounds_start is not None:
            changes["bounds_start"] = dosage.bounds_start.replace(tzinfo=zone)
        if end is not None and is_date_only(end) and dosage.bounds_end is not None:
            changes["bounds_end"] = dosage.bounds_end.replace(tzinfo=zone)
        end_is_date.append(end is not None and is_date_only(end))
        if changes:
            steps[index] = dataclasses.replace(dosage, **changes)
    order = sorted(
        range(len(steps)), key=lambda i: (steps[i].sequence is None, steps[i].sequence or 0)
    )
    epic = False  # a day given alone as an end is the next step's start: the order's ends
    for here, after in itertools.pairwise(order):
        this, following = steps[here], steps[after]
        if this.sequence is not None and this.sequence == following.sequence:
            continue  # one sequence: given together (FHIR R4), no hand-over between them
        steps[here], steps[after], handed = _hand_over(this, following, end_is_date[here], zone)
        epic = epic or handed
    if epic:  # so is its last step's: "2026-03-09" to "2026-03-30" is 21 days, not 22
        last = steps[order[-1]]
        if end_is_date[order[-1]] and last.bounds_end is not None:
            steps[order[-1]] = dataclasses.replace(
                last, bounds_end=last.bounds_end - timedelta(days=1)
            )
    sequences = [steps[i].sequence for i in order]
    dated = next((n for n, i in enumerate(order) if steps[i].bounds_start is not None), None)
    if (
        dated
        and None not in sequences[: dated + 1]
        and len(set(sequences[: dated + 1])) == dated + 1
        and all(
            steps[i].bounds_duration_days is not None and steps[i].bounds_end is None
            for i in order[:dated]
        )
    ):
        cursor = steps[order[dated]].bounds_start
        is_date = steps[order[dated]].bounds_start_is_date
        for i in reversed(order[:dated]):
            days = steps[i].bounds_duration_days
            assert cursor is not None and days is not None
            cursor = cursor - timedelta(days=float(days))
            steps[i] = dataclasses.replace(
                steps[i], bounds_start=cursor, bounds_start_is_date=is_date
            )
    return tuple(steps)


def _last_updated(raw: Mapping[str, Any]) -> datetime | None:
    """meta.lastUpdated as sent, read leniently from the raw JSON: no check depends on it alone,
    so an odd value is no reason to refuse the order (it is then unknown)."""
    meta = raw.get("meta")
    return as_datetime(meta.get("lastUpdated")) if isinstance(meta, dict) else None


def administration_fact(
    model: Any, medications: Mapping[str, Any] | None = None
) -> AdministrationFact:
    """A MedicationAdministration's medication and the time it covered."""
    concepts = medication_concepts(model, medications)
    period = model.effectivePeriod
    return AdministrationFact(
        resource=f"MedicationAdministration/{model.id or 'unidentified'}",
        status=model.status or "",
        codes=codes_of(concepts),
        text=_texts(concepts),
        start=as_datetime(model.effectiveDateTime or (period.start if period else None)),
        end=as_datetime(period.end) if period else None,
        request=canonical(model.request.reference) if model.request else None,
    )


class _Text:
    """A stand-in CodeableConcept carrying only text (medicationReference.display)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.coding: list[Any] = []
