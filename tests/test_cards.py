"""Card wording is data: every finding code a check declares has exactly one template whose
placeholders are values the finding declares, no template is orphaned, and every template renders
to a card the CDS Hooks spec accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cds.bundled_data import CARDS_DIR
from cds.cards import FINDING_CODE_EXTENSION, CardRenderer
from cds.checks import declared_findings, registry
from cds.findings import TOPICS, ContractError, Finding, FindingSpec, ProposedAction, declare, merge
from cds.knowledge import load_knowledge
from cds.services import DATA_QUALITY_FINDINGS
from tests.conftest import SIGN, chart_request, fixture_charts

DECLARED = merge(declared_findings(registry()), DATA_QUALITY_FINDINGS)


@pytest.fixture(scope="module")
def renderer() -> CardRenderer:
    return CardRenderer(load_knowledge())


def test_the_declared_findings_and_the_templates_agree(renderer: CardRenderer) -> None:
    assert {"dose-overdose", "check-not-run", "order-unreadable"} <= set(DECLARED)
    renderer.verify(DECLARED)  # raises on any mismatch
    assert set(renderer.templates) == set(DECLARED)


def test_a_declared_finding_without_a_template_is_refused(renderer: CardRenderer) -> None:
    with pytest.raises(ContractError, match="no template in cards/ for finding 'dose-new'"):
        renderer.verify({**DECLARED, "dose-new": declare("warning")})


def test_a_template_no_check_emits_is_refused(renderer: CardRenderer) -> None:
    without = {code: spec for code, spec in DECLARED.items() if code != "dose-pending"}
    with pytest.raises(ContractError, match="'dose-pending' is emitted by no check"):
        renderer.verify(without)


def test_a_template_naming_a_value_the_finding_lacks_is_refused(renderer: CardRenderer) -> None:
    spec = DECLARED["hospitalization-recommended"]
    short = FindingSpec(spec.indicator, spec.values - {"days"})
    with pytest.raises(ContractError, match=r"'hospitalization-recommended'.*\['days'\]"):
        renderer.verify({**DECLARED, "hospitalization-recommended": short})


def test_a_value_missing_at_render_time_is_an_error_not_a_gap(renderer: CardRenderer) -> None:
    values = {"cycle": 2, "indication": "R/R", "day": 1}  # no "days"
    finding = Finding("hospitalization-recommended", "hospitalization", "info", "label-rr", values)
    with pytest.raises(ContractError, match="days"):
        renderer.render(finding)


def test_the_card_carries_its_finding_code(renderer: CardRenderer) -> None:
    card = renderer.render(Finding("dose-pending", "dose", "info", "label-dosage"))
    assert card.extension == {FINDING_CODE_EXTENSION: "dose-pending"}
    assert card.model_dump(exclude_none=True)["extension"] == {
        "org.example.cds.finding-code": "dose-pending"
    }


@pytest.mark.parametrize("code", sorted(DECLARED))
def test_each_template_renders_a_valid_card(renderer: CardRenderer, code: str) -> None:
    values = dict.fromkeys(DECLARED[code].values, "28.75")
    finding = Finding(
        code,
        "dose",
        "warning",
        "label-rr",
        values,
        "MedicationRequest/x",
        (ProposedAction("update", "fix", {"resourceType": "MedicationRequest"}),),
    )
    card = renderer.render(finding)
    assert len(card.summary) <= 140
    assert "{" not in card.summary + (card.detail or ""), "a placeholder was left unfilled"
    assert "<" not in (card.detail or ""), "no raw HTML in detail (the sandbox executes it)"
    assert card.source.url and card.source.url.startswith("https://")
    assert card.selectionBehavior == "at-most-one"
    assert all(reason.display for reason in card.overrideReasons)


def test_a_long_summary_is_cut_to_the_spec_limit(renderer: CardRenderer) -> None:
    values = {"what": "x" * 300, "reason": "no weight"}
    finding = Finding("check-not-run", "dose", "warning", "label-dosage", values)
    assert len(renderer.render(finding).summary) <= 140


def test_markup_from_the_chart_is_escaped_in_the_detail(renderer: CardRenderer) -> None:
    """Found by the fuzzer: a value the EHR sent must not reach the card detail as raw HTML."""
    values = {
        "vaccine": "<img src=x onerror=alert(1)>",
        "recognised": "",
        "date": "2026-02-20",
        "days": 14,
        "days_before": 9,
    }
    card = renderer.render(
        Finding("live-vaccine-recent", "live-vaccine", "critical", "label-immunization", values)
    )
    assert card.detail is not None
    assert "<img" not in card.detail and "&lt;img src=x onerror=alert(1)&gt;" in card.detail


def test_the_card_topic_coding_follows_the_design(renderer: CardRenderer) -> None:
    values = {"threshold": "45", "found": "No body weight was found"}
    card = renderer.render(Finding("dose-no-weight", "dose", "warning", "label-dosage", values))
    assert card.source.topic is not None
    assert card.source.topic.system == "https://cds.example.org/fhir/CodeSystem/card-topic"
    assert card.source.topic.code == "dose"


def test_topics_are_the_design_contract() -> None:
    assert set(TOPICS) == {
        "dose",
        "premedication",
        "pregnancy-status",
        "live-vaccine",
        "lab-monitoring",
        "hospitalization",
        "neonate-formulation",
        "cycle-limits",
        "data-quality",
    }
    with pytest.raises(ValueError):
        Finding("dose-no-weight", "dosing", "warning", "label-dosage")


def test_a_template_defined_twice_is_refused(tmp_path: Path) -> None:
    for path in CARDS_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "copy.yaml").write_text((CARDS_DIR / "dose.yaml").read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="defined twice"):
        CardRenderer(load_knowledge(), tmp_path)


def test_no_sample_chart_card_shows_escaped_markdown_or_runs_of_blank_lines(client: Any) -> None:
    """A check's values are escaped as text on the card: one that carries its own emphasis shows
    `\\*\\*9 mcg/day\\*\\*` to the clinician (it did on every overdose card)."""
    for name in fixture_charts():
        answer = client.post(SIGN, json=chart_request(name))
        for card in answer.get_json()["cards"]:
            text = card["summary"] + card.get("detail", "")
            assert "\\*\\*" not in text, (name, card["summary"])
            # an empty placeholder on its own line ({more}) left runs of blank lines
            assert "\n\n\n" not in card.get("detail", ""), (name, card["summary"])
