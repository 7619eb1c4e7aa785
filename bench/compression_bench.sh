#!/usr/bin/env bash
# Response compression, side by side in one run: sluice-proxy (gzip, br,
# zstd) and nginx (gzip; Debian's nginx has no brotli module) as reverse
# proxies in front of the same nginx origin, for a 64 KiB JSON and a
# 200 KiB JavaScript body. For each row: requests per second, the proxy's
# CPU time per compressed response (utime + stime from /proc/PID/stat, so
# origin and wrk speed do not enter it) and the compression ratio (bytes
# the client got for one response). Proxies pinned to core 0, origin and
# wrk to core 1. Prints a table; see bench/README.md.
#
#   bench/compression_bench.sh
#
# Environment (all optional):
#   BENCH_SECONDS=5            measured wrk duration per row
#   BENCH_WARMUP_SECONDS=1     unmeasured wrk run before each row
#   BENCH_CONNECTIONS=8        wrk connections
#   BENCH_GZIP_LEVEL=5         gzip level of both proxies (sluice's default is 5)
#   BENCH_BROTLI_LEVEL=4       sluice's brotli level
#   BENCH_ZSTD_LEVEL=3         sluice's zstd level
#   BENCH_PORT_BASE=19200      ports BASE+1 .. BASE+6 on 127.0.0.1
#   SLUICE_PROXY_BIN, SLUICE_CONTROLLER_BIN   prebuilt binaries (skip bazel)
#   BENCH_OUTPUT_BASE=/root/.cache/bazel-bench
#   BENCH_MAX_SECONDS=900      bound on the whole run
#   BENCH_KEEP=1               keep the temp dir (configs, logs)
set -euo pipefail
LOG_TAG=compression_bench
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_start_without_arguments 900 "$@"
GZIP_LEVEL="${BENCH_GZIP_LEVEL:-5}"
BROTLI_LEVEL="${BENCH_BROTLI_LEVEL:-4}"
ZSTD_LEVEL="${BENCH_ZSTD_LEVEL:-3}"
# Below the ephemeral range (32768-60999).
bench_ports 19200 ORIGIN_PORT=1 SLUICE_PORT=2 SLUICE_ADMIN_PORT=3 NGINX_PORT=4 CONTROLLER_GRPC_PORT=5 \
  CONTROLLER_ADMIN_PORT=6
require_free_ports "$ORIGIN_PORT" "$SLUICE_PORT" "$SLUICE_ADMIN_PORT" "$NGINX_PORT" "$CONTROLLER_GRPC_PORT" \
  "$CONTROLLER_ADMIN_PORT"

require_tools "apt-get install -y nginx-light wrk curl python3 brotli zstd" nginx wrk curl taskset timeout awk python3

bench_make_work /tmp/sluice-compression-bench.XXXXXX
HOST_HEADER=bench.local
sluice_binaries "$OUTPUT_BASE" opt SLUICE_PROXY_BIN=//dataplane/main:sluice-proxy \
  SLUICE_CONTROLLER_BIN=//controlplane/main:sluice-controller

NGINX_COMMON_HTTP="
  access_log off;
  default_type application/octet-stream;
  types { application/json json; application/javascript js; }
  client_body_temp_path $WORK/tmp/body;
  proxy_temp_path $WORK/tmp/proxy;
  fastcgi_temp_path $WORK/tmp/fastcgi;
  uwsgi_temp_path $WORK/tmp/uwsgi;
  scgi_temp_path $WORK/tmp/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  tcp_nodelay on;"

# ------------------------------------------------------------------ bodies ---
# Realistic, deterministic text: JSON records and JavaScript-like source
# with varied identifiers and numbers (not one repeated byte).
mkdir -p "$WORK/origin/www" "$WORK/tmp"
python3 - "$WORK/origin/www" <<'EOF'
import random, sys
root = sys.argv[1]
rng = random.Random(16)
words = ["user", "order", "item", "price", "status", "created", "updated", "name", "email", "total",
         "shipping", "address", "city", "country", "active", "pending", "tags", "score", "count", "id"]
out = []
size = 0
while size < 65536:
    rec = '{"id":%d,"%s":"%s-%d","%s":%d.%02d,"%s":%s,"%s":["%s","%s"]},' % (
        rng.randrange(10**6), rng.choice(words), rng.choice(words), rng.randrange(10**4),
        rng.choice(words), rng.randrange(1000), rng.randrange(100), rng.choice(words),
        rng.choice(["true", "false", "null"]), rng.choice(words), rng.choice(words), rng.choice(words))
    out.append(rec)
    size += len(rec)
open(root + "/64k.json", "w").write(("[" + "".join(out))[:65535] + "]")
out = []
size = 0
while size < 204800:
    a, b, c = rng.choice(words), rng.choice(words), rng.choice(words)
    line = "function %s%s_%d(%s, %s) {\n  const %s = %s.%s || %d;\n  if (%s > %d) { return %s(%s, '%s'); }\n  return %s + %d;\n}\n" % (
        a, b.capitalize(), rng.randrange(1000), a, b, c, a, b, rng.randrange(100), c, rng.randrange(10**5),
        b, c, rng.choice(words), a, rng.randrange(10**4))
    out.append(line)
    size += len(line)
open(root + "/200k.js", "w").write("".join(out)[:204800])
EOF

