"""Dose arithmetic: Mosteller BSA, the latest usable measurement, staleness, and every form an order
can write its dose in, expressed in mcg/day."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from cds.dosing import (
    BsaNeeded,
    DoseNotComputable,
    Measurement,
    bag_mcg_per_ml,
    body_surface_area,
    is_per_m2,
    is_stale,
    latest_measurement,
    mosteller_bsa,
    newest_measurement,
    ordered_mcg_per_day,
    ordered_mcg_per_m2_per_day,
    written_as_rounded,
)
from cds.knowledge import Knowledge, load_knowledge
from cds.patient import BagStrength, DoseInstruction, ObservationFact, PatientSnapshot
from cds.units import convert

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CENT = Decimal("0.01")
LOINC = "http://loinc.org"
WEIGHT = frozenset({(LOINC, "29463-7")})


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge()


@pytest.mark.parametrize(
    ("height_cm", "weight_kg", "bsa"),
    [
        pytest.param("180", "80", "2.00", id="180 cm 80 kg: 2.00 m2 (Mosteller's worked case)"),
        pytest.param("150", "24", "1.00", id="150 cm 24 kg: exactly 1 m2"),
        pytest.param("170", "70", "1.82", id="average adult 170 cm 70 kg: 1.82 m2"),
        pytest.param("135", "30", "1.06", id="child 135 cm 30 kg: 1.06 m2"),
        pytest.param("100", "16", "0.67", id="child 100 cm 16 kg: 0.67 m2"),
        pytest.param("50", "3.5", "0.22", id="newborn 50 cm 3.5 kg: 0.22 m2"),
    ],
)
def test_mosteller_bsa_against_published_values(height_cm: str, weight_kg: str, bsa: str) -> None:
    assert mosteller_bsa(Decimal(height_cm), Decimal(weight_kg)).quantize(CENT) == Decimal(bsa)


def test_mosteller_in_inches_and_pounds_agrees_with_the_metric_form() -> None:
    """Mosteller's letter also gives sqrt(in × lb / 3131): converting units gives the same BSA."""
    inches, pounds = Decimal("69.3"), Decimal("154")
    imperial = (inches * pounds / Decimal(3131)).sqrt()
    metric = mosteller_bsa(convert(inches, "[in_i]", "cm"), convert(pounds, "[lb_av]", "kg"))
    assert abs(metric - imperial) < Decimal("0.005")


def test_mosteller_refuses_non_positive_measurements() -> None:
    with pytest.raises(ValueError):
        mosteller_bsa(Decimal(0), Decimal(70))


def _dosage(
    amount: str | None,
    unit: str | None,
    *,
    frequency: int | None = None,
    period: str | None = None,
    period_unit: str | None = None,
    rate: bool = False,
) -> DoseInstruction:
    return DoseInstruction(
        sequence=1,
        amount=None if amount is None else Decimal(amount),
        unit=unit,
        is_rate=rate,
        frequency=frequency,
        period=None if period is None else Decimal(period),
        period_unit=period_unit,
        bounds_start=None,
        bounds_end=None,
        bounds_duration_days=Decimal(7),
        events=(),
        text=None,
    )


