"""Property-based fuzzing of the parser and the checks (hypothesis): arbitrary JSON and mutated
FHIR resources never make an exception escape, and every chart resource the checks would have used
but cannot read is named on a data-quality card (so a silently ignored weight cannot look like an
all clear). An observation is read only when a check reaches it (`cds.fhir.observations`): one no
check reached may go unnamed, and every clinical card must be exactly what it would be with every
observation validated up front."""

from __future__ import annotations

import copy
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bench.ablation import EagerObservations
from cds.cards import CardRenderer
from cds.errors import RequestNotAnswered
from cds.fhir import observations, snapshot
from cds.fhir.parsing import normalise, resource_label, resources_in, validate
from cds.fhir.snapshot import draft_orders
from cds.knowledge import load_knowledge
from cds.services import Engine
from cds.settings import Settings
from cds.web.errors import status_of
from tests.api.conformance import assert_valid_cds_response
from tests.conftest import NOW, chart_request

pytestmark = pytest.mark.slow  # hundreds of generated inputs

KNOWLEDGE = load_knowledge()
ENGINE = Engine(
    Settings(dev_mode=True, database_url="sqlite://"), KNOWLEDGE, CardRenderer(KNOWLEDGE)
)
ENGINE.clock = lambda: NOW
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
RESOURCE_TYPES = ["Patient", "Observation", "Immunization", "MedicationRequest", "Condition"]
resources = st.builds(
    lambda kind, body: {**body, "resourceType": kind},
    st.sampled_from([*RESOURCE_TYPES, "Bundle", "Nonsense"]),
    st.dictionaries(st.text(max_size=12), json_values, max_size=6),
)


@FUZZ
@given(value=json_values | resources)
def test_the_parser_turns_any_json_into_a_model_or_a_data_issue(value: Any) -> None:
    model, issue = validate(value, "observations")
    assert (model is None) != (issue is None)
    if issue is not None:
        assert issue.problem and issue.source == "observations"
    resources_in(value)
    if isinstance(value, dict):
        normalise(value)


@FUZZ
@given(value=st.lists(json_values | resources, max_size=5))
def test_draft_orders_never_raise_and_every_bad_request_is_an_issue(value: list[Any]) -> None:
    objects = [v for v in value if isinstance(v, dict)]
    issues: list[Any] = []
    orders = draft_orders(copy.deepcopy(objects), issues)
    requests = [v for v in objects if v.get("resourceType") == "MedicationRequest"]
    assert len(orders) + len(issues) == len(requests)


def _prefetched(request: dict[str, Any]) -> list[tuple[str, int | None]]:
    """(prefetch key, entry index) of every resource of the chart request."""
    places: list[tuple[str, int | None]] = []
    for key, value in request["prefetch"].items():
        if value is None:
            continue
        if value.get("resourceType") == "Bundle":
            places += [(key, index) for index in range(len(value.get("entry", [])))]
        else:
            places.append((key, None))
    return places


BASE = chart_request("adult-70kg-rr-cycle1-correct")
PLACES = _prefetched(BASE)
KEPT = {"resourceType", "id", "subject", "patient", "code", "vaccineCode"}  # so it stays selected


def _answer(request: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The cards for `request`, and the ids of the observations the checks read."""
    read: set[str] = set()

    def recording(raw: Any, source: str) -> Any:
        read.add(str(raw.get("id")))
        return validate(raw, source)

    with mock.patch.object(observations, "validate", recording):
        body = ENGINE.handle("blinatumomab-order-sign", request, own_host="cds.local")
    return body.response.to_json(), read


def _clinical_cards(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The cards other than data quality, without their random uuids."""
    cards = []
    for card in body["cards"]:
        if card["source"]["topic"]["code"] != "data-quality":
            card = {k: v for k, v in card.items() if k != "uuid"}
            card["suggestions"] = [
                {k: v for k, v in s.items() if k != "uuid"} for s in card.get("suggestions", [])
            ]
            cards.append(card)
    return cards


@FUZZ
@given(
    place=st.sampled_from(PLACES),
    field=st.text(min_size=1, max_size=12) | st.sampled_from(["status", "valueQuantity", "dosage"]),
    value=json_values,
    data=st.data(),
)
def test_a_mutated_chart_resource_is_checked_or_named_never_a_crash(
    place: tuple[str, int | None], field: str, value: Any, data: st.DataObject
) -> None:
    request = copy.deepcopy(BASE)
    key, index = place
    holder = request["prefetch"][key]
    resource = holder if index is None else holder["entry"][index]["resource"]
    existing = [name for name in resource if name not in KEPT]
    if bool(existing) and data.draw(st.booleans(), label="replace an existing field"):
        field = data.draw(st.sampled_from(existing), label="field")
    assume(field not in KEPT)
    resource[field] = value
    invalid = validate(resource, key)[1] is not None

    with mock.patch.object(snapshot, "ChartObservations", EagerObservations):
        everything_validated, _ = _answer(copy.deepcopy(request))
    body, read = _answer(request)

    assert_valid_cds_response(body)
    assert _clinical_cards(body) == _clinical_cards(everything_validated)
    unread = resource.get("resourceType") == "Observation" and str(resource.get("id")) not in read
    if invalid and not unread:
        quality = [c for c in body["cards"] if c["source"]["topic"]["code"] == "data-quality"]
        assert any(f"`{resource_label(resource)}`" in c.get("detail", "") for c in quality), body


ORDER_FIELDS = ["dosageInstruction", "medicationCodeableConcept", "dispenseRequest", "extension"]


@FUZZ
@given(field=st.sampled_from(ORDER_FIELDS) | st.text(max_size=10), value=json_values)
def test_a_mutated_blinatumomab_order_gets_cards_or_a_clear_4xx(field: str, value: Any) -> None:
    request = copy.deepcopy(BASE)
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    assume(field not in {"resourceType", "id"})
    order[field] = value
    try:
        body = ENGINE.handle("blinatumomab-order-sign", request, own_host="cds.local")
    except RequestNotAnswered as error:
        assert 400 <= status_of(error)[0] < 500
        return
    assert_valid_cds_response(body.response.to_json())
