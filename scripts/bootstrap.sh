#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install the service with the given extras; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
extras=${1:-}
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
# An editable install compiles no bytecode, and where PYTHONDONTWRITEBYTECODE is set (containers,
# CI images) Python never writes it: every `serve` and `check` would compile cds/ again, ~0.1-0.15 s
# of a ~1 s start (`bench.startup`). compileall writes it regardless, and skips what is current.
.venv/bin/python -m compileall -q cds
