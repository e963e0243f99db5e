"""Discovery and the CDS Hooks envelope: what an EHR integrator sees first, and every way a
request can be malformed (a 4xx with an OperationOutcome naming the problem, never a 5xx)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from cds.settings import Settings
from tests.api.conformance import assert_valid_cds_response
from tests.conftest import SELECT, SIGN, cards_by_topic, chart_request

TOKEN = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


def test_discovery_lists_both_services_with_the_design_prefetch(client: FlaskClient) -> None:
    body = client.get("/cds-services").get_json()
    services = {s["id"]: s for s in body["services"]}
    assert {(i, s["hook"]) for i, s in services.items()} == {
        ("blinatumomab-order-sign", "order-sign"),
        ("blinatumomab-order-select", "order-select"),
    }
    for service in services.values():
        assert service["title"] and service["description"] and service["usageRequirements"]
        assert "DEVELOPMENT MODE" in service["description"]
        prefetch = service["prefetch"]
        assert set(prefetch) == {
            "patient",
            "observations",
            "immunizations",
            "medications",
            "conditions",
            "encounter",  # design.md: optional, read only when the EHR names an encounter
            "administrations",  # optional: interruptions from the MAR; not prefetched = no data
            "procedures",  # optional: hysterectomy, delivery; not prefetched = no data
        }
        assert prefetch["administrations"] == (
            "MedicationAdministration?patient={{context.patientId}}"
        )
        assert prefetch["procedures"].startswith("Procedure?patient={{context.patientId}}&code=")
        assert "http://snomed.info/sct|236886002" in prefetch["procedures"]  # hysterectomy
        assert prefetch["patient"] == "Patient/{{context.patientId}}"
        assert prefetch["encounter"] == "Encounter/{{context.encounterId}}"
        assert "http://loinc.org|29463-7" in prefetch["observations"]
        for template in prefetch.values():
            assert set(TOKEN.findall(template)) <= {
                "context.patientId",
                "context.userId",
                "context.encounterId",
            }


def sign_request() -> dict[str, Any]:
    return chart_request("dose-adult-rr-cycle1-starts-at-28")


def _without(path: str) -> dict[str, Any]:
    request = sign_request()
    node = request
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    del node[last]
    return request


BAD_REQUESTS = {
    "no hook": (lambda: _without("hook"), "hook"),
    "no hookInstance": (lambda: _without("hookInstance"), "hookInstance"),
    "no context": (lambda: _without("context"), "context"),
    "no draftOrders": (lambda: _without("context.draftOrders"), "draftOrders"),
    "no patientId": (lambda: _without("context.patientId"), "patientId"),
    "no userId": (lambda: _without("context.userId"), "userId"),
    "wrong hook": (lambda: sign_request() | {"hook": "patient-view"}, "patient-view"),
    "draftOrders not a Bundle": (
        lambda: (r := sign_request(), r["context"].update(draftOrders={"resourceType": "List"}), r)[
            0
        ],
        "Bundle",
    ),
    "fhirAuthorization without fhirServer": (
        lambda: (
            sign_request()
            | {
                "fhirAuthorization": {
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "s",
                    "subject": "c",
                }
            }
        ),
        "fhirServer",
    ),
    "a list, not an object": (lambda: [sign_request()], "object"),
}


@pytest.mark.parametrize(("make", "named"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_a_malformed_request_is_a_400_naming_the_problem(
    client: FlaskClient, make: Any, named: str
) -> None:
    answer = client.post(SIGN, json=make())
    assert answer.status_code == 400
    outcome = answer.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert named in outcome["issue"][0]["diagnostics"]


def test_order_select_needs_selections(client: FlaskClient) -> None:
    request = sign_request() | {"hook": "order-select"}
    answer = client.post(SELECT, json=request)
    assert (
        answer.status_code == 400 and "selections" in answer.get_json()["issue"][0]["diagnostics"]
    )


def test_not_json_is_400_wrong_type_415_unknown_service_404(client: FlaskClient) -> None:
    assert client.post(SIGN, data="{not json", content_type="application/json").status_code == 400
    assert (
        client.post(SIGN, data=json.dumps(sign_request()), content_type="text/plain").status_code
        == 415
    )
    assert client.post("/cds-services/warfarin", json=sign_request()).status_code == 404


def test_a_body_over_the_limit_is_413(make_app: Any, tmp_path: Any) -> None:
    small = Settings(
        dev_mode=True, database_url=f"sqlite:///{tmp_path / 'f.db'}", max_body_bytes=2000
    )
    answer = make_app(settings=small).test_client().post(SIGN, json=sign_request())
    assert answer.status_code == 413
    assert answer.get_json()["resourceType"] == "OperationOutcome"


def test_the_same_hook_instance_twice_is_answered_twice(client: FlaskClient) -> None:
    request = sign_request()
    first, second = client.post(SIGN, json=request), client.post(SIGN, json=request)
    assert first.status_code == second.status_code == 200
    assert [c["summary"] for c in first.get_json()["cards"]] == [
        c["summary"] for c in second.get_json()["cards"]
    ]


@responses.activate
def test_no_blinatumomab_in_the_draft_orders_is_no_cards_and_no_fetch(client: FlaskClient) -> None:
    request = sign_request()
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["medicationCodeableConcept"] = {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "197361",
                "display": "amlodipine 5 MG Oral Tablet",
            }
        ],
        "text": "amlodipine 5 mg tablet",
    }
    request.pop("prefetch")
    request["fhirServer"] = "https://ehr.example.org/fhir"
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 200 and answer.get_json() == {"cards": []}
    assert len(responses.calls) == 0


def quirky(change: Any) -> dict[str, Any]:
    request = sign_request()
    change(request, request["context"]["draftOrders"]["entry"][0]["resource"])
    return request


def _dose_on_dosage(request: dict[str, Any], order: dict[str, Any]) -> None:
    for dosage in order["dosageInstruction"]:
        dosage["doseQuantity"] = dosage.pop("doseAndRate")[0]["doseQuantity"]


QUIRKS = {
    "no Bundle.type": lambda r, o: r["context"]["draftOrders"].pop("type"),
    "category as an object": lambda r, o: o.update(category={"coding": [{"code": "inpatient"}]}),
    "doseQuantity on the dosage": _dose_on_dosage,
    "patientId as Patient/x": lambda r, o: r["context"].update(
        patientId="Patient/" + r["context"]["patientId"]
    ),
    "unknown extension and context fields": lambda r, o: (
        r.update(extension={"org.example.flag": True}),
        r["context"].update(somethingNew={"x": 1}),
        o.setdefault("extension", []).append(
            {"url": "https://ehr.example.org/ext", "valueString": "x"}
        ),
    ),
}


@pytest.mark.parametrize("change", QUIRKS.values(), ids=QUIRKS.keys())
def test_real_client_quirks_are_tolerated_and_the_dose_is_still_checked(
    client: FlaskClient, change: Any
) -> None:
    answer = client.post(SIGN, json=quirky(change))
    assert answer.status_code == 200
    body = answer.get_json()
    assert_valid_cds_response(body)
    assert ("dose", "critical") in [
        (c["source"]["topic"]["code"], c["indicator"]) for c in body["cards"]
    ]


def test_order_select_speaks_only_about_the_selected_orders(client: FlaskClient) -> None:
    request = sign_request() | {"hook": "order-select"}
    overdose = request["context"]["draftOrders"]["entry"][0]["resource"]
    request["context"]["selections"] = ["MedicationRequest/dexamethasone-premed"]
    assert client.post(SELECT, json=request).get_json() == {"cards": []}
    request["context"]["selections"] = [f"MedicationRequest/{overdose['id']}"]
    body = client.post(SELECT, json=request).get_json()
    assert_valid_cds_response(body)
    assert ("dose", "critical") in [
        (c["source"]["topic"]["code"], c["indicator"]) for c in body["cards"]
    ]


def test_order_select_with_a_bare_order_not_yet_filled_in(client: FlaskClient) -> None:
    """The sandbox sends a MedicationRequest with no intent and no dose until they are chosen."""
    request = sign_request() | {"hook": "order-select"}
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    for key in ("intent", "dosageInstruction", "dispenseRequest"):
        order.pop(key, None)
    request["context"]["selections"] = [f"MedicationRequest/{order['id']}"]
    answer = client.post(SELECT, json=copy.deepcopy(request))
    assert answer.status_code == 200
    body = answer.get_json()
    assert_valid_cds_response(body)
    dose_cards = [c["indicator"] for c in body["cards"] if c["source"]["topic"]["code"] == "dose"]
    assert dose_cards == ["info"]


@pytest.mark.parametrize(
    "selection",
    [
        "MedicationRequest/blinatumomab-c1/_history/1",
        "https://ehr.example.org/fhir/MedicationRequest/blinatumomab-c1",
        "urn:uuid:5f1c2a9e-3b7d-4c1e-9a55-0d6f3e2b7c41",
        "blinatumomab-c1",
    ],
)
def test_order_select_names_the_selected_order_in_any_reference_form(
    client: FlaskClient, selection: str
) -> None:
    """A selection spelled as the EHR writes references gets the cards of the canonical
    `MedicationRequest/id` (they once got no cards at all, unchecked)."""
    request = sign_request() | {"hook": "order-select"}
    request["context"]["draftOrders"]["entry"][0]["fullUrl"] = (
        "urn:uuid:5f1c2a9e-3b7d-4c1e-9a55-0d6f3e2b7c41"
    )
    request["context"]["selections"] = ["MedicationRequest/blinatumomab-c1"]
    expected = cards_by_topic(client.post(SELECT, json=copy.deepcopy(request)).get_json())
    assert ("dose", "critical", "dose-overdose") in expected
    request["context"]["selections"] = [selection]
    answer = client.post(SELECT, json=request)
    assert answer.status_code == 200
    assert cards_by_topic(answer.get_json()) == expected


def test_a_selection_naming_no_draft_order_is_a_400_not_silence(client: FlaskClient) -> None:
    request = sign_request() | {"hook": "order-select"}
    request["context"]["selections"] = ["MedicationRequest/some-other-order"]
    answer = client.post(SELECT, json=request)
    assert answer.status_code == 400
    assert "some-other-order" in json.dumps(answer.get_json())


def _select(request: dict[str, Any], *selections: str) -> dict[str, Any]:
    selected = copy.deepcopy(request) | {"hook": "order-select"}
    selected["context"]["selections"] = list(selections)
    return selected


def test_a_bare_id_naming_two_draft_orders_is_ambiguous_not_the_last_one(
    client: FlaskClient,
) -> None:
    """A ServiceRequest listed after the blinatumomab order with the same id once took a bare-id
    selection silently (`{"cards": []}`, unchecked)."""
    request = sign_request()
    entries = request["context"]["draftOrders"]["entry"]
    assert entries[0]["resource"]["id"] == "blinatumomab-c1"
    entries.append(
        {
            "resource": {
                "resourceType": "ServiceRequest",
                "id": "blinatumomab-c1",
                "status": "draft",
                "intent": "order",
                "code": {"text": "Complete blood count"},
                "subject": {"reference": f"Patient/{request['context']['patientId']}"},
            }
        }
    )
    answer = client.post(SELECT, json=_select(request, "blinatumomab-c1"))
    assert answer.status_code == 400
    diagnostics = answer.get_json()["issue"][0]["diagnostics"]
    assert "ambiguous" in diagnostics
    assert "MedicationRequest/blinatumomab-c1" in diagnostics
    assert "ServiceRequest/blinatumomab-c1" in diagnostics
    typed = client.post(SELECT, json=_select(request, "MedicationRequest/blinatumomab-c1"))
    assert ("dose", "critical", "dose-overdose") in cards_by_topic(typed.get_json())


@pytest.mark.parametrize("spelled_by", ["id", "fullUrl"])
def test_a_type_and_id_selection_is_never_taken_by_an_entry_spelled_like_it(
    client: FlaskClient, spelled_by: str
) -> None:
    """Another entry whose id or fullUrl is the string `MedicationRequest/blinatumomab-c1` does
    not capture the selection of the real MedicationRequest/blinatumomab-c1."""
    request = sign_request()
    decoy: dict[str, Any] = {
        "resource": {
            "resourceType": "MedicationRequest",
            "id": "saline-flush",
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": {"text": "sodium chloride 0.9% flush"},
            "subject": {"reference": f"Patient/{request['context']['patientId']}"},
        }
    }
    if spelled_by == "id":
        decoy["resource"]["id"] = "MedicationRequest/blinatumomab-c1"
    else:
        decoy["fullUrl"] = "MedicationRequest/blinatumomab-c1"
    request["context"]["draftOrders"]["entry"].append(decoy)
    answer = client.post(SELECT, json=_select(request, "MedicationRequest/blinatumomab-c1"))
    assert answer.status_code == 200
    assert ("dose", "critical", "dose-overdose") in cards_by_topic(answer.get_json())


def test_an_order_without_an_id_is_selected_by_its_full_url(client: FlaskClient) -> None:
    """The order is read as `MedicationRequest/draft-N` (cds.fhir.snapshot.unnamed_requests);
    its urn:uuid fullUrl selects that name (it was a 400, "names no order")."""
    request = sign_request()
    entries = request["context"]["draftOrders"]["entry"]
    expected = cards_by_topic(
        client.post(SELECT, json=_select(request, "MedicationRequest/blinatumomab-c1")).get_json()
    )
    assert ("dose", "critical", "dose-overdose") in expected
    entries.insert(  # the blinatumomab order is the second MedicationRequest: draft-2
        0,
        {
            "resource": {
                "resourceType": "MedicationRequest",
                "id": "saline-flush",
                "status": "draft",
                "intent": "order",
                "medicationCodeableConcept": {"text": "sodium chloride 0.9% flush"},
                "subject": {"reference": f"Patient/{request['context']['patientId']}"},
            }
        },
    )
    order = entries[1]
    del order["resource"]["id"]
    order["fullUrl"] = "urn:uuid:0f0e2d7c-1111-4222-8333-944455556666"
    answer = client.post(SELECT, json=_select(request, order["fullUrl"]))
    assert answer.status_code == 200, answer.get_json()
    got = cards_by_topic(answer.get_json())
    assert ("dose", "critical", "dose-overdose") in got


def _service_request(request: dict[str, Any], code: dict[str, Any]) -> dict[str, Any]:
    """A draft ServiceRequest sent without an id, named only by its Bundle entry's fullUrl."""
    return {
        "fullUrl": "urn:uuid:7c1d9e0a-2222-4333-8444-a55566667777",
        "resource": {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "code": code,
            "subject": {"reference": f"Patient/{request['context']['patientId']}"},
            "authoredOn": "2026-03-02T08:00:00+00:00",
        },
    }


