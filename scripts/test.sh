#!/usr/bin/env bash
# The whole test suite: installs what it needs, then lint, format, types and pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# pytest's own exit code stands: 5 (no tests collected) fails the run like any failure.
exec .venv/bin/python -m pytest -ra "$@"
