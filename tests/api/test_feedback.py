"""POST /cds-services/{id}/feedback (CDS Hooks 2.0 §Feedback; tests F1, F2).

Valid feedback is stored before the 200 and tied to the card it answers; a repeat is stored once;
anything invalid is a 400 with an OperationOutcome that says what is wrong, and never a 500.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta, timezone
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.feedback import FeedbackStore
from tests.conftest import SHARED, SIGN, chart_request

FEEDBACK = f"{SIGN}/feedback"
EXAMPLES = SHARED / "spec" / "examples" / "spec-2.0.1"
SPEC_EXAMPLES = [
    "ex19-example-suggestion-accepted.json",
    "ex20-example-overridden-guidance-without-overridereason.json",
    "ex21-example-overridden-guidance-with-overridereason.json",
]
OVERRIDE = {
    "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
    "outcome": "overridden",
    "overrideReason": {"userComment": "Dose confirmed with the attending haematologist."},
    "outcomeTimestamp": "2026-03-02T08:05:31Z",
}


def spec_example(name: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((EXAMPLES / name).read_text(encoding="utf-8")))


def store(app: Flask) -> FeedbackStore:
    return app.extensions["cds.feedback"]  # type: ignore[no-any-return]


def post(client: FlaskClient, body: Any, path: str = FEEDBACK) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json")


def overdose_request() -> dict[str, Any]:
    """Adult 70 kg, relapsed/refractory, cycle 1 day 1, ordered at 28 mcg/day instead of 9."""
    request = chart_request("adult-70kg-rr-cycle1-correct")
    for entry in request["context"]["draftOrders"]["entry"]:
        order = entry["resource"]
        if order["id"] == "blinatumomab-c1":
            first_week = order["dosageInstruction"][0]
            first_week["doseAndRate"][0]["doseQuantity"]["value"] = 28
            first_week["text"] = "28 ug/d continuous IV infusion for 7 days"
    return request


def dose_card(client: FlaskClient) -> dict[str, Any]:
    answer = client.post(SIGN, json=overdose_request())
    assert answer.status_code == 200, answer.get_json()
    (card,) = [c for c in answer.get_json()["cards"] if c["source"]["topic"]["code"] == "dose"]
    assert card["indicator"] == "critical"
    return card  # type: ignore[no-any-return]


# ---------------------------------------------------------------- F1: valid feedback is kept


@pytest.mark.parametrize("name", SPEC_EXAMPLES)
def test_spec_example_is_answered_200_and_stored_as_an_unknown_card(
    client: FlaskClient, app: Flask, name: str
) -> None:
    example = spec_example(name)
    answer = post(client, example)
    assert answer.status_code == 200
    assert answer.get_json() == {
        "received": 1,
        "items": [{"card": example["feedback"][0]["card"], "knownCard": False, "duplicate": False}],
    }
    (row,) = store(app).items()
    assert (row["card"], row["outcome"], row["known_card"], row["topic"]) == (
        example["feedback"][0]["card"],
        example["feedback"][0]["outcome"],
        False,
        None,
    )


def test_spec_example_override_reason_is_stored_with_its_coding(
    client: FlaskClient, app: Flask
) -> None:
    assert post(client, spec_example(SPEC_EXAMPLES[2])).status_code == 200
    (row,) = store(app).items()
    assert row["override_system"] == "https://example.com/cds-hooks/override-reason-system"
    assert row["override_code"] == "d7ecf885"
    assert row["override_comment"] == "A comment entered by the clinician."
    assert row["outcome_timestamp"].isoformat() == "2020-12-11T00:00:00+00:00"


def test_a_repeated_post_is_answered_200_and_stored_once(client: FlaskClient, app: Flask) -> None:
    example = spec_example(SPEC_EXAMPLES[0])
    first, second = post(client, example), post(client, example)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.get_json()["items"][0]["duplicate"] is False
    assert second.get_json()["items"][0]["duplicate"] is True
    assert store(app).count() == 1


def test_several_items_in_one_post_are_all_stored(client: FlaskClient, app: Flask) -> None:
    items = [spec_example(name)["feedback"][0] for name in SPEC_EXAMPLES]
    answer = post(client, {"feedback": [*items, items[0]]})
    assert answer.status_code == 200
    assert answer.get_json()["received"] == 4
    assert [i["duplicate"] for i in answer.get_json()["items"]] == [False, False, False, True]
    assert sorted(row["card"] for row in store(app).items()) == sorted(i["card"] for i in items)


def test_override_of_an_overdose_card_is_tied_to_the_dose_topic(
    client: FlaskClient, app: Flask
) -> None:
    card = dose_card(client)
    reason = card["overrideReasons"][0]
    answer = post(
        client,
        {
            "feedback": [
                {
                    "card": card["uuid"],
                    "outcome": "overridden",
                    # EHRs echo the Coding with extra fields of their own
                    "overrideReason": {
                        "reason": reason | {"userSelected": True, "version": "1"},
                        "userComment": "Deliberate: restarting at full dose after a 3-day pause.",
                    },
                    "outcomeTimestamp": "2026-03-02T08:01:12.480Z",
                }
            ]
        },
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["items"] == [
        {"card": card["uuid"], "knownCard": True, "topic": "dose", "duplicate": False}
    ]
    (row,) = store(app).items()
    assert (row["known_card"], row["topic"], row["override_code"]) == (True, "dose", reason["code"])
    (dose,) = [r for r in store(app).summary() if r["topic"] == "dose"]
    assert (dose["issued"], dose["overridden"], dose["override_rate"]) == (1, 1, 1.0)


def test_accepting_the_dose_suggestion_is_stored_as_accepted(
    client: FlaskClient, app: Flask
) -> None:
    card = dose_card(client)
    suggestion = card["suggestions"][0]
    body = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": suggestion["uuid"]}],
                "outcomeTimestamp": "2026-03-02T08:01:40Z",
            }
        ]
    }
    assert post(client, body).get_json()["items"][0]["topic"] == "dose"
    (row,) = store(app).items()
    assert (row["outcome"], json.loads(row["accepted_suggestions"])) == (
        "accepted",
        [suggestion["uuid"]],
    )


def test_a_timestamp_without_an_offset_is_taken_as_utc(client: FlaskClient, app: Flask) -> None:
    naive = post(client, {"feedback": [OVERRIDE | {"outcomeTimestamp": "2026-03-02T08:05:31"}]})
    assert naive.status_code == 200
    same = post(client, {"feedback": [OVERRIDE]})  # the same instant, written with Z
    assert same.get_json()["items"][0]["duplicate"] is True
    assert store(app).count() == 1


# ---------------------------------------------------------------- F2: invalid feedback is a 400


def _without(item: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != key}


ACCEPTED = spec_example(SPEC_EXAMPLES[0])["feedback"][0]
INVALID: dict[str, tuple[Any, str]] = {
    "outcome not in the value set": (
        {"feedback": [OVERRIDE | {"outcome": "ignored"}]},
        "feedback.0.outcome: Input should be 'accepted' or 'overridden'",
    ),
    "accepted without acceptedSuggestions": (
        {"feedback": [_without(ACCEPTED, "acceptedSuggestions")]},
        "cds-fb-2",
    ),
    "accepted with an empty acceptedSuggestions": (
        {"feedback": [ACCEPTED | {"acceptedSuggestions": []}]},
        "cds-fb-2",
    ),
    "overrideReason with neither reason nor userComment": (
        {"feedback": [OVERRIDE | {"overrideReason": {}}]},
        "cds-fb-3",
    ),
    "override reason Coding without a code": (
        {"feedback": [OVERRIDE | {"overrideReason": {"reason": {"system": "urn:x"}}}]},
        "feedback.0.overrideReason.reason.code: Field required",
    ),
    "missing card": ({"feedback": [_without(OVERRIDE, "card")]}, "feedback.0.card: Field required"),
    "empty card": ({"feedback": [OVERRIDE | {"card": ""}]}, "feedback.0.card"),
    "card that is not a string": ({"feedback": [OVERRIDE | {"card": 42}]}, "feedback.0.card"),
    "missing outcomeTimestamp": (
        {"feedback": [_without(OVERRIDE, "outcomeTimestamp")]},
        "feedback.0.outcomeTimestamp: Field required",
    ),
    "outcomeTimestamp garbage": (
        {"feedback": [OVERRIDE | {"outcomeTimestamp": "last Tuesday around noon"}]},
        "feedback.0.outcomeTimestamp",
    ),
    "outcomeTimestamp as a number": (
        {"feedback": [OVERRIDE | {"outcomeTimestamp": 1772438400}]},
        "outcomeTimestamp must be an RFC 3339 date-time string",
    ),
    "outcomeTimestamp as epoch seconds in a string": (
        {"feedback": [OVERRIDE | {"outcomeTimestamp": "1764000000"}]},
        "outcomeTimestamp must be an RFC 3339 date-time string",
    ),
    "outcomeTimestamp as a date without a time": (
        {"feedback": [OVERRIDE | {"outcomeTimestamp": "2026-12-01"}]},
        "outcomeTimestamp must be an RFC 3339 date-time string",
    ),
    "outcomeTimestamp beyond the calendar in UTC": (
        {"feedback": [OVERRIDE | {"outcomeTimestamp": "9999-12-31T23:59:59-05:00"}]},
        "outcomeTimestamp is out of range",
    ),
    "card uuid of 10,000 characters": (
        {"feedback": [OVERRIDE | {"card": "c" * 10_000}]},
        "feedback.0.card: String should have at most 256 characters",
    ),
    "card with a NUL character": (
        {"feedback": [OVERRIDE | {"card": "abc\u0000def"}]},
        "must not contain NUL characters",
    ),
    "card with an unpaired surrogate (not valid UTF-8 JSON)": (
        {"feedback": [OVERRIDE | {"card": "abc\ud800"}]},
        "the body is not valid JSON (no low surrogate",
    ),
    "a comment longer than any clinician writes": (
        {"feedback": [OVERRIDE | {"overrideReason": {"userComment": "x" * 10_001}}]},
        "at most 10000 characters",
    ),
    "empty feedback list": ({"feedback": []}, "feedback: List should have at least 1 item"),
    "no feedback list": ({"card": OVERRIDE["card"]}, "feedback: Field required"),
    "feedback that is not a list": (
        {"feedback": OVERRIDE},
        "feedback: Input should be a valid list",
    ),
    "a body that is a list": ([OVERRIDE], "body: Input should be a valid dictionary"),
    "more items than one POST may carry": (
        {"feedback": [OVERRIDE] * 1001},
        "feedback: List should have at most 1000 items",
    ),
}


@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_invalid_feedback_is_a_400_naming_the_problem(
    client: FlaskClient, app: Flask, case: str
) -> None:
    body, expected = INVALID[case]
    answer = post(client, body)
    assert answer.status_code == 400
    outcome = answer.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    diagnostics = outcome["issue"][0]["diagnostics"]
    assert expected in diagnostics
    assert len(diagnostics) < 1000  # the 10,000-character card is not echoed back
    assert store(app).count() == 0


def test_one_bad_item_rejects_the_whole_post(client: FlaskClient, app: Flask) -> None:
    answer = post(client, {"feedback": [OVERRIDE, OVERRIDE | {"outcome": "dismissed"}]})
    assert answer.status_code == 400
    assert "feedback.1.outcome" in answer.get_json()["issue"][0]["diagnostics"]
    assert store(app).count() == 0


def test_a_body_that_is_not_json_is_a_400(client: FlaskClient) -> None:
    answer = client.post(FEEDBACK, data='{"feedback": [', content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["issue"][0]["code"] == "structure"


def test_a_body_that_is_not_declared_json_is_a_415(client: FlaskClient) -> None:
    answer = client.post(FEEDBACK, data=json.dumps(OVERRIDE), content_type="text/plain")
    assert answer.status_code == 415
    assert answer.get_json()["resourceType"] == "OperationOutcome"


def test_feedback_to_an_unknown_service_is_a_404(client: FlaskClient, app: Flask) -> None:
    answer = post(client, {"feedback": [OVERRIDE]}, "/cds-services/warfarin-order-sign/feedback")
    assert answer.status_code == 404
    assert answer.get_json()["issue"][0]["code"] == "not-found"
    assert store(app).count() == 0


def test_many_problems_are_summarised_not_listed_endlessly(client: FlaskClient) -> None:
    answer = post(client, {"feedback": [{"card": n} for n in range(50)]})
    assert answer.status_code == 400
    diagnostics = answer.get_json()["issue"][0]["diagnostics"]
    assert "more)" in diagnostics
    assert diagnostics.count("feedback.") == 3


def test_a_broken_database_is_a_503_the_ehr_may_retry_not_a_500(
    client: FlaskClient, app: Flask
) -> None:
    with store(app).engine.begin() as connection:  # e.g. a botched manual migration
        connection.exec_driver_sql("DROP TABLE feedback")
    answer = post(client, {"feedback": [OVERRIDE]})
    assert answer.status_code == 503
    assert answer.get_json()["issue"][0]["code"] == "transient"
    assert "sqlite" not in answer.get_data(as_text=True).lower()  # no internals leak


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
OFFSETS = st.none() | st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
FIELD_VALUES = {
    "card": JSON_VALUES | st.text(min_size=1, max_size=300),
    "outcome": JSON_VALUES | st.sampled_from(["accepted", "overridden"]),
    "acceptedSuggestions": JSON_VALUES | st.lists(st.fixed_dictionaries({"id": JSON_VALUES})),
    "overrideReason": JSON_VALUES
    | st.fixed_dictionaries({}, optional={"reason": JSON_VALUES, "userComment": JSON_VALUES}),
    "outcomeTimestamp": JSON_VALUES | st.datetimes(timezones=OFFSETS).map(lambda d: d.isoformat()),
}


@pytest.mark.slow  # 150 generated bodies
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(item=st.fixed_dictionaries({}, optional=FIELD_VALUES))
def test_no_feedback_body_can_make_the_service_fail(
    client: FlaskClient, item: dict[str, Any]
) -> None:
    answer = post(client, {"feedback": [copy.deepcopy(item)]})
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)
    assert answer.get_json() is not None
