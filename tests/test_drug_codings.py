"""Blinatumomab however the order codes it (issue 14 item 2): RxNorm ingredient, clinical drug
(SCD) and branded drug (SBD); the BLINCYTO kit's NDC in 10- and 11-digit forms, with and without
hyphens; brand or generic text. Each through the order's medicationCodeableConcept, a contained
Medication, a Medication in the draft-orders Bundle, one in the prefetch, and one read from
fhirServer. The base chart is a correct adult R/R cycle-1 order: recognised, it draws exactly the
premedication step-up reminder; not recognised, it would draw nothing at all."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from tests.conftest import SIGN, chart_request

FHIR = "https://ehr.example.org/fhir"
AUTH = {"access_token": "tok", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read"}
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
ORDER = "blinatumomab-c1"
RECOGNISED = [("premedication", "info")]

# RxNorm per RxNav/openFDA; NDC per the FDA NDC Directory (cds/knowledge/codes.yaml)
CODINGS: dict[str, dict[str, Any]] = {
    "RxNorm ingredient": {"coding": [{"system": RXNORM, "code": "1597258"}]},
    "RxNorm SCD": {"coding": [{"system": RXNORM, "code": "1597262"}]},
    "RxNorm SBD": {"coding": [{"system": RXNORM, "code": "1597267"}]},
    "NDC 10 hyphens": {"coding": [{"system": NDC, "code": "55513-160-01"}]},
    "NDC 10 digits": {"coding": [{"system": NDC, "code": "5551316001"}]},
    "NDC 11 digits": {"coding": [{"system": NDC, "code": "55513016001"}]},
    "NDC 11 hyphens": {"coding": [{"system": NDC, "code": "55513-0160-01"}]},
    "NDC 2026 package": {"coding": [{"system": NDC, "code": "55513016021"}]},
    "brand text": {"text": "BLINCYTO 35 mcg kit"},
    "generic text": {"text": "Blinatumomab for injection"},
}
# same labeler, another product; another RxNorm drug: silent, as now
OTHER_DRUGS: dict[str, dict[str, Any]] = {
    "Riabni NDC": {"coding": [{"system": NDC, "code": "55513-326-01"}], "text": "Riabni"},
    "rituximab RxNorm": {"coding": [{"system": RXNORM, "code": "121191"}], "text": "rituximab"},
}


def topics(body: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((c["source"]["topic"]["code"], c["indicator"]) for c in body["cards"])


def medication(code: dict[str, Any], mid: str = "blincyto-kit") -> dict[str, Any]:
    return {"resourceType": "Medication", "id": mid, "code": copy.deepcopy(code)}


def order_coded(request: dict[str, Any], how: dict[str, Any]) -> dict[str, Any]:
    """The request with the blinatumomab order's drug named `how` (order fields)."""
    request = copy.deepcopy(request)
    for entry in request["context"]["draftOrders"]["entry"]:
        if entry["resource"]["id"] == ORDER:
            del entry["resource"]["medicationCodeableConcept"]
            entry["resource"].update(copy.deepcopy(how))
    return request


def post(client: FlaskClient, path: str, code: dict[str, Any]) -> list[tuple[str, str]]:
    base = chart_request("adult-70kg-rr-cycle1-correct")
    external = {"medicationReference": {"reference": "Medication/blincyto-kit"}}
    if path == "medicationCodeableConcept":
        request = order_coded(base, {"medicationCodeableConcept": code})
    elif path == "contained":
        request = order_coded(
            base,
            {
                "contained": [medication(code, "med")],
                "medicationReference": {"reference": "#med"},
            },
        )
    elif path == "draft-orders Bundle":
        request = order_coded(base, external)
        request["context"]["draftOrders"]["entry"].append(
            {"fullUrl": f"{FHIR}/Medication/blincyto-kit", "resource": medication(code)}
        )
    elif path == "prefetch":
        request = order_coded(base, external)
        request["prefetch"]["medications"] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"fullUrl": f"{FHIR}/Medication/blincyto-kit", "resource": medication(code)}],
        }
    else:
        request = order_coded(base, external) | {"fhirServer": FHIR, "fhirAuthorization": AUTH}
    with responses.RequestsMock(assert_all_requests_are_fired=True) as fhir:
        if path == "fhirServer":
            fhir.add(responses.GET, f"{FHIR}/Medication/blincyto-kit", json=medication(code))
        return topics(client.post(SIGN, json=request).get_json())


