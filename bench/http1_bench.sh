#!/usr/bin/env bash
# Side-by-side HTTP/1.1 benchmark: sluice-proxy vs nginx vs HAProxy, all in
# front of the same nginx origin, all on 127.0.0.1. See bench/README.md.
#
#   bench/http1_bench.sh              throughput table (wrk), the default mode
#   bench/http1_bench.sh callgrind    instructions per proxied request (valgrind)
#   bench/http1_bench.sh idle         RSS per idle keep-alive connection
#   bench/http1_bench.sh syscalls     system calls per proxied request (strace -c)
#
# Environment (all optional):
#   BENCH_SECONDS=10           wrk duration per cell
#   BENCH_WARMUP_SECONDS=1     wrk warm-up before each cell (not measured)
#   BENCH_WORKERS="1 2"        proxy worker counts
#   BENCH_CONNECTIONS="64 256" wrk connection counts
#   BENCH_PATHS="/1k /64k"     bodies to fetch
#   BENCH_PROXIES="sluice nginx haproxy"   (callgrind mode: "sluice nginx")
#   BENCH_IDLE_CONNECTIONS=10000
#   BENCH_CALLGRIND_N1=500 BENCH_CALLGRIND_N2=2500 BENCH_CALLGRIND_WARMUP=200
#   BENCH_PORT_BASE=18000      ports BASE+1 .. BASE+13 on 127.0.0.1
#   SLUICE_PROXY_BIN, SLUICE_CONTROLLER_BIN   prebuilt binaries (skip bazel)
#   SLUICE_PROXY_EXTRA_FLAGS="..."   more sluice-proxy flags (A/B runs, e.g.
#                              "--metrics-max-routes 0 --metrics-max-clusters 0": per-route metrics off)
#   BENCH_OUTPUT_BASE=/root/.cache/bazel-bench
#   BENCH_KEEP=1               keep the temp dir (configs, logs) on success
#   BENCH_MAX_SECONDS=1800     bound on the whole run
#   BENCH_PROFILE_DIR=/tmp/sluice-bench-profiles   callgrind profiles kept here
set -euo pipefail
LOG_TAG=bench
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE="${1:-throughput}"
case "$MODE" in
  throughput | callgrind | idle | syscalls) ;;
  -h | --help) bench_help; exit 0 ;;
  *) echo "usage: $0 [throughput|callgrind|idle|syscalls]" >&2; exit 2 ;;
esac

bench_bound_run 1800 "$@"

SECONDS_PER_CELL="${BENCH_SECONDS:-10}"
WARMUP_SECONDS="${BENCH_WARMUP_SECONDS:-1}"
WORKER_COUNTS="${BENCH_WORKERS:-1 2}"
CONNECTION_COUNTS="${BENCH_CONNECTIONS:-64 256}"
BODY_PATHS="${BENCH_PATHS:-/1k /64k}"
PROXIES="${BENCH_PROXIES:-sluice nginx haproxy}"
[[ $MODE == callgrind ]] && PROXIES="${BENCH_PROXIES:-sluice nginx}"
IDLE_CONNECTIONS="${BENCH_IDLE_CONNECTIONS:-10000}"
CG_WARMUP="${BENCH_CALLGRIND_WARMUP:-200}"
CG_N1="${BENCH_CALLGRIND_N1:-500}"
CG_N2="${BENCH_CALLGRIND_N2:-2500}"
OUTPUT_BASE="${BENCH_OUTPUT_BASE:-/root/.cache/bazel-bench}"

# Below the ephemeral range (32768-60999).
bench_ports 18000 ORIGIN_PORT=1 PROXY_PORT=10 SLUICE_ADMIN_PORT=11 CONTROLLER_GRPC_PORT=12 CONTROLLER_ADMIN_PORT=13
HOST_HEADER="bench.local"
NCPU="$(nproc)"

bench_make_work /tmp/sluice-bench.XXXXXX
RESULTS="$WORK/results.tsv"

# ---------------------------------------------------------------- checks ----
require_tools "apt-get install -y nginx-light haproxy wrk valgrind curl" nginx haproxy wrk curl python3 taskset timeout
if [[ $MODE == callgrind ]]; then
  command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
    die "valgrind not found: apt-get install -y valgrind"
fi
require_free_ports "$ORIGIN_PORT" "$PROXY_PORT" "$SLUICE_ADMIN_PORT" "$CONTROLLER_GRPC_PORT" "$CONTROLLER_ADMIN_PORT"

