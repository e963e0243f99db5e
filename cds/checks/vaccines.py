"""Live-vaccine check (card topic `live-vaccine`; label §5 immunization).

Critical when a live vaccine was given within the window before the infusion starts, or during
treatment, or is ordered together with blinatumomab (or still ordered). The immunization history
is optional for this check on purpose: when it cannot be read, a co-ordered live vaccine is still
caught and a warning says the history could not be checked, so one failing source never hides the
other finding.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cds.checks import Check, CheckInput
from cds.findings import Declarations, Emission, ProposedAction, declare, emit
from cds.knowledge import Knowledge
from cds.knowledge.models import VaccineRules
from cds.orders import earlier_blinatumomab_orders
from cds.patient import Code

TOPIC = "live-vaccine"
_SHOT = ("vaccine", "recognised", "date", "days")  # a live vaccine given
FINDINGS: Declarations = {
    "live-vaccine-ordered-together": declare("critical", "vaccine"),
    "live-vaccine-history-unavailable": declare("warning", "reason"),
    "live-vaccine-recent": declare("critical", *_SHOT, "days_before"),
    "live-vaccine-during-treatment": declare("critical", *_SHOT, "treatment_start"),
    "live-vaccine-still-ordered": declare("critical", "vaccine"),
    "live-vaccine-date-unreadable": declare(
        "warning", "vaccine", "recognised", "date_text", "days"
    ),
}


def live_codes(knowledge: Knowledge, settings: VaccineRules) -> frozenset[Code]:
    codes = knowledge.codes_of("live_vaccines")
    if settings.alert_live_nonreplicating:
        codes |= knowledge.codes_of("live_nonreplicating_vaccines")
    return codes


def vaccine_name(codes: frozenset[Code], knowledge: Knowledge, fallback: str) -> str:
    displays = knowledge.displays("live_vaccines", "live_nonreplicating_vaccines")
    return next((displays[c] for c in sorted(codes) if c in displays), fallback or "live vaccine")


def _treatment_start(item: CheckInput, knowledge: Knowledge) -> datetime | None:
    starts = [
        start
        for order in earlier_blinatumomab_orders(item.patient, knowledge)
        if (start := order.first_start()) is not None and start < item.review.start
    ]
    return min(starts, default=None)


def check_live_vaccines(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    settings = knowledge.vaccines
    live = live_codes(knowledge, settings)
    start = item.review.start
    findings: list[Emission] = []
    for draft in item.draft_orders:
        if draft.matched_by_code(live):
            findings.append(
                emit(
                    "live-vaccine-ordered-together",
                    settings.window_source,
                    actions=(
                        ProposedAction(
                            "delete", "Remove the live vaccine order", resource_id=draft.resource
                        ),
                    ),
                    vaccine=vaccine_name(draft.codes, knowledge, draft.text),
                )
            )
    if "immunizations" in item.patient.unavailable:
        findings.append(
            emit(
                "live-vaccine-history-unavailable",
                settings.window_source,
                reason=item.patient.unavailable["immunizations"],
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
                    emit(
                        "live-vaccine-date-unreadable",
                        settings.window_source,
                        vaccine=name,
                        recognised=recognised,
                        date_text=shot.date_text,
                        days=settings.window_before_start_days,
                    )
                )
            continue
        values: dict[str, Any] = {
            "vaccine": name,
            "recognised": recognised,
            "date": shot.when.date().isoformat(),
            "days": settings.window_before_start_days,
        }
        if window_start <= shot.when <= start:
            findings.append(
                emit(
                    "live-vaccine-recent",
                    settings.window_source,
                    **values,
                    days_before=(start.date() - shot.when.date()).days,
                )
            )
        elif treatment_start is not None and treatment_start <= shot.when < window_start:
            findings.append(
                emit(
                    "live-vaccine-during-treatment",
                    settings.during_treatment_source,
                    **values,
                    treatment_start=treatment_start.date().isoformat(),
                )
            )
    if treatment_start is not None:
        for ordered in item.patient.medication_orders:
            if ordered.status in settings.ordered_statuses and ordered.matched_by_code(live):
                findings.append(
                    emit(
                        "live-vaccine-still-ordered",
                        settings.during_treatment_source,
                        vaccine=vaccine_name(ordered.codes, knowledge, ordered.text),
                    )
                )
    return findings


CHECK = Check(
    topic=TOPIC,
    verifies="live vaccines given or ordered",
    requires=frozenset(),
    run=check_live_vaccines,
    findings=FINDINGS,
)
