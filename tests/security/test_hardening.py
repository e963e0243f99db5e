"""Red team, production mode: malformed claims, conformance of the auth header, the public
sandbox's published key, feedback from the wrong EHR or from the future, markdown and terminal
injection, and deep values that used to end in a 500."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds import StartupRefused, create_app
from cds.cards import WORD_JOINER, _fill_markdown
from cds.feedback import format_summary
from cds.settings import Settings
from cds.terminal import printable
from tests.api.test_auth import EHR_KEY, ISSUER, KID, OTHER_KEY, _jwk, default_claims, token
from tests.conftest import NOW, SIGN, chart_request

BASE = "http://localhost"
OTHER_ISSUER = "https://other-ehr.example.net"
FEEDBACK = SIGN + "/feedback"


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [_jwk(EHR_KEY, KID, "ES384")]}))
    other = tmp_path / "other-jwks.json"
    other.write_text(json.dumps({"keys": [_jwk(OTHER_KEY, "other-1", "ES384")]}))
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        trusted_issuers={ISSUER: str(jwks), OTHER_ISSUER: str(other)},
        public_base_url=BASE,
        **extra,
    )


@pytest.fixture
def secure(tmp_path: Path) -> FlaskClient:
    return create_app(_settings(tmp_path), clock=lambda: NOW).test_client()


def bearer(value: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {value}"}


def sign(client: FlaskClient, headers: dict[str, str]) -> Any:
    return client.post(SIGN, json=chart_request("adult-70kg-rr-cycle1-correct"), headers=headers)


# --- conformance -------------------------------------------------------------------------------


def test_a_token_without_sub_is_refused(secure: FlaskClient) -> None:
    no_sub = token(sub=None)
    assert "sub" not in jwt.decode(no_sub, options={"verify_signature": False})
    assert sign(secure, bearer(no_sub)).status_code == 401
    assert sign(secure, bearer(token())).status_code == 200


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_the_bearer_scheme_is_case_insensitive(secure: FlaskClient, scheme: str) -> None:
    assert sign(secure, bearer(token(), scheme)).status_code == 200


@pytest.mark.parametrize("scheme", ["Basic", "Token", "Bearer-x"])
def test_other_schemes_are_refused(secure: FlaskClient, scheme: str) -> None:
    assert sign(secure, bearer(token(), scheme)).status_code == 401


def test_production_refuses_to_start_without_a_public_base_url(tmp_path: Path) -> None:
    settings = _settings(tmp_path).model_copy(update={"public_base_url": None})
    with pytest.raises(StartupRefused, match="CDS_PUBLIC_BASE_URL"):
        create_app(settings)


def test_aud_never_follows_the_host_header(secure: FlaskClient) -> None:
    """A token minted for the attacker's own host, sent with that Host header, is refused."""
    forged_host = "https://attacker.example"
    answer = secure.post(
        SIGN,
        json=chart_request("adult-70kg-rr-cycle1-correct"),
        headers=bearer(token(aud=forged_host + SIGN)),
        base_url=forged_host,
    )
    assert answer.status_code == 401


# --- malformed claims: a 401, never a 500 -------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "tenant", "nbf")


def raw_token(**claims: Any) -> str:
    """A token signed by the trusted EHR with any JSON in its claims (PyJWT's encoder refuses
    some: the point is what the verifier does with them)."""
    payload = default_claims() | claims
    return jwt.api_jws.encode(
        json.dumps(payload).encode(), EHR_KEY, algorithm="ES384", headers={"kid": KID}
    )


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_a_string_time_claim_is_a_401(secure: FlaskClient, claim: str) -> None:
    value = str(int(time.time()) + 300)
    assert sign(secure, bearer(raw_token(**{claim: value}))).status_code == 401


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(claim=st.sampled_from(CLAIMS), value=JSON_VALUES)
def test_any_json_value_in_any_claim_is_a_200_or_a_401(
    secure: FlaskClient, claim: str, value: Any
) -> None:
    answer = sign(secure, bearer(raw_token(**{claim: value})))
    assert answer.status_code in (200, 401), answer.get_data(as_text=True)


# --- deep and odd values inside draft orders -------------------------------------------------


def _with_order_field(value_json: str) -> str:
    request = chart_request("adult-70kg-rr-cycle1-correct")
    request["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"] = "@@"
    return json.dumps(request).replace('"@@"', value_json)


