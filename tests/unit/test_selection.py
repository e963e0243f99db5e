"""Selection before validation (`cds.fhir.selection`): a long chart is cut down to what a check
can use, and no fixture's answer changes because of it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from cds.fhir import parsing, selection, snapshot
from cds.fhir.prefetch import SourceData
from cds.knowledge import load_knowledge
from tests.conftest import FIXTURES, SIGN
from tests.fixtures_util import Step, blinatumomab_order, vital_sign, weight

KNOWLEDGE = load_knowledge()
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PID = "pt-sel"


def _iso(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def _requests() -> list[tuple[str, dict[str, Any]]]:
    from cds.__main__ import request_from_bundle

    found = []
    for path in sorted(FIXTURES.glob("**/*.json")):
        if path.name.endswith(".expected.json"):
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("resourceType") == "Bundle":
            try:
                document = request_from_bundle(document)
            except ValueError:
                continue
        if document.get("hook") in ("order-sign", "order-select") and document.get("prefetch"):
            found.append((str(path.relative_to(FIXTURES)), document))
    return found


def _long_request() -> dict[str, Any]:
    from bench import charts

    return charts.long(NOW)


def _answer(app: Flask, request: dict[str, Any]) -> Any:
    path = SIGN if request["hook"] == "order-sign" else SIGN.replace("sign", "select")
    body = app.test_client().post(path, json=request).get_json()
    for card in body.get("cards", []):  # fresh uuids on every call
        card.pop("uuid", None)
        for suggestion in card.get("suggestions", []):
            suggestion.pop("uuid", None)
    return body


def test_no_fixture_and_not_the_long_chart_answers_differently_without_selection(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same cards, in the same order, with and without the selection (which must matter:
    the long chart validates far fewer resources with it)."""
    requests = [*_requests(), ("bench long chart", _long_request())]
    assert len(requests) > 20
    app = make_app(clock=lambda: NOW)
    counted: list[int] = []
    real_validate = snapshot.validate

    def counting(raw: Any, source: str) -> Any:
        counted.append(1)
        return real_validate(raw, source)

    monkeypatch.setattr(snapshot, "validate", counting)
    with_selection = [_answer(app, copy.deepcopy(r)) for _, r in requests]
    selected_count = len(counted)
    counted.clear()
    monkeypatch.setattr(selection, "select_observations", lambda raws, lists, valid: list(raws))
    monkeypatch.setattr(selection, "select_immunizations", lambda raws, knowledge: list(raws))
    monkeypatch.setattr(selection, "select_orders", lambda raws, knowledge: list(raws))
    monkeypatch.setattr(selection, "referenced_medications", lambda raws: _everything())
    without = [_answer(app, copy.deepcopy(r)) for _, r in requests]
    for (name, _), a, b in zip(requests, with_selection, without, strict=True):
        assert a == b, name
    assert selected_count < len(counted) - 500


class _everything(set[str]):
    def __contains__(self, item: object) -> bool:
        return True


def _obs(oid: str, days_ago: float, value: float | None = 70) -> dict[str, Any]:
    resource = weight(PID, value or 70, when=_iso(days_ago), oid=oid)
    if value is None:
        del resource["valueQuantity"]
    return resource


def _select(raws: list[dict[str, Any]]) -> list[str]:
    lists = [KNOWLEDGE.codes_of(name) for name in snapshot.OBSERVATION_VALUE_SETS]
    kept = selection.select_observations(
        raws, lists, lambda raw: parsing.validate(raw, "observations")[0] is not None
    )
    return [r["id"] for r in kept]


def test_old_results_beyond_the_newest_usable_ones_are_left_out() -> None:
    raws = [_obs(f"wt-{d}", d) for d in (1, 10, 20, 200, 300, 400, 500)]
    assert _select(raws) == ["wt-1", "wt-10", "wt-20"]  # within 30 days of the newest: 3 usable


def test_the_newest_usable_result_is_kept_at_any_age_and_unusable_ones_do_not_count() -> None:
    invalid = _obs("wt-bad", 500)
    invalid["valueQuantity"]["value"] = "heavy"  # invalid FHIR: kept, a data-quality issue
    raws = [
        _obs("wt-no-value", 450, value=None),
        invalid,
        _obs("wt-700", 700),
        _obs("wt-800", 800),
        _obs("wt-900", 900),
        _obs("wt-1000", 1000),
    ]
    assert _select(raws) == ["wt-no-value", "wt-bad", "wt-700", "wt-800", "wt-900"]


def test_every_result_within_the_window_of_the_newest_is_kept_and_lists_are_separate() -> None:
    weights = [_obs(f"wt-{d}", d) for d in range(0, 30, 2)]
    height = vital_sign(PID, "ht-old", "8302-2", "Body height", 170, "cm", _iso(2000))
    undated = _obs("wt-undated", 0)
    del undated["effectiveDateTime"]
    assert _select([*weights, height, undated]) == [w["id"] for w in weights] + [
        "ht-old",
        "wt-undated",
    ]


