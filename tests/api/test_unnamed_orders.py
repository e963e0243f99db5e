"""Draft orders the EHR sent without a usable id (none, or one that is no FHIR id: " ", "a b",
7) are read under a name of ours, `draft-N` / `service-N`. The red team's cases: that name was
another draft order's real id, so selecting one order resolved to the other (a lab order got the
vaccine's critical card, a delete named the wrong order); a live vaccine with a bad id was 200
"no cards" (order-select) or lost its card (order-sign); and a suggestion named our made-up id
for the EHR to delete."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.fhir.bundle import request_from_bundle
from cds.hooks import OrderSelectContext
from tests.conftest import SELECT, SIGN

SCENARIO = (
    "fhir-fixtures/scenarios/live-vaccine/varicella-vaccine-ordered-as-a-procedure-named-only-"
    "in-text-with-blinatumomab-critical.json"
)
LAB = {"text": "CBC with differential"}


def _request(hook: str = "order-select") -> dict[str, Any]:
    with open(SCENARIO, encoding="utf-8") as file:
        request: dict[str, Any] = request_from_bundle(json.load(file))
    request["hook"] = hook
    return request


def _entries(request: dict[str, Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = request["context"]["draftOrders"]["entry"]
    return entries


def _vaccine(request: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in _entries(request) if e["resource"]["resourceType"] == "ServiceRequest")


def _lab(request: dict[str, Any], full_url: str, rid: str | None = None) -> dict[str, Any]:
    vaccine = _vaccine(request)["resource"]
    resource = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "code": LAB,
        "subject": vaccine["subject"],
        "authoredOn": vaccine.get("authoredOn"),
    } | ({"id": rid} if rid else {})
    return {"fullUrl": full_url, "resource": resource}


def _selected(request: dict[str, Any], *selections: str) -> list[str]:
    context = copy.deepcopy(request["context"]) | {"selections": list(selections)}
    return OrderSelectContext.model_validate(context).selections


def _post(client: FlaskClient, request: dict[str, Any], *selections: str) -> Any:
    sent = copy.deepcopy(request)
    if selections:
        sent["context"]["selections"] = list(selections)
    answer = client.post(SELECT if request["hook"] == "order-select" else SIGN, json=sent)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def _vaccine_cards(body: Any) -> list[Any]:
    return [c for c in body["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]


def test_an_id_less_order_is_never_named_as_another_orders_real_id(
    client: FlaskClient,
) -> None:
    """selection.py: the vaccine's real id is `service-4`, the name the id-less lab order (4th
    draft order) was read under. Selecting the lab alone gave the vaccine's critical card."""
    request = _request()
    _entries(request).append(_lab(request, "urn:uuid:lab-cbc-no-id"))
    vaccine = _vaccine(request)
    vaccine["resource"]["id"] = f"service-{len(_entries(request))}"
    vaccine["fullUrl"] = "urn:uuid:vaccine-order"
    vaccine_name = f"ServiceRequest/{vaccine['resource']['id']}"
    [lab_name] = _selected(request, "urn:uuid:lab-cbc-no-id")
    assert lab_name != vaccine_name
    assert _selected(request, vaccine_name) == [vaccine_name]
    assert _selected(request, "urn:uuid:vaccine-order") == [vaccine_name]
    assert _post(client, request, "urn:uuid:lab-cbc-no-id") == {"cards": []}
    [card] = _vaccine_cards(_post(client, request, vaccine_name))
    assert card["indicator"] == "critical"
    [action] = card["suggestions"][0]["actions"]
    assert action == action | {"type": "delete", "resourceId": vaccine_name}  # the EHR's own id


def test_a_real_id_like_a_generated_name_keeps_its_order(client: FlaskClient) -> None:
    """selection2.py: the vaccine is sent without an id (read as `service-3`, its position), a
    lab order carries the real id `service-3`: the lab selected, by id or fullUrl, is the lab."""
    request = _request()
    vaccine = _vaccine(request)
    position = _entries(request).index(vaccine) + 1
    del vaccine["resource"]["id"]
    vaccine["fullUrl"] = "urn:uuid:vaccine-no-id"
    _entries(request).append(_lab(request, "urn:uuid:lab", f"service-{position}"))
    lab_name = f"ServiceRequest/service-{position}"
    assert _selected(request, lab_name) == [lab_name]
    assert _selected(request, "urn:uuid:lab") == [lab_name]
    assert _selected(request, "urn:uuid:vaccine-no-id") != [lab_name]
    assert _post(client, request, lab_name) == {"cards": []}
    [card] = _vaccine_cards(_post(client, request, "urn:uuid:vaccine-no-id"))
    assert card["indicator"] == "critical"
    assert card.get("suggestions", []) == [], "no delete naming an id the EHR never sent"


@pytest.mark.parametrize(
    ("rid", "hook"),
    [
        (" ", "order-select"),
        ("a b", "order-select"),
        (["x"], "order-select"),
        ({"a": 1}, "order-select"),
        (7, "order-select"),
        (" ", "order-sign"),
        ("a b", "order-sign"),
    ],
    ids=["space", "a-b", "list", "dict", "int", "space-sign", "a-b-sign"],
)
def test_a_live_vaccine_with_an_id_that_is_no_fhir_id_still_gets_its_card(
    client: FlaskClient, rid: Any, hook: str
) -> None:
    """sr_ids.py: " " and "a b" gave 200 "no cards" under order-select and no vaccine card under
    order-sign; a list, an object or a number were a 400 ("names no order"). Read under a name
    of ours like an id-less order, with no delete naming that name."""
    request = _request(hook)
    vaccine = _vaccine(request)
    vaccine["resource"]["id"] = rid
    vaccine["fullUrl"] = "urn:uuid:vac"
    body = _post(client, request, *(["urn:uuid:vac"] if hook == "order-select" else []))
    [card] = _vaccine_cards(body)
    assert card["indicator"] == "critical"
    assert card.get("suggestions", []) == []


def test_a_vaccine_with_a_bad_id_may_be_selected_by_that_id_as_sent(client: FlaskClient) -> None:
    request = _request()
    _vaccine(request)["resource"]["id"] = "a b"
    [card] = _vaccine_cards(_post(client, request, "ServiceRequest/a b"))
    assert card["indicator"] == "critical"
