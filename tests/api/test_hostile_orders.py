"""Orders and charts no EHR should send, but a mistyped date or a broken export can: each gets a
200 with a card saying what could not be checked, never a 500, and never minutes of work."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds.cards import FINDING_CODE_EXTENSION
from tests.conftest import NOW, SIGN, chart_request

ADULT_RR_CYCLE1 = "adult-70kg-rr-cycle1-correct"


def _blinatumomab(request: dict[str, Any]) -> dict[str, Any]:
    entries = request["context"]["draftOrders"]["entry"]
    return next(
        e["resource"]
        for e in entries
        if "blinatumomab" in str(e["resource"].get("medicationCodeableConcept", "")).lower()
    )


def _summaries(client: Any, request: dict[str, Any]) -> dict[str, str]:
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {c["summary"]: c["detail"] for c in answer.get_json()["cards"]}


@pytest.mark.parametrize("entry", [True, 1, "entries", {"resource": {}}])
def test_a_prefetch_bundle_whose_entry_is_not_an_array_is_no_data_not_a_500(
    client: Any, entry: Any
) -> None:
    """adult 70 kg, R/R cycle 1, observations Bundle with `entry: true` -> no weight said."""
    request = chart_request(ADULT_RR_CYCLE1)
    request["prefetch"]["observations"] = {"resourceType": "Bundle", "type": "searchset"}
    request["prefetch"]["observations"]["entry"] = entry
    cards = _summaries(client, request)
    assert any("no usable body weight on file" in summary for summary in cards)


def test_a_draft_whose_contained_is_not_an_array_is_answered_by_the_full_path(
    client: Any,
) -> None:
    """`contained: true` on the blinatumomab order: invalid R4, said as an unreadable order."""
    request = chart_request(ADULT_RR_CYCLE1)
    _blinatumomab(request)["contained"] = True
    cards = _summaries(client, request)
    assert "A blinatumomab order could not be read and was not checked" in cards


UNUSABLE = "A blinatumomab order's dates cannot be worked with; it was not checked"
NOT_COMPUTABLE = "Cannot verify the blinatumomab dose: a dosage runs"


@pytest.mark.parametrize(
    ("timing", "said"),
    [
        (
            {"boundsPeriod": {"start": "2026-03-02T10:00:00Z", "end": "9999-12-31T00:00:00Z"}},
            NOT_COMPUTABLE,
        ),
        ({"boundsDuration": {"value": 1e9, "unit": "d", "code": "d"}}, UNUSABLE),
    ],
    ids=["ends in the year 9999", "runs a billion days (past the calendar)"],
)
def test_an_order_with_absurd_dates_gets_a_card_saying_it_was_not_checked(
    client: Any, timing: dict[str, Any], said: str
) -> None:
    request = chart_request(ADULT_RR_CYCLE1)
    order = _blinatumomab(request)
    for dosage in order["dosageInstruction"]:
        repeat = dosage["timing"]["repeat"]
        for bound in ("boundsPeriod", "boundsDuration"):
            repeat.pop(bound, None)
        repeat.update(copy.deepcopy(timing))
    cards = _summaries(client, request)
    [detail] = [d for s, d in cards.items() if s.startswith(said)]
    if said == UNUSABLE:
        assert f"`{order['resourceType']}/{order['id']}`" in detail


def test_a_dosage_running_from_the_year_1_is_not_judged_day_by_day(client: Any) -> None:
    """boundsPeriod 0001-01-01 -> 2026 (a mistyped year): ~740,000 days, said not computable
    (judging each day held a worker for seconds per order)."""
    request = chart_request(ADULT_RR_CYCLE1)
    order = _blinatumomab(request)
    order["dosageInstruction"] = order["dosageInstruction"][:1]
    order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = {
        "start": "0001-01-01T00:00:00Z",
        "end": NOW.isoformat(),
    }
    cards = _summaries(client, request)
    [detail] = [d for s, d in cards.items() if s.startswith("Cannot verify the blinatumomab dose")]
    assert "a dosage runs 739," in detail and "longer than any blinatumomab infusion" in detail


@pytest.mark.parametrize(
    "code",
    [" " * 40 + "1597258", " " * 38 + "55513-160-01"],
    ids=["RxNorm padded", "NDC padded"],
)
def test_an_unreadable_order_coded_blinatumomab_with_padding_is_said_unreadable(
    client: Any, code: str
) -> None:
    """A code with leading spaces is not a valid R4 code: the order cannot be read, and it must
    still be recognised as a blinatumomab order, not passed over as some other drug."""
    request = chart_request(ADULT_RR_CYCLE1)
    order = _blinatumomab(request)
    order["medicationCodeableConcept"] = {"coding": [{"system": "urn:any", "code": code}]}
    cards = _summaries(client, request)
    assert "A blinatumomab order could not be read and was not checked" in cards


def test_a_fast_path_that_fails_hands_the_call_to_the_full_path(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shape the fast path did not foresee must cost time, never the answer."""
    import cds.services

    def broken(*_: Any) -> str | None:
        raise TypeError("a shape the fast path did not foresee")

    monkeypatch.setattr(cds.services, "full_path_reason", broken)
    cards = _summaries(client, chart_request("dose-adult-rr-cycle1-starts-at-28"))
    assert any(s.startswith("Blinatumomab overdose") for s in cards), cards


def test_an_unreadable_premedication_order_is_not_called_a_blinatumomab_order(
    client: Any,
) -> None:
    """The dexamethasone order says "1 hour before blinatumomab" in its dosage text; its unit
    code is invalid. It is not a blinatumomab order that was not checked (the real one was)."""
    request = chart_request("premed-adult-rr-cycle1-dexamethasone-16-low")
    entries = request["context"]["draftOrders"]["entry"]
    [steroid] = [e["resource"] for e in entries if e["resource"] is not _blinatumomab(request)]
    steroid["dosageInstruction"][0]["text"] = "dexamethasone IV 1 hour before blinatumomab"
    steroid["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"] = "m  g"
    cards = _summaries(client, request)
    assert "A blinatumomab order could not be read and was not checked" not in cards
    assert any(s.startswith("No glucocorticoid premedication") for s in cards), cards


def test_more_blinatumomab_orders_than_one_call_reviews_are_said_not_checked(client: Any) -> None:
    """45 copies of a cycle-1 order: the first 40 are reviewed (their overlap card names them),
    the other 5 get one warning that they were not checked, never silence."""
    request = chart_request(ADULT_RR_CYCLE1)
    entries = request["context"]["draftOrders"]["entry"]
    original = _blinatumomab(request)
    for i in range(44):
        copy_ = copy.deepcopy(original)
        copy_["id"] = f"blinatumomab-copy-{i:02d}"
        entries.append({"resource": copy_})
    answer = client.post(SIGN, json=request)
    assert answer.status_code == 200
    cards = answer.get_json()["cards"]
    skipped = [c for c in cards if c["extension"][FINDING_CODE_EXTENSION] == "orders-not-reviewed"]
    assert len(skipped) == 1 and skipped[0]["indicator"] == "warning"
    assert skipped[0]["summary"].startswith(
        "5 blinatumomab orders in this signing were not checked"
    )
    assert "blinatumomab-copy-39" in skipped[0]["detail"]
    codes = {c["extension"][FINDING_CODE_EXTENSION] for c in cards}
    assert "dose-orders-overlap" in codes  # the reviewed ones were checked
