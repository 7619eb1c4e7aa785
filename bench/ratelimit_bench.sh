#!/usr/bin/env bash
# What a rate limit adds to a request, in instructions (callgrind, exact and
# independent of the machine's load) and in wall-clock ns: the rate-limit
# stage's request-head hook alone (dataplane/pipeline/rate_limit_bench.cc),
# without a limit (the loop's own cost), with a local limit, and with a
# cluster limit through a redis-server started here on a loopback port (at
# 100/s per client, a Redis call every 5 requests; at 2000/s, every 100).
#
#   bench/ratelimit_bench.sh
#
# Environment (all optional):
#   BENCH_CALLGRIND_N1=20000 BENCH_CALLGRIND_N2=60000   requests per run
#   BENCH_NATIVE_N=2000000     requests of the wall-clock run
#   BENCH_REDIS_PORT=18021     redis-server's port on 127.0.0.1
#   RATE_LIMIT_BENCH_BIN       a prebuilt rate_limit_bench (skips bazel)
set -euo pipefail
LOG_TAG=ratelimit-bench
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case "${1:-}" in -h | --help) bench_help; exit 0 ;; esac
bench_bound_run 1800 "$@"

N1="${BENCH_CALLGRIND_N1:-20000}"
N2="${BENCH_CALLGRIND_N2:-60000}"
NATIVE_N="${BENCH_NATIVE_N:-2000000}"
REDIS_PORT="${BENCH_REDIS_PORT:-18021}"
require_tools "apt-get install -y valgrind redis-server" valgrind redis-server timeout
require_free_ports "$REDIS_PORT"
bench_make_work /tmp/sluice-ratelimit-bench.XXXXXX

if [[ -z ${RATE_LIMIT_BENCH_BIN:-} ]]; then
  log "building //dataplane/pipeline:rate_limit_bench"
  (cd "$ROOT" && timeout 3600 bazel build --local_cpu_resources=1 //dataplane/pipeline:rate_limit_bench \
    >"$WORK/build.log" 2>&1) || { tail -30 "$WORK/build.log" >&2; die "build failed"; }
  RATE_LIMIT_BENCH_BIN="$(cd "$ROOT" && bazel info bazel-bin 2>/dev/null)/dataplane/pipeline/rate_limit_bench"
fi

start_bg "$WORK/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no
wait_port "$REDIS_PORT"

# instructions MODE N: total Ir of one run (all threads: the Redis thread's
# I/O counts), from callgrind's totals line.
instructions() {
  local out="$WORK/callgrind.$1.$2"
  timeout 600 valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no --dump-line=no \
    "$RATE_LIMIT_BENCH_BIN" "$1" "$2" "$REDIS_PORT" >>"$WORK/runs.log" 2>&1 || die "callgrind run failed: $WORK/runs.log"
  awk '/^(totals|summary):/ {print $2; exit}' "$out"
}

declare -A PER
for mode in none local cluster cluster-2000; do
  i1="$(instructions "$mode" "$N1")"
  i2="$(instructions "$mode" "$N2")"
  PER[$mode]="$(callgrind_per_request "$i1" "$i2" "$N1" "$N2")"
  log "$mode: I($N1)=$i1 I($N2)=$i2 -> ${PER[$mode]} Ir/request"
done
grep -h "^cluster: $N2 " "$WORK/runs.log" | tail -1 >"$WORK/redis_calls"
grep -h "^cluster-2000: $N2 " "$WORK/runs.log" | tail -1 >"$WORK/redis_calls_2000"

echo "## Rate limiting: cost per request"
echo
echo "| configuration | Ir/request (loop included) | added by the limit (Ir) | wall-clock ns/request |"
echo "|---|---:|---:|---:|"
for mode in none local cluster cluster-2000; do
  native="$(timeout 300 "$RATE_LIMIT_BENCH_BIN" "$mode" "$NATIVE_N" "$REDIS_PORT" | sed -n 's/.* \([0-9.]*\) ns\/request.*/\1/p')"
  added=$((PER[$mode] - PER[none]))
  echo "| $mode | ${PER[$mode]} | $added | $native |"
done
echo
echo "- method: the stage's OnRequestHead over 1000 client addresses (100 requests/s per client, burst 100);"
echo "  Ir/request = (I(N2) - I(N1)) / (N2 - N1), N1=$N1, N2=$N2, so start-up and the first touch of each"
echo "  client cancel. cluster: all threads counted (the Redis thread's pipelined EVALs included); under"
echo "  callgrind every client stays under its limit (about 40 requests/s each), so each request spends a"
echo "  leased token; leases are 5 tokens (1/20 s of 100/s): $(cat "$WORK/redis_calls")."
echo "  cluster-2000: 2000/s per client, leases of 100 tokens: the cost with a leased token in hand"
echo "  ($(cat "$WORK/redis_calls_2000"))."
echo "- wall-clock: $NATIVE_N requests natively on this machine (loaded: other work shares the cores); natively"
echo "  the loop outruns 100/s per client, so most cluster requests are refusals from the lease."
