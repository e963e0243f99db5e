"""The sandbox page's server side: when it is mounted, the sample charts (moved to today without
changing what the checks conclude), the summary of what the checks see, and bad input as 4xx JSON.
The page itself is driven in a browser by tests/browser/."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from cds.dosing import mosteller_bsa
from cds.fhir.bundle import chart_signing_time, days_to, request_from_bundle, shift_dates
from cds.settings import Settings
from cds.units import format_number
from tests.conftest import FIXTURES, NOW, SELECT, SIGN, cards_by_topic, load_json

CHART_NAMES = sorted(
    p.name[: -len(".json")]
    for p in (FIXTURES / "charts").glob("*.json")
    if not p.name.endswith(".expected.json")
)


def chart(name: str) -> dict[str, Any]:
    return load_json(f"charts/{name}.json")  # type: ignore[no-any-return]


def summary_of(client: FlaskClient, name: str) -> dict[str, Any]:
    answer = client.post("/sandbox/summary", json=chart(name))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()  # type: ignore[no-any-return]


# --- when the page is there -----------------------------------------------------------------------


def test_the_page_is_on_in_dev_mode_and_served_with_a_strict_policy(client: FlaskClient) -> None:
    page = client.get("/sandbox")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b"Blinatumomab CDS sandbox" in page.data
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    for asset, kind in (
        ("app.js", "javascript"),
        ("markdown.js", "javascript"),
        ("style.css", "css"),
    ):
        served = client.get(f"/sandbox/static/{asset}")
        assert served.status_code == 200 and served.mimetype is not None
        assert kind in served.mimetype
        served.close()
    page.close()


class SecureSettings(TypedDict):
    """The Settings of a service outside dev mode, as keyword arguments."""

    dev_mode: bool
    trust_cds_hooks_sandbox: bool
    database_url: str
    public_base_url: str


def test_the_page_is_off_outside_dev_mode_unless_enabled(
    tmp_path: Path, make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{tmp_path / 'off.sqlite3'}"
    secure: SecureSettings = {
        "dev_mode": False,
        "trust_cds_hooks_sandbox": True,
        "database_url": database,
        "public_base_url": "http://localhost",
    }
    off = make_app(settings=Settings(**secure)).test_client()
    assert off.get("/sandbox").status_code == 404
    assert off.get("/sandbox/patients").get_json()["resourceType"] == "OperationOutcome"

    monkeypatch.setenv("CDS_SANDBOX_PAGE", "true")
    on = make_app(settings=Settings(**secure)).test_client()
    assert on.get("/sandbox/patients").status_code == 200

    monkeypatch.setenv("CDS_SANDBOX_PAGE", "false")
    dev_but_off = make_app(settings=Settings(dev_mode=True, database_url=database)).test_client()
    assert dev_but_off.get("/sandbox").status_code == 404


def test_start_up_says_loudly_that_the_page_is_on(
    tmp_path: Path, make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        dev_mode=False,
        sandbox_page=True,
        trust_cds_hooks_sandbox=True,
        database_url=f"sqlite:///{tmp_path / 'loud.sqlite3'}",
        public_base_url="http://localhost",
    )
    with caplog.at_level(logging.WARNING, logger="cds.web.sandbox"):
        make_app(settings=settings)
    said = "\n".join(r.getMessage() for r in caplog.records if r.name == "cds.web.sandbox")
    assert "SANDBOX PAGE ON at /sandbox" in said and "NO authentication" in said
    assert "401" in said  # outside --dev it warns that the page's calls will be refused


# --- sample charts -------------------------------------------------------------------------------


def test_every_sample_chart_is_listed_with_its_expected_cards(client: FlaskClient) -> None:
    listed = client.get("/sandbox/patients").get_json()["patients"]
    assert [p["name"] for p in listed] == CHART_NAMES
    by_name = {p["name"]: p for p in listed}
    expected = load_json("charts/premed-adult-rr-cycle1-missing.expected.json")["cards"]
    assert by_name["premed-adult-rr-cycle1-missing"]["expectedCards"] == expected
    assert by_name["premed-adult-rr-cycle1-missing"]["patient"] == "Daniel Okafor"
    assert by_name["pregnancy-woman-28-no-test"]["gender"] == "female"


@pytest.mark.parametrize(
    "name", ["nope", "..%2Fcharts%2Fx", "premed-adult-rr-cycle1-missing.expected", "UPPER"]
)
def test_an_unknown_chart_is_a_json_404(client: FlaskClient, name: str) -> None:
    answer = client.get(f"/sandbox/patients/{name}")
    assert answer.status_code == 404
    assert answer.get_json()["resourceType"] == "OperationOutcome"


def test_a_chart_is_moved_to_the_service_clock_by_whole_days(
    make_app: Callable[..., Flask],
) -> None:
    later = NOW + timedelta(days=40, hours=9)
    client = make_app(clock=lambda: later).test_client()
    name = "vaccine-mmr-10-days-before-start"
    original = chart(name)
    answer = client.get(f"/sandbox/patients/{name}")
    assert answer.headers["X-Sandbox-Date-Shift-Days"] == "40"
    moved = answer.get_json()
    assert moved == shift_dates(original, 40)
    patient = next(e["resource"] for e in moved["entry"] if e["resource"]["id"] == "pt-vaccine")
    assert (
        patient["birthDate"] == (date.fromisoformat("1968-07-14") + timedelta(days=40)).isoformat()
    )
    as_is = client.get(f"/sandbox/patients/{name}?dates=original")
    assert as_is.get_json() == original and as_is.headers["X-Sandbox-Date-Shift-Days"] == "0"


def test_moving_dates_keeps_times_zones_and_what_is_not_a_date() -> None:
    resource = {
        "id": "2026-03-02",
        "identifier": [{"system": "urn:x", "value": "MRN-2026-03"}],
        "code": {"coding": [{"code": "2026-03-02", "display": "2026-03-02"}]},
        "authoredOn": "2026-03-02T08:00:00+02:00",
        "issued": "2026-02-28T23:59:59.123Z",
        "birthDate": "1998-05-03",
        "recorded": "2026-03",
        "broken": "2026-02-30",
        "valueInteger": 20260302,
    }
    moved = shift_dates(resource, 3)
    assert moved["authoredOn"] == "2026-03-05T08:00:00+02:00"
    assert moved["issued"] == "2026-03-03T23:59:59.123Z"
    assert moved["birthDate"] == "1998-05-06"
    for unchanged in ("id", "identifier", "code", "recorded", "broken", "valueInteger"):
        assert moved[unchanged] == resource[unchanged]
    assert shift_dates(resource, 0) == resource


def test_the_anchor_is_the_newest_draft_authored_on() -> None:
    bundle = chart("dose-adult-rr-cycle1-day8-stepup-correct")
    anchor = chart_signing_time(bundle)
    assert anchor == NOW  # the fixtures are all signed at tests.conftest.NOW
    assert days_to(anchor, datetime(2026, 3, 12, 23, 59, tzinfo=UTC)) == 10
    assert days_to(None, NOW) == 0


@pytest.mark.parametrize("hour", [0, 9, 23])
def test_every_chart_moved_to_today_gets_the_cards_it_got_when_written(
    make_app: Callable[..., Flask], hour: int
) -> None:
    """Moving by whole days must not change what the checks conclude, whatever the hour of
    signing: otherwise the page would show different cards from the fixture's."""
    today = datetime(2027, 7, 15, hour, 30, tzinfo=UTC)
    moved_app = make_app(clock=lambda: today).test_client()
    written_app = make_app().test_client()  # tests.conftest.NOW: when the charts are signed
    for name in CHART_NAMES:
        moved = moved_app.get(f"/sandbox/patients/{name}").get_json()
        answer = moved_app.post(SIGN, json=request_from_bundle(moved))
        written = written_app.post(SIGN, json=request_from_bundle(chart(name)))
        assert answer.status_code == written.status_code == 200, name
        assert cards_by_topic(answer.get_json()) == cards_by_topic(written.get_json()), name


