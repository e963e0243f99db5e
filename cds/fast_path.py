"""The common call's fast answer: draft orders that cannot concern blinatumomab get no cards.

A hospital points its order-sign hook at every order, and nearly none is blinatumomab. Reading the
chart for those would cost the full pipeline (validation of every resource the checks read) to
answer `{"cards": []}`. So the raw draft orders are read first, and only when nothing in them could
make the full path say anything is the call answered at once. The rule is deliberately wide: any
doubt sends the call down the full path, which decides as before; a wrong "no cards" here would be
a silent all-clear, a wrong "full path" only costs time.

A call takes the full path when its draft orders, at any depth, in any resource type or FHIR
version (MedicationOrder, contained Medications, R5 CodeableReference):
- are not a Bundle of resource objects as the envelope requires (the full path answers the 4xx);
- name blinatumomab by text (any string value) or by code (RxNorm, NDC in any layout, ATC);
- name a live vaccine (the knowledge's live-vaccine CVX codes, the NDC crosswalk, the vaccine
  names), or any vaccine or Immunization at all (the vaccine rules are the full path's);
- carry a medication reference the Bundle itself does not resolve (a contained `#id` or a
  Medication entry of the Bundle): what it points to is unknown here;
- nest deeper than a FHIR request does.
This module is pure: raw JSON and the trigger lists in, a reason (or None) out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cds.fhir.codings import ndc_forms
from cds.fhir.vaccines import words_of
from cds.knowledge import Knowledge

MAX_DEPTH = 64  # a draft order nests some 10 levels; deeper is not a request the fast path reads
VACCINE_WORDS = ("vaccin", "immuniz", "immunis")
_CODE_LIKE = re.compile(r"[0-9][0-9 -]*")
_BETWEEN_WORDS = "[^a-z0-9]+"  # what `cds.fhir.vaccines.words_of` makes one space


def code_forms(value: str) -> set[str]:
    """The forms under which a code string is compared: as written (trimmed, lower case), without
    leading zeros (CVX "3" = "03"), and its 11-digit NDC forms (any hyphen layout)."""
    text = value.strip().lower()
    forms = {text}
    if _CODE_LIKE.fullmatch(text):
        digits = text.replace(" ", "")
        forms.add(digits.lstrip("0"))
        forms.update(ndc_forms(digits))
        forms.update(form.lstrip("0") for form in ndc_forms(digits))
    return forms


@dataclass(frozen=True)
class Triggers:
    """What sends a call down the full path, built once from the knowledge files."""

    codes: frozenset[str]  # every form (`code_forms`) of every trigger code
    texts: tuple[str, ...]  # names, as lower-case words, found in any string value
    pattern: re.Pattern[str]  # any of `texts` (one C-level search instead of ~60 `in` tests)

    @classmethod
    def from_knowledge(cls, knowledge: Knowledge) -> Triggers:
        """Blinatumomab, and every vaccine: what the full path can give a card for."""
        written = [code for _, code in knowledge.codes_of("blinatumomab")]
        written += [code for _, code in knowledge.codes_of("live_vaccines")]
        recognition = knowledge.vaccine_recognition
        written += [row.ndc for row in recognition.ndc_to_cvx]
        written += [row.cvx for row in recognition.ndc_to_cvx]
        written += [row.cpt for row in recognition.cpt_to_cvx]  # ordered as a procedure
        written += [rule.cvx for rule in recognition.route_rules]  # live by its route
        texts = [*knowledge.text_patterns("blinatumomab"), *VACCINE_WORDS]
        texts += [row.text for row in recognition.text_names]
        return cls.of(written, texts)

    @classmethod
    def blinatumomab(cls, knowledge: Knowledge) -> Triggers:
        """Blinatumomab alone: does an order the full path cannot read look like one?"""
        written = [code for _, code in knowledge.codes_of("blinatumomab")]
        return cls.of(written, knowledge.text_patterns("blinatumomab"))

    @classmethod
    def of(cls, codes: Iterable[str], texts: Iterable[str]) -> Triggers:
        # each name as its words, matched across any run of other characters, as the full path
        # reads vaccine names (`cds.fhir.vaccines.as_words`): "Yellow-Fever" is "yellow fever"
        names = (" ".join(words_of(text).split()) for text in texts)
        unique = tuple(dict.fromkeys(name for name in names if name))
        pattern = re.compile(
            "|".join(_BETWEEN_WORDS.join(map(re.escape, name.split())) for name in unique)
        )
        return cls(frozenset(_all_forms(codes)), unique, pattern)

    def named_in(self, strings: list[str]) -> bool:
        """Whether any of these string values names a trigger: a name, compared as words (and
        wider: within a word, or across two values), or a code in any of its forms."""
        if self.pattern.search("\0".join(strings).lower()):
            return True
        for value in strings:
            text = value.strip().lower()
            if len(text) <= 40 and _is_trigger_code(text, self.codes):
                return True
        return False


def _all_forms(codes: Iterable[str]) -> set[str]:
    return {form for code in codes for form in code_forms(code)}


def full_path_reason(draft_orders: Any, triggers: Triggers) -> str | None:
    """Why the draft orders need the full path; None when they cannot give a card."""
    if not isinstance(draft_orders, dict) or draft_orders.get("resourceType") != "Bundle":
        return "draftOrders is not a Bundle"
    entries = draft_orders.get("entry", [])
    if not isinstance(entries, list):
        return "draftOrders.entry is not an array"
    resources = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            return "a draft order entry holds no resource object"
        resources.append(resource)
    bundle_medications = _bundle_medication_ids(entries)
    for resource in resources:
        reason = _resource_reason(resource, triggers, bundle_medications)
        if reason is not None:
            return reason
    return None


def _bundle_medication_ids(entries: list[Any]) -> set[str]:
    """References that a Medication entry of the draft Bundle answers (Medication/id, fullUrl)."""
    found: set[str] = set()
    for entry in entries:
        resource = entry["resource"]
        if resource.get("resourceType") == "Medication":
            if isinstance(resource.get("id"), str):
                found.add(f"Medication/{resource['id']}")
            if isinstance(entry.get("fullUrl"), str):
                found.add(entry["fullUrl"])
    return found


def _resource_reason(
    resource: dict[str, Any], triggers: Triggers, bundle_medications: set[str]
) -> str | None:
    if resource.get("resourceType") in ("Immunization", "ImmunizationRecommendation"):
        return "an Immunization order"
    contained = resource.get("contained")
    resolvable = bundle_medications | {
        f"#{item['id']}"
        for item in (contained if isinstance(contained, list) else [])
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    }
    strings: list[str] = []
    reason = _walk(resource, 1, strings, resolvable)
    if reason is not None:
        return reason
    if triggers.named_in(strings):
        return "names blinatumomab or a vaccine, or carries one's code"
    return None


def strings_in(value: Any) -> list[str]:
    """Every string value under `value`, at any depth (walked without recursion)."""
    found: list[str] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def _walk(
    value: dict[str, Any] | list[Any], depth: int, strings: list[str], resolvable: set[str]
) -> str | None:
    """Collect every string under `value`; the reason when it nests too deep or holds a
    medication reference that `resolvable` does not answer."""
    if depth > MAX_DEPTH:
        return "draft orders nested too deep"
    children: Iterable[Any] = value
    if isinstance(value, dict):
        reference = _medication_reference(value)
        if reference is not _NO_REFERENCE and reference not in resolvable:
            return "a medication reference not resolved inside the draft orders"
        children = value.values()
    for child in children:
        if isinstance(child, str):
            strings.append(child)
        elif isinstance(child, dict | list):
            reason = _walk(child, depth + 1, strings, resolvable)
            if reason is not None:
                return reason
    return None


_NO_REFERENCE = object()


def _medication_reference(value: dict[str, Any]) -> Any:
    """The reference string of a medication reference held by `value` (R4 medicationReference,
    R5 medication.reference), None for one without a string; _NO_REFERENCE when there is none."""
    if "medicationReference" in value:
        held = value["medicationReference"]
    elif isinstance(value.get("medication"), dict) and "reference" in value["medication"]:
        held = value["medication"]["reference"]
    else:
        return _NO_REFERENCE
    reference = held.get("reference") if isinstance(held, dict) else None
    return reference if isinstance(reference, str) else None


def _is_trigger_code(text: str, codes: frozenset[str]) -> bool:
    """`code_forms(text) & codes`, without building the forms of what cannot be a code."""
    if text in codes:
        return True
    return text[:1].isdigit() and not codes.isdisjoint(code_forms(text))
