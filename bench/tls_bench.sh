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
#   SLUICE_PROXY_BIN (prebuilt; else built with bazel -c opt),
#   BENCH_OUTPUT_BASE=/root/.cache/bazel-tls, BENCH_KEEP=1 keeps the temp dir.
#   BENCH_SERVER_CPU=50 caps each server at that percentage of one core (a
#   CPU cgroup, lib.sh's cpu_cap_*): the server, not the s_time clients,
#   becomes the bottleneck, so handshakes/s compares the servers' capacity.
set -euo pipefail
LOG_TAG=tls_bench
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ "${1:-}" == callgrind ]] && BENCH_CALLGRIND=1
SECONDS_PER_CELL="${BENCH_SECONDS:-5}"
CLIENTS="${BENCH_CLIENTS:-2}"
bench_make_work /tmp/sluice-tls-bench.XXXXXX
SERVER_CPU="${BENCH_SERVER_CPU:-}"
[[ -n $SERVER_CPU && -n "${BENCH_CALLGRIND:-}" ]] && die "BENCH_SERVER_CPU is for the timed table, not callgrind"
[[ -n $SERVER_CPU ]] && cpu_cap_init "$SERVER_CPU" BENCH_SERVER_CPU

tools=(nginx=nginx-light python3=python3 haproxy=haproxy openssl=openssl taskset=util-linux)
[[ -n "${BENCH_CALLGRIND:-}" ]] && tools+=(valgrind=valgrind)
install_missing "${tools[@]}"

sluice_binaries "${BENCH_OUTPUT_BASE:-/root/.cache/bazel-tls}" opt SLUICE_PROXY_BIN=//dataplane/main:sluice-proxy

# Same certificates for everyone.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=bench.test \
  -keyout "$WORK/ecdsa.key" -out "$WORK/ecdsa.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=bench.test \
  -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" 2>/dev/null
for kind in ecdsa rsa; do cat "$WORK/$kind.crt" "$WORK/$kind.key" > "$WORK/$kind.pem"; done

# sluice's TLS 1.2 list (dataplane/tls/server_config.cc); TLS 1.3 suites are OpenSSL's default everywhere.
TLS12_CIPHERS="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

# A port nobody listens on now (the kernel's pick for port 0).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Servers run under WRAP (valgrind in callgrind mode), which starts slowly.
WRAP=()

# start_server NAME KIND PORT -> sets SERVER_PID (the process doing the TLS work)
start_server() {
  local name=$1 kind=$2 port=$3
  case "$name" in
    sluice)
      SLUICE_ADMIN_PORT=$(free_port)
      start_bg "$WORK/sluice-$kind.log" taskset -c 0 "${WRAP[@]}" "$SLUICE_PROXY_BIN" --controller 127.0.0.1:1 \
        --http-listen 127.0.0.1:"$(free_port)" --https-listen 127.0.0.1:"$port" \
        --admin-listen 127.0.0.1:"$SLUICE_ADMIN_PORT" --workers 1 --access-log off \
        --default-certificate "$WORK/$kind.crt" --default-key "$WORK/$kind.key"
      ;;
    nginx)
      mkdir -p "$WORK/nginx-$kind"
      cat >"$WORK/nginx-$kind/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
error_log $WORK/nginx-$kind/error.log;
pid $WORK/nginx-$kind/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $WORK/$kind.crt;
    ssl_certificate_key $WORK/$kind.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers $TLS12_CIPHERS;
    location / { return 200 "ok\n"; }
  }
}
CONF
      start_bg "$WORK/nginx-$kind/stdout.log" taskset -c 0 "${WRAP[@]}" nginx -p "$WORK/nginx-$kind" \
        -c "$WORK/nginx-$kind/nginx.conf" -e "$WORK/nginx-$kind/error.log"
      ;;
    haproxy)
      cat >"$WORK/haproxy-$kind.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout client 10s
  timeout connect 5s
  timeout server 10s
frontend tls
  bind 127.0.0.1:$port ssl crt $WORK/$kind.pem ssl-min-ver TLSv1.2 ciphers $TLS12_CIPHERS
  http-request return status 200 content-type text/plain string "ok"
