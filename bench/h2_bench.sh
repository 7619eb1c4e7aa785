#!/usr/bin/env bash
# Side-by-side HTTP/2 benchmark: sluice-proxy vs nginx vs h2o vs nghttpx, all
# proxying h2 clients to the same nginx origin (a 1 KiB file over HTTP/1.1
# keep-alive), all on 127.0.0.1. Each proxy runs one worker pinned to core 0;
# h2load (-c 64 -m 10) runs on core 1.
#
#   bench/h2_bench.sh            h2c rows (cleartext, prior knowledge), and TLS
#                                (ALPN h2) rows when BENCH_TLS=1
#   bench/h2_bench.sh callgrind  instructions per proxied h2c request (valgrind),
#                                sluice vs nginx vs h2o; exact counts, whatever
#                                the machine's load
#
# Environment (all optional):
#   BENCH_SECONDS=10        h2load duration per row (-D), after a 1 s warm-up
#   BENCH_CLIENTS=64 BENCH_STREAMS=10   h2load -c / -m
#   BENCH_PROXIES="sluice nginx h2o nghttpx"
#   BENCH_TLS=0             1: also the TLS rows (self-signed certificate)
#   BENCH_ROUNDS=3          runs per proxy and mode, interleaved across the
#                           proxies; the table shows medians
#   BENCH_PORT_BASE=21000   ports BASE+1 .. BASE+20 on 127.0.0.1
#   SLUICE_PROXY_BIN, SLUICE_CONTROLLER_BIN   prebuilt binaries (skip bazel)
#   BENCH_OUTPUT_BASE=/root/.cache/bazel-bench
#   BENCH_KEEP=1            keep the temp dir (configs, logs)
#   BENCH_MAX_SECONDS=1200  bound on the whole run
#   BENCH_PROXY_CPU=        a percentage of one core (e.g. 40): each proxy runs
#                           in a CPU cgroup capped at that share (CFS quota,
#                           10 ms period), so that the proxy, not h2load and the
#                           origin on the other core, is the bottleneck and
#                           requests/s measures the proxy's own efficiency
#   callgrind mode: BENCH_CALLGRIND_N1=500 BENCH_CALLGRIND_N2=2500
#     BENCH_CALLGRIND_WARMUP=200 BENCH_PROXIES="sluice nginx h2o"
#     BENCH_PROFILE_DIR=/tmp/sluice-h2bench-profiles (profiles kept here)
# Reports requests/s, mean and max latency, and proxy CPU time per request
# (utime+stime from /proc/PID/stat, all processes of the proxy) and syscalls
# per request, the CPU time per request of h2load and of the origin (the
# other core, which usually saturates first on 2 cores), each the median over
# BENCH_ROUNDS interleaved runs, then the
# ratios sluice/other of the medians (requests/s and CPU per request).
set -euo pipefail
LOG_TAG=h2bench
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE="${1:-throughput}"
case "$MODE" in
  throughput | callgrind) ;;
  *) echo "usage: $0 [throughput|callgrind]" >&2; exit 2 ;;
esac

bench_bound_run 1200 "$@"

DURATION="${BENCH_SECONDS:-10}"
CLIENTS="${BENCH_CLIENTS:-64}"
STREAMS="${BENCH_STREAMS:-10}"
PROXIES="${BENCH_PROXIES:-sluice nginx h2o nghttpx}"
[[ $MODE == callgrind ]] && PROXIES="${BENCH_PROXIES:-sluice nginx h2o}"
CG_WARMUP="${BENCH_CALLGRIND_WARMUP:-200}"
CG_N1="${BENCH_CALLGRIND_N1:-500}"
CG_N2="${BENCH_CALLGRIND_N2:-2500}"
# How a proxy is started: pinned to core 0, and in callgrind mode under
# valgrind (set per proxy by run_callgrind, for its own output file).
PROXY_PREFIX=(taskset -c 0)
TLS="${BENCH_TLS:-0}"
OUTPUT_BASE="${BENCH_OUTPUT_BASE:-/root/.cache/bazel-bench}"
bench_ports 21000 ORIGIN_PORT=1 CONTROLLER_PORT=2 SLUICE_ADMIN_PORT=3
HOST="bench.local"

bench_make_work /tmp/sluice-h2bench.XXXXXX
install_missing h2load=nghttp2-client nghttpx=nghttp2-proxy h2o=h2o nginx=nginx-light
sluice_binaries "$OUTPUT_BASE" opt SLUICE_PROXY_BIN=//dataplane/main:sluice-proxy \
  SLUICE_CONTROLLER_BIN=//controlplane/main:sluice-controller

