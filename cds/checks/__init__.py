"""The check registry: pure functions (CheckInput, Knowledge) -> findings, one module a topic.

`run_checks` gives each check the data it declares it needs; a check whose data could not be had,
or that raises, yields a "could not verify" finding for its topic, and the others still run. A check
declares the findings it emits (`Check.findings`); the runner stamps the check's topic and the order
under review on each, and refuses (as a failed check) a code or value it did not declare.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cds.findings import Declarations, Emission, Finding, FindingSpec, declare, emit, merge, stamp
from cds.knowledge import Knowledge
from cds.orders import OrderUnderReview
from cds.patient import MedicationOrder, PatientSnapshot

log = logging.getLogger(__name__)

Stage = Literal["select", "sign"]


@dataclass(frozen=True)
class CheckInput:
    review: OrderUnderReview
    patient: PatientSnapshot
    draft_orders: tuple[MedicationOrder, ...]  # every MedicationRequest among the draft orders
    now: datetime
    stage: Stage = "sign"  # order-select: details such as the dose may still be missing


CheckFunction = Callable[[CheckInput, Knowledge], list[Emission]]

# What the runner says for any topic (a check may say it too, of data it finds missing late).
RUNNER_FINDINGS: Declarations = {"check-not-run": declare("warning", "what", "reason")}


@dataclass(frozen=True)
class Check:
    topic: str
    verifies: str  # what the clinician is told could not be verified, e.g. "the blinatumomab dose"
    requires: frozenset[str]  # prefetch keys without which the check cannot run at all
    run: CheckFunction
    findings: Declarations = field(default_factory=dict)  # code -> indicator and value names
    # merged once: every run of every check stamps its findings with it
    _declared: dict[str, FindingSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_declared", merge(self.findings, RUNNER_FINDINGS))

    def declared(self) -> dict[str, FindingSpec]:
        """Every finding this check may yield, the runner's own included."""
        return self._declared


def registry() -> tuple[Check, ...]:
    from cds.checks import (
        cycle_limits,
        dose,
        hospitalization,
        labs,
        neonate,
        pregnancy,
        premedication,
        vaccines,
    )

    return (
        dose.CHECK,
        premedication.CHECK,
        pregnancy.CHECK,
        vaccines.CHECK,
        neonate.CHECK,
        cycle_limits.CHECK,
        labs.CHECK,
        hospitalization.CHECK,
    )


@dataclass(frozen=True)
class Outcome:
    findings: list[Finding]
    checks_run: int  # checks that had their data (0 means no check could run: 412)


def run_checks(
    inputs: Sequence[CheckInput], knowledge: Knowledge, checks: Sequence[Check]
) -> Outcome:
    findings: list[Finding] = []
    runnable = 0
    for check in checks:
        for item in inputs:
            missing = sorted(key for key in check.requires if key in item.patient.unavailable)
            if missing:
                findings.append(
                    _not_verified(
                        check,
                        item,
                        knowledge,
                        "; ".join(f"{key}: {item.patient.unavailable[key]}" for key in missing),
                    )
                )
                continue
            runnable += 1
            declared, order = check.declared(), item.review.order.resource
            try:
                said = check.run(item, knowledge)
                findings.extend([stamp(e, declared, check.topic, order) for e in said])
            except Exception:
                log.exception("check %s failed on %s", check.topic, item.review.order.resource)
                findings.append(
                    _not_verified(check, item, knowledge, "the check failed unexpectedly")
                )
    return Outcome(_without_moot(findings, knowledge), runnable)


def _without_moot(findings: list[Finding], knowledge: Knowledge) -> list[Finding]:
    """Without the advice on how to go on with an order that must be discontinued permanently
    (toxicity.yaml `discontinue_supersedes`): "this resumed order runs 0.8 days longer" beside
    "must not be restarted" tells the prescriber nothing but noise."""
    stopped = {f.order for f in findings if f.code == "dose-toxicity-discontinue"}
    moot = frozenset(knowledge.toxicity.discontinue_supersedes)
    return [f for f in findings if not (f.order in stopped and f.code in moot)]


def declared_findings(checks: Sequence[Check]) -> dict[str, FindingSpec]:
    """Every finding code these checks and their runner may yield."""
    return merge(RUNNER_FINDINGS, *(check.findings for check in checks))


def _not_verified(check: Check, item: CheckInput, knowledge: Knowledge, reason: str) -> Finding:
    said = emit(
        "check-not-run", knowledge.check_sources[check.topic], what=check.verifies, reason=reason
    )
    return stamp(said, RUNNER_FINDINGS, check.topic, item.review.order.resource)
