"""Golden matrix: premedication steroids as written -> prednisone/dexamethasone-equivalent mg."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cds.corticosteroids import RXNORM, identify, normalise
from cds.knowledge import load_knowledge

RULES = load_knowledge().corticosteroids

CASES = [
    # scenario, codes, text, amount, unit, BSA, prednisone mg (None: unreadable), drug
    (
        "adult MRD, prednisone 100 mg IV -> 100 mg",
        [],
        "prednisone 100 mg",
        "100",
        "mg",
        None,
        "100",
        "prednisone",
    ),
    (
        "adult R/R, dexamethasone 20 mg -> 133.3 mg prednisone",
        [],
        "Dexamethasone",
        "20",
        "mg",
        None,
        "133.33",
        "dexamethasone",
    ),
    (
        "label example: dexamethasone 16 mg -> 106.7 mg prednisone",
        [],
        "dexamethasone",
        "16",
        "mg",
        None,
        "106.67",
        "dexamethasone",
    ),
    (
        "methylprednisolone 80 mg (Solu-Medrol) -> 100 mg",
        [],
        "Solu-Medrol 80 mg",
        "80",
        "mg",
        None,
        "100",
        "methylprednisolone",
    ),
    (
        "prednisolone 100 mg -> 100 mg (not mistaken for methylprednisolone)",
        [],
        "prednisolone",
        "100",
        "mg",
        None,
        "100",
        "prednisolone",
    ),
    (
        "child, dexamethasone 5 mg/m2 with BSA 0.8 -> 4 mg dex",
        [],
        "dexamethasone",
        "5",
        "mg/m2",
        "0.8",
        "26.67",
        "dexamethasone",
    ),
    (
        "child, dexamethasone 5 mg/m2, BSA unknown -> unreadable",
        [],
        "dexamethasone",
        "5",
        "mg/m2",
        None,
        None,
        "dexamethasone",
    ),
    (
        "dexamethasone 4 mg/mL product, 5 mL -> 20 mg dex",
        [(RXNORM, "1116927")],
        "",
        "5",
        "mL",
        None,
        "133.33",
        "dexamethasone",
    ),
    (
        "dexamethasone 10 mg/mL 1 mL vial, 2 mL -> 20 mg dex",
        [(RXNORM, "1812079")],
        "",
        "2",
        "mL",
        None,
        "133.33",
        "dexamethasone",
    ),
    (
        "dexamethasone in mL, strength ambiguous (309696) -> unreadable",
        [(RXNORM, "309696")],
        "",
        "5",
        "mL",
        None,
        None,
        "dexamethasone",
    ),
    (
        "dexamethasone in mL by text only -> unreadable, never 0 mg",
        [],
        "dexamethasone inj",
        "5",
        "mL",
        None,
        None,
        "dexamethasone",
    ),
    (
        "prednisolone oral solution 15 mg/5 mL, 20 mL -> 60 mg",
        [(RXNORM, "283077")],
        "",
        "20",
        "mL",
        None,
        "60",
        "prednisolone",
    ),
    (
        "ingredient code only, 0.02 g -> 20 mg dex",
        [(RXNORM, "3264")],
        "",
        "0.02",
        "g",
        None,
        "133.33",
        "dexamethasone",
    ),
    ("dose 0 mg -> unreadable, not 0", [], "dexamethasone", "0", "mg", None, None, "dexamethasone"),
    ("unit tablets -> unreadable", [], "prednisone", "2", "{tbl}", None, None, "prednisone"),
]


@pytest.mark.parametrize(
    ("scenario", "codes", "text", "amount", "unit", "bsa", "prednisone", "drug"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_steroid_dose_as_written(
    scenario: str,
    codes: list[tuple[str, str]],
    text: str,
    amount: str,
    unit: str,
    bsa: str | None,
    prednisone: str | None,
    drug: str,
) -> None:
    steroid = identify(codes, text, RULES)
    assert steroid is not None and steroid.drug == drug
    dose = normalise(steroid, Decimal(amount), unit, Decimal(bsa) if bsa else None, RULES)
    if prednisone is None:
        assert dose.prednisone_mg is None and dose.dexamethasone_mg is None
        assert dose.unreadable
    else:
        assert dose.unreadable is None
        assert dose.prednisone_mg is not None and dose.dexamethasone_mg is not None
        assert dose.prednisone_mg.quantize(Decimal("0.01")) == Decimal(prednisone)
        assert dose.dexamethasone_mg == dose.prednisone_mg * Decimal("0.15")


def test_not_a_steroid() -> None:
    assert identify([(RXNORM, "1597258")], "blinatumomab", RULES) is None


def test_the_label_example_is_in_the_file() -> None:
    assert RULES.label_example.dexamethasone_mg == 16
    assert RULES.label_example.prednisone_mg == 100
