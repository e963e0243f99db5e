"""Prefetch with FHIR fallback (CDS Hooks 2.0 "Prefetch"): absent keys are fetched from fhirServer
with the EHR's token, null keys are not, an OperationOutcome is never data, and when no check can
get its data the answer is 412. Every FHIR server here is a `responses` mock."""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from flask.testing import FlaskClient

from cds.fhir import prefetch
from cds.settings import Settings
from tests.api.conformance import assert_valid_cds_response
from tests.conftest import SIGN, chart_request

FHIR = "https://ehr.example.org/fhir"
TOKEN = "eyJhbGciOi-secret-access-token"
AUTH = {
    "access_token": TOKEN,
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "patient/*.read",
    "subject": "blinatumomab-cds",
    "patient": "pt-adult-rr",
}
PATHS = {
    "patient": "/Patient/",
    "observations": "/Observation",
    "immunizations": "/Immunization",
    "medications": "/MedicationRequest",
    "conditions": "/Condition",
}


@pytest.fixture
def fhir() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def overdose_request() -> dict[str, Any]:
    """Adult 82 kg, R/R cycle 1 starting at 28 mcg/day: a critical dose card once weight is seen."""
    return chart_request("dose-adult-rr-cycle1-starts-at-28") | {
        "fhirServer": FHIR,
        "fhirAuthorization": AUTH,
    }


