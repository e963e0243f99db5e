"""The indication the problem list leaves possible, when the order codes none of ours.

ALL "in remission" (C91.01) rules out relapsed/refractory; resolved or abated Conditions do not
count; the newest Condition that still holds wins. The result is a set of indications still
possible, so a dose that is right for every one of them is not flagged (`least_severe`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cds.knowledge import Knowledge
from cds.knowledge.models import ProblemListRules
from cds.patient import ConditionFact


@dataclass(frozen=True)
class ProblemListIndication:
    possible: frozenset[str]  # every indication when nothing on the list narrows it
    basis: str
    condition: str | None  # the Condition that decided


def _holds(condition: ConditionFact, rules: ProblemListRules) -> bool:
    if condition.verification_status in rules.ignored_verification_statuses:
        return False
    if rules.ignore_abated and condition.abatement is not None:
        return False
    if condition.clinical_status is None:
        return rules.count_without_status
    return condition.clinical_status in rules.counted_clinical_statuses


def indication_from_problem_list(
    conditions: Iterable[ConditionFact], knowledge: Knowledge, rules: ProblemListRules
) -> ProblemListIndication:
    everything = frozenset(knowledge.indications)
    candidates: list[tuple[datetime | None, ConditionFact, frozenset[str], str]] = []
    for condition in conditions:
        if not _holds(condition, rules):
            continue
        for value_set, possible in rules.possible.items():
            if not condition.codes.isdisjoint(knowledge.codes_of(value_set)):
                candidates.append((condition.onset, condition, frozenset(possible), value_set))
                break
    if not candidates:
        return ProblemListIndication(everything, "no ALL diagnosis that still holds", None)
    dated = [(when, c, p, v) for when, c, p, v in candidates if when is not None]
    if dated:
        when, condition, newest, value_set = max(dated, key=lambda c: c[0].timestamp())
        basis = f"newest active diagnosis ({value_set}, {when:%Y-%m-%d})"
        return ProblemListIndication(newest, basis, condition.resource)
    # Undated only: what they all leave possible together (none may be assumed the newest).
    union = frozenset.union(*(c[2] for c in candidates))
    return ProblemListIndication(union, "undated active diagnoses", candidates[0][1].resource)


SEVERITY = {"none": 0, "info": 1, "warning": 2, "critical": 3}


def least_severe(verdicts: Mapping[str, str], possible: frozenset[str]) -> str:
    """The indicator a dose earns when the indication is one of `possible`: the mildest of the
    verdicts for those indications (a dose right for every possible one is not flagged)."""
    relevant = [verdicts[i] for i in possible if i in verdicts]
    if not relevant:
        raise ValueError("no verdict for any possible indication")
    return min(relevant, key=SEVERITY.__getitem__)