def test_a_pasted_bundle_is_moved_too(make_app: Callable[..., Flask]) -> None:
    client = make_app(clock=lambda: NOW + timedelta(days=2)).test_client()
    answer = client.post("/sandbox/move-to-today", json=chart("premed-adult-rr-cycle1-missing"))
    assert answer.status_code == 200 and answer.headers["X-Sandbox-Date-Shift-Days"] == "2"
    assert chart_signing_time(answer.get_json()) == NOW + timedelta(days=2)
    refused = client.post("/sandbox/move-to-today", json={"resourceType": "Patient"})
    assert refused.status_code == 400


# --- what the checks see -------------------------------------------------------------------------


def test_the_summary_gives_age_sex_weight_height_and_the_mosteller_bsa(client: FlaskClient) -> None:
    view = summary_of(client, "premed-adult-rr-cycle1-missing")
    assert view["patient"] == {
        "id": "pt-premed",
        "sex": "male",
        "birthDate": "1971-04-02",
        "ageYears": 54,
        "ageAt": "2026-03-02",
    }
    assert view["weight"]["text"] == "80 kg" and view["weight"]["date"].startswith("2026-02-27")
    assert view["weight"]["stale"] is False
    assert view["height"]["text"] == "178 cm"
    (order,) = view["orders"]
    bsa = mosteller_bsa(Decimal(178), Decimal(80))
    assert order["bsa"]["text"] == f"{format_number(bsa, '0.01')} m²"
    assert "Mosteller" in order["bsa"]["basis"]
    assert order["indication"] == "relapsed-refractory" and order["cycle"] == 1
    assert order["cycleDay"] == 1
    assert [(s["ordered"], s["mcgPerDay"], s["days"]) for s in order["steps"]] == [
        ("9 mcg/day", 9.0, 7.0),
        ("28 mcg/day", 28.0, 21.0),
    ]
    # one unit style: never "28 ug/d = 28 mcg/day"
    assert [s["text"] for s in order["steps"]] == ["9 mcg/day × 7 days", "28 mcg/day × 21 days"]