def test_a_thousand_deep_value_in_a_draft_order_is_a_400(tmp_path: Path) -> None:
    client = create_app(
        Settings(dev_mode=True, database_url=f"sqlite:///{tmp_path / 'd.db'}"),
        clock=lambda: NOW,
    ).test_client()
    body = _with_order_field("[" * 1000 + '"x"' + "]" * 1000)
    answer = client.post(SIGN, data=body, content_type="application/json")
    assert answer.status_code == 400
    assert "deeper" in answer.get_json()["issue"][0]["diagnostics"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=JSON_VALUES, depth=st.integers(min_value=0, max_value=300))
def test_odd_or_deep_values_in_a_draft_order_never_give_a_500(
    client: FlaskClient, value: Any, depth: int
) -> None:
    body = _with_order_field("[" * depth + json.dumps(value) + "]" * depth)
    answer = client.post(SIGN, data=body, content_type="application/json")
    assert answer.status_code in (200, 400, 412), answer.get_data(as_text=True)


# --- the public sandbox's key is published --------------------------------------------------


def test_trusting_the_sandbox_is_announced_and_limits_fetches(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, trust_cds_hooks_sandbox=True)
    with caplog.at_level("WARNING"):
        client = create_app(settings, clock=lambda: NOW).test_client()
    assert "PUBLISHED" in caplog.text
    for service in client.get("/cds-services").get_json()["services"]:
        assert "TESTING ONLY" in service["description"]
    request = chart_request("adult-70kg-rr-cycle1-correct")
    del request["prefetch"]
    request["fhirServer"] = "https://fhir.example.org/r4"
    answer = client.post(SIGN, json=request, headers=bearer(token()))
    assert answer.status_code == 412
    assert "CDS_ALLOWED_FHIR_SERVERS" in answer.get_data(as_text=True)


# --- feedback belongs to whoever received the card ----------------------------------------------


def _feedback(card: str, when: datetime) -> dict[str, Any]:
    stamp = when.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "overrideReason": {"userComment": "not relevant"},
                "outcomeTimestamp": stamp,
            }
        ]
    }


def _issued_card(client: FlaskClient) -> str:
    request = chart_request("dose-adult-rr-cycle1-starts-at-28")
    answer = client.post(SIGN, json=request, headers=bearer(token()))
    assert answer.status_code == 200
    return str(answer.get_json()["cards"][0]["uuid"])


def test_feedback_from_another_issuer_on_a_card_is_refused(secure: FlaskClient) -> None:
    card = _issued_card(secure)
    now = datetime.now(UTC)
    other = token(key=OTHER_KEY, kid="other-1", iss=OTHER_ISSUER, aud=BASE + FEEDBACK)
    refused = secure.post(FEEDBACK, json=_feedback(card, now), headers=bearer(other))
    assert refused.status_code == 403
    assert refused.get_json()["resourceType"] == "OperationOutcome"
    own = token(aud=BASE + FEEDBACK)
    accepted = secure.post(FEEDBACK, json=_feedback(card, now), headers=bearer(own))
    assert accepted.status_code == 200
    assert accepted.get_json()["items"][0]["knownCard"] is True


def test_feedback_from_another_tenant_of_the_same_issuer_is_refused(secure: FlaskClient) -> None:
    answer = secure.post(
        SIGN,
        json=chart_request("dose-adult-rr-cycle1-starts-at-28"),
        headers=bearer(token(tenant="hospital-a")),
    )
    card = answer.get_json()["cards"][0]["uuid"]
    now = datetime.now(UTC)
    other_tenant = token(aud=BASE + FEEDBACK, tenant="hospital-b")
    assert (
        secure.post(FEEDBACK, json=_feedback(card, now), headers=bearer(other_tenant)).status_code
        == 403
    )
    same = token(aud=BASE + FEEDBACK, tenant="hospital-a")
    assert secure.post(FEEDBACK, json=_feedback(card, now), headers=bearer(same)).status_code == 200


def test_another_tenants_card_is_refused_at_the_other_services_feedback_too(
    secure: FlaskClient,
) -> None:
    """A card order-sign issued to hospital-a, sent by hospital-b to order-select's feedback
    endpoint: refused as at order-sign's (it was once stored there as an unknown card)."""
    answer = secure.post(
        SIGN,
        json=chart_request("dose-adult-rr-cycle1-starts-at-28"),
        headers=bearer(token(tenant="hospital-a")),
    )
    card = answer.get_json()["cards"][0]["uuid"]
    select_feedback = "/cds-services/blinatumomab-order-select/feedback"
    other_tenant = token(aud=BASE + select_feedback, tenant="hospital-b")
    refused = secure.post(
        select_feedback, json=_feedback(card, datetime.now(UTC)), headers=bearer(other_tenant)
    )
    assert refused.status_code == 403
    same = token(aud=BASE + select_feedback, tenant="hospital-a")
    accepted = secure.post(
        select_feedback, json=_feedback(card, datetime.now(UTC)), headers=bearer(same)
    )
    assert accepted.status_code == 200
    assert accepted.get_json()["items"][0]["knownCard"] is False  # not order-select's card


