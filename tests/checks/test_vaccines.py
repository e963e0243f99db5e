"""Live vaccines (label §5): given within 2 weeks before the start, during treatment, or ordered
together with blinatumomab -> critical. Inactivated vaccines -> silence."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient

from cds.cards import CardRenderer
from cds.knowledge import KNOWLEDGE_DIR, load_knowledge
from cds.services import Engine
from cds.settings import Settings
from tests.conftest import NOW, SIGN
from tests.fixtures_util import (
    Expected,
    Step,
    blinatumomab_order,
    bundle,
    dexamethasone_order,
    findings_of_topic,
    height,
    order_sign,
    patient,
    weight,
)

PID = "pt-vaccine"
CVX = "http://hl7.org/fhir/sid/cvx"
STEP_UP = [Step(9, days=7), Step(28, days=21)]


def immunization(
    cvx: str, name: str, when: str, *, status: str = "completed", iid: str = "imm-1"
) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "id": iid,
        "status": status,
        "vaccineCode": {"coding": [{"system": CVX, "code": cvx, "display": name}], "text": name},
        "patient": {"reference": f"Patient/{PID}"},
        "occurrenceDateTime": when,
        "primarySource": True,
    }


def vaccine_order(
    cvx: str, name: str, *, oid: str = "vaccine-order", status: str = "draft"
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": CVX, "code": cvx, "display": name}],
            "text": name,
        },
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": "2026-03-02T08:00:00+00:00",
    }


def chart(
    *extra: dict[str, Any], cycle: int = 1, history: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    steps = STEP_UP if cycle == 1 else [Step(28, days=28)]
    return bundle(
        [
            patient(PID),
            weight(PID, 78),
            height(PID, 180),
            blinatumomab_order(PID, steps, cycle=cycle),
            dexamethasone_order(PID),
            *(history or []),
            *extra,
        ]
    )


EARLIER_CYCLE = blinatumomab_order(
    PID,
    [Step(9, days=7), Step(28, days=21)],
    oid="blin-c1",
    cycle=1,
    start="2026-01-05T10:00:00+00:00",
    status="completed",
    authored="2026-01-05T08:00:00+00:00",
)

# The infusion starts 2026-03-02T10:00Z.
# The cards of the golden matrix: (topic, indicator, finding code).
DURING_TREATMENT = ("live-vaccine", "critical", "live-vaccine-during-treatment")
ORDERED_TOGETHER = ("live-vaccine", "critical", "live-vaccine-ordered-together")
RECENT = ("live-vaccine", "critical", "live-vaccine-recent")
STILL_ORDERED = ("live-vaccine", "critical", "live-vaccine-still-ordered")

SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "MMR 10 days before -> critical": (
        chart(immunization("03", "MMR", "2026-02-20")),
        [RECENT],
    ),
    "MMR 20 days before -> silent": (chart(immunization("03", "MMR", "2026-02-10")), []),
    "varicella 13 days before -> critical": (
        chart(immunization("21", "varicella", "2026-02-17")),
        [RECENT],
    ),
    "yellow fever exactly 14 days before the hour -> critical": (
        chart(immunization("37", "yellow fever", "2026-02-16T10:00:00+00:00")),
        [RECENT],
    ),
    "yellow fever 14 days and 1 hour before -> silent": (
        chart(immunization("37", "yellow fever", "2026-02-16T09:00:00+00:00")),
        [],
    ),
    "intranasal influenza (LAIV) 5 days before -> critical": (
        chart(immunization("111", "influenza, live, intranasal", "2026-02-25")),
        [RECENT],
    ),
    "inactivated influenza 3 days before -> silent": (
        chart(immunization("141", "Influenza, seasonal, injectable", "2026-02-27")),
        [],
    ),
    "recombinant zoster 3 days before -> silent": (
        chart(immunization("187", "zoster recombinant", "2026-02-27")),
        [],
    ),
    "JYNNEOS (live non-replicating) 3 days before -> silent by default": (
        chart(immunization("206", "JYNNEOS", "2026-02-27")),
        [],
    ),
    "MMR not given (status not-done) -> silent": (
        chart(immunization("03", "MMR", "2026-02-25", status="not-done")),
        [],
    ),
    "MMR ordered together with blinatumomab -> critical": (
        chart(vaccine_order("03", "MMR")),
        [ORDERED_TOGETHER],
    ),
    "inactivated flu ordered together -> silent": (
        chart(vaccine_order("141", "Influenza, seasonal, injectable")),
        [],
    ),
    "MMR given between cycle 1 and cycle 2 -> critical (during treatment)": (
        chart(immunization("03", "MMR", "2026-02-01"), cycle=2, history=[EARLIER_CYCLE]),
        [DURING_TREATMENT],
    ),
    "MMR before treatment began, cycle 2 -> silent": (
        chart(immunization("03", "MMR", "2025-12-01"), cycle=2, history=[EARLIER_CYCLE]),
        [],
    ),
    "varicella still ordered during treatment, cycle 2 -> critical": (
        chart(
            vaccine_order("21", "varicella", oid="old-varicella", status="active"),
            cycle=2,
            history=[EARLIER_CYCLE],
        ),
        [STILL_ORDERED],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_live_vaccine_golden_matrix(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "live-vaccine") == expected


def test_a_co_ordered_live_vaccine_comes_with_a_delete_suggestion(client: FlaskClient) -> None:
    body = client.post(SIGN, json=order_sign(chart(vaccine_order("03", "MMR")))).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]
    assert "MMR" in card["summary"]
    [action] = card["suggestions"][0]["actions"]
    assert action == {
        "type": "delete",
        "description": "Remove the live vaccine order",
        "resourceId": "MedicationRequest/vaccine-order",
    }


def test_no_immunizations_on_file_null_is_silence(client: FlaskClient) -> None:
    request = order_sign(chart())
    assert request["prefetch"]["immunizations"] is None
    assert findings_of_topic(client.post(SIGN, json=request).get_json(), "live-vaccine") == []


def test_history_unreadable_still_catches_the_co_ordered_vaccine(client: FlaskClient) -> None:
    request = order_sign(chart(vaccine_order("03", "MMR")))
    del request["prefetch"]["immunizations"]  # absent, and no fhirServer to fetch it from
    body = client.post(SIGN, json=request).get_json()
    assert findings_of_topic(body, "live-vaccine") == [
        ORDERED_TOGETHER,
        ("live-vaccine", "warning", "live-vaccine-history-unavailable"),
    ]


def test_the_nonreplicating_setting_is_data(tmp_path: Path) -> None:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / "vaccines.yaml"
    data = yaml.safe_load(path.read_text())
    data["alert_live_nonreplicating"] = True
    path.write_text(yaml.safe_dump(data))
    knowledge = load_knowledge(target)
    engine = Engine(Settings(dev_mode=True), knowledge, CardRenderer(knowledge), clock=lambda: NOW)
    request = order_sign(chart(immunization("206", "JYNNEOS", "2026-02-27")))
    cards = engine.handle("blinatumomab-order-sign", copy.deepcopy(request)).response.cards
    assert [
        (c.source.topic.code, c.indicator)
        for c in cards
        if c.source.topic and c.source.topic.code == "live-vaccine"
    ] == [("live-vaccine", "critical")]
