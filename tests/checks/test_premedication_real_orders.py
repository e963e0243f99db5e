"""Premedication as real EHRs write it (red team 3 items 5 and 6): dexamethasone in tablets of a
coded product (strength per tablet x count), by mouth where the label's premedication is IV (the
route card, not "dose unreadable"), timed after the infusion start (the timing card, not "none
ordered"); and a sweep of correct orders in every shape EHRs send them, which must stay silent.

The blinatumomab order starts 2026-03-02 10:00 UTC, signed at 08:00 (tests.fixtures_util). Adults
are R/R cycle 2 (cycle 1 on file), so no day-8 step-up reminder joins the cards, unless said."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.cards import FINDING_CODE_EXTENSION
from tests.conftest import SIGN
from tests.fixtures_util import (
    RXNORM,
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
    weight,
)

PID = "pt-premed-real"
ADULT = "1971-04-02"
CHILD_8 = "2017-09-15"
ONE_HOUR_BEFORE = "2026-03-02T09:00:00+00:00"
HALF_HOUR_AFTER = "2026-03-02T10:30:00+00:00"
DAY_3 = "2026-03-04T09:00:00+00:00"
ORAL_ROUTE = {
    "coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route"}]
}

ROUTE = ("premedication", "warning", "premedication-route-not-label")
TIMED_AFTER = ("premedication", "warning", "premedication-timed-after-start")
MISSING = ("premedication", "warning", "premedication-missing")
LOW_DOSE = ("premedication", "warning", "premedication-low-dose")
UNREADABLE = ("premedication", "warning", "premedication-dose-unreadable")
STEP_UP_REMINDER = ("premedication", "info", "premedication-step-up-reminder")

CYCLE_1_ON_FILE = blinatumomab_order(
    PID,
    [Step(9, days=7), Step(28, days=21)],
    oid="blin-c1",
    cycle=1,
    start="2026-01-05T10:00:00+00:00",
    status="completed",
    authored="2026-01-05T08:00:00+00:00",
)


def chart(
    *premeds: dict[str, Any],
    born: str = ADULT,
    kg: float = 80,
    cm: float = 178,
    indication: str = "relapsed-refractory",
    cycle: int = 2,
    steps: list[Step] | None = None,
) -> dict[str, Any]:
    """The signing: patient, vitals, the blinatumomab draft, the premedication orders as given
    (drafts, or active ones already in the medication list) and cycle 1 on file for cycle 2."""
    order = blinatumomab_order(
        PID,
        steps or [Step(28, days=28)],
        indication=indication,
        cycle=cycle,
    )
    history = [CYCLE_1_ON_FILE] if cycle > 1 else []
    body = [patient(PID, birth_date=born), weight(PID, kg), height(PID, cm), order]
    return bundle([*body, *premeds, *history])


def child_chart(*premeds: dict[str, Any]) -> dict[str, Any]:
    """A child of 8, 20 kg, 115 cm (BSA 0.8 m²: 4 mg dexamethasone), R/R cycle 1 at 5 mcg/m²/day
    for its first week (no step-up inside this order)."""
    return chart(
        *premeds,
        born=CHILD_8,
        kg=20,
        cm=115,
        cycle=1,
        steps=[Step(5, unit="ug/m2/d", days=7)],
    )


def steroid(
    display: str,
    amount: float,
    unit: str,
    *,
    rxcui: str | None = None,
    ucum: str | None = None,
    when: str = ONE_HOUR_BEFORE,
    oid: str = "steroid-premed",
    route: dict[str, Any] | None = None,
    status: str = "draft",
) -> dict[str, Any]:
    """A glucocorticoid order as the EHR writes it: its product (an RxNorm SCD, an ingredient, or
    text alone), its dose with the unit text and UCUM code the EHR sends, one timing event."""
    order = dexamethasone_order(PID, oid=oid, when=when)
    order["status"] = status
    concept: dict[str, Any] = {"text": display}
    if rxcui:
        concept["coding"] = [{"system": RXNORM, "code": rxcui, "display": display}]
    order["medicationCodeableConcept"] = concept
    dosage = order["dosageInstruction"][0]
    dosage["text"] = f"{amount} {unit} once 1 hour before blinatumomab"
    if route is not None:
        dosage["route"] = route
    quantity: dict[str, Any] = {"value": amount, "unit": unit}
    if ucum:
        quantity |= {"system": UCUM, "code": ucum}
    dosage["doseAndRate"] = [{"doseQuantity": quantity}]
    return order


def dex_tablets(count: int, rxcui: str = "197582", mg: int = 4, **kw: Any) -> dict[str, Any]:
    """Dexamethasone tablets of a coded SCD, counted as {tbl} (Epic: unit "tablet")."""
    return steroid(
        f"dexamethasone {mg} MG Oral Tablet",
        count,
        "tablet",
        rxcui=rxcui,
        ucum="{tbl}",
        **({"route": ORAL_ROUTE} | kw),
    )


def dex_iv(mg: float = 20, **kw: Any) -> dict[str, Any]:
    """Dexamethasone IV in mg of the SCD 1116927 (4 mg/mL injectable solution)."""
    return steroid(
        "dexamethasone phosphate 4 MG/ML Injectable Solution",
        mg,
        "mg",
        rxcui="1116927",
        ucum="mg",
        **kw,
    )


def with_dosage(order: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The order with its dosage's fields replaced or added (None removes one)."""
    order = copy.deepcopy(order)
    dosage = order["dosageInstruction"][0]
    for key, value in fields.items():
        if value is None:
            dosage.pop(key, None)
        else:
            dosage[key] = value
    return order


