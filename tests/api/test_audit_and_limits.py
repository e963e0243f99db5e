"""The audit trail an on-call engineer reads: one JSON line per call with what happened and how
long it took, and nothing about the patient and no token. And the limits on what a caller sends."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from cds.settings import Settings
from tests.conftest import SIGN, chart_request, without_prefetch

CHART = "premed-adult-rr-cycle1-missing"
ACCESS_TOKEN = "ehr-access-token-SECRET-42"


def _phi(request: dict[str, Any]) -> set[str]:
    """Every identifying value of the chart: ids, names, birth date, resource ids."""
    found = {request["context"]["patientId"], request["context"]["userId"]}
    patient = request["prefetch"]["patient"]
    found.add(patient["birthDate"])
    for name in patient.get("name", []):
        found |= set(name.get("given", [])) | {name.get("family", "")}
    for value in request["prefetch"].values():
        for entry in (value or {}).get("entry", []):
            found.add(entry["resource"]["id"])
    for entry in request["context"]["draftOrders"]["entry"]:
        found.add(entry["resource"]["id"])
    return {value for value in found if value and len(value) > 3}


def _audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "cds.audit"]


def test_one_json_line_per_call_with_outcome_topics_and_duration_and_no_patient_data(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    request = chart_request(CHART)
    phi = _phi(request)
    caplog.set_level(logging.INFO, logger="cds.audit")

    ok = client.post(SIGN, json=request)
    invalid = copy.deepcopy(request)
    del invalid["context"]["userId"]
    invalid["context"]["patientId"] = "someone-else-entirely"
    refused = client.post(SIGN, json=invalid)
    assert (ok.status_code, refused.status_code) == (200, 400)

    first, second = _audit_lines(caplog)
    assert first["event"] == "hook-call" and first["service"] == "blinatumomab-order-sign"
    assert first["hookInstance"] == request["hookInstance"]
    assert first["status"] == 200 and isinstance(first["ms"], float)
    assert "premedication:warning" in first["cards"]
    assert second["status"] == 400 and second["problem"]
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "cds.audit")
    leaked = sorted(value for value in phi | {"someone-else-entirely"} if value in logged)
    assert leaked == [], f"patient data in the audit log: {leaked}"


def test_a_failed_fetch_logs_neither_the_token_nor_the_patient(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    request = without_prefetch(chart_request(CHART)) | {
        "fhirServer": "https://ehr.example.org/fhir",
        "fhirAuthorization": {
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        },
    }
    phi = _phi(chart_request(CHART))
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as fhir:
        fhir.add(responses.GET, "https://ehr.example.org/fhir/Patient", status=503)
        answer = client.post(SIGN, json=request)
    assert answer.status_code == 412
    [line] = _audit_lines(caplog)
    assert line["status"] == 412
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert ACCESS_TOKEN not in everything
    audit_text = json.dumps(line)
    assert sorted(value for value in phi if value in audit_text) == []


def test_more_draft_orders_than_the_limit_is_a_clear_4xx(make_app: Any, tmp_path: Any) -> None:
    settings = Settings(
        dev_mode=True, database_url=f"sqlite:///{tmp_path / 'f.db'}", max_draft_orders=5
    )
    client = make_app(settings=settings).test_client()
    request = chart_request(CHART)
    entries = request["context"]["draftOrders"]["entry"]
    order = entries[0]["resource"]
    for index in range(6 - len(entries)):
        extra = copy.deepcopy(order) | {"id": f"extra-order-{index}"}
        entries.append({"resource": extra})
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 413
    outcome = answer.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "more than 5 draft orders" in outcome["issue"][0]["diagnostics"]

    del entries[5:]
    assert client.post(SIGN, json=request).status_code == 200


def test_every_call_of_an_audited_route_is_one_line_whatever_its_outcome(
    make_app: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feedback, a refused token, and a call that fails inside the service each leave one line."""
    caplog.set_level(logging.INFO, logger="cds.audit")
    open_client = make_app().test_client()
    feedback = {
        "feedback": [
            {
                "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
                "outcome": "overridden",
                "overrideReason": {"userComment": "Dose confirmed with the attending."},
                "outcomeTimestamp": "2026-03-02T08:05:31Z",
            }
        ]
    }
    assert open_client.post(f"{SIGN}/feedback", json=feedback).status_code == 200

    secure = Settings(
        dev_mode=False,
        trust_cds_hooks_sandbox=True,
        public_base_url="https://cds.hospital.example",
        database_url=f"sqlite:///{tmp_path / 'secure.db'}",
    )
    refused = make_app(settings=secure).test_client().post(SIGN, json=chart_request(CHART))
    assert refused.status_code == 401 and refused.data == b""

    def store_down(*args: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("cds.feedback.FeedbackStore.record_issued", store_down)
    failed = open_client.post(SIGN, json=chart_request(CHART))
    assert failed.status_code == 500

    stored, unauthorised, crashed = _audit_lines(caplog)
    assert stored["event"] == "feedback" and stored["status"] == 200
    assert (stored["items"], stored["duplicates"], stored["unknownCards"]) == (1, 0, 1)
    assert unauthorised["event"] == "hook-call" and unauthorised["status"] == 401
    assert unauthorised["auth"]  # the reason, for the log only
    assert crashed["event"] == "hook-call" and crashed["status"] == 500
    assert "disk on fire" not in json.dumps(crashed)


def test_no_caller_can_make_an_audit_line_as_long_as_its_request(
    make_app: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An unauthenticated caller's 250 KB service id was logged whole in `service`; every text a
    caller controls is cut to FIELD_LIMIT, ending in CUT."""
    from cds.web.audit import CUT, FIELD_LIMIT

    caplog.set_level(logging.INFO, logger="cds.audit")
    secure = Settings(
        dev_mode=False,
        trust_cds_hooks_sandbox=True,
        public_base_url="https://cds.hospital.example",
        database_url=f"sqlite:///{tmp_path / 'secure.db'}",
    )
    long_id = "a" * 250_000
    refused = make_app(settings=secure).test_client().post(f"/cds-services/{long_id}", json={})
    assert refused.status_code == 401
    open_client = make_app().test_client()
    unknown = open_client.post(f"/cds-services/{long_id}/feedback", json={"feedback": []})
    assert unknown.status_code == 404
    request = chart_request(CHART) | {"hookInstance": "h" * 100_000}
    assert open_client.post(SIGN, json=request).status_code == 400

    lines = _audit_lines(caplog)
    assert len(lines) == 3
    for line in lines:
        assert len(json.dumps(line)) < 3 * FIELD_LIMIT + 300, line
    first, second, third = lines
    assert first["service"] == second["service"] == long_id[: FIELD_LIMIT - len(CUT)] + CUT
    assert third["hookInstance"].endswith(CUT) and len(third["hookInstance"]) == FIELD_LIMIT
    assert len(third["problem"]) <= FIELD_LIMIT
    assert first["auth"] and not first["auth"].endswith(CUT)  # short texts are kept whole


def test_a_body_over_the_limit_refused_by_the_server_is_audited_as_the_views_are(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """waitress answers a body over CDS_MAX_BODY_BYTES with a 413 before the app sees it (it was
    in no audit line: the on-call engineer could not see it). `refused_by_server` writes the line
    the view would: its event and service, the status and the problem, no caller."""
    from cds.web.audit import CUT, FIELD_LIMIT, refused_by_server

    app = make_app()
    caplog.set_level(logging.INFO, logger="cds.audit")
    problem = "Request Entity Too Large: exceeds max_body of 5000000"
    long_id = "b" * 10_000
    for method, path in [
        ("POST", SIGN),
        ("POST", f"{SIGN}/feedback"),
        ("GET", "/cds-services"),
        ("POST", f"/cds-services/{long_id}"),
        ("POST", "/healthz"),  # no such method: no view
        ("GET", "/healthz"),  # no audited view
        ("POST", "/no-such-path"),
        ("POST", "//cds-services/blinatumomab-order-sign"),  # no route (a JSON 404)
        (None, None),  # the request line itself was refused
    ]:
        refused_by_server(app, method, path, 413, problem)
    sign, feedback, discovery, unknown = _audit_lines(caplog)
    assert sign == {
        "event": "hook-call",
        "service": "blinatumomab-order-sign",
        "problem": problem,
        "status": 413,
        "ms": sign["ms"],
    }
    assert (feedback["event"], feedback["service"], feedback["status"]) == (
        "feedback",
        "blinatumomab-order-sign",
        413,
    )
    assert (discovery["event"], discovery["status"]) == ("discovery", 413)
    assert "service" not in discovery
    assert unknown["service"] == long_id[: FIELD_LIMIT - len(CUT)] + CUT  # as the view's line


@pytest.mark.parametrize(
    "quoted",
    ["caf%C3%A9-%E2%80%AE", "bad-%FF%FE-utf8", "plain-ascii"],
    ids=["utf-8", "not-utf-8", "ascii"],
)
def test_a_refusal_by_the_server_names_the_service_as_the_apps_own_line_does(
    make_app: Any, caplog: pytest.LogCaptureFixture, quoted: str
) -> None:
    """waitress hands over the path as latin-1 text of its bytes; the 413 line named
    `/cds-services/caf%C3%A9` as `cafÃ©` where the app's own line (Werkzeug: UTF-8) says `café`."""
    from waitress.parser import unquote_bytes_to_wsgi

    from cds.web.audit import refused_by_server

    app = make_app()
    caplog.set_level(logging.INFO, logger="cds.audit")
    path = f"/cds-services/{quoted}"
    app.test_client().post(path, json={})
    refused_by_server(app, "POST", unquote_bytes_to_wsgi(path.encode()), 413, "too large")
    own, refused = _audit_lines(caplog)
    assert refused["status"] == 413
    assert refused["service"] == own["service"]
