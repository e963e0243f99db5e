"""Render findings as CDS Hooks cards, using the wording in the top-level `cards/` folder.

Every card carries the code of its finding in the card extension `FINDING_CODE_EXTENSION`, so
that an EHR, a feedback report or a test can tell two cards of one topic and indicator apart.
"""

from __future__ import annotations

import html
import re
import string
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.bundled_data import CARDS_DIR
from cds.findings import ContractError, Declarations, Finding
from cds.hooks import Action, Card, Coding, HookResponse, Link, Source, Suggestion
from cds.knowledge import Knowledge, read_yaml

TOPIC_SYSTEM = "https://cds.example.org/fhir/CodeSystem/card-topic"
LABEL_URL = (
    "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=38b482a8-960b-4591-9857-5031ecb830aa"
)
SUMMARY_LIMIT = 140
FINDING_CODE_EXTENSION = "org.example.cds.finding-code"  # CDS Hooks extension keys are reverse-DNS
ORDERS_EXTENSION = "org.example.cds.orders"  # the orders a card of an ORDER_TOPICS topic is about


@dataclass(frozen=True)
class Template:
    summary: str
    detail: str | None = None
    suggestion: str | None = None
    override_reasons: tuple[str, ...] = ()

    def placeholders(self) -> set[str]:
        """The value names its texts use (`{cycle}`, `{dose.value}` -> cycle, dose)."""
        return set(placeholders(self.summary, self.detail, self.suggestion))


def placeholders(*texts: str | None) -> Iterable[str]:
    for text in texts:
        for _, name, _, _ in string.Formatter().parse(text or ""):
            if name:
                yield name.split(".")[0].split("[")[0]


def _fill(text: str, values: Mapping[str, Any]) -> str:
    try:
        return string.Formatter().vformat(text, (), values)
    except (KeyError, IndexError, AttributeError) as error:
        raise ContractError(f"no value for a placeholder of {text[:60]!r}: {error}") from error


class Markdown(str):
    """Text already safe as markdown (built from escaped pieces): `_fill_markdown` keeps it."""


_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
# blank lines left by an empty placeholder on its own line ({more} with nothing more): one is enough
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")


# What GitHub-flavoured markdown (and markdown-it's linkify) turns into a link by itself: a
# scheme's "://", "www.", an e-mail's "@". A word joiner (U+2060, invisible) breaks each.
_AUTOLINK_TRIGGERS = re.compile(r"(?<=:)(?=//)|(?i:(?<=\bwww)(?=\.))|(?=@)")
WORD_JOINER = "\u2060"


def markdown_text(value: str) -> str:
    """A value from the EHR as plain markdown text: no HTML (`<`, `>`, `&` escaped), no
    emphasis, link, code, table or strike-through syntax, no new line (no heading or list), and
    no link made by itself from a bare address (a chart's text could send a clinician anywhere)."""
    one_line = _LINE_BREAKS.sub(" ", value)
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(one_line, quote=False))
    return _AUTOLINK_TRIGGERS.sub(WORD_JOINER, escaped)


def code_span_text(value: str) -> str:
    """A value from the EHR inside a template's `code span`: a backtick would end the span
    (backslashes do not escape there), so it becomes a look-alike; new lines become spaces."""
    return _LINE_BREAKS.sub(" ", value).replace("`", "\u02cb")


def _fill_markdown(text: str, values: Mapping[str, Any]) -> str:
    """Values come from the EHR's data and are escaped where they land: inside a code span only
    backticks matter; elsewhere every markdown and HTML metacharacter is neutralised, so a chart
    (a vaccine named `<img ...>`, an id with a backtick and a link) shows as text."""
    inside, outside = _placeholders_by_place(text)
    escaped: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Markdown) or not isinstance(value, str):
            escaped[key] = value
        elif key in inside and key not in outside:
            escaped[key] = code_span_text(value)
        else:  # safe in both places (a backslash may then show inside a code span)
            escaped[key] = markdown_text(code_span_text(value) if key in inside else value)
    return _fill(text, escaped)


def finding_code(card: Card) -> str:
    """The finding a card was rendered from."""
    return str((card.extension or {}).get(FINDING_CODE_EXTENSION, ""))


def renewed(response: HookResponse) -> HookResponse:
    """The same cards as new cards: each card, and each suggestion, with a new uuid (feedback
    names a card by its uuid, and each answer's cards are recorded as its own). The copies share
    what they do not change with `response`: cards are never changed once rendered. Their JSON
    body is `response`'s with the new uuids put in (serialising the cards again cost a fifth of
    a resent call)."""
    copy = _with_new_uuids(response)
    body = response.to_json()
    copy._body = body | {
        "cards": [
            _card_json(card_json, card)
            for card_json, card in zip(body["cards"], copy.cards, strict=True)
        ]
    }
    return copy


def _card_json(card_json: dict[str, Any], card: Card) -> dict[str, Any]:
    renewed_json = card_json | {"uuid": card.uuid}
    if "suggestions" in card_json:  # an empty list is left out of the JSON
        renewed_json["suggestions"] = [
            suggestion_json | {"uuid": suggestion.uuid}
            for suggestion_json, suggestion in zip(
                card_json["suggestions"], card.suggestions, strict=True
            )
        ]
    return renewed_json