def contained_medication(order: dict[str, Any], rxcui: str) -> dict[str, Any]:
    """The order naming its product as a contained Medication (Epic, Cerner), not a concept."""
    order = copy.deepcopy(order)
    del order["medicationCodeableConcept"]
    order["contained"] = [
        {
            "resourceType": "Medication",
            "id": "med",
            "code": {
                "coding": [
                    {
                        "system": RXNORM,
                        "code": rxcui,
                        "display": "dexamethasone phosphate 4 MG/ML Injectable Solution",
                    }
                ],
                "text": "DEXAMETHASONE SODIUM PHOSPHATE 4 MG/ML INJ",
            },
        }
    ]
    order["medicationReference"] = {"reference": "#med"}
    return order


def mg(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mg", "system": UCUM, "code": "mg"}


ORDERED = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/dose-rate-type",
            "code": "ordered",
            "display": "Ordered",
        }
    ]
}
CALCULATED = ORDERED | {
    "coding": [ORDERED["coding"][0] | {"code": "calculated", "display": "Calculated"}]
}

# correct orders as EHRs send them: every one must leave the premedication check silent
SILENT: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "adult R/R c2, dexamethasone 20 mg IV 1 h before (SCD 1116927 in mg)": (chart(dex_iv()), []),
    "adult R/R c2, dexamethasone 5 mL of SCD 1116927 (4 mg/mL: 20 mg)": (
        chart(
            steroid(
                "dexamethasone phosphate 4 MG/ML Injectable Solution",
                5,
                "mL",
                rxcui="1116927",
                ucum="mL",
            )
        ),
        [],
    ),
    "adult R/R c2, 'Dexamethasone sodium phosphate injection' text only, 20 mg": (
        chart(steroid("Dexamethasone sodium phosphate injection", 20, "mg", ucum="mg")),
        [],
    ),
    "adult R/R c2, 20 'MG' with no UCUM code (free-text unit)": (
        chart(steroid("dexamethasone", 20, "MG", rxcui="3264")),
        [],
    ),
    "adult R/R c2, doseAndRate typed 'ordered' in mg beside a 'calculated' mL entry (Epic)": (
        chart(
            with_dosage(
                dex_iv(),
                doseAndRate=[
                    {"type": ORDERED, "doseQuantity": mg(20)},
                    {
                        "type": CALCULATED,
                        "doseQuantity": {"value": 5, "unit": "mL", "system": UCUM, "code": "mL"},
                    },
                ],
            )
        ),
        [],
    ),
    "adult R/R c2, doseRange 20-20 mg": (
        chart(with_dosage(dex_iv(), doseAndRate=[{"doseRange": {"low": mg(20), "high": mg(20)}}])),
        [],
    ),
    "adult R/R c2, doseRange 20-24 mg (counted by its low end: 20 mg)": (
        chart(with_dosage(dex_iv(), doseAndRate=[{"doseRange": {"low": mg(20), "high": mg(24)}}])),
        [],
    ),
    "adult R/R c2, asNeededBoolean false (a scheduled dose)": (
        chart(with_dosage(dex_iv(), asNeededBoolean=False)),
        [],
    ),
    "adult R/R c2, once at timeOfDay 09:00 on the day (boundsPeriod of a date, count 1)": (
        chart(
            with_dosage(
                dex_iv(),
                timing={
                    "repeat": {
                        "count": 1,
                        "timeOfDay": ["09:00:00"],
                        "boundsPeriod": {"start": "2026-03-02"},
                    }
                },
            )
        ),
        [],
    ),
    "adult R/R c2, 'once before infusion' with no time (timing.code ONCE)": (
        chart(with_dosage(dex_iv(), timing={"code": {"text": "ONCE"}})),
        [],
    ),
    "adult R/R c2, timed 04:00-05:00 (09:00 UTC, the EHR's local offset)": (
        chart(dex_iv(when="2026-03-02T04:00:00-05:00")),
        [],
    ),
    "adult R/R c2, given 09:00-09:15 (timing.repeat.boundsPeriod, no event)": (
        chart(
            with_dosage(
                dex_iv(),
                timing={
                    "repeat": {
                        "count": 1,
                        "boundsPeriod": {
                            "start": "2026-03-02T09:00:00+00:00",
                            "end": "2026-03-02T09:15:00+00:00",
                        },
                    }
                },
            )
        ),
        [],
    ),
    "adult R/R c2, contained Medication coded SCD 1116927 (medicationReference '#med'), 5 mL": (
        chart(contained_medication(steroid("", 5, "mL", ucum="mL"), "1116927")),
        [],
    ),
    "adult R/R c2, dexamethasone 2 mL of the 10 mg/mL vial (SCD 1812079: 20 mg)": (
        chart(
            steroid(
                "dexamethasone phosphate 10 MG/ML Injectable Solution",
                2,
                "mL",
                rxcui="1812079",
                ucum="mL",
            )
        ),
        [],
    ),
    "adult R/R c2, dexamethasone 20 mg already active in the medication list, 09:00 today": (
        chart(dex_iv(status="active", oid="dex-active")),
        [],
    ),
    "adult R/R c2, IV 20 mg at 09:00 and a second dose at 10:30 (after the start)": (
        chart(dex_iv(), dex_iv(when=HALF_HOUR_AFTER, oid="dex-second")),
        [],
    ),
    "adult R/R c2, 20 mg IV and the same dose as tablets (either may be given)": (
        chart(dex_iv(), dex_tablets(5, oid="dex-po")),
        [],
    ),
    "adult MRD c2, prednisone 100 mg as 'predniSONE 20 MG Oral Tablet' (any route: 'or "
    "equivalent')": (
        chart(
            steroid("predniSONE 20 MG Oral Tablet", 100, "mg", rxcui="312617", ucum="mg"),
            indication="mrd-positive",
        ),
        [],
    ),
    "adult MRD c2, dexamethasone four 4 mg tablets (16 mg, the label's example)": (
        chart(dex_tablets(4), indication="mrd-positive"),
        [],
    ),
    "adult R/R c1, 20 mg IV for day 1 and for the day-8 step-up in one order (two events)": (
        chart(
            with_dosage(
                dex_iv(),
                timing={"event": [ONE_HOUR_BEFORE, "2026-03-09T09:00:00+00:00"]},
            ),
            cycle=1,
            steps=[Step(9, days=7), Step(28, days=21)],
        ),
        [],
    ),
    "child 8 y 0.8 m², dexamethasone 5 mg/m2 (4 mg)": (
        child_chart(steroid("dexamethasone", 5, "mg/m2", rxcui="3264", ucum="mg/m2")),
        [],
    ),
    "child 8 y 0.8 m², dexamethasone 4 mg IV": (child_chart(dex_iv(4)), []),
    "child 8 y 0.8 m², dexamethasone two 2 mg tablets (children: IV or by mouth)": (
        child_chart(dex_tablets(2, rxcui="197581", mg=2)),
        [],
    ),
    "child 8 y 0.8 m², dexamethasone oral liquid 0.5 mg/5 mL, 40 mL (4 mg)": (
        child_chart(
            steroid("dexamethasone 0.1 MG/ML Oral Solution", 40, "mL", rxcui="309686", ucum="mL")
        ),
        [],
    ),
}

