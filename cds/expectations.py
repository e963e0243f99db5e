"""Saved test cases: a chart `NAME.json` beside `NAME.expected.json`, the cards it must get.

The sidecar lists each card as `[topic, indicator, finding code]` (older sidecars list
`[topic, indicator]`: those cards are compared without their code). `python -m cds check` compares
a chart's cards with its sidecar and prints what changed, so a pharmacist's reviewed case (saved
from the sandbox page) and the repository's sample charts guard the rules alike.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.cards import FINDING_CODE_EXTENSION

SUFFIX = ".expected.json"

CardKey = tuple[
    str, ...
]  # (topic, indicator, finding code) or, from an old sidecar, (topic, indicator)


def sidecar_of(chart: Path) -> Path:
    return chart.with_name(chart.name.removesuffix(".json") + SUFFIX)


def saved_cases(folder: Path) -> list[Path]:
    """Every chart under `folder` (recursively) that has a sidecar, in name order."""
    return sorted(
        path
        for path in folder.rglob("*.json")
        if not path.name.endswith(SUFFIX) and sidecar_of(path).is_file()
    )


def unsaved_charts(folder: Path) -> list[Path]:
    """The JSON files under `folder` that have no sidecar (not cases: `--all` does not run them)."""
    return sorted(
        path
        for path in folder.rglob("*.json")
        if not path.name.endswith(SUFFIX) and not sidecar_of(path).is_file()
    )


def card_key(card: Mapping[str, Any]) -> CardKey:
    """A CDS Hooks card (JSON) as the sidecar lists it."""
    topic = str(((card.get("source") or {}).get("topic") or {}).get("code") or "")
    code = str((card.get("extension") or {}).get(FINDING_CODE_EXTENSION) or "")
    return (topic, str(card.get("indicator") or ""), code)


def expected_document(cards: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The sidecar of a set of cards (sorted, so that saving twice gives the same file)."""
    return {"cards": sorted(list(card_key(c)) for c in cards)}


def read_expected(path: Path) -> list[CardKey]:
    """The cards a sidecar lists; ValueError when it is not a sidecar."""
    document = json.loads(path.read_text(encoding="utf-8"))
    listed = document.get("cards") if isinstance(document, dict) else None
    if not isinstance(listed, list) or not all(
        isinstance(c, list) and len(c) in (2, 3) and all(isinstance(p, str) for p in c)
        for c in listed
    ):
        raise ValueError(f"{path}: expected {{'cards': [[topic, indicator, finding code], ...]}}")
    return [tuple(c) for c in listed]


@dataclass(frozen=True)
class Difference:
    """Cards the sidecar lists that did not come (missing) and cards that came unlisted (new)."""

    missing: tuple[CardKey, ...]
    unexpected: tuple[CardKey, ...]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected)

    def lines(self) -> list[str]:
        return [f"  - expected, not produced: {' '.join(k)}" for k in self.missing] + [
            f"  + produced, not expected: {' '.join(k)}" for k in self.unexpected
        ]


def compare(expected: Sequence[CardKey], cards: Iterable[Mapping[str, Any]]) -> Difference:
    """Multiset difference; a two-part expectation matches a card of that topic and indicator."""
    produced = Counter(card_key(c) for c in cards)
    missing: list[CardKey] = []
    loose: list[CardKey] = []
    for key in sorted(expected, key=len, reverse=True):  # exact (3-part) keys take their card first
        if len(key) == 3:
            if produced[key]:
                produced[key] -= 1
            else:
                missing.append(key)
        else:
            loose.append(key)
    for key in loose:
        match = next((k for k in sorted(produced) if produced[k] and k[:2] == key), None)
        if match is None:
            missing.append(key)
        else:
            produced[match] -= 1
    unexpected = sorted(produced.elements())
    return Difference(tuple(sorted(missing)), tuple(unexpected))
