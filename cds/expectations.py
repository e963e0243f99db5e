"""Saved test cases: a chart `NAME.json` beside `NAME.expected.json`, the cards it must get.

The sidecar lists each card as `[topic, indicator, finding code, summary]`: a card whose summary
changed (a dose, a date, a number in its wording) shows as reworded, not unchanged. Sidecars with
`[topic, indicator, finding code]` (the sandbox page saves these) or, older, `[topic, indicator]`
are compared on those parts only. `python -m cds check` compares
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

CardKey = tuple[str, ...]  # (topic, indicator, finding code, summary), or fewer parts (see above)


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
    return (topic, str(card.get("indicator") or ""), code, str(card.get("summary") or ""))


def expected_document(
    cards: Iterable[Mapping[str, Any]], now: str | None = None, patient: str | None = None
) -> dict[str, Any]:
    """The sidecar of a set of cards (sorted, so that saving twice gives the same file), with the
    `--now` and `--patient` they were produced with, when given."""
    document: dict[str, Any] = {"cards": sorted(list(card_key(c)) for c in cards)}
    return document | {k: v for k, v in (("now", now), ("patient", patient)) if v is not None}


def saved_options(path: Path) -> tuple[str | None, str | None]:
    """The `--now` and `--patient` a sidecar was saved with (None when it keeps none)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    found = [document.get(k) if isinstance(document, dict) else None for k in ("now", "patient")]
    if not all(v is None or isinstance(v, str) for v in found):
        raise ValueError(f"{path}: 'now' and 'patient' must be strings")
    return found[0], found[1]


def read_expected(path: Path) -> list[CardKey]:
    """The cards a sidecar lists; ValueError when it is not a sidecar."""
    document = json.loads(path.read_text(encoding="utf-8"))
    listed = document.get("cards") if isinstance(document, dict) else None
    if not isinstance(listed, list) or not all(
        isinstance(c, list) and len(c) in (2, 3, 4) and all(isinstance(p, str) for p in c)
        for c in listed
    ):
        raise ValueError(
            f"{path}: expected {{'cards': [[topic, indicator, finding code, summary], ...]}}"
        )
    return [tuple(c) for c in listed]


@dataclass(frozen=True)
class Difference:
    """Cards the sidecar lists that did not come (missing), cards that came unlisted (new), and
    cards that came with another summary (reworded: (as listed, as produced))."""

    missing: tuple[CardKey, ...]
    unexpected: tuple[CardKey, ...]
    reworded: tuple[tuple[CardKey, CardKey], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.reworded)

    def lines(self) -> list[str]:
        return (
            [f"  - expected, not produced: {_shown(k)}" for k in self.missing]
            + [f"  + produced, not expected: {_shown(k)}" for k in self.unexpected]
            + [
                line
                for listed, produced in self.reworded
                for line in (
                    f"  ~ reworded: {' '.join(listed[:3])}",
                    f"      was: {listed[3]}",
                    f"      now: {produced[3]}",
                )
            ]
        )


def _shown(key: CardKey) -> str:
    return " ".join(key[:3]) + (f": {key[3]}" if len(key) > 3 else "")


def compare(expected: Sequence[CardKey], cards: Iterable[Mapping[str, Any]]) -> Difference:
    """Multiset difference: each listed card takes a produced card equal on the parts it lists
    (longest lists first); a four-part card that finds only its first three is reworded."""
    produced = Counter(card_key(c) for c in cards)

    def take(parts: CardKey) -> CardKey | None:
        size = len(parts)
        match = next((k for k in sorted(produced) if produced[k] and k[:size] == parts), None)
        if match is not None:
            produced[match] -= 1
        return match

    unmatched = [key for key in sorted(expected, key=len, reverse=True) if take(key) is None]
    missing: list[CardKey] = []
    reworded: list[tuple[CardKey, CardKey]] = []
    for key in unmatched:  # after every exact match: the same card said otherwise
        match = take(key[:3]) if len(key) == 4 else None
        if match is None:
            missing.append(key)
        else:
            reworded.append((key, match))
    unexpected = sorted(produced.elements())
    return Difference(tuple(sorted(missing)), tuple(unexpected), tuple(sorted(reworded)))
