"""Neonates and formulation (label §2 preparation, §5 benzyl alcohol, §8.4): a 72-hour, 96-hour
or 7-day bag (benzyl alcohol) under 5.4 kg or for a neonate is critical with a preservative-free
24-hour order offered; under 1 month is a warning (not studied); a child with no weight and a
preservative bag is a could-not-verify warning; adults and correct orders are silent."""

from __future__ import annotations

import copy
import math
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from flask.testing import FlaskClient

from cds.checks import CheckInput, run_checks
from cds.checks.neonate import CHECK, bag_of, names_preservative
from cds.fhir.bundle import request_from_bundle
from cds.fhir.snapshot import OBSERVATION_VALUE_SETS
from cds.findings import Finding
from cds.knowledge import KNOWLEDGE_DIR, Knowledge, load_knowledge
from cds.orders import OrderUnderReview
from cds.patient import MedicationOrder, ObservationFact, PatientSnapshot
from tests.conftest import FIXTURES, NOW, SIGN, load_json
from tests.fixtures_util import (
    LOINC,
    UCUM,
    Expected,
    Step,
    blinatumomab_order,
    bundle,
    dexamethasone_order,
    findings_of_topic,
    height,
    order_sign,
    patient,
    vital_sign,
    weight,
)

PID = "pt-neonate"
TOPIC = "neonate-formulation"
STEP_UP_M2 = [Step(5, unit="ug/m2/d", days=7), Step(15, unit="ug/m2/d", days=21)]
STEP_UP = [Step(9, days=7), Step(28, days=21)]
# Birth dates, for an infusion starting 2026-03-02.
DAYS_10 = "2026-02-20"
DAYS_2 = "2026-02-28"
WEEKS_6 = "2026-01-19"
WEEKS_7 = "2026-01-12"
MONTHS_3 = "2025-12-01"
MONTHS_5 = "2025-10-01"
YEARS_3 = "2023-01-15"
YEARS_4 = "2022-02-10"
ADULT = "1979-06-30"

BIRTH_DATA_READ = {"birth_weight", "gestational_age_at_birth"} <= set(OBSERVATION_VALUE_SETS)


def birth_weight(grams: float, born: str) -> dict[str, Any]:
    return vital_sign(PID, "birth-wt", "8339-4", "Birth weight Measured", grams, "g", born)


def gestational_age(weeks: float, born: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "ga-birth",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "exam",
                        "display": "Exam",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": LOINC, "code": "76516-4", "display": "Gestational age--at birth"}
            ],
            "text": "Gestational age at birth",
        },
        "subject": {"reference": f"Patient/{PID}"},
        "effectiveDateTime": born,
        "valueQuantity": {"value": weeks, "unit": "wk", "system": UCUM, "code": "wk"},
    }


def chart(
    *extra: dict[str, Any],
    born: str,
    kg: float | None,
    cm: float,
    bag: tuple[float, str] | None = (24, "h"),
    note: str | None = None,
    medication_text: str | None = None,
    gender: str = "female",
) -> dict[str, Any]:
    """An R/R cycle-1 order for a patient born `born` weighing `kg` (None: no weight on file),
    with the bag `bag` (value, UCUM unit; None: no expectedSupplyDuration)."""
    adult = kg is not None and kg >= 45
    order = blinatumomab_order(PID, STEP_UP if adult else STEP_UP_M2)
    if bag is None:
        del order["dispenseRequest"]
    else:
        value, unit = bag
        order["dispenseRequest"]["expectedSupplyDuration"] = {
            "value": value,
            "unit": {"h": "hours", "d": "days", "wk": "week"}[unit],
            "system": UCUM,
            "code": unit,
        }
    if note is not None:
        order["note"] = [{"text": note}]
    if medication_text is not None:
        order["medicationCodeableConcept"]["text"] = medication_text
    vitals: list[dict[str, Any]] = [height(PID, cm)]
    bsa = 1.9
    if kg is not None:
        vitals.append(weight(PID, kg))
        bsa = math.sqrt(cm * kg / 3600)
    premed = 20 if adult else round(min(20, 5 * bsa), 1)
    return bundle(
        [
            patient(PID, gender=gender, birth_date=born, given="Amara", family="Mensah"),
            *vitals,
            order,
            dexamethasone_order(PID, premed),
            *extra,
        ]
    )


SEVEN_DAYS = (7, "d")

