"""Hospitalisation (label §2.2-2.4; hospitalization.yaml): the first 9 (R/R) or 3 (MRD-positive,
consolidation) days of cycle 1 and the first 2 days of cycle 2 in hospital -> an info card when
nothing says the patient is an inpatient (order category or encounter class). Inpatients, later
days and later cycles -> silence."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import SIGN
from tests.fixtures_util import (
    START,
    Expected,
    Step,
    blinatumomab_order,
    bundle,
    dexamethasone_order,
    findings_of_topic,
    height,
    in_encounter,
    liver_panel,
    order_sign,
    patient,
    weight,
)

PID = "pt-stay"
TOPIC = "hospitalization"
INFO = [(TOPIC, "info")]
CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V2_PATIENT_CLASS = "http://terminology.hl7.org/CodeSystem/v2-0004"  # HL7 v2 table 0004 (PV1-2)


def chart(
    indication: str | None = "relapsed-refractory",
    cycle: int | None = 1,
    *,
    category: str | None = None,
    encounter_class: str | None = None,
    class_system: str = ACT_CODE,
    began_days_ago: int = 0,
    as_two_orders: bool = False,
) -> dict[str, Any]:
    steps = [Step(9, days=7), Step(28, days=21)] if cycle == 1 else [Step(28, days=28)]
    if indication != "relapsed-refractory":
        steps = [Step(28, days=28)]
    resources = [patient(PID), weight(PID, 80), height(PID, 178), *liver_panel(PID)]
    if as_two_orders:  # the step-up as two orders signed together: days 1-7, days 8-28
        steps = steps[:1]
        day_8 = (datetime.fromisoformat(START) + timedelta(days=7)).isoformat()
        resources.append(
            blinatumomab_order(
                PID,
                [Step(28, days=21)],
                oid="blin-day-8",
                indication=indication,
                cycle=cycle,
                start=day_8,
            )
        )
    order = blinatumomab_order(PID, steps, indication=indication, cycle=cycle)
    if category is not None:
        order["category"] = [{"coding": [{"system": CATEGORY, "code": category}]}]
    if encounter_class is not None:
        order["encounter"] = {"reference": "Encounter/enc-1"}
        resources.append(
            {
                "resourceType": "Encounter",
                "id": "enc-1",
                "status": "in-progress",
                "class": {"system": class_system, "code": encounter_class},
                "subject": {"reference": f"Patient/{PID}"},
            }
        )
    if began_days_ago:
        began = datetime.fromisoformat(START) - timedelta(days=began_days_ago)
        history = blinatumomab_order(
            PID,
            [Step(9, days=7)],
            oid="blin-earlier-bag",
            indication=indication,
            cycle=cycle,
            start=began.isoformat(),
            status="completed",
        )
        resources.append(history)
    return bundle([*resources, order, dexamethasone_order(PID)])


# The cards of the golden matrix: (topic, indicator, finding code).
RECOMMENDED = ("hospitalization", "info", "hospitalization-recommended")

SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "R/R cycle 1 day 1, outpatient order -> info: 9 days inpatient": (chart(), [RECOMMENDED]),
    "R/R cycle 1 day 1, order category inpatient -> silent": (chart(category="inpatient"), []),
    "R/R cycle 1 day 1, order category outpatient -> info": (
        chart(category="outpatient"),
        [RECOMMENDED],
    ),
    "R/R cycle 1 day 1, the order's Encounter is an inpatient stay (IMP) -> silent": (
        chart(encounter_class="IMP"),
        [],
    ),
    # Encounter classes as EHRs send them (red-team cases hosp2, hosp4).
    "R/R cycle 1 day 1, the order's Encounter has HL7 v2 patient class I (inpatient) -> silent": (
        chart(encounter_class="I", class_system=V2_PATIENT_CLASS),
        [],
    ),
    "R/R cycle 1 day 1, the order's Encounter has HL7 v2 patient class O (outpatient) -> info": (
        chart(encounter_class="O", class_system=V2_PATIENT_CLASS),
        [RECOMMENDED],
    ),
    "R/R cycle 1 day 1, the order's Encounter class written lower case 'imp' -> silent": (
        chart(encounter_class="imp"),
        [],
    ),
    "R/R cycle 1 day 1, v2 patient class 'I' sent under the v3 ActCode system -> info": (
        chart(encounter_class="I"),  # no ActCode "I": the system decides what a code means
        [RECOMMENDED],
    ),
    "R/R cycle 1 day 1, the order's Encounter is ambulatory (AMB) -> info": (
        chart(encounter_class="AMB"),
        [RECOMMENDED],
    ),
    "R/R cycle 1 day 8 bag (still inside the 9 days) -> info": (
        chart(began_days_ago=7),
        [RECOMMENDED],
    ),
    "R/R cycle 1 day 10 bag -> silent": (chart(began_days_ago=9), []),
    "R/R cycle 1 step-up as two outpatient orders (days 1-7, 8-28) signed together -> one info": (
        chart(as_two_orders=True),
        [RECOMMENDED],
    ),
    "MRD cycle 1 day 1 -> info: 3 days": (chart("mrd-positive"), [RECOMMENDED]),
    "MRD cycle 1 day 4 bag -> silent": (chart("mrd-positive", began_days_ago=3), []),
    "consolidation cycle 1 day 1 -> info: 3 days (not the seed's 9)": (
        chart("consolidation"),
        [RECOMMENDED],
    ),
    "R/R cycle 2 day 1 -> info: 2 days": (chart(cycle=2), [RECOMMENDED]),
    "R/R cycle 2 day 3 bag -> silent": (chart(cycle=2, began_days_ago=2), []),
    "R/R cycle 3 day 1 -> silent (supervision only)": (chart(cycle=3), []),
    "indication unknown, cycle 1 day 1 -> info (longest stay)": (chart(None), [RECOMMENDED]),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_hospitalization_golden_matrix(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, TOPIC) == expected, [c["summary"] for c in body["cards"]]


CONTEXT_ENCOUNTER: dict[str, tuple[str, list[Expected]]] = {
    "R/R cycle 1 day 1, the hook's encounter is an inpatient stay (IMP) -> silent": ("IMP", []),
    "R/R cycle 1 day 1, the hook's encounter is acute inpatient (ACUTE) -> silent": ("ACUTE", []),
    "R/R cycle 1 day 1, the hook's encounter is ambulatory (AMB) -> info": ("AMB", [RECOMMENDED]),
    # red team 7 (noise): US cycle-1/2 stays are often observation status
    "R/R cycle 1 day 1, the hook's encounter is an observation stay (OBSENC) -> silent": (
        "OBSENC",
        [],
    ),
}


@pytest.mark.parametrize(
    ("system", "code", "expected"),
    [
        (None, "IMP", []),  # no system: read as of v3 ActCode, the code system R4 binds
        ("", "IMP", []),
        (None, "AMB", [RECOMMENDED]),
        ("urn:oid:1.2.840.114350.1.13.0.1.7.10.698084.30", "IMP", [RECOMMENDED]),  # a local system
    ],
    ids=["no-system-IMP", "empty-system-IMP", "no-system-AMB", "local-system"],
)
def test_an_encounter_class_without_a_system_is_read_as_v3_act_code(
    client: FlaskClient, system: str | None, code: str, expected: list[Expected]
) -> None:
    request = in_encounter(order_sign(chart()), code)
    encounter_class = request["prefetch"]["encounter"]["class"]
    del encounter_class["system"]
    if system is not None:
        encounter_class["system"] = system
    body = client.post(SIGN, json=request).get_json()
    assert findings_of_topic(body, TOPIC) == expected


def test_the_hooks_encounter_with_an_hl7_v2_inpatient_class_is_an_inpatient_stay(
    client: FlaskClient,
) -> None:
    """An EHR fed by an HL7 v2 ADT interface sends PV1-2 "I" (v2 table 0004) as Encounter.class."""
    request = in_encounter(order_sign(chart()), "I")
    request["prefetch"]["encounter"]["class"]["system"] = V2_PATIENT_CLASS
    body = client.post(SIGN, json=request).get_json()
    assert findings_of_topic(body, TOPIC) == []


@pytest.mark.parametrize(
    ("encounter_class", "expected"), CONTEXT_ENCOUNTER.values(), ids=CONTEXT_ENCOUNTER.keys()
)
def test_the_hooks_encounter_says_whether_the_patient_is_an_inpatient(
    client: FlaskClient, encounter_class: str, expected: list[Expected]
) -> None:
    request = in_encounter(order_sign(chart()), encounter_class)
    body = client.post(SIGN, json=request).get_json()
    assert findings_of_topic(body, TOPIC) == expected


def test_the_card_says_how_many_days_for_which_cycle(client: FlaskClient) -> None:
    body = client.post(SIGN, json=order_sign(chart("consolidation"))).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == TOPIC]
    assert card["summary"] == "Cycle 1: hospitalisation recommended for the first 3 days"
    assert card["source"]["url"].endswith("#S2.3")  # consolidation: §2.3 of the 2024 label


def _as_r5_class(encounter: dict[str, Any], *codings: dict[str, str]) -> None:
    """Encounter.class as FHIR R5 (and some R4B-ish exports) send it: a list of
    CodeableConcepts, not one Coding."""
    encounter["class"] = [{"coding": list(codings)}]


R5_CLASSES: dict[str, tuple[list[dict[str, str]], list[Expected]]] = {
    "v3 ActCode IMP -> silent": ([{"system": ACT_CODE, "code": "IMP"}], []),
    "v2 patient class I -> silent": ([{"system": V2_PATIENT_CLASS, "code": "I"}], []),
    "v3 ActCode AMB -> info": ([{"system": ACT_CODE, "code": "AMB"}], [RECOMMENDED]),
    "a coding without a code, then v3 ActCode IMP -> silent": (
        [{"system": ACT_CODE, "display": "inpatient"}, {"system": ACT_CODE, "code": "IMP"}],
        [],
    ),
    "no coding with a code -> info": ([{"system": ACT_CODE}], [RECOMMENDED]),
}


@pytest.mark.parametrize(("codings", "expected"), R5_CLASSES.values(), ids=R5_CLASSES.keys())
def test_the_hooks_encounter_with_an_r5_class_list_is_read(
    client: FlaskClient, codings: list[dict[str, str]], expected: list[Expected]
) -> None:
    request = in_encounter(order_sign(chart()), "AMB")
    _as_r5_class(request["prefetch"]["encounter"], *codings)
    body = client.post(SIGN, json=request).get_json()
    assert findings_of_topic(body, TOPIC) == expected


def test_the_orders_encounter_with_an_r5_class_list_is_read(client: FlaskClient) -> None:
    chart_bundle = chart(encounter_class="AMB")
    [encounter] = [
        e["resource"] for e in chart_bundle["entry"] if e["resource"]["resourceType"] == "Encounter"
    ]
    _as_r5_class(encounter, {"system": ACT_CODE, "code": "IMP"})
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, TOPIC) == []


def test_an_encounter_named_by_full_url_with_an_r5_class_list_is_read(
    client: FlaskClient,
) -> None:
    """The order names its Encounter by the entry's urn:uuid fullUrl (the Encounter has no id)."""
    chart_bundle = chart(encounter_class="AMB")
    url = "urn:uuid:3a9e1f00-5555-4666-8777-b88899990000"
    for entry in chart_bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Encounter":
            del resource["id"]
            entry["fullUrl"] = url
            _as_r5_class(resource, {"system": ACT_CODE, "code": "IMP"})
        elif "encounter" in resource:
            resource["encounter"] = {"reference": url}
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, TOPIC) == []


@pytest.mark.parametrize(
    ("coded", "expected"),
    [
        (1, []),  # the history makes it cycle 10: no stay for cycle 10
        (None, []),  # uncoded: the history numbers it, as before
    ],
    ids=["coded-cycle-1", "uncoded"],
)
def test_a_cycle_coded_lower_than_the_history_is_judged_as_the_historys(
    client: FlaskClient, coded: int | None, expected: list[Any]
) -> None:
    """Adult R/R, nine cycles on file ending 60 days ago, the draft coded "cycle 1": the course
    makes it cycle 10 (the cycle-limits check says so), so no "hospitalise for the first 9 days
    of cycle 1" card; it had been given beside the cycle-limit card."""
    from tests.checks.test_cycle_limits import chart, history

    body = client.post(SIGN, json=order_sign(chart(*history(9, gap=60), cycle=coded))).get_json()
    assert findings_of_topic(body, TOPIC) == expected, [c["summary"] for c in body["cards"]]
    limits = findings_of_topic(body, "cycle-limits")
    assert ("cycle-limits", "warning", "cycle-limit-exceeded") in limits, limits
