"""Glucocorticoid products as coded (corticosteroids.yaml `products`): a dose in tablets is the
count times the coded tablet strength, the dose form says whether the order is by mouth, and a
strength that is not on file is unreadable, never 0 mg (red team 3 item 5)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from cds.corticosteroids import RXNORM, identify, normalise
from cds.knowledge import load_knowledge
from cds.knowledge.models import SteroidProduct

RULES = load_knowledge().corticosteroids

CASES = [
    # scenario, RxCUI (None: text only), text, amount, unit, dexamethasone mg (None: unreadable),
    # oral
    ("five tablets of 197582 (4 mg) -> 20 mg, oral", "197582", "", "5", "{tbl}", "20", True),
    ("ten tablets of 197581 (2 mg) -> 20 mg, oral", "197581", "", "10", "tablet", "20", True),
    ("'TAB' in free text, 197580 (1.5 mg) x 4 -> 6 mg", "197580", "", "4", "TAB", "6", True),
    ("'{TBL}' upper case, 197582 x 4 -> 16 mg", "197582", "", "4", "{TBL}", "16", True),
    ("40 mL of the 0.5 mg/5 mL oral liquid 309686 -> 4 mg", "309686", "", "40", "mL", "4", True),
    (
        "tablets of 197583, an SCD not on file (named by its display) -> unreadable, oral",
        "197583",
        "dexamethasone 6 MG Oral Tablet",
        "5",
        "{tbl}",
        None,
        True,
    ),
    (
        "'dexamethasone 4 MG Oral Tablet' text only, in tablets -> unreadable, but oral",
        None,
        "dexamethasone 4 MG Oral Tablet",
        "5",
        "{tbl}",
        None,
        True,
    ),
    (
        "'dexamethasone 4 MG Oral Tablet' text only, 20 mg -> 20 mg, oral",
        None,
        "dexamethasone 4 MG Oral Tablet",
        "20",
        "mg",
        "20",
        True,
    ),
    ("tablets of the injectable 1116927 -> unreadable", "1116927", "", "5", "{tbl}", None, False),
    ("5 mL of the injectable 1116927 -> 20 mg, not oral", "1116927", "", "5", "mL", "20", False),
    (
        "'Dexamethasone sodium phosphate injection' text, 20 mg -> not oral",
        None,
        "Dexamethasone sodium phosphate injection",
        "20",
        "mg",
        "20",
        False,
    ),
    (
        "'Decadron' (a brand name says no form) 20 mg -> route unknown, not oral",
        None,
        "Decadron",
        "20",
        "mg",
        "20",
        False,
    ),
]


@pytest.mark.parametrize(
    ("scenario", "rxcui", "text", "amount", "unit", "dexamethasone", "oral"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_dexamethasone_product_as_written(
    scenario: str,
    rxcui: str | None,
    text: str,
    amount: str,
    unit: str,
    dexamethasone: str | None,
    oral: bool,
) -> None:
    codes = [(RXNORM, rxcui)] if rxcui else []
    steroid = identify(codes, text.lower(), RULES)
    assert steroid is not None and steroid.drug == "dexamethasone"
    dose = normalise(steroid, Decimal(amount), unit, None, RULES)
    assert dose.oral is oral
    if dexamethasone is None:
        assert dose.dexamethasone_mg is None and dose.unreadable
    else:
        assert dose.unreadable is None and dose.dexamethasone_mg is not None
        assert dose.dexamethasone_mg.quantize(Decimal("0.01")) == Decimal(dexamethasone)


def test_every_tablet_product_is_oral_and_says_where_its_strength_was_read() -> None:
    tablets = [p for p in RULES.products if p.mg_per_unit is not None]
    assert {p.rxcui for p in tablets} >= {"197582", "197581"}
    for product in tablets:
        assert product.route == "oral" and product.evidence and product.source
    rxcuis = [p.rxcui for p in RULES.products]
    assert len(rxcuis) == len(set(rxcuis)), "an RxCUI listed twice"


def test_a_tablet_strength_on_an_injectable_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs route: oral"):
        SteroidProduct.model_validate(
            {
                "rxcui": "1116927",
                "drug": "dexamethasone",
                "mg_per_unit": 4,
                "route": "parenteral",
                "source": "fda-ndc-directory",
                "verified": False,
                "evidence": "a pharmacist's typo",
            }
        )
