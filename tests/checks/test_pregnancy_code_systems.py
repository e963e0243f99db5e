"""Code systems named by their OID (C-CDA documents, HL7 v2 feeds, FHIR converted from them): a
LOINC, SNOMED CT or ICD-10-CM code sent under its HL7 OID is the same code (red team D6). The
alias table is `cds.fhir.codings.SYSTEM_ALIASES`."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.cards import FINDING_CODE_EXTENSION
from cds.fhir.codings import CVX, ICD10CM, LOINC, SNOMED, canonical_system, equivalent_codes
from tests.conftest import SIGN, chart_request
from tests.fixtures_util import condition

ALIASES = {
    "LOINC by its OID": ("urn:oid:2.16.840.1.113883.6.1", LOINC),
    "SNOMED CT by its OID": ("urn:oid:2.16.840.1.113883.6.96", SNOMED),
    "ICD-10-CM by its OID": ("urn:oid:2.16.840.1.113883.6.90", ICD10CM),
    "CVX by its OID (HL7 v2 table 0292)": ("urn:oid:2.16.840.1.113883.12.292", CVX),
    "v2 yes/no table by its old FHIR URI": (
        "http://hl7.org/fhir/v2/0136",
        "http://terminology.hl7.org/CodeSystem/v2-0136",
    ),
    "SNOMED CT with a trailing slash": ("http://snomed.info/sct/", SNOMED),
    "ICD-10-CM by its OID in upper case (red team 7c)": (
        "URN:OID:2.16.840.1.113883.6.90",
        ICD10CM,
    ),
    "LOINC as the knowledge names it (unchanged)": (LOINC, LOINC),
    "a local system (unchanged)": ("urn:oid:1.2.3.4.5", "urn:oid:1.2.3.4.5"),
}


@pytest.mark.parametrize(("sent", "named"), ALIASES.values(), ids=ALIASES.keys())
def test_a_code_system_sent_by_an_alias_is_the_one_the_knowledge_names(
    sent: str, named: str
) -> None:
    assert canonical_system(sent) == named


def test_an_icd_10_cm_code_under_its_oid_is_dotted_as_under_its_uri() -> None:
    """Z331 sent under the ICD-10-CM OID matches Z33.1 as it does under the FHIR URI."""
    assert equivalent_codes("urn:oid:2.16.840.1.113883.6.90", "Z331") == ("Z331", "Z33.1")
    assert equivalent_codes("urn:oid:2.16.840.1.113883.12.292", "3") == ("3", "03")


OIDS = {
    LOINC: "urn:oid:2.16.840.1.113883.6.1",
    SNOMED: "urn:oid:2.16.840.1.113883.6.96",
    ICD10CM: "urn:oid:2.16.840.1.113883.6.90",
}


def under_oids(value: Any) -> Any:
    """The chart with every LOINC, SNOMED CT and ICD-10-CM system written as its OID, as FHIR
    converted from C-CDA documents carries them."""
    if isinstance(value, dict):
        return {
            k: OIDS.get(v, v) if k == "system" and isinstance(v, str) else under_oids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [under_oids(v) for v in value]
    return value


def cards(client: FlaskClient, request: dict[str, Any]) -> list[tuple[str, str, str]]:
    body = client.post(SIGN, json=request).get_json()
    return sorted(
        (c["source"]["topic"]["code"], c["indicator"], c["extension"][FINDING_CODE_EXTENSION])
        for c in body["cards"]
    )


@pytest.mark.parametrize(
    "chart",
    [
        "pregnancy-woman-28-pregnant-status",
        "pregnancy-woman-28-quantitative-hcg-positive",
        "pregnancy-woman-28-negative-hcg-2-days-ago",
        "pregnancy-woman-28-no-test",
    ],
)
def test_a_chart_coded_by_oids_gets_the_cards_it_gets_coded_by_uris(
    client: FlaskClient, chart: str
) -> None:
    """Red team D6: a positive hCG and a "Pregnant" status under the LOINC and SNOMED OIDs had
    read as no result at all (a warning, or nothing for a male-gender chart)."""
    request = chart_request(chart)
    assert cards(client, under_oids(request)) == cards(client, request)


def test_a_pregnancy_on_the_problem_list_under_the_icd_10_cm_oid_is_critical(
    client: FlaskClient,
) -> None:
    request = chart_request("pregnancy-woman-28-no-test")
    z331 = condition(
        "pt-pregnancy",
        "Z33.1",
        "Pregnant state, incidental",
        cid="cond-preg",
        system="urn:oid:2.16.840.1.113883.6.90",
    )
    z331["code"].pop("text", None)
    for coding in z331["code"]["coding"]:
        coding.pop("display", None)  # by its code alone: no words to read it by
    request["prefetch"]["conditions"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": z331}],
    }
    assert ("pregnancy-status", "critical", "pregnancy-on-problem-list") in cards(client, request)
