"""Every golden-matrix scenario as a fixture file under `fhir-fixtures/scenarios/<topic>/`.

`python -m tests.scenario_fixtures` (re)writes the files from the matrices; the test in
`tests/test_scenario_fixtures.py` fails when a file is missing or differs from its scenario, and
runs each file through `python -m cds check`.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import FIXTURES
from tests.fixtures_util import Expected, bundle, order_select

SCENARIO_DIR = FIXTURES / "scenarios"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:90]


def scenarios() -> list[tuple[Path, dict[str, Any], list[Expected]]]:
    """(file, FHIR Bundle or CDS Hooks request, expected (topic, indicator, finding code) cards of
    its topic)."""
    from tests.checks import (
        test_cycle_limits,
        test_dose_matrix,
        test_hospitalization,
        test_labs,
        test_neonate,
        test_pregnancy,
        test_premedication,
        test_vaccines,
    )

    found: list[tuple[Path, dict[str, Any], list[Expected]]] = []
    for param in test_dose_matrix.SCENARIOS:
        scenario = param.values[0]
        assert isinstance(scenario, test_dose_matrix.Scenario)
        chart = bundle(scenario.chart)
        document = chart
        if scenario.select:
            document = order_select(chart, "MedicationRequest/blinatumomab-draft")
            document["hookInstance"] = str(uuid.uuid5(uuid.NAMESPACE_URL, str(param.id)))
        expected = sorted(("dose", indicator, code) for indicator, code in scenario.cards)
        found.append((SCENARIO_DIR / "dose" / f"{_slug(str(param.id))}.json", document, expected))
    for module, topic in (
        (test_premedication, "premedication"),
        (test_pregnancy, "pregnancy-status"),
        (test_vaccines, "live-vaccine"),
        (test_neonate, "neonate-formulation"),
        (test_cycle_limits, "cycle-limits"),
        (test_labs, "lab-monitoring"),
        (test_hospitalization, "hospitalization"),
    ):
        for name, (chart, expected) in module.SCENARIOS.items():
            found.append((SCENARIO_DIR / topic / f"{_slug(name)}.json", chart, sorted(expected)))
    paths = [path for path, _, _ in found]
    assert len(set(paths)) == len(paths), "two scenarios share a file name"
    return found


def write() -> int:
    """Write every scenario's fixture and remove those of scenarios renamed or gone."""
    found = scenarios()
    for stale in set(SCENARIO_DIR.rglob("*.json")) - {path for path, _, _ in found}:
        stale.unlink()
    for path, document, _ in found:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(found)


if __name__ == "__main__":
    print(f"wrote {write()} scenario fixtures under {SCENARIO_DIR}")
