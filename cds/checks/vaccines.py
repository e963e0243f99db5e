"""Live-vaccine check (card topic `live-vaccine`; label §5 immunization).

Critical when a live vaccine was given within the window before the infusion starts, or during
treatment, or is ordered together with blinatumomab (or still ordered). The immunization history
is optional for this check on purpose: when it cannot be read, a co-ordered live vaccine is still
caught and a warning says the history could not be checked, so one failing source never hides the
other finding.

A live-vaccine order signed or selected on its own (`check_vaccine_order`, run by the service when
no blinatumomab order is among the drafts) is checked against the blinatumomab medication history:
during a cycle or its treatment-free interval -> critical; after that, until documented B-cell
recovery (vaccines-after-treatment.yaml, local policy) -> warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from cds import units
from cds.checks import Check, CheckInput
from cds.fhir.vaccines import recognised_codes
from cds.findings import Declarations, Emission, ProposedAction, declare, emit
from cds.knowledge import Knowledge
from cds.knowledge.models import VaccineRules
from cds.orders import (
    INDICATION_SYSTEM,
    INDICATIONS,
    cycle_of,
    earlier_blinatumomab_orders,
    infusion_end,
)
from cds.patient import Code, MedicationOrder, PatientSnapshot, is_usable_result
from cds.units import format_number

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
    # a live-vaccine order on its own after blinatumomab (vaccines-after-treatment.yaml)
    "live-vaccine-ordered-during-treatment": declare(
        None, "vaccine", "last_end", "cycle", "free_until"
    ),
    "live-vaccine-before-immune-recovery": declare(
        None, "vaccine", "last_end", "recovery_rule", "latest"
    ),
}


def live_codes(knowledge: Knowledge, settings: VaccineRules) -> frozenset[Code]:
    codes = knowledge.codes_of("live_vaccines")
    if settings.alert_live_nonreplicating:
        codes |= knowledge.codes_of("live_nonreplicating_vaccines")
    return codes


def is_live_vaccine_order(
    order: MedicationOrder, live: frozenset[Code], knowledge: Knowledge
) -> bool:
    """A draft order for a live vaccine, coded by CVX, by NDC (the CDC crosswalk) or named only
    in its text (the curated names in vaccine-recognition.yaml)."""
    return not recognised_codes(order.codes, order.text, knowledge).isdisjoint(live)


def vaccine_name(codes: frozenset[Code], knowledge: Knowledge, fallback: str) -> str:
    displays = knowledge.displays("live_vaccines", "live_nonreplicating_vaccines")
    return next((displays[c] for c in sorted(codes) if c in displays), fallback or "live vaccine")


def _days_text(days: int) -> str:
    """ "1 day", "3 days": the card never says "1 days"."""
    return f"{days} day{'' if days == 1 else 's'}"


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
        if is_live_vaccine_order(draft, live, knowledge):
            findings.append(
                emit(
                    "live-vaccine-ordered-together",
                    settings.window_source,
                    actions=(
                        ProposedAction(
                            "delete", "Remove the live vaccine order", resource_id=draft.resource
                        ),
                    ),
                    vaccine=vaccine_name(
                        recognised_codes(draft.codes, draft.text, knowledge), knowledge, draft.text
                    ),
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
                    days_before=_days_text((start.date() - shot.when.date()).days),
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


@dataclass(frozen=True)
class LastInfusion:
    """The blinatumomab infusion that ends last on file, and its treatment-free interval."""

    order: MedicationOrder
    end: datetime
    free_until: datetime


def last_infusion(patient: PatientSnapshot, knowledge: Knowledge) -> LastInfusion | None:
    """The last blinatumomab infusion of the medication history (None: never given)."""
    ends = [
        (order, infusion_end(order, begun, knowledge.cycles.default_infusion_days))
        for order in earlier_blinatumomab_orders(patient, knowledge)
        if (begun := order.first_start()) is not None
    ]
    if not ends:
        return None
    order, end = max(ends, key=lambda item: item[1])
    coded = {c for system, c in order.reason_codes if system == INDICATION_SYSTEM}
    indication = next(iter(coded)) if len(coded) == 1 and coded <= set(INDICATIONS) else None
    cycle = cycle_of(order)
    possible = [
        s
        for s in knowledge.dose.schedules
        if (indication is None or s.indication == indication)
        and (cycle is None or s.cycles.contains(cycle))
    ] or list(knowledge.dose.schedules)
    free_days = max(s.treatment_free_days for s in possible)  # unknown: the longest possible
    return LastInfusion(order, end, end + timedelta(days=free_days))


def _months_after(when: datetime, months: int) -> date:
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    day = min(when.day, 28)  # month ends: a day or three early, never late
    return date(year, month, day)


def _recovery(patient: PatientSnapshot, knowledge: Knowledge, last: LastInfusion) -> str | None:
    """The result that documents B-cell recovery (None: none on file), per local policy: a
    count above the threshold taken at least the policy's months after the last infusion."""
    recovery = knowledge.vaccines_after_treatment.recovery
    earliest = _months_after(last.end, recovery.min_months_after_last_dose)
    for fact in patient.observations_of(knowledge.b_cell_recovery_codes()):
        if fact.when is None or not is_usable_result(fact.status) or fact.when.date() < earliest:
            continue
        try:
            if fact.value is None or not fact.unit or not fact.is_exact:
                continue
            count = units.convert(fact.value, fact.unit, recovery.unit)
        except units.UnitError:
            continue
        if count > recovery.b_cell_threshold_per_mm3:
            return f"{fact.resource} ({fact.when.date().isoformat()})"
        return None  # newest first: the newest qualifying result decides
    return None


