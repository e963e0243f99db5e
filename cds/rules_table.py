"""The table of checks in docs/checks.md, generated from the files it describes so it cannot drift:
the card wording (`cards/`: one finding code per template) and the rule files (`cds/knowledge/`:
every value with the source it names). `python -m cds rules-table > docs/checks.md`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from cds.bundled_data import CARDS_DIR
from cds.knowledge import KNOWLEDGE_DIR, read_yaml

META_KEYS = {"source", "verified", "label_differs_from_seed", "version", "reviewed"}
NOT_RULES = {"sources.yaml", "codes.yaml"}  # the citations themselves, and the code lists
Row = tuple[str, ...]  # the cells of one table row


def _cell(value: Any, limit: int | None = None) -> str:
    if isinstance(value, str):
        text = value
    else:
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
        text = text.strip().removesuffix("...").strip()
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        count = f"{len(value)} entries; " if isinstance(value, list | dict) else ""
        text = f"{text[:limit].rstrip()} … ({count}the whole value is in the file)"
    return text.replace("|", "\\|")


def _source_of_key(key: str, node: Mapping[str, Any]) -> str | None:
    """The `<prefix>_source` of a value: the one whose prefix's words the value's name holds
    (`weight_threshold_kg` -> `weight_threshold_source`). Never one merely because it is the
    only one around (that credited the lab rules to UCUM): a value the file ties to no source by
    name shows `—`, the file's own `source` or the enclosing rule's aside."""
    named = {k.removesuffix("_source"): v for k, v in node.items() if k.endswith("_source")}
    words = set(key.split("_"))
    fitting = [p for p in named if set(p.split("_")) <= words]
    return str(named[max(fitting, key=len)]) if fitting else None


LONG_LIST = 12  # a code list longer than this is one row, counted (as codes.yaml's are)


def _is_cited_code(item: Any) -> bool:
    return (
        isinstance(item, Mapping)
        and isinstance(item.get("source"), str)
        and ("code" in item or "prefix" in item)
    )


MAX_CELL = 400  # characters of a value shown; a longer one is cut (the file has it all)


def _rows(node: Any, path: str, source: str | None) -> Iterator[tuple[str, Any, str | None, Any]]:
    """(rule, value, source id, the rule's mapping or None) for every rule under `node`; a whole
    file's own `source` is the default of its rules, not one rule."""
    if isinstance(node, Mapping) and isinstance(node.get("source"), str) and path:
        value = {k: v for k, v in node.items() if k not in META_KEYS}
        yield path, value, node["source"], node
    elif isinstance(node, Mapping):
        default = node["source"] if isinstance(node.get("source"), str) else source
        for key, value in node.items():
            if key in META_KEYS or key.endswith("_source"):
                continue
            where = f"{path}.{key}" if path else str(key)
            yield from _rows(value, where, _source_of_key(str(key), node) or default)
    elif (
        isinstance(node, list)
        and len(node) > LONG_LIST
        and all(_is_cited_code(item) for item in node)
    ):
        unverified = sum(1 for item in node if item.get("verified") is False)
        cited = ", ".join(sorted({item["source"] for item in node}))
        counted = f"{len(node)} codes ({unverified} not verified); the file lists them"
        yield path, counted, cited, None
    elif isinstance(node, list) and any(isinstance(item, Mapping) for item in node):
        for index, item in enumerate(node):
            yield from _rows(item, f"{path}[{index}]", source)
    else:
        yield path, node, source, None


def _source_cell(
    source: str | None, rule: Mapping[str, Any] | None, sources: Mapping[str, Any]
) -> str:
    if source is None:
        return "—"
    if ", " in source:  # a code list's entries: their ids (each labelled in its own rows)
        return _cell(", ".join(f"`{one}`" for one in source.split(", ")))
    text = f"`{source}`: {sources[source]['label']}" if source in sources else f"`{source}`"
    if rule is not None and rule.get("verified") is False:
        text += " (not verified in the label)"
    if rule is not None and rule.get("label_differs_from_seed"):
        text += f" (label differs from the seed: {rule['label_differs_from_seed']})"
    return _cell(text)


def _table(header: Row, rows: Sequence[Row]) -> list[str]:
    return [
        f"| {' | '.join(header)} |",
        f"|{'---|' * len(header)}",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
    ]


def _cards(directory: Path) -> list[str]:
    lines = ["## Cards", "", "One template per finding code (`cards/<topic>.yaml`).", ""]
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "override-reasons.yaml":
            continue
        templates = read_yaml(path) or {}
        lines += [f"### `{path.stem}`", ""]
        # a fragment ("_about-order") has only the detail it adds to other cards
        rows = [(f"`{code}`", _cell(entry.get("summary", entry.get("detail"))),
                 _cell(entry.get("override_reasons") or []))
                for code, entry in templates.items()]  # fmt: skip
        lines += _table(("finding code", "card summary", "override reasons"), rows)
    return lines


def _rules(directory: Path) -> list[str]:
    sources = read_yaml(directory / "sources.yaml")["sources"]
    lines = ["## Rules", "", "Every value of `cds/knowledge/*.yaml` and the source it names.", ""]
    for path in sorted(directory.glob("*.yaml")):
        if path.name in NOT_RULES:
            continue
        data = read_yaml(path)
        lines += [
            f"### `{path.name}`: version {data.get('version')}, reviewed {data.get('reviewed')}",
            "",
        ]
        rows = [
            (f"`{rule}`", _cell(value, MAX_CELL), _source_cell(source, node, sources))
            for rule, value, source, node in _rows(data, "", None)
        ]
        lines += _table(("rule", "value", "source"), rows)
    codes = read_yaml(directory / "codes.yaml")
    lines += [f"## Code lists (`codes.yaml`, version {codes.get('version')})", ""]
    code_rows = [
        (
            f"`{name}`",
            _cell(entry.get("description", "")),
            str(len(entry.get("codes") or [])),
            str(sum(1 for c in entry.get("codes") or [] if c.get("verified") is False)),
        )
        for name, entry in codes["value_sets"].items()
    ]
    return lines + _table(("code list", "what it is for", "codes", "not verified"), code_rows)


def rules_table(knowledge_dir: Path = KNOWLEDGE_DIR, cards_dir: Path = CARDS_DIR) -> str:
    lines = [
        "# Checks: their cards and the rules behind them",
        "",
        "Generated by `python -m cds rules-table > docs/checks.md` from `cards/*.yaml` and",
        "`cds/knowledge/*.yaml`; do not edit it by hand (a test fails when it is out of date).",
        "Placeholders in `{braces}` are filled from the finding's values. Sources are ids of",
        "`sources.yaml` with their labels; `—` means the rule file does not tie a source to that",
        "value by name (a `<name>_source` beside it).",
        "",
        *_cards(cards_dir),
        *_rules(knowledge_dir),
    ]
    return "\n".join(lines).rstrip() + "\n"
