#!/usr/bin/env bash
# Response cache hits, side by side in one run: sluice-proxy (an Ingress with
# sluice.io/cache: "true"), Varnish 7.1 (malloc storage, -p feature=+http2)
# and nginx proxy_cache (Debian nginx, its file cache with sendfile and
# open_file_cache), all in front of the same nginx origin, all on 127.0.0.1.
# See bench/README.md ("Response cache").
#
#   bench/cache_bench.sh            CPU time per cache hit and requests/s, 1 KiB
#                                   and 64 KiB bodies, HTTP/1.1 keep-alive (wrk)
#                                   and h2c with prior knowledge (h2load);
#                                   ratios sluice/peer
#   bench/cache_bench.sh callgrind  instructions per 1 KiB HTTP/1.1 hit (valgrind),
#                                   sluice vs nginx
#   bench/cache_bench.sh memory     memory per cached object: N small objects
#                                   filled into sluice and Varnish, (RSS after -
#                                   RSS before) / N, and each store's own count
#
# Every timed phase checks that the proxy really served hits: the origin's
# request count (nginx stub_status) must not move while the load runs, else
# the run stops with an error (a bench of misses measures the origin).
#
# Each proxy runs one worker (Varnish: one thread pool) pinned to core 0; the
# load, the origin and sluice-controller run on core 1. CPU per hit is the
# proxy's utime+stime from /proc/PID/stat (every process and thread of it)
# over the requests the load completed.
#
# Environment (all optional):
#   BENCH_SECONDS=5            measured duration per row
#   BENCH_WARMUP_SECONDS=1     unmeasured run before each row (also fills the cache)
#   BENCH_ROUNDS=3             rounds, interleaved over the proxies; medians reported
#   BENCH_CONNECTIONS=32       wrk connections (HTTP/1.1)
#   BENCH_CLIENTS=16 BENCH_STREAMS=10   h2load -c / -m (h2c)
#   BENCH_PATHS="/1k /64k"     bodies
#   BENCH_PROTOCOLS="http1 h2c"
#   BENCH_PROXIES="sluice varnish nginx"   (callgrind: "sluice nginx";
#                              memory: "sluice varnish")
#   BENCH_CACHE_MEMORY=256M    sluice --cache-memory and Varnish -s malloc size
#   BENCH_MEMORY_OBJECTS=20000 memory mode: objects filled
#   BENCH_MEMORY_BODY=100      memory mode: body bytes of each object
#   BENCH_CALLGRIND_PATHS=/1k  callgrind mode: bodies (e.g. "/1k /64k")
#   BENCH_CALLGRIND_N1=500 BENCH_CALLGRIND_N2=2500 BENCH_CALLGRIND_WARMUP=200
#   BENCH_PROFILE_DIR=/tmp/sluice-cache-bench-profiles   callgrind profiles
#   BENCH_PORT_BASE=19500      ports BASE+1 .. BASE+9 on 127.0.0.1
#   SLUICE_PROXY_BIN, SLUICE_CONTROLLER_BIN   prebuilt binaries (skip bazel)
#   SLUICE_PROXY_EXTRA_FLAGS="..."   more sluice-proxy flags (A/B runs)
#   BENCH_OUTPUT_BASE=/root/.cache/bazel-bench
#   BENCH_MAX_SECONDS=1800     bound on the whole run
#   BENCH_KEEP=1               keep the temp dir (configs, logs)
set -euo pipefail
LOG_TAG=cache_bench
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE="${1:-throughput}"
case "$MODE" in
  throughput | callgrind | memory) ;;
  -h | --help) bench_help; exit 0 ;;
  *) echo "usage: $0 [throughput|callgrind|memory]" >&2; exit 2 ;;
esac
bench_bound_run 1800 "$@"

SECONDS_PER_ROW="${BENCH_SECONDS:-5}"
WARMUP_SECONDS="${BENCH_WARMUP_SECONDS:-1}"
ROUNDS="${BENCH_ROUNDS:-3}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
CLIENTS="${BENCH_CLIENTS:-16}"
STREAMS="${BENCH_STREAMS:-10}"
BODY_PATHS="${BENCH_PATHS:-/1k /64k}"
PROTOCOLS="${BENCH_PROTOCOLS:-http1 h2c}"
case "$MODE" in
  throughput) PROXIES="${BENCH_PROXIES:-sluice varnish nginx}" ;;
  callgrind) PROXIES="${BENCH_PROXIES:-sluice nginx}" ;;
  memory) PROXIES="${BENCH_PROXIES:-sluice varnish}" ;;
