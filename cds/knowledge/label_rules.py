"""Accessors of the issue-15 rule files (toxicity, growth bounds, corticosteroids, interruptions,
live vaccines after treatment, weight staleness, problem-list indication). Their models are in
`models.py` with every other rule model; each file is validated when the knowledge is loaded.
"""

from __future__ import annotations

from cds.knowledge import Knowledge
from cds.knowledge.models import (
    CorticosteroidRules,
    GradedRule,
    GrowthBand,
    GrowthBounds,
    InterruptionRules,
    LabelExample,
    ProblemListRules,
    Recovery,
    ReducedRestart,
    SeizureRule,
    StalenessLimit,
    StalenessRules,
    SteroidDrug,
    SteroidProduct,
    ToxicityCode,
    ToxicityKind,
    ToxicityPrefix,
    ToxicityRules,
    VaccineAfterTreatmentRules,
)

__all__ = [
    "CorticosteroidRules",
    "GradedRule",
    "GrowthBand",
    "GrowthBounds",
    "InterruptionRules",
    "LabelExample",
    "ProblemListRules",
    "Recovery",
    "ReducedRestart",
    "SeizureRule",
    "StalenessLimit",
    "StalenessRules",
    "SteroidDrug",
    "SteroidProduct",
    "ToxicityCode",
    "ToxicityKind",
    "ToxicityPrefix",
    "ToxicityRules",
    "VaccineAfterTreatmentRules",
    "corticosteroid_rules",
    "growth_bounds",
    "interruption_rules",
    "problem_list_rules",
    "staleness_rules",
    "toxicity_rules",
    "vaccine_after_treatment_rules",
]


def toxicity_rules(knowledge: Knowledge) -> ToxicityRules:
    return knowledge.toxicity


def growth_bounds(knowledge: Knowledge) -> GrowthBounds:
    return knowledge.growth_bounds


def corticosteroid_rules(knowledge: Knowledge) -> CorticosteroidRules:
    return knowledge.corticosteroids


def interruption_rules(knowledge: Knowledge) -> InterruptionRules:
    return knowledge.interruptions


def vaccine_after_treatment_rules(knowledge: Knowledge) -> VaccineAfterTreatmentRules:
    return knowledge.vaccines_after_treatment


def staleness_rules(knowledge: Knowledge) -> StalenessRules:
    return knowledge.staleness


def problem_list_rules(knowledge: Knowledge) -> ProblemListRules:
    return knowledge.problem_list