# Idle mode needs 10k sockets in the client and in the proxy. Raise the soft
# limit to the hard one (children inherit it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $MODE == idle ]] && (($(ulimit -n) < IDLE_CONNECTIONS + 200)); then
  IDLE_CONNECTIONS=$(($(ulimit -n) - 200))
  log "ulimit -n is $(ulimit -n): idle mode opens $IDLE_CONNECTIONS connections instead"
fi

# ----------------------------------------------------------------- build ----
sluice_binaries "$OUTPUT_BASE" opt SLUICE_PROXY_BIN=//dataplane/main:sluice-proxy \
  SLUICE_CONTROLLER_BIN=//controlplane/main:sluice-controller

# -------------------------------------------------------------- /proc -------
# A proxy's processes are its pid plus direct children (nginx's master and
# workers; sluice and HAProxy are one process with threads): cpu_ticks
# and rss_kib (lib.sh) add them up.

# ----------------------------------------------------------------- origin ---
# nginx's own static file server is the fastest origin available from Debian:
# one worker (pinned like the load generator, see the README), static files
# from a temp dir behind open_file_cache, no access log, keep-alive without a
# request cap so the proxies' upstream connections are never recycled.
NGINX_COMMON_HTTP="
  access_log off;
  default_type application/octet-stream;
  client_body_temp_path $WORK/tmp/body;
  proxy_temp_path $WORK/tmp/proxy;
  fastcgi_temp_path $WORK/tmp/fastcgi;
  uwsgi_temp_path $WORK/tmp/uwsgi;
  scgi_temp_path $WORK/tmp/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  tcp_nodelay on;"

start_origin() {
  mkdir -p "$WORK/origin/www" "$WORK/tmp"
  head -c 1024 /dev/zero | tr '\0' 'a' >"$WORK/origin/www/1k"
  head -c 65536 /dev/zero | tr '\0' 'b' >"$WORK/origin/www/64k"
  cat >"$WORK/origin/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $WORK/origin/nginx.pid;
error_log $WORK/origin/error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
  $NGINX_COMMON_HTTP
  sendfile on;
  tcp_nopush on;
  open_file_cache max=16 inactive=600s;
  open_file_cache_valid 600s;
  server {
    listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
    root $WORK/origin/www;
    location / { }
  }
}
EOF
  start_bg "$WORK/origin/stdout.log" nginx -p "$WORK/origin" -c "$WORK/origin/nginx.conf" -e "$WORK/origin/error.log"
  origin_pid=$last_pid
  wait_http "http://127.0.0.1:$ORIGIN_PORT/1k" 10 1024 || die "origin did not start; see $WORK/origin/error.log"
}

# ------------------------------------------------------------- controller ---
start_controller() {
  mkdir -p "$WORK/manifests"
  { k8s_ingress_class; k8s_service origin; k8s_endpoint_slice origin-manual origin "$ORIGIN_PORT"
    k8s_ingress bench "$HOST_HEADER" origin; } >"$WORK/manifests/bench.yaml"
  start_bg "$WORK/controller.log" "$SLUICE_CONTROLLER_BIN" --manifests "$WORK/manifests" \
    --grpc-listen "127.0.0.1:$CONTROLLER_GRPC_PORT" --admin-listen "127.0.0.1:$CONTROLLER_ADMIN_PORT"
  controller_pid=$last_pid
}

