"""The knowledge files are the clinical truth: they must load, cite a source for every rule, and
drive behaviour without code edits."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cds.cards import CardRenderer
from cds.knowledge import KNOWLEDGE_DIR, load_knowledge
from cds.services import Engine
from cds.settings import Settings
from tests.conftest import NOW, chart_request


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def _edit(directory: Path, name: str, change) -> None:  # type: ignore[no-untyped-def]
    path = directory / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_the_shipped_knowledge_loads_and_names_its_versions() -> None:
    knowledge = load_knowledge()
    for name in ("sources", "dose", "codes"):
        assert f"{name}:" in knowledge.version


def test_every_rule_file_carries_a_version(knowledge_copy: Path) -> None:
    _edit(knowledge_copy, "dose.yaml", lambda d: d.pop("version"))
    with pytest.raises(ValueError, match="version"):
        load_knowledge(knowledge_copy)


def test_a_dose_rule_without_a_source_is_rejected(knowledge_copy: Path) -> None:
    _edit(knowledge_copy, "dose.yaml", lambda d: d["dose"]["schedules"][0].pop("source"))
    with pytest.raises(ValidationError, match="source"):
        load_knowledge(knowledge_copy)


def test_a_rule_citing_an_unknown_source_is_rejected(knowledge_copy: Path) -> None:
    _edit(
        knowledge_copy, "dose.yaml", lambda d: d["dose"]["schedules"][1].update(source="label-9.9")
    )
    with pytest.raises(ValidationError, match=r"label-9\.9"):
        load_knowledge(knowledge_copy)


def test_a_source_in_any_other_rule_file_is_checked_too(knowledge_copy: Path) -> None:
    (knowledge_copy / "extra.yaml").write_text(
        'version: "1"\nrules:\n  - {hours: 4, source: "nowhere"}\n', encoding="utf-8"
    )
    with pytest.raises(ValidationError, match="nowhere"):
        load_knowledge(knowledge_copy)


def test_a_code_without_a_source_is_rejected(knowledge_copy: Path) -> None:
    _edit(
        knowledge_copy,
        "codes.yaml",
        lambda d: d["value_sets"]["body_weight"]["codes"][0].pop("source"),
    )
    with pytest.raises(ValidationError, match="source"):
        load_knowledge(knowledge_copy)


def test_a_code_list_with_an_unknown_system_alias_is_rejected(knowledge_copy: Path) -> None:
    _edit(
        knowledge_copy,
        "codes.yaml",
        lambda d: d["value_sets"]["body_weight"]["codes"][0].update(system="loinc-typo"),
    )
    with pytest.raises(ValidationError, match="loinc-typo"):
        load_knowledge(knowledge_copy)


def test_every_source_points_at_a_web_page() -> None:
    for source in load_knowledge().sources.values():
        assert source.url.startswith("https://")


def test_the_label_dose_table_is_what_the_label_says() -> None:
    """Spot-check the label numbers, including where seed 004 was wrong (MRD 28, not 20)."""
    dose = load_knowledge().dose
    mrd = dose.schedule_for("mrd-positive", 1)
    rr1 = dose.schedule_for("relapsed-refractory", 1)
    rr7 = dose.schedule_for("relapsed-refractory", 7)
    assert mrd is not None and rr1 is not None and rr7 is not None
    assert mrd.steps[0].mcg_per_day == 28
    assert [(s.first_day, s.last_day, s.mcg_per_day, s.cap_mcg_per_day) for s in rr1.steps] == [
        (1, 7, 9, 9),
        (8, 28, 28, 28),
    ]
    assert rr7.treatment_free_days == 56
    assert dose.schedule_for("relapsed-refractory", 10) is None
    assert dose.weight_threshold_kg == 45


def test_changing_a_threshold_in_the_file_changes_the_check(knowledge_copy: Path) -> None:
    """A pharmacist's edit takes effect without code: with the fixed-dose limit raised to 80 kg,
    a 70 kg adult on 28 mcg/day (R/R cycle 2) is dosed by BSA (1.85 m² -> 27.8 mcg/day, in band),
    and a 50 kg adult at 160 cm (1.49 m² -> 22.4 mcg/day) becomes a critical overdose."""
    request = chart_request("adult-70kg-rr-cycle1-correct")
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["extension"][0]["valueInteger"] = 2
    order["dosageInstruction"] = order["dosageInstruction"][1:]
    repeat = order["dosageInstruction"][0]["timing"]["repeat"]
    repeat["boundsPeriod"] = {"start": "2026-03-02T10:00:00+00:00"}
    del repeat["boundsDuration"]
    request["prefetch"]["medications"] = None
    observations = request["prefetch"]["observations"]["entry"]

    def topics(knowledge_dir: Path | None, weight: float, height: float) -> list[tuple[str, str]]:
        knowledge = load_knowledge(knowledge_dir) if knowledge_dir else load_knowledge()
        for entry in observations:
            code = entry["resource"]["code"]["coding"][0]["code"]
            entry["resource"]["valueQuantity"]["value"] = weight if code == "29463-7" else height
        engine = Engine(
            Settings(dev_mode=True), knowledge, CardRenderer(knowledge), clock=lambda: NOW
        )
        response = engine.handle("blinatumomab-order-sign", copy.deepcopy(request)).response
        return [
            (c.source.topic.code, c.indicator)
            for c in response.cards
            if c.source.topic and c.source.topic.code == "dose"
        ]

    assert topics(None, 50, 160) == []
    _edit(knowledge_copy, "dose.yaml", lambda d: d["dose"].update(weight_threshold_kg=80))
    assert topics(knowledge_copy, 70, 176) == []
    assert topics(knowledge_copy, 50, 160) == [("dose", "critical")]
