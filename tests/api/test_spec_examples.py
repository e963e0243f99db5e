"""Every request payload published with the spec and by other projects: valid ones answer 200 (or
412 when their data cannot be had), malformed ones 400; none ever answers 5xx."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from tests.api.conformance import assert_valid_cds_response
from tests.conftest import SHARED

EXAMPLES = SHARED / "spec" / "examples"
SERVICE_FOR = {"order-sign": "blinatumomab-order-sign", "order-select": "blinatumomab-order-select"}


def _requests() -> list[Path]:
    found = []
    for path in sorted(EXAMPLES.rglob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(body, dict) and "hook" in body and "context" in body:
            found.append(path)
    return found


REQUESTS = _requests()


@pytest.fixture(autouse=True)
def no_network() -> Iterator[responses.RequestsMock]:
    """The examples name real-looking fhirServers: any fetch fails as if the server were down."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


MALFORMED = sorted(EXAMPLES.rglob("*.MALFORMED.json.txt"))


def test_the_examples_are_there() -> None:
    assert len(REQUESTS) >= 6 and len(MALFORMED) >= 10


@pytest.mark.parametrize("path", REQUESTS, ids=[p.name for p in REQUESTS])
def test_each_published_request_is_answered_without_a_server_error(
    client: FlaskClient, path: Path
) -> None:
    body = json.loads(path.read_text(encoding="utf-8"))
    service = SERVICE_FOR.get(body["hook"], "blinatumomab-order-sign")
    answer = client.post(f"/cds-services/{service}", json=body)
    if body["hook"] not in SERVICE_FOR:
        assert answer.status_code == 400  # e.g. patient-view sent to an order-sign service
    else:
        assert answer.status_code in (200, 412), answer.get_data(as_text=True)
        if answer.status_code == 200:
            assert_valid_cds_response(answer.get_json())


def _as_blinatumomab(body: dict[str, Any]) -> dict[str, Any] | None:
    changed = copy.deepcopy(body)
    entries = (changed["context"].get("draftOrders") or {}).get("entry") or []
    orders = [
        e["resource"]
        for e in entries
        if e.get("resource", {}).get("resourceType") == "MedicationRequest"
    ]
    if not orders:
        return None
    orders[0].pop("medicationReference", None)
    orders[0]["medicationCodeableConcept"] = {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "1597258",
                "display": "blinatumomab",
            }
        ],
        "text": "blinatumomab",
    }
    return changed


R4_ORDER_REQUESTS = [
    p
    for p in REQUESTS
    if "stu3" not in p.name
    and "dstu2" not in p.name
    and json.loads(p.read_text())["hook"] in SERVICE_FOR
]


@pytest.mark.parametrize("path", R4_ORDER_REQUESTS, ids=[p.name for p in R4_ORDER_REQUESTS])
def test_the_same_shapes_with_a_blinatumomab_order_run_the_whole_pipeline(
    client: FlaskClient, path: Path
) -> None:
    body = _as_blinatumomab(json.loads(path.read_text(encoding="utf-8")))
    if body is None:
        pytest.skip("no MedicationRequest among its draft orders")
    answer = client.post(f"/cds-services/{SERVICE_FOR[body['hook']]}", json=body)
    assert answer.status_code in (200, 412), answer.get_data(as_text=True)
    if answer.status_code == 200:
        cards = answer.get_json()
        assert_valid_cds_response(cards)
        if body["hook"] == "order-sign":
            assert cards["cards"], "a blinatumomab order in these shapes must get some card"
    else:
        assert answer.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("path", MALFORMED, ids=[p.name for p in MALFORMED])
def test_malformed_published_requests_are_a_400(client: FlaskClient, path: Path) -> None:
    answer = client.post(
        "/cds-services/blinatumomab-order-sign",
        data=path.read_bytes(),
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert answer.get_json()["resourceType"] == "OperationOutcome"
