"""The common call's lane (`cds.web.fast_lane`), in production mode: an order-sign for another drug,
and a call sent again (the answer memo), are answered before Flask with the same answer, audit line
and metrics as the view; the JWT is checked once whichever of the two answers; everything else is
Flask's, unchanged."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds import create_app, metrics
from cds.errors import StoreUnavailable
from cds.services import Engine
from cds.settings import Settings
from cds.web import fast_lane
from tests.api.test_auth import BASE, ISSUER, RSA_KEY, jwks_file, token  # noqa: F401 - fixture
from tests.api.test_fast_path_calls import ONDANSETRON, with_draft
from tests.api.test_metrics import delta, scrape
from tests.conftest import NOW, SIGN, chart_request

SELECT = "/cds-services/blinatumomab-order-select"


@pytest.fixture
def app(tmp_path: Path, jwks_file: Path) -> Flask:  # noqa: F811 - the imported fixture
    settings = Settings(
        dev_mode=False,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        trusted_issuers={ISSUER: str(jwks_file)},
        public_base_url=BASE,
    )
    return create_app(settings, clock=lambda: NOW)


@pytest.fixture
def flask_requests(app: Flask) -> list[str]:
    """The paths of the requests that reached Flask (the lane's answers never do)."""
    seen: list[str] = []
    app.before_request(lambda: seen.append(flask.request.path))
    return seen


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


def _audit(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "cds.audit"]


def _sign(client: FlaskClient, body: dict[str, Any], bearer: str) -> Any:
    return client.post(SIGN, json=body, headers={"Authorization": f"Bearer {bearer}"})


def test_ondansetron_with_a_valid_token_is_answered_by_the_lane_audited_and_counted(
    client: FlaskClient, flask_requests: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cds.audit")
    before = scrape(client)
    request = with_draft(ONDANSETRON)
    answer = _sign(client, request, token(jti="lane-1"))
    assert answer.status_code == 200 and answer.get_json() == {"cards": []}
    assert answer.content_type == "application/json"
    assert SIGN not in flask_requests
    [line] = _audit(caplog)
    assert {k: v for k, v in line.items() if k != "ms"} == {
        "event": "hook-call",
        "service": "blinatumomab-order-sign",
        "issuer": ISSUER,
        "jti": "lane-1",
        "tenant": None,
        "hookInstance": request["hookInstance"],
        "cards": [],
        "status": 200,
    }
    after = scrape(client)
    labels = {"endpoint": "cds.call_service", "service": "blinatumomab-order-sign"}
    assert delta(before, after, "cds_requests_total", **labels, status="200") == 1
    assert (
        delta(before, after, "cds_request_duration_seconds_count", endpoint=labels["endpoint"]) == 1
    )


def test_the_lanes_audit_line_has_the_fields_the_views_line_has(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cds.audit")
    _sign(client, with_draft(ONDANSETRON), token())  # the lane
    _sign(client, chart_request("adult-70kg-rr-cycle1-correct"), token())  # the view
    lane, view = _audit(caplog)
    assert list(lane) == list(view)


@pytest.mark.parametrize(
    ("case", "bearer", "reason"),
    [
        ("no token", None, "missing_token"),
        ("another service's audience", token(aud=BASE + SELECT), "audience"),
        ("expired", token(iat=1_600_000_000, exp=1_600_000_300), "expired"),
    ],
)
def test_a_refused_token_is_one_401_one_rejection_counted_and_one_audit_line(
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    case: str,
    bearer: str | None,
    reason: str,
) -> None:
    caplog.set_level(logging.INFO, logger="cds.audit")
    before = scrape(client)
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    answer = client.post(SIGN, json=with_draft(ONDANSETRON), headers=headers)
    assert answer.status_code == 401, case
    after = scrape(client)
    assert delta(before, after, "cds_jwt_rejections_total", reason=reason) == 1, case
    counted = sum(
        value - before.get(key, 0.0)
        for key, value in after.items()
        if key[0] == "cds_jwt_rejections_total"
    )
    assert counted == 1, case  # the lane's refusal is counted by the view, once
    [line] = _audit(caplog)
    assert line["status"] == 401 and line["auth"], case


def test_a_token_is_accepted_once_whichever_path_answers(client: FlaskClient) -> None:
    bearer = token()
    assert _sign(client, with_draft(ONDANSETRON), bearer).status_code == 200  # the lane
    assert _sign(client, with_draft(ONDANSETRON), bearer).status_code == 401  # replayed
    blinatumomab = token()
    request = chart_request("adult-70kg-rr-cycle1-correct")
    first = _sign(client, request, blinatumomab)  # the lane verifies, the view answers
    assert first.status_code == 200 and first.get_json()["cards"]
    assert _sign(client, with_draft(ONDANSETRON), blinatumomab).status_code == 401


def test_rs384_tokens_take_the_lane_too(client: FlaskClient, flask_requests: list[str]) -> None:
    bearer = token(key=RSA_KEY, alg="RS384", kid="ehr-rsa")
    assert _sign(client, with_draft(ONDANSETRON), bearer).get_json() == {"cards": []}
    assert flask_requests == []


@pytest.mark.parametrize(
    ("case", "change", "status"),
    [
        ("a browser's call (CORS is Flask's)", {"headers": {"Origin": "https://ehr.example"}}, 200),
        ("a prefetch that is not an object", {"prefetch": 5}, 400),
        ("a context without userId", {"drop": "userId"}, 400),
        ("a body that is not JSON", {"data": b'{"hook": "order-sign",'}, 400),
        ("a body declared as text", {"content_type": "text/plain"}, 415),
    ],
)
def test_what_the_lane_does_not_answer_reaches_flask_with_its_body_unchanged(
    client: FlaskClient,
    flask_requests: list[str],
    case: str,
    change: dict[str, Any],
    status: int,
) -> None:
    request = with_draft(ONDANSETRON)
    if "prefetch" in change:
        request["prefetch"] = change["prefetch"]
    if "drop" in change:
        del request["context"][change["drop"]]
    data = change.get("data", json.dumps(request).encode())
    answer = client.post(
        SIGN,
        data=data,
        content_type=change.get("content_type", "application/json"),
        headers={"Authorization": f"Bearer {token()}"} | change.get("headers", {}),
    )
    assert answer.status_code == status, (case, answer.get_data(as_text=True))
    assert flask_requests == [SIGN], case


def test_order_select_answered_anew_is_flasks_and_sent_again_the_lanes(
    client: FlaskClient, flask_requests: list[str]
) -> None:
    request = chart_request(RESENT)
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    request |= {"hook": "order-select"}
    request["context"]["selections"] = [f"MedicationRequest/{order['id']}"]
    answers = [
        client.post(
            SELECT,
            json=request | {"hookInstance": f"select-{n}"},
            headers={"Authorization": f"Bearer {token(aud=BASE + SELECT)}"},
        )
        for n in range(2)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    first, again = (
        sorted((c["indicator"], c["summary"]) for c in a.get_json()["cards"]) for a in answers
    )
    assert first == again and "critical" in {indicator for indicator, _ in first}
    assert flask_requests == [SELECT]  # the second from the memo, by the lane


def test_without_metrics_the_lane_counts_nothing(tmp_path: Path, jwks_file: Path) -> None:  # noqa: F811
    settings = Settings(
        dev_mode=False,
        database_url=f"sqlite:///{tmp_path / 'off.sqlite3'}",
        trusted_issuers={ISSUER: str(jwks_file)},
        public_base_url=BASE,
        metrics=False,
    )
    client = create_app(settings, clock=lambda: NOW).test_client()
    labels = {
        "endpoint": "cds.call_service",
        "service": "blinatumomab-order-sign",
        "status": "200",
    }
    before = metrics.REGISTRY.get_sample_value("cds_requests_total", labels) or 0.0
    assert _sign(client, with_draft(ONDANSETRON), token()).get_json() == {"cards": []}
    assert (metrics.REGISTRY.get_sample_value("cds_requests_total", labels) or 0.0) == before


def test_a_blinatumomab_order_is_decided_once_then_answered_by_the_view(
    client: FlaskClient, flask_requests: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    decided: list[str] = []
    quick_answer = Engine.quick_answer

    def spy(self: Engine, service_id: str, body: Any) -> Any:
        decided.append(service_id)
        return quick_answer(self, service_id, body)

    monkeypatch.setattr(Engine, "quick_answer", spy)
    answer = _sign(client, chart_request("adult-70kg-rr-cycle1-correct"), token())
    assert answer.status_code == 200 and answer.get_json()["cards"]
    assert decided == ["blinatumomab-order-sign"] and flask_requests == [SIGN]


def test_a_failure_inside_the_lane_is_flasks_to_answer_never_a_bare_500(
    client: FlaskClient, flask_requests: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(raw: bytes) -> None:
        raise MemoryError("simulated")

    monkeypatch.setattr(fast_lane, "envelope_without_prefetch", broken)
    answer = _sign(client, with_draft(ONDANSETRON), token())  # verified once, by the lane
    assert answer.status_code == 200 and answer.get_json() == {"cards": []}
    assert flask_requests == [SIGN]


RESENT = "dose-adult-rr-cycle1-starts-at-28"  # adult 82 kg, R/R cycle 1 at 28 mcg/day: critical


def test_a_blinatumomab_call_resent_is_answered_by_the_lane_as_the_view_answered_it(
    client: FlaskClient, flask_requests: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cds.audit")
    request = chart_request(RESENT)
    before = scrape(client)
    first = _sign(client, request, token(jti="first"))
    middle = scrape(client)
    again = _sign(client, request | {"hookInstance": "resent-1"}, token(jti="again"))
    after = scrape(client)
    assert [p for p in flask_requests if p != "/metrics"] == [SIGN]  # the first call only
    cards, resent = first.get_json()["cards"], again.get_json()["cards"]
    assert [(c["indicator"], c["summary"]) for c in resent] == [
        (c["indicator"], c["summary"]) for c in cards
    ]
    assert ("dose", "critical") in {(c["source"]["topic"]["code"], c["indicator"]) for c in resent}
    assert {c["uuid"] for c in resent}.isdisjoint(c["uuid"] for c in cards)
    view, lane = _audit(caplog)
    assert list(lane) == list(view)
    assert (lane["hookInstance"], lane["jti"], lane["status"]) == ("resent-1", "again", 200)
    assert lane["cards"] == view["cards"] and lane["cards"]
    for name in ("cds_cards_total", "cds_requests_total"):
        counted = {k: v - middle.get(k, 0.0) for k, v in after.items() if k[0] == name}
        by_view = {k: v - before.get(k, 0.0) for k, v in middle.items() if k[0] == name}
        assert {k: v for k, v in counted.items() if v} == {k: v for k, v in by_view.items() if v}
    # its cards are issued to the same caller: its feedback on them is tied to their topic
    critical = next(c for c in resent if c["indicator"] == "critical")
    feedback = {
        "feedback": [
            {
                "card": critical["uuid"],
                "outcome": "overridden",
                "overrideReason": {"userComment": "Dose confirmed with the attending."},
                "outcomeTimestamp": "2026-03-02T08:01:12Z",
            }
        ]
    }
    answer = client.post(
        SIGN + "/feedback",
        json=feedback,
        headers={"Authorization": f"Bearer {token(aud=BASE + SIGN + '/feedback')}"},
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["items"][0]["knownCard"] is True


def test_a_resent_call_with_a_bad_hook_instance_is_flasks_400(
    client: FlaskClient, flask_requests: list[str]
) -> None:
    request = chart_request(RESENT)
    assert _sign(client, request, token()).status_code == 200
    answer = _sign(client, request | {"hookInstance": 5}, token())
    assert answer.status_code == 400
    assert flask_requests == [SIGN, SIGN]


def test_a_resent_call_whose_cards_cannot_be_recorded_is_flasks_to_answer_with_its_cards(
    client: FlaskClient, flask_requests: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    request = chart_request(RESENT)
    assert _sign(client, request, token()).status_code == 200

    def store_down(*args: Any) -> None:
        raise StoreUnavailable("issued cards not recorded: database is locked")

    monkeypatch.setattr("cds.feedback.FeedbackStore.record_issued", store_down)
    answer = _sign(client, request, token())
    # the store's failure withholds no card: the view answers them, unrecorded (it is logged)
    assert answer.status_code == 200 and answer.get_json()["cards"]
    assert flask_requests == [SIGN, SIGN]
