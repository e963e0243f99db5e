"""A premedication steroid order as written, in prednisone- and dexamethasone-equivalent mg.

The label asks for "prednisone 100 mg or equivalent (e.g. dexamethasone 16 mg)" or dexamethasone;
clinicians write methylprednisolone, prednisolone, doses per m², doses in mL and tablets. The table,
the product strengths and dose forms live in `knowledge/corticosteroids.yaml`. A dose that cannot be
read is said to be unreadable (why), never counted as 0 mg. Whether the order is taken by mouth is
said too (`oral`: the product's dose form, else the dosage's coded route, else the words of its
name): where the label's premedication is IV, the check says so.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from cds import units
from cds.knowledge.models import CorticosteroidRules, SteroidProduct
from cds.patient import Code, DoseInstruction, MedicationOrder

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass(frozen=True)
class Steroid:
    drug: str
    product: SteroidProduct | None  # product-level code with its strength, when coded
    how_identified: str
    oral: bool = False  # an oral form, by its coded product or the words of its name


def _is_oral(product: SteroidProduct | None, text: str, rules: CorticosteroidRules) -> bool:
    """An oral dose form: the coded product's route when it has one, else the words of the
    medication's name and coding displays ("dexamethasone 4 mg oral tablet")."""
    if product is not None and product.route is not None:
        return product.route == "oral"
    words = set(re.findall(r"[a-z]+", text.lower()))
    return any(word in words for word in rules.oral_form_words)


@dataclass(frozen=True)
class SteroidDose:
    drug: str
    prednisone_mg: Decimal | None  # None: unreadable (see `unreadable`)
    dexamethasone_mg: Decimal | None
    unreadable: str | None
    how_identified: str
    oral: bool = False  # taken by mouth (`Steroid.oral`)


def identify(codes: Iterable[Code], text: str, rules: CorticosteroidRules) -> Steroid | None:
    """Which glucocorticoid an order is: product RxCUI, then ingredient RxCUI, then its text."""
    rxcuis = {code for system, code in codes if system == RXNORM}
    for product in rules.products:
        if product.rxcui in rxcuis:
            oral = _is_oral(product, text, rules)
            return Steroid(product.drug, product, f"RxNorm product {product.rxcui}", oral)
    oral = _is_oral(None, text, rules)
    for name, drug in rules.drugs.items():
        if drug.ingredient_rxcui in rxcuis:
            return Steroid(name, None, f"RxNorm ingredient {drug.ingredient_rxcui}", oral)
    lowered = text.lower()
    names = sorted(
        ((pattern, name) for name, d in rules.drugs.items() for pattern in d.match_text),
        key=lambda item: -len(item[0]),  # "methylprednisolone" before "prednisolone"
    )
    for pattern, name in names:
        if pattern in lowered:
            return Steroid(name, None, f"by text ({pattern!r})", oral)
    return None


def _by_route(
    steroid: Steroid, dosage: DoseInstruction | None, rules: CorticosteroidRules
) -> Steroid:
    """A dosage coded with an oral route (`oral_routes`) is taken by mouth, unless the coded
    product's dose form already decides: an ingredient-coded "dexamethasone" with the oral route
    is oral though nothing in its name says so."""
    if dosage is None or steroid.oral:
        return steroid
    if steroid.product is not None and steroid.product.route is not None:
        return steroid
    route = next((r for r in rules.oral_routes if (r.system, r.code) in dosage.route), None)
    if route is None:
        return steroid
    how = f"{steroid.how_identified}; {route.display.lower()} ({route.code})"
    return dataclasses.replace(steroid, oral=True, how_identified=how)


def is_tablet_unit(unit: str | None, rules: CorticosteroidRules) -> bool:
    """A dose unit that counts tablets ("{tbl}", "TAB"): the dose is a number of tablets."""
    return bool(unit) and (unit or "").strip().lower() in {u.lower() for u in rules.tablet_units}


def _mg(
    steroid: Steroid,
    amount: Decimal | None,
    unit: str | None,
    bsa_m2: Decimal | None,
    rules: CorticosteroidRules,
) -> tuple[Decimal | None, str | None]:
    if amount is None or not unit:
        return None, "the order gives no dose quantity"
    if amount <= 0:
        return None, f"the dose {amount} is not positive"
    if is_tablet_unit(unit, rules):
        per_tablet = steroid.product.mg_per_unit if steroid.product is not None else None
        if per_tablet is None:
            return None, "the dose is in tablets and the tablet's strength is not coded"
        return amount * per_tablet, None
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
    mg, why = _mg(steroid, amount, unit, bsa_m2, rules)
    if mg is None:
        return SteroidDose(steroid.drug, None, None, why, steroid.how_identified, steroid.oral)
    prednisone = mg * rules.reference_mg / rules.drugs[steroid.drug].equivalent_mg
    dexamethasone = prednisone * rules.drugs["dexamethasone"].equivalent_mg / rules.reference_mg
    return SteroidDose(
        steroid.drug, prednisone, dexamethasone, None, steroid.how_identified, steroid.oral
    )


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
    steroid = _by_route(steroid, first, rules)
    if first is not None and first.is_range:
        if first.amount_low is None:
            why = "the dose is a range without a low end that can be read"
            return SteroidDose(steroid.drug, None, None, why, steroid.how_identified, steroid.oral)
        return normalise(steroid, first.amount_low, first.unit, bsa_m2, rules)
    return normalise(
        steroid,
        first.amount if first else None,
        first.unit if first else None,
        bsa_m2,
        rules,
    )
