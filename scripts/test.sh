#!/usr/bin/env bash
# The whole test suite: installs what it needs, then lint, format, types and pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev

# The swarm tests need a Docker engine and the image. Building it is minutes of mostly
# downloads and disk copies, so it runs beside lint, types and the other tests; the
# swarm tests' fixture waits for it (tests/swarm_support.py).
prep="$(mktemp -d)"
setsid bash -c 'bash cluster/prepare-local-swarm.sh >"$1/out" 2>"$1/err"; echo $? >"$1/rc"' \
  _ "$prep" &
builder=$!
# A build still running when the tests end (e.g. -m "not swarm") stops with them.
trap '{ [[ -e "$prep/rc" ]] || kill -- "-$builder"; } 2>/dev/null || true; rm -rf "$prep"' EXIT
export OCR_RAY_TEST_SWARM_PREP="$prep"

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# pytest's own exit code stands: 5 (no tests collected) fails the run like any failure.
.venv/bin/python -m pytest -ra --durations=25 "$@"