# The cards of the golden matrix: (topic, indicator, finding code).
BAG_UNDER_WEIGHT = ("neonate-formulation", "critical", "neonate-bag-under-weight")
BENZYL_ALCOHOL = ("neonate-formulation", "critical", "neonate-benzyl-alcohol")
FORMULATION_NOT_VERIFIED = ("neonate-formulation", "warning", "neonate-formulation-not-verified")
NOT_STUDIED = ("neonate-formulation", "warning", "neonate-not-studied")

SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "neonate 10 days 3.2 kg, 7-day bag -> critical (benzyl alcohol) + not-studied warning": (
        chart(born=DAYS_10, kg=3.2, cm=50, bag=SEVEN_DAYS),
        [BENZYL_ALCOHOL, NOT_STUDIED],
    ),
    "birth date 3 months after the order starts (a wrong date), 6 kg, 24-hour bag -> no "
    "'not studied under 1 month' card with a negative age (premedication says the age is "
    "unknown)": (
        chart(born="2026-06-02", kg=6, cm=62, bag=(24, "h")),
        [],
    ),
    "neonate 10 days 3.2 kg, 24-hour bag -> not-studied warning only": (
        chart(born=DAYS_10, kg=3.2, cm=50, bag=(24, "h")),
        [NOT_STUDIED],
    ),
    "neonate 2 days 2.9 kg, no bag duration -> one warning (not studied, bag unstated)": (
        chart(born=DAYS_2, kg=2.9, cm=48, bag=None),
        [NOT_STUDIED],
    ),
    "neonate 10 days, no weight, 96-hour bag -> critical + one warning": (
        chart(born=DAYS_10, kg=None, cm=50, bag=(96, "h")),
        [BENZYL_ALCOHOL, NOT_STUDIED],
    ),
    "infant 3 months 4.8 kg, 96-hour bag -> critical (under 5.4 kg)": (
        chart(born=MONTHS_3, kg=4.8, cm=58, bag=(96, "h")),
        [BAG_UNDER_WEIGHT],
    ),
    "infant 5 months 5.3 kg, 1-week bag in wk -> critical (under 5.4 kg)": (
        chart(born=MONTHS_5, kg=5.3, cm=62, bag=(1, "wk")),
        [BAG_UNDER_WEIGHT],
    ),
    "infant 3 months 5.4 kg exactly, 72-hour bag -> silent": (
        chart(born=MONTHS_3, kg=5.4, cm=59, bag=(72, "h")),
        [],
    ),
    "infant 3 months 6.1 kg, 7-day bag -> silent": (
        chart(born=MONTHS_3, kg=6.1, cm=61, bag=SEVEN_DAYS),
        [],
    ),
    "infant 3 months 4.8 kg, 48-hour bag -> silent (preservative-free)": (
        chart(born=MONTHS_3, kg=4.8, cm=58, bag=(48, "h")),
        [],
    ),
    "infant 3 months 4.5 kg, 24-hour bag noted preservative-free, no benzyl alcohol -> silent": (
        chart(
            born=MONTHS_3,
            kg=4.5,
            cm=57,
            bag=(24, "h"),
            note="Preservative-free preparation in 0.9% sodium chloride; no benzyl alcohol.",
        ),
        [],
    ),
    "infant 3 months 4.5 kg, 48-hour bag noted with bacteriostatic saline -> critical": (
        chart(
            born=MONTHS_3,
            kg=4.5,
            cm=57,
            bag=(48, "h"),
            note="Prepare with Bacteriostatic 0.9% Sodium Chloride (0.9% benzyl alcohol).",
        ),
        [BAG_UNDER_WEIGHT],
    ),
    # A negation reaches a mention only inside its sentence (red-team cases neo1, neo1d): the
    # label's own "Do not flush the line" written before the bag's name does not cancel it.
    "infant 3 months 4.5 kg, 48-hour bag, note 'Do not flush. Bacteriostatic saline bag.' -> "
    "critical": (
        chart(
            born=MONTHS_3,
            kg=4.5,
            cm=57,
            bag=(48, "h"),
            note="Do not flush. Bacteriostatic saline bag.",
        ),
        [BAG_UNDER_WEIGHT],
    ),
    "infant 3 months 4.5 kg, 48-hour bag, note 'Never flush line; bacteriostatic NaCl.' -> "
    "critical": (
        chart(
            born=MONTHS_3,
            kg=4.5,
            cm=57,
            bag=(48, "h"),
            note="Never flush line; bacteriostatic NaCl.",
        ),
        [BAG_UNDER_WEIGHT],
    ),
    "infant 3 months 4.5 kg, 48-hour bag, note 'Do not flush' on the line after the bag -> "
    "critical": (
        chart(
            born=MONTHS_3,
            kg=4.5,
            cm=57,
            bag=(48, "h"),
            note="Pump: do not flush\nBag: bacteriostatic 0.9% sodium chloride",
        ),
        [BAG_UNDER_WEIGHT],
    ),
    "infant 3 months 4.5 kg, 48-hour bag, note 'Do not use bacteriostatic saline.' -> silent": (
        chart(
            born=MONTHS_3,
            kg=4.5,
            cm=57,
            bag=(48, "h"),
            note="Do not use bacteriostatic saline. Preservative-free 0.9% sodium chloride.",
        ),
        [],
    ),
    "infant 3 months 4.1 kg, 7-day bag named in the medication text only -> critical": (
        chart(
            born=MONTHS_3,
            kg=4.1,
            cm=56,
            bag=None,
            medication_text="Blinatumomab 7-day bag (with preservative) continuous IV infusion",
        ),
        [BAG_UNDER_WEIGHT],
    ),
    "infant 3 months 4.8 kg, no bag duration -> could-not-verify warning": (
        chart(born=MONTHS_3, kg=4.8, cm=58, bag=None),
        [FORMULATION_NOT_VERIFIED],
    ),
    "child 3 years, no weight, 96-hour bag -> could-not-verify warning": (
        chart(born=YEARS_3, kg=None, cm=95, bag=(96, "h")),
        [FORMULATION_NOT_VERIFIED],
    ),
    "child 3 years, no weight, 24-hour bag -> silent": (
        chart(born=YEARS_3, kg=None, cm=95, bag=(24, "h")),
        [],
    ),
    "child 4 years 16 kg, 7-day bag -> silent": (
        chart(born=YEARS_4, kg=16, cm=102, bag=SEVEN_DAYS),
        [],
    ),
    "adult 70 kg, 7-day bag -> silent": (
        chart(born=ADULT, kg=70, cm=172, bag=SEVEN_DAYS, gender="male"),
        [],
    ),
    "adult, no weight, 7-day bag -> silent (adults never weigh under 5.4 kg)": (
        chart(born=ADULT, kg=None, cm=172, bag=SEVEN_DAYS, gender="male"),
        [],
    ),
}

