"""GET /metrics for the people on call: after a morning's calls, the scrape counts exactly those
calls, cards, FHIR fetches, refused tokens and feedback items, and names no patient or token.

The counters live for the whole test process (as in a worker), so each test compares a scrape
before its calls with one after.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from cds import create_app
from cds.settings import Settings
from tests.api.test_auth import BASE, ISSUER, token
from tests.api.test_prefetch_fallback import FHIR, overdose_request, serve_chart
from tests.conftest import NOW, SIGN, chart_request

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: FlaskClient) -> Samples:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.get_data(as_text=True))
        for s in family.samples
    }


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def non_blinatumomab_request() -> dict[str, Any]:
    """The same adult's chart, with only a dexamethasone tablet in the draft orders."""
    request = chart_request("adult-70kg-rr-cycle1-correct")
    drafts = request["context"]["draftOrders"]["entry"]
    request["context"]["draftOrders"]["entry"] = [
        e for e in drafts if e["resource"]["id"] == "dexamethasone-premed"
    ]
    return request


def test_a_mornings_calls_are_counted_by_service_status_and_card(client: FlaskClient) -> None:
    before = scrape(client)
    overdose = overdose_request()  # critical dose card
    answers = [client.post(SIGN, json=overdose) for _ in range(2)]
    quiet = client.post(SIGN, json=non_blinatumomab_request())
    broken = client.post(SIGN, data=b"{not json", content_type="application/json")
    unknown = client.post("/cds-services/no-such-service", json=overdose)
    after = scrape(client)

    assert [a.status_code for a in answers] == [200, 200]
    assert (quiet.status_code, quiet.get_json()["cards"]) == (200, [])
    assert (broken.status_code, unknown.status_code) == (400, 404)
    call = {"endpoint": "cds.call_service", "service": "blinatumomab-order-sign"}
    assert delta(before, after, "cds_requests_total", **call, status="200") == 3
    assert delta(before, after, "cds_requests_total", **call, status="400") == 1
    unknown_labels = {"endpoint": "cds.call_service", "service": "", "status": "404"}
    assert delta(before, after, "cds_requests_total", **unknown_labels) == 1
    assert (
        delta(before, after, "cds_request_duration_seconds_count", endpoint=call["endpoint"]) == 5
    )
    cards = [
        (c["source"]["topic"]["code"], c["indicator"])
        for answer in answers
        for c in answer.get_json()["cards"]
    ]
    assert ("dose", "critical") in cards
    for topic, indicator in set(cards):
        counted = delta(
            before,
            after,
            "cds_cards_total",
            service="blinatumomab-order-sign",
            topic=topic,
            indicator=indicator,
        )
        assert counted == cards.count((topic, indicator)), (topic, indicator)
    assert (
        delta(before, after, "cds_requests_total", endpoint="metrics", service="", status="200")
        == 0
    )


def test_no_patient_identifier_or_free_text_reaches_a_label(client: FlaskClient) -> None:
    request = overdose_request()
    request["hookInstance"] = hook_instance = str(uuid.uuid4())
    assert client.post(SIGN, json=request).status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    patient_id = request["context"]["patientId"]
    for secret in (patient_id, hook_instance, "Practitioner/", "28 ug/d", "mcg"):
        assert secret not in text


def test_fhir_fetches_are_counted_by_outcome(client: FlaskClient) -> None:
    request = overdose_request()
    full = copy.deepcopy(request)
    del request["prefetch"]["observations"], request["prefetch"]["patient"]
    before = scrape(client)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as fhir:
        serve_chart(fhir, full, ["patient"])
        fhir.add(responses.GET, f"{FHIR}/Observation", status=503)
        answer = client.post(SIGN, json=request)
    after = scrape(client)
    assert answer.status_code == 200
    assert delta(before, after, "cds_fhir_fetches_total", outcome="ok") == 1
    assert delta(before, after, "cds_fhir_fetches_total", outcome="error") == 1
    assert delta(before, after, "cds_fhir_fetches_total", outcome="deadline") == 0


def test_feedback_items_are_counted_by_outcome_once_stored(client: FlaskClient) -> None:
    cards = client.post(SIGN, json=overdose_request()).get_json()["cards"]
    dose = next(c for c in cards if c["suggestions"])  # the corrected order, on offer
    accepted = {
        "card": dose["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": dose["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": "2026-03-02T08:05:31Z",
    }
    overridden = {
        "card": cards[-1]["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-03-02T08:06:02Z",
    }
    before = scrape(client)
    feedback = f"{SIGN}/feedback"
    assert client.post(feedback, json={"feedback": [accepted, overridden]}).status_code == 200
    assert client.post(feedback, json={"feedback": [overridden]}).status_code == 200  # a repeat
    assert client.post(feedback, json={"feedback": []}).status_code == 400
    after = scrape(client)
    counted = {
        (outcome, duplicate): delta(
            before, after, "cds_feedback_items_total", outcome=outcome, duplicate=duplicate
        )
        for outcome in ("accepted", "overridden")
        for duplicate in ("false", "true")
    }
    assert counted == {
        ("accepted", "false"): 1,
        ("accepted", "true"): 0,
        ("overridden", "false"): 1,
        ("overridden", "true"): 1,
    }
    labels = {"endpoint": "cds.post_feedback", "service": "blinatumomab-order-sign"}
    assert delta(before, after, "cds_requests_total", **labels, status="400") == 1


@pytest.fixture
def secure(tmp_path: Path, jwks_file: Path) -> Iterator[FlaskClient]:
    settings = Settings(
        dev_mode=False,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        trusted_issuers={ISSUER: str(jwks_file)},
        public_base_url=BASE,
    )
    with create_app(settings, clock=lambda: NOW).test_client() as client:
        yield client


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    from tests.api.test_auth import EHR_KEY, KID, _jwk

    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(EHR_KEY, KID, "ES384")]}))
    return path


def test_refused_tokens_are_counted_by_reason_and_metrics_need_no_token(
    secure: FlaskClient,
) -> None:
    before = scrape(secure)  # no Authorization header: /metrics is open, like /readyz
    body = chart_request("adult-70kg-rr-cycle1-correct")
    replayed = token()
    calls = {
        "missing_token": None,
        "expired": token(iat=1_700_000_000, exp=1_700_000_300),
        "untrusted_issuer": token(iss="https://rogue.example"),
        "audience": token(aud="https://elsewhere.example/cds-services/x"),
        "replay": replayed,
    }
    assert (
        secure.post(SIGN, json=body, headers={"Authorization": f"Bearer {replayed}"}).status_code
        == 200
    )
    for jwt_token in calls.values():
        headers = {"Authorization": f"Bearer {jwt_token}"} if jwt_token else {}
        assert secure.post(SIGN, json=body, headers=headers).status_code == 401
    after = scrape(secure)
    for reason in calls:
        assert delta(before, after, "cds_jwt_rejections_total", reason=reason) == 1, reason
    labels = {"endpoint": "cds.call_service", "service": "blinatumomab-order-sign"}
    assert delta(before, after, "cds_requests_total", **labels, status="401") == len(calls)
    text = secure.get("/metrics").get_data(as_text=True)
    assert replayed not in text and replayed.split(".")[1] not in text


def test_an_operator_can_turn_metrics_off(tmp_path: Path) -> None:
    settings = Settings(
        dev_mode=True, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", metrics=False
    )
    client = create_app(settings, clock=lambda: NOW).test_client()
    assert client.get("/metrics").status_code == 404
