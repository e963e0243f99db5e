"""A pump rate in mL/h beside an order whose Medication is referenced WITH a display (Synthea and
Epic write `{"reference": "Medication/x", "display": "BLINCYTO"}`): the display names the drug,
but only the Medication states the bag's strength, which turns mL/h into a dose. It is read from
the request (draft-orders Bundle, prefetch) or fhirServer as for an order that names nothing else.

Red team rt7b C2: 28 mcg/day written beside 20 mL/h of a 28 mcg / 240 mL bag (56 mcg/day on the
pump) had no card when the reference had a display: the Medication was never read."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import SIGN, cards_by_topic, chart_request

FHIR = "https://ehr.example.org/fhir"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CHART = "dose-adult-mrd-rate-ug-per-h-overdose"  # adult 70 kg, MRD cycle 2, one 24-hour bag a day

BAG = {  # the pharmacy's 24-hour bag: 28 mcg of blinatumomab in 240 mL
    "resourceType": "Medication",
    "id": "blincyto-bag-24h",
    "code": {"coding": [{"system": RXNORM, "code": "1597258", "display": "blinatumomab"}]},
    "ingredient": [
        {
            "itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "1597258"}]},
            "strength": {
                "numerator": {"value": 28, "unit": "mcg", "system": UCUM, "code": "ug"},
                "denominator": {"value": 240, "unit": "mL", "system": UCUM, "code": "mL"},
            },
        }
    ],
}


def pumped(ml_per_h: float, where: str, dose: float | None = 28) -> dict[str, Any]:
    """The chart's cycle-2 order at `ml_per_h` (and `dose` mcg/day written beside it), its
    Medication referenced with a display and sent `where`."""
    request = chart_request(CHART)
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {
        "reference": "Medication/blincyto-bag-24h",
        "display": "BLINCYTO (blinatumomab) 28 mcg in 240 mL",
    }
    rates: list[dict[str, Any]] = [
        {"rateQuantity": {"value": ml_per_h, "unit": "mL/hr", "system": UCUM, "code": "mL/h"}}
    ]
    if dose is not None:
        rates[0]["doseQuantity"] = {
            "value": dose,
            "unit": "mcg/day",
            "system": UCUM,
            "code": "ug/d",
        }
    order["dosageInstruction"][0]["doseAndRate"] = rates
    entry = {"fullUrl": f"{FHIR}/Medication/blincyto-bag-24h", "resource": copy.deepcopy(BAG)}
    if where == "draft-orders Bundle":
        request["context"]["draftOrders"]["entry"].append(entry)
    else:
        request["prefetch"]["medications"] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [entry, *((request["prefetch"].get("medications") or {}).get("entry") or [])],
        }
    return request


def dose_cards(client: FlaskClient, request: dict[str, Any]) -> list[tuple[str, str, str]]:
    body = client.post(SIGN, json=request).get_json()
    return [card for card in cards_by_topic(body) if card[0] == "dose"]


@pytest.mark.parametrize("where", ["draft-orders Bundle", "prefetch"])
def test_28_mcg_a_day_written_beside_a_pump_at_20_ml_an_hour_is_not_passed(
    client: FlaskClient, where: str
) -> None:
    """20 mL/h of 28 mcg / 240 mL is 56 mcg/day: the two numbers disagree -> a dose warning."""
    assert [indicator for _, indicator, _ in dose_cards(client, pumped(20, where))] == ["warning"]


@pytest.mark.parametrize("where", ["draft-orders Bundle", "prefetch"])
def test_the_pump_alone_at_20_ml_an_hour_is_an_overdose(client: FlaskClient, where: str) -> None:
    """No dose written: 20 mL/h of the bag is 56 mcg/day, above the 28 of MRD cycle 2."""
    cards = dose_cards(client, pumped(20, where, dose=None))
    assert [indicator for _, indicator, _ in cards] == ["critical"]


@pytest.mark.parametrize("where", ["draft-orders Bundle", "prefetch"])
@pytest.mark.parametrize("dose", [28, None])
def test_the_right_pump_rate_is_quiet(client: FlaskClient, where: str, dose: float | None) -> None:
    """10 mL/h of 28 mcg / 240 mL is 28 mcg/day: no dose card, with or without the dose."""
    assert dose_cards(client, pumped(10, where, dose)) == []
