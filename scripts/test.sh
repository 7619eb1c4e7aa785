#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. bazel test //...               unit, protocol, end-to-end and chart tests
#   2. bazel test --config=asan ...   the same (but the chart check) under ASan + UBSan
#   3. test/fuzz/run_fuzzers.sh       each libFuzzer target for a bounded time
# Ends with one line "N passed, N failed" counting test targets and fuzzers.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || { echo "install-deps failed"; exit 1; }

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
LOG_DIR="$(mktemp -d /tmp/sluice-test.XXXXXX)"
passed=0
failed=0

# Runs bazel test and counts its per-target result lines.
bazel_step() {
  local name="$1"; shift
  local log="$LOG_DIR/${name}.log"
  echo "=== ${name}: bazel test $*"
  local rc=0 ok bad
  # --keep_going: a target that fails to build does not hide the others' results.
  # Integration tests get a second attempt: they pick free loopback ports before
  # starting processes, and a parallel test can take one in between (seen once:
  # "Address already in use"); bazel reports such a target as FLAKY.
  bazel test --keep_going --flaky_test_attempts=//test/integration[:/].*@2 "$@" >"$log" 2>&1 || rc=$?
  grep -v "linux-sandbox" "$log" | grep -vE '^\[[0-9,]+ / [0-9,]+\]' | tail -n 80
  ok=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log" || true)
  bad=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD|INCOMPLETE)' "$log" || true)
  if [[ $rc -ne 0 && $bad -eq 0 ]]; then
    bad=1  # the build itself failed, or bazel did
  fi
  # A failed target's own log, so that CI output says why, not only which.
  local target logfile
  for target in $(grep -E '^//[^ ]+ +(FAILED in|TIMEOUT)' "$log" | awk '{print $1}'); do
    logfile="bazel-testlogs/$(echo "${target#//}" | tr ':' '/')/test.log"
    echo "--- ${target}: last lines of ${logfile}"
    [[ -f "$logfile" ]] && grep -v "linux-sandbox" "$logfile" | tail -n 60
  done
  echo "=== ${name}: ${ok} passed, ${bad} failed"
  passed=$((passed + ok)); failed=$((failed + bad))
}

bazel_step "tests" --test_env=SLUICE_REQUIRE_RENDER=1 //...
# The Python-only tests (the fake API server's own checks) have nothing to
# sanitize; the chart check is Go.
bazel_step "asan-ubsan" --config=asan -- //... -//test/charts/... -//test/fakekube/...

if [[ -x test/fuzz/run_fuzzers.sh ]]; then
  echo "=== fuzzers: ${FUZZ_SECONDS}s each"
  if test/fuzz/run_fuzzers.sh "${FUZZ_SECONDS}" | tee "$LOG_DIR/fuzz.log"; then
    ran=$(grep -c '^== running' "$LOG_DIR/fuzz.log" || true)
    passed=$((passed + ran)); echo "=== fuzzers: ${ran} passed"
  else
    failed=$((failed + 1)); echo "=== fuzzers: FAILED"
  fi
fi

echo
echo "${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
