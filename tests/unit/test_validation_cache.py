"""The per-worker cache of validated resources (`cds.fhir.parsing.ValidationCache`): keyed by
content, never by id; bounded; the same cards with and without it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds import create_app
from cds.fhir import parsing
from cds.settings import Settings
from tests.conftest import FIXTURES, NOW, SIGN, chart_request

UCUM = "http://unitsofmeasure.org"


def weight(kg: float, resource_id: str = "wt-1") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/pt-1"},
        "effectiveDateTime": "2026-02-27T09:00:00+00:00",
        "valueQuantity": {"value": kg, "unit": "kg", "system": UCUM, "code": "kg"},
    }


@pytest.fixture
def cache() -> Iterator[parsing.ValidationCache]:
    before = parsing.CACHE
    parsing.configure_cache(3)
    yield parsing.CACHE
    parsing.CACHE = before


def kg(model: Any) -> float:
    return float(model.valueQuantity.value)


def test_a_resource_changed_under_the_same_id_is_validated_again(
    cache: parsing.ValidationCache,
) -> None:
    first, _ = parsing.validate(weight(70), "observations")
    again, _ = parsing.validate(weight(70), "observations")
    changed, _ = parsing.validate(weight(82), "observations")
    assert again is first  # the same content: the model validated before
    assert kg(first) == 70 and kg(changed) == 82
    assert (cache.hits, cache.misses) == (1, 2)


def test_the_key_is_the_content_whatever_the_order_of_its_keys(
    cache: parsing.ValidationCache,
) -> None:
    raw = weight(70)
    reordered = dict(reversed(list(copy.deepcopy(raw).items())))
    assert parsing.validate(reordered, "observations")[0] is parsing.validate(raw, "x")[0]


def test_the_cache_holds_at_most_its_bound_least_recently_used_out_first(
    cache: parsing.ValidationCache,
) -> None:
    for value in (60, 61, 62, 63, 64):
        parsing.validate(weight(value), "observations")
    assert len(cache) == 3
    misses = cache.misses
    parsing.validate(weight(64), "observations")
    parsing.validate(weight(60), "observations")  # evicted: validated again
    assert cache.misses == misses + 1


def test_an_invalid_resource_is_reported_under_the_source_of_each_call(
    cache: parsing.ValidationCache,
) -> None:
    bad = weight(70) | {"status": 17}
    _, first = parsing.validate(bad, "observations")
    model, second = parsing.validate(bad, "medications")
    assert model is None and first is not None and second is not None
    assert (first.source, second.source) == ("observations", "medications")
    assert first.problem == second.problem and cache.hits == 1


def test_json_with_null_is_never_cached(cache: parsing.ValidationCache) -> None:
    raw = weight(70) | {"note": None}
    parsing.validate(raw, "observations")
    parsing.validate(raw, "observations")
    assert len(cache) == 0


def cards_of(client: Any, request: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The cards a call gets, as (indicator, summary, detail), in a stable order."""
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return sorted(
        (c["indicator"], c["summary"], c.get("detail", "")) for c in answer.get_json()["cards"]
    )


def fixture_charts() -> list[str]:
    """The names of every sample chart (`fhir-fixtures/charts`)."""
    charts = sorted(
        p.stem for p in (FIXTURES / "charts").glob("*.json") if ".expected" not in p.name
    )
    assert len(charts) > 20
    return charts


def test_every_fixture_chart_gets_the_same_cards_with_and_without_the_cache(
    tmp_path: Path,
) -> None:
    charts = fixture_charts()
    answers = {}
    before = parsing.CACHE
    try:
        for entries in (0, 4096):
            settings = Settings(
                dev_mode=True,
                database_url=f"sqlite:///{tmp_path / f'{entries}.db'}",
                resource_cache_entries=entries,
            )
            client = create_app(settings, clock=lambda: NOW).test_client()
            # twice each: with the cache on, the second reading is from it
            answers[entries] = [[cards_of(client, chart_request(c)) for c in charts] for _ in "12"]
        assert parsing.CACHE.hits > 0
    finally:
        parsing.CACHE = before
    assert answers[0][0] == answers[0][1] == answers[4096][0] == answers[4096][1]
