#!/usr/bin/env bash
# Runs every test: unit tests (cmocka) on the gcc build, the same under
# valgrind, unit tests on the clang build, end-to-end tests (node --test) against build/evkit, the
# same on NATS JetStream (nats-server on loopback, started and stopped by the harness), the web
# console in headless Chromium (tests/e2e/browser, screenshots in tests/artifacts/), then unit and
# end-to-end tests again on the ASan+UBSan build (build/asan), and the libFuzzer harnesses briefly
# on their corpus (build/fuzz); the README settings table is checked against src/config.c. Ends with one
# summary line "evkit: N passed, M failed" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()
log_dir=build/test-logs
mkdir -p "$log_dir"

count_cmocka() { # file -> adds to passed/failed
  local out=$1 name=$2 p f
  p=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$out" | grep -Eo '[0-9]+$' | tail -1)
  f=$(grep -Eo '^\[  FAILED  \] [0-9]+' "$out" | grep -Eo '[0-9]+$' | tail -1)
  p=${p:-0}; f=${f:-0}
  passed=$((passed + p)); failed=$((failed + f))
  ((f > 0)) && failures+=("$name")
}

run_unit() { # build dir, label, [wrapper...]
  local dir=$1 label=$2; shift 2
  local t name out rc
  for t in "$dir"/tests/test_*; do
    [[ -x $t ]] || continue
    name="$label/$(basename "$t")"
    out="$log_dir/${label}-$(basename "$t").log"
    "$@" "$t" >"$out" 2>&1
    rc=$?
    count_cmocka "$out" "$name"
    if ((rc != 0)) && ! grep -q '^\[  FAILED  \] [1-9]' "$out"; then
      # A crash, a sanitizer or valgrind report: one failure of its own.
      failed=$((failed + 1)); failures+=("$name (exit $rc)")
    fi
    printf '%-10s %-28s %s\n' "$label" "$(basename "$t")" "$( ((rc == 0)) && echo ok || echo "FAILED: see $out")"
  done
}

