"""docs/checks.md is generated from the card and rule files (`python -m cds rules-table`), so the
table of checks cannot drift from what the service does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cds.__main__ import main
from cds.knowledge import KNOWLEDGE_DIR, read_yaml
from cds.rules_table import rules_table
from tests.conftest import ROOT

CHECKS_DOC = ROOT / "docs" / "checks.md"


def test_the_committed_table_of_checks_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["rules-table"]) == 0
    assert capsys.readouterr().out == CHECKS_DOC.read_text(encoding="utf-8"), (
        "docs/checks.md is out of date: run `python -m cds rules-table > docs/checks.md`"
    )


def test_a_pharmacists_change_to_a_rule_shows_in_the_table(tmp_path: Path) -> None:
    edited = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, edited, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    vaccines = edited / "vaccines.yaml"
    text = vaccines.read_text(encoding="utf-8")
    assert "window_before_start_days: 14\n" in text
    vaccines.write_text(
        text.replace("window_before_start_days: 14\n", "window_before_start_days: 28\n")
    )
    before, after = rules_table(), rules_table(knowledge_dir=edited)
    row = "| `window_before_start_days` | {} | `label-immunization`: "
    assert row.format(14) in before and row.format(28) not in before
    assert row.format(28) in after


def test_every_finding_code_and_every_rule_file_is_in_the_table() -> None:
    table = rules_table()
    for path in (ROOT / "cards").glob("*.yaml"):
        if path.name != "override-reasons.yaml":
            assert all(f"| `{code}` |" in table for code in read_yaml(path)), path.name
    for path in KNOWLEDGE_DIR.glob("*.yaml"):
        assert path.name in table


def _row(table: str, rule: str, after: str = "") -> str:
    """The first row of `rule`, after the heading line containing `after`."""
    rest = table[table.index(after) :] if after else table
    return next(line for line in rest.splitlines() if line.startswith(f"| `{rule}` |"))


def test_a_rule_is_never_credited_to_a_source_merely_because_it_is_the_only_one_beside_it() -> None:
    """Pharmacist red team: the lab rules (which statuses count, how old a result may be) were
    credited to UCUM, the only `_source` of their mapping (`unit_aliases_source`)."""
    table = rules_table()
    labs = "### `labs.yaml`"
    assert "`ucum`" in _row(table, "unit_aliases.K/uL", labs)
    for rule in ("usable_statuses", "liver.current_within_days", "neutrophils.current_within_days"):
        assert "`ucum`" not in _row(table, rule, labs), rule


def test_every_row_names_its_rule_and_no_cell_is_a_wall_of_text() -> None:
    """A whole file's `source` made the file one row with an empty rule name and a 12,678-character
    cell (pregnancy-conditions.yaml); long code lists are counted, as codes.yaml's are."""
    for line in rules_table().splitlines():
        if line.startswith("| `"):
            assert not line.startswith("| `` |"), line[:120]
            assert all(len(cell) <= 1_000 for cell in line.split(" | ")), line[:120]
