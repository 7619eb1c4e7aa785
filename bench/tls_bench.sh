#!/usr/bin/env bash
# TLS handshakes per second: sluice-proxy vs nginx vs HAProxy, same machine,
# same OpenSSL, same certificate, one core each: the server pinned to CPU 0,
# the load generator to CPU 1 (taskset).
#
#   bench/tls_bench.sh
#
# Load: `openssl s_time` (the OpenSSL CLI's handshake timer), BENCH_CLIENTS
# processes in parallel on CPU 1: -new makes a full handshake per
# connection, -reuse resumes the first session (TLS 1.3 tickets: s_time
# fetches "GET /" so the ticket is read). Each connection does one HTTP/1.0
# GET answered by the server itself (no backend), so the cost is the
# handshake. The client side of a handshake costs as much CPU as the server
# side (ECDSA verify is dearer than sign), so with one client core the
# handshakes/s column can be client-bound for all three: the honest
# comparison is the server's CPU time per handshake, read from
# /proc/PID/stat (utime+stime of the whole process) before and after.
#
# Environment: BENCH_SECONDS=5 per cell, BENCH_CLIENTS=2, BENCH_PORT_BASE=39400,
#   SLUICE_PROXY_BIN (prebuilt; else built with bazel), BENCH_OUTPUT_BASE.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_PER_CELL="${BENCH_SECONDS:-5}"
CLIENTS="${BENCH_CLIENTS:-2}"
PORT_BASE="${BENCH_PORT_BASE:-39400}"
TMP="$(mktemp -d /tmp/sluice-tls-bench.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n "${BENCH_KEEP:-}" ]] || rm -rf "$TMP"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || MISSING+=("$2"); }
MISSING=()
need nginx nginx-light; need haproxy haproxy; need openssl openssl; need taskset util-linux
if [[ ${#MISSING[@]} -gt 0 ]]; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get install -y -q --no-install-recommends "${MISSING[@]}"
fi

PROXY_BIN="${SLUICE_PROXY_BIN:-}"
if [[ -z "$PROXY_BIN" ]]; then
  (cd "$ROOT" && bazel --output_base="${BENCH_OUTPUT_BASE:-/root/.cache/bazel-tls}" build -c opt //dataplane/main:sluice-proxy >&2)
  PROXY_BIN="$ROOT/bazel-bin/dataplane/main/sluice-proxy"
  [[ -x "$PROXY_BIN" ]] || PROXY_BIN="$(cd "$ROOT" && bazel --output_base="${BENCH_OUTPUT_BASE:-/root/.cache/bazel-tls}" info -c opt bazel-bin 2>/dev/null)/dataplane/main/sluice-proxy"
fi

# Same certificates for everyone.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=bench.test \
  -keyout "$TMP/ecdsa.key" -out "$TMP/ecdsa.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=bench.test \
  -keyout "$TMP/rsa.key" -out "$TMP/rsa.crt" 2>/dev/null
for kind in ecdsa rsa; do cat "$TMP/$kind.crt" "$TMP/$kind.key" > "$TMP/$kind.pem"; done

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "port $1 never opened" >&2; return 1
}

# start_server NAME KIND PORT -> sets SERVER_PID (the process doing the TLS work)
start_server() {
  local name=$1 kind=$2 port=$3
  case "$name" in
    sluice)
      taskset -c 0 "$PROXY_BIN" --controller 127.0.0.1:1 --http-listen 127.0.0.1:$((port + 50)) \
        --https-listen 127.0.0.1:"$port" --admin-listen 127.0.0.1:$((port + 51)) --workers 1 --access-log off \
        --default-certificate "$TMP/$kind.crt" --default-key "$TMP/$kind.key" >"$TMP/sluice-$kind.log" 2>&1 &
      SERVER_PID=$!
      ;;
    nginx)
      mkdir -p "$TMP/nginx-$kind"
      cat >"$TMP/nginx-$kind/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
error_log $TMP/nginx-$kind/error.log;
pid $TMP/nginx-$kind/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $TMP/$kind.crt;
    ssl_certificate_key $TMP/$kind.key;
    location / { return 200 "ok\n"; }
  }
}
CONF
      taskset -c 0 nginx -p "$TMP/nginx-$kind" -c "$TMP/nginx-$kind/nginx.conf" -e "$TMP/nginx-$kind/error.log" &
      SERVER_PID=$!
      ;;
    haproxy)
      cat >"$TMP/haproxy-$kind.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout client 10s
  timeout connect 5s
  timeout server 10s
