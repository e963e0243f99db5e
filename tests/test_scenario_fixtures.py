"""Every golden-matrix scenario has a fixture file, and that file run through `python -m cds check`
gives the cards the matrix expects (for the scenario's topic)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds.__main__ import main
from tests.fixtures_util import Expected, findings_of_topic
from tests.scenario_fixtures import SCENARIO_DIR, scenarios

SCENARIOS = scenarios()


def test_there_is_no_stale_fixture_without_a_scenario() -> None:
    on_disk = set(SCENARIO_DIR.rglob("*.json"))
    assert on_disk == {path for path, _, _ in SCENARIOS}, "run `python -m tests.scenario_fixtures`"


@pytest.mark.parametrize(
    ("path", "document", "expected"),
    SCENARIOS,
    ids=[f"{p.parent.name}/{p.stem}" for p, _, _ in SCENARIOS],
)
def test_the_fixture_is_the_scenario_and_check_agrees(
    path: Path,
    document: dict[str, Any],
    expected: list[Expected],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert path.exists(), "run `python -m tests.scenario_fixtures`"
    assert json.loads(path.read_text(encoding="utf-8")) == document, (
        "fixture differs from its scenario"
    )
    capsys.readouterr()
    assert main(["check", str(path), "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)["cards"]
    assert findings_of_topic({"cards": cards}, path.parent.name) == expected
