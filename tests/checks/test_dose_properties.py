"""Properties of the dose check over the whole space of patients and schedules.

For any weight (3-150 kg), height (50-210 cm), indication, cycle and day of the label's schedules:
- the label's own dose (fixed from 45 kg, per m² × Mosteller BSA below, never above the cap) never
  draws a warning or critical dose card;
- a dose above the schedule by more than the tolerance always draws a critical card;
- whatever the indication and cycle, a dose above the 28 mcg/day cap is critical even when neither
  is known.
The expected dose is computed here from dose.yaml's numbers and Mosteller's formula, independently
of the check's code.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cds.checks import CheckInput, run_checks
from cds.checks.dose import CHECK
from cds.findings import Finding
from cds.knowledge import DoseSchedule, load_knowledge
from cds.orders import OrderUnderReview
from cds.patient import DoseInstruction, MedicationOrder, ObservationFact, PatientSnapshot
from tests.conftest import NOW

KNOWLEDGE = load_knowledge()
RULES = KNOWLEDGE.dose
CENT = Decimal("0.01")
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
TOLERANCE_UP = 1 + RULES.tolerance_above_percent / 100
TOLERANCE_DOWN = 1 - RULES.tolerance_below_percent / 100
PROPERTY = settings(max_examples=200, deadline=None)


def _observation(oid: str, loinc: str, value: Decimal, unit: str) -> ObservationFact:
    return ObservationFact(
        resource=f"Observation/{oid}",
        codes=frozenset({(LOINC, loinc)}),
        when=NOW - timedelta(days=2),
        status="final",
        value=value,
        unit=unit,
    )


def _check(
    weight_kg: Decimal,
    height_cm: Decimal,
    indication: str | None,
    cycle: int | None,
    day: int,
    amount: Decimal,
    unit: str = "ug/d",
) -> list[Finding]:
    """One 1-day bag of `amount` `unit` on `day` of `cycle`, for a patient just weighed."""
    dosage = DoseInstruction(
        sequence=1,
        amount=amount,
        unit=unit,
        is_rate=False,
        frequency=1,
        period=Decimal(1),
        period_unit="d",
        bounds_start=NOW,
        bounds_end=NOW + timedelta(days=1),
        bounds_duration_days=None,
        events=(),
        text=None,
    )
    order = MedicationOrder(
        resource="MedicationRequest/blinatumomab-draft",
        status="draft",
        intent="order",
        codes=frozenset({(RXNORM, "1597258")}),
        text="blinatumomab",
        authored_on=NOW,
        dosages=(dosage,),
        reason_codes=frozenset(),
        extensions={},
        notes=(),
        supply_duration=(Decimal(24), "h"),
        encounter=None,
        raw={"resourceType": "MedicationRequest", "id": "blinatumomab-draft", "status": "draft"},
    )
    patient = PatientSnapshot(
        patient_id="p",
        birth_date=None,
        gender=None,
        observations=(
            _observation("wt", "29463-7", weight_kg, "kg"),
            _observation("ht", "8302-2", height_cm, "cm"),
        ),
    )
    review = OrderUnderReview(
        order=order,
        indication=indication,
        indication_basis="coded on the order" if indication else "not coded",
        cycle=cycle,
        cycle_basis="coded on the order" if cycle else "not coded",
        start=NOW,
        cycle_day=day,
    )
    return run_checks([CheckInput(review, patient, (order,), NOW)], KNOWLEDGE, [CHECK]).findings


def _label_dose(
    schedule: DoseSchedule, day: int, weight_kg: Decimal, height_cm: Decimal
) -> Decimal:
    step = schedule.step_for_day(day)
    assert step is not None
    if weight_kg >= RULES.weight_threshold_kg:
        return step.mcg_per_day
    bsa = (height_cm * weight_kg / 3600).sqrt()
    return min(step.mcg_per_m2_per_day * bsa, step.cap_mcg_per_day)


def _alerts(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.code, f.indicator) for f in findings if f.indicator in ("warning", "critical")]


weights = st.decimals(min_value=3, max_value=150, places=1)
heights = st.decimals(min_value=50, max_value=210, places=1)


@st.composite
def schedule_days(draw: st.DrawFn) -> tuple[DoseSchedule, int, int]:
    schedule = draw(st.sampled_from(RULES.schedules))
    last = schedule.cycles.last or schedule.cycles.first + 5
    cycle = draw(st.integers(min_value=schedule.cycles.first, max_value=last))
    day = draw(
        st.sampled_from([d for step in schedule.steps for d in (step.first_day, step.last_day)])
        | st.integers(min_value=1, max_value=max(s.last_day for s in schedule.steps))
    )
    return schedule, cycle, day


@PROPERTY
@given(weights, heights, schedule_days())
def test_the_label_dose_never_draws_a_dose_alert(
    weight_kg: Decimal, height_cm: Decimal, where: tuple[DoseSchedule, int, int]
) -> None:
    schedule, cycle, day = where
    dose = _label_dose(schedule, day, weight_kg, height_cm).quantize(CENT)
    findings = _check(weight_kg, height_cm, schedule.indication, cycle, day, dose)
    assert _alerts(findings) == []


@PROPERTY
@given(weights, heights, schedule_days())
def test_the_label_dose_written_per_m2_never_draws_a_dose_alert_under_45_kg(
    weight_kg: Decimal, height_cm: Decimal, where: tuple[DoseSchedule, int, int]
) -> None:
    schedule, cycle, day = where
    child_kg = min(weight_kg, RULES.weight_threshold_kg - Decimal("0.1"))
    step = schedule.step_for_day(day)
    assert step is not None
    findings = _check(
        child_kg, height_cm, schedule.indication, cycle, day, step.mcg_per_m2_per_day, "ug/m2/d"
    )
    assert _alerts(findings) == []


@PROPERTY
@given(weights, heights, schedule_days(), st.decimals(min_value=-9, max_value=9, places=1))
def test_a_dose_inside_the_rounding_band_draws_no_dose_alert(
    weight_kg: Decimal,
    height_cm: Decimal,
    where: tuple[DoseSchedule, int, int],
    percent: Decimal,
) -> None:
    schedule, cycle, day = where
    label = _label_dose(schedule, day, weight_kg, height_cm)
    step = schedule.step_for_day(day)
    assert step is not None
    dose = min(label * (1 + percent / 100), step.cap_mcg_per_day).quantize(CENT)
    findings = _check(weight_kg, height_cm, schedule.indication, cycle, day, dose)
    assert _alerts(findings) == []


@PROPERTY
@given(weights, heights, schedule_days(), st.decimals(min_value=0, max_value=50, places=2))
def test_a_dose_above_the_schedule_beyond_the_tolerance_is_critical(
    weight_kg: Decimal,
    height_cm: Decimal,
    where: tuple[DoseSchedule, int, int],
    extra: Decimal,
) -> None:
    schedule, cycle, day = where
    label = _label_dose(schedule, day, weight_kg, height_cm)
    dose = (label * TOLERANCE_UP).quantize(CENT, rounding=ROUND_UP) + CENT + extra
    findings = _check(weight_kg, height_cm, schedule.indication, cycle, day, dose)
    assert ("dose-overdose", "critical") in _alerts(findings)
    overdose = next(f for f in findings if f.code == "dose-overdose")
    assert Decimal(overdose.values["expected"]) == label.quantize(CENT)
    assert overdose.actions and overdose.actions[0].type == "update"


@PROPERTY
@given(weights, heights, schedule_days())
def test_a_dose_below_the_schedule_beyond_the_tolerance_is_a_warning_never_critical(
    weight_kg: Decimal, height_cm: Decimal, where: tuple[DoseSchedule, int, int]
) -> None:
    schedule, cycle, day = where
    label = _label_dose(schedule, day, weight_kg, height_cm)
    dose = (label * TOLERANCE_DOWN).quantize(CENT, rounding=ROUND_DOWN) - CENT
    findings = _check(weight_kg, height_cm, schedule.indication, cycle, day, dose)
    assert _alerts(findings) == [("dose-underdose", "warning")]


@PROPERTY
@given(
    weights,
    heights,
    st.sampled_from([None, "mrd-positive", "relapsed-refractory", "consolidation"]),
    st.none() | st.integers(min_value=1, max_value=9),
    st.integers(min_value=1, max_value=28),
    st.decimals(min_value=Decimal("0.01"), max_value=100, places=2),
)
def test_above_the_absolute_cap_is_critical_even_when_indication_and_cycle_are_unknown(
    weight_kg: Decimal,
    height_cm: Decimal,
    indication: str | None,
    cycle: int | None,
    day: int,
    over: Decimal,
) -> None:
    dose = RULES.absolute_cap_mcg_per_day + over
    findings = _check(weight_kg, height_cm, indication, cycle, day, dose)
    assert ("dose-overdose", "critical") in _alerts(findings)