CONF
      start_bg "$WORK/haproxy-$kind.log" taskset -c 0 "${WRAP[@]}" haproxy -f "$WORK/haproxy-$kind.cfg" -db
      ;;
  esac
  SERVER_PID=$last_pid
  wait_port "$port" 30 || die "port $port never opened"
  [[ -z $SERVER_CPU ]] || cpu_cap_add "$SERVER_PID"
}

# negotiated PORT -> "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519 tickets 1+1": what
# an OpenSSL client gets (as s_time does: default client settings, no SNI),
# and how many NewSessionTicket messages follow a full / a resumed handshake.
negotiated() {
  local port=$1 full resumed
  full=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:"$port" -ign_eof -msg \
    -sess_out "$WORK/session-$port.pem" 2>&1 || true)
  resumed=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:"$port" -ign_eof -msg \
    -sess_in "$WORK/session-$port.pem" 2>&1 || true)
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
      >"$WORK/s_time-$i.out" 2>&1 &
    outputs+=("$!")
  done
  wait "${outputs[@]}" || true
  local total=0
  for i in $(seq 1 "$CLIENTS"); do
    # "1234 connections in 5.01s; 246.3 connections/user sec, bytes read 0"
    local n
    n=$(grep -Eo '^[0-9]+ connections in [0-9.]+s' "$WORK/s_time-$i.out" | tail -1 | awk '{print $1}')
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

if [[ -n "${BENCH_CALLGRIND:-}" ]]; then
  # N handshakes, each with one "GET /" read to the end (TLS 1.3 tickets
  # arrive after the handshake); reuse: every connection offers the session
  # of the first (as s_time -reuse does).
  cat >"$WORK/handshakes.py" <<'PY'
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
  # shellcheck disable=SC2317  # called by callgrind_count
  handshakes() {  # handshakes PORT MODE N: the count of resumed ones goes to $WORK/resumed.txt
    python3 "$WORK/handshakes.py" "$@" >"$WORK/resumed.txt" || die "handshakes.py $* failed"
  }
  printf '%-8s %-6s %-7s %18s %9s\n' server cert mode "instructions/hs" resumed
  for kind in ecdsa rsa; do
    for name in sluice nginx; do
      port=$(free_port)
      WRAP=(valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$WORK/callgrind.$name-$kind.%p")
      start_server "$name" "$kind" "$port"
      echo "         $name/$kind negotiated: $(negotiated "$port")"
      python3 "$WORK/handshakes.py" "$port" new 10 >/dev/null
      python3 "$WORK/handshakes.py" "$port" reuse 10 >/dev/null
      for mode in new reuse; do
        one=$(callgrind_count "$SERVER_PID" "$WORK/callgrind.$name-$kind" handshakes "$port" "$mode" "$N")
        two=$(callgrind_count "$SERVER_PID" "$WORK/callgrind.$name-$kind" handshakes "$port" "$mode" $((2 * N)))
        resumed=$(cat "$WORK/resumed.txt")
        printf '%-8s %-6s %-7s %18s %9s\n' "$name" "$kind" "$mode" $(((two - one) / N)) "$resumed/$((2 * N))"
      done
      forget_pid "$SERVER_PID"
    done
  done
  run_ok=1
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
    forget_pid "$SERVER_PID"
  done
done

echo
[[ -z $SERVER_CPU ]] || echo "each server capped at ${SERVER_CPU}% of one core (CPU cgroup): handshakes/s is the server's capacity"
echo "ratio sluice/nginx (handshakes/s; server CPU per handshake, lower is better):"
for kind in ecdsa rsa; do
  for mode in new reuse; do
    awk -v a="${RATE[sluice-$kind-$mode]}" -v b="${RATE[nginx-$kind-$mode]}" -v c="${CPU[sluice-$kind-$mode]}" \
      -v d="${CPU[nginx-$kind-$mode]}" -v k="$kind" -v m="$mode" \
      'BEGIN { printf "  %-6s %-6s rate %.2f   cpu/hs %.2f\n", k, m, (b > 0 ? a / b : 0), (d > 0 ? c / d : 0) }'
  done
done
run_ok=1