# Read only once the snapshot keeps birth weight and gestational age (OBSERVATION_VALUE_SETS).
BIRTH_SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "infant 6 weeks born at 31 weeks, 5.6 kg, 7-day bag -> critical (early preterm)": (
        chart(gestational_age(31, WEEKS_6), born=WEEKS_6, kg=5.6, cm=57, bag=SEVEN_DAYS),
        [BENZYL_ALCOHOL],
    ),
    "infant 7 weeks, birth weight 1250 g, 5.5 kg, 96-hour bag -> critical (VLBW)": (
        chart(birth_weight(1250, WEEKS_7), born=WEEKS_7, kg=5.5, cm=56, bag=(96, "h")),
        [BENZYL_ALCOHOL],
    ),
    "infant 6 weeks born at 36 weeks, 5.6 kg, 7-day bag -> silent": (
        chart(gestational_age(36, WEEKS_6), born=WEEKS_6, kg=5.6, cm=57, bag=SEVEN_DAYS),
        [],
    ),
    "infant 6 weeks born at 31 weeks, 5.6 kg, 24-hour bag -> silent": (
        chart(gestational_age(31, WEEKS_6), born=WEEKS_6, kg=5.6, cm=57, bag=(24, "h")),
        [],
    ),
}
if BIRTH_DATA_READ:
    SCENARIOS |= BIRTH_SCENARIOS


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_neonate_formulation_golden_matrix(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, TOPIC) == sorted(expected)


@pytest.mark.skipif(
    not BIRTH_DATA_READ,
    reason="OBSERVATION_VALUE_SETS lacks birth_weight / gestational_age_at_birth",
)
@pytest.mark.parametrize(
    ("chart_bundle", "expected"), BIRTH_SCENARIOS.values(), ids=BIRTH_SCENARIOS.keys()
)
def test_birth_data_scenarios_through_the_service(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, TOPIC) == sorted(expected)


def _card(body: dict[str, Any], indicator: str) -> dict[str, Any]:
    [card] = [
        c
        for c in body["cards"]
        if c["source"]["topic"]["code"] == TOPIC and c["indicator"] == indicator
    ]
    return cast(dict[str, Any], card)


