"""JSON Schema of each knowledge file, generated from its model in `models.py`.

A pharmacist's editor (any editor with the YAML language server) validates a knowledge file as it
is typed: each file's first line names its schema in `schema/`. The committed schemas are kept up
to date by `python -m cds knowledge-schema` (a test fails when they are stale).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cds.knowledge.models import FILE_MODELS

SCHEMA_DIR = Path(__file__).parent / "schema"


def schema_name(file_stem: str) -> str:
    return f"{file_stem}.schema.json"


def modeline(file_stem: str) -> str:
    """The first line of a knowledge file: where the YAML language server finds its schema."""
    return f"# yaml-language-server: $schema=schema/{schema_name(file_stem)}"


def schemas() -> dict[str, dict[str, Any]]:
    """File name of each schema -> the schema (draft 2020-12, as pydantic writes it)."""
    return {
        schema_name(stem): {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            **model.model_json_schema(),
        }
        for stem, model in FILE_MODELS.items()
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every knowledge file's schema into `directory` (created if need be)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written