# wrong, or unverifiable, orders: the card that says what is wrong
FLAGGED: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "adult R/R c2, five 4 mg tablets (SCD 197582: 20 mg) -> by mouth, the label's is IV": (
        chart(dex_tablets(5)),
        [ROUTE],
    ),
    "adult R/R c1 (red team 68), five 4 mg tablets with an IV route copied in -> route card "
    "and the step-up reminder": (
        chart(
            dex_tablets(
                5, route={"coding": [{"system": "http://snomed.info/sct", "code": "47625008"}]}
            ),
            cycle=1,
            steps=[Step(9, days=7), Step(28, days=21)],
        ),
        [ROUTE, STEP_UP_REMINDER],
    ),
    "adult consolidation c2, ten 2 mg tablets (SCD 197581: 20 mg) -> by mouth": (
        chart(dex_tablets(10, rxcui="197581", mg=2), indication="consolidation"),
        [ROUTE],
    ),
    "adult R/R c2, 'dexamethasone 4 MG Oral Tablet' as text, 20 mg -> by mouth": (
        chart(steroid("dexamethasone 4 MG Oral Tablet", 20, "mg", ucum="mg")),
        [ROUTE],
    ),
    "adult R/R c2, two 4 mg tablets (8 mg) -> too low (replace with 20 mg IV)": (
        chart(dex_tablets(2)),
        [LOW_DOSE],
    ),
    "adult R/R c2, 5 tablets of an SCD whose strength is not on file -> unreadable (never 0)": (
        chart(dex_tablets(5, rxcui="197583", mg=6)),
        [UNREADABLE],
    ),
    "adult R/R c2 (red team 35), dexamethasone 20 mg IV at 10:30 for a 10:00 start -> timed "
    "after the start, not 'none ordered'": (
        chart(dex_iv(when=HALF_HOUR_AFTER)),
        [TIMED_AFTER],
    ),
    "adult R/R c2, active dexamethasone in the medication list at 10:30 -> timed after the start": (
        chart(dex_iv(when=HALF_HOUR_AFTER, status="active", oid="dex-active")),
        [TIMED_AFTER],
    ),
    "child 8 y, dexamethasone 4 mg at 12:00 for a 10:00 start -> timed after the start": (
        child_chart(dex_iv(4, when="2026-03-02T12:00:00+00:00")),
        [TIMED_AFTER],
    ),
    "adult R/R c2, dexamethasone 20 mg on day 3 -> missing (it premedicates no first dose)": (
        chart(dex_iv(when=DAY_3)),
        [MISSING],
    ),
}


