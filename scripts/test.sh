#!/usr/bin/env bash
# The whole test suite: installs what it needs, then lint, format, types and pytest.
# Extra arguments go to one pytest run (e.g. scripts/test.sh -m "not slow"); with none,
# the suite runs in three lanes side by side (below).
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
lanes=()
# A build or a lane still running when the script ends (e.g. after a lint error) stops
# with it.
stop() {
  [[ -e "$prep/rc" ]] || kill -- "-$builder"
  for pid in "${lanes[@]}"; do kill -- "-$pid"; done
}
trap '{ stop; } 2>/dev/null || true; rm -rf "$prep"' EXIT
export OCR_RAY_TEST_SWARM_PREP="$prep"
pytest=(.venv/bin/python -m pytest -ra --durations=25)

# The swarm tests mostly wait on Docker and the others mostly on the CPUs, so with no
# arguments the suite runs in three lanes side by side: the single-node swarm, the
# several hosts (their own engines and swarm), and the rest. It takes about the time of
# the longest lane. pytest's own exit code stands: 5 (no tests collected) fails the run.
background=(swarm "swarm and not hosts" hosts "hosts")
if (( $# == 0 )); then
  for (( i = 0; i < ${#background[@]}; i += 2 )); do
    setsid bash -c '"${@:3}" >"$1/$2.log" 2>&1; echo $? >"$1/$2.rc"' \
      _ "$prep" "${background[i]}" "${pytest[@]}" -p no:cacheprovider -m "${background[i + 1]}" &
    lanes+=($!)
  done
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
if (( $# )); then
  "${pytest[@]}" "$@"
  exit 0
fi
main=0
"${pytest[@]}" -m "not swarm" || main=$?
failed=$(( main != 0 ))
for pid in "${lanes[@]}"; do wait "$pid" || true; done
lanes=()
for (( i = 0; i < ${#background[@]}; i += 2 )); do
  name="${background[i]}"
  echo "================================ the $name lane ================================"
  cat "$prep/$name.log"
  rc="$(cat "$prep/$name.rc" 2>/dev/null || echo 1)"
  echo "the $name lane exited $rc"
  (( rc == 0 )) || failed=1
done
echo "the other tests' lane (printed first) exited $main"
exit "$failed"
