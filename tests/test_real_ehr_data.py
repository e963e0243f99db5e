"""Charts as real EHRs, exports and Synthea send them (issue 14): references in every form,
vaccines by NDC / unpadded CVX / text, pregnancy on the problem list, external Medications,
DSTU2 orders, and transaction Bundles through `python -m cds check`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from cds.__main__ import main
from tests.conftest import SIGN, chart_request, load_json

FHIR = "https://ehr.example.org/fhir"
AUTH = {"access_token": "tok", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read"}
CVX = "http://hl7.org/fhir/sid/cvx"
NDC = "http://hl7.org/fhir/sid/ndc"
BASE = "adult-70kg-rr-cycle1-correct"  # draws only the premedication info card


def topics(body: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((c["source"]["topic"]["code"], c["indicator"]) for c in body["cards"])


def with_chart(request: dict[str, Any], key: str, *resources: dict[str, Any]) -> dict[str, Any]:
    request = copy.deepcopy(request)
    bundle = request["prefetch"].get(key) or {"resourceType": "Bundle", "type": "searchset"}
    bundle.setdefault("entry", []).extend({"resource": r} for r in resources)
    request["prefetch"][key] = bundle
    return request


def shot(vaccine: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "id": "imm-1",
        "status": "completed",
        "vaccineCode": vaccine,
        "patient": {"reference": "Patient/pt-adult-rr"},
        "occurrenceDateTime": "2026-02-25",
    } | extra


def test_the_base_chart_draws_only_the_premedication_reminder(client: FlaskClient) -> None:
    assert topics(client.post(SIGN, json=chart_request(BASE)).get_json()) == [
        ("premedication", "info")
    ]


@pytest.mark.parametrize(
    "reference",
    [
        "https://ehr.example.org/fhir/Patient/pt-adult-rr",
        "Patient/pt-adult-rr/_history/3",
        "https://ehr.example.org/fhir/Patient/pt-adult-rr/_history/3",
        "urn:uuid:pt-adult-rr",
    ],
)
def test_absolute_versioned_and_urn_subjects_are_this_patients(
    client: FlaskClient, reference: str
) -> None:
    """A live vaccine recorded under any reference form of the patient is still caught."""
    request = with_chart(
        chart_request(BASE),
        "immunizations",
        shot({"coding": [{"system": CVX, "code": "03"}]}, patient={"reference": reference}),
    )
    assert ("live-vaccine", "critical") in topics(client.post(SIGN, json=request).get_json())


def test_a_weight_under_an_unknown_urn_is_not_dropped_in_silence(client: FlaskClient) -> None:
    request = copy.deepcopy(chart_request(BASE))
    for entry in request["prefetch"]["observations"]["entry"]:
        entry["resource"]["subject"] = {
            "reference": "urn:uuid:9c1e0a52-0000-4000-8000-000000000001"
        }
    body = client.post(SIGN, json=request).get_json()
    assert ("dose", "warning") in topics(body)  # no weight the service can tie to the patient
    unlinked = [c for c in body["cards"] if "not tied to this patient" in c["summary"]]
    assert unlinked and unlinked[0]["indicator"] == "warning"
    assert "Observation/wt-1" in unlinked[0]["detail"]


def test_another_patients_data_stays_unused_and_unmentioned(client: FlaskClient) -> None:
    request = with_chart(
        chart_request(BASE),
        "immunizations",
        shot({"coding": [{"system": CVX, "code": "03"}]}, patient={"reference": "Patient/other"}),
    )
    assert topics(client.post(SIGN, json=request).get_json()) == [("premedication", "info")]


@pytest.mark.parametrize(
    "vaccine",
    [
        {"coding": [{"system": CVX, "code": "3"}]},
        {"coding": [{"system": NDC, "code": "00006468100"}]},
        {"coding": [{"system": NDC, "code": "0006-4681-00"}]},
        {"coding": [{"system": NDC, "code": "0006468100"}]},
        {"text": "M-M-R II"},
        {"coding": [{"system": "urn:oid:1.2.3", "code": "77", "display": "Varivax"}]},
    ],
)
def test_a_live_vaccine_five_days_ago_is_critical_however_it_is_coded(
    client: FlaskClient, vaccine: dict[str, Any]
) -> None:
    body = client.post(SIGN, json=with_chart(chart_request(BASE), "immunizations", shot(vaccine)))
    cards = [c for c in body.get_json()["cards"] if c["indicator"] == "critical"]
    assert [c["source"]["topic"]["code"] for c in cards] == ["live-vaccine"]
    if "text" in vaccine:
        assert "matched on the recorded text" in cards[0]["detail"]
    if vaccine.get("coding", [{}])[0].get("system") == NDC:
        assert "NDC" in cards[0]["detail"]


@pytest.mark.parametrize(
    "vaccine",
    [
        {"text": "Shingrix (zoster vaccine recombinant)"},
        {"text": "Varicella zoster immune globulin (VariZIG)"},
        {"coding": [{"system": CVX, "code": "187"}], "text": "zoster live"},  # the code wins
        {"text": "influenza, injectable, quadrivalent"},
    ],
)
def test_vaccines_that_are_not_live_stay_silent(
    client: FlaskClient, vaccine: dict[str, Any]
) -> None:
    body = client.post(SIGN, json=with_chart(chart_request(BASE), "immunizations", shot(vaccine)))
    assert topics(body.get_json()) == [("premedication", "info")]


@pytest.mark.parametrize("status", ["not-done", "entered-in-error"])
def test_a_vaccine_not_given_never_counts(client: FlaskClient, status: str) -> None:
    vaccine = {"coding": [{"system": CVX, "code": "03"}]}
    request = with_chart(chart_request(BASE), "immunizations", shot(vaccine, status=status))
    assert topics(client.post(SIGN, json=request).get_json()) == [("premedication", "info")]


def test_a_live_vaccine_with_an_unreadable_date_says_so(client: FlaskClient) -> None:
    given = shot({"text": "MMR"}, occurrenceString="last spring")
    del given["occurrenceDateTime"]
    body = client.post(SIGN, json=with_chart(chart_request(BASE), "immunizations", given))
    cards = [c for c in body.get_json()["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]
    assert [c["indicator"] for c in cards] == ["warning"]
    assert "last spring" in cards[0]["detail"]


def pregnancy(code: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "preg-1",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {"coding": [code]},
        "subject": {"reference": "Patient/pt-pregnancy"},
        "onsetDateTime": "2026-01-20",
    } | extra


SNOMED_NORMAL_PREGNANCY = {"system": "http://snomed.info/sct", "code": "72892002"}
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


@pytest.mark.parametrize(
    "code",
    [
        SNOMED_NORMAL_PREGNANCY,
        {"system": ICD, "code": "Z34.01"},
        {"system": ICD, "code": "Z33.1"},
        {"system": ICD, "code": "O09.521"},
        {"system": ICD, "code": "O24.419"},  # gestational diabetes in pregnancy
        {"system": ICD, "code": "O13.2"},  # gestational hypertension, second trimester
        {"system": ICD, "code": "O99.012"},  # anemia complicating pregnancy, second trimester
        {"system": ICD, "code": "O23.12"},  # bladder infection in pregnancy, second trimester
        {"system": ICD, "code": "O14.13"},  # severe pre-eclampsia, third trimester
    ],
)
def test_a_pregnancy_on_the_problem_list_is_critical(
    client: FlaskClient, code: dict[str, Any]
) -> None:
    request = with_chart(chart_request("pregnancy-woman-28-no-test"), "conditions", pregnancy(code))
    body = client.post(SIGN, json=request).get_json()
    assert ("pregnancy-status", "critical") in topics(body)
    assert ("pregnancy-status", "warning") not in topics(body)


@pytest.mark.parametrize(
    "condition",
    [
        pregnancy({"system": ICD, "code": "O90.89"}),  # puerperium: not a current pregnancy
        pregnancy({"system": ICD, "code": "O24.420"}),  # gestational diabetes in childbirth
        pregnancy({"system": ICD, "code": "O24.439"}),  # gestational diabetes in the puerperium
        pregnancy({"system": ICD, "code": "O13.5"}),  # gestational hypertension, puerperium
        pregnancy({"system": ICD, "code": "O14.04"}),  # pre-eclampsia complicating childbirth
        pregnancy({"system": ICD, "code": "O99.03"}),  # anemia complicating the puerperium
        pregnancy(SNOMED_NORMAL_PREGNANCY, abatementDateTime="2026-02-20"),
        pregnancy(SNOMED_NORMAL_PREGNANCY, clinicalStatus={"coding": [{"code": "resolved"}]}),
    ],
)
def test_an_ended_or_puerperal_pregnancy_is_not_positive(
    client: FlaskClient, condition: dict[str, Any]
) -> None:
    request = with_chart(chart_request("pregnancy-woman-28-no-test"), "conditions", condition)
    assert ("pregnancy-status", "critical") not in topics(
        client.post(SIGN, json=request).get_json()
    )


def test_a_negative_result_after_the_pregnancy_entry_clears_it(client: FlaskClient) -> None:
    request = chart_request("pregnancy-woman-28-negative-hcg-2-days-ago")
    request["context"]["patientId"] = "pt-pregnancy"
    condition = pregnancy(SNOMED_NORMAL_PREGNANCY)
    condition["subject"] = {"reference": f"Patient/{request['prefetch']['patient']['id']}"}
    body = client.post(SIGN, json=with_chart(request, "conditions", condition)).get_json()
    assert ("pregnancy-status", "critical") not in topics(body)


def external_medication_request() -> dict[str, Any]:
    request = copy.deepcopy(chart_request(BASE))
    for entry in request["context"]["draftOrders"]["entry"]:
        order = entry["resource"]
        if order["id"] == "blinatumomab-c1":
            del order["medicationCodeableConcept"]
            order["medicationReference"] = {"reference": "Medication/blincyto-kit"}
    return request | {"fhirServer": FHIR, "fhirAuthorization": AUTH}


BLINCYTO_KIT = {
    "resourceType": "Medication",
    "id": "blincyto-kit",
    "code": {"coding": [{"system": NDC, "code": "55513016001"}]},
}


def test_an_external_medication_is_fetched_and_the_order_checked(client: FlaskClient) -> None:
    with responses.RequestsMock() as fhir:
        fhir.add(responses.GET, f"{FHIR}/Medication/blincyto-kit", json=BLINCYTO_KIT)
        body = client.post(SIGN, json=external_medication_request()).get_json()
    assert topics(body) == [("premedication", "info")]


def test_a_medication_in_the_prefetch_is_used_without_a_fetch(client: FlaskClient) -> None:
    request = external_medication_request()
    request["prefetch"]["medications"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"fullUrl": f"{FHIR}/Medication/blincyto-kit", "resource": BLINCYTO_KIT}],
    }
    with responses.RequestsMock():  # any outbound call would fail the test
        body = client.post(SIGN, json=request).get_json()
    assert ("premedication", "info") in topics(body)


def test_a_failed_medication_fetch_gets_one_info_card(client: FlaskClient) -> None:
    with responses.RequestsMock() as fhir:
        fhir.add(responses.GET, f"{FHIR}/Medication/blincyto-kit", status=503)
        body = client.post(SIGN, json=external_medication_request()).get_json()
    cards = [c for c in body["cards"] if "could not be identified" in c["summary"]]
    assert len(cards) == 1 and cards[0]["indicator"] == "info"
    assert "MedicationRequest/blinatumomab-c1" in cards[0]["summary"]


def test_a_dstu2_medication_order_for_blinatumomab_is_never_an_empty_answer(
    client: FlaskClient,
) -> None:
    request = copy.deepcopy(chart_request(BASE))
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["resourceType"] = "MedicationOrder"
    body = client.post(SIGN, json=request).get_json()
    unreadable = [c for c in body["cards"] if "could not be read" in c["summary"]]
    assert unreadable and "R4" in unreadable[0]["detail"] and "DSTU2" in unreadable[0]["detail"]


def synthea_style(bundle: dict[str, Any]) -> dict[str, Any]:
    """A transaction Bundle as Synthea writes it: urn:uuid fullUrls and references, entries with
    `request`, and resources without ids."""
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    urls = {}
    for number, entry in enumerate(bundle["entry"]):
        resource = entry["resource"]
        urls[f"{resource['resourceType']}/{resource['id']}"] = (
            f"urn:uuid:00000000-0000-4000-8000-{number:012d}"
        )
    text = json.dumps(bundle)
    for relative, urn in urls.items():
        text = text.replace(f'"reference": "{relative}"', f'"reference": "{urn}"')
    for entry in json.loads(text)["entry"]:
        resource = entry["resource"]
        url = urls[f"{resource['resourceType']}/{resource.pop('id')}"]
        request = {"method": "POST", "url": resource["resourceType"]}
        out["entry"].append({"fullUrl": url, "resource": resource, "request": request})
    return out


def run_check(tmp_path: Path, bundle: dict[str, Any], *options: str) -> tuple[int, Any]:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return main(
        ["check", str(path), "--json", "--now", "2026-03-02T08:00:00+00:00", *options]
    ), path


def test_a_synthea_transaction_bundle_checks_like_the_plain_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = load_json(f"charts/{BASE}.json")
    chart["entry"].append(
        {
            "resource": shot(
                {"text": "M-M-R II"}, id="mmr", patient={"reference": "Patient/pt-adult-rr"}
            )
        }
    )
    code, _ = run_check(tmp_path, synthea_style(chart))
    body = json.loads(capsys.readouterr().out)
    assert code == 0
    assert topics(body) == [("live-vaccine", "critical"), ("premedication", "info")]


ANOTHER_PATIENT = {
    "fullUrl": "urn:uuid:pt-other",
    "resource": {
        "resourceType": "Patient",
        "id": "pt-other",
        "name": [{"family": "Roe", "given": ["Ann"]}],
    },
}


def test_a_bundle_with_two_patients_checks_the_one_with_draft_orders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second patient without draft orders is context: the one with orders is checked."""
    chart = load_json(f"charts/{BASE}.json")
    chart["entry"].append(ANOTHER_PATIENT)
    code, _ = run_check(tmp_path, chart)
    assert code == 0
    assert topics(json.loads(capsys.readouterr().out)) == [("premedication", "info")]