def _with_new_uuids(response: HookResponse) -> HookResponse:
    return response.model_copy(
        update={
            "cards": [
                card.model_copy(
                    update={
                        "uuid": str(uuid.uuid4()),
                        "suggestions": [
                            s.model_copy(update={"uuid": str(uuid.uuid4())})
                            for s in card.suggestions
                        ],
                    }
                )
                for card in response.cards
            ]
        }
    )


def _placeholders_by_place(text: str) -> tuple[set[str], set[str]]:
    """The placeholders between backticks in a template, and those outside any code span."""
    inside: set[str] = set()
    outside: set[str] = set()
    ticks = 0
    for literal, name, _, _ in string.Formatter().parse(text):
        ticks += literal.count("`")
        if name:
            (inside if ticks % 2 == 1 else outside).add(name)
    return inside, outside


class CardRenderer:
    """Loads every template once; `render` turns findings into validated wire cards."""

    def __init__(self, knowledge: Knowledge, directory: Path = CARDS_DIR) -> None:
        self._knowledge = knowledge
        self.templates: dict[str, Template] = {}
        self.fragments: dict[str, str] = {}
        for path in sorted(directory.glob("*.yaml")):
            if path.name == "override-reasons.yaml":
                continue
            for code, entry in (read_yaml(path) or {}).items():
                if code.startswith("_"):  # a fragment other cards add to (`_about-order`)
                    self.fragments[code] = entry["detail"]
                    continue
                if code in self.templates:
                    raise ValueError(f"card template {code!r} defined twice ({path.name})")
                self.templates[code] = Template(
                    summary=entry["summary"],
                    detail=entry.get("detail"),
                    suggestion=entry.get("suggestion"),
                    override_reasons=tuple(entry.get("override_reasons") or ()),
                )
        reasons = read_yaml(directory / "override-reasons.yaml")
        self._reason_system: str = reasons["system"]
        self._reasons: dict[str, str] = reasons["reasons"]
        for code, template in self.templates.items():
            unknown = set(template.override_reasons) - set(self._reasons)
            if unknown:
                raise ValueError(
                    f"card template {code!r}: unknown override reasons {sorted(unknown)}"
                )

    def verify(self, declared: Declarations) -> None:
        """Start-up check of the finding->card contract: every declared finding has a template,
        every placeholder of a template is a value its finding declares, no template is orphaned."""
        problems = [
            f"no template in cards/ for finding {c!r}" for c in declared if c not in self.templates
        ]
        problems += [
            f"template {c!r} is emitted by no check" for c in self.templates if c not in declared
        ]
        for code, spec in declared.items():
            unknown = (
                self.templates[code].placeholders() - spec.values
                if code in self.templates
                else set()
            )
            if unknown:
                problems.append(
                    f"template {code!r} names values its finding lacks: {sorted(unknown)}"
                )
        if problems:
            raise ContractError("; ".join(problems))

    def render(self, finding: Finding) -> Card:
        """A placeholder without a value raises `ContractError`: never a card with a gap."""
        template = self.templates.get(finding.code)
        if template is None:
            raise ContractError(f"no card template for finding {finding.code!r}")
        source = self._knowledge.source(finding.source)
        summary = _fill(template.summary, finding.values).strip()
        if len(summary) > SUMMARY_LIMIT:
            summary = summary[: SUMMARY_LIMIT - 1].rstrip() + "…"
        suggestions = []
        if finding.actions:
            suggestions.append(
                Suggestion(
                    label=_fill(
                        template.suggestion or "Apply the suggested change", finding.values
                    ),
                    uuid=str(uuid.uuid4()),
                    isRecommended=True,
                    actions=[
                        Action(
                            type=a.type,
                            description=a.description,
                            resource=dict(a.resource) if a.resource is not None else None,
                            resourceId=a.resource_id,
                        )
                        for a in finding.actions
                    ],
                )
            )
        return Card(
            uuid=str(uuid.uuid4()),
            summary=summary,
            detail=_BLANK_LINES.sub("\n\n", _fill_markdown(template.detail, finding.values)).strip()
            if template.detail
            else None,
            indicator=finding.indicator,
            source=Source(
                label=source.label,
                url=source.url,
                topic=Coding(
                    system=TOPIC_SYSTEM, code=finding.topic, display=finding.topic.replace("-", " ")
                ),
            ),
            suggestions=suggestions,
            selectionBehavior="at-most-one" if suggestions else None,
            overrideReasons=[
                Coding(system=self._reason_system, code=code, display=self._reasons[code])
                for code in template.override_reasons
            ],
            links=[
                Link(
                    label="BLINCYTO prescribing information (DailyMed)",
                    url=LABEL_URL,
                    type="absolute",
                )
            ],
            extension={FINDING_CODE_EXTENSION: finding.code},
        )

    def about_orders(self, card: Card, orders: Sequence[str], in_words: bool) -> Card:
        """The card naming the orders it is about (the same card said for several bag orders is
        one card about all of them): in its extension, and in its detail too when `in_words`
        (the call holds more than one blinatumomab order)."""
        extension = {**(card.extension or {}), ORDERS_EXTENSION: list(orders)}
        if not in_words:
            return card.model_copy(update={"extension": extension})
        sentence = _fill_markdown(self.fragments["_about-order"], {"orders": ", ".join(orders)})
        detail = f"{card.detail}\n\n{sentence}" if card.detail else sentence
        return card.model_copy(update={"extension": extension, "detail": detail})