run_e2e() { # binary, label, [test files, default ./*.test.mjs]
  local binpath=$1 label=$2 files=${3:-./*.test.mjs} out="$log_dir/$2-e2e.log" p f rc
  # shellcheck disable=SC2086 # $files is a glob, expanded in tests/e2e
  (cd tests/e2e && EVKIT_BIN="$binpath" node --test --test-concurrency=1 --test-reporter=spec \
      --test-reporter-destination=stdout $files) >"$out" 2>&1
  rc=$?
  p=$(grep -Eo '^ℹ pass [0-9]+' "$out" | grep -Eo '[0-9]+$' | tail -1)
  f=$(grep -Eo '^ℹ fail [0-9]+' "$out" | grep -Eo '[0-9]+$' | tail -1)
  p=${p:-0}; f=${f:-0}
  passed=$((passed + p)); failed=$((failed + f))
  if ((f > 0)); then failures+=("$label e2e ($f)"); fi
  if ((rc != 0 && f == 0)); then failed=$((failed + 1)); failures+=("$label e2e (exit $rc)"); fi
  printf '%-10s %-28s %s\n' "$label" "e2e: $p passed, $f failed" "$( ((rc == 0)) && echo ok || echo "FAILED: see $out")"
  ((rc != 0)) && grep -E '^\s*(✖|not ok)' "$out" | head -20
}

# The e2e directory again with every evkit on JetStream (EVKIT_TEST_STORE=nats: the harness
# starts a nats-server on a free loopback port per journal folder and stops it). cluster.test.mjs
# is left out: it runs its own three nats-servers in the step above. A nats-server of this run
# still alive afterwards is a failure (and is stopped).
run_e2e_nats() {
  local files left
  files=$(cd tests/e2e && ls ./*.test.mjs | grep -v '/cluster\.test\.mjs$' | tr '\n' ' ')
  export EVKIT_TEST_RUN="$$"
  EVKIT_TEST_STORE=nats run_e2e build/evkit nats "$files"
  left=$(pgrep -f "nats-server .*-n evkit-e2e-$EVKIT_TEST_RUN-" || true)
  if [[ -n $left ]]; then
    failed=$((failed + 1)); failures+=("nats e2e left nats-server running (pids $(echo $left))")
    # shellcheck disable=SC2086 # one pid per word
    kill $left 2>/dev/null
  fi
  unset EVKIT_TEST_RUN
}

run_sample_app() {
  local out="$log_dir/sample-app.log" p f rc
  build/evkit test --app app >"$out" 2>&1
  rc=$?
  p=$(grep -Eo '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1 | cut -d' ' -f1)
  f=$(grep -Eo '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1 | cut -d' ' -f3)
  p=${p:-0}; f=${f:-0}
  passed=$((passed + p)); failed=$((failed + f))
  if ((rc != 0 && f == 0)); then failed=$((failed + 1)); failures+=("evkit test --app app (exit $rc)"); fi
  ((f > 0)) && failures+=("evkit test --app app ($f)")
  printf '%-10s %-28s %s\n' app "evkit test: $p passed, $f failed" "$( ((rc == 0)) && echo ok || echo "FAILED: see $out")"
}

# The README's settings table must match src/config.c (names, defaults, .env).
run_readme_settings() {
  local out="$log_dir/readme-settings.log"
  if python3 scripts/check-readme-settings.py >"$out" 2>&1; then
    passed=$((passed + 1)); printf '%-10s %-28s %s\n' readme "settings table current" ok
  else
    failed=$((failed + 1)); failures+=("README settings table")
    printf '%-10s %-28s %s\n' readme "settings table current" "FAILED: see $out"
  fi
}

# The libFuzzer harnesses (tests/fuzz/): the committed corpus, then FUZZ_CHECK_SECONDS
# (default 3) of fuzzing each; one step.
run_fuzz() {
  local out="$log_dir/fuzz.log"
  if scripts/fuzz.sh check "${FUZZ_CHECK_SECONDS:-3}" >"$out" 2>&1; then
    passed=$((passed + 1)); printf '%-10s %-28s %s\n' fuzz "$(ls tests/fuzz/fuzz_*.c | wc -l) harnesses" ok
  else
    failed=$((failed + 1)); failures+=("fuzz (see $out)")
    printf '%-10s %-28s %s\n' fuzz "harnesses" "FAILED: see $out"
    cat "$out"
  fi
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "== structure: layering, function length, HTTP statuses below src/http, README layout =="
if python3 scripts/check-structure.py >"$log_dir/structure.log" 2>&1; then
  passed=$((passed + 1)); printf '%-10s %-28s %s\n' structure "check-structure.py" ok
else
  failed=$((failed + 1)); failures+=("structure (see $log_dir/structure.log)")
  printf '%-10s %-28s %s\n' structure "check-structure.py" "FAILED: see $log_dir/structure.log"
  cat "$log_dir/structure.log"
fi
echo "== unit tests (build) =="
run_unit build unit
echo "== unit tests under valgrind =="
run_unit build valgrind valgrind --quiet --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --trace-children=no
echo "== sample app: evkit test --app app =="
run_sample_app
echo "== README: the settings table =="
run_readme_settings
echo "== unit tests (clang build) =="
run_unit build/clang clang
echo "== end-to-end tests (build/evkit) =="
run_e2e build/evkit e2e
echo "== end-to-end tests on NATS JetStream (build/evkit, a nats-server per journal folder) =="
run_e2e_nats
echo "== browser tests: the web console in headless Chromium (build/evkit) =="
run_e2e build/evkit browser 'browser/*.test.mjs'
echo "== unit tests (ASan+UBSan) =="
run_unit build/asan asan
echo "== end-to-end tests (ASan+UBSan build/asan/evkit) =="
run_e2e build/asan/evkit asan
echo "== fuzzing: every harness on its corpus, then a few seconds each (ASan+UBSan, build/fuzz) =="
run_fuzz

if ((${#failures[@]})); then
  echo "failing: ${failures[*]}"
fi
echo "evkit: $passed passed, $failed failed"
((failed == 0))
