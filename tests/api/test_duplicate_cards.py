"""One card for one thing to say: a cycle written as several orders (bag by bag, or the step-up
as two orders) used to repeat the same card once per order (red team: a positive hCG eight
times for eight bag orders, "live vaccine ordered together" twice for a two-order step-up)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask.testing import FlaskClient

from cds.cards import FINDING_CODE_EXTENSION, ORDERS_EXTENSION
from tests.conftest import SIGN, chart_request
from tests.fixtures_util import (
    SNOMED,
    START,
    Step,
    blinatumomab_order,
    bundle,
    dexamethasone_order,
    height,
    observation,
    order_sign,
    patient,
    weight,
)

PID = "pt-bags"
CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"


def bag_orders(count: int, days: int) -> list[dict[str, Any]]:
    """MRD-positive cycle 1 at 28 mcg/day written as `count` bag orders of `days` days each."""
    begin = datetime.fromisoformat(START)
    return [
        blinatumomab_order(
            PID,
            [Step(28, days=days)],
            oid=f"blinatumomab-bag-{i}",
            indication="mrd-positive",
            start=(begin + timedelta(days=days * i)).isoformat(),
        )
        for i in range(count)
    ]


def positive_hcg() -> dict[str, Any]:
    hcg = observation(
        PID, "hcg-1", "2106-3", "hCG [Presence] in Urine", "2026-03-01T09:00:00+00:00", "laboratory"
    )
    hcg["valueCodeableConcept"] = {
        "coding": [{"system": SNOMED, "code": "10828004", "display": "Positive"}]
    }
    return hcg


def mmr_order() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "mmr-draft",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": CVX, "code": "03", "display": "MMR"}],
            "text": "MMR",
        },
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": "2026-03-02T08:00:00+00:00",
    }


def codes(client: FlaskClient, resources: list[dict[str, Any]]) -> list[str]:
    chart = [patient(PID, gender="female", birth_date="1997-06-11"), weight(PID, 64)]
    chart += [height(PID, 168), dexamethasone_order(PID, 16)]
    answer = client.post(SIGN, json=order_sign(bundle([*chart, *resources])))
    assert answer.status_code == 200, answer.get_json()
    return [c["extension"][FINDING_CODE_EXTENSION] for c in answer.get_json()["cards"]]


def test_a_positive_hcg_beside_eight_bag_orders_is_one_critical_card(
    client: FlaskClient,
) -> None:
    found = codes(client, [*bag_orders(8, 3), positive_hcg()])
    assert found.count("pregnancy-positive") == 1, found


def test_a_live_vaccine_with_a_two_order_step_up_is_one_card(client: FlaskClient) -> None:
    begin = datetime.fromisoformat(START)
    split = [
        blinatumomab_order(PID, [Step(9, days=7)]),
        blinatumomab_order(
            PID,
            [Step(28, days=21)],
            oid="blinatumomab-day-8",
            start=(begin + timedelta(days=7)).isoformat(),
        ),
    ]
    found = codes(client, [*split, mmr_order()])
    assert found.count("live-vaccine-ordered-together") == 1, found


def test_grade_4_neutropenia_beside_bag_orders_is_one_lab_card(client: FlaskClient) -> None:
    """R/R cycle 2 as bag orders (cycle 1 on file: before a course's first dose the count is the
    disease's, not judged): the day-1 bag says it (info at a cycle start); the day-3 bag of the
    same signing had added a second card, a warning "during treatment"."""
    anc = observation(
        PID,
        "anc-1",
        "751-8",
        "Neutrophils [#/volume] in Blood",
        "2026-03-01T07:00:00+00:00",
        "laboratory",
    )
    anc["valueQuantity"] = {"value": 0.4, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}
    begin = datetime.fromisoformat(START)
    cycle_1 = blinatumomab_order(
        PID,
        [Step(9, days=7), Step(28, days=21)],
        oid="rr-cycle-1",
        cycle=1,
        status="completed",
        start=(begin - timedelta(days=42)).isoformat(),
    )
    rr_bags = [
        blinatumomab_order(PID, [Step(28, days=2)], oid="rr-bag-1", cycle=2),
        blinatumomab_order(
            PID,
            [Step(28, days=5)],
            oid="rr-bag-2",
            cycle=2,
            start=(begin + timedelta(days=2)).isoformat(),
        ),
    ]
    found = codes(client, [*rr_bags, cycle_1, anc])
    assert found.count("lab-neutropenia") == 1, found


def test_cards_that_differ_stay_apart(client: FlaskClient) -> None:
    """Two overdoses of different days are two cards, whatever they share."""
    begin = datetime.fromisoformat(START)
    orders = [
        blinatumomab_order(PID, [Step(28, days=3)], oid="bag-a", cycle=1),
        blinatumomab_order(
            PID, [Step(28, days=4)], oid="bag-b", cycle=1, start=(begin + timedelta(3)).isoformat()
        ),
    ]
    found = codes(client, orders)
    assert found.count("dose-overdose") == 2, found


def cards_of(client: FlaskClient, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chart = [patient(PID, gender="female", birth_date="1997-06-11"), weight(PID, 64)]
    chart += [height(PID, 168), dexamethasone_order(PID, 16)]
    answer = client.post(SIGN, json=order_sign(bundle([*chart, *resources])))
    assert answer.status_code == 200, answer.get_json()
    return list(answer.get_json()["cards"])


def test_with_two_blinatumomab_orders_a_card_about_one_names_it(client: FlaskClient) -> None:
    """Two drafts whose doses cannot be read: each card says which order it is about (in words
    and in the `org.example.cds.orders` extension); the patient's cards name none."""
    begin = datetime.fromisoformat(START)
    drops = blinatumomab_order(PID, [Step(28, "[drp]", days=7)], oid="blin-drops")
    no_dose = blinatumomab_order(
        PID, [Step(None, days=21)], oid="blin-no-dose", start=(begin + timedelta(7)).isoformat()
    )
    cards = cards_of(client, [drops, no_dose, positive_hcg()])
    named = {
        tuple(c["extension"][ORDERS_EXTENSION]): c["detail"]
        for c in cards
        if c["extension"][FINDING_CODE_EXTENSION] == "dose-not-computable"
    }
    assert set(named) == {("MedicationRequest/blin-drops",), ("MedicationRequest/blin-no-dose",)}
    for (order,), detail in named.items():
        assert detail.endswith(f"This card is about `{order}`.")
    [positive] = [
        c for c in cards if c["extension"][FINDING_CODE_EXTENSION] == "pregnancy-positive"
    ]
    assert ORDERS_EXTENSION not in positive["extension"]
    assert "This card is about" not in str(positive["detail"])


def test_the_same_card_for_several_bag_orders_is_one_card_naming_them_all(
    client: FlaskClient,
) -> None:
    """Three bag orders whose dose unit cannot be read: one card, about the three of them."""
    begin = datetime.fromisoformat(START)
    bags = [
        blinatumomab_order(
            PID,
            [Step(28, "[drp]", days=2)],
            oid=f"bag-{i}",
            indication="mrd-positive",
            start=(begin + timedelta(days=2 * i)).isoformat(),
        )
        for i in range(3)
    ]
    [card] = [
        c
        for c in cards_of(client, bags)
        if c["extension"][FINDING_CODE_EXTENSION] == "dose-not-computable"
    ]
    names = [f"MedicationRequest/bag-{i}" for i in range(3)]
    assert card["extension"][ORDERS_EXTENSION] == names
    assert card["detail"].endswith(f"This card is about `{', '.join(names)}`.")


def test_with_one_blinatumomab_order_the_card_names_it_only_in_its_extension(
    client: FlaskClient,
) -> None:
    [card] = [
        c
        for c in cards_of(client, [blinatumomab_order(PID, [Step(28, "[drp]", days=7)])])
        if c["source"]["topic"]["code"] == "dose"
    ]
    assert card["extension"][ORDERS_EXTENSION] == ["MedicationRequest/blinatumomab-draft"]
    assert "This card is about" not in card["detail"]


def test_a_card_about_one_of_two_step_up_orders_names_it_in_words(client: FlaskClient) -> None:
    """Pharmacist red team: the step-up written as two orders drew one card, about the days 8-28
    order, whose words named only the other order ("signed with ... days1-7"): the reader could
    not tell which order it was about. With two blinatumomab orders in the call, the card says."""
    answer = client.post(SIGN, json=chart_request("adult-70kg-rr-cycle1-step-up-as-two-orders"))
    [card] = answer.get_json()["cards"]
    assert card["extension"][ORDERS_EXTENSION] == ["MedicationRequest/blinatumomab-c1-days8-28"]
    assert "This card is about `MedicationRequest/blinatumomab-c1-days8-28`." in card["detail"]
