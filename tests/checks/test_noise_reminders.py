"""Reminders a noise audit (redteam7) found needless on correct orders, and what stays.

- `pregnancy-test-reminder` (cycle >= 2): quiet when a negative result lies within the cycle-1
  window (pregnancy.yaml `negative_result_valid_hours`) before this cycle's start.
- `pregnancy-contraception-reminder` (cycle 1): quiet when effective contraception is an active
  problem-list entry (codes.yaml `effective_contraception`), or when the site turns it off; the
  critical and warning pregnancy cards are untouched.
- `lab-neutropenia`: not judged before the first blinatumomab dose of a course (the label's rule
  is to interrupt an infusion for prolonged neutropenia); during treatment as before.
- The step-up premedication reminders offer the dexamethasone order, 1 hour before the step-up.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient

from cds.cards import FINDING_CODE_EXTENSION, CardRenderer
from cds.knowledge import KNOWLEDGE_DIR, load_knowledge
from cds.services import Engine
from cds.settings import Settings
from tests.checks import test_labs, test_pregnancy, test_premedication
from tests.checks.test_pregnancy import (
    BREASTFEEDING,
    CONTRACEPTION_REMINDER,
    CURRENTLY_BREASTFEEDING,
    EARLIER_CYCLE,
    HYSTERECTOMY,
    NOT_PREGNANT_SNOMED,
    POSITIVE,
    STATUS_UNKNOWN,
    TEST_REMINDER,
    UNREADABLE,
    serum_hcg,
    urine_hcg,
    urine_hcg_as,
)
from tests.conftest import NOW, SIGN
from tests.fixtures_util import (
    ICD10CM,
    Expected,
    Step,
    blinatumomab_administration,
    blinatumomab_order,
    bundle,
    condition,
    dexamethasone_order,
    findings_of_topic,
    height,
    liver_panel,
    neutrophils,
    order_sign,
    patient,
    weight,
)

# ------------------------------------------------------------------ pregnancy
# The infusion starts 2026-03-02T10:00Z; the woman is 27 (born 1998-05-03).
PREGNANCY_PID = test_pregnancy.PID
YESTERDAY = "2026-03-01T09:00:00+00:00"
FOUR_DAYS_AGO = "2026-02-26T09:00:00+00:00"
SIX_DAYS_AGO = "2026-02-24T09:00:00+00:00"
EIGHT_DAYS_AGO = "2026-02-22T09:00:00+00:00"
TWO_DAYS_AGO = "2026-02-28T09:00:00+00:00"


def cycle_3(*extra: dict[str, Any]) -> dict[str, Any]:
    """A woman's cycle-3 order (day 1; cycle 1 on file), with `extra` chart resources."""
    return test_pregnancy.chart(*extra, cycle=3, history=[EARLIER_CYCLE])


def cycle_1(*extra: dict[str, Any], born: str = "1998-05-03") -> dict[str, Any]:
    """A woman's cycle-1 day-1 order, with `extra` chart resources."""
    return test_pregnancy.chart(*extra, born=born)


def problem(
    code: str, display: str, *, status: str = "active", verification: str = "confirmed"
) -> dict[str, Any]:
    """A problem-list entry (ICD-10-CM) recorded 2025-06-10."""
    return condition(
        PREGNANCY_PID,
        code,
        display,
        cid=f"problem-{code}",
        system=ICD10CM,
        onset="2025-06-10",
        clinical_status=status,
        verification=verification,
    )


IUD_IN_PLACE = problem("Z97.5", "Presence of (intrauterine) contraceptive device")
IUD_CHECKED = problem(
    "Z30.431", "Encounter for routine checking of intrauterine contraceptive device"
)
IMPLANT = problem("Z30.46", "Encounter for surveillance of implantable subdermal contraceptive")
INJECTABLE = problem("Z30.42", "Encounter for surveillance of injectable contraceptive")
PILL = problem("Z30.41", "Encounter for surveillance of contraceptive pills")
IUD_REMOVED = problem("Z97.5", "Presence of (intrauterine) contraceptive device", status="resolved")
IUD_IN_ERROR = problem(
    "Z97.5", "Presence of (intrauterine) contraceptive device", verification="entered-in-error"
)
IUD_REMOVAL_VISIT = problem("Z30.432", "Encounter for removal of intrauterine contraceptive device")
MENOPAUSE = problem("Z78.0", "Asymptomatic menopausal state")

