"""The knowledge files are the clinical truth: they must load, cite a source for every rule, and
drive behaviour without code edits."""

from __future__ import annotations

import copy
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from cds.cards import CardRenderer
from cds.fhir.snapshot import draft_orders
from cds.knowledge import KNOWLEDGE_DIR, load_knowledge
from cds.knowledge.models import FILE_MODELS
from cds.orders import INDICATIONS, review
from cds.patient import PatientSnapshot
from cds.services import Engine
from cds.settings import Settings
from tests.conftest import NOW, chart_request
from tests.fixtures_util import START, Step, blinatumomab_order


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


def test_an_unknown_knowledge_file_is_rejected_not_ignored(knowledge_copy: Path) -> None:
    (knowledge_copy / "extra.yaml").write_text('version: "1"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"unknown \['extra\.yaml'\]"):
        load_knowledge(knowledge_copy)


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("neonate.yaml", lambda d: d.update(bag_source="nowhere")),
        ("restarts.yaml", lambda d: d["reasons"]["crs"].update(source="nowhere")),
        ("labs.yaml", lambda d: d["liver"]["hold_rules"][0].update(source="nowhere")),
        ("cycles.yaml", lambda d: d.update(continuation_source="nowhere")),
        ("premedication.yaml", lambda d: d.update(step_up_source="nowhere")),
        ("sources.yaml", lambda d: d["check_sources"].update(dose="nowhere")),
    ],
)
def test_a_source_in_any_other_rule_file_is_checked_too(
    knowledge_copy: Path, name: str, change: Any
) -> None:
    _edit(knowledge_copy, name, change)
    with pytest.raises(ValidationError, match="nowhere"):
        load_knowledge(knowledge_copy)


def test_every_source_field_of_every_file_is_checked() -> None:
    """The walk finds the `source`/`*_source` fields of every rule file: none escapes the check."""
    knowledge = load_knowledge()
    cited = {where.split(" ")[0] for where, _ in knowledge._cited_sources()}
    assert cited == {f"{name}.yaml" for name in FILE_MODELS if name != "codes"}


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("premedication.yaml", lambda d: d.update(step_up_dya=8), "step_up_dya"),
        (
            "hospitalization.yaml",
            lambda d: d["inpatient_days"].pop("consolidation"),
            "no stay for",
        ),
        ("cycles.yaml", lambda d: d["max_cycles"].pop("mrd-positive"), "max_cycles"),
        ("premedication.yaml", lambda d: d.update(step_up_day=9), "step_up_day"),
        ("pregnancy.yaml", lambda d: d.update(negative_result_valid_hours=48), "72 hours"),
        ("labs.yaml", lambda d: d["neutrophils"].update(value_set="neutrofils"), "neutrofils"),
        ("neonate.yaml", lambda d: d.update(suggested_bag_hours=96), "preservative-free"),
        (
            "restarts.yaml",
            lambda d: d["restart_schedule"]["steps"][0].update(mcg_per_day=28),
            "9 mcg",
        ),
    ],
)
def test_a_rule_file_that_contradicts_itself_or_another_is_rejected(
    knowledge_copy: Path, name: str, change: Any, message: str
) -> None:
    _edit(knowledge_copy, name, change)
    with pytest.raises(ValidationError, match=message):
        load_knowledge(knowledge_copy)


def test_the_indications_are_the_order_contract_s() -> None:
    """dose.yaml names exactly the indication codes an order may carry (shared/design.md)."""
    assert set(load_knowledge().indications) == set(INDICATIONS)


def test_the_cycle_continuation_threshold_comes_from_the_file() -> None:
    """An order with no cycle number, 30 days after cycle 2 began, when that order's status says
    nothing of whether it ran (`unknown`, so no infusion is counted from it): cycle 2 continues
    under the shipped 35 days; with the threshold set to 20 days it is cycle 3."""
    knowledge = load_knowledge()
    earlier = blinatumomab_order(
        "pt-1", [Step(28, days=28)], oid="c2", cycle=2, status="unknown", start=START
    )
    later = blinatumomab_order(
        "pt-1", [Step(28, days=28)], cycle=None, start="2026-04-01T10:00:00+00:00"
    )
    [before, order] = draft_orders([earlier, later], [])
    patient = PatientSnapshot("pt-1", None, None, medication_orders=(before,))
    assert review(order, patient, knowledge, NOW).cycle == 2
    shorter = knowledge.model_copy(
        update={"cycles": knowledge.cycles.model_copy(update={"continuation_within_days": 20})}
    )
    assert review(order, patient, shorter, NOW).cycle == 3


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
        (1, 7, Decimal(9), Decimal(9)),
        (8, 28, Decimal(28), Decimal(28)),
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