MMR = {
    "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "03", "display": "MMR"}],
    "text": "MMR",
}
CBC = {"coding": [{"system": "http://loinc.org", "code": "58410-2", "display": "CBC panel"}]}


def test_a_service_request_without_an_id_is_selected_by_its_full_url(
    client: FlaskClient,
) -> None:
    """An id-less live vaccine ordered as a procedure, selected by its urn:uuid fullUrl, gets
    its live-vaccine card (it was a 400, "names no order"), as the same order with an id does."""
    request = sign_request()
    entries = request["context"]["draftOrders"]["entry"]
    entry = _service_request(request, MMR)
    entries.append(entry)
    answer = client.post(SELECT, json=_select(request, entry["fullUrl"]))
    assert answer.status_code == 200, answer.get_json()
    got = cards_by_topic(answer.get_json())
    entry["resource"]["id"] = "mmr-order"
    expected = cards_by_topic(
        client.post(SELECT, json=_select(request, "ServiceRequest/mmr-order")).get_json()
    )
    assert any(topic == "live-vaccine" for topic, _, _ in expected)
    assert got == expected


def test_any_draft_service_request_without_an_id_may_be_selected_by_its_full_url(
    client: FlaskClient,
) -> None:
    """A lab order is no order the checks read: selected, it gets no cards, never a 400."""
    request = sign_request()
    entry = _service_request(request, CBC)
    request["context"]["draftOrders"]["entry"].append(entry)
    answer = client.post(SELECT, json=_select(request, entry["fullUrl"]))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"cards": []}


