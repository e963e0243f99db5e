"""Card wording is data: every finding code a check can emit has exactly one template, and every
template renders to a card the CDS Hooks spec accepts."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from cds.cards import CARDS_DIR, CardRenderer
from cds.findings import TOPICS, Finding, ProposedAction
from cds.knowledge import load_knowledge

PACKAGE = Path(__file__).resolve().parent.parent / "cds"
FINDING_CODE = re.compile(r'Finding\(\s*(?:code=)?"([a-z0-9-]+)"')


@pytest.fixture(scope="module")
def renderer() -> CardRenderer:
    return CardRenderer(load_knowledge())


def emitted_codes() -> set[str]:
    codes: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        codes |= set(FINDING_CODE.findall(path.read_text(encoding="utf-8")))
    return codes


def test_every_finding_code_in_the_code_has_a_template(renderer: CardRenderer) -> None:
    codes = emitted_codes()
    assert "dose-overdose" in codes and "check-not-run" in codes
    assert codes - set(renderer.templates) == set()


def test_every_template_is_used_by_some_check(renderer: CardRenderer) -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py"))
    unused = {code for code in renderer.templates if f'"{code}"' not in text}
    assert unused == set()


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("code", sorted(CardRenderer(load_knowledge()).templates))
def test_each_template_renders_a_valid_card(renderer: CardRenderer, code: str) -> None:
    template = renderer.templates[code]
    names = _placeholders(template.summary) | _placeholders(template.detail or "")
    values = {name: "28.75" for name in names}
    finding = Finding(
        code,
        "dose",
        "warning",
        "label-2.3",
        values,
        "MedicationRequest/x",
        (ProposedAction("update", "fix", {"resourceType": "MedicationRequest"}),),
    )
    card = renderer.render(finding)
    assert len(card.summary) <= 140
    assert "?" not in card.summary, "a placeholder of the summary was left unfilled"
    assert "<" not in (card.detail or ""), "no raw HTML in detail (the sandbox executes it)"
    assert card.source.url and card.source.url.startswith("https://")
    assert card.selectionBehavior == "at-most-one"
    assert all(reason.display for reason in card.overrideReasons)


def test_a_long_summary_is_cut_to_the_spec_limit(renderer: CardRenderer) -> None:
    finding = Finding("check-not-run", "dose", "warning", "label-2.1", {"what": "x" * 300})
    assert len(renderer.render(finding).summary) <= 140


def test_markup_from_the_chart_is_escaped_in_the_detail(renderer: CardRenderer) -> None:
    """Found by the fuzzer: a value the EHR sent must not reach the card detail as raw HTML."""
    values = {"vaccine": "<img src=x onerror=alert(1)>", "date": "2026-02-20", "days": 14}
    card = renderer.render(
        Finding("live-vaccine-recent", "live-vaccine", "critical", "label-5-vaccines", values)
    )
    assert card.detail is not None
    assert "<img" not in card.detail and "&lt;img src=x onerror=alert(1)&gt;" in card.detail


def test_the_card_topic_coding_follows_the_design(renderer: CardRenderer) -> None:
    card = renderer.render(Finding("dose-no-weight", "dose", "warning", "label-2.1"))
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
        Finding("dose-no-weight", "dosing", "warning", "label-2.1")


def test_a_template_defined_twice_is_refused(tmp_path: Path) -> None:
    for path in CARDS_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "copy.yaml").write_text((CARDS_DIR / "dose.yaml").read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="defined twice"):
        CardRenderer(load_knowledge(), tmp_path)
