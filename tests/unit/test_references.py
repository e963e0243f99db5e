"""FHIR references in every R4 form; reading one is remembered by the reference string itself,
so another string (another patient, another version) is always read afresh."""

from __future__ import annotations

import pytest

from cds.fhir import references
from cds.fhir.references import parse


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/pt-1", ("Patient", "pt-1")),
        ("https://ehr.example.org/fhir/Patient/pt-1", ("Patient", "pt-1")),
        ("Patient/pt-1/_history/3", ("Patient", "pt-1")),
        ("Patient/pt-1?_format=json", ("Patient", "pt-1")),
        ("urn:uuid:1b0c2a9e-2f6c-4a35-9f0e-3d5f1c2b7a10", None),
        ("#med-1", None),
        ("patient 1", None),
    ],
)
def test_reference_forms(reference: str, expected: tuple[str, str] | None) -> None:
    assert parse(reference) == expected
    assert parse(reference) == expected  # the second read comes from the cache, unchanged


def test_a_changed_reference_is_read_again() -> None:
    assert parse("Patient/pt-100") == ("Patient", "pt-100")
    assert parse("Patient/pt-101") == ("Patient", "pt-101")
    assert parse("Patient/pt-100/_history/2") == ("Patient", "pt-100")
    assert parse("Group/pt-100") == ("Group", "pt-100")


def test_a_value_that_is_not_a_string_is_no_reference() -> None:
    assert parse({"reference": "Patient/pt-1"}) is None  # type: ignore[arg-type]


def test_a_reference_longer_than_any_real_one_is_parsed_but_never_kept() -> None:
    """The parse cache keeps 4,096 strings: a request's megabyte-long references must not stay in
    it (gigabytes in a worker), though they are still read."""
    long_id_path = "https://ehr.example.org/" + "a/" * 100_000 + "Patient/p-1"
    before = references._parse_literal.cache_info().currsize
    assert references.parse(long_id_path) == ("Patient", "p-1")
    assert references._parse_literal.cache_info().currsize == before
    assert references.parse("Patient/p-1") == ("Patient", "p-1")