def test_the_summary_uses_the_bsa_recorded_in_the_chart_as_the_dose_check_does(
    client: FlaskClient,
) -> None:
    (order,) = summary_of(client, "dose-child-38kg-ehr-bsa-adult-dose")["orders"]
    assert "recorded in the chart" in order["bsa"]["basis"]
    assert "per-m²" in order["doseBand"]


def test_the_summary_reads_pregnancy_results_live_vaccines_and_earlier_cycles(
    client: FlaskClient,
) -> None:
    pregnancy = summary_of(client, "pregnancy-woman-28-quantitative-hcg-positive")["pregnancy"]
    assert pregnancy["applies"] is True
    assert [r["reading"] for r in pregnancy["results"]] == ["positive"]
    assert summary_of(client, "pregnancy-woman-62-not-applicable")["pregnancy"]["applies"] is False

    given = summary_of(client, "vaccine-mmr-10-days-before-start")["liveVaccines"]
    assert [(v["how"], v["resource"]) for v in given] == [("given", "Immunization/imm-1")]
    ordered = summary_of(client, "vaccine-mmr-ordered-with-blinatumomab")["liveVaccines"]
    assert [(v["how"], v["resource"]) for v in ordered] == [
        ("ordered", "MedicationRequest/vaccine-order")
    ]
    assert summary_of(client, "vaccine-inactivated-flu-3-days-before")["liveVaccines"] == []

    view = summary_of(client, "vaccine-varicella-during-treatment-cycle2")
    assert [(c["resource"], c["cycle"]) for c in view["earlierCycles"]] == [
        ("MedicationRequest/blin-c1", 1)
    ]
    assert view["orders"][0]["cycle"] == 2


def test_a_missing_weight_and_unreadable_data_are_said(client: FlaskClient) -> None:
    view = summary_of(client, "dose-adult-no-weight")
    assert view["weight"] is None
    assert view["orders"][0]["doseBand"] == "unknown (no weight)"
    request = request_from_bundle(chart("premed-adult-rr-cycle1-missing"))
    request["prefetch"]["observations"]["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "id": "wt-bad",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "subject": {"reference": "Patient/pt-premed"},
                "valueQuantity": {"value": "heavy", "unit": "kg", "code": "kg"},  # not a decimal
            }
        }
    )
    broken = client.post("/sandbox/summary", json=request).get_json()
    assert [(i["source"], i["resource"]) for i in broken["issues"]] == [
        ("observations", "Observation/wt-bad")
    ]


@responses.activate
def test_absent_prefetch_is_reported_and_never_fetched(client: FlaskClient) -> None:
    """The page is unauthenticated: it must not make the service fetch a URL it is given."""
    request = request_from_bundle(chart("premed-adult-rr-cycle1-missing"))
    del request["prefetch"]["observations"]
    request["fhirServer"] = "http://127.0.0.1:9/fhir"
    view = client.post("/sandbox/summary", json=request).get_json()
    assert "observations" in view["unavailable"]
    assert view["weight"] is None
    assert len(responses.calls) == 0


