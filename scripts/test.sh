#!/usr/bin/env bash
# Set up and run the whole test suite: ruff lint, ruff format check, then pytest (2 processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q -n 2 "$@"