PREGNANCY: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # the test reminder of later cycles
    "woman 27, cycle 3 day 1, negative urine hCG yesterday -> silent": (
        cycle_3(urine_hcg(YESTERDAY, "negative")),
        [],
    ),
    "woman 27, cycle 3 day 1, serum hCG 2 mIU/mL (range < 5) 4 days ago -> silent": (
        cycle_3(serum_hcg(FOUR_DAYS_AGO, 2)),
        [],
    ),
    "woman 27, cycle 3 day 1, pregnancy status 'not pregnant' 6 days ago -> silent": (
        cycle_3(test_pregnancy.status(SIX_DAYS_AGO, NOT_PREGNANT_SNOMED)),
        [],
    ),
    "woman 27, cycle 3 day 1, negative urine hCG 8 days ago (outside the 7 days) -> reminder": (
        cycle_3(urine_hcg(EIGHT_DAYS_AGO, "negative")),
        [TEST_REMINDER],
    ),
    "woman 27, cycle 3 day 1, no pregnancy test since cycle 1 -> reminder": (
        cycle_3(),
        [TEST_REMINDER],
    ),
    "woman 27, cycle 3 day 1, only a preliminary negative yesterday -> reminder": (
        cycle_3(urine_hcg(YESTERDAY, "negative") | {"status": "preliminary"}),
        [TEST_REMINDER],
    ),
    "woman 27, cycle 3 day 1, negative 4 days ago, then a positive urine hCG yesterday -> "
    "critical": (
        cycle_3(
            urine_hcg(FOUR_DAYS_AGO, "negative", oid="hcg-old"),
            urine_hcg(YESTERDAY, "positive"),
        ),
        [POSITIVE],
    ),
    "woman 27, cycle 3 day 1, negative 4 days ago, then an hCG reading '+' yesterday -> "
    "unreadable warning": (
        cycle_3(urine_hcg(FOUR_DAYS_AGO, "negative"), urine_hcg_as(YESTERDAY, valueString="+")),
        [UNREADABLE],
    ),
    # the contraception reminder of cycle 1 (a negative hCG 2 days ago: the status is verified)
    "woman 27, cycle 1, negative hCG, no contraception on the problem list -> reminder": (
        cycle_1(urine_hcg(TWO_DAYS_AGO, "negative")),
        [CONTRACEPTION_REMINDER],
    ),
    "woman 27, cycle 1, negative hCG, IUD in place (Z97.5) -> silent": (
        cycle_1(urine_hcg(TWO_DAYS_AGO, "negative"), IUD_IN_PLACE),
        [],
    ),
    "woman 27, cycle 1, negative hCG, IUD check visit (Z30.431) -> silent": (
        cycle_1(urine_hcg(TWO_DAYS_AGO, "negative"), IUD_CHECKED),
        [],
    ),
    "woman 27, cycle 1, negative hCG, implant surveillance (Z30.46) -> silent": (
        cycle_1(urine_hcg(TWO_DAYS_AGO, "negative"), IMPLANT),
        [],
    ),
    "woman 27, cycle 1, negative hCG, injectable surveillance (Z30.42) -> silent": (
        cycle_1(urine_hcg(TWO_DAYS_AGO, "negative"), INJECTABLE),
        [],
    ),
    "woman 27, cycle 1, negative hCG, pill surveillance (Z30.41) -> silent": (
        cycle_1(urine_hcg(TWO_DAYS_AGO, "negative"), PILL),
        [],
    ),
    "woman 27, cycle 1, negative hCG, IUD entry resolved (removed) -> reminder": (
        cycle_1(urine_hcg(TWO_DAYS_AGO, "negative"), IUD_REMOVED),
        [CONTRACEPTION_REMINDER],
    ),
    "woman 27, cycle 1, negative hCG, IUD entry entered in error -> reminder": (
        cycle_1(urine_hcg(TWO_DAYS_AGO, "negative"), IUD_IN_ERROR),
        [CONTRACEPTION_REMINDER],
    ),
    "woman 27, cycle 1, negative hCG, IUD removal visit (Z30.432) -> reminder": (
        cycle_1(urine_hcg(TWO_DAYS_AGO, "negative"), IUD_REMOVAL_VISIT),
        [CONTRACEPTION_REMINDER],
    ),
    "woman 27, cycle 1, IUD in place but no pregnancy test -> status warning stays": (
        cycle_1(IUD_IN_PLACE),
        [STATUS_UNKNOWN],
    ),
    "woman 27, cycle 1, IUD in place and a positive urine hCG yesterday -> critical stays": (
        cycle_1(urine_hcg(YESTERDAY, "positive"), IUD_IN_PLACE),
        [POSITIVE],
    ),
    "woman 27, cycle 1, IUD in place, negative hCG, breastfeeding -> breastfeeding warning stays": (
        cycle_1(urine_hcg(TWO_DAYS_AGO, "negative"), IUD_IN_PLACE, CURRENTLY_BREASTFEEDING),
        [BREASTFEEDING],
    ),
    "woman 44, cycle 1, total hysterectomy, no test -> silent (already so)": (
        cycle_1(HYSTERECTOMY, born="1982-01-15"),
        [],
    ),
    "woman 52, cycle 1, menopause (Z78.0), no test -> silent (already so)": (
        cycle_1(MENOPAUSE, born="1973-07-09"),
        [],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), PREGNANCY.values(), ids=PREGNANCY.keys())