# ---------------------------------------------------------------- proxies ---
# start_proxy NAME WORKERS CPUS [WRAPPER...]: sets proxy_pid. CPUS is a
# taskset list ("" for no pinning). WRAPPER (e.g. valgrind ...) goes first.
start_proxy() {
  local name="$1" workers="$2" cpus="$3"; shift 3
  local wrapper=("$@") pin=()
  [[ -n $cpus ]] && pin=(taskset -c "$cpus")
  local dir="$WORK/$name-w$workers"
  mkdir -p "$dir" "$WORK/tmp"
  case "$name" in
    sluice)
      # Access log off like the peers, on builds that have one.
      local access_log=()
      "$SLUICE_PROXY_BIN" --help 2>&1 | grep -c -- '--access-log' >/dev/null && access_log=(--access-log off)
      # Every load generator connection comes from 127.0.0.1: no connection
      # limits (the peers have none either), on builds that have them.
      "$SLUICE_PROXY_BIN" --help 2>&1 | grep -c -- '--max-connections-per-address' >/dev/null &&
        access_log+=(--max-connections 0 --max-connections-per-address 0)
      start_bg "$dir/proxy.log" "${pin[@]}" "${wrapper[@]}" "$SLUICE_PROXY_BIN" \
        --controller "127.0.0.1:$CONTROLLER_GRPC_PORT" --http-listen "127.0.0.1:$PROXY_PORT" \
        --admin-listen "127.0.0.1:$SLUICE_ADMIN_PORT" --workers "$workers" --node-id "bench-$workers" \
        "${access_log[@]}" ${SLUICE_PROXY_EXTRA_FLAGS:-}
      proxy_pid=$last_pid
      # 120 s: slow under valgrind. Not ready yet: wait_http below says so.
      wait_url "http://127.0.0.1:$SLUICE_ADMIN_PORT/readyz" 120 "$proxy_pid" ||
        kill -0 "$proxy_pid" 2>/dev/null || die "sluice-proxy exited; see $dir/proxy.log"
      ;;
    nginx)
      # nginx at its best as a reverse proxy: upstream keep-alive pool
      # (keepalive 64 per worker), HTTP/1.1 upstream with the Connection header
      # cleared, no access log, no request cap on either side.
      local master="master_process on;"
      [[ ${#wrapper[@]} -gt 0 ]] && master="master_process off;"  # under valgrind: one process
      cat >"$dir/nginx.conf" <<EOF
daemon off;
$master
worker_processes $workers;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
  $NGINX_COMMON_HTTP
  upstream origin {
    server 127.0.0.1:$ORIGIN_PORT;
    keepalive 64;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:$PROXY_PORT backlog=4096;
    server_name bench.local;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
    }
  }
}
EOF
      start_bg "$dir/stdout.log" "${pin[@]}" "${wrapper[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
      proxy_pid=$last_pid
      ;;
    haproxy)
      cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread $workers
  maxconn 12000
  # 10k idle connections need maxconn > 10000; HAProxy reserves two fds per
  # connection and would refuse to start with the 20000 fd hard limit here.
  no strict-limits
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend bench
  bind 127.0.0.1:$PROXY_PORT
  maxconn 12000
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request deny deny_status 404 unless { hdr(host) -i bench.local }
  default_backend origin
backend origin
  server origin 127.0.0.1:$ORIGIN_PORT
EOF
      # -db: stay in the foreground as one process (threads, no master).
      start_bg "$dir/haproxy.log" "${pin[@]}" "${wrapper[@]}" haproxy -db -f "$dir/haproxy.cfg"
      proxy_pid=$last_pid
      ;;
  esac
  local wait_secs=10
  [[ ${#wrapper[@]} -gt 0 ]] && wait_secs=120
  wait_http "http://127.0.0.1:$PROXY_PORT/1k" "$wait_secs" 1024 ||
    die "$name does not proxy /1k; see $dir"
  wait_http "http://127.0.0.1:$PROXY_PORT/64k" "$wait_secs" 65536 ||
    die "$name does not proxy /64k; see $dir"
  # nginx workers are forked after the master answers; give them a moment.
  sleep 0.2
}

stop_proxy() { forget_pid "$proxy_pid" 10; }

# ---------------------------------------------------------------- wrk -------
# Prints "rps p50_ms p99_ms requests errors" from a wrk --latency output file.
parse_wrk() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
      if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
      if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
      return v + 0
    }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { requests = $1 }
    /Socket errors:/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    /^Requests\/sec:/ { rps = $2 }
    END { printf "%s %s %s %s %d\n", rps, p50, p99, requests, errors }
  ' "$1"
}