esac
CACHE_MEMORY="${BENCH_CACHE_MEMORY:-256M}"
MEMORY_OBJECTS="${BENCH_MEMORY_OBJECTS:-20000}"
MEMORY_BODY="${BENCH_MEMORY_BODY:-100}"
CG_PATHS="${BENCH_CALLGRIND_PATHS:-/1k}"
CG_WARMUP="${BENCH_CALLGRIND_WARMUP:-200}"
CG_N1="${BENCH_CALLGRIND_N1:-500}"
CG_N2="${BENCH_CALLGRIND_N2:-2500}"
OUTPUT_BASE="${BENCH_OUTPUT_BASE:-/root/.cache/bazel-bench}"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
[[ $MEMORY_OBJECTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_MEMORY_OBJECTS must be a positive integer"

bench_ports 19500 ORIGIN_PORT=1 ORIGIN_STATUS_PORT=2 CONTROLLER_GRPC_PORT=3 CONTROLLER_ADMIN_PORT=4 \
  SLUICE_PORT=5 SLUICE_ADMIN_PORT=6 VARNISH_PORT=7 NGINX_PORT=8 NGINX_H2C_PORT=9
require_free_ports "$ORIGIN_PORT" "$ORIGIN_STATUS_PORT" "$CONTROLLER_GRPC_PORT" "$CONTROLLER_ADMIN_PORT" \
  "$SLUICE_PORT" "$SLUICE_ADMIN_PORT" "$VARNISH_PORT" "$NGINX_PORT" "$NGINX_H2C_PORT"
HOST_HEADER=bench.local

bench_make_work /tmp/sluice-cache-bench.XXXXXX
install_missing wrk=wrk h2load=nghttp2-client varnishd=varnish nginx=nginx-light curl=curl
require_tools "apt-get install -y varnish nginx wrk nghttp2-client curl" varnishd varnishstat nginx wrk h2load curl \
  taskset timeout awk cmp python3
if [[ $MODE == callgrind ]]; then
  command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
    die "valgrind not found: apt-get install -y valgrind"
fi
sluice_binaries "$OUTPUT_BASE" opt SLUICE_PROXY_BIN=//dataplane/main:sluice-proxy \
  SLUICE_CONTROLLER_BIN=//controlplane/main:sluice-controller

# How a proxy is started: pinned to core 0 (callgrind mode adds valgrind).
PROXY_PREFIX=(taskset -c 0)

# ------------------------------------------------------------------ origin ---
# nginx with the bodies as files and max-age=3600 on everything (every proxy
# caches by Cache-Control alone), /obj/N: a small cacheable object per N for
# the memory mode. Its request count (stub_status, on its own port) tells
# whether a proxy went to the origin.
mkdir -p "$WORK/www" "$WORK/tmp"
head -c 1024 /dev/urandom >"$WORK/www/1k"
head -c 65536 /dev/urandom >"$WORK/www/64k"
SMALL_BODY="$(head -c "$MEMORY_BODY" /dev/zero | tr '\0' 'o')"
TEMPS="client_body_temp_path $WORK/tmp/b; proxy_temp_path $WORK/tmp/p; fastcgi_temp_path $WORK/tmp/f;
  uwsgi_temp_path $WORK/tmp/u; scgi_temp_path $WORK/tmp/s;"
cat >"$WORK/origin.conf" <<EOF
daemon off; master_process off; worker_processes 1; pid $WORK/origin.pid; error_log $WORK/origin.err;
events { worker_connections 4096; }
http {
  access_log off; $TEMPS
  default_type application/octet-stream;
  keepalive_requests 100000000; keepalive_timeout 300s;
  sendfile on; open_file_cache max=100 inactive=600s;
  server {
    listen 127.0.0.1:$ORIGIN_PORT;
    root $WORK/www;
    location / { expires 1h; }
    location /obj/ { add_header Cache-Control "max-age=3600"; return 200 "$SMALL_BODY"; }
  }
  server { listen 127.0.0.1:$ORIGIN_STATUS_PORT; location / { stub_status; } }
}
EOF
start_bg "$WORK/origin.log" taskset -c 1 nginx -c "$WORK/origin.conf" -p "$WORK"

wait_port "$ORIGIN_PORT" || die "origin did not start (see $WORK/origin.err)"

# The origin's request count (stub_status counts itself too), and
# origin_seen BEFORE AFTER: the requests proxies sent it between two reads.
origin_requests() {
  local n
  n="$(curl -s --max-time 5 "http://127.0.0.1:$ORIGIN_STATUS_PORT/" | awk 'NR == 3 { print $3 }')"
  [[ $n =~ ^[0-9]+$ ]] || die "origin stub_status did not answer"
  echo "$n"
}
origin_seen() { echo $(($2 - $1 - 1)); }

# ----------------------------------------------------------------- proxies ---
# start_X sets proxy_pid and the ports: H1_PORT (HTTP/1.1) and H2C_PORT
# (h2c, prior knowledge).
start_sluice() {
  mkdir -p "$WORK/manifests"
  { k8s_ingress_class; k8s_service origin; k8s_endpoint_slice origin-1 origin "$ORIGIN_PORT"
    k8s_ingress bench "$HOST_HEADER" origin '{sluice.io/cache: "true"}'; } >"$WORK/manifests/bench.yaml"
  if [[ -z ${controller_pid:-} ]]; then
    start_bg "$WORK/controller.log" taskset -c 1 "$SLUICE_CONTROLLER_BIN" --manifests "$WORK/manifests" \
      --grpc-listen "127.0.0.1:$CONTROLLER_GRPC_PORT" --admin-listen "127.0.0.1:$CONTROLLER_ADMIN_PORT"
    controller_pid=$last_pid
  fi
  # shellcheck disable=SC2086  # extra flags are words
  start_bg "$WORK/sluice.log" "${PROXY_PREFIX[@]}" "$SLUICE_PROXY_BIN" --controller "127.0.0.1:$CONTROLLER_GRPC_PORT" \
    --http-listen "127.0.0.1:$SLUICE_PORT" --admin-listen "127.0.0.1:$SLUICE_ADMIN_PORT" --workers 1 \
    --access-log off --cache-memory "$CACHE_MEMORY" ${SLUICE_PROXY_EXTRA_FLAGS:-}
  proxy_pid=$last_pid
  H1_PORT=$SLUICE_PORT H2C_PORT=$SLUICE_PORT
  wait_url "http://127.0.0.1:$SLUICE_ADMIN_PORT/readyz" 120 "$proxy_pid" ||
    die "sluice not ready (see $WORK/sluice.log)"
}

# Varnish: the built-in VCL caches by Cache-Control; one thread pool (one
# core); -j none: no jail, so the child can use the temp dir as the workdir.
start_varnish() {
  cat >"$WORK/varnish.vcl" <<EOF
vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = "$ORIGIN_PORT"; }
EOF
  start_bg "$WORK/varnish.log" "${PROXY_PREFIX[@]}" varnishd -F -j none -n "$WORK/varnish" \
    -a "127.0.0.1:$VARNISH_PORT" -f "$WORK/varnish.vcl" -s "malloc,$CACHE_MEMORY" \
    -p feature=+http2 -p thread_pools=1
  proxy_pid=$last_pid
  H1_PORT=$VARNISH_PORT H2C_PORT=$VARNISH_PORT
}

# nginx proxy_cache, tuned as well as it allows for hits: upstream
# keep-alive, sendfile from the cache files, open_file_cache for them.
start_nginx() {
  mkdir -p "$WORK/nginx-cache"
  cat >"$WORK/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
events { worker_connections 4096; }
http {
  access_log off; $TEMPS
  keepalive_requests 100000000; keepalive_timeout 300s; http2_max_concurrent_streams 128;
  sendfile on; tcp_nodelay on;
  open_file_cache max=1000 inactive=600s; open_file_cache_valid 60s;
  proxy_cache_path $WORK/nginx-cache levels=1:2 keys_zone=bench:64m max_size=1g inactive=1h use_temp_path=off;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    listen 127.0.0.1:$NGINX_H2C_PORT http2;
    location / {
      proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$host;
      proxy_cache bench;
    }
  }
}
EOF
  start_bg "$WORK/nginx.log" "${PROXY_PREFIX[@]}" nginx -c "$WORK/nginx.conf" -p "$WORK"
  proxy_pid=$last_pid
  H1_PORT=$NGINX_PORT H2C_PORT=$NGINX_H2C_PORT
}