def test_the_critical_card_offers_the_same_order_on_a_24_hour_preservative_free_bag(
    client: FlaskClient,
) -> None:
    chart_bundle = chart(
        born=MONTHS_3,
        kg=4.5,
        cm=57,
        bag=SEVEN_DAYS,
        note="7-day bag: Bacteriostatic 0.9% Sodium Chloride with benzyl alcohol.",
    )
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    card = _card(body, "critical")
    assert "4.5 kg" in card["summary"] and "5.4 kg" in card["summary"]
    assert card["source"]["url"].endswith("#S2")
    [suggestion] = card["suggestions"]
    [action] = suggestion["actions"]
    assert action["type"] == "update"
    fixed = action["resource"]
    assert fixed["id"] == "blinatumomab-draft"
    assert fixed["dispenseRequest"]["expectedSupplyDuration"] == {
        "value": 24,
        "unit": "h",
        "system": UCUM,
        "code": "h",
    }
    assert [n["text"] for n in fixed["note"]] == [
        "Preservative-free preparation: 24-hour bag (10 mL/h)."
    ]
    original = next(
        e["resource"] for e in chart_bundle["entry"] if e["resource"]["id"] == "blinatumomab-draft"
    )
    assert fixed["dosageInstruction"] == original["dosageInstruction"]  # the dose is untouched

    # Accepting the suggestion gives an order this check no longer objects to.
    accepted = copy.deepcopy(chart_bundle)
    for entry in accepted["entry"]:
        if entry["resource"]["id"] == "blinatumomab-draft":
            entry["resource"] = fixed
    after = client.post(SIGN, json=order_sign(accepted)).get_json()
    assert findings_of_topic(after, TOPIC) == []


def test_a_neonate_gets_one_critical_and_one_warning_not_three_cards(client: FlaskClient) -> None:
    body = client.post(
        SIGN, json=order_sign(chart(born=DAYS_10, kg=3.2, cm=50, bag=SEVEN_DAYS))
    ).get_json()
    critical = _card(body, "critical")
    assert "neonate" in critical["summary"] and "10 days old" in critical["summary"]
    assert "under 5.4 kg" in critical["detail"]  # the weight rule is said on the same card
    assert critical["suggestions"][0]["actions"][0]["type"] == "update"
    warning = _card(body, "warning")
    assert "not been studied" in warning["summary"]


def test_the_not_studied_card_says_the_bag_could_not_be_checked(client: FlaskClient) -> None:
    body = client.post(
        SIGN, json=order_sign(chart(born=DAYS_2, kg=2.9, cm=48, bag=None))
    ).get_json()
    warning = _card(body, "warning")
    assert "2 days old" in warning["summary"]
    assert "does not state the bag's duration" in warning["detail"]


def test_the_correct_order_charts_stay_silent(client: FlaskClient) -> None:
    charts = sorted((FIXTURES / "charts").glob("*correct*.json"))
    charts = [c for c in charts if not c.name.endswith(".expected.json")]
    assert len(charts) >= 3
    for path in charts:
        body = client.post(SIGN, json=request_from_bundle(load_json(path))).get_json()
        assert findings_of_topic(body, TOPIC) == [], path.name


# --- the pieces, without the service ----------------------------------------------------------


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Bacteriostatic 0.9% Sodium Chloride", True),
        ("contains benzyl alcohol 0.9%", True),
        ("with preservative", True),
        ("Blincyto 7-day bag", True),
        ("preservative-free", False),
        ("Preservative free 0.9% sodium chloride", False),
        ("no benzyl alcohol", False),
        ("without benzyl alcohol", False),
        ("free of preservative", False),
        ("do not use bacteriostatic saline", False),
        ("non-bacteriostatic saline", False),
        ("preservative-free bag; bacteriostatic saline was used by mistake", True),
        ("blinatumomab 28 mcg/day continuous infusion", False),
        ("nonpreservativebag", False),
        # a negation does not reach across . ; ! ? or a line break
        ("Do not flush. Bacteriostatic saline bag.", True),
        ("Never flush line; bacteriostatic NaCl.", True),
        ("Do not flush!  Bag with benzyl alcohol", True),
        ("Not for bolus?\nbacteriostatic saline", True),
        ("do not flush\nbacteriostatic 0.9% sodium chloride", True),
        ("Bacteriostatic saline bag. Do not flush.", True),
        ("do not use 0.9% bacteriostatic saline", False),  # "0.9%" is a word, not an end
        ("without 0.9% benzyl alcohol", False),
    ],
)
def test_which_texts_name_the_preservative(knowledge: Knowledge, text: str, named: bool) -> None:
    assert names_preservative(text, knowledge.neonate) is named


