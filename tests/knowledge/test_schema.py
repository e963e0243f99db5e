"""The JSON Schemas a pharmacist's editor validates the knowledge files with: written by
`python -m cds knowledge-schema`, committed up to date, named on each file's first line, and
accepting the shipped files while rejecting a misspelt key."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest

from cds.__main__ import main
from cds.knowledge import KNOWLEDGE_DIR, read_yaml
from cds.knowledge.models import FILE_MODELS
from cds.knowledge.schema import SCHEMA_DIR, modeline, schema_name, schemas

STEMS = sorted(FILE_MODELS)


def test_the_command_writes_one_schema_per_knowledge_file(tmp_path: Path) -> None:
    assert main(["knowledge-schema", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(schema_name(s) for s in STEMS)
    assert sorted(p.stem for p in KNOWLEDGE_DIR.glob("*.yaml")) == STEMS


def test_the_committed_schemas_are_up_to_date(tmp_path: Path) -> None:
    main(["knowledge-schema", "--out", str(tmp_path)])
    for written in tmp_path.iterdir():
        committed = SCHEMA_DIR / written.name
        assert committed.exists(), f"{written.name} is not committed: run knowledge-schema"
        assert committed.read_text(encoding="utf-8") == written.read_text(encoding="utf-8"), (
            f"{committed} is stale: run `python -m cds knowledge-schema`"
        )


@pytest.mark.parametrize("stem", STEMS)
def test_each_file_names_its_schema_on_its_first_line(stem: str) -> None:
    first = (KNOWLEDGE_DIR / f"{stem}.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == modeline(stem)
    target = first.split("$schema=", 1)[1]
    assert (KNOWLEDGE_DIR / target).resolve() == (SCHEMA_DIR / schema_name(stem)).resolve()


@pytest.mark.parametrize("stem", STEMS)
def test_the_schema_accepts_the_shipped_file_and_rejects_a_misspelt_key(stem: str) -> None:
    validator = jsonschema_rs.validator_for(schemas()[schema_name(stem)])
    # as an editor sees the file: JSON, whose keys are strings ({1: 3} -> {"1": 3})
    data = json.loads(json.dumps(read_yaml(KNOWLEDGE_DIR / f"{stem}.yaml")))
    assert validator.is_valid(data), list(validator.iter_errors(data))[:3]
    assert not validator.is_valid({**data, "reveiwed": data["reviewed"]})
    assert not validator.is_valid({k: v for k, v in data.items() if k != "version"})
