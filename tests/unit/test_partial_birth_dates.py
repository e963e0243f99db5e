"""A birthDate of a year or a month only ("1995", de-identified and some exported charts) is a
range of days: the ages it allows decide what they agree on, and only that."""

from __future__ import annotations

from datetime import date

import pytest

from cds.fhir.facts import partial_date_range
from cds.patient import PatientSnapshot

AT = date(2026, 3, 2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1995", (date(1995, 1, 1), date(1995, 12, 31))),
        ("1995-07", (date(1995, 7, 1), date(1995, 7, 31))),
        ("2024-02", (date(2024, 2, 1), date(2024, 2, 29))),
        ("1995-13", None),
        ("", None),
    ],
)
def test_a_partial_date_is_its_first_and_last_day(
    value: str, expected: tuple[date, date] | None
) -> None:
    assert partial_date_range(value) == expected


def _born(value: str) -> PatientSnapshot:
    return PatientSnapshot("p", None, "female", birth_range=partial_date_range(value))


def test_a_year_only_birth_date_gives_the_two_ages_it_allows() -> None:
    patient = _born("1995")
    assert patient.age_years_range(AT) == (30, 31)
    assert patient.age_years(AT) is None  # two ages: no single one
    assert patient.birth_date_text() == "1995 (no day recorded)"


def test_a_month_only_birth_date_gives_one_age_away_from_its_birthday() -> None:
    assert _born("1995-07").age_years(AT) == 30
    assert _born("1995-03").age_years_range(AT) == (30, 31)  # born 1-31 March: 2 March splits


def test_the_age_in_days_is_the_youngest_possible() -> None:
    """So that a neonate or infant rule errs towards the stricter side."""
    assert _born("2026-02").age_days(AT) == 2  # born 28 February at the latest
    assert _born("2026").age_days(AT) == 0  # this year: not after today


def test_a_full_birth_date_is_unchanged() -> None:
    patient = PatientSnapshot("p", date(1998, 5, 3), "female")
    assert patient.age_years(AT) == 27
    assert patient.age_years_range(AT) == (27, 27)
    assert patient.age_days(AT) == (AT - date(1998, 5, 3)).days
    assert patient.birth_date_text() == "1998-05-03"
    assert PatientSnapshot("p", None, None).birth_date_text() == "not recorded"


@pytest.mark.parametrize("born", [date(2026, 6, 2), None])
def test_a_birth_date_after_the_day_asked_is_no_age(born: date | None) -> None:
    """A birth date after the order's start is a wrong date: no age (the checks say it is not
    known), never "-89 days old"."""
    patient = (
        PatientSnapshot("p", born, "female")
        if born
        else PatientSnapshot("p", None, "female", birth_range=partial_date_range("2027"))
    )
    at = date(2026, 3, 2)
    assert patient.age_days(at) is None
    assert patient.age_years(at) is None
    assert patient.age_years_range(at) is None
