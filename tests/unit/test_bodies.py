"""Request bodies and answers: the nesting depth read from the bytes is the depth of the parsed
value (brackets, quotes and backslashes inside strings never count); every answer is JSON."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.web.bodies import deeper_than, envelope_without_prefetch
from tests.conftest import chart_request


def depth(value: Any) -> int:
    """The oracle: how many arrays/objects deep the parsed value nests."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


TRICKY_TEXT = st.text(alphabet='[]{}"\\:,ab\n\u00e9', max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY_TEXT, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(value=JSON, compact=st.booleans())
def test_depth_from_bytes_is_the_parsed_values_depth(value: Any, compact: bool) -> None:
    if compact:  # as an EHR may send it: no spaces, non-ASCII as is
        raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    else:
        raw = json.dumps(value, indent=1).encode()
    true_depth = depth(value)
    for limit in range(max(0, true_depth - 2), true_depth + 2):
        assert deeper_than(raw, limit) == (true_depth > limit), (raw, limit)


@pytest.mark.parametrize(
    ("text", "nesting"),
    [
        ('{"a": "[[[", "b": [1, {"c": "\\\\"}], "d": "\\"]]]"}', 3),
        ('[[["x\\\\\\"[["]]]', 3),
        ('"[[["', 0),
        ('{"a\\"[": [{}]}', 3),
        ('{"div": "<div xmlns=\\"http://www.w3.org/1999/xhtml\\">[x]</div>"}', 1),
        ("[" * 101 + "]" * 101, 101),
    ],
)
def test_strings_that_look_like_structure(text: str, nesting: int) -> None:
    assert depth(json.loads(text)) == nesting
    assert deeper_than(text.encode(), nesting - 1) if nesting else True
    assert not deeper_than(text.encode(), nesting)


def test_a_real_chart_nests_as_its_parsed_value() -> None:
    request = chart_request("adult-70kg-rr-cycle1-correct")
    raw = json.dumps(request).encode()
    assert not deeper_than(raw, depth(request))
    assert deeper_than(raw, depth(request) - 1)


def test_answers_orjson_refuses_are_still_json() -> None:
    """A FHIR server's integer beyond 64 bits, or a non-string key, is still written out."""
    from flask import Flask

    from cds.web.bodies import json_response

    with Flask(__name__).app_context():
        for body in ({"value": 2**70, "text": "é"}, {1: "one"}, {"cards": [{"summary": "é"}]}):
            answer = json_response(body)
            assert json.loads(answer.get_data()) == json.loads(json.dumps(body))
            assert answer.mimetype == "application/json"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b'{"hook": "order-sign", "prefetch": {"p": [1, {"b": "\\u00e9"}]}, "context": {}}',
            {"hook": "order-sign", "context": {}, "prefetch": {}},
        ),
        (b'  {"hook" : 1 , "prefetch" : { } } ', {"hook": 1, "prefetch": {}}),
        (b'{"prefetch": null}', {"prefetch": None}),
        (b'{"hook": "order-sign"}', {"hook": "order-sign"}),
        (b'{"hook": 1, "hook": 2}', {"hook": 2}),  # as orjson reads it: the last one
    ],
)
def test_the_top_level_is_read_and_the_prefetch_left_unparsed(
    raw: bytes, expected: dict[str, Any]
) -> None:
    read = envelope_without_prefetch(raw)
    assert read is not None and read.envelope == expected
    assert {k: orjson.loads(bytes(v)) for k, v in read.members.items()} == orjson.loads(raw)


@pytest.mark.parametrize(
    ("case", "raw"),
    [
        ("a prefetch that is not an object", b'{"prefetch": 5}'),
        ("an array", b"[1]"),
        ("cut short", b'{"hook": 1'),
        ("malformed inside the prefetch", b'{"prefetch": {"a": [1, 2}}'),
        ("not UTF-8 inside the prefetch", b'{"prefetch": {"a": "\xff"}}'),
        ("NaN", b'{"hook": NaN}'),
        ("a top-level field nested too deep", b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
        ("a prefetch nested too deep", b'{"prefetch": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
    ],
)
def test_what_cannot_be_read_so_is_left_to_the_whole_parse(case: str, raw: bytes) -> None:
    assert envelope_without_prefetch(raw) is None, case


def test_a_member_sent_twice_is_read_as_the_whole_parse_reads_it() -> None:
    """The memo keys hash a member's bytes as the lane read them, the checks read the whole parse:
    with a member sent twice both must take the same one (the last), or a key would name data
    the call did not use."""
    raw = (
        b'{"hook": "order-sign", "prefetch": {"patient": {"id": "first"}},'
        b' "context": {"patientId": "a"}, "prefetch": {"patient": {"id": "second"}},'
        b' "context": {"patientId": "b"}}'
    )
    read = envelope_without_prefetch(raw)
    assert read is not None
    whole = orjson.loads(raw)
    for name in ("prefetch", "context"):
        assert orjson.loads(bytes(read.members[name])) == whole[name]
