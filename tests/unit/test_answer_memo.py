"""The per-worker memo of calls answered a moment ago (`cds.answer_memo`): the same call resent gets
the same cards, in new cards; any change of content, a `now` moved by the memo's seconds, or a call
that asked the FHIR server is answered anew; bounded; off at 0."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import responses
from flask.testing import FlaskClient

from cds import create_app
from cds.answer_memo import LARGEST_KEPT_CARDS, AnswerMemo, call_key
from cds.cards import renewed
from cds.findings import Finding
from cds.hooks import HookResponse
from cds.services import Engine
from cds.settings import Settings
from cds.web.bodies import envelope_without_prefetch
from tests.api.test_prefetch_fallback import FHIR, overdose_request, serve_chart
from tests.conftest import NOW, SELECT, SIGN, cards_of, chart_request, fixture_charts

FINDINGS = (Finding("check-not-run", "dose", "warning", "label-rr", {"what": "x", "reason": "y"}),)
OVERDOSE = "dose-adult-rr-cycle1-starts-at-28"
SIGN_ID = "blinatumomab-order-sign"


def _client(
    tmp_path: Path, clock: Callable[[], datetime] = lambda: NOW, **settings: Any
) -> tuple[FlaskClient, Engine]:
    app = create_app(
        Settings(dev_mode=True, database_url=f"sqlite:///{tmp_path / 'cds.db'}", **settings),
        clock=clock,
    )
    engine: Engine = app.extensions["cds.engine"]
    return app.test_client(), engine


def test_recall_within_the_seconds_and_not_after() -> None:
    memo: AnswerMemo[tuple[Finding, ...]] = AnswerMemo(8, 30)
    memo.keep(b"k", NOW, FINDINGS)
    assert memo.recall(b"k", NOW + timedelta(seconds=29)) == FINDINGS
    assert memo.recall(b"k", NOW - timedelta(seconds=29)) == FINDINGS  # `check --now` earlier
    assert memo.recall(b"k", NOW + timedelta(seconds=30)) is None
    assert memo.recall(b"other", NOW) is None
    assert (memo.hits, memo.misses) == (2, 1)  # misses: answered anew and kept


def test_bounded_least_recently_kept_out_first() -> None:
    memo: AnswerMemo[tuple[Finding, ...]] = AnswerMemo(2, 30)
    for key in (b"a", b"b", b"c"):
        memo.keep(key, NOW, FINDINGS)
    assert len(memo) == 2
    assert memo.recall(b"a", NOW) is None
    assert memo.recall(b"c", NOW) == FINDINGS


@pytest.mark.parametrize("entries, seconds", [(0, 30), (64, 0)])
def test_zero_entries_or_zero_seconds_turns_it_off(entries: int, seconds: float) -> None:
    memo: AnswerMemo[tuple[Finding, ...]] = AnswerMemo(entries, seconds)
    memo.keep(b"k", NOW, FINDINGS)
    assert (len(memo), memo.recall(b"k", NOW)) == (0, None)


def _key(service_id: str, request: dict[str, Any]) -> bytes:
    read = envelope_without_prefetch(orjson.dumps(request))
    assert read is not None
    return call_key(service_id, read.members)


def test_the_key_ignores_hook_instance_and_token_and_nothing_else() -> None:
    request = chart_request(OVERDOSE)
    key = _key(SIGN_ID, request)
    resent = copy.deepcopy(request) | {
        "hookInstance": "another-instance",
        "fhirAuthorization": {"access_token": "new", "token_type": "Bearer"},
    }
    assert _key(SIGN_ID, resent) == key
    assert _key("blinatumomab-order-select", request) != key
    heavier = copy.deepcopy(request)
    weights = [
        r
        for r in heavier["prefetch"]["observations"]["entry"]
        if r["resource"]["code"]["coding"][0]["code"] == "29463-7"
    ]
    weights[0]["resource"]["valueQuantity"]["value"] += 1
    assert _key(SIGN_ID, heavier) != key
    other_user = copy.deepcopy(request)
    other_user["context"]["userId"] = "Practitioner/other"
    assert _key(SIGN_ID, other_user) != key
    # names and texts are length-prefixed: no two member lists digest alike by concatenation
    assert call_key(SIGN_ID, {"ab": b"1", "c": b"2"}) != call_key(SIGN_ID, {"a": b"b1", "c": b"2"})


def test_adult_overdose_resent_gets_the_critical_card_again_in_a_new_card(
    tmp_path: Path,
) -> None:
    client, engine = _client(tmp_path)
    request = chart_request(OVERDOSE)
    first = client.post(SIGN, json=request).get_json()["cards"]
    again = client.post(SIGN, json=request | {"hookInstance": "resent"}).get_json()["cards"]
    assert (engine.answers.hits, engine.answers.misses) == (1, 1)
    assert [(c["indicator"], c["summary"]) for c in again] == [
        (c["indicator"], c["summary"]) for c in first
    ]
    assert "critical" in {c["indicator"] for c in again}
    assert {c["uuid"] for c in again}.isdisjoint(c["uuid"] for c in first)
    suggestions = [[s["uuid"] for s in c.get("suggestions", [])] for c in (*first, *again)]
    assert sum(map(len, suggestions)) >= 2  # the corrected order, offered on both answers
    assert len({u for us in suggestions for u in us}) == sum(map(len, suggestions))  # all new
    assert _without_uuids(again) == _without_uuids(first)  # the same cards in all else
    # recorded for feedback like any card: tests/api/test_fast_lane.py


def _without_uuids(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        card
        | {"uuid": None, "suggestions": [s | {"uuid": None} for s in card.get("suggestions", [])]}
        for card in cards
    ]


def test_a_renewed_answer_is_the_json_of_its_own_cards(tmp_path: Path) -> None:
    """A resent call's JSON is the first answer's with the new uuids put in: it must be what
    serialising its own cards afresh gives, for every sample chart's cards."""
    _, engine = _client(tmp_path)
    with_suggestions = 0
    for name in fixture_charts():
        first = engine.handle(SIGN_ID, chart_request(name)).response
        again = renewed(first)
        afresh = HookResponse.model_validate(again.model_dump()).to_json()
        assert again.to_json() == afresh, name
        assert first.to_json() != afresh or not first.cards, name
        with_suggestions += any(card.suggestions for card in again.cards)
    assert with_suggestions  # suggestions' uuids are put in too