# ------------------------------------------------------------------ origin ---
cat >"$WORK/origin/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/origin/nginx.pid;
error_log $WORK/origin/error.log warn;
events { worker_connections 4096; }
http {
  $NGINX_COMMON_HTTP
  sendfile on;
  open_file_cache max=16 inactive=600s;
  server {
    listen 127.0.0.1:$ORIGIN_PORT;
    root $WORK/origin/www;
    location / { }
  }
}
EOF
start_bg "$WORK/origin/stdout.log" taskset -c 1 nginx -p "$WORK/origin" -c "$WORK/origin/nginx.conf" \
  -e "$WORK/origin/error.log"
wait_http "http://127.0.0.1:$ORIGIN_PORT/64k.json" 10 65536 || die "origin did not start; see $WORK/origin/error.log"

# ------------------------------------------------------------------ sluice ---
mkdir -p "$WORK/manifests"
{
  k8s_ingress_class
  k8s_service origin
  k8s_endpoint_slice origin-manual origin "$ORIGIN_PORT"
  k8s_ingress bench bench.local origin "{sluice.io/compression: \"on\", sluice.io/compression-level-gzip: \"$GZIP_LEVEL\", sluice.io/compression-level-brotli: \"$BROTLI_LEVEL\", sluice.io/compression-level-zstd: \"$ZSTD_LEVEL\"}"
} >"$WORK/manifests/bench.yaml"
start_bg "$WORK/controller.log" taskset -c 1 "$SLUICE_CONTROLLER_BIN" --manifests "$WORK/manifests" \
  --grpc-listen "127.0.0.1:$CONTROLLER_GRPC_PORT" --admin-listen "127.0.0.1:$CONTROLLER_ADMIN_PORT"
start_bg "$WORK/sluice.log" taskset -c 0 "$SLUICE_PROXY_BIN" --controller "127.0.0.1:$CONTROLLER_GRPC_PORT" \
  --http-listen "127.0.0.1:$SLUICE_PORT" --admin-listen "127.0.0.1:$SLUICE_ADMIN_PORT" --workers 1 \
  --node-id compression-bench --access-log off
SLUICE_PID=$last_pid
wait_http "http://127.0.0.1:$SLUICE_PORT/64k.json" 20 ||
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
  $NGINX_COMMON_HTTP
  upstream origin {
    server 127.0.0.1:$ORIGIN_PORT;
    keepalive 64;
  }
  gzip on;
  gzip_comp_level $GZIP_LEVEL;
  gzip_min_length 1024;
  gzip_proxied any;
  gzip_vary on;
  gzip_types application/json application/javascript;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
    }
  }
}
EOF
start_bg "$WORK/nginx/stdout.log" taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
  -e "$WORK/nginx/error.log"
NGINX_PID=$last_pid
wait_http "http://127.0.0.1:$NGINX_PORT/64k.json" 10 || die "nginx did not start; see $WORK/nginx/error.log"

# ----------------------------------------------------------------- measure ---
# One row: sets RPS, US (proxy CPU us per response), BYTES (one response as sent).
measure() {
  local pid="$1" port="$2" coding="$3" path="$4"
  local args=(-t1 -c"$CONNECTIONS" -H "Host: bench.local" -H "Accept-Encoding: $coding")
  local url="http://127.0.0.1:$port$path"
  local got
  got="$(curl -s -o "$WORK/one.body" -D "$WORK/one.head" -H "Host: bench.local" -H "Accept-Encoding: $coding" \
    --max-time 10 -w '%{http_code} %{size_download}' "$url")"
  BYTES="${got#* }"
  grep -qi "^content-encoding: $coding" "$WORK/one.head" || die "$url did not answer with $coding: $(cat "$WORK/one.head")"
  # The decoded bytes are the origin's.
  local decode="gzip -dc"
  [[ $coding == br ]] && decode="brotli -dc"
  [[ $coding == zstd ]] && decode="zstd -dcq"
  $decode <"$WORK/one.body" | cmp -s - "$WORK/origin/www${path}" || die "$url: $coding body does not decode to the origin's"
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

printf '%-8s %-6s %-6s %-10s %9s %16s %12s %7s\n' proxy coding level body "req/s" "CPU/response" "bytes sent" ratio
printf '%-8s %-6s %-6s %-10s %9s %16s %12s %7s\n' ----- ------ ----- ---- ----- ------------ ---------- -----
for path in /64k.json /200k.js; do
  size="$(stat -c %s "$WORK/origin/www$path")"
  for row in "nginx gzip $GZIP_LEVEL" "sluice gzip $GZIP_LEVEL" "sluice br $BROTLI_LEVEL" "sluice zstd $ZSTD_LEVEL"; do
    read -r proxy coding level <<<"$row"
    if [[ $proxy == nginx ]]; then measure "$NGINX_PID" "$NGINX_PORT" "$coding" "$path"
    else measure "$SLUICE_PID" "$SLUICE_PORT" "$coding" "$path"; fi
    ratio="$(awk -v a="$size" -v b="$BYTES" 'BEGIN { printf "%.2f", a / b }')"
    printf '%-8s %-6s %-6s %-10s %9s %13s us %12s %7s\n' "$proxy" "$coding" "$level" "${path#/}" "$RPS" "$US" "$BYTES" "$ratio"
  done
done
echo "(one worker each on core 0; origin nginx and wrk -c$CONNECTIONS on core 1; ${SECONDS_PER_ROW}s per row;"
echo " ratio = body bytes / bytes sent; sluice flushes after every upstream chunk, nginx gzip buffers up to its own flush)"
run_ok=1