PATHS = ["medicationCodeableConcept", "contained", "draft-orders Bundle", "prefetch", "fhirServer"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("coding", list(CODINGS))
def test_blinatumomab_is_recognised_however_coded_and_wherever_the_medication_is(
    client: FlaskClient, coding: str, path: str
) -> None:
    assert post(client, path, CODINGS[coding]) == RECOGNISED


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("drug", list(OTHER_DRUGS))
def test_other_drugs_stay_silent(client: FlaskClient, drug: str, path: str) -> None:
    assert post(client, path, OTHER_DRUGS[drug]) == []


def premedication_named(request: dict[str, Any], concept: dict[str, Any]) -> dict[str, Any]:
    """The request with the dexamethasone premedication's drug written `concept`."""
    request = copy.deepcopy(request)
    for entry in request["context"]["draftOrders"]["entry"]:
        if entry["resource"]["id"] == "dexamethasone-premed":
            entry["resource"]["medicationCodeableConcept"] = copy.deepcopy(concept)
    return request


EPIC_LOCAL = "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288"  # an Epic medication record (ERX)
# An order set's premedication line names the drug it premedicates: that is no blinatumomab
# order (red team rt-noise N1: the dexamethasone drew "two blinatumomab orders at once", a dose
# card about the dexamethasone and "no premedication ordered" on a correct chart).
PREMEDICATION_TEXTS: dict[str, dict[str, Any]] = {
    "RxNorm dexamethasone, text 'premedication for blinatumomab'": {
        "coding": [{"system": RXNORM, "code": "3264", "display": "dexamethasone"}],
        "text": "dexamethasone (DECADRON) injection 20 mg - premedication for blinatumomab",
    },
    "Epic local code, text '... 1 hour before blinatumomab'": {
        "coding": [{"system": EPIC_LOCAL, "code": "2045", "display": "DEXAMETHASONE 20 MG IV"}],
        "text": "dexamethasone 20 mg IV once 1 hour before blinatumomab",
    },
    "Epic local code, text 'BLINCYTO PREMEDICATION: dexamethasone'": {
        "coding": [{"system": EPIC_LOCAL, "code": "2045"}],
        "text": "BLINCYTO premedication: dexamethasone sodium phosphate 20 mg IV",
    },
    "text only, 'pre-blinatumomab dexamethasone'": {
        "text": "pre-blinatumomab dexamethasone 20 mg IV push",
    },
    # red team 7b C1: the brand after the generic, and an order set's name before the drug
    "Epic local code, text '... prior to blinatumomab (BLINCYTO) infusion'": {
        "coding": [{"system": EPIC_LOCAL, "code": "2876"}],
        "text": "dexamethasone 20 mg IV x1 prior to blinatumomab (BLINCYTO) infusion",
    },
    "Epic local code, text 'ONC ALL BLINATUMOMAB (BLINCYTO) CYCLE 1 - dexamethasone IV premed'": {
        "coding": [{"system": EPIC_LOCAL, "code": "2876"}],
        "text": "ONC ALL BLINATUMOMAB (BLINCYTO) CYCLE 1 - dexamethasone IV premed",
    },
    "text only, 'BLINATUMOMAB ADULT ALL ORDER SET: dexamethasone 20 mg IV'": {
        "text": "BLINATUMOMAB ADULT ALL ORDER SET: dexamethasone 20 mg IV",
    },
    # red team 7a #5
    "Epic local code, text '... x1 for blinatumomab cycle 1'": {
        "coding": [{"system": EPIC_LOCAL, "code": "2876"}],
        "text": "dexamethasone 20 mg IV x1 for blinatumomab cycle 1",
    },
    "Epic local code, text '... 1 hour before the start of blinatumomab'": {
        "coding": [{"system": EPIC_LOCAL, "code": "2876"}],
        "text": "dexamethasone 20 mg IV 1 hour before the start of blinatumomab",
    },
    "Epic local code, text 'dexamethasone 20 mg IV (blinatumomab protocol)'": {
        "coding": [{"system": EPIC_LOCAL, "code": "2876"}],
        "text": "dexamethasone 20 mg IV (blinatumomab protocol)",
    },
}


@pytest.mark.parametrize("concept", list(PREMEDICATION_TEXTS))
def test_a_premedication_whose_text_names_blinatumomab_is_no_blinatumomab_order(
    client: FlaskClient, concept: str
) -> None:
    """Adult 70 kg, R/R cycle 1 day 1, 9 mcg/day, dexamethasone 20 mg ordered with it, its
    medication text naming what it premedicates -> the same single step-up reminder as the
    correct chart: no second blinatumomab order, no dose card, no missing premedication."""
    request = premedication_named(
        chart_request("adult-70kg-rr-cycle1-correct"), PREMEDICATION_TEXTS[concept]
    )
    assert topics(client.post(SIGN, json=request).get_json()) == RECOGNISED


# A blinatumomab order known by its words only still is one, whatever else the words say.
BLINATUMOMAB_TEXTS = {
    "Epic local code, 'BLINATUMOMAB 35 MCG IV SOLR'": {
        "coding": [
            {"system": EPIC_LOCAL, "code": "87210", "display": "BLINATUMOMAB 35 MCG IV SOLR"}
        ]
    },
    "text 'Blinatumomab with IV solution stabilizer, preservative-free'": {
        "text": "Blinatumomab with IV solution stabilizer, preservative-free"
    },
    "text 'blinatumomab for B-ALL (premedicate with dexamethasone)'": {
        "text": "blinatumomab for B-ALL (premedicate with dexamethasone)"
    },
    # red team 7a #1, #2: words before or after the name, another code beside it
    "Epic local code, 'Pre-filled blinatumomab bag'": {
        "coding": [{"system": EPIC_LOCAL, "code": "87211"}],
        "text": "Pre-filled blinatumomab bag",
    },
    "text 'PRE-MIXED BLINCYTO IN NS 24 HR IV BAG'": {
        "text": "PRE-MIXED BLINCYTO IN NS 24 HR IV BAG"
    },
    "text 'blinatumomab - premedication required'": {
        "text": "blinatumomab - premedication required"
    },
    "text 'blinatumomab' beside a SNOMED route code": {
        "coding": [{"system": "http://snomed.info/sct", "code": "47625008"}],
        "text": "blinatumomab continuous IV infusion",
    },
    "text 'blinatumomab' beside a dexamethasone RxNorm code (miscoded), dosed in mcg": {
        "coding": [{"system": RXNORM, "code": "3264"}],
        "text": "blinatumomab continuous IV infusion",
    },
}


@pytest.mark.parametrize("concept", list(BLINATUMOMAB_TEXTS))
def test_a_blinatumomab_order_named_in_words_stays_one(client: FlaskClient, concept: str) -> None:
    request = order_coded(
        chart_request("adult-70kg-rr-cycle1-correct"),
        {"medicationCodeableConcept": BLINATUMOMAB_TEXTS[concept]},
    )
    assert topics(client.post(SIGN, json=request).get_json()) == RECOGNISED