# run_cell PROXY WORKERS CONNS PATH: one measured wrk run, appends to RESULTS.
run_cell() {
  local name="$1" workers="$2" conns="$3" path="$4"
  local wrk_pin=() tag="${name}-w${workers}-c${conns}-${path#/}"
  # One worker: proxy alone on core 0, wrk (and the origin) on core 1.
  # Two workers on two cores: nothing pinned, everything contends.
  if [[ $workers == 1 && $NCPU -ge 2 ]]; then
    wrk_pin=(taskset -c 1)
    taskset -a -p -c 1 "$origin_pid" >/dev/null
  else
    taskset -a -p -c "0-$((NCPU - 1))" "$origin_pid" >/dev/null
  fi
  local url="http://127.0.0.1:$PROXY_PORT$path"
  if ((WARMUP_SECONDS > 0)); then
    timeout $((WARMUP_SECONDS + 30)) "${wrk_pin[@]}" wrk -t2 -c"$conns" -d"${WARMUP_SECONDS}s" \
      -H "Host: $HOST_HEADER" "$url" >/dev/null 2>&1 || die "wrk warm-up failed for $tag"
  fi
  local cpu_before cpu_after
  cpu_before="$(cpu_ticks "$proxy_pid")"
  timeout $((SECONDS_PER_CELL + 30)) "${wrk_pin[@]}" wrk -t2 -c"$conns" -d"${SECONDS_PER_CELL}s" --latency \
    -H "Host: $HOST_HEADER" "$url" >"$WORK/wrk-$tag.txt" 2>&1 || die "wrk failed for $tag"
  cpu_after="$(cpu_ticks "$proxy_pid")"
  local rss; rss="$(rss_kib "$proxy_pid")"
  local rps p50 p99 requests errors
  read -r rps p50 p99 requests errors < <(parse_wrk "$WORK/wrk-$tag.txt")
  [[ -n $requests && $requests -gt 0 ]] || die "no requests completed for $tag; see $WORK/wrk-$tag.txt"
  local cpu_per_100k
  cpu_per_100k="$(awk -v t=$((cpu_after - cpu_before)) -v hz="$CLK_TCK" -v n="$requests" \
    'BEGIN { printf "%.3f", t / hz / n * 100000 }')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$workers" "$conns" "$path" "$name" \
    "$rps" "$p50" "$p99" "$cpu_per_100k" "$rss" >>"$RESULTS"
  log "$(printf '%-8s w=%s c=%-3s %-4s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.3f s/100k  rss %6d KiB  errors %s' \
    "$name" "$workers" "$conns" "$path" "$rps" "$p50" "$p99" "$cpu_per_100k" "$rss" "$errors")"
  ((errors == 0)) || log "warning: $errors socket errors or non-2xx responses in $tag"
}

print_tables() {
  awk -F'\t' -v secs="$SECONDS_PER_CELL" '
    { key = $1 SUBSEP $2 SUBSEP $3
      if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      rps[key, $4] = $5; p50[key, $4] = $6; p99[key, $4] = $7; cpu[key, $4] = $8; rss[key, $4] = $9
      has[key, $4] = 1; if (!($4 in pseen)) { pseen[$4] = 1; proxies[++np] = $4 } }
    function ratio(a, b) { return (b > 0) ? sprintf("%.2f", a / b) : "-" }
    END {
      for (i = 1; i <= n; i++) {
        split(order[i], k, SUBSEP)
        printf "\n### workers=%s connections=%s body=%s (%s s, wrk -t2, keep-alive)\n\n", k[1], k[2], k[3], secs
        printf "| proxy | req/s | p50 ms | p99 ms | CPU s / 100k req | RSS MiB |\n"
        printf "|---|---:|---:|---:|---:|---:|\n"
        for (j = 1; j <= np; j++) {
          p = proxies[j]; if (!has[order[i], p]) continue
          printf "| %s | %.0f | %.3f | %.3f | %.3f | %.1f |\n", p, rps[order[i], p], p50[order[i], p],
            p99[order[i], p], cpu[order[i], p], rss[order[i], p] / 1024
        }
        if (has[order[i], "sluice"]) for (j = 1; j <= np; j++) {
          p = proxies[j]; if (p == "sluice" || !has[order[i], p]) continue
          s = order[i]
          printf "| sluice/%s | %s | %s | %s | %s | %s |\n", p, ratio(rps[s, "sluice"], rps[s, p]),
            ratio(p50[s, "sluice"], p50[s, p]), ratio(p99[s, "sluice"], p99[s, p]),
            ratio(cpu[s, "sluice"], cpu[s, p]), ratio(rss[s, "sluice"], rss[s, p])
        }
      }
    }' "$RESULTS"
}

print_environment() {
  echo "## sluice HTTP/1.1 benchmark ($MODE) — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- host: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- sluice-proxy: $SLUICE_PROXY_BIN"
  echo "- nginx: $(nginx -v 2>&1 | sed 's/.*: //'), haproxy: $(haproxy -v | head -1 | awk '{print $3}'), wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "- origin: nginx, 1 worker, static files (1 KiB, 64 KiB), open_file_cache, on 127.0.0.1:$ORIGIN_PORT"
}

