"""Golden matrix: toxicity recorded on the chart -> what a new blinatumomab order may do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cds.knowledge import load_knowledge
from cds.patient import ConditionFact
from cds.toxicity import assess, named_toxicity, reduced_restart, restart_too_high

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
RULES = load_knowledge().toxicity
CYCLE1 = datetime(2026, 1, 5, 9, tzinfo=UTC)  # first blinatumomab infusion
NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)


def tox(
    code: str,
    onset_day: int | None,
    resolved_after_days: int | None = None,
    status: str = "resolved",
    verification: str | None = "confirmed",
    onset_at_midnight: bool = False,
) -> ConditionFact:
    onset = CYCLE1 + timedelta(days=onset_day) if onset_day is not None else None
    if onset is not None and onset_at_midnight:  # a date alone, as many problem lists record it
        onset = onset.replace(hour=0)
    abatement = (
        onset + timedelta(days=resolved_after_days)
        if onset is not None and resolved_after_days is not None
        else None
    )
    return ConditionFact(
        resource=f"Condition/{code}-{onset_day}",
        codes=frozenset({(ICD, code)}),
        clinical_status=status,
        verification_status=verification,
        onset=onset,
        abatement=abatement,
    )


CASES = [
    (
        "adult 70 kg, grade 4 CRS in cycle 1, resolved -> discontinue",
        [tox("D89.834", 2, 3)],
        "discontinue",
    ),
    ("grade 5 CRS (recorded as such) -> discontinue", [tox("D89.835", 2, 1)], "discontinue"),
    ("grade 4 ICANS in cycle 1 -> discontinue", [tox("G92.04", 10, 2)], "discontinue"),
    (
        "grade 3 CRS resolved in 2 days -> restart at 9 (5/m2)",
        [tox("D89.833", 3, 2)],
        "restart-reduced",
    ),
    (
        "grade 3 ICANS resolved in 5 days -> restart reduced",
        [tox("G92.03", 9, 5)],
        "restart-reduced",
    ),
    ("grade 3 ICANS took 9 days to resolve -> discontinue", [tox("G92.03", 9, 9)], "discontinue"),
    (
        "grade 3 ICANS still active 10 days after onset -> discontinue",
        [tox("G92.03", (NOW - CYCLE1).days - 10, None, status="active")],
        "discontinue",
    ),
    (
        "grade 3 ICANS active for 2 days -> restart reduced once resolved",
        [tox("G92.03", (NOW - CYCLE1).days - 2, None, status="active")],
        "restart-reduced",
    ),
    (
        "grade 3 ICANS recurred after the restart -> discontinue",
        [tox("G92.03", 9, 4), tox("G92.03", 20, 2)],
        "discontinue",
    ),
    (
        "one ungraded seizure (R56.9) -> confirm the grade (CTCAE v5: may be grade 3)",
        [tox("R56.9", 4, 1)],
        "confirm",
    ),
    ("two seizures -> discontinue", [tox("R56.9", 4, 1), tox("R56.9", 12, 1)], "discontinue"),
    (
        "new epilepsy diagnosis G40.909 after start -> discontinue",
        [tox("G40.909", 15, None, status="active")],
        "discontinue",
    ),
    ("CRS grade unspecified D89.839 -> confirm the grade", [tox("D89.839", 3, 2)], "confirm"),
    ("ICANS grade unspecified G92.00 -> confirm the grade", [tox("G92.00", 3, 2)], "confirm"),
    ("toxicity with no onset date -> confirm", [tox("D89.834", None)], "confirm"),
    (
        "grade 4 CRS before blinatumomab (CAR-T) -> not blinatumomab's",
        [tox("D89.834", -200, 5)],
        "none",
    ),
    ("refuted grade 4 CRS -> ignored", [tox("D89.834", 2, 3, verification="refuted")], "none"),
    ("grade 1 and 2 CRS -> nothing to do", [tox("D89.831", 2, 1), tox("D89.832", 30, 1)], "none"),
    (
        "grade 3 CRS then grade 4 CRS -> the stronger verdict wins",
        [tox("D89.833", 2, 2), tox("D89.834", 40, 3)],
        "discontinue",
    ),
    ("no toxicity on the chart -> none", [], "none"),
]


@pytest.mark.parametrize(("scenario", "conditions", "action"), CASES, ids=[c[0] for c in CASES])
def test_toxicity_verdict(scenario: str, conditions: list[ConditionFact], action: str) -> None:
    verdict = assess(conditions, CYCLE1, RULES, NOW)
    assert verdict.action == action, verdict.reasons
    assert (verdict.reasons == ()) == (action == "none")
    assert verdict.source == "label-dose-modifications"


def test_a_toxicity_dated_the_first_infusions_day_alone_is_blinatumomabs() -> None:
    """Grade 4 CRS charted as "2026-01-05", the day cycle 1 began at 09:00: not before it."""
    grade_4 = tox("D89.834", 0, 1, onset_at_midnight=True)
    assert assess([grade_4], CYCLE1, RULES, NOW).action == "discontinue"
    the_day_before = tox("D89.834", -1, 1, onset_at_midnight=True)
    assert assess([the_day_before], CYCLE1, RULES, NOW).action == "none"


def test_first_cycle_has_no_blinatumomab_toxicity() -> None:
    assert assess([tox("D89.834", 2, 3)], None, RULES, NOW).action == "none"


RESTARTS = [
    ("adult 70 kg, restart at 9 mcg/day -> allowed", "70", "9", None, False),
    ("adult 70 kg, restart at 28 mcg/day -> too high", "70", "28", None, True),
    ("adult 70 kg, restart at 9.5 mcg/day -> above the 9 cap", "70", "9.5", None, True),
    ("child 30 kg BSA 1.0, restart 5 mcg/day -> allowed", "30", "5", "1.0", False),
    ("child 30 kg BSA 1.0, restart 5.4 mcg/day -> within rounding", "30", "5.4", "1.0", False),
    ("child 30 kg BSA 1.0, restart 9 mcg/day -> too high", "30", "9", "1.0", True),
    ("child 30 kg, BSA unknown -> cannot say", "30", "5", None, None),
]


@pytest.mark.parametrize(
    ("scenario", "weight", "ordered", "bsa", "too_high"), RESTARTS, ids=[r[0] for r in RESTARTS]
)
def test_restart_dose_after_grade_3(
    scenario: str, weight: str, ordered: str, bsa: str | None, too_high: bool | None
) -> None:
    allowed = reduced_restart(Decimal(weight), RULES)
    assert allowed.days == 7
    result = restart_too_high(Decimal(ordered), allowed, Decimal(bsa) if bsa else None, Decimal(10))
    assert result is too_high


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("Cytokine release syndrome, Grade IV", ("crs", 4)),
        ("CRS grade 3", ("crs", 3)),
        ("CRS, Gr. II", ("crs", 2)),
        ("cytokine release syndrome", ("crs", None)),
        (
            "Immune effector cell-associated neurotoxicity syndrome (ICANS), grade 4",
            ("neurotoxicity", 4),
        ),
        ("ICANS G3", ("neurotoxicity", 3)),
        ("Neurologic toxicity", ("neurotoxicity", None)),
        ("Chronic rhinosinusitis (CRS)", None),  # "CRS" alone names no toxicity
        ("CRS and ICANS, grade 3", None),  # which one is grade 3 is unclear
        ("Acute lymphoblastic leukemia", None),
        ("", None),
    ],
)
def test_a_toxicity_named_in_words(name: str, read: tuple[str, int | None] | None) -> None:
    assert named_toxicity(name.lower(), RULES) == read


AT_9 = [(CYCLE1, CYCLE1 + timedelta(days=7))]  # the step-up week of cycle 1, at 9 mcg/day


@pytest.mark.parametrize(
    ("scenario", "conditions", "action"),
    [
        (
            "grade 3 ICANS on day 4, at 9 mcg/day -> discontinue",
            [tox("G92.03", 3, 2)],
            "discontinue",
        ),
        (
            "grade 3 ICANS on day 10, at 28 -> restart reduced",
            [tox("G92.03", 9, 2)],
            "restart-reduced",
        ),
        (
            "grade 3 CRS on day 4, at 9 mcg/day -> restart reduced",
            [tox("D89.833", 3, 2)],
            "restart-reduced",
        ),
        (
            "grade 3 ICANS dated the step-up day alone (time unknown: at 9 or at 28 mcg/day) "
            "-> confirm when it began (red team rt-tox 2: it was read as begun at 28)",
            [tox("G92.03", 7, 2, onset_at_midnight=True)],
            "confirm",
        ),
        (
            "grade 3 ICANS dated day 4 alone -> discontinue",
            [tox("G92.03", 3, 2, onset_at_midnight=True)],
            "discontinue",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_neurotoxicity_that_began_at_the_restart_dose(
    scenario: str, conditions: list[ConditionFact], action: str
) -> None:
    """Label §2.4: grade 3 neurological toxicity "occurred at 9 mcg/day" -> discontinue; CRS
    has no such rule."""
    assert assess(conditions, CYCLE1, RULES, NOW, AT_9).action == action
