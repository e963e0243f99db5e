"""Clinical knowledge as versioned data: loads and validates the YAML files in this folder.

The files are the single source of clinical truth (dose tables, windows, code lists); Python only
interprets them. Loading fails loudly if a rule lacks a source or names a source that does not
exist,
so a pharmacist's edit can never silently drop a citation.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from cds.fhir.codings import equivalent_codes

KNOWLEDGE_DIR = Path(__file__).parent


T = TypeVar("T", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


StrictModel = _Strict  # for the checks' own rule models: a misspelt key in a rule file is an error


class SourceRef(_Strict):
    label: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")


class Rule(_Strict):
    """A rule always names its source; `verified` is false where the label text was not read."""

    source: str = Field(min_length=1)
    verified: bool = True
    label_differs_from_seed: str | None = None


class Indication(Rule):
    label: str


class DoseStep(_Strict):
    first_day: int = Field(ge=1)
    last_day: int = Field(ge=1)
    mcg_per_day: Decimal = Field(gt=0)
    mcg_per_m2_per_day: Decimal = Field(gt=0)
    cap_mcg_per_day: Decimal = Field(gt=0)


class CycleRange(_Strict):
    first: int = Field(ge=1)
    last: int | None = None

    def contains(self, cycle: int) -> bool:
        return cycle >= self.first and (self.last is None or cycle <= self.last)


class DoseSchedule(Rule):
    indication: str
    cycles: CycleRange
    phase: str
    treatment_free_days: int = Field(ge=0)
    steps: list[DoseStep] = Field(min_length=1)

    def step_for_day(self, day: int) -> DoseStep | None:
        return next((s for s in self.steps if s.first_day <= day <= s.last_day), None)


class DoseRules(_Strict):
    weight_threshold_kg: Decimal
    weight_threshold_source: str
    bsa_formula: str = Field(pattern="^mosteller$")
    bsa_source: str
    weight_max_age_days: int = Field(gt=0)
    height_max_age_days: int = Field(gt=0)
    weight_age_source: str
    tolerance_above_percent: Decimal = Field(ge=0)
    tolerance_below_percent: Decimal = Field(ge=0)
    tolerance_source: str
    compare_precision_mcg: Decimal
    absolute_cap_mcg_per_day: Decimal
    absolute_cap_mcg_per_m2_per_day: Decimal
    absolute_cap_source: str
    schedules: list[DoseSchedule] = Field(min_length=1)

    def schedule_for(self, indication: str, cycle: int) -> DoseSchedule | None:
        return next(
            (s for s in self.schedules if s.indication == indication and s.cycles.contains(cycle)),
            None,
        )


class CodeEntry(_Strict):
    system: str
    code: str = Field(min_length=1)
    display: str = Field(min_length=1)
    verified: bool
    source: str = Field(min_length=1)


class ValueSet(_Strict):
    description: str
    source: str = Field(min_length=1)
    match_text: list[str] = []
    codes: list[CodeEntry] = Field(min_length=1)


class Codes(_Strict):
    version: str
    reviewed: str
    systems: dict[str, str]
    value_sets: dict[str, ValueSet]

    @model_validator(mode="after")
    def _systems_known(self) -> Codes:
        for name, value_set in self.value_sets.items():
            for entry in value_set.codes:
                if entry.system not in self.systems:
                    raise ValueError(f"value set {name}: unknown system alias {entry.system!r}")
        return self


class Knowledge(_Strict):
    """Everything the checks know, validated as a whole (cross-file source references included)."""

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    version: str
    sources: dict[str, SourceRef]
    indications: dict[str, Indication]
    dose: DoseRules
    codes: Codes
    sections: dict[str, dict[str, Any]] = {}  # the other rule files (premedication.yaml, ...), raw
    _section_cache: dict[tuple[str, type[BaseModel]], BaseModel] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _every_source_exists(self) -> Knowledge:
        for where, source_id in self._cited_sources():
            if source_id not in self.sources:
                raise ValueError(f"{where} cites unknown source {source_id!r}")
        return self

    def _cited_sources(self) -> list[tuple[str, str]]:
        cited = [(f"indication {key}", ind.source) for key, ind in self.indications.items()]
        dose = self.dose
        cited += [
            ("dose.weight_threshold_source", dose.weight_threshold_source),
            ("dose.bsa_source", dose.bsa_source),
            ("dose.weight_age_source", dose.weight_age_source),
            ("dose.tolerance_source", dose.tolerance_source),
            ("dose.absolute_cap_source", dose.absolute_cap_source),
        ]
        cited += [(f"dose schedule {s.indication} {s.cycles}", s.source) for s in dose.schedules]
        for name, section in self.sections.items():
            cited += [(f"{name}.yaml {where}", value) for where, value in _source_fields(section)]
        return cited

    def section(self, name: str, model: type[T]) -> T:
        """A rule file other than dose.yaml, validated against the check's own model (cached)."""
        cache = self._section_cache
        key = (name, model)
        if key not in cache:
            if name not in self.sections:
                raise KeyError(f"knowledge file {name}.yaml is missing")
            cache[key] = model.model_validate(self.sections[name])
        return cache[key]  # type: ignore[return-value]

    def source(self, source_id: str) -> SourceRef:
        return self.sources[source_id]

    @cached_property
    def _code_index(self) -> dict[str, frozenset[tuple[str, str]]]:
        systems = self.codes.systems
        return {
            name: frozenset(
                (systems[c.system], code)
                for c in value_set.codes
                for code in equivalent_codes(systems[c.system], c.code)
            )
            for name, value_set in self.codes.value_sets.items()
        }

    def codes_of(self, value_set: str) -> frozenset[tuple[str, str]]:
        """(system URI, code) pairs of a value set; KeyError names a set the files lack."""
        return self._code_index[value_set]

    def text_patterns(self, value_set: str) -> tuple[str, ...]:
        return tuple(t.lower() for t in self.codes.value_sets[value_set].match_text)


def _source_fields(node: Any, where: str = "") -> list[tuple[str, str]]:
    """Every `source` / `*_source` value in a rule file, with where it stands."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if (key == "source" or str(key).endswith("_source")) and isinstance(value, str):
                found.append((path, value))
            else:
                found.extend(_source_fields(value, path))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_source_fields(value, f"{where}[{index}]"))
    return found


# libyaml's parser when PyYAML was built with it (its wheels are): the same safe loading, about
# ten times faster, which is a tenth of a second of every start-up.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """A YAML file, safely loaded (no Python objects)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)


def _read(directory: Path, name: str) -> dict[str, Any]:
    data = read_yaml(directory / name)
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a mapping at the top level")
    return data


def load_knowledge(directory: Path = KNOWLEDGE_DIR) -> Knowledge:
    """Read and validate every knowledge file; raises on any schema or citation error."""
    files = {path.stem: _read(directory, path.name) for path in sorted(directory.glob("*.yaml"))}
    for name, data in files.items():
        if not isinstance(data.get("version"), str) or not data["version"]:
            raise ValueError(f"{name}.yaml: a knowledge file must carry a version string")
    sources, dose, codes = files.pop("sources"), files.pop("dose"), files.pop("codes")
    version = "+".join(
        f"{name}:{data['version']}"
        for name, data in sorted(
            {"sources": sources, "dose": dose, "codes": codes, **files}.items()
        )
    )
    return Knowledge(
        version=version,
        sources=sources["sources"],
        indications=dose["indications"],
        dose=dose["dose"],
        codes=Codes.model_validate(codes),
        sections=files,
    )
