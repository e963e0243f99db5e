"""The issue-15 rule files load, cite known sources, and reject misspelt keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cds.knowledge import KNOWLEDGE_DIR, load_knowledge

FILES = [
    "toxicity",
    "growth_bounds",
    "corticosteroids",
    "interruptions",
    "vaccines_after_treatment",
    "staleness",
    "problem_list",
]


@pytest.mark.parametrize("name", FILES)
def test_each_file_loads_with_version_and_review_date(name: str) -> None:
    model = getattr(load_knowledge(), name)
    assert model.version and model.reviewed


def _copy_with(tmp_path: Path, name: str, change) -> Path:  # type: ignore[no-untyped-def]
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def test_a_toxicity_rule_citing_an_unknown_source_is_rejected(tmp_path: Path) -> None:
    directory = _copy_with(tmp_path, "toxicity.yaml", lambda d: d["crs"].update(source="x-9"))
    with pytest.raises(ValidationError, match="x-9"):
        load_knowledge(directory)


def test_a_misspelt_key_in_a_growth_band_is_rejected(tmp_path: Path) -> None:
    directory = _copy_with(
        tmp_path, "growth-bounds.yaml", lambda d: d["bands"][3].update(max_heigth_cm=120)
    )
    with pytest.raises(ValidationError, match="max_heigth_cm"):
        load_knowledge(directory)


def test_growth_bands_must_rise_with_age(tmp_path: Path) -> None:
    directory = _copy_with(tmp_path, "growth-bounds.yaml", lambda d: d["bands"].reverse())
    with pytest.raises(ValidationError, match="start at age 0"):
        load_knowledge(directory)


def test_every_toxicity_code_says_where_it_was_read() -> None:
    toxicity = load_knowledge().toxicity
    assert {c.code for c in toxicity.codes} >= {"D89.833", "D89.834", "G92.03", "G92.04", "R56.9"}
    assert all(c.evidence for c in toxicity.codes)