def test_two_patients_with_draft_orders_are_named_and_patient_picks_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = load_json(f"charts/{BASE}.json")
    theirs = copy.deepcopy(
        next(e for e in chart["entry"] if e["resource"]["id"] == "blinatumomab-c1")
    )
    theirs["resource"]["id"] = "blinatumomab-other"
    theirs["resource"]["subject"] = {"reference": "urn:uuid:pt-other"}
    theirs.pop("fullUrl", None)
    chart["entry"] += [ANOTHER_PATIENT, theirs]
    code, _ = run_check(tmp_path, chart)
    error = capsys.readouterr().err
    assert code == 2 and "Patient/pt-adult-rr" in error and "Patient/pt-other" in error
    assert "2 of them with draft orders" in error and "--patient" in error
    code, _ = run_check(tmp_path, chart, "--patient", "pt-adult-rr")
    assert code == 0
    assert topics(json.loads(capsys.readouterr().out)) == [("premedication", "info")]


def weight(quantity: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "wt-us",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/pt-adult-rr"},
        "effectiveDateTime": "2026-03-01T08:00:00Z",
        "valueQuantity": quantity,
    } | extra


def only_weight(request: dict[str, Any], observation: dict[str, Any]) -> dict[str, Any]:
    request = copy.deepcopy(request)
    entries = request["prefetch"]["observations"]["entry"]
    entries[:] = [e for e in entries if e["resource"]["id"] != "wt-1"]
    return with_chart(request, "observations", observation)