def check_vaccine_order(
    order: MedicationOrder, patient: PatientSnapshot, knowledge: Knowledge, now: datetime
) -> list[Emission]:
    """A live-vaccine order without blinatumomab among the drafts, for a patient whose medication
    history holds blinatumomab (label §5: no live vaccines during treatment and until immune
    recovery after the last cycle). No blinatumomab on file: nothing to say."""
    last = last_infusion(patient, knowledge)
    if last is None:
        return []
    rules_ = knowledge.vaccines_after_treatment
    given = order.first_start() or now
    vaccine = vaccine_name(
        recognised_codes(order.codes, order.text, knowledge), knowledge, order.text
    )
    cycle = cycle_of(last.order)
    if given < last.free_until:
        return [
            emit(
                "live-vaccine-ordered-during-treatment",
                rules_.during_treatment_source,
                indicator=rules_.during_treatment_indicator,
                actions=(
                    ProposedAction(
                        "delete", "Remove the live vaccine order", resource_id=order.resource
                    ),
                ),
                vaccine=vaccine,
                last_end=last.end.date().isoformat(),
                cycle=f"cycle {cycle}" if cycle is not None else "the last cycle on file",
                free_until=last.free_until.date().isoformat(),
            )
        ]
    if _recovery(patient, knowledge, last) is not None:
        return []
    recovery = rules_.recovery
    latest = (
        "the laboratory results could not be read: " + patient.unavailable["observations"]
        if "observations" in patient.unavailable
        else "none on file"
    )
    return [
        emit(
            "live-vaccine-before-immune-recovery",
            rules_.after_treatment_source,
            indicator=rules_.after_treatment_indicator,
            vaccine=vaccine,
            last_end=last.end.date().isoformat(),
            recovery_rule=(
                f"a CD19+ B-cell count above {format_number(recovery.b_cell_threshold_per_mm3)} "
                f"cells/mm³ (LOINC {', '.join(recovery.loinc)}) taken at least "
                f"{recovery.min_months_after_last_dose} months after the last infusion"
            ),
            latest=latest,
        )
    ]


CHECK = Check(
    topic=TOPIC,
    verifies="live vaccines given or ordered",
    requires=frozenset(),
    run=check_live_vaccines,
    findings=FINDINGS,
)
