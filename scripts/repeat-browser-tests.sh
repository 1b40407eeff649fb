#!/usr/bin/env bash
# Run the browser tests N times in a row, each in a fresh pytest process, to catch flaky ones.
#
#   scripts/repeat-browser-tests.sh [N=20] [PYTEST ARGS...]
#
# PYTEST ARGS select the tests (default: tests/web), e.g.
#   scripts/repeat-browser-tests.sh 20 tests/web/test_explorer.py
# PYTHON picks the interpreter (default: python). Each failed run's output is kept in
# test-artifacts/repeat-N.log. The last line is "P passed, F failed" (runs, not tests), and the
# exit status is 1 when any run failed.
set -u
runs="${1:-20}"
shift || true
case "$runs" in '' | *[!0-9]*) echo "N should be a whole number of runs, got '$runs'" >&2; exit 2 ;; esac
[ "$#" -gt 0 ] || set -- tests/web
cd "$(dirname "$0")/.."
mkdir -p test-artifacts
python="${PYTHON:-python}"
passed=0
failed=0
for i in $(seq 1 "$runs"); do
  log="test-artifacts/repeat-$i.log"
  if "$python" -m pytest -q -p no:cacheprovider "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    rm -f "$log"
    echo "run $i/$runs: passed"
  else
    failed=$((failed + 1))
    echo "run $i/$runs: FAILED (see $log): $(grep -E '^FAILED|^ERROR' "$log" | head -n 3 | tr '\n' ' ')"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