# ------------------------------------------------------------ throughput ----
mode_throughput() {
  start_origin
  start_controller
  local workers name conns path proxy_cpus
  for workers in $WORKER_COUNTS; do
    proxy_cpus=""
    [[ $workers == 1 && $NCPU -ge 2 ]] && proxy_cpus=0
    for name in $PROXIES; do
      log "starting $name with $workers worker(s)${proxy_cpus:+ on CPU $proxy_cpus}"
      start_proxy "$name" "$workers" "$proxy_cpus"
      for conns in $CONNECTION_COUNTS; do
        for path in $BODY_PATHS; do
          run_cell "$name" "$workers" "$conns" "$path"
        done
      done
      stop_proxy
    done
  done
  print_environment
  echo "- wrk: -t2, keep-alive, Host: $HOST_HEADER, ${SECONDS_PER_CELL}s per cell after ${WARMUP_SECONDS}s warm-up"
  echo "- workers=1: proxy pinned to CPU 0, wrk and origin to CPU 1. workers>1: nothing pinned (proxy, origin and wrk contend for $(nproc) CPUs)"
  echo "- CPU = utime+stime of all the proxy's processes/threads over the measured run; RSS = sum of VmRSS at the end of the cell"
  echo "- ratios are sluice/peer: above 1 is better for req/s, below 1 is better for latency, CPU and RSS"
  print_tables
}

# -------------------------------------------------------------- callgrind ---
LOADGEN=(timeout 600 python3 "$ROOT/bench/loadgen.py")

# loadgen_count N: N requests for /1k over 8 keep-alive connections.
loadgen_count() {
  "${LOADGEN[@]}" count --port "$PROXY_PORT" --path /1k --conns 8 --requests "$1" --expect-bytes 1024 \
    --timeout 500 >>"$WORK/loadgen.log" 2>&1 || die "loadgen count failed; see $WORK/loadgen.log"
}

# count_window PID OUT N: instructions of PID for N requests.
count_window() { callgrind_count "$1" "$2" loadgen_count "$3"; }

