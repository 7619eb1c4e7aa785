#!/usr/bin/env bash
# Hit ratio of the response cache's eviction (S3-FIFO, the real store code
# in dataplane/cache/store) against plain LRU, on Zipf traces: 1M requests
# over 100,000 keys, alpha 0.8 / 1.0 / 1.2, cache sizes 1% and 10% of the
# key space, fixed seed (the same table every run). No sockets, one core,
# a few seconds. Prints the table; see bench/README.md.
#
#   bench/cache_hit_ratio.sh
#
# Environment (all optional):
#   CACHE_HIT_RATIO_BIN        a prebuilt //bench:cache_hit_ratio (skip bazel)
#   BENCH_OUTPUT_BASE=/root/.cache/bazel-bench
#   BENCH_MAX_SECONDS=600      bound on the whole run
#   BENCH_REQUESTS=1000000 BENCH_KEYS=100000 BENCH_SEED=42
set -euo pipefail
LOG_TAG=cache_hit_ratio
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_start_without_arguments 600 "$@"
bench_make_work /tmp/cache-hit-ratio.XXXXXX
sluice_binaries "$OUTPUT_BASE" opt CACHE_HIT_RATIO_BIN=//bench:cache_hit_ratio
"$CACHE_HIT_RATIO_BIN" --requests "${BENCH_REQUESTS:-1000000}" --keys "${BENCH_KEYS:-100000}" --seed "${BENCH_SEED:-42}"
run_ok=1
