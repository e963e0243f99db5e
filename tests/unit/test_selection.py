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

from bench.ablation import no_selection
from cds.fhir import observations, parsing, selection, snapshot
from cds.fhir.prefetch import SourceData
from cds.knowledge import load_knowledge
from tests.conftest import FIXTURES, SIGN
from tests.fixtures_util import Step, blinatumomab_order, condition, weight

KNOWLEDGE = load_knowledge()
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PID = "pt-sel"


def _iso(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def _requests() -> list[tuple[str, dict[str, Any]]]:
    from cds.fhir.bundle import request_from_bundle

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


@pytest.mark.slow  # every fixture twice, and the long chart
def test_no_fixture_and_not_the_long_chart_answers_differently_without_selection(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same cards, in the same order, with and without the selection (which must matter:
    the long chart validates far fewer resources with it)."""
    requests = [*_requests(), ("bench long chart", _long_request())]
    assert len(requests) > 20
    app = make_app(clock=lambda: NOW)
    counted: list[int] = []
    real_validate = parsing.validate

    def counting(raw: Any, source: str) -> Any:
        counted.append(1)
        return real_validate(raw, source)

    monkeypatch.setattr(snapshot, "validate", counting)
    monkeypatch.setattr(observations, "validate", counting)
    with_selection = [_answer(app, copy.deepcopy(r)) for _, r in requests]
    selected_count = len(counted)
    counted.clear()
    with no_selection():
        without = [_answer(app, copy.deepcopy(r)) for _, r in requests]
    for (name, _), a, b in zip(requests, with_selection, without, strict=True):
        assert a == b, name
    assert selected_count < len(counted) - 500


def test_five_years_of_chart_cost_no_more_validations_than_a_few_months(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark's charts, 49 and 999 resources: the same resources are validated (the
    patient, the ALL diagnosis, the two earlier orders, the newest usable result of each list a
    check reads) plus the two draft orders, whatever the history's length."""
    from bench import charts

    app = make_app(clock=lambda: NOW)
    validated: list[str] = []
    real_validate = parsing.validate

    def counting(raw: Any, source: str) -> Any:
        validated.append(parsing.resource_label(raw))
        return real_validate(raw, source)

    monkeypatch.setattr(snapshot, "validate", counting)
    monkeypatch.setattr(observations, "validate", counting)
    counts = {}
    for name, request in (("typical", charts.typical(NOW)), ("long", charts.long(NOW))):
        validated.clear()
        assert _answer(app, request)["cards"]
        counts[name] = len(validated)
    assert counts["long"] == counts["typical"] <= 15, counts


def _obs(oid: str, days_ago: float, value: float | None = 70) -> dict[str, Any]:
    resource = weight(PID, value or 70, when=_iso(days_ago), oid=oid)
    if value is None:
        del resource["valueQuantity"]
    return resource


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
    kept = [r["id"] for r in selection.select_coded(raws, "vaccineCode", KNOWLEDGE)]
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


def test_an_order_with_odd_json_for_its_status_is_kept_and_reported_not_a_crash() -> None:
    odd_order = {
        "resourceType": "MedicationRequest",
        "id": "odd",
        "status": {"code": "completed"},
        "subject": {"reference": f"Patient/{PID}"},
    }
    assert [r["id"] for r in selection.select_orders([odd_order], KNOWLEDGE)] == ["odd"]
    sources = {
        "patient": SourceData([{"resourceType": "Patient", "id": PID}]),
        "medications": SourceData([odd_order]),
    }
    chart = snapshot.build_snapshot(PID, sources, KNOWLEDGE)
    assert {i.resource for i in chart.data_issues()} == {"MedicationRequest/odd"}


def test_conditions_a_check_can_use_are_kept_and_others_are_not() -> None:
    raws = [
        condition(PID, "I10", "Essential (primary) hypertension", cid="htn"),  # no check reads it
        condition(PID, "C91.02", "Acute lymphoblastic leukemia, in relapse", cid="all-relapse"),
        condition(PID, "C91.02", "", cid="text-only") | {"code": {"text": "ALL in relapse"}},
    ]
    kept = [r["id"] for r in selection.select_coded(raws, "code", KNOWLEDGE)]
    assert kept == ["all-relapse"]  # the checks read conditions by code only