@pytest.mark.parametrize(
    ("chart_bundle", "expected"),
    [*SILENT.values(), *FLAGGED.values()],
    ids=[*SILENT, *FLAGGED],
)
def test_premedication_as_written(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "premedication") == sorted(expected), [
        c["summary"] for c in body["cards"] if c["source"]["topic"]["code"] == "premedication"
    ]


def _premedication_card(body: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in body["cards"] if c["extension"][FINDING_CODE_EXTENSION] == code)


def _update(card: dict[str, Any]) -> dict[str, Any]:
    actions = [a for s in card["suggestions"] for a in s["actions"] if a["type"] == "update"]
    assert len(actions) == 1
    return dict(actions[0])


def test_the_route_card_names_the_oral_product_and_offers_the_iv_order(
    client: FlaskClient,
) -> None:
    body = client.post(SIGN, json=order_sign(chart(dex_tablets(5)))).get_json()
    card = _premedication_card(body, "premedication-route-not-label")
    assert "by mouth" in card["summary"] and "20 mg IV" in card["summary"]
    assert "dexamethasone 5 tablets" in card["detail"] and "197582" in card["detail"]
    assert "unreadable" not in card["detail"].lower()
    action = _update(card)
    assert action["resourceId"] == "MedicationRequest/steroid-premed"
    dosage = action["resource"]["dosageInstruction"][0]
    assert dosage["route"]["coding"][0]["code"] == "47625008"  # IV
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 20


def test_the_timing_card_says_when_it_is_timed_and_re_times_it(client: FlaskClient) -> None:
    body = client.post(SIGN, json=order_sign(chart(dex_iv(when=HALF_HOUR_AFTER)))).get_json()
    card = _premedication_card(body, "premedication-timed-after-start")
    assert "after the infusion starts" in card["summary"]
    assert "2026-03-02 10:30" in card["summary"] and "2026-03-02 10:00" in card["summary"]
    assert "30 minutes" in card["detail"]
    assert "No glucocorticoid premedication ordered" not in card["summary"]
    action = _update(card)
    assert action["resourceId"] == "MedicationRequest/steroid-premed"
    assert action["resource"]["dosageInstruction"][0]["timing"]["event"] == [
        "2026-03-02T09:00:00+00:00"
    ]


def test_tablets_of_an_uncoded_strength_say_why_they_are_unreadable(client: FlaskClient) -> None:
    body = client.post(
        SIGN, json=order_sign(chart(dex_tablets(5, rxcui="197583", mg=6)))
    ).get_json()
    card = _premedication_card(body, "premedication-dose-unreadable")
    assert "dexamethasone 5 tablets" in card["detail"]
    assert "in tablets and the tablet's strength is not coded" in card["detail"]