@pytest.mark.parametrize(
    ("dosage", "bsa", "mcg_per_day"),
    [
        pytest.param(_dosage("9", "ug/d"), None, "9.00", id="9 ug/d"),
        pytest.param(_dosage("0.028", "mg/d"), None, "28.00", id="0.028 mg/d"),
        pytest.param(_dosage("28", "ug/(24.h)"), None, "28.00", id="28 ug/(24.h)"),
        pytest.param(
            _dosage("1.1667", "ug/h", rate=True), None, "28.00", id="1.1667 ug/h rateQuantity"
        ),
        pytest.param(
            _dosage("28", "ug", frequency=1, period="1", period_unit="d"),
            None,
            "28.00",
            id="28 ug once a day",
        ),
        pytest.param(
            _dosage("14", "ug", frequency=2, period="1", period_unit="d"),
            None,
            "28.00",
            id="14 ug twice a day",
        ),
        pytest.param(
            _dosage("0.375", "ug", frequency=1, period="1", period_unit="h"),
            None,
            "9.00",
            id="0.375 ug every hour",
        ),
        pytest.param(
            _dosage("63", "ug", frequency=1, period="1", period_unit="wk"),
            None,
            "9.00",
            id="63 ug over a 7-day bag",
        ),
        pytest.param(
            _dosage("15", "ug/m2/d"), Decimal("1.06"), "15.90", id="15 ug/m2/d at BSA 1.06"
        ),
        pytest.param(
            _dosage("0.005", "mg/m2/d"), Decimal("2.0"), "10.00", id="0.005 mg/m2/d at BSA 2.0"
        ),
        pytest.param(
            _dosage("5", "ug/m2", frequency=1, period="1", period_unit="d"),
            Decimal("1.2"),
            "6.00",
            id="5 ug/m2 once a day at BSA 1.2",
        ),
    ],
)
def test_ordered_dose_in_mcg_per_day(
    dosage: DoseInstruction, bsa: Decimal | None, mcg_per_day: str
) -> None:
    assert ordered_mcg_per_day(dosage, bsa).quantize(CENT) == Decimal(mcg_per_day)


@pytest.mark.parametrize(
    ("dosage", "reason"),
    [
        pytest.param(_dosage("2", "{pill}"), "cannot be converted", id="{pill}"),
        pytest.param(_dosage("240", "mL"), "cannot be converted", id="mL (volume)"),
        pytest.param(_dosage("10", "mL/h", rate=True), "cannot be converted", id="mL/h pump rate"),
        pytest.param(_dosage("28", "ug"), "no frequency", id="ug without timing"),
        pytest.param(
            _dosage("28", "ug", frequency=1, period="1", period_unit="{bag}"),
            "period unit",
            id="ug with an unknown period unit",
        ),
        pytest.param(_dosage(None, None), "no dose quantity", id="no dose"),
        pytest.param(_dosage("-9", "ug/d"), "negative", id="negative dose"),
    ],
)
def test_doses_that_cannot_be_expressed_in_mcg_per_day_say_why(
    dosage: DoseInstruction, reason: str
) -> None:
    with pytest.raises(DoseNotComputable, match=reason):
        ordered_mcg_per_day(dosage, Decimal("1.8"))


def test_a_per_m2_order_without_bsa_asks_for_the_bsa_and_is_still_readable_per_m2() -> None:
    dosage = _dosage("5", "ug/m2/d")
    assert is_per_m2("ug/m2/d") and is_per_m2("mg/m2/d") and is_per_m2("ug/m2")
    assert not is_per_m2("ug/d") and not is_per_m2(None) and not is_per_m2("{pill}")
    with pytest.raises(BsaNeeded):
        ordered_mcg_per_day(dosage, None)
    assert ordered_mcg_per_m2_per_day(dosage) == Decimal(5)
    with pytest.raises(DoseNotComputable):
        ordered_mcg_per_m2_per_day(_dosage("9", "ug/d"))


def _weight(
    oid: str, value: str | None, unit: str | None, when: datetime | None, status: str = "final"
) -> ObservationFact:
    return ObservationFact(
        resource=f"Observation/{oid}",
        codes=WEIGHT,
        when=when,
        status=status,
        value=None if value is None else Decimal(value),
        unit=unit,
    )


def _chart(*weights: ObservationFact) -> PatientSnapshot:
    return PatientSnapshot(patient_id="p", birth_date=None, gender=None, observations=weights)


