#!/usr/bin/env bash
# Static files, side by side in one run: sluice-proxy serving a StaticSite
# directory and nginx serving the same directory (sendfile on,
# open_file_cache; sluice with its own open-file cache at the defaults), a
# 1 KiB and a 1 MiB file over keep-alive connections.
#
#   bench/static_bench.sh [throughput]   for each row: requests per second and
#                          the server's CPU time per request (utime + stime
#                          from /proc/PID/stat, so wrk's speed does not enter
#                          it), and sluice's CPU per request over nginx's.
#                          Servers pinned to core 0 (one worker each), wrk to
#                          core 1. Prints a table; see bench/README.md.
#   bench/static_bench.sh callgrind    instructions per request of each
#                          server (valgrind --tool=callgrind, exact and
#                          independent of the machine's load), for both files,
#                          and sluice's top functions for the 1 KiB file
#
# Environment (all optional):
#   BENCH_SECONDS=5            measured wrk duration per row
#   BENCH_WARMUP_SECONDS=1     unmeasured wrk run before each row
#   BENCH_CONNECTIONS=8        wrk connections
#   BENCH_PORT_BASE=19300      ports BASE+1 .. BASE+5 on 127.0.0.1
#   SLUICE_PROXY_BIN, SLUICE_CONTROLLER_BIN   prebuilt binaries (skip bazel)
#   BENCH_OUTPUT_BASE=/root/.cache/bazel-bench
#   BENCH_MAX_SECONDS=600      bound on the whole run
#   BENCH_KEEP=1               keep the temp dir (configs, logs)
#   SLUICE_EXTRA_FLAGS=""      more sluice-proxy flags (e.g. --open-file-cache-inline-bytes 0)
#   callgrind mode: BENCH_CALLGRIND_N1=500 BENCH_CALLGRIND_N2=2500 (requests per
#   window), BENCH_CALLGRIND_WARMUP=200, BENCH_PROFILE_DIR=/tmp/sluice-bench-profiles
set -euo pipefail
LOG_TAG=static_bench
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE="${1:-throughput}"
case "$MODE" in
  -h | --help) bench_help; exit 0 ;;
  throughput | callgrind) shift $(($# > 0 ? 1 : 0)) ;;
  *) echo "usage: $0 [throughput|callgrind]" >&2; exit 2 ;;
esac
(($# == 0)) || { echo "usage: $0 [throughput|callgrind]" >&2; exit 2; }
bench_bound_run 600 "$MODE"  # re-runs this script under timeout, with the mode
bench_start_without_arguments 600
CG_WARMUP="${BENCH_CALLGRIND_WARMUP:-200}"
CG_N1="${BENCH_CALLGRIND_N1:-500}"
CG_N2="${BENCH_CALLGRIND_N2:-2500}"
read -r -a EXTRA_FLAGS <<<"${SLUICE_EXTRA_FLAGS:-}"
bench_ports 19300 SLUICE_PORT=1 SLUICE_ADMIN_PORT=2 NGINX_PORT=3 CONTROLLER_GRPC_PORT=4 CONTROLLER_ADMIN_PORT=5
require_free_ports "$SLUICE_PORT" "$SLUICE_ADMIN_PORT" "$NGINX_PORT" "$CONTROLLER_GRPC_PORT" "$CONTROLLER_ADMIN_PORT"

require_tools "apt-get install -y nginx-light wrk curl" nginx wrk curl taskset timeout awk cmp python3
if [[ $MODE == callgrind ]]; then
  command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
    die "valgrind not found: apt-get install -y valgrind"
fi

bench_make_work /tmp/sluice-static-bench.XXXXXX
HOST_HEADER=static.local
sluice_binaries "$OUTPUT_BASE" opt SLUICE_PROXY_BIN=//dataplane/main:sluice-proxy \
  SLUICE_CONTROLLER_BIN=//controlplane/main:sluice-controller

# ------------------------------------------------------------------- files ---
SITE_BASE="$WORK/static"
SITE="$SITE_BASE/site"
mkdir -p "$SITE" "$WORK/tmp"
head -c 1024 /dev/urandom >"$SITE/1k.bin"
head -c 1048576 /dev/urandom >"$SITE/1m.bin"

# -------------------------------------------------------------- controller ---
mkdir -p "$WORK/manifests"
{
  k8s_ingress_class
  cat <<YAML
---
apiVersion: sluice.io/v1alpha1
kind: StaticSite
metadata: {name: bench, namespace: bench}
spec: {root: $SITE}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: static, namespace: bench}
spec:
  rules:
    - host: static.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {resource: {apiGroup: sluice.io, kind: StaticSite, name: bench}}}]
YAML
} >"$WORK/manifests/bench.yaml"
start_bg "$WORK/controller.log" taskset -c 1 "$SLUICE_CONTROLLER_BIN" --manifests "$WORK/manifests" \
  --grpc-listen "127.0.0.1:$CONTROLLER_GRPC_PORT" --admin-listen "127.0.0.1:$CONTROLLER_ADMIN_PORT" \
  --static-site-root "$SITE_BASE"