# ------------------------------------------------------------- origin -------
mkdir -p "$WORK/www" "$WORK/tmp"
head -c 1024 /dev/zero | tr '\0' 'a' >"$WORK/www/1k"
TEMPS="client_body_temp_path $WORK/tmp/b; proxy_temp_path $WORK/tmp/p; fastcgi_temp_path $WORK/tmp/f;
       uwsgi_temp_path $WORK/tmp/u; scgi_temp_path $WORK/tmp/s;"
cat >"$WORK/origin.conf" <<EOF
daemon off; master_process off; worker_processes 1; pid $WORK/origin.pid; error_log $WORK/origin.err;
events { worker_connections 4096; }
http { access_log off; $TEMPS keepalive_requests 100000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:$ORIGIN_PORT; root $WORK/www; } }
EOF
start_bg "$WORK/origin.log" taskset -c 1 nginx -c "$WORK/origin.conf" -p "$WORK"
origin_pid=$last_pid
wait_port "$ORIGIN_PORT" || die "origin did not start"

if [[ $TLS == 1 ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" -days 2 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
fi

# ------------------------------------------------------------- proxies ------
# Each start_X PORT TLSFLAG sets proxy_pid.
start_sluice() {
  local port="$1" tls="$2" listen
  mkdir -p "$WORK/manifests"
  { k8s_ingress_class; k8s_service origin; k8s_endpoint_slice origin-1 origin "$ORIGIN_PORT"
    k8s_ingress bench "$HOST" origin; } >"$WORK/manifests/bench.yaml"
  if [[ -z "${controller_started:-}" ]]; then
    start_bg "$WORK/controller.log" taskset -c 1 "$SLUICE_CONTROLLER_BIN" --manifests "$WORK/manifests" \
      --grpc-listen "127.0.0.1:$CONTROLLER_PORT" --admin-listen "127.0.0.1:$((PORT_BASE + 4))"
    controller_started=1
  fi
  if [[ $tls == 1 ]]; then
    listen=(--http-listen "127.0.0.1:$((PORT_BASE + 19))" --https-listen "127.0.0.1:$port"
            --default-certificate "$WORK/cert.pem" --default-key "$WORK/key.pem")
  else
    listen=(--http-listen "127.0.0.1:$port")
  fi
  start_bg "$WORK/sluice-$port.log" "${PROXY_PREFIX[@]}" "$SLUICE_PROXY_BIN" --controller "127.0.0.1:$CONTROLLER_PORT" \
    "${listen[@]}" --admin-listen "127.0.0.1:$SLUICE_ADMIN_PORT" --workers 1 --access-log off
  proxy_pid=$last_pid
  wait_url "http://127.0.0.1:$SLUICE_ADMIN_PORT/readyz" 60 || die "sluice not ready (see $WORK/sluice-$port.log)"
}

start_nginx() {
  local port="$1" tls="$2" listen="listen 127.0.0.1:$port http2;"
  [[ $tls == 1 ]] && listen="listen 127.0.0.1:$port ssl http2; ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;"
  cat >"$WORK/nginx-$port.conf" <<EOF
daemon off; master_process off; worker_processes 1; pid $WORK/nginx-$port.pid; error_log $WORK/nginx-$port.err;
events { worker_connections 4096; }
http { access_log off; $TEMPS http2_max_concurrent_streams 128; keepalive_requests 100000000;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
  server { $listen location / { proxy_pass http://origin; proxy_http_version 1.1;
    proxy_set_header Connection ""; proxy_set_header Host \$host; } } }
EOF
  start_bg "$WORK/nginx-$port.log" "${PROXY_PREFIX[@]}" nginx -c "$WORK/nginx-$port.conf" -p "$WORK"
  proxy_pid=$last_pid
}

start_h2o() {
  local port="$1" tls="$2" ssl=""
  [[ $tls == 1 ]] && ssl="
  ssl:
    certificate-file: $WORK/cert.pem
    key-file: $WORK/key.pem"
  cat >"$WORK/h2o-$port.conf" <<EOF
num-threads: 1
$( [[ $(id -u) == 0 ]] && echo "user: root" )
error-log: $WORK/h2o-$port.err
listen:
  host: 127.0.0.1
  port: $port$ssl
hosts:
  "$HOST":
    paths:
      "/":
        proxy.reverse.url: http://127.0.0.1:$ORIGIN_PORT/
EOF
  start_bg "$WORK/h2o-$port.log" "${PROXY_PREFIX[@]}" h2o -c "$WORK/h2o-$port.conf"
  proxy_pid=$last_pid
}

start_nghttpx() {
  local port="$1" tls="$2" front="127.0.0.1,$port;no-tls" keys=()
  [[ $tls == 1 ]] && { front="127.0.0.1,$port"; keys=("$WORK/key.pem" "$WORK/cert.pem"); }
  start_bg "$WORK/nghttpx-$port.log" "${PROXY_PREFIX[@]}" nghttpx --conf=/dev/null --frontend="$front" \
    --backend="127.0.0.1,$ORIGIN_PORT" --workers=1 --no-ocsp --pid-file="$WORK/nghttpx-$port.pid" \
    --errorlog-file="$WORK/nghttpx-$port.err" "${keys[@]}"
  proxy_pid=$last_pid
}

# ---------------------------------------------------------- callgrind -------
# h2load_count URL N: N requests (8 new connections, 10 streams each), all 2xx.
h2load_count() {
  local url="$1" n="$2"
  timeout 600 taskset -c 1 h2load -c 8 -m 10 -t 1 --header=":authority: $HOST" -n "$n" "$url" \
    >"$WORK/count.txt" 2>&1 || die "h2load failed: $(tail -3 "$WORK/count.txt")"
  grep -q "status codes: $n 2xx" "$WORK/count.txt" || die "not all $n requests succeeded: $(grep -E '^(requests|status)' "$WORK/count.txt")"
}

# count_window PID OUT URL N: instructions of PID for N requests.
count_window() { callgrind_count "$1" "$2" h2load_count "$3" "$4"; }

mode_callgrind() {
  command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
    die "valgrind not found: apt-get install -y valgrind"
  local port=$((PORT_BASE + 10)) proxy out url i1 i2 i3 i4 per1 per2 results="$WORK/results.tsv"
  : >"$results"
  for proxy in $PROXIES; do
    port=$((port + 1))
    out="$WORK/callgrind.$proxy"
    log "starting $proxy under callgrind"
    PROXY_PREFIX=(taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no
                  --dump-line=no --compress-strings=no --compress-pos=no --vgdb=yes)
    "start_$proxy" "$port" 0
    wait_port "$port" || { sleep 5; wait_port "$port"; } || die "$proxy did not start (see $WORK)"
    url="http://127.0.0.1:$port/1k"
    timeout 600 taskset -c 1 h2load -c 8 -m 10 -t 1 --header=":authority: $HOST" -n "$CG_WARMUP" "$url" \
      >"$WORK/warm-$proxy.txt" 2>&1 || die "warm-up of $proxy failed"
    i1="$(count_window "$proxy_pid" "$out" "$url" "$CG_N1")"
    i2="$(count_window "$proxy_pid" "$out" "$url" "$CG_N2")"
    i3="$(count_window "$proxy_pid" "$out" "$url" "$CG_N1")"
    i4="$(count_window "$proxy_pid" "$out" "$url" "$CG_N2")"
    per1="$(callgrind_per_request "$i1" "$i2" "$CG_N1" "$CG_N2")"
    per2="$(callgrind_per_request "$i3" "$i4" "$CG_N1" "$CG_N2")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$proxy" "$i1" "$i2" "$i3" "$i4" "$per1" "$per2" >>"$results"
    log "$proxy: I($CG_N1)=$i1 I($CG_N2)=$i2 -> $per1 Ir/request; again: $i3 $i4 -> $per2"
    # Frames already on the stack when the counters were zeroed carry
    # "calls=0", which callgrind_annotate books as self cost: say 1 call.
    sed 's/^calls=0 /calls=1 /' "$(callgrind_latest_dump "$out")" >"$WORK/profile.$proxy.callgrind"
    forget_pid "$proxy_pid"
  done
  echo "- h2c, 1 KiB body from an nginx origin over HTTP/1.1 keep-alive; each proxy one worker under callgrind"
  echo "- after $CG_WARMUP warm-up requests, 'callgrind_control -z', then h2load -c 8 -m 10 -n N, 'callgrind_control -d'"
  echo "- Ir/request = (I(N2) - I(N1)) / (N2 - N1), N1=$CG_N1, N2=$CG_N2: connection setup cancels; measured twice"
  echo
  echo "| proxy | I(N1) | I(N2) | Ir/request | I(N1) again | I(N2) again | Ir/request again |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $6, $4, $5, $7 }' "$results"
  awk -F'\t' '{ per[$1] = ($6 + $7) / 2 } END { for (p in per) if (p != "sluice" && per[p] > 0)
    printf "sluice/%s instructions per request: %.2f (%.0f vs %.0f)\n", p, per["sluice"] / per[p], per["sluice"], per[p] }' "$results"
  local keep="${BENCH_PROFILE_DIR:-/tmp/sluice-h2bench-profiles}" name
  mkdir -p "$keep"
  cp "$WORK"/profile.*.callgrind "$keep/"
  for name in $PROXIES; do
    echo
    echo "### $name: top 25 functions by self cost, last $CG_N2-request window ($keep/profile.$name.callgrind)"
    echo '```'
    callgrind_annotate --threshold=100 --auto=no "$keep/profile.$name.callgrind" 2>/dev/null |
      python3 "$ROOT/bench/top_functions.py" "$CG_N2" 25 | cut -c1-200
    echo '```'
  done
}

if [[ $MODE == callgrind ]]; then
  mode_callgrind
  run_ok=1
  exit 0
fi

# --------------------------------------------------------------- runs -------
# The machine is shared and one 10 s run of one proxy is noisy, so each proxy
# runs BENCH_ROUNDS times, interleaved (sluice, nginx, h2o, ..., sluice, ...)
# so that a slow phase of the machine hits every proxy alike; the table
# reports the median of each column per proxy and mode, and the ratios are
# taken between medians. Each proxy and mode keeps its port across rounds.
runs="$WORK/runs.tsv"  # proxy mode round rps mean max cpu_us syscalls_per_req ok%
: >"$runs"
modes=(h2c)
[[ $TLS == 1 ]] && modes+=(h2)
# run_one PROXY MODE ROUND PORT: one warmed-up h2load run; appends a row to $runs.
# The CPU cap (BENCH_PROXY_CPU, lib.sh's cpu_cap_*): each proxy's processes
# and threads join one capped cgroup once started.
PROXY_CPU="${BENCH_PROXY_CPU:-}"
[[ -n $PROXY_CPU ]] && cpu_cap_init "$PROXY_CPU" BENCH_PROXY_CPU

run_one() {
  local proxy="$1" mode="$2" round="$3" port="$4" tls=0 scheme=http url before after perf_pid pids syscalls
  local out rps done_n ok_n mean max cpu_us sys_per_req okp
  [[ $mode == h2 ]] && { tls=1; scheme=https; }
  "start_$proxy" "$port" "$tls"
  wait_port "$port" || die "$proxy did not start (see $WORK)"
  [[ -n $PROXY_CPU ]] && cpu_cap_add "$proxy_pid"
  url="$scheme://127.0.0.1:$port/1k"
  h2args=(-c "$CLIENTS" -m "$STREAMS" -t 1 --header=":authority: $HOST")
  taskset -c 1 h2load "${h2args[@]}" -n 2000 "$url" >"$WORK/warm-$proxy-$mode-$round.txt" 2>&1 || true
  before=$(cpu_ticks "$proxy_pid")
  origin_before=$(cpu_ticks "$origin_pid")
  perf_pid=""
  if command -v perf >/dev/null; then  # syscalls made by the proxy: the kernel side of its cost
    pids=$(pid_and_children "$proxy_pid" | tr ' ' ',')
    perf stat -x, -e raw_syscalls:sys_enter -p "$pids" -o "$WORK/perf-$proxy-$mode-$round.txt" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  out="$WORK/run-$proxy-$mode-$round.txt"
  # The load's own CPU time (h2load's user+sys, from the shell's `times`) and
  # the origin's: what each proxy costs the other core, where the bottleneck
  # of this 2-core machine usually is.
  load_seconds=$( (taskset -c 1 h2load "${h2args[@]}" -D "$DURATION" "$url" >"$out" 2>&1 || true; times) |
    awk 'NR == 2 { n = split($0, t, " "); s = 0; for (i = 1; i <= n; i++) { split(t[i], p, "m"); s += p[1] * 60 + p[2] } print s }')
  after=$(cpu_ticks "$proxy_pid")
  origin_after=$(cpu_ticks "$origin_pid")
  syscalls=""
  if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    syscalls=$(awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$WORK/perf-$proxy-$mode-$round.txt" 2>/dev/null)
  fi
  rps=$(awk '/^finished in/ {print $4}' "$out")
  done_n=$(awk '/^requests:/ {print $8}' "$out")
  ok_n=$(awk '/^status codes:/ {print $3}' "$out")
  # h2load prints times with a unit (850us, 12.5ms, 1.2s): keep milliseconds.
  mean=$(awk -v f=6 "$to_ms" "$out")
  max=$(awk -v f=5 "$to_ms" "$out")
  cpu_us="-"; sys_per_req="-"; okp=0; load_us="-"; origin_us="-"
  if [[ -n $done_n && $done_n -gt 0 ]]; then
    cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$done_n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    origin_us=$(awk -v t=$((origin_after - origin_before)) -v hz="$CLK_TCK" -v n="$done_n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    [[ -n $load_seconds ]] && load_us=$(awk -v t="$load_seconds" -v n="$done_n" 'BEGIN { printf "%.1f", t * 1e6 / n }')
    okp=$(awk -v a="${ok_n:-0}" -v n="$done_n" 'BEGIN { printf "%.1f", 100 * a / n }')
    [[ $syscalls =~ ^[0-9]+$ ]] && sys_per_req=$(awk -v s="$syscalls" -v n="$done_n" 'BEGIN { printf "%.2f", s / n }')
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$proxy" "$mode" "$round" "${rps:-0}" "${mean:--}" "${max:--}" \
    "$cpu_us" "$sys_per_req" "$okp" "$load_us" "$origin_us" >>"$runs"
  log "$mode round $round: $proxy ${rps:-?} req/s, $cpu_us us CPU/request"
  forget_pid "$proxy_pid"
}
to_ms='/^time for request:/ { v = $f; u = v; sub(/^[0-9.]+/, "", u); v += 0
  printf "%.3f", (u == "us" ? v / 1000 : u == "s" ? v * 1000 : v) }'
ROUNDS="${BENCH_ROUNDS:-3}"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
for mode in "${modes[@]}"; do
  for ((round = 1; round <= ROUNDS; round++)); do
    port=$((PORT_BASE + 10))
    [[ $mode == h2 ]] && port=$((PORT_BASE + 14))
    for proxy in $PROXIES; do
      port=$((port + 1))
      run_one "$proxy" "$mode" "$round" "$port"
    done
  done
done
echo "- h2load -c $CLIENTS -m $STREAMS -D $DURATION, 1 KiB from an nginx origin; $ROUNDS rounds interleaved; medians per proxy and mode"
[[ -n $PROXY_CPU ]] && echo "- each proxy capped at ${PROXY_CPU}% of one core (CPU cgroup): requests/s is the proxy's own capacity at that share"
echo "- per round: $(awk -F'\t' '{ printf "%s%s/%s %s req/s %s us", (NR > 1 ? "; " : ""), $1, $2, $4, $7 }' "$runs")"
echo
# Medians ("-" entries are left out; the mean of the two middle values for an
# even count), in the order the proxies were given.
awk -F'\t' -v order="$PROXIES" -v modes="${modes[*]}" '
  function fmt(v, f) { return v == "-" ? v : sprintf(f, v) }
  function median(key, col,   n, i, j, t, v) {
    n = 0
    for (i = 1; i <= cnt[key]; i++) { t = val[key, i, col]; if (t != "-" && t != "") v[++n] = t + 0 }
    if (n == 0) return "-"
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  { key = $1 SUBSEP $2; c = ++cnt[key]; for (k = 4; k <= 11; k++) val[key, c, k] = $k }
  END {
    printf "%-8s %-5s %7s %12s %10s %10s %14s %12s %8s %14s %14s\n", "proxy", "mode", "rounds", "req/s", "mean", "max", "cpu us/req", "syscalls/req", "ok%", "h2load us/req", "origin us/req"
    nm = split(modes, M, " "); np = split(order, P, " ")
    for (a = 1; a <= nm; a++) for (b = 1; b <= np; b++) {
      key = P[b] SUBSEP M[a]; if (!(key in cnt)) continue
      rps[key] = median(key, 4)
      mean = median(key, 5); max = median(key, 6)
      printf "%-8s %-5s %7d %12.1f %10s %10s %14s %12s %8s %14s %14s\n", P[b], M[a], cnt[key], rps[key], \
        (mean == "-" ? "-" : sprintf("%.2fms", mean)), (max == "-" ? "-" : sprintf("%.2fms", max)), \
        fmt(median(key, 7), "%.1f"), fmt(median(key, 8), "%.2f"), fmt(median(key, 9), "%.1f"), \
        fmt(median(key, 10), "%.1f"), fmt(median(key, 11), "%.1f")
    }
    for (a = 1; a <= nm; a++) for (b = 1; b <= np; b++) {
      if (P[b] == "sluice") continue
      s = rps["sluice" SUBSEP M[a]]; o = rps[P[b] SUBSEP M[a]]
      if (o > 0 && s != "") printf "sluice/%s (%s): %.2f req/s (medians)\n", P[b], M[a], s / o
      sc = median("sluice" SUBSEP M[a], 7); oc = median(P[b] SUBSEP M[a], 7)
      if (sc != "-" && oc != "-" && oc > 0) printf "sluice/%s (%s): %.2f CPU us/request (medians)\n", P[b], M[a], sc / oc
    }
  }' "$runs"
run_ok=1
