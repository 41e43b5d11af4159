#!/usr/bin/env bash
# test.sh -- build and run every test suite; ends with one "N passed, N failed"
# line and exits non-zero on any failure. Called by `make test` and .ci/run.
#
# Suites: unit tests on musl (the shipped libc) and on glibc under
# ASan+UBSan, the unit tests under valgrind, every fuzz target replaying its
# corpus (sanitizer build), and the integration tests (real binary against
# emulators and real peers on loopback).
#
# KE_TEST_ONLY="unit integration" limits the suites (for development).
set -uo pipefail
cd "$(dirname "$0")/.."

only=${KE_TEST_ONLY:-}
want() { [ -z "$only" ] || [[ " $only " == *" $1 "* ]]; }

scripts/test-deps.sh || { echo "test: installing test dependencies failed"; echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc 2>/dev/null || echo 2)
total_pass=0
total_fail=0
failed_suites=()
logdir=build/test-logs
mkdir -p "$logdir"

# run NAME CMD... : run a suite, echo its output, add its closing counts.
run() {
  local name=$1; shift
  local log=$logdir/$name.log
  echo "=== $name"
  local t0=$SECONDS
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line p f
  line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
    f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
  else
    p=0; f=0
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1 # crashed or failed without saying so
    echo "$name: exited with status $rc"
  fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  [ "$f" -eq 0 ] || failed_suites+=("$name")
  echo "--- $name: $p passed, $f failed ($((SECONDS - t0))s)"
}

# fuzz_replay: every target replays its corpus; one test per target.
fuzz_replay() {
  local p=0 f=0
  for src in tests/fuzz/fuzz_*.c; do
    local t; t=$(basename "$src" .c)
    local corpus=tests/fuzz/corpus/${t#fuzz_}
    if [ ! -d "$corpus" ]; then echo "not ok - $t: no corpus at $corpus"; f=$((f + 1)); continue; fi
    if ASAN_OPTIONS=detect_leaks=1 "build/san/fuzz/$t" "$corpus" >"$logdir/$t.out" 2>&1; then
      echo "ok - $t ($(tail -n 1 "$logdir/$t.out"))"; p=$((p + 1))
    else
      echo "not ok - $t"; tail -n 30 "$logdir/$t.out"; f=$((f + 1))
    fi
  done
  echo "$p passed, $f failed"
  [ "$f" -eq 0 ]
}

valgrind_unit() {
  # The sanitizer build cannot run under valgrind: use the plain glibc build.
  valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
    build/vg/unit-tests
}

t_start=$SECONDS
echo "=== build"
if ! make -s -j"$jobs" unit >/dev/null || ! make -s -j"$jobs" FLAVOR=san unit >/dev/null; then
  echo "build failed"
  make -j"$jobs" unit FLAVOR=san 2>&1 | tail -30
  echo "0 passed, 1 failed"
  exit 1
fi
want lint && run lint scripts/lint.sh
want unit && run unit-musl build/unit-tests
want unit && run unit-sanitizers env ASAN_OPTIONS=detect_leaks=1 build/san/unit-tests
if want valgrind; then
  make -s -j"$jobs" FLAVOR=vg build/vg/unit-tests >/dev/null && run unit-valgrind valgrind_unit
fi
want fuzz && run fuzz-replay fuzz_replay
# The emulators are test code too: their own self-tests run first.
if want emulators; then
  for t in tests/emu/test_*_selftest.py; do run "emu-$(basename "$t" .py)" python3 "$t"; done
fi
want integration && run integration python3 tests/integration/run.py --bin build/kube-eventer
want integration && run integration-sanitizers env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  python3 tests/integration/run.py --bin build/san/kube-eventer

echo
echo "test time: $((SECONDS - t_start))s"
[ ${#failed_suites[@]} -eq 0 ] || echo "failed suites: ${failed_suites[*]}"
echo "total: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