def test_an_order_select_summary_reviews_only_the_selected_orders_as_the_service_does(
    client: FlaskClient,
) -> None:
    request = load_json("requests/order-select-adult-rr-cycle1.json")
    selected = client.post("/sandbox/summary", json=request).get_json()
    assert [o["resource"] for o in selected["orders"]] == ["MedicationRequest/blinatumomab-c1"]
    assert selected["otherDrafts"] == ["MedicationRequest/dexamethasone-premed"]

    request["context"]["selections"] = ["MedicationRequest/dexamethasone-premed"]
    premedication_only = client.post("/sandbox/summary", json=request).get_json()
    assert premedication_only["orders"] == []
    assert client.post(SELECT, json=request).get_json()["cards"] == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"[]", "application/json", 400, "JSON object"),
        (b"{}", "text/plain", 415, "Content-Type"),
        (
            json.dumps({"resourceType": "Bundle", "entry": []}).encode(),
            "application/json",
            400,
            "no Patient",
        ),
        (
            json.dumps({"hook": "order-sign", "hookInstance": "x", "context": {}}).encode(),
            "application/json",
            400,
            "userId",
        ),
    ],
)
def test_bad_input_is_a_4xx_operation_outcome(
    client: FlaskClient, body: bytes, content_type: str, status: int, says: str
) -> None:
    answer = client.post("/sandbox/summary", data=body, content_type=content_type)
    assert answer.status_code == status
    outcome = answer.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert says in outcome["issue"][0]["diagnostics"]


def test_too_many_draft_orders_are_refused(client: FlaskClient) -> None:
    request = request_from_bundle(chart("premed-adult-rr-cycle1-missing"))
    entry = request["context"]["draftOrders"]["entry"][0]
    request["context"]["draftOrders"]["entry"] = [copy.deepcopy(entry) for _ in range(201)]
    assert client.post("/sandbox/summary", json=request).status_code == 413


# --- the workbench: any Bundle, its patients, every fact with its source ------------------------


def two_patient_transaction() -> dict[str, Any]:
    """A transaction Bundle as Synthea writes it (urn:uuid fullUrls and references, no ids) with a
    second patient and that patient's weight."""
    from tests.test_real_ehr_data import synthea_style

    chart_ = synthea_style(chart("adult-70kg-rr-cycle1-correct"))
    chart_["entry"] += [
        {
            "fullUrl": "urn:uuid:6f1c1d8e-0000-4000-8000-00000000a001",
            "resource": {
                "resourceType": "Patient",
                "name": [{"family": "Roe", "given": ["Ann"]}],
                "gender": "female",
                "birthDate": "1975-03-09",
            },
            "request": {"method": "POST", "url": "Patient"},
        },
        {
            "fullUrl": "urn:uuid:6f1c1d8e-0000-4000-8000-00000000a002",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "vital-signs",
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "subject": {"reference": "urn:uuid:6f1c1d8e-0000-4000-8000-00000000a001"},
                "effectiveDateTime": "2026-02-20T09:00:00+00:00",
                "valueQuantity": {
                    "value": 58,
                    "unit": "kg",
                    "system": "http://unitsofmeasure.org",
                    "code": "kg",
                },
            },
            "request": {"method": "POST", "url": "Observation"},
        },
    ]
    return chart_


def test_a_two_patient_transaction_bundle_lists_its_patients_and_gives_the_chosen_chart(
    client: FlaskClient,
) -> None:
    bundle = two_patient_transaction()
    listed = client.post("/sandbox/chart", json={"bundle": bundle, "patient": None}).get_json()
    assert listed["chart"] is None and listed["patient"] is None
    names = [p["name"] for p in listed["patients"]]
    assert len(names) == 2 and "Ann Roe" in names
    ann = next(p for p in listed["patients"] if p["name"] == "Ann Roe")
    assert ann["label"].startswith(f"Patient/{ann['id']} (Ann Roe, born 1975-03-09")

    picked = client.post(
        "/sandbox/chart", json={"bundle": bundle, "patient": ann["id"], "moveDates": False}
    ).get_json()
    resources = [e["resource"] for e in picked["chart"]["entry"]]
    assert [r["resourceType"] for r in resources] == ["Patient", "Observation"]
    assert resources[1]["subject"] == {"reference": f"Patient/{ann['id']}"}  # urn:uuid resolved
    assert picked["shift"] == {"days": 0, "birthDate": "1975-03-09", "movedBirthDate": "1975-03-09"}

    other = next(p for p in listed["patients"] if p["name"] != "Ann Roe")
    moved = client.post(
        "/sandbox/chart", json={"bundle": bundle, "patient": other["id"], "moveDates": True}
    ).get_json()
    signed = chart_signing_time(chart("adult-70kg-rr-cycle1-correct"))
    assert signed is not None
    days = days_to(signed, NOW)  # the test app's clock
    born = chart("adult-70kg-rr-cycle1-correct")["entry"][0]["resource"]["birthDate"]
    assert moved["shift"] == {
        "days": days,
        "birthDate": born,
        "movedBirthDate": (date.fromisoformat(born) + timedelta(days=days)).isoformat(),
    }
    drafts = [
        e["resource"] for e in moved["chart"]["entry"] if e["resource"].get("status") == "draft"
    ]
    assert drafts and all(d["subject"]["reference"] == f"Patient/{other['id']}" for d in drafts)