def test_feedback_dated_in_the_future_is_refused_a_little_skew_is_not(
    secure: FlaskClient,
) -> None:
    card = _issued_card(secure)
    year_9999 = datetime(9999, 1, 1, tzinfo=UTC)
    far = secure.post(
        FEEDBACK, json=_feedback(card, year_9999), headers=bearer(token(aud=BASE + FEEDBACK))
    )
    assert far.status_code == 400
    assert "future" in far.get_json()["issue"][0]["diagnostics"]
    skewed = datetime.now(UTC) + timedelta(minutes=2)
    ok = secure.post(
        FEEDBACK, json=_feedback(card, skewed), headers=bearer(token(aud=BASE + FEEDBACK))
    )
    assert ok.status_code == 200


# --- escaping -------------------------------------------------------------------------------------


def test_a_backtick_in_a_resource_id_cannot_leave_the_code_span() -> None:
    template = "The draft order `{resource}` is not valid FHIR R4: {problem}"
    attack = "MedicationRequest/x` **URGENT** [click](https://evil.example) `"
    filled = _fill_markdown(template, {"resource": attack, "problem": "**bold** [a](https://e.x)"})
    code = filled.split("`")
    assert len(code) == 3, filled  # exactly one code span: the value did not close it
    outside = code[0] + code[2]
    assert "**bold**" not in outside and "](" not in outside.replace("\\](", "")
    assert "\\*\\*bold\\*\\*" in outside and "\\[a\\]" in outside


def test_values_cannot_start_a_heading_a_list_or_raw_html() -> None:
    filled = _fill_markdown(
        "Note: {text}", {"text": "x\n# Heading\n- item <script>alert(1)</script>"}
    )
    assert "\n" not in filled
    assert "<script>" not in filled


# what GFM's autolink extension (and markdown-it's linkify) would turn into a link
GFM_AUTOLINK = re.compile(r"(?i)\b(?:https?|ftp)://|\bwww\.|[\w.+-]@[\w-]+\.")


@pytest.mark.parametrize(
    "text",
    [
        "MMR, details at http://evil.example/login",
        "dexamethasone (see WWW.evil.example)",
        "HTTPS://evil.example",
        "patient-reported: ask nurse@evil.example",
        "mailto:x@evil.example",
    ],
)
def test_a_bare_address_in_a_chart_value_does_not_become_a_link(text: str) -> None:
    """A patient-reported vaccine text or an order's note is shown as text on the card; GFM would
    have made its bare address a clickable link inside the EHR. It reads the same."""
    filled = _fill_markdown("Given: {text}.", {"text": text})
    assert GFM_AUTOLINK.search(filled) is None, filled
    assert filled.replace(WORD_JOINER, "") == f"Given: {text}."


def test_feedback_summary_strips_terminal_escape_sequences() -> None:
    rows = [
        {
            "topic": "dose\x1b[2J",
            "issued": 1,
            "accepted": 0,
            "overridden": 1,
            "no_feedback": 0,
            "override_rate": 1.0,
            "override_reasons": {"\x1b]0;owned\x07evil\x9b31m": 1},
        }
    ]
    shown = format_summary(rows)
    assert "\x1b" not in shown and "\x9b" not in shown and "\x07" not in shown
    assert "evil" in shown


def test_printable_keeps_text_and_line_structure() -> None:
    assert printable("a\tb\nc\u202ed\x00") == "a\tb\ncd"


def test_the_check_command_strips_escape_sequences_from_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cds.__main__ import main

    request = chart_request("adult-70kg-rr-cycle1-correct")
    request["hook"] = "order-sign\x1b[2J"
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    assert main(["check", str(path)]) == 2
    assert "\x1b" not in capsys.readouterr().err


def test_a_jti_is_single_use_across_issuers(secure: FlaskClient) -> None:
    jti = str(uuid.uuid4())
    assert sign(secure, bearer(token(jti=jti))).status_code == 200
    assert sign(secure, bearer(token(jti=jti))).status_code == 401
