"""The finding contract at run time: the runner stamps the check's topic and the order under
review on what a check emits, and a code or value the check did not declare is a bug that yields
the "could not verify" card for that topic (fail safe), never a card with a gap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from flask import Flask

from cds.cards import FINDING_CODE_EXTENSION, CardRenderer
from cds.checks import CheckInput, registry
from cds.checks.hospitalization import CHECK as HOSPITALIZATION
from cds.checks.hospitalization import TOPIC
from cds.findings import ContractError, Emission, declare, emit, stamp
from cds.knowledge import Knowledge, load_knowledge
from cds.services import Engine
from cds.settings import Settings
from tests.conftest import NOW, SIGN, chart_request

FINDINGS = {
    "hospitalization-recommended": declare("info", "cycle", "days", "indication", "day"),
    "lab-neutropenia": declare(None, "count"),
}


def test_the_runner_stamps_topic_indicator_and_order() -> None:
    said = emit("hospitalization-recommended", "label-rr", cycle=1, days=9, indication="R/R", day=1)
    finding = stamp(said, FINDINGS, "hospitalization", "MedicationRequest/blin")
    assert (finding.topic, finding.indicator, finding.order) == (
        "hospitalization",
        "info",
        "MedicationRequest/blin",
    )
    assert finding.values == {"cycle": 1, "days": 9, "indication": "R/R", "day": 1}


@pytest.mark.parametrize(
    ("said", "problem"),
    [
        (emit("hospitalization-advised", "label-rr"), "not declared"),
        (
            emit("hospitalization-recommended", "label-rr", cycle=1, days=9, indication="R/R"),
            "missing \\['day'\\]",
        ),
        (
            emit(
                "hospitalization-recommended",
                "label-rr",
                cycle=1,
                days=9,
                indication="x",
                day=1,
                ward="B",
            ),
            "undeclared \\['ward'\\]",
        ),
        (
            emit(
                "hospitalization-recommended",
                "label-rr",
                indicator="critical",
                cycle=1,
                days=9,
                indication="x",
                day=1,
            ),
            "declared 'info'",
        ),
        (emit("lab-neutropenia", "label-5-neutropenia", count=400), "needs an indicator"),
    ],
)
def test_an_emission_its_declaration_does_not_allow_is_refused(
    said: Emission, problem: str
) -> None:
    with pytest.raises(ContractError, match=problem):
        stamp(said, FINDINGS, "hospitalization", None)


@pytest.mark.contract_breach
def test_a_check_emitting_an_undeclared_value_gets_the_could_not_verify_card(
    make_app: Callable[..., Flask],
) -> None:
    """A template naming `{days}` with no value would once have read "first ? days"."""

    def sloppy(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
        return [emit("hospitalization-recommended", "label-rr", cycle=1, indication="R/R", day=1)]

    checks = [c for c in registry() if c.topic != "hospitalization"]
    checks.append(replace(HOSPITALIZATION, run=sloppy))
    client = make_app(checks=checks).test_client()
    answer = client.post(SIGN, json=chart_request("dose-adult-rr-cycle1-starts-at-28"))
    cards = [c for c in answer.get_json()["cards"] if c["source"]["topic"]["code"] == TOPIC]
    assert [(c["indicator"], c["extension"][FINDING_CODE_EXTENSION]) for c in cards] == [
        ("warning", "check-not-run")
    ]
    assert "failed unexpectedly" in cards[0]["detail"]


def test_the_engine_result_names_the_finding_of_each_card() -> None:
    knowledge = load_knowledge()
    engine = Engine(Settings(dev_mode=True), knowledge, CardRenderer(knowledge), clock=lambda: NOW)
    result = engine.handle(
        "blinatumomab-order-sign", chart_request("dose-adult-rr-cycle1-starts-at-28")
    )
    assert "dose-overdose" in result.codes
    assert len(result.codes) == len(result.response.cards) == len(result.topics)
