"""What each order under review derives from the whole chart is derived once a call
(`cds.patient.memoized`): every check reviews every blinatumomab draft against every order on
file, and re-deriving the chart per draft made 190 drafts x 6,000 orders on file take 30 s."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

import cds.corticosteroids
from cds.knowledge import Knowledge
from tests.conftest import load_json

REQUEST = "requests/order-sign-adult-rr-cycle1-full-prefetch.json"
DRAFTS, ON_FILE = 20, 60


def many_orders() -> dict[str, Any]:
    """DRAFTS blinatumomab drafts, and ON_FILE active dexamethasone orders on file."""
    request: dict[str, Any] = load_json(REQUEST)
    entries = request["context"]["draftOrders"]["entry"]
    blinatumomab, dexamethasone = entries[0]["resource"], entries[1]["resource"]
    for i in range(DRAFTS - 1):
        draft = copy.deepcopy(blinatumomab)
        draft["id"] = f"blinatumomab-{i}"
        entries.append({"resource": draft})
    on_file = []
    for i in range(ON_FILE):
        order = copy.deepcopy(dexamethasone)
        order["id"], order["status"] = f"dexamethasone-{i}", "active"
        on_file.append({"resource": order})
    request["prefetch"]["medications"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": on_file,
    }
    return request


def counting(target: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    original: Callable[..., Any] = getattr(target, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, counted)
    return calls


def test_each_order_is_matched_once_a_call_not_once_per_draft_reviewed(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    matched = counting(Knowledge, "names", monkeypatch)
    identified = counting(cds.corticosteroids, "identify", monkeypatch)
    response = app.test_client().post("/cds-services/blinatumomab-order-sign", json=many_orders())
    assert response.status_code == 200
    orders = DRAFTS + 1 + ON_FILE  # the drafts, the draft premedication, the orders on file
    # linear in the orders: each one matched as blinatumomab and as a steroid a few times at
    # most, not once per check per draft reviewed (DRAFTS x orders: over 1,000)
    assert matched[0] <= 2 * orders
    assert identified[0] <= 3 * orders