def test_immunizations_a_check_can_use_are_kept_at_any_age() -> None:
    def shot(iid: str, cvx: str, days_ago: float) -> dict[str, Any]:
        return {
            "resourceType": "Immunization",
            "id": iid,
            "status": "completed",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": cvx}]},
            "patient": {"reference": f"Patient/{PID}"},
            "occurrenceDateTime": _iso(days_ago),
        }

    raws = [shot("flu-new", "141", 10), shot("mmr-old", "03", 400), shot("mmr-new", "03", 1)]
    kept = [r["id"] for r in selection.select_immunizations(raws, KNOWLEDGE)]
    assert kept == ["mmr-old", "mmr-new"]  # an inactivated flu shot: no check reads it


def test_orders_a_check_can_use_are_kept_and_old_finished_others_are_not() -> None:
    def other(oid: str, days_ago: float, status: str = "completed") -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest",
            "id": oid,
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": {"text": "ondansetron 8 mg tablet"},
            "subject": {"reference": f"Patient/{PID}"},
            "authoredOn": _iso(days_ago),
        }

    old_cycle = blinatumomab_order(
        PID, [Step(28, days=28)], oid="blin-c1", start=_iso(900), status="completed"
    )
    old_dex = other("dex-text-only", 800) | {"medicationCodeableConcept": {"text": "Decadron"}}
    by_reference = other("by-ref", 800) | {"medicationReference": {"reference": "Medication/m"}}
    raws = [
        other("new", 1),
        other("old", 400),
        other("old-active", 400, "active"),
        other("on-hold", 1, "on-hold"),
        old_cycle,
        old_dex,
        by_reference,
    ]
    kept = [r["id"] for r in selection.select_orders(raws, KNOWLEDGE)]
    assert kept == ["old-active", "on-hold", "blin-c1", "dex-text-only", "by-ref"]


def test_an_invalid_resource_that_is_kept_is_still_a_data_quality_issue() -> None:
    bad = _obs("wt-bad", 1)
    bad["valueQuantity"]["value"] = "heavy"
    sources = {
        "patient": SourceData([{"resourceType": "Patient", "id": PID, "gender": "female"}]),
        "observations": SourceData([bad, _obs("wt-2", 2)]),
    }
    chart = snapshot.build_snapshot(PID, sources, KNOWLEDGE)
    assert [o.resource for o in chart.observations] == ["Observation/wt-2"]
    assert [i.resource for i in chart.issues] == ["Observation/wt-bad"]


def test_validation_copies_a_resource_only_to_repair_it() -> None:
    sandbox = json.loads((FIXTURES / "requests/order-select-adult-rr-cycle1.json").read_text())
    resources = parsing.resources_in(sandbox["context"]["draftOrders"])
    for raw in [*resources, _obs("wt-1", 1), {"resourceType": "Observation", "category": {}}]:
        before = copy.deepcopy(raw)
        repaired, repairs = parsing.normalise(raw)
        assert parsing.needs_repair(raw) == bool(repairs) == (repaired != raw)
        parsing.validate(raw, "test")
        assert raw == before


def test_the_bench_charts_are_valid_and_about_the_size_the_issue_asks_for() -> None:
    from bench import charts

    assert 45 <= charts.prefetch_count(charts.typical(NOW)) <= 55
    assert 950 <= charts.prefetch_count(charts.long(NOW)) <= 1050
    for raw in parsing.resources_in(
        {"resourceType": "Bundle", "entry": [{"resource": r} for r in _all(charts.long(NOW))]}
    ):
        assert parsing.validate(raw, "bench")[1] is None, raw["id"]


def _all(request: dict[str, Any]) -> list[dict[str, Any]]:
    found = [e["resource"] for e in request["context"]["draftOrders"]["entry"]]
    for value in request["prefetch"].values():
        found += parsing.resources_in(value)
    return found


def test_odd_json_where_a_status_or_date_should_be_is_kept_and_reported_not_a_crash() -> None:
    odd_result = _obs("wt-odd", 1) | {"status": ["final"], "effectiveDateTime": {"x": 1}}
    odd_order = {
        "resourceType": "MedicationRequest",
        "id": "odd",
        "status": {"code": "completed"},
        "subject": {"reference": f"Patient/{PID}"},
    }
    assert _select([odd_result]) == ["wt-odd"]
    assert [r["id"] for r in selection.select_orders([odd_order], KNOWLEDGE)] == ["odd"]
    sources = {
        "patient": SourceData([{"resourceType": "Patient", "id": PID}]),
        "observations": SourceData([odd_result]),
        "medications": SourceData([odd_order]),
    }
    chart = snapshot.build_snapshot(PID, sources, KNOWLEDGE)
    assert {i.resource for i in chart.issues} == {"Observation/wt-odd", "MedicationRequest/odd"}
