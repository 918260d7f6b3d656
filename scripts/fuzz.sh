#!/usr/bin/env bash
# The libFuzzer harnesses of tests/fuzz/, built by `make fuzz` into build/fuzz/fuzzers/.
#
#   scripts/fuzz.sh run SECONDS [HARNESS...]   fuzz each for SECONDS from its corpus; new inputs
#                                              go to build/fuzz/corpus/<h>/, crashes to
#                                              build/fuzz/artifacts/; run times add up in
#                                              build/fuzz/fuzz-time.tsv
#   scripts/fuzz.sh check SECONDS              every committed corpus and regression input, then SECONDS of
#                                              fuzzing each (the short pass of make test)
#   scripts/fuzz.sh merge [HARNESS...]         minimize the committed corpus, the seeds
#                                              (scripts/fuzz-seeds.py) and what runs found into
#                                              tests/fuzz/corpus/<h>/
#   scripts/fuzz.sh report                     total run time per harness (build/fuzz/fuzz-time.tsv)
#
# Harnesses run at the lowest priority, one process each, in their own network namespace
# when `unshare -n` is allowed (nothing they do can reach another machine).
set -uo pipefail
cd "$(dirname "$0")/.."

bin=build/fuzz/fuzzers
committed=tests/fuzz/corpus
found=build/fuzz/corpus
mkdir -p "$found" build/fuzz/artifacts

harnesses() {
  if (($#)); then printf '%s\n' "$@"; else
    for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done
  fi
}

# Inputs bigger than libFuzzer's default 4 kB: whole manifests and event files.
max_len() {
  case $1 in
    fuzz_manifest|fuzz_onboarding|fuzz_schema|fuzz_lua_json|fuzz_publish|fuzz_webhook) echo 65536 ;;
    *) echo 8192 ;;
  esac
}

isolated() {
  if unshare -n true 2>/dev/null; then nice -n 19 unshare -n "$@"; else nice -n 19 "$@"; fi
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The inputs of past findings (tests/fuzz/regressions/<h>/), kept apart so that merging never
# drops one; every run and check replays them.
regress=tests/fuzz/regressions

fuzz_one() { # harness seconds log -> exit status of the harness
  local h=$1 secs=$2 log=$3
  mkdir -p "$found/$h" "$committed/$h" "$regress/$h"
  isolated "$bin/$h" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
    -max_len="$(max_len "$h")" -artifact_prefix="build/fuzz/artifacts/$h-" -print_final_stats=1 \
    "$found/$h" "$committed/$h" "$regress/$h" >"$log" 2>&1
}

cmd=${1:-}; shift || true
case $cmd in
  run)
    secs=${1:?seconds}; shift
    status=0
    for h in $(harnesses "$@"); do
      log=build/fuzz/$h.log
      t0=$(date +%s)
      fuzz_one "$h" "$secs" "$log"; rc=$?
      t=$(($(date +%s) - t0))
      printf '%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$h" "$t" "$rc" >>build/fuzz/fuzz-time.tsv
      execs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | grep -Eo '[0-9]+$')
      if ((rc == 0)); then
        printf '%-20s %5ss  %s runs  ok\n' "$h" "$t" "${execs:-?}"
      else
        status=1
        printf '%-20s %5ss  FINDING: see %s and build/fuzz/artifacts/%s-*\n' "$h" "$t" "$log" "$h"
      fi
    done
    exit $status
    ;;
  check)
    secs=${1:-3}
    status=0
    for h in $(harnesses); do
      log=build/fuzz/check-$h.log
      if [[ ! -x $bin/$h ]]; then echo "$h: not built ($bin/$h)"; status=1; continue; fi
      # The committed corpus alone first (every input once), then a short fuzzing run.
      mkdir -p "$regress/$h"
      if ! isolated "$bin/$h" -runs=0 -max_len="$(max_len "$h")" "$committed/$h" "$regress/$h" >"$log" 2>&1 ||
         ! fuzz_one "$h" "$secs" "$log.run"; then
        status=1; echo "$h: FAILED (see $log, $log.run)"
      fi
    done
    exit $status
    ;;
  merge)
    python3 scripts/fuzz-seeds.py >/dev/null
    for h in $(harnesses "$@"); do
      new=build/fuzz/merge-$h
      rm -rf "$new"; mkdir -p "$new" "$committed/$h" "$found/$h" "build/fuzz/seeds/$h"
      isolated "$bin/$h" -merge=1 -max_len="$(max_len "$h")" "$new" "$committed/$h" \
        "build/fuzz/seeds/$h" "$found/$h" >"build/fuzz/merge-$h.log" 2>&1 ||
        { echo "$h: merge failed (build/fuzz/merge-$h.log)"; continue; }
      rm -rf "${committed:?}/$h"; mv "$new" "$committed/$h"
      printf '%-20s %4s inputs %6s bytes\n' "$h" "$(ls "$committed/$h" | wc -l)" \
        "$(cat "$committed/$h"/* 2>/dev/null | wc -c)"
    done
    ;;
  report)
    # Total seconds per harness from build/fuzz/fuzz-time.tsv, as rows of docs/reliability.md.
    # Columns: total time, time since the last run that ended on a finding, findings.
    awk -F'\t' '{t[$2] += $3; c[$2] += $3; if ($4 != 0) {f[$2]++; c[$2] = 0}} END {
      for (h in t) printf "| `%s` | %dm %02ds | %dm %02ds | %d |\n", h, t[h] / 60, t[h] % 60,
        c[h] / 60, c[h] % 60, f[h]
    }' build/fuzz/fuzz-time.tsv | sort
    ;;
  *)
    sed -n '2,17p' "$0"; exit 2 ;;
esac
