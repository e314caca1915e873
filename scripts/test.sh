#!/usr/bin/env bash
# The whole test suite: installs what it needs, then lint, format, types and pytest.
# Extra arguments go to one pytest run (e.g. scripts/test.sh -m "not slow"); with none,
# the suite runs in two lanes side by side (below).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev

# The swarm tests need a Docker engine and the image, and the several-hosts tests their
# engines. Building the image is minutes of mostly downloads and disk copies, so it runs
# beside lint, types and the other tests, and the hosts come up after it; the tests'
# fixtures wait for each (tests/swarm_support.py, tests/test_hosts.py).
prep="$(mktemp -d)"
setsid bash -c 'bash cluster/prepare-local-swarm.sh >"$1/prep.out" 2>"$1/prep.err"; rc=$?
  echo $rc >"$1/prep.rc"
  (( rc == 0 )) || exit
  bash cluster/local-hosts.sh up 2 >"$1/hosts.out" 2>"$1/hosts.err"; echo $? >"$1/hosts.rc"' \
  _ "$prep" &
builder=$!
lane=""
# Whatever still runs when the script ends (e.g. after a lint error) stops with it, and
# the hosts go (their tests' fixture takes them down too).
stop() {
  kill -- "-$builder"
  [[ -z "$lane" ]] || kill -- "-$lane"
  [[ ! -e "$prep/hosts.rc" ]] || bash cluster/local-hosts.sh down
}
trap '{ stop; } 2>/dev/null || true; rm -rf "$prep"' EXIT
export OCR_RAY_TEST_SWARM_PREP="$prep"
pytest=(.venv/bin/python -m pytest -ra --durations=25)

# The swarm tests mostly wait on Docker and the others mostly on the CPUs, so with no
# arguments the swarm lane (the single-node swarm, then the several hosts) runs in the
# background beside the rest: the suite takes about the time of the longer lane (three
# lanes were slower on two cores: Ray's start-up timed out). pytest's own exit code
# stands: 5 (no tests collected) fails the run like any failure.
if (( $# == 0 )); then
  swarm_files=(tests/test_swarm.py tests/test_swarm_autoscaler.py tests/test_hosts.py)
  setsid bash -c '"${@:2}" >"$1/swarm.log" 2>&1; echo $? >"$1/swarm.rc"' \
    _ "$prep" "${pytest[@]}" -p no:cacheprovider -m swarm "${swarm_files[@]}" &
  lane=$!
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
wait "$lane" || true
lane=""
echo "================================ the swarm lane ================================"
cat "$prep/swarm.log"
swarm="$(cat "$prep/swarm.rc" 2>/dev/null || echo 1)"
echo "test lanes: the rest (printed first) exited $main, the swarm lane $swarm"
(( main == 0 && swarm == 0 ))
