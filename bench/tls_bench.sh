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
# Like for like: every server offers TLS 1.2 and 1.3 (nginx 1.22's default
# ssl_protocols stops at TLS 1.2, whose ticket resumption skips the ECDHE
# that a TLS 1.3 resumption does, so nginx is configured explicitly), and
# the line under each server shows what s_time actually gets from it:
# version, cipher, key-exchange group, and the session tickets sent after
# a full and after a resumed handshake.
#
# `bench/tls_bench.sh callgrind` (or BENCH_CALLGRIND=1): instead of the
# timed table, instructions per handshake for sluice and nginx (server
# under valgrind --tool=callgrind, counters
# zeroed after a warm-up, N then 2N handshakes from one Python client, each
# with one GET; per handshake = (I(2N) - I(N)) / N over the whole process).
# Instruction counts do not move with the load other jobs put on the
# machine, so they are what to compare on a busy box. BENCH_HANDSHAKES=N (100).
#
# Ports are picked free at run time (the fixed ones used to collide with
# the ephemeral ports of the load's own connections).
#
# Environment: BENCH_SECONDS=5 per cell, BENCH_CLIENTS=2,
#   SLUICE_PROXY_BIN (prebuilt; else built with bazel), BENCH_OUTPUT_BASE.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
[[ "${1:-}" == callgrind ]] && BENCH_CALLGRIND=1
SECONDS_PER_CELL="${BENCH_SECONDS:-5}"
CLIENTS="${BENCH_CLIENTS:-2}"
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
need nginx nginx-light; need python3 python3; need haproxy haproxy; need openssl openssl; need taskset util-linux
[[ -n "${BENCH_CALLGRIND:-}" ]] && { need valgrind valgrind; }
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

# sluice's TLS 1.2 list (dataplane/tls/server_config.cc); TLS 1.3 suites are OpenSSL's default everywhere.
TLS12_CIPHERS="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

CLK_TCK=$(getconf CLK_TCK)

# A port nobody listens on now (the kernel's pick for port 0).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Servers run under WRAP (valgrind in callgrind mode), which starts slowly.
WRAP=()
wait_port() {
  for _ in $(seq 1 600); do
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
      SLUICE_ADMIN_PORT=$(free_port)
      taskset -c 0 "${WRAP[@]}" "$PROXY_BIN" --controller 127.0.0.1:1 --http-listen 127.0.0.1:"$(free_port)" \
        --https-listen 127.0.0.1:"$port" --admin-listen 127.0.0.1:"$SLUICE_ADMIN_PORT" --workers 1 --access-log off \
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
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers $TLS12_CIPHERS;
    location / { return 200 "ok\n"; }
  }
}
CONF
      taskset -c 0 "${WRAP[@]}" nginx -p "$TMP/nginx-$kind" -c "$TMP/nginx-$kind/nginx.conf" -e "$TMP/nginx-$kind/error.log" &
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
  bind 127.0.0.1:$port ssl crt $TMP/$kind.pem ssl-min-ver TLSv1.2 ciphers $TLS12_CIPHERS
  http-request return status 200 content-type text/plain string "ok"
CONF
      taskset -c 0 "${WRAP[@]}" haproxy -f "$TMP/haproxy-$kind.cfg" -db >"$TMP/haproxy-$kind.log" 2>&1 &
      SERVER_PID=$!
      ;;
  esac
  PIDS+=("$SERVER_PID")
  wait_port "$port"
}

# negotiated PORT -> "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519 tickets 1+1": what
# an OpenSSL client gets (as s_time does: default client settings, no SNI),
# and how many NewSessionTicket messages follow a full / a resumed handshake.
negotiated() {
  local port=$1 full resumed
  full=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:"$port" -ign_eof -msg \
    -sess_out "$TMP/session-$port.pem" 2>&1 || true)
  resumed=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:"$port" -ign_eof -msg \
    -sess_in "$TMP/session-$port.pem" 2>&1 || true)
  local version cipher group
  version=$(grep -Eo '^New, [^,]+' <<<"$full" | head -1 | cut -d' ' -f2)
  cipher=$(grep -Eo 'Cipher is [^ ]+' <<<"$full" | head -1 | cut -d' ' -f3)
  group=$(grep -Eo 'Server Temp Key: [^,]+' <<<"$full" | head -1 | cut -d' ' -f4)
  local reused="not-resumed"
  grep -q '^Reused,' <<<"$resumed" && reused="resumed"
  echo "$version $cipher ${group:-?} tickets $(grep -c '<<< .*NewSessionTicket' <<<"$full")+$(grep -c '<<< .*NewSessionTicket' <<<"$resumed") ($reused)"
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

if [[ -n "${BENCH_CALLGRIND:-}" ]]; then
  # N handshakes, each with one "GET /" read to the end (TLS 1.3 tickets
  # arrive after the handshake); reuse: every connection offers the session
  # of the first (as s_time -reuse does).
  cat >"$TMP/handshakes.py" <<'PY'
import socket, ssl, sys
port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
session, resumed = None, 0
for _ in range(n):
    with socket.create_connection(("127.0.0.1", port), timeout=60) as raw:
        with ctx.wrap_socket(raw, session=session) as tls:
            tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
            while tls.recv(65536):
                pass
            resumed += tls.session_reused
            if mode == "reuse" and session is None:
                session = tls.session
print(resumed)
PY
  N="${BENCH_HANDSHAKES:-100}"
  instructions() {  # dump the counters of SERVER_PID, print the total
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    sleep 1
    grep -hE '^(summary|totals):' "$(ls -t "$TMP"/callgrind.* | head -1)" | head -1 | awk '{print $2}'
  }
  printf '%-8s %-6s %-7s %18s %9s\n' server cert mode "instructions/hs" resumed
  for kind in ecdsa rsa; do
    for name in sluice nginx; do
      port=$(free_port)
      WRAP=(valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$TMP/callgrind.$name-$kind.%p")
      start_server "$name" "$kind" "$port" 2>"$TMP/valgrind-$name-$kind.log"
      echo "         $name/$kind negotiated: $(negotiated "$port")"
      python3 "$TMP/handshakes.py" "$port" new 10 >/dev/null
      python3 "$TMP/handshakes.py" "$port" reuse 10 >/dev/null
      for mode in new reuse; do
        callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
        python3 "$TMP/handshakes.py" "$port" "$mode" "$N" >/dev/null
        one=$(instructions)
        callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
        resumed=$(python3 "$TMP/handshakes.py" "$port" "$mode" $((2 * N)))
        two=$(instructions)
        printf '%-8s %-6s %-7s %18s %9s\n' "$name" "$kind" "$mode" $(((two - one) / N)) "$resumed/$((2 * N))"
      done
      kill "$SERVER_PID" 2>/dev/null || true
      wait "$SERVER_PID" 2>/dev/null || true
    done
  done
  exit 0
fi

printf '%-8s %-6s %-7s %12s %16s\n' server cert mode "handshakes/s" "server µs/hs"
declare -A RATE CPU
for kind in ecdsa rsa; do
  for name in sluice nginx haproxy; do
    port=$(free_port)
    start_server "$name" "$kind" "$port"
    echo "         $name/$kind negotiated: $(negotiated "$port")"
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
      resumed=$(curl -s "http://127.0.0.1:$SLUICE_ADMIN_PORT/metrics" | awk '/^sluice_tls_resumed_handshakes_total/ {print $2}')
      total=$(curl -s "http://127.0.0.1:$SLUICE_ADMIN_PORT/metrics" | awk '/^sluice_tls_handshakes_total/ {print $2}')
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
