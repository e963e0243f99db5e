"""Models of the issue-15 rule files (toxicity, growth bounds, corticosteroids, interruptions, live
vaccines after treatment, weight staleness, problem-list indication).

Kept apart so the unified models module can absorb them; each `*_rules(knowledge)` validates its
file once (cached by `Knowledge.section`), so a misspelt key fails loudly at start-up.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from cds.knowledge import Knowledge, StrictModel

ToxicityKind = Literal["crs", "neurotoxicity", "seizure"]


class _Versioned(StrictModel):
    version: str
    reviewed: str


class ToxicityCode(StrictModel):
    code: str = Field(min_length=1)
    kind: ToxicityKind
    grade: int | None = Field(default=None, ge=1, le=5)
    seizures: int = Field(default=0, ge=0)
    verified: bool
    evidence: str = Field(min_length=1)


class ToxicityPrefix(StrictModel):
    prefix: str = Field(min_length=2)
    kind: ToxicityKind
    grade: int | None = None
    seizures: int = Field(default=0, ge=0)
    verified: bool
    evidence: str = Field(min_length=1)


class GradedRule(StrictModel):
    discontinue_from_grade: int = Field(ge=1, le=5)
    restart_reduced_from_grade: int = Field(ge=1, le=5)
    max_resolution_days: int | None = Field(default=None, gt=0)
    recurrence_discontinues: bool = False
    source: str


class SeizureRule(StrictModel):
    discontinue_when_more_than: int = Field(ge=0)
    source: str


class ReducedRestart(StrictModel):
    weight_threshold_kg: Decimal = Field(gt=0)
    mcg_per_day: Decimal = Field(gt=0)
    mcg_per_m2_per_day: Decimal = Field(gt=0)
    cap_mcg_per_day: Decimal = Field(gt=0)
    reduced_days: int = Field(gt=0)
    source: str


class ToxicityRules(_Versioned):
    code_system: str
    codes: list[ToxicityCode] = Field(min_length=1)
    code_prefixes: list[ToxicityPrefix] = Field(default_factory=list)
    ignored_verification_statuses: list[str]
    crs: GradedRule
    neurotoxicity: GradedRule
    seizure: SeizureRule
    restart: ReducedRestart

    def classify(self, code: str) -> ToxicityCode | ToxicityPrefix | None:
        exact = next((c for c in self.codes if c.code == code), None)
        if exact is not None:
            return exact
        return next((p for p in self.code_prefixes if code.startswith(p.prefix)), None)


class GrowthBand(StrictModel):
    age_years: int = Field(ge=0)
    max_height_cm: Decimal = Field(gt=0)
    min_height_cm: Decimal = Field(gt=0)
    source: str
    verified: bool = True


class GrowthBounds(_Versioned):
    height_margin_percent: Decimal = Field(ge=0, lt=100)
    margin_source: str
    bands: list[GrowthBand] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> GrowthBounds:
        ages = [b.age_years for b in self.bands]
        if ages != sorted(set(ages)) or ages[0] != 0:
            raise ValueError("growth bands must start at age 0 and rise by age without repeats")
        if any(b.min_height_cm >= b.max_height_cm for b in self.bands):
            raise ValueError("a growth band's minimum height must be below its maximum")
        return self


class SteroidDrug(StrictModel):
    equivalent_mg: Decimal = Field(gt=0)
    match_text: list[str] = Field(min_length=1)
    ingredient_rxcui: str
    source: str


class SteroidProduct(StrictModel):
    rxcui: str
    drug: str
    mg_per_ml: Decimal | None = Field(default=None, gt=0)
    source: str
    verified: bool
    evidence: str


class LabelExample(StrictModel):
    prednisone_mg: Decimal
    dexamethasone_mg: Decimal
    source: str


class CorticosteroidRules(_Versioned):
    reference_drug: str
    reference_mg: Decimal = Field(gt=0)
    factor_source: str
    drugs: dict[str, SteroidDrug] = Field(min_length=1)
    label_example: LabelExample
    products: list[SteroidProduct] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_drugs(self) -> CorticosteroidRules:
        for needed in (self.reference_drug, "dexamethasone"):
            if needed not in self.drugs:
                raise ValueError(f"{needed!r} must be in the glucocorticoid table")
        for product in self.products:
            if product.drug not in self.drugs:
                raise ValueError(f"product {product.rxcui}: unknown drug {product.drug!r}")
        return self


class InterruptionRules(_Versioned):
    infusion_days_per_cycle: int = Field(gt=0)
    infusion_days_source: str
    max_interruption_days: int = Field(gt=0)
    interruption_source: str
    restart_after_hours: int = Field(gt=0)
    restart_source: str
    bag_change_tolerance_hours: Decimal = Field(ge=0)
    tolerance_source: str
    administration_statuses: list[str]
    order_statuses: list[str]
    statuses_source: str


class Recovery(StrictModel):
    min_months_after_last_dose: int = Field(ge=0)
    b_cell_threshold_per_mm3: Decimal = Field(gt=0)
    loinc: list[str]
    source: str


class VaccineAfterTreatmentRules(_Versioned):
    during_treatment_indicator: Literal["critical", "warning"]
    during_treatment_source: str
    after_treatment_indicator: Literal["critical", "warning", "info"]
    after_treatment_source: str
    recovery: Recovery


class StalenessLimit(StrictModel):
    max_age_days: int | None = Field(default=None, gt=0)  # patient age this limit applies up to
    weight_max_age_days: int = Field(gt=0)
    source: str


class StalenessRules(_Versioned):
    threshold_kg: Decimal = Field(gt=0)
    threshold_source: str
    near_threshold_percent: Decimal = Field(ge=0)
    limits: list[StalenessLimit] = Field(min_length=1)

    @model_validator(mode="after")
    def _open_ended_last(self) -> StalenessRules:
        if self.limits[-1].max_age_days is not None:
            raise ValueError("the last weight-staleness limit must apply to every age")
        return self


class ProblemListRules(_Versioned):
    counted_clinical_statuses: list[str]
    count_without_status: bool
    ignored_verification_statuses: list[str]
    ignore_abated: bool
    source: str
    possible: dict[str, list[str]]
    possible_source: str


def toxicity_rules(knowledge: Knowledge) -> ToxicityRules:
    return knowledge.section("toxicity", ToxicityRules)


def growth_bounds(knowledge: Knowledge) -> GrowthBounds:
    return knowledge.section("growth-bounds", GrowthBounds)


def corticosteroid_rules(knowledge: Knowledge) -> CorticosteroidRules:
    return knowledge.section("corticosteroids", CorticosteroidRules)


def interruption_rules(knowledge: Knowledge) -> InterruptionRules:
    return knowledge.section("interruptions", InterruptionRules)


def vaccine_after_treatment_rules(knowledge: Knowledge) -> VaccineAfterTreatmentRules:
    return knowledge.section("vaccines-after-treatment", VaccineAfterTreatmentRules)


def staleness_rules(knowledge: Knowledge) -> StalenessRules:
    return knowledge.section("staleness", StalenessRules)


def problem_list_rules(knowledge: Knowledge) -> ProblemListRules:
    return knowledge.section("problem-list", ProblemListRules)