def test_latest_weight_is_the_newest_usable_one_converted_to_kg(knowledge: Knowledge) -> None:
    patient = _chart(
        _weight("old", "71", "kg", NOW - timedelta(days=20)),
        _weight("lb", "154", "[lb_av]", NOW - timedelta(days=3)),
        _weight("error", "700", "kg", NOW - timedelta(days=1), status="entered-in-error"),
        _weight("not-measured", None, None, NOW - timedelta(hours=5)),  # dataAbsentReason
        _weight("undated", "90", "kg", None),
    )
    latest = latest_measurement(patient, knowledge, "body_weight", "kg", NOW)
    assert latest is not None
    assert latest.resource == "Observation/lb"
    assert latest.value.quantize(CENT) == Decimal("69.85")


@pytest.mark.parametrize(
    ("newest", "why"),
    [
        pytest.param(
            _weight("kilo", "30", "Kilo", NOW - timedelta(days=1)),
            "has a unit that cannot be read as kg",
            id="child: newest weight 30 'Kilo' yesterday -> unreadable, 46 kg not used",
        ),
        pytest.param(
            _weight("annotation", "30", "{kilos}", NOW - timedelta(days=1)),
            "has a unit that cannot be read as kg",
            id="newest weight 30 '{kilos}' -> unreadable",
        ),
        pytest.param(
            _weight("no-unit", "30", None, NOW - timedelta(days=1)),
            "has no unit (it should be in kg)",
            id="newest weight 30 without a unit -> unreadable",
        ),
        pytest.param(
            _weight("zero", "0", "kg", NOW - timedelta(days=1)),
            "is not a positive number",
            id="newest weight 0 kg -> unusable",
        ),
        pytest.param(
            _weight("future", "50", "kg", datetime(2062, 2, 27, 9, 10, tzinfo=UTC)),
            "is dated in the future (after 2026-03-02)",
            id="newest weight 50 kg dated 2062 -> not the current weight",
        ),
        pytest.param(
            _weight("tomorrow", "50", "kg", NOW + timedelta(days=1, minutes=1)),
            "is dated in the future (after 2026-03-02)",
            id="newest weight dated a day and a minute ahead -> not the current weight",
        ),
    ],
)
def test_an_unusable_newest_weight_is_said_and_no_older_one_stands_in(
    knowledge: Knowledge, newest: ObservationFact, why: str
) -> None:
    patient = _chart(_weight("older", "46", "kg", NOW - timedelta(days=20)), newest)
    reading = newest_measurement(patient, knowledge, "body_weight", "kg", NOW)
    assert reading.measurement is None
    assert reading.unusable is not None
    assert reading.unusable.fact == newest
    assert reading.unusable.why == why
    assert latest_measurement(patient, knowledge, "body_weight", "kg", NOW) is None


def test_a_bound_is_no_measurement(knowledge: Knowledge) -> None:
    bound = dataclasses.replace(
        _weight("scale-max", "150", "kg", NOW - timedelta(days=1)), comparator=">"
    )
    patient = _chart(_weight("older", "46", "kg", NOW - timedelta(days=20)), bound)
    reading = newest_measurement(patient, knowledge, "body_weight", "kg", NOW)
    assert reading.measurement is None and reading.unusable is not None
    assert reading.unusable.why == "is a bound (>), not a measurement"


def test_no_usable_weight_gives_none(knowledge: Knowledge) -> None:
    patient = PatientSnapshot(
        patient_id="p",
        birth_date=None,
        gender=None,
        observations=(_weight("zero", "0", "kg", NOW),),
    )
    assert latest_measurement(patient, knowledge, "body_weight", "kg", NOW) is None


@pytest.mark.parametrize(
    ("age", "stale"),
    [
        pytest.param(timedelta(days=30), False, id="exactly 30 days old: current"),
        pytest.param(timedelta(days=30, minutes=1), True, id="30 days and a minute: stale"),
        pytest.param(timedelta(days=-1), False, id="dated tomorrow: not stale"),
        pytest.param(None, True, id="undated: stale"),
    ],
)
def test_staleness_of_a_measurement(age: timedelta | None, stale: bool) -> None:
    when = None if age is None else NOW - age
    assert is_stale(Measurement(Decimal(70), when, "Observation/w"), 30, NOW) is stale


