#!/usr/bin/env bash
# Static files, side by side in one run: sluice-proxy serving a StaticSite
# directory and nginx serving the same directory (sendfile on,
# open_file_cache; sluice with its own open-file cache at the defaults), a
# 1 KiB and a 1 MiB file over keep-alive connections.
# For each row: requests per second and the server's CPU time per request
# (utime + stime from /proc/PID/stat, so wrk's speed does not enter it),
# and sluice's CPU per request over nginx's. Servers pinned to core 0 (one
# worker each), wrk to core 1. Prints a table; see bench/README.md.
#
#   bench/static_bench.sh
#
# Environment (all optional):
#   BENCH_SECONDS=5            measured wrk duration per row
#   BENCH_WARMUP_SECONDS=1     unmeasured wrk run before each row
#   BENCH_CONNECTIONS=8        wrk connections
#   BENCH_PORT_BASE=19300      ports BASE+1 .. BASE+4 on 127.0.0.1
#   SLUICE_PROXY_BIN, SLUICE_CONTROLLER_BIN   prebuilt binaries (skip bazel)
#   BENCH_OUTPUT_BASE=/root/.cache/bazel-bench
#   BENCH_MAX_SECONDS=600      bound on the whole run
#   BENCH_KEEP=1               keep the temp dir (configs, logs)
set -euo pipefail
LOG_TAG=static_bench
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_start_without_arguments 600 "$@"
bench_ports 19300 SLUICE_PORT=1 SLUICE_ADMIN_PORT=2 NGINX_PORT=3 CONTROLLER_GRPC_PORT=4 CONTROLLER_ADMIN_PORT=5
require_free_ports "$SLUICE_PORT" "$SLUICE_ADMIN_PORT" "$NGINX_PORT" "$CONTROLLER_GRPC_PORT" "$CONTROLLER_ADMIN_PORT"

require_tools "apt-get install -y nginx-light wrk curl" nginx wrk curl taskset timeout awk cmp

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

# ------------------------------------------------------------------ sluice ---
mkdir -p "$WORK/manifests"
{
  k8s_ingress_class
  cat <<EOF
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
EOF
} >"$WORK/manifests/bench.yaml"
start_bg "$WORK/controller.log" taskset -c 1 "$SLUICE_CONTROLLER_BIN" --manifests "$WORK/manifests" \
  --grpc-listen "127.0.0.1:$CONTROLLER_GRPC_PORT" --admin-listen "127.0.0.1:$CONTROLLER_ADMIN_PORT" \
  --static-site-root "$SITE_BASE"
start_bg "$WORK/sluice.log" taskset -c 0 "$SLUICE_PROXY_BIN" --controller "127.0.0.1:$CONTROLLER_GRPC_PORT" \
  --http-listen "127.0.0.1:$SLUICE_PORT" --admin-listen "127.0.0.1:$SLUICE_ADMIN_PORT" --workers 1 \
  --node-id static-bench --access-log off
SLUICE_PID=$last_pid
wait_http "http://127.0.0.1:$SLUICE_PORT/1k.bin" 20 1024 ||
  { cat "$WORK/sluice.log" "$WORK/controller.log" >&2; die "sluice-proxy not ready"; }

# ------------------------------------------------------------------- nginx ---
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
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
EOF
start_bg "$WORK/nginx/stdout.log" taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
  -e "$WORK/nginx/error.log"
NGINX_PID=$last_pid
wait_http "http://127.0.0.1:$NGINX_PORT/1k.bin" 10 1024 || die "nginx did not start; see $WORK/nginx/error.log"

# ----------------------------------------------------------------- measure ---
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

printf '%-8s %-8s %9s %16s %16s\n' server file "req/s" "CPU/request" "sluice/nginx"
printf '%-8s %-8s %9s %16s %16s\n' ------ ---- ----- ----------- ------------
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
echo " with the defaults: 1000 entries, valid 1 s)"
run_ok=1
