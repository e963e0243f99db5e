"""Live-vaccine check (card topic `live-vaccine`; label §5 immunization).

Critical when a live vaccine was given within the window before the infusion starts, or during
treatment, or is ordered together with blinatumomab (or still ordered). The immunization history
is optional for this check on purpose: when it cannot be read, a co-ordered live vaccine is still
caught and a warning says the history could not be checked, so one failing source never hides the
other finding.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from cds.checks import Check, CheckInput
from cds.findings import Finding, ProposedAction
from cds.knowledge import Knowledge
from cds.orders import is_blinatumomab
from cds.patient import Code

TOPIC = "live-vaccine"


class VaccineRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    reviewed: str
    window_before_start_days: int
    window_source: str
    during_treatment_from: Literal["first-earlier-cycle-start"]
    during_treatment_source: str
    alert_live_nonreplicating: bool
    nonreplicating_source: str
    given_statuses: list[str]
    ordered_statuses: list[str]


def rules(knowledge: Knowledge) -> VaccineRules:
    return knowledge.section("vaccines", VaccineRules)


def live_codes(knowledge: Knowledge, settings: VaccineRules) -> frozenset[Code]:
    codes = knowledge.codes_of("live_vaccines")
    if settings.alert_live_nonreplicating:
        codes |= knowledge.codes_of("live_nonreplicating_vaccines")
    return codes


def vaccine_name(codes: frozenset[Code], knowledge: Knowledge, fallback: str) -> str:
    displays = {
        (knowledge.codes.systems[c.system], c.code): c.display
        for name in ("live_vaccines", "live_nonreplicating_vaccines")
        for c in knowledge.codes.value_sets[name].codes
    }
    return next((displays[c] for c in sorted(codes) if c in displays), fallback or "live vaccine")


def _treatment_start(item: CheckInput, knowledge: Knowledge) -> datetime | None:
    starts = [
        start
        for order in item.patient.medication_orders
        if order.status not in ("draft", "entered-in-error", "cancelled")
        and is_blinatumomab(order, knowledge)
        and (start := order.first_start()) is not None
        and start < item.review.start
    ]
    return min(starts, default=None)


def check_live_vaccines(item: CheckInput, knowledge: Knowledge) -> list[Finding]:
    settings = rules(knowledge)
    live = live_codes(knowledge, settings)
    start = item.review.start
    order = item.review.order.resource
    findings: list[Finding] = []
    for draft in item.draft_orders:
        if draft.matched_by_code(live):
            findings.append(
                Finding(
                    "live-vaccine-ordered-together",
                    TOPIC,
                    "critical",
                    settings.window_source,
                    {"vaccine": vaccine_name(draft.codes, knowledge, draft.text)},
                    order,
                    (
                        ProposedAction(
                            "delete", "Remove the live vaccine order", resource_id=draft.resource
                        ),
                    ),
                )
            )
    if "immunizations" in item.patient.unavailable:
        findings.append(
            Finding(
                "live-vaccine-history-unavailable",
                TOPIC,
                "warning",
                settings.window_source,
                {"reason": item.patient.unavailable["immunizations"]},
                order,
            )
        )
    window_start = start - timedelta(days=settings.window_before_start_days)
    treatment_start = _treatment_start(item, knowledge)
    for shot in item.patient.immunizations:
        if shot.status not in settings.given_statuses or shot.codes.isdisjoint(live):
            continue
        name = vaccine_name(shot.codes, knowledge, shot.text)
        recognised = f" ({shot.recognised_by})" if shot.recognised_by else ""
        if shot.when is None:
            if shot.date_text is not None:
                findings.append(
                    Finding(
                        "live-vaccine-date-unreadable",
                        TOPIC,
                        "warning",
                        settings.window_source,
                        {
                            "vaccine": name,
                            "recognised": recognised,
                            "date_text": shot.date_text,
                            "days": settings.window_before_start_days,
                        },
                        order,
                    )
                )
            continue
        values = {
            "vaccine": name,
            "recognised": recognised,
            "date": shot.when.date().isoformat(),
            "days": settings.window_before_start_days,
        }
        if window_start <= shot.when <= start:
            findings.append(
                Finding(
                    "live-vaccine-recent",
                    TOPIC,
                    "critical",
                    settings.window_source,
                    values | {"days_before": (start.date() - shot.when.date()).days},
                    order,
                )
            )
        elif treatment_start is not None and treatment_start <= shot.when < window_start:
            findings.append(
                Finding(
                    "live-vaccine-during-treatment",
                    TOPIC,
                    "critical",
                    settings.during_treatment_source,
                    values | {"treatment_start": treatment_start.date().isoformat()},
                    order,
                )
            )
    if treatment_start is not None:
        for ordered in item.patient.medication_orders:
            if ordered.status in settings.ordered_statuses and ordered.matched_by_code(live):
                findings.append(
                    Finding(
                        "live-vaccine-still-ordered",
                        TOPIC,
                        "critical",
                        settings.during_treatment_source,
                        {"vaccine": vaccine_name(ordered.codes, knowledge, ordered.text)},
                        order,
                    )
                )
    return findings


CHECK = Check(
    topic=TOPIC,
    verifies="live vaccines given or ordered",
    requires=frozenset(),
    source="label-5-vaccines",
    run=check_live_vaccines,
    rules=rules,
)
