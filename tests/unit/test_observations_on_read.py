"""Observations are validated when a check reads them (`cds.fhir.observations`): the checks see the
same facts in the same order as if all had been validated, a long history costs only what is read,
and an unreadable result that a check reaches is still reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds.dosing import latest_measurement
from cds.fhir import observations, parsing, snapshot
from cds.fhir.observations import ChartObservations
from cds.fhir.prefetch import SourceData
from cds.knowledge import load_knowledge
from tests.fixtures_util import vital_sign, weight

KNOWLEDGE = load_knowledge()
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PID = "pt-read"
WEIGHTS = KNOWLEDGE.codes_of("body_weight")
HEIGHTS = KNOWLEDGE.codes_of("body_height")


def _iso(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def _weight(oid: str, days_ago: float, kg: float = 70) -> dict[str, Any]:
    return weight(PID, kg, when=_iso(days_ago), oid=oid)


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the observations validated, in order."""
    seen: list[str] = []
    real = parsing.validate

    def counting(raw: Any, source: str) -> Any:
        seen.append(raw.get("id"))
        return real(raw, source)

    monkeypatch.setattr(observations, "validate", counting)
    return seen


def _chart(raws: list[dict[str, Any]]) -> ChartObservations:
    return ChartObservations(raws, snapshot.observation_codes(KNOWLEDGE), "observations")


def test_five_years_of_weekly_weights_the_newest_usable_one_costs_one_validation(
    validated: list[str],
) -> None:
    raws = [_weight(f"wt-{week}", week * 7, 70 + week % 3) for week in range(260)]
    chart = snapshot.build_snapshot(
        PID,
        {"patient": SourceData([{"resourceType": "Patient", "id": PID}]),
         "observations": SourceData(list(reversed(raws)))},
        KNOWLEDGE,
    )  # fmt: skip
    found = latest_measurement(chart, KNOWLEDGE, "body_weight", "kg", NOW)
    assert found is not None and found.resource == "Observation/wt-0"
    assert validated == ["wt-0"]


def test_an_unreadable_newest_weight_is_reported_and_the_next_one_is_used(
    validated: list[str],
) -> None:
    bad = _weight("wt-bad", 1)
    bad["valueQuantity"]["value"] = "heavy"  # invalid FHIR
    chart = snapshot.build_snapshot(
        PID, {"observations": SourceData([_weight("wt-old", 400), bad, _weight("wt-2", 2)])},
        KNOWLEDGE,
    )  # fmt: skip
    found = latest_measurement(chart, KNOWLEDGE, "body_weight", "kg", NOW)
    assert found is not None and found.resource == "Observation/wt-2"
    assert validated == ["wt-bad", "wt-2"]
    assert [i.resource for i in chart.data_issues()] == ["Observation/wt-bad"]


def test_newest_first_undated_last_ties_in_chart_order_and_other_lists_unread(
    validated: list[str],
) -> None:
    same_day = _iso(3)
    undated = _weight("wt-undated", 0)
    del undated["effectiveDateTime"]
    height = vital_sign(PID, "ht-1", "8302-2", "Body height", 170, "cm", _iso(1))
    chart = _chart(
        [
            undated,
            _weight("wt-10", 10),
            weight(PID, 71, when=same_day, oid="wt-tie-a"),
            height,
            weight(PID, 72, when=same_day, oid="wt-tie-b"),
        ]
    )
    assert validated == ["wt-undated"]  # its place is known only once it is read
    read = [fact.resource.split("/")[1] for fact in chart.newest_first(WEIGHTS)]
    assert read == ["wt-tie-a", "wt-tie-b", "wt-10", "wt-undated"]
    assert "ht-1" not in validated


def test_results_in_error_or_cancelled_are_skipped_unread(validated: list[str]) -> None:
    wrong = _weight("wt-wrong", 1) | {"status": "entered-in-error"}
    cancelled = _weight("wt-cancelled", 2) | {"status": "cancelled"}
    chart = _chart([wrong, cancelled, _weight("wt-3", 3)])
    assert [f.resource for f in chart.newest_first(WEIGHTS)] == ["Observation/wt-3"]
    assert validated == ["wt-3"]


def test_odd_json_where_a_status_or_date_should_be_is_read_at_once_and_reported() -> None:
    odd = _weight("wt-odd", 1) | {"status": ["final"], "effectiveDateTime": {"x": 1}}
    chart = snapshot.build_snapshot(
        PID, {"observations": SourceData([odd, _weight("wt-2", 2)])}, KNOWLEDGE
    )
    assert [i.resource for i in chart.data_issues()] == ["Observation/wt-odd"]
    assert [f.resource for f in chart.observations_of(WEIGHTS)] == ["Observation/wt-2"]


def test_another_patients_results_are_never_read(validated: list[str]) -> None:
    other = weight("someone-else", 90, when=_iso(1), oid="wt-other")
    chart = snapshot.build_snapshot(
        PID, {"observations": SourceData([other, _weight("wt-2", 2)])}, KNOWLEDGE
    )
    assert [f.resource for f in chart.observations_of(WEIGHTS)] == ["Observation/wt-2"]
    assert [f.resource for f in chart.observations_of(HEIGHTS)] == []
    assert validated == ["wt-2"]
