#!/usr/bin/env bash
# Set up and run the whole test suite: ruff lint, ruff format check, mypy (strict; pyproject.toml),
# then pytest (2 processes). Arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest -q -n 2 "$@"
