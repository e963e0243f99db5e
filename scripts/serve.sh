#!/usr/bin/env bash
# Set up and start the service on its embedded defaults: SQLite feedback store, OPEN DEVELOPMENT
# MODE (no authentication of callers), gunicorn on http://127.0.0.1:${PORT:-8080}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m cds serve --dev --host "${HOST:-127.0.0.1}" --port "${PORT:-8080}" "$@"