def test_a_bundle_naming_an_unknown_patient_or_none_is_refused_as_4xx(client: FlaskClient) -> None:
    answer = client.post(
        "/sandbox/chart", json={"bundle": two_patient_transaction(), "patient": "nobody"}
    )
    assert answer.status_code == 400 and "it holds Patient/" in answer.get_data(as_text=True)
    assert client.post("/sandbox/chart", json={"bundle": {"x": 1}}).status_code == 400
    assert client.post("/sandbox/chart", json=[1]).status_code == 400


def test_the_summary_gives_the_labs_encounter_and_infusions_each_with_its_source(
    client: FlaskClient,
) -> None:
    view = summary_of(client, "vaccine-varicella-during-treatment-cycle2")
    (order,) = view["orders"]
    tests = [lab["test"] for lab in order["labs"]]
    assert tests == ["ALT", "AST", "total bilirubin", "absolute neutrophil count"]
    assert all(lab["withinDays"] > 0 for lab in order["labs"])
    assert set(order["setting"]) == {"encounter", "class", "inpatient"}
    (infusion,) = order["infusions"]
    assert infusion["resource"] == view["earlierCycles"][0]["resource"]
    assert infusion["cycle"] == 1 and infusion["gapUntil"] == "this order"
    assert float(infusion["gapDaysAfter"]) >= 14  # treatment-free interval before cycle 2
    assert view["toxicity"] == []


def test_a_lab_result_and_a_toxicity_entry_are_shown_with_resource_and_date(
    client: FlaskClient,
) -> None:
    request = request_from_bundle(chart("adult-70kg-rr-cycle1-correct"))
    observations = request["prefetch"]["observations"]["entry"]
    observations.append(
        {
            "resource": {
                "resourceType": "Observation",
                "id": "alt-1",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
                "subject": {"reference": f"Patient/{request['context']['patientId']}"},
                "effectiveDateTime": "2026-03-01T07:00:00+00:00",
                "valueQuantity": {
                    "value": 40,
                    "unit": "U/L",
                    "system": "http://unitsofmeasure.org",
                    "code": "U/L",
                },
            }
        }
    )
    request["prefetch"]["conditions"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "crs-1",
                    "code": {
                        "coding": [
                            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D89.832"}
                        ]
                    },
                    "subject": {"reference": f"Patient/{request['context']['patientId']}"},
                    "onsetDateTime": "2025-12-03T10:00:00+00:00",
                }
            }
        ],
    }
    view = client.post("/sandbox/summary", json=request).get_json()
    alt = next(lab for lab in view["orders"][0]["labs"] if lab["test"] == "ALT")
    assert alt["result"] == {
        "value": "40 U/L",
        "resource": "Observation/alt-1",
        "date": "2026-03-01T07:00:00+00:00",
    }
    assert view["toxicity"] == [
        {
            "resource": "Condition/crs-1",
            "kind": "crs",
            "grade": 2,
            "onset": "2025-12-03T10:00:00+00:00",
            "ended": None,
        }
    ]


def test_for_a_man_the_pregnancy_row_says_only_that_the_check_does_not_apply(
    client: FlaskClient,
) -> None:
    pregnancy = summary_of(client, "premed-adult-rr-cycle1-missing")["pregnancy"]
    assert pregnancy == {"applies": False, "why": None, "results": [], "problems": []}
    older = summary_of(client, "pregnancy-woman-62-not-applicable")["pregnancy"]
    assert older["applies"] is False and older["why"].startswith("age 62")


def test_where_no_test_is_asked_for_a_positive_result_is_still_shown(client: FlaskClient) -> None:
    """A woman of 62 with a positive hCG: no test is asked of her, but the check gives the
    positive its critical card, so the chart summary shows what it read."""
    bundle = chart("pregnancy-woman-28-quantitative-hcg-positive")
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["birthDate"] = "1963-05-01"
    answer = client.post("/sandbox/summary", json=bundle)
    pregnancy = answer.get_json()["pregnancy"]
    assert pregnancy["applies"] is False and pregnancy["why"].startswith("age 62")
    assert [r["reading"] for r in pregnancy["results"]] == ["positive"]