def test_a_selection_of_a_resource_without_a_type_is_a_400_not_a_500(client: FlaskClient) -> None:
    request = sign_request()
    request["context"]["draftOrders"]["entry"].append({"resource": {"id": "untyped"}})
    answer = client.post(SELECT, json=_select(request, "untyped"))
    assert answer.status_code == 400
    assert "names no order" in answer.get_json()["issue"][0]["diagnostics"]


def test_a_long_selection_is_not_echoed_whole(client: FlaskClient) -> None:
    selection = "MedicationRequest/" + "a" * 1_000_000
    answer = client.post(SELECT, json=_select(sign_request(), selection))
    assert answer.status_code == 400
    diagnostics = answer.get_json()["issue"][0]["diagnostics"]
    assert "names no order" in diagnostics and f"({len(selection)} characters)" in diagnostics
    assert len(answer.data) < 2000


@pytest.mark.parametrize(
    "path",
    [
        "/cds-services//blinatumomab-order-sign/feedback",
        "/cds-services//blinatumomab-order-sign",
        "/cds-services/blinatumomab-order-sign//feedback",
        "/cds-services/blinatumomab-order-sign/feedback//",
        "/cds-services/",
    ],
)
def test_a_double_slash_is_a_json_404_never_a_redirect_to_the_host_header(
    client: FlaskClient, path: str
) -> None:
    """Werkzeug merged `//` and answered a 308 to `http://<Host header>/...`, in HTML."""
    answer = _sent_as(client, path, "POST")
    assert answer.status_code == 404
    assert "Location" not in answer.headers
    assert answer.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("//cds-services", "GET"),
        ("//healthz", "GET"),
        ("//readyz", "GET"),
        ("//openapi.json", "GET"),
        ("//metrics", "GET"),
        ("//" + SIGN.lstrip("/"), "POST"),
        ("///" + SIGN, "POST"),
        ("//" + SIGN.lstrip("/") + "/feedback", "POST"),
        ("//healthz", "POST"),  # a 404, not the 405 of /healthz
    ],
)
def test_leading_slashes_are_a_json_404_never_the_path_without_them(
    client: FlaskClient, path: str, method: str
) -> None:
    """Werkzeug drops leading slashes before matching (and from `request.path`, the JWT's
    audience): `//cds-services/x` was served as `/cds-services/x`, a second spelling of each URL
    that a proxy's path rules do not see as the one they guard. It is an unknown path."""
    answer = _sent_as(client, path, method)
    assert answer.status_code == 404
    assert "Location" not in answer.headers
    outcome = answer.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"


def test_a_single_leading_slash_still_names_the_path(client: FlaskClient) -> None:
    assert _sent_as(client, "/healthz", "GET").status_code == 200
    assert _sent_as(client, SIGN, "POST").status_code == 200


def _sent_as(client: FlaskClient, path: str, method: str) -> Any:
    """`path` as the WSGI server passes it (the test client would read `//x` as a host)."""
    return client.open(
        "/",
        method=method,
        json=sign_request() if method == "POST" else None,
        headers={"Host": "evil.example"},
        environ_overrides={"PATH_INFO": path},
    )


def test_no_route_needs_slashes_merged(app: Any) -> None:
    assert app.url_map.merge_slashes is False
    for rule in app.url_map.iter_rules():
        assert "//" not in rule.rule, rule.rule


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", SIGN, {"POST", "OPTIONS"}),
        ("DELETE", "/cds-services", {"GET", "HEAD", "OPTIONS"}),
        ("PUT", SIGN + "/feedback", {"POST", "OPTIONS"}),
        ("POST", "/healthz", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_a_405_names_the_allowed_methods(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    answer = client.open(path, method=method)
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].split(", ")) == allowed
    outcome = answer.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-supported"