def _order(
    hours: tuple[Decimal, str] | None, text: str = "blinatumomab", notes: tuple[str, ...] = ()
) -> MedicationOrder:
    return MedicationOrder(
        resource="MedicationRequest/b",
        status="draft",
        intent="order",
        codes=frozenset(),
        text=text,
        authored_on=NOW,
        dosages=(),
        reason_codes=frozenset(),
        extensions={},
        notes=notes,
        supply_duration=hours,
        encounter=None,
        raw={},
    )


@pytest.mark.parametrize(
    ("duration", "preservative", "name"),
    [
        ((Decimal(24), "h"), False, "24-hour bag"),
        ((Decimal(48), "hours"), False, "48-hour bag"),
        ((Decimal(72), "h"), True, "72-hour bag"),
        ((Decimal(4), "d"), True, "96-hour bag"),
        ((Decimal(7), "days"), True, "7-day bag"),
        ((Decimal(1), "wk"), True, "7-day bag"),
        ((Decimal(2), "{bag}"), None, "bag of unstated duration"),
        (None, None, "bag of unstated duration"),
    ],
)
def test_the_bag_from_its_duration(
    knowledge: Knowledge,
    duration: tuple[Decimal, str] | None,
    preservative: bool | None,
    name: str,
) -> None:
    bag = bag_of(_order(duration), knowledge.neonate)
    assert (bag.preservative, bag.name) == (preservative, name)


def _observation(code: str, value: Decimal, unit: str, born: date) -> ObservationFact:
    return ObservationFact(
        resource=f"Observation/{code}",
        codes=frozenset({(LOINC, code)}),
        when=datetime(born.year, born.month, born.day, tzinfo=UTC),
        status="final",
        value=value,
        unit=unit,
    )


def _run(knowledge: Knowledge, born: date, *observations: ObservationFact) -> list[Finding]:
    order = _order((Decimal(7), "d"))
    snapshot = PatientSnapshot(
        patient_id=PID,
        birth_date=born,
        gender="male",
        observations=(
            ObservationFact(
                resource="Observation/wt",
                codes=frozenset({(LOINC, "29463-7")}),
                when=NOW,
                status="final",
                value=Decimal("5.8"),
                unit="kg",
            ),
            *observations,
        ),
    )
    review = OrderUnderReview(order, "relapsed-refractory", "coded", 1, "coded", NOW, 1)
    return run_checks([CheckInput(review, snapshot, (order,), NOW)], knowledge, [CHECK]).findings


@pytest.mark.parametrize(
    ("born", "observation", "critical"),
    [
        (date(2026, 1, 12), ("8339-4", Decimal(1250), "g"), True),
        (date(2026, 1, 12), ("8339-4", Decimal("1.45"), "kg"), True),
        (date(2026, 1, 12), ("8339-4", Decimal(1500), "g"), False),
        (date(2026, 1, 12), ("76516-4", Decimal("33.9"), "wk"), True),
        (date(2026, 1, 12), ("76516-4", Decimal(34), "wk"), False),
        (date(2026, 1, 12), ("11884-4", Decimal(224), "d"), True),  # 32 weeks in days
        # Birth data are an infant's only: a 2-year-old born at 30 weeks is not a neonate.
        (date(2024, 1, 12), ("76516-4", Decimal(30), "wk"), False),
    ],
)
def test_very_low_birth_weight_or_early_preterm_makes_an_infant_a_neonate(
    knowledge: Knowledge, born: date, observation: tuple[str, Decimal, str], critical: bool
) -> None:
    code, value, unit = observation
    findings = _run(knowledge, born, _observation(code, value, unit, born))
    assert [f.code for f in findings if f.indicator == "critical"] == (
        ["neonate-benzyl-alcohol"] if critical else []
    )


def test_the_weight_limit_is_data(knowledge: Knowledge, tmp_path: Path) -> None:
    born = date(2025, 6, 1)
    assert _run(knowledge, born) == []  # 5.8 kg at 9 months: fine at the label's 5.4 kg
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / "neonate.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["min_weight_kg_for_preservative_bag"] = 6
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert [f.code for f in _run(load_knowledge(target), born)] == ["neonate-bag-under-weight"]
