"""The synthetic cohort through the service three ways (issue 14 item 9): with every prefetch key
filled, with none (everything read from a stand-in FHIR server, Medications and the Encounter
included), and as a Bundle file through `python -m cds check`. In every mode: no 5xx, the same
cards, and the warning and critical cards the generator's own ground truth calls for.

The first 20 patients run in the quick loop; the whole cohort (and a real subprocess) is `slow`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask.testing import FlaskClient

from cds.__main__ import main
from cds.cards import FINDING_CODE_EXTENSION
from tests.cohort.generator import (
    FHIR_BASE,
    SIGNED,
    Cohort,
    bundle_file,
    cohort,
    fallback_request,
    prefetch_request,
    server_resources,
)
from tests.conftest import ROOT, SIGN

COHORT = cohort(120)
QUICK = 20

Card = tuple[str, str, str]  # (topic, indicator, finding code)


def cards(body: dict[str, Any]) -> list[Card]:
    return sorted(
        (c["source"]["topic"]["code"], c["indicator"], c["extension"][FINDING_CODE_EXTENSION])
        for c in body["cards"]
    )


def alerts(found: list[Card]) -> set[tuple[str, str]]:
    """The warning and critical cards as (topic, indicator): what the ground truth names."""
    return {(topic, indicator) for topic, indicator, _ in found if indicator != "info"}


def patients(quick: bool) -> list[Any]:
    first = 0 if quick else QUICK
    chosen = COHORT[:QUICK] if quick else COHORT[QUICK:]
    return [
        pytest.param(p, id=f"{n:03d}", marks=[] if quick else [pytest.mark.slow])
        for n, p in enumerate(chosen, start=first)
    ]


EVERY_PATIENT = patients(quick=True) + patients(quick=False)


# ---------------------------------------------------------------- the stand-in FHIR server
class StandInServer:
    """Answers the prefetch templates' reads and searches (and Medication reads) from what the
    EHR stores for one patient, filtering searches by patient and code as a FHIR server does."""

    def __init__(self, patient: Cohort, mock: responses.RequestsMock) -> None:
        self.patient = patient
        self.stored = server_resources(patient)
        self.tokens: set[str] = set()
        for kind in ("Patient", "Encounter", "Medication"):
            mock.add_callback(responses.GET, _path_pattern(kind), callback=self.read)
        for kind in ("Observation", "Immunization", "MedicationRequest", "Condition"):
            mock.add_callback(responses.GET, f"{FHIR_BASE}/{kind}", callback=self.search)

    def _token(self, request: Any) -> None:
        self.tokens.add(request.headers.get("Authorization", ""))

    def read(self, request: Any) -> tuple[int, dict[str, str], str]:
        self._token(request)
        kind, _, rid = urlsplit(request.url).path.rpartition("/")
        kind = kind.rsplit("/", 1)[1]
        for resource in self.stored.get(kind, []):
            if resource["id"] == rid:
                return 200, {"Content-Type": "application/fhir+json"}, json.dumps(resource)
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "not-found"}],
        }
        return 404, {"Content-Type": "application/fhir+json"}, json.dumps(outcome)

    def search(self, request: Any) -> tuple[int, dict[str, str], str]:
        self._token(request)
        url = urlsplit(request.url)
        kind = url.path.rsplit("/", 1)[1]
        query = parse_qs(url.query)
        assert query.get("patient") == [self.patient.patient_id], request.url
        codes = {c for value in query.get("code", []) for c in value.split(",")}
        found = [
            r
            for r in self.stored.get(kind, [])
            if not codes
            or any(f"{c['system']}|{c['code']}" in codes for c in r["code"].get("coding", []))
        ]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "link": [{"relation": "self", "url": request.url}],
            "entry": [
                {
                    "fullUrl": f"{FHIR_BASE}/{kind}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in found
            ],
        }
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(bundle)


def _path_pattern(kind: str) -> Any:
    import re

    return re.compile(rf"{re.escape(FHIR_BASE)}/{kind}/[A-Za-z0-9\-.]+$")


@pytest.fixture
def fhir() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# ---------------------------------------------------------------- the three modes
def through_prefetch(client: FlaskClient, patient: Cohort) -> list[Card]:
    with responses.RequestsMock():  # every key is filled: no outbound call at all
        answer = client.post(SIGN, json=prefetch_request(patient))
    assert answer.status_code == 200, answer.get_json()
    return cards(answer.get_json())


def through_fallback(
    client: FlaskClient, patient: Cohort, mock: responses.RequestsMock
) -> list[Card]:
    server = StandInServer(patient, mock)
    answer = client.post(SIGN, json=fallback_request(patient))
    assert answer.status_code == 200, answer.get_json()
    assert server.tokens == {f"Bearer token-{patient.patient_id}"}
    return cards(answer.get_json())


def through_check(
    tmp_path: Path, patient: Cohort, capsys: pytest.CaptureFixture[str]
) -> list[Card]:
    path = tmp_path / f"{patient.patient_id}.json"
    path.write_text(json.dumps(bundle_file(patient)), encoding="utf-8")
    code = main(["check", str(path), "--json", "--now", SIGNED.isoformat()])
    out, err = capsys.readouterr()
    assert code == 0, err
    return cards(json.loads(out))


def explain(patient: Cohort, found: list[Card]) -> str:
    return "\n".join([*patient.story, f"expected {sorted(patient.expected)}", f"got {found}"])


@pytest.mark.parametrize("patient", EVERY_PATIENT)
def test_every_mode_gives_the_cards_the_ground_truth_calls_for(
    client: FlaskClient,
    fhir: responses.RequestsMock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    patient: Cohort,
) -> None:
    prefetched = through_prefetch(client, patient)
    assert alerts(prefetched) == patient.expected, explain(patient, prefetched)
    reminded = ("hospitalization", "info", "hospitalization-recommended") in prefetched
    assert reminded == patient.hospitalization_reminder, explain(patient, prefetched)
    fetched = through_fallback(client, patient, fhir)
    assert fetched == prefetched, explain(patient, fetched)
    checked = through_check(tmp_path, patient, capsys)
    assert checked == prefetched, explain(patient, checked)


@pytest.mark.slow
@pytest.mark.parametrize("number", [3, 7])  # a urn:uuid transaction Bundle; a long chart
def test_the_check_command_as_a_process(tmp_path: Path, number: int) -> None:
    patient = COHORT[number]
    path = tmp_path / "chart.json"
    path.write_text(json.dumps(bundle_file(patient)), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "cds", "check", str(path), "--json", "--now", SIGNED.isoformat()],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = cards(json.loads(done.stdout))
    assert alerts(found) == patient.expected, explain(patient, found)


# ---------------------------------------------------------------- the generator itself
def test_the_cohort_is_deterministic_and_has_the_variety_of_real_charts() -> None:
    again = cohort(120)
    assert [json.dumps(bundle_file(p)) for p in again] == [
        json.dumps(bundle_file(p)) for p in COHORT
    ]
    quick = COHORT[:QUICK]
    for sample in (COHORT, quick):
        assert {p.reference_style for p in sample} == {"relative", "absolute", "versioned", "urn"}
        assert {p.medication_style for p in sample} >= {"codeable", "contained"}
        assert any(p.expected == set() for p in sample)  # correct orders on complete charts
        assert any(("dose", "critical") in p.expected for p in sample)
    story = "\n".join(line for p in COHORT for line in p.story)
    for variety in (
        "[lb_av]", "lbs)", "[in_i]", "[ft_i]", " in)", " m)", "not done", "long chart",
        "relapsed-refractory cycle 1 day 1", "cycle 2 day 8", "mrd-positive", "consolidation",
        "external-prefetch", "external-drafts", "ndc-10-hyphens", "ndc-11", "text-brand",
        "rxnorm-scd", "rxnorm-sbd", "pregnancy on the problem list", "live vaccine in the window",
        "underdose", "child", "adult",
    ):  # fmt: skip
        assert variety in story, variety
    for sample in (COHORT, quick):
        assert {p.encounter["class"]["code"] for p in sample} == {"IMP", "AMB"}
        assert {p.hospitalization_reminder for p in sample} == {True, False}
    assert any("ug/m2/d" in line for line in story.splitlines())
