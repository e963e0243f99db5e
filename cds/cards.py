"""Render findings as CDS Hooks cards, using the wording in the top-level `cards/` folder."""

from __future__ import annotations

import html
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.bundled_data import CARDS_DIR
from cds.findings import Finding
from cds.hooks import Action, Card, Coding, Link, Source, Suggestion
from cds.knowledge import Knowledge, read_yaml

TOPIC_SYSTEM = "https://cds.example.org/fhir/CodeSystem/card-topic"
LABEL_URL = (
    "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=38b482a8-960b-4591-9857-5031ecb830aa"
)
SUMMARY_LIMIT = 140


@dataclass(frozen=True)
class Template:
    summary: str
    detail: str | None = None
    suggestion: str | None = None
    override_reasons: tuple[str, ...] = ()


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _fill(text: str, values: Mapping[str, Any]) -> str:
    return string.Formatter().vformat(text, (), _Values(values))


def _fill_markdown(text: str, values: Mapping[str, Any]) -> str:
    """Values come from the EHR's data: `<`, `>` and `&` are escaped so that no markup a chart
    carries (a vaccine named `<img ...>`) reaches the clinician's screen as HTML."""
    escaped = {
        k: html.escape(v, quote=False) if isinstance(v, str) else v for k, v in values.items()
    }
    return _fill(text, escaped)


class CardRenderer:
    """Loads every template once; `render` turns findings into validated wire cards."""

    def __init__(self, knowledge: Knowledge, directory: Path = CARDS_DIR) -> None:
        self._knowledge = knowledge
        self.templates: dict[str, Template] = {}
        for path in sorted(directory.glob("*.yaml")):
            if path.name == "override-reasons.yaml":
                continue
            for code, entry in (read_yaml(path) or {}).items():
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

    def render(self, finding: Finding) -> Card:
        template = self.templates[finding.code]
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
            detail=_fill_markdown(template.detail, finding.values).strip()
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
        )