# start_proxy NAME: starts it, waits until it answers, and records its pid
# and ports as PID_NAME, H1_NAME, H2C_NAME.
start_proxy() {
  local name="$1"
  "start_$name"
  wait_port "$H1_PORT" 60 || die "$name did not start (see $WORK)"
  wait_http "http://127.0.0.1:$H1_PORT/1k" 60 1024 || die "$name does not answer /1k (see $WORK)"
  printf -v "PID_$name" '%s' "$proxy_pid"
  printf -v "H1_$name" '%s' "$H1_PORT"
  printf -v "H2C_$name" '%s' "$H2C_PORT"
}

# ------------------------------------------------------------- throughput ---
# run_one NAME PROTO PATH ROUND: one warmed-up timed run; appends a row to
# $RUNS. Dies if the origin saw a request during the timed run.
RUNS="$WORK/runs.tsv"
run_one() {
  local name="$1" proto="$2" path="$3" round="$4" pid port url out before after o_before o_after
  local requests rps bad us
  pid="PID_$name"; pid="${!pid}"
  if [[ $proto == http1 ]]; then port="H1_$name"; else port="H2C_$name"; fi
  port="${!port}"
  url="http://127.0.0.1:$port$path"
  out="$WORK/run-$name-$proto-${path#/}-$round.txt"
  if [[ $proto == http1 ]]; then
    local args=(-t1 -c"$CONNECTIONS" -H "Host: $HOST_HEADER")
    taskset -c 1 timeout 60 wrk "${args[@]}" -d"${WARMUP_SECONDS}s" "$url" >/dev/null
    o_before="$(origin_requests)"
    before="$(cpu_ticks "$pid")"
    taskset -c 1 timeout 120 wrk "${args[@]}" -d"${SECONDS_PER_ROW}s" "$url" >"$out"
    after="$(cpu_ticks "$pid")"
    o_after="$(origin_requests)"
    requests="$(awk '/requests in/ { print $1 }' "$out")"
    rps="$(awk '/Requests\/sec/ { printf "%.0f", $2 }' "$out")"
    ! grep -qE 'Non-2xx|Socket errors' "$out" || die "$name $proto $path: $(grep -E 'Non-2xx|Socket errors' "$out")"
  else
    local args=(-c "$CLIENTS" -m "$STREAMS" -t 1 --header=":authority: $HOST_HEADER")
    taskset -c 1 timeout 60 h2load "${args[@]}" -D "$WARMUP_SECONDS" "$url" >/dev/null 2>&1 || true
    o_before="$(origin_requests)"
    before="$(cpu_ticks "$pid")"
    taskset -c 1 timeout 120 h2load "${args[@]}" -D "$SECONDS_PER_ROW" "$url" >"$out" 2>&1 || true
    after="$(cpu_ticks "$pid")"
    o_after="$(origin_requests)"
    # "requests: T total, S started, D done, OK succeeded, F failed, E errored,
    # ..." and "status codes: A 2xx, B 3xx, C 4xx, D 5xx".
    requests="$(awk '/^requests:/ { print $8 }' "$out")"
    bad="$(awk '/^requests:/ { n += $10 + $12 } /^status codes:/ { n += $5 + $7 + $9 } END { print n + 0 }' "$out")"
    rps="$(awk '/^finished in/ { printf "%.0f", $4 }' "$out")"
    [[ -n $requests && $requests -gt 0 && $bad == 0 ]] ||
      die "$name $proto $path: not every request succeeded: $(grep -E '^(requests|status codes)' "$out" | tr '\n' ' ')"
  fi
  [[ -n $requests && $requests -gt 0 ]] || die "$name $proto $path: no requests completed (see $out)"
  (($(origin_seen "$o_before" "$o_after") == 0)) ||
    die "$name $proto $path: the origin saw $(origin_seen "$o_before" "$o_after") requests during the timed run: not all hits"
  us="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$proto" "$path" "$round" "$rps" "$us" "$requests" >>"$RUNS"
  log "round $round $proto $path: $name $rps req/s, $us us CPU/hit ($requests hits, origin flat)"
}