# ----------------------------------------------------------------- servers ---
# start_sluice [WRAPPER...]: sets SLUICE_PID (WRAPPER: valgrind ...).
start_sluice() {
  start_bg "$WORK/sluice.log" taskset -c 0 "$@" "$SLUICE_PROXY_BIN" --controller "127.0.0.1:$CONTROLLER_GRPC_PORT" \
    --http-listen "127.0.0.1:$SLUICE_PORT" --admin-listen "127.0.0.1:$SLUICE_ADMIN_PORT" --workers 1 \
    --node-id static-bench --access-log off "${EXTRA_FLAGS[@]}"
  SLUICE_PID=$last_pid
  wait_http "http://127.0.0.1:$SLUICE_PORT/1k.bin" 120 1024 ||
    { cat "$WORK/sluice.log" "$WORK/controller.log" >&2; die "sluice-proxy not ready"; }
}

mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/octet-stream;
  client_body_temp_path $WORK/tmp/body;
  proxy_temp_path $WORK/tmp/proxy;
  fastcgi_temp_path $WORK/tmp/fastcgi;
  uwsgi_temp_path $WORK/tmp/uwsgi;
  scgi_temp_path $WORK/tmp/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  tcp_nodelay on;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=1000 inactive=600s;
  open_file_cache_valid 60s;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $SITE;
    location / { etag on; }
  }
}
CONF
# start_nginx [WRAPPER...]: sets NGINX_PID.
start_nginx() {
  start_bg "$WORK/nginx/stdout.log" taskset -c 0 "$@" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
    -e "$WORK/nginx/error.log"
  NGINX_PID=$last_pid
  wait_http "http://127.0.0.1:$NGINX_PORT/1k.bin" 120 1024 || die "nginx did not start; see $WORK/nginx/error.log"
}

# ---------------------------------------------------------------- throughput --
# One row: sets RPS and US (server CPU us per request).
measure() {
  local pid="$1" port="$2" path="$3"
  local url="http://127.0.0.1:$port$path"
  curl -s -o "$WORK/one.body" -H "Host: static.local" --max-time 10 "$url"
  cmp -s "$WORK/one.body" "$SITE$path" || die "$url did not answer with the file's bytes"
  local args=(-t1 -c"$CONNECTIONS" -H "Host: static.local")
  taskset -c 1 timeout 60 wrk "${args[@]}" -d"${WARMUP_SECONDS}s" "$url" >/dev/null
  local before after out requests errors
  before="$(cpu_ticks "$pid")"
  out="$(taskset -c 1 timeout 120 wrk "${args[@]}" -d"${SECONDS_PER_ROW}s" "$url")"
  after="$(cpu_ticks "$pid")"
  requests="$(awk '/requests in/ { print $1 }' <<<"$out")"
  RPS="$(awk '/Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")"
  errors="$(awk '/Non-2xx|Socket errors/ { print }' <<<"$out")"
  [[ -z $errors ]] || log "$url: $errors"
  US="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
}

mode_throughput() {
  start_sluice
  start_nginx
  printf '%-8s %-8s %9s %16s %16s\n' server file "req/s" "CPU/request" "sluice/nginx"
  printf '%-8s %-8s %9s %16s %16s\n' ------ ---- ----- ----------- ------------
  local path nginx_us ratio
  for path in /1k.bin /1m.bin; do
    measure "$NGINX_PID" "$NGINX_PORT" "$path"
    nginx_us="$US"
    printf '%-8s %-8s %9s %13s us %16s\n' nginx "${path#/}" "$RPS" "$US" ""
    measure "$SLUICE_PID" "$SLUICE_PORT" "$path"
    ratio="$(awk -v a="$US" -v b="$nginx_us" 'BEGIN { printf "%.2f", a / b }')"
    printf '%-8s %-8s %9s %13s us %16s\n' sluice "${path#/}" "$RPS" "$US" "$ratio"
  done
  echo "(one worker each on core 0, wrk -c$CONNECTIONS keep-alive on core 1; ${SECONDS_PER_ROW}s per row;"
  echo " nginx: sendfile on, open_file_cache (valid 60s); sluice: sendfile on plain HTTP/1.1, its open-file cache"
  echo " with the defaults: 1000 entries, valid 1 s${SLUICE_EXTRA_FLAGS:+; flags: $SLUICE_EXTRA_FLAGS})"
}

# --------------------------------------------------------------- callgrind ---
LOADGEN=(timeout 600 python3 "$ROOT/bench/loadgen.py")

# loadgen_count PORT PATH BYTES N: N requests over 8 keep-alive connections.
loadgen_count() {
  "${LOADGEN[@]}" count --port "$1" --host static.local --path "$2" --conns 8 --requests "$4" \
    --expect-bytes "$3" --timeout 500 >>"$WORK/loadgen.log" 2>&1 || die "loadgen count failed; see $WORK/loadgen.log"
}