UCUM = "http://unitsofmeasure.org"


@pytest.mark.parametrize(
    "observation",
    [
        weight({"value": 154.3, "unit": "lb", "system": UCUM, "code": "[lb_av]"}),
        weight({"value": 154.3, "unit": "lbs"}),  # a human unit, no UCUM code
        weight({"value": 2469, "unit": "oz", "system": UCUM, "code": "[oz_av]"}),
        weight({"value": 70000, "unit": "g", "system": UCUM, "code": "g"}),
        weight({"value": 70, "unit": "kg", "system": UCUM, "code": "kg"}, effectiveDateTime=None)
        | {"effectivePeriod": {"start": "2026-03-01T08:00:00Z"}},
        weight({"value": 70, "unit": "kg", "system": UCUM, "code": "kg"}, effectiveDateTime=None)
        | {"issued": "2026-03-01T08:00:00Z"},
    ],
)
def test_us_units_and_dates_read_as_a_70_kg_weight(
    client: FlaskClient, observation: dict[str, Any]
) -> None:
    observation = {k: v for k, v in observation.items() if v is not None}
    body = client.post(SIGN, json=only_weight(chart_request(BASE), observation)).get_json()
    assert topics(body) == [("premedication", "info")]


@pytest.mark.parametrize(
    "observation",
    [
        weight({"value": 70, "comparator": ">", "system": UCUM, "code": "kg"}),
        weight({"value": 70, "system": UCUM, "code": "kg"}, status="entered-in-error"),
        weight({"value": 70, "system": UCUM, "code": "kg"}, status="cancelled"),
        {
            k: v
            for k, v in weight({}, dataAbsentReason={"coding": [{"code": "not-performed"}]}).items()
            if k != "valueQuantity"
        },
    ],
)
def test_a_bound_an_error_or_an_absent_value_is_no_weight(
    client: FlaskClient, observation: dict[str, Any]
) -> None:
    body = client.post(SIGN, json=only_weight(chart_request(BASE), observation)).get_json()
    assert ("dose", "warning") in topics(body)