mode_throughput() {
  local name proto path round
  : >"$RUNS"
  for name in $PROXIES; do start_proxy "$name"; done
  # Each body once through every proxy and protocol: a miss that fills the
  # cache (and a check of the bytes); then the body must be served as a hit.
  for name in $PROXIES; do
    for path in $BODY_PATHS; do
      local port="H1_$name"
      curl -s -o "$WORK/one.body" -H "Host: $HOST_HEADER" --max-time 10 "http://127.0.0.1:${!port}$path"
      cmp -s "$WORK/one.body" "$WORK/www/${path#/}" ||
        die "$name: $path did not answer with the origin's bytes"
    done
  done
  for ((round = 1; round <= ROUNDS; round++)); do
    for proto in $PROTOCOLS; do
      for path in $BODY_PATHS; do
        for name in $PROXIES; do run_one "$name" "$proto" "$path" "$round"; done
      done
    done
  done
  echo "- cache hits only (the origin's request count did not move in any timed run); one worker per proxy on"
  echo "  core 0, the load on core 1; HTTP/1.1: wrk -t1 -c$CONNECTIONS; h2c: h2load -c$CLIENTS -m$STREAMS (prior knowledge);"
  echo "  ${SECONDS_PER_ROW}s per row after ${WARMUP_SECONDS}s of warm-up, $ROUNDS rounds interleaved, medians"
  echo "- CPU/hit: the proxy's utime+stime (/proc/PID/stat, all its processes and threads) / requests completed"
  echo "- per round: $(awk -F'\t' '{ printf "%s%s %s %s r%s %s us", (NR > 1 ? "; " : ""), $1, $2, $3, $4, $6 }' "$RUNS")"
  echo
  awk -F'\t' -v order="$PROXIES" -v protos="$PROTOCOLS" -v paths="$BODY_PATHS" '
    function median(key, col,   n, i, j, t, v) {
      n = cnt[key]
      for (i = 1; i <= n; i++) v[i] = val[key, i, col] + 0
      for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
      return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    { key = $1 SUBSEP $2 SUBSEP $3; c = ++cnt[key]; val[key, c, 5] = $5; val[key, c, 6] = $6 }
    END {
      np = split(order, P, " "); nq = split(protos, Q, " "); nb = split(paths, B, " ")
      printf "| protocol | body | proxy | req/s | CPU us/hit | sluice/proxy CPU per hit |\n|---|---|---|---:|---:|---:|\n"
      for (q = 1; q <= nq; q++) for (b = 1; b <= nb; b++) {
        has_s = ("sluice" SUBSEP Q[q] SUBSEP B[b]) in cnt
        s = has_s ? median("sluice" SUBSEP Q[q] SUBSEP B[b], 6) : 0
        for (p = 1; p <= np; p++) {
          key = P[p] SUBSEP Q[q] SUBSEP B[b]; if (!(key in cnt)) continue
          us = median(key, 6); ratio = (P[p] == "sluice" || us == 0 || !has_s) ? "" : sprintf("%.2f", s / us)
          printf "| %s | %s | %s | %.0f | %.2f | %s |\n", Q[q], substr(B[b], 2), P[p], median(key, 5), us, ratio
        }
      }
    }' "$RUNS"
}

# --------------------------------------------------------------- callgrind ---
LOADGEN=(timeout 600 python3 "$ROOT/bench/loadgen.py")
cg_path="" cg_bytes=0 cg_port=0
loadgen_count() {
  "${LOADGEN[@]}" count --port "$cg_port" --host "$HOST_HEADER" --path "$cg_path" --conns 8 --requests "$1" \
    --expect-bytes "$cg_bytes" --timeout 500 >>"$WORK/loadgen.log" 2>&1 || die "loadgen count failed; see $WORK/loadgen.log"
}
count_window() { callgrind_count "$1" "$2" loadgen_count "$3"; }

mode_callgrind() {
  local name out i1 i2 i3 i4 per1 per2 o_before o_after results="$WORK/results.tsv"
  : >"$results"
  for name in $PROXIES; do
    out="$WORK/callgrind.$name"
    log "starting $name under callgrind"
    PROXY_PREFIX=(taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no
                  --dump-line=no --compress-strings=no --compress-pos=no --vgdb=yes)
    start_proxy "$name"
    local pid="PID_$name" port="H1_$name"
    cg_port="${!port}"
    for cg_path in $CG_PATHS; do
      cg_bytes="$(stat -c %s "$WORK/www/${cg_path#/}")"
      loadgen_count "$CG_WARMUP"
      o_before="$(origin_requests)"
      i1="$(count_window "${!pid}" "$out" "$CG_N1")"
      i2="$(count_window "${!pid}" "$out" "$CG_N2")"
      i3="$(count_window "${!pid}" "$out" "$CG_N1")"
      i4="$(count_window "${!pid}" "$out" "$CG_N2")"
      o_after="$(origin_requests)"
      (($(origin_seen "$o_before" "$o_after") == 0)) ||
        die "$name $cg_path: the origin saw $(origin_seen "$o_before" "$o_after") requests: not all hits"
      per1="$(callgrind_per_request "$i1" "$i2" "$CG_N1" "$CG_N2")"
      per2="$(callgrind_per_request "$i3" "$i4" "$CG_N1" "$CG_N2")"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${cg_path#/}" "$i1" "$i2" "$i3" "$i4" "$per1" "$per2" >>"$results"
      log "$name $cg_path: $per1 Ir/hit; again: $per2"
      sed 's/^calls=0 /calls=1 /' "$(callgrind_latest_dump "$out")" >"$WORK/profile.$name.${cg_path#/}.callgrind"
    done
    forget_pid "${!pid}"
  done
  echo "- HTTP/1.1 cache hits (origin flat), one callgrind process per proxy (nginx: master_process off);"
  echo "  after $CG_WARMUP warm-up hits, 'callgrind_control -z', N hits over 8 keep-alive connections, 'callgrind_control -d'"
  echo "- Ir/hit = (I(N2) - I(N1)) / (N2 - N1), N1=$CG_N1, N2=$CG_N2: connection setup cancels; measured twice"
  echo
  echo "| proxy | body | I(N1) | I(N2) | Ir/hit | I(N1) again | I(N2) again | Ir/hit again |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $7, $5, $6, $8 }' "$results"
  awk -F'\t' '{ per[$1, $2] = ($7 + $8) / 2; body[$2] = 1 } END { for (b in body) if (per["nginx", b] > 0)
    printf "sluice/nginx instructions per %s hit: %.2f (%.0f vs %.0f)\n", b, per["sluice", b] / per["nginx", b],
      per["sluice", b], per["nginx", b] }' "$results"
  local keep="${BENCH_PROFILE_DIR:-/tmp/sluice-cache-bench-profiles}" profile
  mkdir -p "$keep"
  cp "$WORK"/profile.*.callgrind "$keep/"
  for profile in "$keep"/profile.*.callgrind; do
    echo
    echo "### $(basename "$profile"): top 20 functions by self cost, last $CG_N2-hit window"
    echo '```'
    callgrind_annotate --threshold=100 --auto=no "$profile" 2>/dev/null |
      python3 "$ROOT/bench/top_functions.py" "$CG_N2" 20 | cut -c1-200
    echo '```'
  done
}

# ------------------------------------------------------------------ memory ---
sluice_metric() {
  curl -s --max-time 5 "http://127.0.0.1:$SLUICE_ADMIN_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
varnish_stat() {
  timeout 10 varnishstat -n "$WORK/varnish" -1 -f "$1" | awk -v m="$1" '$1 == m { print $2 }'
}
# store_count NAME: "bytes objects" by the store's own accounting.
store_count() {
  case "$1" in
    sluice) echo "$(sluice_metric sluice_cache_memory_bytes) $(sluice_metric sluice_cache_objects)" ;;
    varnish) echo "$(varnish_stat SMA.s0.g_bytes) $(varnish_stat MAIN.n_object)" ;;
    *) echo "- -" ;;
  esac
}