def test_a_changed_weight_and_a_later_now_are_answered_anew(tmp_path: Path) -> None:
    now = [NOW]
    client, engine = _client(tmp_path, clock=lambda: now[0])
    request = chart_request(OVERDOSE)
    client.post(SIGN, json=request)
    lighter = copy.deepcopy(request)
    for entry in lighter["prefetch"]["observations"]["entry"]:
        if entry["resource"]["code"]["coding"][0]["code"] == "29463-7":
            entry["resource"]["valueQuantity"]["value"] = 41
    client.post(SIGN, json=lighter)
    now[0] = NOW + timedelta(minutes=5)
    client.post(SIGN, json=request)
    client.post(SELECT, json=request | {"hook": "order-select", "context": _selected(request)})
    assert (engine.answers.hits, engine.answers.misses) == (0, 4)


def _selected(request: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = copy.deepcopy(request["context"])
    orders = context["draftOrders"]["entry"]
    context["selections"] = [f"MedicationRequest/{orders[0]['resource']['id']}"]
    return context


def test_a_call_that_asked_the_fhir_server_is_never_kept(tmp_path: Path) -> None:
    client, engine = _client(tmp_path, allowed_fhir_servers=[FHIR])
    request = overdose_request()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as fhir:
        serve_chart(fhir, request, ["conditions"])
        del request["prefetch"]["conditions"]
        first = client.post(SIGN, json=request)
        again = client.post(SIGN, json=request)
        fetched = len(fhir.calls)
    assert first.status_code == again.status_code == 200
    assert fetched == 2  # fetched for each call
    assert (len(engine.answers), engine.answers.hits) == (0, 0)


def test_every_fixture_chart_gets_the_same_cards_with_and_without_the_memo(
    tmp_path: Path,
) -> None:
    charts = fixture_charts()
    answers = {}
    for entries in (0, 64):
        client, engine = _client(tmp_path / str(entries), answer_memo_entries=entries)
        first = [cards_of(client, chart_request(c)) for c in charts]
        again = [cards_of(client, chart_request(c)) for c in charts]
        answers[entries] = [first, again]
        expected = (len(charts), len(charts)) if entries else (0, 0)
        assert (engine.answers.hits, engine.answers.misses) == expected
    assert answers[0][0] == answers[0][1] == answers[64][0] == answers[64][1]


def test_an_answer_of_many_cards_is_not_kept(tmp_path: Path) -> None:
    """50 copies of an order give ~200 cards (~350 KB): not kept, so 64 such calls cannot hold
    hundreds of MB of a worker (red team: 200 orders held 130 MB an entry)."""
    client, engine = _client(tmp_path)
    request = chart_request("dose-adult-rr-cycle1-starts-at-28")
    entries = request["context"]["draftOrders"]["entry"]
    order = next(e for e in entries if "blinatumomab" in orjson.dumps(e).decode().lower())
    entries.extend(
        {"resource": order["resource"] | {"id": f"copy-{i}"}} for i in range(LARGEST_KEPT_CARDS)
    )
    answer = client.post(SIGN, json=request).get_json()
    assert len(answer["cards"]) > LARGEST_KEPT_CARDS
    assert len(engine.answers) == 0
    client.post(SIGN, json=chart_request("dose-adult-rr-cycle1-starts-at-28"))
    assert len(engine.answers) == 1  # a typical answer still is
