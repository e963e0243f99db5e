"""A premedication steroid order as written, in prednisone- and dexamethasone-equivalent mg.

The label asks for "prednisone 100 mg or equivalent (e.g. dexamethasone 16 mg)" or dexamethasone;
clinicians write methylprednisolone, prednisolone, doses per m² and doses in mL. The table and the
product strengths live in `knowledge/corticosteroids.yaml`. A dose that cannot be read is said to be
unreadable (why), never counted as 0 mg.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from cds import units
from cds.knowledge.models import CorticosteroidRules, SteroidProduct
from cds.patient import Code, MedicationOrder

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass(frozen=True)
class Steroid:
    drug: str
    product: SteroidProduct | None  # product-level code with its strength, when coded
    how_identified: str


@dataclass(frozen=True)
class SteroidDose:
    drug: str
    prednisone_mg: Decimal | None  # None: unreadable (see `unreadable`)
    dexamethasone_mg: Decimal | None
    unreadable: str | None
    how_identified: str


def identify(codes: Iterable[Code], text: str, rules: CorticosteroidRules) -> Steroid | None:
    """Which glucocorticoid an order is: product RxCUI, then ingredient RxCUI, then its text."""
    rxcuis = {code for system, code in codes if system == RXNORM}
    for product in rules.products:
        if product.rxcui in rxcuis:
            return Steroid(product.drug, product, f"RxNorm product {product.rxcui}")
    for name, drug in rules.drugs.items():
        if drug.ingredient_rxcui in rxcuis:
            return Steroid(name, None, f"RxNorm ingredient {drug.ingredient_rxcui}")
    lowered = text.lower()
    names = sorted(
        ((pattern, name) for name, d in rules.drugs.items() for pattern in d.match_text),
        key=lambda item: -len(item[0]),  # "methylprednisolone" before "prednisolone"
    )
    for pattern, name in names:
        if pattern in lowered:
            return Steroid(name, None, f"by text ({pattern!r})")
    return None


def _mg(
    steroid: Steroid, amount: Decimal | None, unit: str | None, bsa_m2: Decimal | None
) -> tuple[Decimal | None, str | None]:
    if amount is None or not unit:
        return None, "the order gives no dose quantity"
    if amount <= 0:
        return None, f"the dose {amount} is not positive"
    if units.is_convertible(unit, "mg"):
        return units.convert(amount, unit, "mg"), None
    if units.is_convertible(unit, "mg/m2"):
        if bsa_m2 is None:
            return None, "the dose is per m² and the BSA is unknown"
        return units.convert(amount, unit, "mg/m2") * bsa_m2, None
    if units.is_convertible(unit, "mL"):
        strength = steroid.product.mg_per_ml if steroid.product is not None else None
        if strength is None:
            return None, "the dose is in mL and the product's strength is not coded"
        return units.convert(amount, unit, "mL") * strength, None
    return None, f"the unit {unit!r} is not a mass, mass per m² or volume"


def normalise(
    steroid: Steroid,
    amount: Decimal | None,
    unit: str | None,
    bsa_m2: Decimal | None,
    rules: CorticosteroidRules,
) -> SteroidDose:
    """The dose in prednisone- and dexamethasone-equivalent mg (or why it cannot be read)."""
    mg, why = _mg(steroid, amount, unit, bsa_m2)
    if mg is None:
        return SteroidDose(steroid.drug, None, None, why, steroid.how_identified)
    prednisone = mg * rules.reference_mg / rules.drugs[steroid.drug].equivalent_mg
    dexamethasone = prednisone * rules.drugs["dexamethasone"].equivalent_mg / rules.reference_mg
    return SteroidDose(steroid.drug, prednisone, dexamethasone, None, steroid.how_identified)


def order_dose(
    order: MedicationOrder, bsa_m2: Decimal | None, rules: CorticosteroidRules
) -> SteroidDose | None:
    """A steroid order's single dose (its first dosage instruction); None: not a steroid. A dose
    range counts by its low end: the least the order allows is what is sure to be given, and
    the premedication is a minimum ("dexamethasone 4-20 mg" is 4 mg)."""
    steroid = identify(order.codes, order.text, rules)
    if steroid is None:
        return None
    dosages = order.ordered_dosages()
    first = dosages[0] if dosages else None
    if first is not None and first.is_range:
        if first.amount_low is None:
            why = "the dose is a range without a low end that can be read"
            return SteroidDose(steroid.drug, None, None, why, steroid.how_identified)
        return normalise(steroid, first.amount_low, first.unit, bsa_m2, rules)
    return normalise(
        steroid,
        first.amount if first else None,
        first.unit if first else None,
        bsa_m2,
        rules,
    )