@pytest.mark.parametrize(
    ("written", "per_written", "dose", "counts"),
    [
        pytest.param("1.17", "24", "28", True, id="1.17 mcg/h is 28 mcg/day (1.1667) rounded"),
        pytest.param("1.167", "24", "28", True, id="1.167 mcg/h: 28/24 to 3 decimals"),
        pytest.param("1.2", "24", "28", True, id="1.2 mcg/h: 28.8 a day, +2.9%, within 3%"),
        pytest.param("1", "24", "28", False, id="1 mcg/h: a rounding of 1.1667, but -14%"),
        pytest.param("1.25", "24", "28", False, id="1.25 mcg/h (30 a day): no rounding of 1.1667"),
        pytest.param("0.38", "24", "9", True, id="0.38 mcg/h is 9 mcg/day (0.375) rounded up"),
        pytest.param("0.37", "24", "9", True, id="0.37 mcg/h: 0.375 rounded half to even"),
        pytest.param("0.4", "24", "9", False, id="0.4 mcg/h: 9.6 a day, +6.7%, beyond 3%"),
        pytest.param("0.63", "24", "15", True, id="0.63 mcg/m2/h is 15 mcg/m2/day rounded"),
        pytest.param("0.21", "24", "5", True, id="0.21 mcg/m2/h is 5 mcg/m2/day rounded"),
        pytest.param("0.00117", "24000", "28", True, id="0.00117 mg/h is 28 mcg/day rounded"),
        pytest.param("28.5", "1", "28", False, id="28.5 mcg/day is no rounding of 28"),
        pytest.param("0.03", "1000", "28", False, id="0.03 mg/day: a rounding of 0.028, but +7%"),
        pytest.param("0", "24", "28", False, id="nothing written"),
    ],
)
def test_a_number_written_rounded_counts_as_the_dose_it_rounds(
    written: str, per_written: str, dose: str, counts: bool
) -> None:
    """A rate is the label dose rounded at the precision written (dose.yaml, 3%)."""
    amount = Decimal(written)
    per_day = amount * Decimal(per_written)
    assert written_as_rounded(amount, per_day, Decimal(dose), Decimal(3)) is counts


def test_the_rounding_bound_comes_from_the_dose_knowledge(knowledge: Knowledge) -> None:
    rules = knowledge.dose
    assert rules.rate_rounding_max_percent == Decimal(3)
    assert rules.rate_rounding_source in knowledge.sources


def _measured(oid: str, loinc: str, value: str, unit: str) -> ObservationFact:
    return ObservationFact(
        resource=f"Observation/{oid}",
        codes=frozenset({("http://loinc.org", loinc)}),
        when=NOW - timedelta(days=2),
        status="final",
        value=Decimal(value),
        unit=unit,
    )


def _child(*observations: ObservationFact, born: date) -> PatientSnapshot:
    return PatientSnapshot(
        patient_id="p", birth_date=born, gender="female", observations=observations
    )


def test_an_infants_length_measured_lying_gives_the_bsa(knowledge: Knowledge) -> None:
    """7 kg, 66 cm charted as LOINC 8306-3 (body height, lying), as infant flowsheets send it:
    Mosteller 0.36 m², not "no height on file" (red team 4, case 184)."""
    weight = _measured("wt", "29463-7", "7", "kg")
    infant = _child(weight, _measured("len", "8306-3", "66", "cm"), born=date(2025, 8, 1))
    bsa, basis = body_surface_area(
        infant, knowledge, Measurement(Decimal(7), NOW, "Observation/wt"), NOW
    )
    assert bsa is not None and bsa.quantize(Decimal("0.01")) == Decimal("0.36"), basis