frontend tls
  bind 127.0.0.1:$port ssl crt $TMP/$kind.pem
  http-request return status 200 content-type text/plain string "ok"
CONF
      taskset -c 0 haproxy -f "$TMP/haproxy-$kind.cfg" -db >"$TMP/haproxy-$kind.log" 2>&1 &
      SERVER_PID=$!
      ;;
  esac
  PIDS+=("$SERVER_PID")
  wait_port "$port"
}

# load PORT MODE -> prints "connections seconds"
load() {
  local port=$1 mode=$2 outputs=()
  for i in $(seq 1 "$CLIENTS"); do
    taskset -c 1 openssl s_time -connect 127.0.0.1:"$port" "-$mode" -time "$SECONDS_PER_CELL" -www / \
      >"$TMP/s_time-$i.out" 2>&1 &
    outputs+=("$!")
  done
  wait "${outputs[@]}" || true
  local total=0
  for i in $(seq 1 "$CLIENTS"); do
    # "1234 connections in 5.01s; 246.3 connections/user sec, bytes read 0"
    local n
    n=$(grep -Eo '^[0-9]+ connections in [0-9.]+s' "$TMP/s_time-$i.out" | tail -1 | awk '{print $1}')
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

printf '%-8s %-6s %-7s %12s %16s\n' server cert mode "handshakes/s" "server µs/hs"
declare -A RATE CPU
port=$PORT_BASE
for kind in ecdsa rsa; do
  for name in sluice nginx haproxy; do
    port=$((port + 1))
    start_server "$name" "$kind" "$port"
    load "$port" new >/dev/null  # warm-up, not measured (1 client, short)
    for mode in new reuse; do
      before=$(cpu_ticks "$SERVER_PID")
      count=$(load "$port" "$mode")
      after=$(cpu_ticks "$SERVER_PID")
      rate=$(awk -v n="$count" -v s="$SECONDS_PER_CELL" 'BEGIN { printf "%.0f", n / s }')
      us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$count" 'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "-" }')
      RATE[$name-$kind-$mode]=$rate
      CPU[$name-$kind-$mode]=$us
      printf '%-8s %-6s %-7s %12s %16s\n' "$name" "$kind" "$mode" "$rate" "$us"
    done
    if [[ $name == sluice ]]; then
      resumed=$(curl -s "http://127.0.0.1:$((port + 51))/metrics" | awk '/^sluice_tls_resumed_handshakes_total/ {print $2}')
      total=$(curl -s "http://127.0.0.1:$((port + 51))/metrics" | awk '/^sluice_tls_handshakes_total/ {print $2}')
      echo "         (sluice /metrics: $total handshakes, $resumed resumed)"
    fi
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  done
done

echo
echo "ratio sluice/nginx (handshakes/s; server CPU per handshake, lower is better):"
for kind in ecdsa rsa; do
  for mode in new reuse; do
    awk -v a="${RATE[sluice-$kind-$mode]}" -v b="${RATE[nginx-$kind-$mode]}" -v c="${CPU[sluice-$kind-$mode]}" \
      -v d="${CPU[nginx-$kind-$mode]}" -v k="$kind" -v m="$mode" \
      'BEGIN { printf "  %-6s %-6s rate %.2f   cpu/hs %.2f\n", k, m, (b > 0 ? a / b : 0), (d > 0 ? c / d : 0) }'
  done
done