mode_callgrind() {
  start_origin
  start_controller
  local name out i1 i2 i3 i4 per1 per2
  for name in $PROXIES; do
    out="$WORK/callgrind.$name"
    log "starting $name under callgrind (1 worker)"
    # Counts are exact instruction counts, independent of the machine's load.
    # --compress-strings=no: every dump names its functions itself, so a dump
    # taken mid-run reads correctly on its own in callgrind_annotate.
    # --dump-line=no: costs per function (inlined code counts for the function
    # it was inlined into), which is what a hot-path list wants.
    start_proxy "$name" 1 "" valgrind --tool=callgrind --callgrind-out-file="$out" \
      --dump-instr=no --dump-line=no --compress-strings=no --compress-pos=no --vgdb=yes
    "${LOADGEN[@]}" count --port "$PROXY_PORT" --path /1k --conns 8 --requests "$CG_WARMUP" --expect-bytes 1024 \
      --timeout 500 >>"$WORK/loadgen.log" 2>&1 || die "warm-up failed; see $WORK/loadgen.log"
    i1="$(count_window "$proxy_pid" "$out" "$CG_N1")"
    i2="$(count_window "$proxy_pid" "$out" "$CG_N2")"
    i3="$(count_window "$proxy_pid" "$out" "$CG_N1")"
    i4="$(count_window "$proxy_pid" "$out" "$CG_N2")"
    per1="$(callgrind_per_request "$i1" "$i2" "$CG_N1" "$CG_N2")"
    per2="$(callgrind_per_request "$i3" "$i4" "$CG_N1" "$CG_N2")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$i1" "$i2" "$i3" "$i4" "$per1" "$per2" >>"$RESULTS"
    log "$name: I($CG_N1)=$i1 I($CG_N2)=$i2 -> $per1 Ir/request; again: $i3 $i4 -> $per2"
    # Keep the biggest window's profile for callgrind_annotate. Frames that
    # were already on the stack when the counters were zeroed (the event loop,
    # the thread entry) carry "calls=0"; callgrind_annotate 3.19 then books
    # their callees' cost as their own self cost. Say 1 call instead.
    sed 's/^calls=0 /calls=1 /' "$(callgrind_latest_dump "$out")" >"$WORK/profile.$name.callgrind"
    stop_proxy
  done
  print_environment
  echo "- method: one callgrind process per proxy (1 worker; nginx with master_process off), 1 KiB body;"
  echo "  after $CG_WARMUP warm-up requests, 'callgrind_control -z' zeroes the counters, N requests go over 8 new"
  echo "  keep-alive connections, 'callgrind_control -d' dumps the total Ir (all threads)."
  echo "  Ir/request = (I(N2) - I(N1)) / (N2 - N1) with N1=$CG_N1, N2=$CG_N2: connection setup and other fixed"
  echo "  costs cancel. Measured twice to show repeatability."
  echo
  echo "| proxy | I(N1) | I(N2) | Ir/request | I(N1) again | I(N2) again | Ir/request again |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $6, $4, $5, $7 }' "$RESULTS"
  awk -F'\t' '{ per[$1] = ($6 + $7) / 2 } END { if (per["nginx"] > 0)
    printf "\nsluice/nginx instructions per request: %.2f (%.0f vs %.0f, mean of both measurements)\n",
      per["sluice"] / per["nginx"], per["sluice"], per["nginx"] }' "$RESULTS"
  local keep="${BENCH_PROFILE_DIR:-/tmp/sluice-bench-profiles}"
  mkdir -p "$keep"
  cp "$WORK"/profile.*.callgrind "$keep/"
  echo
  echo "Profiles of the last $CG_N2-request window (one per proxy): $keep/profile.NAME.callgrind"
  echo
  local name_
  for name_ in $PROXIES; do
    callgrind_annotate --inclusive=yes --auto=no "$keep/profile.$name_.callgrind" >"$keep/$name_.inclusive.txt" 2>/dev/null
    echo
    echo "### $name_: top 25 functions by self cost, last $CG_N2-request window"
    echo
    echo "(inlined code summed into its function; inclusive costs: $keep/$name_.inclusive.txt;"
    echo " callers of a function: callgrind_annotate --tree=caller $keep/profile.$name_.callgrind)"
    echo '```'
    callgrind_annotate --threshold=100 --auto=no "$keep/profile.$name_.callgrind" 2>/dev/null |
      python3 "$ROOT/bench/top_functions.py" "$CG_N2" 25 | cut -c1-200
    echo '```'
  done
}

# ------------------------------------------------------------------ idle ----
mode_idle() {
  start_origin
  start_controller
  local name before after delta ready lg_pid i
  for name in $PROXIES; do
    log "starting $name (1 worker) for $IDLE_CONNECTIONS idle connections"
    start_proxy "$name" 1 ""
    "${LOADGEN[@]}" count --port "$PROXY_PORT" --path /1k --conns 8 --requests 200 --expect-bytes 1024 \
      --timeout 60 >>"$WORK/loadgen.log" 2>&1 || die "warm-up failed; see $WORK/loadgen.log"
    sleep 0.5
    before="$(rss_kib "$proxy_pid")"
    ready="$WORK/idle-$name.ready"
    start_bg "$WORK/idle-$name.log" timeout 300 python3 "$ROOT/bench/loadgen.py" idle --port "$PROXY_PORT" \
      --path /1k --conns "$IDLE_CONNECTIONS" --window 64 --expect-bytes 1024 --ready-file "$ready" \
      --hold 120 --timeout 280
    lg_pid=$last_pid
    for ((i = 0; i < 1200; i++)); do
      [[ -s $ready ]] && break
      kill -0 "$lg_pid" 2>/dev/null || { cat "$WORK/idle-$name.log" >&2; die "idle client failed for $name"; }
      sleep 0.1
    done
    [[ -s $ready ]] || die "idle client did not open $IDLE_CONNECTIONS connections to $name in time"
    sleep 1  # let the proxy settle (deferred frees, timers)
    after="$(rss_kib "$proxy_pid")"
    kill -0 "$lg_pid" 2>/dev/null || { cat "$WORK/idle-$name.log" >&2; die "idle connections to $name did not stay open"; }
    delta=$((after - before))
    printf '%s\t%s\t%s\t%s\n' "$name" "$before" "$after" "$delta" >>"$RESULTS"
    log "$name: RSS $before KiB -> $after KiB with $IDLE_CONNECTIONS idle connections"
    forget_pid "$lg_pid" 5
    stop_proxy
  done
  print_environment
  echo "- each proxy with 1 worker (nginx: master + 1 worker, HAProxy: nbthread 1); RSS = sum of VmRSS of its processes"
  echo "- baseline after 200 warm-up requests; then $IDLE_CONNECTIONS connections, each with one 1 KiB GET answered"
  echo "  (at most 64 in flight, so few upstream connections), all held open and idle"
  echo
  echo "- nginx preallocates its connection and event structures for worker_connections (16384) at start and"
  echo "  HAProxy its fd table for maxconn: that memory is in their baseline, not in the delta"
  echo
  echo "| proxy | RSS before MiB | RSS with $IDLE_CONNECTIONS idle MiB | delta MiB | bytes / connection |"
  echo "|---|---:|---:|---:|---:|"
  awk -F'\t' -v n="$IDLE_CONNECTIONS" '{ printf "| %s | %.1f | %.1f | %.1f | %.0f |\n", $1, $2 / 1024, $3 / 1024,
    $4 / 1024, $4 * 1024 / n; d[$1] = $4 }
    END { print "" }
    END { if ("sluice" in d) for (p in d) if (p != "sluice" && d[p] > 0) printf "sluice/%s bytes per idle connection: %.2f\n", p, d["sluice"] / d[p] }' "$RESULTS"
}

