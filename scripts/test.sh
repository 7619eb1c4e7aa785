#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. bazel test //...               unit, protocol and end-to-end tests
#   2. bazel test --config=asan ...   the same under ASan + UBSan
#   3. test/fuzz/run_fuzzers.sh       each libFuzzer target for a bounded time
# Prints one closing line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || { echo "install-deps failed"; exit 1; }

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
passed=0
failed=0
step() {
  local name="$1"; shift
  echo "=== ${name}: $*"
  if "$@"; then
    passed=$((passed + 1)); echo "=== ${name}: passed"
  else
    failed=$((failed + 1)); echo "=== ${name}: FAILED"
  fi
}

step "bazel test" bazel test //... 
step "bazel test (ASan+UBSan)" bazel test --config=asan -- //... -//test/integration/...
if [[ -x test/fuzz/run_fuzzers.sh ]]; then
  step "fuzzers (${FUZZ_SECONDS}s each)" test/fuzz/run_fuzzers.sh "${FUZZ_SECONDS}"
fi
if [[ -x test/charts/render_check.sh ]]; then
  step "helm chart check" test/charts/render_check.sh
fi

echo
echo "${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