# count_file NAME PID PORT: one line "NAME PATH Ir/request" per file into
# $RESULTS; keeps the 1 KiB file's last window as NAME's profile.
count_file() {
  local name="$1" pid="$2" port="$3" path bytes i1 i2 i3 i4 per1 per2
  local out="$WORK/callgrind.$name"
  for path in /1k.bin /1m.bin; do
    bytes="$(stat -c %s "$SITE$path")"
    loadgen_count "$port" "$path" "$bytes" "$CG_WARMUP"
    local n1="$CG_N1" n2="$CG_N2"
    [[ $path == /1m.bin ]] && n1=$((CG_N1 / 5)) n2=$((CG_N2 / 5))  # 1 MiB: fewer, each far costlier to send
    i1="$(callgrind_count "$pid" "$out" loadgen_count "$port" "$path" "$bytes" "$n1")"
    i2="$(callgrind_count "$pid" "$out" loadgen_count "$port" "$path" "$bytes" "$n2")"
    i3="$(callgrind_count "$pid" "$out" loadgen_count "$port" "$path" "$bytes" "$n1")"
    i4="$(callgrind_count "$pid" "$out" loadgen_count "$port" "$path" "$bytes" "$n2")"
    per1="$(callgrind_per_request "$i1" "$i2" "$n1" "$n2")"
    per2="$(callgrind_per_request "$i3" "$i4" "$n1" "$n2")"
    log "$name $path: I($n1)=$i1 I($n2)=$i2 -> $per1 Ir/request; again: $i3 $i4 -> $per2"
    printf '%s\t%s\t%s\t%s\n' "$name" "${path#/}" "$per1" "$per2" >>"$RESULTS"
    if [[ $path == /1k.bin ]]; then
      # Frames already on the stack when the counters were zeroed carry
      # "calls=0"; callgrind_annotate then books their callees' cost as
      # their own. Say 1 call instead (as http1_bench.sh).
      sed 's/^calls=0 /calls=1 /' "$(callgrind_latest_dump "$out")" >"$WORK/profile.$name.callgrind"
    fi
  done
}

mode_callgrind() {
  RESULTS="$WORK/results.tsv"
  : >"$RESULTS"
  # --compress-strings=no: each dump names its functions itself;
  # --dump-line=no: costs per function (inlined code in its caller).
  local valgrind=(valgrind --tool=callgrind --dump-instr=no --dump-line=no --compress-strings=no
    --compress-pos=no --vgdb=yes)
  log "sluice under callgrind"
  start_sluice "${valgrind[@]}" --callgrind-out-file="$WORK/callgrind.sluice"
  count_file sluice "$SLUICE_PID" "$SLUICE_PORT"
  stop_pid "$SLUICE_PID" 10
  log "nginx under callgrind"
  start_nginx "${valgrind[@]}" --callgrind-out-file="$WORK/callgrind.nginx"
  count_file nginx "$NGINX_PID" "$NGINX_PORT"
  stop_pid "$NGINX_PID" 10

  echo "Instructions per request (callgrind; (I(N2) - I(N1)) / (N2 - N1) after $CG_WARMUP warm-up requests,"
  echo "N1=$CG_N1 N2=$CG_N2 for 1k.bin and a fifth of that for 1m.bin, 8 keep-alive connections; measured"
  echo "twice, the mean shown; user-space instructions only, the kernel's sendfile/write are not counted)"
  echo
  awk -F'\t' '{ per[$1 "," $2] = ($3 + $4) / 2 }
    END {
      printf "%-8s %14s %14s %14s\n", "file", "sluice Ir/req", "nginx Ir/req", "sluice/nginx"
      n = split("1k.bin 1m.bin", files, " ")
      for (i = 1; i <= n; i++) {
        s = per["sluice," files[i]]; g = per["nginx," files[i]]
        printf "%-8s %14.0f %14.0f %14.2f\n", files[i], s, g, (g > 0 ? s / g : 0)
      }
    }' "$RESULTS"
  local keep="${BENCH_PROFILE_DIR:-/tmp/sluice-bench-profiles}"
  mkdir -p "$keep"
  cp "$WORK/profile.sluice.callgrind" "$keep/static.sluice.callgrind"
  cp "$WORK/profile.nginx.callgrind" "$keep/static.nginx.callgrind"
  echo
  echo "sluice, 1k.bin: top 25 functions by self cost (last $CG_N2-request window; profile:"
  echo " $keep/static.sluice.callgrind)"
  callgrind_annotate --threshold=100 --auto=no "$keep/static.sluice.callgrind" 2>/dev/null |
    python3 "$ROOT/bench/top_functions.py" "$CG_N2" 25 | cut -c1-200
}

"mode_$MODE"
run_ok=1
