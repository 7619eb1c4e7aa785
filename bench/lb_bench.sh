#!/usr/bin/env bash
# Cost of each load-balancing policy relative to round robin, in one run:
# one sluice-proxy (one worker, pinned to core 0), one Ingress per policy
# (each on its own Service over the same three echo backends), wrk per
# host. The proxy's CPU time per request comes from /proc/PID/stat
# (utime + stime), so backend and load-generator speed do not enter the
# ratio. Each policy run is paired with a round-robin run just before it.
# Prints a table; see bench/README.md.
#
#   bench/lb_bench.sh
#
# Environment (all optional):
#   BENCH_SECONDS=5            wrk duration per policy
#   BENCH_WARMUP_SECONDS=1     wrk warm-up per policy (not measured)
#   BENCH_CONNECTIONS=16       wrk connections
#   BENCH_PORT_BASE=19000      ports BASE+1 .. BASE+8 on 127.0.0.1
#   SLUICE_PROXY_BIN, SLUICE_CONTROLLER_BIN, SLUICE_ECHO_BIN   prebuilt binaries (skip bazel)
#   BENCH_OUTPUT_BASE=/root/.cache/bazel-bench
#   BENCH_MAX_SECONDS=600      bound on the whole run
#   BENCH_KEEP=1               keep the temp dir (manifests, logs)
set -euo pipefail
LOG_TAG=lb_bench
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  -h | --help) bench_help; exit 0 ;;
  "") ;;
  *) echo "usage: $0" >&2; exit 2 ;;
esac

bench_bound_run 600 "$@"

SECONDS_PER_POLICY="${BENCH_SECONDS:-5}"
WARMUP_SECONDS="${BENCH_WARMUP_SECONDS:-1}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
OUTPUT_BASE="${BENCH_OUTPUT_BASE:-/root/.cache/bazel-bench}"
# Below the ephemeral range (32768-60999).
bench_ports 19000 PROXY_PORT=1 ADMIN_PORT=2 GRPC_PORT=3 CONTROLLER_ADMIN_PORT=4
BACKEND_PORTS=($((PORT_BASE + 5)) $((PORT_BASE + 6)) $((PORT_BASE + 7)))
BODY_PATH=/bytes/128

require_tools "apt-get install -y wrk curl" wrk curl taskset timeout awk

bench_make_work /tmp/sluice-lb-bench.XXXXXX
sluice_binaries "$OUTPUT_BASE" opt SLUICE_PROXY_BIN=//dataplane/main:sluice-proxy \
  SLUICE_CONTROLLER_BIN=//controlplane/main:sluice-controller SLUICE_ECHO_BIN=//test/backend:sluice-echo-backend

# Policy rows: name, host, annotations (YAML flow map), extra wrk header.
POLICIES=(
  "round-robin|rr.bench|{sluice.io/load-balance: round-robin}|"
  "least-request|lr.bench|{sluice.io/load-balance: least-request}|"
  "ring-hash (client-ip)|ring.bench|{sluice.io/load-balance: ring-hash, sluice.io/hash-key: client-ip}|"
  "ring-hash (header)|ringh.bench|{sluice.io/load-balance: ring-hash, sluice.io/hash-key: \"header:x-user\"}|X-User: user-42"
  "maglev (header)|maglev.bench|{sluice.io/load-balance: maglev, sluice.io/hash-key: \"header:x-user\"}|X-User: user-42"
  "random|random.bench|{sluice.io/load-balance: random}|"
  "ewma|ewma.bench|{sluice.io/load-balance: ewma}|"
  "rr + affinity (new pin)|sticky.bench|{sluice.io/affinity: cookie}|"
  "rr + affinity (pinned)|sticky.bench|{sluice.io/affinity: cookie}|COOKIE"
  "rr + canary 20%|canary.bench|{}|"
)

mkdir -p "$WORK/manifests"
{
  k8s_ingress_class
  i=0
  for row in "${POLICIES[@]}"; do
    IFS='|' read -r name host annotations header <<<"$row"
    [[ $name == "rr + affinity (pinned)" ]] && continue  # same Ingress as the row before
    svc="svc$i"; i=$((i + 1))
    k8s_service "$svc"
    for n in 0 1 2; do k8s_endpoint_slice "$svc-$n" "$svc" "${BACKEND_PORTS[$n]}"; done
    k8s_ingress "$svc" "$host" "$svc" "$annotations"
    if [[ $host == canary.bench ]]; then
      k8s_ingress "$svc-canary" "$host" svc0 '{sluice.io/canary: "true", sluice.io/canary-weight: "20"}'
    fi
  done
} >"$WORK/manifests/bench.yaml"

