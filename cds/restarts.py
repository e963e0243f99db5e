"""Is a blinatumomab order a restart after a toxicity, and what does the label allow then?

Label §2.4 (2024 revision): after grade 3 CRS, grade 3 neurological toxicity or another relevant
grade 3 reaction the infusion restarts at 9 mcg/day (5 mcg/m²/day under 45 kg) and escalates after
7 days; after grade 4 CRS or neurotoxicity, or more than one seizure, it is discontinued for good.
The reasons, their codes and note wording live in `knowledge/restarts.yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cds.knowledge import DoseSchedule, Knowledge
from cds.knowledge.models import RestartReason, RestartRules
from cds.patient import MedicationOrder


@dataclass(frozen=True)
class Restart:
    code: str
    reason: RestartReason
    how_marked: str  # "coded on the order" or "in the order's note"


_GRADE = re.compile(r"\b(?:grade|gr|g)\s*[-.]?\s*(iv|iii|ii|i|[1-5])\b")
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}


def normalised(text: str, synonyms: dict[str, str]) -> str:
    """Note wording reduced to the forms `restarts.yaml` lists: "Gr. III cytokine release
    syndrome" -> "grade 3 crs"."""
    text = " " + re.sub(r"[^a-z0-9]+", " ", text.lower()) + " "
    for _ in range(2):  # twice: a replacement may make another phrase ("2 seizures")
        for phrase in sorted(synonyms, key=len, reverse=True):
            text = text.replace(f" {phrase} ", f" {synonyms[phrase]} ")
    text = _GRADE.sub(lambda m: f"grade {_ROMAN.get(m.group(1), m.group(1))}", text)
    return " ".join(text.split())


def mentions_restart(order: MedicationOrder, settings: RestartRules) -> bool:
    """Whether the order's notes say it restarts the infusion (one of `restart_words`)."""
    raw = " ".join(order.notes).lower()
    return any(word in raw for word in settings.restart_words)


def _noted(
    order: MedicationOrder, settings: RestartRules, other_reactions: list[str]
) -> list[Restart]:
    """The reasons a restart note states; another adverse reaction named (toxicity.yaml
    `other_names`: "grade 3 pancreatitis") reads as "adverse reaction"."""
    if not mentions_restart(order, settings):
        return []
    raw = " ".join(order.notes).lower()
    synonyms = {**dict.fromkeys(other_reactions, "adverse reaction"), **settings.note_synonyms}
    text = f" {normalised(raw, synonyms)} "
    return [
        Restart(code, reason, "in the order's note")
        for code, reason in settings.reasons.items()
        if any(f" {marker} " in text for marker in reason.note_markers)
    ]


def restart_of(order: MedicationOrder, knowledge: Knowledge) -> Restart | None:
    """The toxicity this order restarts after (None: not marked as such). A discontinuing reason
    wins, then a coded one, then one whose grade is stated."""
    settings = knowledge.restarts
    found = [
        Restart(code, settings.reasons[code], "coded on the order")
        for system, code in order.reason_codes
        if system == settings.code_system and code in settings.reasons
    ]
    found += _noted(order, settings, knowledge.toxicity.other_names)
    if not found:
        return None
    return min(
        found,
        key=lambda r: (
            r.reason.action != "discontinue",
            r.how_marked != "coded on the order",
            "grade" not in r.code and "seizure" not in r.code,
        ),
    )


def restart_schedule(knowledge: Knowledge, indication: str | None) -> DoseSchedule:
    """The label's restart schedule, as a dose schedule counted from the restart's first day."""
    settings = knowledge.restarts.restart_schedule
    return DoseSchedule(
        indication=indication or "any",
        cycles={"first": 1},  # type: ignore[arg-type]
        phase="restart after toxicity",
        treatment_free_days=0,
        steps=settings.steps,
        source=settings.source,
    )