def test_pregnancy_reminders(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(expected)


def _engine_with(tmp_path: Path, file: str, change: Callable[[dict[str, Any]], None]) -> Engine:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / file
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    knowledge = load_knowledge(target)
    return Engine(Settings(dev_mode=True), knowledge, CardRenderer(knowledge), clock=lambda: NOW)


def _findings(engine: Engine, chart_bundle: dict[str, Any], topic: str) -> list[Expected]:
    result = engine.handle("blinatumomab-order-sign", copy.deepcopy(order_sign(chart_bundle)))
    return sorted(
        (t, indicator, code)
        for (t, indicator), code in zip(result.topics, result.codes, strict=True)
        if t == topic
    )


def test_a_site_can_turn_the_contraception_reminder_off(tmp_path: Path) -> None:
    engine = _engine_with(
        tmp_path, "pregnancy.yaml", lambda d: d.update(contraception_reminder=False)
    )
    verified = cycle_1(urine_hcg(TWO_DAYS_AGO, "negative"))
    assert _findings(engine, verified, "pregnancy-status") == []
    # the warning of a missing status, and breastfeeding, are no reminder: they stay
    untested = cycle_1(CURRENTLY_BREASTFEEDING)
    assert _findings(engine, untested, "pregnancy-status") == sorted(
        [STATUS_UNKNOWN, BREASTFEEDING]
    )


# ------------------------------------------------------------------ neutrophils
LABS_PID = test_labs.PID
NEUTROPENIA_WARNING = test_labs.NEUTROPENIA_WARNING
NEUTROPENIA_INFO = test_labs.NEUTROPENIA_INFO
START = datetime(2026, 3, 2, 10, tzinfo=UTC)


def labs_chart(
    anc: float,
    *,
    indication: str = "relapsed-refractory",
    cycle: int = 1,
    began_days_ago: int | None = None,
    earlier: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An adult's order starting 2026-03-02 10:00 with a normal liver panel and an absolute
    neutrophil count of `anc` x10^9/L this morning; `began_days_ago`: cycle 1 began with an
    earlier bag that many days before (its administration on file), so this is a re-order."""
    history = list(earlier or [])
    steps = [Step(9, days=7), Step(28, days=21)] if cycle == 1 else [Step(28, days=28)]
    if indication != "relapsed-refractory":
        steps = [Step(28, days=28)]
    if began_days_ago is not None:
        began = START - timedelta(days=began_days_ago)
        history += [
            blinatumomab_order(
                LABS_PID,
                [Step(9, days=7), Step(28, days=21)],
                oid="blin-c1-first-bags",
                cycle=1,
                start=began.isoformat(),
                status="active",
                authored=began.isoformat(),
            ),
            blinatumomab_administration(
                LABS_PID,
                "blin-c1-bag-1",
                began,
                START,
                request="MedicationRequest/blin-c1-first-bags",
            ),
        ]
        steps = [Step(9, days=7 - began_days_ago), Step(28, days=21)]
    return bundle(
        [
            patient(LABS_PID),
            weight(LABS_PID, 72),
            height(LABS_PID, 171),
            *liver_panel(LABS_PID),
            neutrophils(LABS_PID, anc),
            blinatumomab_order(
                LABS_PID, steps, indication=indication, cycle=cycle, start=START.isoformat()
            ),
            dexamethasone_order(LABS_PID),
            *history,
        ]
    )


PREVIOUS_CYCLE_1 = blinatumomab_order(
    LABS_PID,
    [Step(9, days=7), Step(28, days=21)],
    oid="blin-c1",
    cycle=1,
    start="2026-01-05T10:00:00+00:00",
    status="completed",
    authored="2026-01-05T08:00:00+00:00",
)

NEUTROPHILS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "R/R cycle 1 day 1, marrow relapse, ANC 0.4 (grade 4, before the first dose) -> silent": (
        labs_chart(0.4),
        [],
    ),
    "R/R cycle 1 day 1, ANC 0.6 (grade 3, before the first dose) -> silent": (
        labs_chart(0.6),
        [],
    ),
    "MRD-positive cycle 1 day 1, ANC 0.9 (grade 3, before the first dose) -> silent": (
        labs_chart(0.9, indication="mrd-positive"),
        [],
    ),
    "MRD-positive cycle 1 day 1, ANC 0.3 (grade 4, before the first dose) -> silent": (
        labs_chart(0.3, indication="mrd-positive"),
        [],
    ),
    "consolidation cycle 1 day 1 after a chemotherapy block, ANC 0.3 -> silent": (
        labs_chart(0.3, indication="consolidation"),
        [],
    ),
    "R/R cycle 1 day 4 re-order to 96-hour bags, infusing since day 1, ANC 0.8 -> info": (
        labs_chart(0.8, began_days_ago=3),
        [NEUTROPENIA_INFO],
    ),
    "R/R cycle 1 day 4 re-order, infusing since day 1, ANC 0.3 (grade 4) -> warning": (
        labs_chart(0.3, began_days_ago=3),
        [NEUTROPENIA_WARNING],
    ),
    "MRD-positive cycle 2 day 1, ANC 0.3 (after cycle 1) -> warning": (
        labs_chart(0.3, indication="mrd-positive", cycle=2, earlier=[PREVIOUS_CYCLE_1]),
        [NEUTROPENIA_WARNING],
    ),
    "R/R cycle 2 day 1, ANC 0.3 -> info (the cycle-start rule)": (
        labs_chart(0.3, cycle=2, earlier=[PREVIOUS_CYCLE_1]),
        [NEUTROPENIA_INFO],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), NEUTROPHILS.values(), ids=NEUTROPHILS.keys())
def test_neutropenia_before_and_during_treatment(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert [f for f in findings_of_topic(body, "lab-monitoring") if f[2] == "lab-neutropenia"] == (
        sorted(expected)
    )


def test_an_unreadable_medication_history_is_no_first_dose(client: FlaskClient) -> None:
    """R/R cycle 1 day 1, ANC 0.4, the medication history an OperationOutcome (the EHR's search
    failed): nothing shows this is the first dose, so the count is judged as on treatment."""
    request = order_sign(labs_chart(0.4))
    request["prefetch"]["medications"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "search timed out"}],
    }
    body = client.post(SIGN, json=request).get_json()
    found = [f for f in findings_of_topic(body, "lab-monitoring") if f[2] == "lab-neutropenia"]
    assert found == [NEUTROPENIA_INFO], [c["summary"] for c in body["cards"]]


def test_a_site_can_have_the_count_said_before_the_first_dose(tmp_path: Path) -> None:
    engine = _engine_with(
        tmp_path, "labs.yaml", lambda d: d["neutrophils"].update(before_first_dose=True)
    )
    assert _findings(engine, labs_chart(0.4), "lab-monitoring") == [NEUTROPENIA_INFO]


# ------------------------------------------------------------------ step-up premedication
PREMED_PID = test_premedication.PID
DAY_8_DEXAMETHASONE_AT = "2026-03-09T09:00:00+00:00"  # the step-up is 2026-03-09 10:00


def _suggested(card: dict[str, Any]) -> tuple[str, float, str, str] | None:
    """(finding code, mg, route, given at) of the dexamethasone order the card offers."""
    actions = [a for s in card.get("suggestions", []) for a in s["actions"]]
    if not actions:
        return None
    [action] = actions
    assert action["type"] == "create"
    dosage = action["resource"]["dosageInstruction"][0]
    return (
        card["extension"][FINDING_CODE_EXTENSION],
        dosage["doseAndRate"][0]["doseQuantity"]["value"],
        dosage["route"]["coding"][0]["code"],
        dosage["timing"]["event"][0],
    )


IV = "47625008"
STEP_UP: dict[str, tuple[dict[str, Any], list[tuple[str, float, str, str] | None]]] = {
    "man 55, R/R cycle 1 (9 then 28 mcg/day), dexamethasone 20 mg for day 1 only -> reminder "
    "offers dexamethasone 20 mg IV at 09:00 on day 8": (
        test_premedication.chart(dexamethasone_order(PREMED_PID, 20)),
        [("premedication-step-up-reminder", 20.0, IV, DAY_8_DEXAMETHASONE_AT)],
    ),
    "man 55, R/R cycle 1 as two orders (days 1-7, 8-28), dexamethasone for day 1 -> the day-8 "
    "order's reminder offers dexamethasone 20 mg IV 1 hour before it": (
        test_premedication.step_up_as_two_orders(dexamethasone_order(PREMED_PID, 20)),
        [("premedication-step-up-order-reminder", 20.0, IV, DAY_8_DEXAMETHASONE_AT)],
    ),
    "boy 8 y, 20 kg, 115 cm, R/R cycle 1 (5 then 15 mcg/m2/day), dexamethasone 4 mg day 1 -> "
    "reminder offers dexamethasone 4 mg IV (5 mg/m2 of BSA 0.8) on day 8": (
        test_premedication.chart(
            dexamethasone_order(PREMED_PID, 4),
            born=test_premedication.CHILD_8,
            kg=20,
            cm=115,
            steps=[Step(5, unit="ug/m2/d", days=7), Step(15, unit="ug/m2/d", days=21)],
        ),
        [("premedication-step-up-reminder", 4.0, IV, DAY_8_DEXAMETHASONE_AT)],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), STEP_UP.values(), ids=STEP_UP.keys())
def test_the_step_up_reminder_offers_the_dexamethasone_order(
    client: FlaskClient,
    chart_bundle: dict[str, Any],
    expected: list[tuple[str, float, str, str] | None],
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    reminders = [
        c
        for c in body["cards"]
        if c["source"]["topic"]["code"] == "premedication" and c["indicator"] == "info"
    ]
    assert [_suggested(c) for c in reminders] == expected


def test_a_child_without_a_height_gets_the_reminder_without_a_guessed_dose(
    client: FlaskClient,
) -> None:
    """No BSA, no dose to offer: the reminder says 5 mg/m² and offers nothing."""
    chart_bundle = test_premedication.chart(
        dexamethasone_order(PREMED_PID, 4),
        born=test_premedication.CHILD_8,
        kg=20,
        cm=None,
        steps=[Step(5, unit="ug/m2/d", days=7), Step(15, unit="ug/m2/d", days=21)],
    )
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    [reminder] = [
        c
        for c in body["cards"]
        if c["extension"][FINDING_CODE_EXTENSION] == "premedication-step-up-reminder"
    ]
    assert _suggested(reminder) is None


def test_accepting_the_offered_order_quiets_the_reminder(client: FlaskClient) -> None:
    chart_bundle = test_premedication.chart(dexamethasone_order(PREMED_PID, 20))
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    [card] = [c for c in body["cards"] if c.get("suggestions")]
    accepted = copy.deepcopy(card["suggestions"][0]["actions"][0]["resource"]) | {"id": "dex-day8"}
    chart_bundle["entry"].append({"fullUrl": "urn:uuid:dex-day8", "resource": accepted})
    again = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(again, "premedication") == []