# --------------------------------------------------------------- syscalls ---
mode_syscalls() {
  command -v strace >/dev/null || die "strace not found: apt-get install -y strace"
  start_origin
  start_controller
  local name n=2000 strace_pid targets pid
  echo -n >"$RESULTS"
  for name in $PROXIES; do
    log "starting $name (1 worker) for the syscall count"
    start_proxy "$name" 1 ""
    "${LOADGEN[@]}" count --port "$PROXY_PORT" --path /1k --conns 8 --requests 200 --expect-bytes 1024 \
      --timeout 60 >>"$WORK/loadgen.log" 2>&1 || die "warm-up failed; see $WORK/loadgen.log"
    targets=()
    for pid in $(pid_and_children "$proxy_pid"); do targets+=(-p "$pid"); done
    start_bg "$WORK/strace-$name.log" timeout 300 strace -f -c -qq -o "$WORK/strace-$name.txt" "${targets[@]}"
    strace_pid=$last_pid
    sleep 1  # attached
    "${LOADGEN[@]}" count --port "$PROXY_PORT" --path /1k --conns 8 --requests "$n" --expect-bytes 1024 \
      --timeout 200 >>"$WORK/loadgen.log" 2>&1 || die "loadgen count failed under strace; see $WORK/loadgen.log"
    # timeout(1) passes TERM on to strace, which detaches and writes its summary.
    forget_pid "$strace_pid" 10
    # Rows: "% time, seconds, usecs/call, calls, [errors,] syscall".
    awk -v n="$n" -v p="$name" '$1 ~ /^[0-9.]+$/ && NF >= 5 {
        errors = (NF == 6) ? $5 : 0
        cell = sprintf("%.2f", $4 / n); if (errors > 0) cell = cell sprintf(" (%.2f failed)", errors / n)
        printf "%s\t%s\t%s\n", p, $NF, cell }' "$WORK/strace-$name.txt" >>"$RESULTS"
    stop_proxy
  done
  print_environment
  echo "- strace -f -c attached to each proxy (1 worker; nginx: master + worker) while $n requests for /1k"
  echo "  go over 8 keep-alive connections (after 200 warm-up requests); calls divided by $n;"
  echo "  \"failed\" are calls that returned an error (EAGAIN for recvfrom)"
  echo
  echo "| syscall | $(echo $PROXIES | sed 's/ / | /g') |"
  echo "|---|$(for _ in $PROXIES; do echo -n '---:|'; done)"
  awk -F'\t' -v list="$PROXIES" 'BEGIN { np = split(list, ps, " ") }
    { v[$2, $1] = $3; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
    END { for (i = 1; i <= n; i++) { s = order[i]; if (s == "total") continue; line = "| " s
            for (j = 1; j <= np; j++) line = line " | " ((s, ps[j]) in v ? v[s, ps[j]] : "-"); print line " |" }
          line = "| **total per request**"
          for (j = 1; j <= np; j++) line = line " | **" v["total", ps[j]] "**"; print line " |" }' "$RESULTS"
}

"mode_$MODE"
run_ok=1