def test_the_context_encounter_is_read_and_a_missing_one_is_no_data(client: FlaskClient) -> None:
    """context.encounterId -> the `encounter` key, fetched when absent; no encounter: no fetch."""
    request = chart_request(BASE) | {"fhirServer": FHIR, "fhirAuthorization": AUTH}
    with responses.RequestsMock() as fhir:  # no encounter in context: no call at all
        assert topics(client.post(SIGN, json=request).get_json()) == [("premedication", "info")]
    request["context"]["encounterId"] = "enc-1"
    encounter = {
        "resourceType": "Encounter",
        "id": "enc-1",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
    }
    with responses.RequestsMock() as fhir:
        fhir.add(responses.GET, f"{FHIR}/Encounter/enc-1", json=encounter)
        body = client.post(SIGN, json=request).get_json()
        assert len(fhir.calls) == 1
    assert ("premedication", "info") in topics(body)
    with responses.RequestsMock() as fhir:
        fhir.add(responses.GET, f"{FHIR}/Encounter/enc-1", status=404)
        assert ("premedication", "info") in topics(client.post(SIGN, json=request).get_json())


def test_production_start_up_logs_issuers_and_cors_origins(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    from cds import create_app
    from cds.settings import Settings

    settings = Settings(
        dev_mode=False,
        trust_cds_hooks_sandbox=True,
        cors_origins=["https://ehr.example.org"],
        public_base_url="https://cds.hospital.example",
        database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
    )
    with caplog.at_level("INFO", logger="cds"):
        create_app(settings)
    line = next(r.getMessage() for r in caplog.records if "trusted JWT issuers" in r.getMessage())
    assert "issuers: https://sandbox.cds-hooks.org;" in line
    assert line.endswith("CORS origins allowed: https://ehr.example.org")


def child_dosed_by_bsa(height: dict[str, Any]) -> dict[str, Any]:
    """Child 30 kg, MRD-positive cycle 1, ordered 15.9 mcg/day: 15 mcg/m²/day for the BSA of a
    135 cm height (Mosteller 1.06 m²). A height misread changes the BSA: the dose draws a card."""
    request = copy.deepcopy(chart_request("dose-child-30kg-mrd-cycle1-per-m2-correct"))
    for entry in request["context"]["draftOrders"]["entry"]:
        if entry["resource"]["id"] == "blinatumomab-c1":
            for dosage in entry["resource"]["dosageInstruction"]:
                dosage["doseAndRate"] = [
                    {
                        "doseQuantity": {
                            "value": 15.9,
                            "unit": "ug/d",
                            "system": UCUM,
                            "code": "ug/d",
                        }
                    }
                ]
    for entry in request["prefetch"]["observations"]["entry"]:
        if entry["resource"]["id"] == "ht-1":
            entry["resource"]["valueQuantity"] = height
    return request


@pytest.mark.parametrize(
    "height",
    [
        {"value": 135, "unit": "cm", "system": UCUM, "code": "cm"},
        {"value": 53.15, "unit": "in", "system": UCUM, "code": "[in_i]"},
        {"value": 4.43, "unit": "ft", "system": UCUM, "code": "[ft_i]"},
        {"value": 1.35, "unit": "m", "system": UCUM, "code": "m"},
        {"value": 53.15, "unit": "in"},  # a human unit, no UCUM code
    ],
    ids=["cm", "[in_i]", "[ft_i]", "m", "human in"],
)
def test_a_135_cm_height_in_us_and_metric_units_gives_the_same_bsa_dose(
    client: FlaskClient, height: dict[str, Any]
) -> None:
    body = client.post(SIGN, json=child_dosed_by_bsa(height)).get_json()
    assert [c for c in body["cards"] if c["source"]["topic"]["code"] == "dose"] == []


def test_the_bsa_dose_is_sensitive_to_the_height_read(client: FlaskClient) -> None:
    """The control for the test above: 53.15 read as centimetres would be an overdose."""
    height = {"value": 53.15, "unit": "cm", "system": UCUM, "code": "cm"}
    body = client.post(SIGN, json=child_dosed_by_bsa(height)).get_json()
    assert ("dose", "critical") in topics(body)
