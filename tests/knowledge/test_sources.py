"""Sources: a value the hospital chose cites local policy, never the label, and the label's
sections are those of the current (2024+) revision (docs/label-sources.md)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from cds.knowledge import KNOWLEDGE_DIR


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((KNOWLEDGE_DIR / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _at(data: Any, path: str) -> Any:
    for key in path.split("."):
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


SOURCES: dict[str, dict[str, str]] = _load("sources.yaml")["sources"]

# Numbers the label does not give: each is the hospital's choice (issue 15, "Wording and sources").
LOCAL_CHOICES = [
    ("premedication.yaml", "timing_source", "4-hour window for an active premedication order"),
    ("premedication.yaml", "adult_age_source", "adult from 18 years"),
    ("corticosteroids.yaml", "factor_source", "prednisone 100 mg = dexamethasone 15 mg"),
    ("pregnancy.yaml", "result_window_source", "7-day negative pregnancy result"),
    ("pregnancy.yaml", "reproductive_age_source", "reproductive age 12-55"),
    ("cycles.yaml", "continuation_source", "35-day continuation of an un-numbered order"),
    ("dose.yaml", "dose.weight_age_source", "weight and height age limits"),
    ("staleness.yaml", "limits.0.source", "infant weight staleness"),
    ("staleness.yaml", "limits.1.source", "weight staleness"),
    ("vaccines-after-treatment.yaml", "recovery.source", "B-cell recovery"),
    ("interruptions.yaml", "tolerance_source", "bag-change tolerance"),
    ("labs.yaml", "liver.default_uln_source", "default upper limits of normal"),
    ("labs.yaml", "liver.before_first_dose_source", "warning before the first dose"),
    ("labs.yaml", "neutrophils.at_cycle_start.source", "R/R cycle-start neutropenia"),
    ("growth-bounds.yaml", "margin_source", "height margin"),
]


@pytest.mark.parametrize(("name", "path", "what"), LOCAL_CHOICES, ids=[c[2] for c in LOCAL_CHOICES])
def test_a_local_choice_cites_local_policy(name: str, path: str, what: str) -> None:
    cited = _at(_load(name), path)
    assert cited.startswith("local-policy"), f"{what} ({name} {path}) cites {cited}"


# What the label itself says, with the section of the current revision.
LABEL_RULES = [
    ("interruptions.yaml", "restart_source", "§2.1-2.3"),  # re-initiation after >= 4 hours
    ("toxicity.yaml", "crs.source", "§2.4 Dosage modifications"),
    ("cycles.yaml", "interruption_source", "§2.4 Dosage modifications"),
    ("dose.yaml", "dose.schedules.2.source", "§2.2 Treatment of relapsed or refractory"),
    ("dose.yaml", "dose.schedules.0.source", "§2.1 Treatment of MRD-positive"),
    ("hospitalization.yaml", "inpatient_days.consolidation.source", "§2.3 Treatment of B-cell"),
    ("labs.yaml", "liver.hold_rules.0.source", "elevated liver enzymes"),
    ("pregnancy.yaml", "positive_result_source", "embryo-fetal toxicity"),
]


@pytest.mark.parametrize(("name", "path", "section"), LABEL_RULES)
def test_a_label_rule_cites_its_current_section(name: str, path: str, section: str) -> None:
    cited = _at(_load(name), path)
    assert cited.startswith("label-"), cited
    assert section in SOURCES[cited]["label"], SOURCES[cited]["label"]


def test_label_source_ids_name_the_content_not_a_section_number() -> None:
    """Section numbers moved in 2024 and may move again: only the label text carries them."""
    numbered = [key for key in SOURCES if re.match(r"label-\d", key)]
    assert numbered == []
    for key, source in SOURCES.items():
        if key.startswith("label-"):
            assert source["label"].startswith("BLINCYTO USPI §"), key