def _searchset(value: dict[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {"resourceType": "Bundle", "type": "searchset", "entry": []}
    if value.get("resourceType") == "Bundle":
        return value | {"type": "searchset"}
    return value


def url_of(request: dict[str, Any], key: str) -> str:
    if key == "patient":
        return f"{FHIR}/Patient/{request['context']['patientId']}"
    return FHIR + PATHS[key]


def serve_chart(mock: responses.RequestsMock, request: dict[str, Any], keys: list[str]) -> None:
    """Answer the FHIR reads and searches for `keys` with what the request's prefetch held."""
    for key in keys:
        mock.add(responses.GET, url_of(request, key), json=_searchset(request["prefetch"][key]))


def topics(body: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((c["source"]["topic"]["code"], c["indicator"]) for c in body["cards"])


def test_all_prefetched_means_no_outbound_call(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    answer = client.post(SIGN, json=overdose_request())
    assert answer.status_code == 200
    assert len(fhir.calls) == 0
    assert ("dose", "critical") in topics(answer.get_json())


def test_absent_keys_are_fetched_with_the_ehr_token(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    request = overdose_request()
    full = copy.deepcopy(request)
    del request["prefetch"]["observations"], request["prefetch"]["patient"]
    serve_chart(fhir, full, ["observations", "patient"])
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 200
    assert_valid_cds_response(answer.get_json())
    assert ("dose", "critical") in topics(answer.get_json())
    urls = sorted(str(call.request.url) for call in fhir.calls)
    assert any(
        "/Observation?patient=pt-" in u and "loinc.org%7C29463-7" in u and "LA6576-8" not in u
        for u in urls
    ), urls
    assert any(u.endswith("/Patient/" + request["context"]["patientId"]) for u in urls)
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in fhir.calls)


def test_a_null_key_is_no_data_and_is_not_fetched(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    request = overdose_request()
    request["prefetch"]["observations"] = None
    body = client.post(SIGN, json=request).get_json()
    assert len(fhir.calls) == 0
    summaries = [c["summary"] for c in body["cards"]]
    assert any("no usable body weight" in s for s in summaries)
    assert ("dose", "critical") in topics(body), "the cap still catches 28 mcg/day on day 1 of R/R"


def test_an_operation_outcome_is_never_data_and_is_fetched_again(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    request = overdose_request()
    full = copy.deepcopy(request)
    request["prefetch"]["observations"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "search timed out"}],
    }
    serve_chart(fhir, full, ["observations"])
    body = client.post(SIGN, json=request).get_json()
    assert len(fhir.calls) == 1
    assert not any("no usable body weight" in c["summary"] for c in body["cards"])


def test_an_operation_outcome_without_a_server_is_a_could_not_verify_card(
    client: FlaskClient,
) -> None:
    request = overdose_request()
    del request["fhirServer"], request["fhirAuthorization"]
    request["prefetch"]["observations"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception", "diagnostics": "lab system down"}],
    }
    body = client.post(SIGN, json=request).get_json()
    not_run = [c for c in body["cards"] if c["summary"].startswith("Could not verify")]
    assert sorted((c["source"]["topic"]["code"], c["indicator"]) for c in not_run) == [
        ("dose", "warning"),
        ("lab-monitoring", "warning"),
    ]
    assert all("lab system down" in card["detail"] for card in not_run)


def with_search_outcome(severity: str) -> dict[str, Any]:
    """The overdose chart whose observations searchset also carries a search outcome."""
    request = overdose_request()
    del request["fhirServer"], request["fhirAuthorization"]
    request["prefetch"]["observations"]["entry"].append(
        {
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": severity,
                        "code": "incomplete",
                        "diagnostics": "Lab results from the reference laboratory unavailable",
                    }
                ],
            },
            "search": {"mode": "outcome"},
        }
    )
    return request


def test_an_error_beside_the_data_is_a_card_and_the_data_is_still_used(
    client: FlaskClient,
) -> None:
    """A searchset with results and a search outcome reporting an error: the results were used in
    silence, as if they were all there is (a lab missing from them read as "none on file")."""
    body = client.post(SIGN, json=with_search_outcome("error")).get_json()
    [incomplete] = [c for c in body["cards"] if c["summary"].startswith("The EHR reported an")]
    assert incomplete["indicator"] == "warning"
    assert incomplete["source"]["topic"]["code"] == "data-quality"
    assert "observations" in incomplete["summary"]
    assert "reference laboratory unavailable" in incomplete["detail"]
    assert any(c["indicator"] == "critical" for c in body["cards"])  # the weight was still read


@pytest.mark.parametrize("severity", ["information", "warning"])
def test_a_search_outcome_that_is_no_error_adds_nothing(client: FlaskClient, severity: str) -> None:
    plain = overdose_request()
    del plain["fhirServer"], plain["fhirAuthorization"]
    topics = [c["summary"] for c in client.post(SIGN, json=plain).get_json()["cards"]]
    noted = client.post(SIGN, json=with_search_outcome(severity)).get_json()["cards"]
    assert [c["summary"] for c in noted] == topics


def test_missing_keys_are_fetched_concurrently(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    request = overdose_request()
    full = copy.deepcopy(request)
    keys = ["observations", "immunizations", "medications", "conditions"]
    for key in keys:
        del request["prefetch"][key]
    for key in keys:
        payload = _searchset(full["prefetch"][key])

        def slow(_: Any, payload: dict[str, Any] = payload) -> tuple[int, dict[str, str], str]:
            time.sleep(0.3)
            return 200, {}, json.dumps(payload)

        fhir.add_callback(responses.GET, FHIR + PATHS[key], callback=slow)
    started = time.monotonic()
    answer = client.post(SIGN, json=request)
    elapsed = time.monotonic() - started
    assert answer.status_code == 200 and len(fhir.calls) == 4
    assert elapsed < 0.9, f"four 0.3 s searches took {elapsed:.2f} s: not concurrent"


def test_a_paginated_search_is_followed(client: FlaskClient, fhir: responses.RequestsMock) -> None:
    request = overdose_request()
    full = copy.deepcopy(request)
    del request["prefetch"]["observations"]
    entries = full["prefetch"]["observations"]["entry"]
    fhir.add(
        responses.GET,
        FHIR + "/Observation",
        match=[responses.matchers.query_param_matcher({"page": "2"}, strict_match=False)],
        json={"resourceType": "Bundle", "type": "searchset", "entry": entries},
    )
    fhir.add(
        responses.GET,
        FHIR + "/Observation",
        json={
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [],
            "link": [{"relation": "next", "url": FHIR + "/Observation?patient=x&page=2"}],
        },
    )
    body = client.post(SIGN, json=request).get_json()
    assert len(fhir.calls) == 2
    assert not any("no usable body weight" in c["summary"] for c in body["cards"])


def test_a_paginated_prefetch_value_is_completed_from_the_server(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    request = overdose_request()
    entries = request["prefetch"]["observations"]["entry"]
    request["prefetch"]["observations"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [],
        "link": [{"relation": "next", "url": FHIR + "/Observation?patient=x&page=2"}],
    }
    fhir.add(
        responses.GET,
        FHIR + "/Observation",
        json={"resourceType": "Bundle", "type": "searchset", "entry": entries},
    )
    body = client.post(SIGN, json=request).get_json()
    assert len(fhir.calls) == 1
    assert not any("no usable body weight" in c["summary"] for c in body["cards"])


def test_no_prefetch_and_no_server_is_412(client: FlaskClient) -> None:
    request = overdose_request()
    del request["prefetch"], request["fhirServer"], request["fhirAuthorization"]
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 412
    assert answer.get_json()["resourceType"] == "OperationOutcome"
    assert "observations" in answer.get_json()["issue"][0]["diagnostics"]


FAULTS = {
    "HTTP 500": {"status": 500, "json": {"resourceType": "OperationOutcome", "issue": []}},
    "HTTP 401": {"status": 401},
    "HTTP 403": {"status": 403},
    "HTTP 404": {"status": 404},
    "garbage": {"status": 200, "body": "<html>login</html>"},
    "timeout": {"body": requests.exceptions.ReadTimeout("slow")},
    "connection refused": {"body": requests.exceptions.ConnectionError("refused")},
    "OperationOutcome with 200": {
        "status": 200,
        "json": {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "forbidden"}],
        },
    },
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_a_failing_server_for_every_key_is_412(
    client: FlaskClient, fhir: responses.RequestsMock, fault: dict[str, Any]
) -> None:
    request = overdose_request()
    del request["prefetch"]
    for key in PATHS:
        fhir.add(responses.GET, url_of(request, key), **fault)
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 412
    assert answer.get_json()["resourceType"] == "OperationOutcome"


def test_one_failing_source_yields_a_could_not_verify_card_and_the_rest_still_runs(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    request = overdose_request()
    del request["prefetch"]["observations"]
    fhir.add(responses.GET, FHIR + "/Observation", status=503)
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 200
    body = answer.get_json()
    assert_valid_cds_response(body)
    not_run = [c for c in body["cards"] if c["summary"].startswith("Could not verify")]
    assert {c["source"]["topic"]["code"] for c in not_run} >= {"dose"}
    assert "503" in not_run[0]["detail"]


def test_a_slow_server_does_not_hold_the_answer_past_the_deadline(
    make_app: Any, tmp_path: Any, fhir: responses.RequestsMock
) -> None:
    settings = Settings(
        dev_mode=True,
        database_url=f"sqlite:///{tmp_path / 'f.db'}",
        fhir_deadline=0.5,
        fhir_read_timeout=5,
    )

    def never(_: Any) -> tuple[int, dict[str, str], str]:
        time.sleep(2)
        return 200, {}, "{}"

    request = overdose_request()
    del request["prefetch"]["observations"]
    fhir.add_callback(responses.GET, FHIR + "/Observation", callback=never)
    client = make_app(settings=settings).test_client()
    started = time.monotonic()
    answer = client.post(SIGN, json=request)
    assert time.monotonic() - started < 1.2
    assert answer.status_code == 200
    assert any("too slow" in c.get("detail", "") for c in answer.get_json()["cards"])


def test_another_patients_data_in_an_unfiltered_search_is_ignored(client: FlaskClient) -> None:
    request = overdose_request()
    observations = request["prefetch"]["observations"]["entry"]
    weights = [e for e in observations if e["resource"]["code"]["coding"][0]["code"] == "29463-7"]
    for entry in weights:
        entry["resource"]["subject"] = {"reference": "Patient/someone-else"}
    body = client.post(SIGN, json=request).get_json()
    assert any("no usable body weight" in c["summary"] for c in body["cards"])


def test_the_access_token_never_reaches_the_log(
    client: FlaskClient, fhir: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    request = overdose_request()
    del request["prefetch"]["observations"]
    fhir.add(responses.GET, FHIR + "/Observation", status=500)
    with caplog.at_level("DEBUG"):
        client.post(SIGN, json=request)
    assert TOKEN not in caplog.text


def test_calls_reuse_the_workers_fetch_threads(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """Four keys missing on five calls: fetched on the shared pool's threads, not 20 new ones."""
    request = overdose_request()
    keys = ["observations", "immunizations", "medications", "conditions"]
    seen: list[threading.Thread] = []
    for key in keys:
        payload = _searchset(request["prefetch"].pop(key))

        def answer(_: Any, payload: dict[str, Any] = payload) -> tuple[int, dict[str, str], str]:
            seen.append(threading.current_thread())
            return 200, {}, json.dumps(payload)

        fhir.add_callback(responses.GET, FHIR + PATHS[key], callback=answer)
    for _ in range(5):
        assert client.post(SIGN, json=request).status_code == 200
    assert len(seen) == 20
    assert all(thread.name.startswith("fhir-fetch") for thread in seen)
    assert len(set(seen)) < len(seen)  # a pool per call would have made 20 threads
    assert len(set(seen)) <= prefetch.FETCH_THREADS


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() of a threaded process (3.12+)
def test_a_forked_worker_starts_its_own_fetch_pool() -> None:
    assert prefetch._fetch_pool() is prefetch._fetch_pool()
    child = os.fork()
    if child == 0:  # the child: the parent's pool has no threads here
        os._exit(0 if prefetch._pool is None else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize(
    "next_url",
    [
        "https://EHR.example.org:443/fhir/Observation?patient=x&page=2",
        "https://ehr.example.org./fhir/Observation?patient=x&page=2",
    ],
)
def test_a_paginated_prefetch_value_is_completed_from_its_link_as_written(
    client: FlaskClient, fhir: responses.RequestsMock, next_url: str
) -> None:
    """fhirServer's origin spelled another way in a `next` link (default port, case, a trailing
    dot): the page is read from the link itself, not from a slice of it."""
    request = overdose_request()
    entries = request["prefetch"]["observations"]["entry"]
    request["prefetch"]["observations"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [],
        "link": [{"relation": "next", "url": next_url}],
    }
    fhir.add(
        responses.GET,
        re.compile(r"https://ehr\.example\.org\.?(:443)?/fhir/Observation\?patient=x&page=2"),
        json={"resourceType": "Bundle", "type": "searchset", "entry": entries},
    )
    body = client.post(SIGN, json=request).get_json()
    assert len(fhir.calls) == 1
    assert not any("no usable body weight" in c["summary"] for c in body["cards"])


@pytest.mark.parametrize("path", ["/fhir/../admin", "/fhir/%2e%2e/admin", "/fhir/x/..;/../admin"])
def test_a_prefetch_next_link_with_dot_segments_is_not_followed(
    client: FlaskClient, fhir: responses.RequestsMock, path: str
) -> None:
    request = overdose_request()
    request["prefetch"]["observations"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [],
        "link": [{"relation": "next", "url": f"https://ehr.example.org{path}/Observation"}],
    }
    fhir.add(responses.GET, re.compile(r".*"), json={"resourceType": "Bundle", "entry": []})
    body = client.post(SIGN, json=request).get_json()
    assert len(fhir.calls) == 0
    assert any("outside fhirServer" in c.get("detail", "") for c in body["cards"])