# fill URLS: one request per line of URLS over one keep-alive connection.
fill() {
  local n
  n="$(wc -l <"$1")"
  taskset -c 1 timeout 600 h2load --h1 -c 1 -t 1 -n "$n" -i "$1" --header=":authority: $HOST_HEADER" \
    >"$WORK/fill.txt" 2>&1 || die "fill failed: $(tail -3 "$WORK/fill.txt")"
  grep -q "status codes: $n 2xx" "$WORK/fill.txt" ||
    die "not every fill request succeeded: $(grep -E '^(requests|status)' "$WORK/fill.txt")"
}

mode_memory() {
  local name port urls rss0 rss1 store0 store1 o0 o1 o2 results="$WORK/memory.tsv"
  : >"$results"
  for name in $PROXIES; do start_proxy "$name"; done
  for name in $PROXIES; do
    port="H1_$name"; port="${!port}"
    local pid="PID_$name"
    urls="$WORK/urls-$name.txt"
    # Keys unique to this proxy, so each one fills its own N misses.
    seq 1 "$MEMORY_OBJECTS" | awk -v p="http://127.0.0.1:$port/obj/$name-" '{ print p $1 }' >"$urls"
    # Warm: the code paths of a miss and a hit have run once before the
    # baseline.
    head -200 "$urls" | sed "s|/obj/$name-|/obj/warm-$name-|" >"$WORK/warm.txt"
    fill "$WORK/warm.txt"
    fill "$WORK/warm.txt"
    sleep 1
    rss0="$(rss_kib "${!pid}")"
    store0="$(store_count "$name")"
    o0="$(origin_requests)"
    fill "$urls"
    o1="$(origin_requests)"
    (($(origin_seen "$o0" "$o1") == MEMORY_OBJECTS)) ||
      die "$name: $(origin_seen "$o0" "$o1") origin requests for $MEMORY_OBJECTS new keys"
    sleep 1
    rss1="$(rss_kib "${!pid}")"
    store1="$(store_count "$name")"
    # Again: every object must have been stored (and none evicted).
    fill "$urls"
    o2="$(origin_requests)"
    (($(origin_seen "$o1" "$o2") == 0)) ||
      die "$name: $(origin_seen "$o1" "$o2") of $MEMORY_OBJECTS objects were not served from the cache"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rss0" "$rss1" "$store0" "$store1" | tr ' ' '\t' >>"$results"
    log "$name: RSS $rss0 -> $rss1 KiB; store (bytes objects) $store0 -> $store1"
  done
  echo "- $MEMORY_OBJECTS objects of $MEMORY_BODY body bytes each (max-age=3600, distinct URLs), filled over one keep-alive"
  echo "  connection after 200 warm-up objects; a second pass of the same URLs left the origin's count flat (all stored)"
  echo "- RSS: VmRSS of the proxy's processes 1 s after the fill; store: sluice_cache_memory_bytes / sluice_cache_objects,"
  echo "  Varnish SMA.s0.g_bytes / MAIN.n_object (malloc,$CACHE_MEMORY)"
  echo
  echo "| proxy | RSS before (KiB) | RSS after (KiB) | RSS per object (bytes) | store bytes per object | store objects added |"
  echo "|---|---:|---:|---:|---:|---:|"
  awk -F'\t' -v n="$MEMORY_OBJECTS" '{
      store = ($7 - $5 > 0) ? sprintf("%.0f", ($6 - $4) / ($7 - $5)) : "-"
      printf "| %s | %d | %d | %.0f | %s | %s |\n", $1, $2, $3, ($3 - $2) * 1024 / n, store, ($7 - $5) }' "$results"
  awk -F'\t' -v n="$MEMORY_OBJECTS" '{ per[$1] = ($3 - $2) * 1024 / n } END { if (("sluice" in per) && per["varnish"] > 0)
    printf "sluice/varnish RSS per object: %.2f\n", per["sluice"] / per["varnish"] }' "$results"
}

"mode_$MODE"
run_ok=1
