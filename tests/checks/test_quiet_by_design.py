"""Quiet by design (issue 15): a correct order for a patient with a complete chart, as an inpatient,
draws no warning or critical card and at most one information card, through the checks alone
(`run_checks`) and end to end (the Flask client, prefetch mode)."""

from __future__ import annotations

import copy

import pytest
from flask.testing import FlaskClient

from cds.cards import FINDING_CODE_EXTENSION, CardRenderer
from cds.checks import run_checks
from cds.knowledge import load_knowledge
from cds.services import Engine
from cds.settings import Settings
from tests.checks.quiet_charts import QUIET, QuietScenario
from tests.conftest import NOW, SIGN


@pytest.mark.parametrize("scenario", QUIET.values(), ids=QUIET.keys())
def test_a_correct_order_is_quiet_end_to_end(client: FlaskClient, scenario: QuietScenario) -> None:
    cards = client.post(SIGN, json=scenario.request()).get_json()["cards"]
    said = [(c["indicator"], c["extension"][FINDING_CODE_EXTENSION]) for c in cards]
    assert [s for s in said if s[0] != "info"] == [], [c["summary"] for c in cards]
    assert len(said) <= 1
    assert tuple(code for _, code in said) == scenario.expected_info


@pytest.mark.parametrize("scenario", QUIET.values(), ids=QUIET.keys())
def test_a_correct_order_is_quiet_in_the_checks(scenario: QuietScenario) -> None:
    knowledge = load_knowledge()
    engine = Engine(Settings(dev_mode=True), knowledge, CardRenderer(knowledge), clock=lambda: NOW)
    call = engine.parse("blinatumomab-order-sign", copy.deepcopy(scenario.request()))
    reading = engine.read(call, fetch=False)
    assert reading.patient.encounter == "Encounter/enc-stay"  # the inpatient stay was read
    findings = run_checks(reading.inputs, knowledge, engine.checks).findings
    assert [f.code for f in findings if f.indicator != "info"] == []
    assert tuple(f.code for f in findings) == scenario.expected_info


@pytest.mark.parametrize("scenario", QUIET.values(), ids=QUIET.keys())
def test_the_same_order_as_an_outpatient_is_told_to_admit_when_the_label_says_so(
    client: FlaskClient, scenario: QuietScenario
) -> None:
    """The quiet answer is not silence by accident: without the inpatient encounter, cycle starts
    of cycles 1 and 2 draw the hospitalisation card."""
    request = scenario.request()
    del request["context"]["encounterId"], request["prefetch"]["encounter"]
    codes = [
        c["extension"][FINDING_CODE_EXTENSION]
        for c in client.post(SIGN, json=request).get_json()["cards"]
    ]
    assert codes.count("hospitalization-recommended") == 1