@pytest.mark.parametrize(
    ("sent", "used"),
    [
        ("1.4", False),  # 18 kg at 5: any plausible height gives at most 0.83 m²
        ("0.4", False),  # and at least 0.67
        ("0.75", True),
    ],
)
def test_a_recorded_bsa_without_a_height_is_held_to_what_the_weight_and_age_allow(
    knowledge: Knowledge, sent: str, used: bool
) -> None:
    """A 5-year-old of 18 kg, no height, a BSA recorded in the chart: one no child of that
    weight and age can have is not dosed by (it had hidden a 90% overdose, red team 4)."""
    child = _child(
        _measured("wt", "29463-7", "18", "kg"),
        _measured("bsa", "8277-6", sent, "m2"),
        born=date(2020, 6, 1),
    )
    bsa, basis = body_surface_area(
        child, knowledge, Measurement(Decimal(18), NOW, "Observation/wt"), NOW
    )
    assert (bsa == Decimal(sent)) is used, basis
    assert ("was not used" in basis) is not used


BLINATUMOMAB_IN = frozenset({("http://www.nlm.nih.gov/research/umls/rxnorm", "1597258")})


def _bag(*strengths: tuple[frozenset[tuple[str, str]], str, str, str]) -> tuple[BagStrength, ...]:
    return tuple(
        BagStrength(codes, text, Decimal(amount), unit) for codes, text, amount, unit in strengths
    )


def test_a_pump_rate_is_a_dose_only_with_the_bags_blinatumomab_concentration(
    knowledge: Knowledge,
) -> None:
    """10 mL/h of 28 mcg in 240 mL is 28 mcg/day; the stabilizer's strength beside it is not
    blinatumomab's; without `knowledge` (what names blinatumomab) no rate in mL/h is read."""
    bag = _bag(
        (BLINATUMOMAB_IN, "", str(Decimal(28) / 240), "ug/mL"),
        (frozenset(), "iv solution stabilizer", "5", "mg/mL"),
    )
    dosage = dataclasses.replace(_dosage("10", "mL/h", rate=True), bag=bag)
    assert bag_mcg_per_ml(dosage, knowledge).quantize(Decimal("0.0001")) == Decimal("0.1167")
    assert ordered_mcg_per_day(dosage, None, knowledge).quantize(CENT) == Decimal("28.00")
    by_text = dataclasses.replace(dosage, bag=_bag((frozenset(), "blincyto", "0.1", "mg/L")))
    assert ordered_mcg_per_day(by_text, None, knowledge) == Decimal(24)
    with pytest.raises(DoseNotComputable, match="cannot be converted"):
        ordered_mcg_per_day(dosage, None)


@pytest.mark.parametrize(
    ("bag", "reason"),
    [
        pytest.param((), "no blinatumomab concentration", id="no Medication"),
        pytest.param(
            _bag((frozenset(), "iv solution stabilizer", "5", "mg/mL")),
            "no blinatumomab concentration",
            id="the stabilizer's strength only",
        ),
        pytest.param(
            _bag((BLINATUMOMAB_IN, "", "35", "ug/{vial}")), "not a mass per volume", id="per vial"
        ),
        pytest.param(_bag((BLINATUMOMAB_IN, "", "0", "ug/mL")), "not a mass per volume", id="zero"),
        pytest.param(
            _bag((BLINATUMOMAB_IN, "", "0.1167", "ug/mL"), (BLINATUMOMAB_IN, "", "0.35", "ug/mL")),
            "disagree",
            id="two concentrations",
        ),
    ],
)
def test_a_pump_rate_without_one_clear_concentration_is_not_a_dose(
    knowledge: Knowledge, bag: tuple[BagStrength, ...], reason: str
) -> None:
    dosage = dataclasses.replace(_dosage("10", "mL/h", rate=True), bag=bag)
    with pytest.raises(DoseNotComputable, match=reason):
        ordered_mcg_per_day(dosage, None, knowledge)