for n in 0 1 2; do
  start_bg "$WORK/backend$n.log" taskset -c 1 "$SLUICE_ECHO_BIN" --listen "127.0.0.1:${BACKEND_PORTS[$n]}" --name "b$n"
done
start_bg "$WORK/controller.log" taskset -c 1 "$SLUICE_CONTROLLER_BIN" --manifests "$WORK/manifests" \
  --grpc-listen "127.0.0.1:$GRPC_PORT" --admin-listen "127.0.0.1:$CONTROLLER_ADMIN_PORT"
start_bg "$WORK/proxy.log" taskset -c 0 "$SLUICE_PROXY_BIN" --controller "127.0.0.1:$GRPC_PORT" \
  --http-listen "127.0.0.1:$PROXY_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" --workers 1 --node-id lb-bench
PROXY_PID=$last_pid

ready=0
for _ in $(seq 1 200); do
  if curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null &&
    curl -fs -H "Host: canary.bench" "http://127.0.0.1:$PROXY_PORT$BODY_PATH" >/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
[[ $ready == 1 ]] || { cat "$WORK/proxy.log" "$WORK/controller.log" >&2; die "proxy not ready"; }

# The affinity cookie of the sticky route, for the pinned row.
PIN_COOKIE="$(curl -fsi -H "Host: sticky.bench" "http://127.0.0.1:$PROXY_PORT$BODY_PATH" |
  awk 'tolower($1) == "set-cookie:" { sub(/;.*/, "", $2); print $2 }' | tr -d '\r')"
[[ -n $PIN_COOKIE ]] || die "no affinity cookie from sticky.bench"

# One measured wrk run on a policy row: sets RPS and US (proxy CPU us/request).
measure() {
  local host="$1" header="$2"
  local args=(-t1 -c"$CONNECTIONS" -H "Host: $host")
  [[ $header == COOKIE ]] && header="Cookie: $PIN_COOKIE"
  [[ -n $header ]] && args+=(-H "$header")
  taskset -c 1 wrk "${args[@]}" -d"${WARMUP_SECONDS}s" "http://127.0.0.1:$PROXY_PORT$BODY_PATH" >/dev/null
  local before after out requests errors
  before="$(cpu_ticks "$PROXY_PID")"
  out="$(taskset -c 1 wrk "${args[@]}" -d"${SECONDS_PER_POLICY}s" "http://127.0.0.1:$PROXY_PORT$BODY_PATH")"
  after="$(cpu_ticks "$PROXY_PID")"
  requests="$(awk '/requests in/ { print $1 }' <<<"$out")"
  RPS="$(awk '/Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")"
  errors="$(awk '/Non-2xx|Socket errors/ { print }' <<<"$out")"
  [[ -z $errors ]] || log "$host: $errors"
  US="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
}

# Each policy is measured right after a round-robin run and compared with
# that one: paired runs cancel most of the drift of a shared machine.
printf '%-26s %10s %14s %14s %8s\n' "policy" "req/s" "proxy CPU/req" "RR just before" "vs RR"
printf '%-26s %10s %14s %14s %8s\n' "------" "-----" "-------------" "--------------" "-----"
for row in "${POLICIES[@]}"; do
  IFS='|' read -r name host annotations header <<<"$row"
  measure rr.bench ""
  rr_us="$US"
  if [[ $host == rr.bench ]]; then
    measure rr.bench ""
  else
    measure "$host" "$header"
  fi
  ratio="$(awk -v a="$US" -v b="$rr_us" 'BEGIN { printf "%.2f", a / b }')"
  printf '%-26s %10s %11s us %11s us %8s\n' "$name" "$RPS" "$US" "$rr_us" "$ratio"
done
echo "(one worker on core 0; wrk -c$CONNECTIONS and three echo backends on core 1; ${SECONDS_PER_POLICY}s per row, GET $BODY_PATH)"
run_ok=1
