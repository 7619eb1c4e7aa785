#!/usr/bin/env bash
# Failover benchmark: client-visible errors while one of three backends is
# killed and restarted under a fixed request rate, for sluice-proxy, nginx
# and HAProxy side by side in one run, in front of the same three
# sluice-echo-backends on 127.0.0.1. See bench/README.md.
#
# Timeline (each proxy gets its own fixed-rate client, all started together):
#   t=0            load starts (BENCH_RATE requests/s per proxy)
#   t=KILL_AT      backend b1 is killed (SIGKILL: in-flight requests are reset)
#                  or, with BENCH_FAULT=stop, frozen (SIGSTOP: it accepts
#                  connections but never answers, like a hung process)
#   t=RESTART_AT   b1 is started again on the same port (stop: SIGCONT)
#   t=SECONDS      load stops; the table counts what the clients saw
#
# Each proxy is configured for failover the way it does it best:
#   sluice   passive outlier detection (2 failures in a row eject; nginx's
#            max_fails=1 is one), retries on connect-failure,
#            reset, timeout, 502, 503, 504 (a different endpoint per try,
#            per-try timeout 1 s), active checks on /healthz every 1 s
#            (unhealthy after 2)
#   nginx    proxy_next_upstream error timeout http_502 http_503 http_504,
#            tries 3, proxy_read_timeout 1s, max_fails=1 fail_timeout=5s
#   HAProxy  option httpchk GET /healthz inter 1s fall 2 rise 2, retries 2,
#            retry-on conn-failure empty-response response-timeout 502 503 504,
#            timeout server 1s, option redispatch
# All connect timeouts are 1 s.
#
# Environment (all optional):
#   BENCH_SECONDS=20 BENCH_KILL_AT=5 BENCH_RESTART_AT=12
#   BENCH_FAULT=kill           kill | stop
#   BENCH_RATE=150             requests per second per proxy
#   BENCH_CONNS=16             client keep-alive connections per proxy
#   BENCH_PATH=/slow/20        what the clients GET (echo backend: 20 ms of
#                              service time, so requests are in flight when
#                              the backend dies)
#   BENCH_PORT_BASE=21000      ports BASE+1 .. BASE+30 on 127.0.0.1 (below the
#                              ephemeral range, so no client socket holds one)
#   BENCH_PROXIES="sluice nginx haproxy"
#   SLUICE_PROXY_BIN SLUICE_CONTROLLER_BIN SLUICE_BACKEND_BIN   prebuilt binaries
#   BENCH_OUTPUT_BASE=/root/.cache/bazel-health   bazel output base for the build
#   BENCH_KEEP=1               keep the temp dir (configs, logs)
#   BENCH_MAX_SECONDS=1800     bound on the whole run
set -euo pipefail
LOG_TAG=failover
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  bench_help
  exit 0
fi
bench_bound_run 1800 "$@"

DURATION="${BENCH_SECONDS:-20}"
KILL_AT="${BENCH_KILL_AT:-5}"
RESTART_AT="${BENCH_RESTART_AT:-12}"
FAULT="${BENCH_FAULT:-kill}"
[[ $FAULT == kill || $FAULT == stop ]] || { echo "BENCH_FAULT must be kill or stop" >&2; exit 2; }
RATE="${BENCH_RATE:-150}"
CONNS="${BENCH_CONNS:-16}"
REQUEST_PATH="${BENCH_PATH:-/slow/20}"
PROXIES="${BENCH_PROXIES:-sluice nginx haproxy}"
OUTPUT_BASE="${BENCH_OUTPUT_BASE:-/root/.cache/bazel-health}"
HOST_HEADER="failover.local"

bench_ports 21000 SLUICE_PORT=10 SLUICE_ADMIN_PORT=11 CONTROLLER_GRPC_PORT=12 CONTROLLER_ADMIN_PORT=13 \
  NGINX_PORT=20 HAPROXY_PORT=30
BACKEND_PORTS=($((PORT_BASE + 1)) $((PORT_BASE + 2)) $((PORT_BASE + 3)))

bench_make_work /tmp/sluice-failover.XXXXXX

require_tools "apt-get install -y nginx-light haproxy curl python3" nginx haproxy curl python3 timeout
require_free_ports "${BACKEND_PORTS[@]}" "$SLUICE_PORT" "$SLUICE_ADMIN_PORT" "$CONTROLLER_GRPC_PORT" \
  "$CONTROLLER_ADMIN_PORT" "$NGINX_PORT" "$HAPROXY_PORT"

# ----------------------------------------------------------------- build ----
# "": bazel's default compilation mode (fastbuild), not -c opt.
sluice_binaries "$OUTPUT_BASE" "" SLUICE_PROXY_BIN=//dataplane/main:sluice-proxy \
  SLUICE_CONTROLLER_BIN=//controlplane/main:sluice-controller SLUICE_BACKEND_BIN=//test/backend:sluice-echo-backend

# --------------------------------------------------------------- backends ---
backend_pids=()
start_backend() {  # start_backend INDEX
  local i="$1"
  start_bg "$WORK/backend$i.log" "$SLUICE_BACKEND_BIN" --listen "127.0.0.1:${BACKEND_PORTS[$i]}" --name "b$i"
  backend_pids[$i]=$last_pid
}
for i in 0 1 2; do start_backend "$i"; done
for i in 0 1 2; do wait_http "http://127.0.0.1:${BACKEND_PORTS[$i]}/healthz" 10 || die "backend $i did not start"; done

# ---------------------------------------------------------------- proxies ---
# Failover annotations: retries, outlier detection, active checks, 1 s timeouts.
SLUICE_ANNOTATIONS='{sluice.io/retry-on: "connect-failure,reset,timeout,502,503,504", sluice.io/per-try-timeout: "1s",
    sluice.io/outlier-consecutive-failures: "2", sluice.io/health-check-path: "/healthz",
    sluice.io/health-check-interval: "1s", sluice.io/health-check-timeout: "1s",
    sluice.io/health-check-unhealthy-threshold: "2", sluice.io/health-check-healthy-threshold: "2",
    sluice.io/proxy-connect-timeout: "1s"}'
write_sluice_manifests() {
  k8s_ingress_class
  k8s_service app
  k8s_ingress app "$HOST_HEADER" app "$SLUICE_ANNOTATIONS"
  # One EndpointSlice per backend: they differ by port, all on 127.0.0.1.
  local i
  for i in 0 1 2; do k8s_endpoint_slice "app-$i" app "${BACKEND_PORTS[$i]}"; done
}

start_sluice() {
  mkdir -p "$WORK/manifests"
  write_sluice_manifests >"$WORK/manifests/app.yaml"
  start_bg "$WORK/controller.log" "$SLUICE_CONTROLLER_BIN" --manifests "$WORK/manifests" \
    --grpc-listen "127.0.0.1:$CONTROLLER_GRPC_PORT" --admin-listen "127.0.0.1:$CONTROLLER_ADMIN_PORT"
  start_bg "$WORK/sluice.log" "$SLUICE_PROXY_BIN" --controller "127.0.0.1:$CONTROLLER_GRPC_PORT" \
    --http-listen "127.0.0.1:$SLUICE_PORT" --admin-listen "127.0.0.1:$SLUICE_ADMIN_PORT" --workers 1 \
    --node-id failover-bench --access-log off
  wait_http "http://127.0.0.1:$SLUICE_PORT/" 20 || die "sluice does not proxy; see $WORK/sluice.log"
}

start_nginx() {
  mkdir -p "$WORK/nginx/tmp"
  cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp;
  scgi_temp_path $WORK/nginx/tmp;
  upstream app {
    server 127.0.0.1:${BACKEND_PORTS[0]} max_fails=1 fail_timeout=5s;
    server 127.0.0.1:${BACKEND_PORTS[1]} max_fails=1 fail_timeout=5s;
    server 127.0.0.1:${BACKEND_PORTS[2]} max_fails=1 fail_timeout=5s;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_connect_timeout 1s;
      proxy_read_timeout 1s;
      proxy_next_upstream error timeout http_502 http_503 http_504;
      proxy_next_upstream_tries 3;
    }
  }
}
CONF
  start_bg "$WORK/nginx/stdout.log" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log"
  wait_http "http://127.0.0.1:$NGINX_PORT/" 10 || die "nginx does not proxy; see $WORK/nginx"
}

start_haproxy() {
  mkdir -p "$WORK/haproxy"
  cat >"$WORK/haproxy/haproxy.cfg" <<CONF
global
  nbthread 1
defaults
  mode http
  option http-keep-alive
  http-reuse safe
  timeout connect 1s
  timeout client 30s
  timeout server 1s
frontend app
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend app
backend app
  option httpchk GET /healthz
  http-check expect status 200
  option redispatch 1
  retries 2
  retry-on conn-failure empty-response response-timeout 502 503 504
  default-server check inter 1s fall 2 rise 2
  server b0 127.0.0.1:${BACKEND_PORTS[0]}
  server b1 127.0.0.1:${BACKEND_PORTS[1]}
  server b2 127.0.0.1:${BACKEND_PORTS[2]}
CONF
  start_bg "$WORK/haproxy/haproxy.log" haproxy -db -f "$WORK/haproxy/haproxy.cfg"
  wait_http "http://127.0.0.1:$HAPROXY_PORT/" 10 || die "haproxy does not proxy; see $WORK/haproxy"
}

declare -A PORT_OF=([sluice]=$SLUICE_PORT [nginx]=$NGINX_PORT [haproxy]=$HAPROXY_PORT)
for proxy in $PROXIES; do
  [[ -n "${PORT_OF[$proxy]:-}" ]] || die "unknown proxy $proxy (sluice, nginx, haproxy)"
  log "starting $proxy"
  "start_$proxy"
done

# ------------------------------------------------------------------- run ----
start_at=$(python3 -c 'import time; print(time.time() + 1.0)')
load_pids=()
for proxy in $PROXIES; do
  start_bg "$WORK/load-$proxy.json" python3 "$ROOT/bench/failover_load.py" --port "${PORT_OF[$proxy]}" \
    --host "$HOST_HEADER" --path "$REQUEST_PATH" --rate "$RATE" --conns "$CONNS" --seconds "$DURATION" \
    --start-at "$start_at"
  load_pids+=("$last_pid")
done
sleep_until() { python3 -c "import time; time.sleep(max(0, $start_at + $1 - time.time()))"; }
log "load: $RATE req/s per proxy for ${DURATION}s; fault ($FAULT) on backend b1 at ${KILL_AT}s, back at ${RESTART_AT}s"
sleep_until "$KILL_AT"
if [[ $FAULT == kill ]]; then
  kill -KILL "${backend_pids[1]}"
  wait "${backend_pids[1]}" 2>/dev/null || true
  log "killed b1"
else
  kill -STOP "${backend_pids[1]}"
  log "froze b1"
fi
sleep_until "$RESTART_AT"
if [[ $FAULT == kill ]]; then
  start_backend 1
  log "restarted b1"
else
  kill -CONT "${backend_pids[1]}"
  log "resumed b1"
fi
for pid in "${load_pids[@]}"; do wait "$pid" || die "a load generator failed; see $WORK"; done

# ------------------------------------------------------------------ table ---
sluice_notes=""
if [[ " $PROXIES " == *" sluice "* ]]; then
  metrics="$(curl -s --max-time 2 "http://127.0.0.1:$SLUICE_ADMIN_PORT/metrics" || true)"
  value() { echo "$metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
  sluice_notes="sluice: $(value sluice_upstream_retries_total) retries, $(value sluice_retry_budget_exhausted_total) refused by the retry budget, $(value sluice_outlier_ejections_total) outlier ejections"
fi
python3 - "$WORK" "$RATE" "$DURATION" "$KILL_AT" "$RESTART_AT" "$REQUEST_PATH" "$FAULT" $PROXIES <<'PY'
import json, sys
work, rate, duration, kill_at, restart_at, path, fault = sys.argv[1:8]
proxies = sys.argv[8:]
what = "killed" if fault == "kill" else "frozen (SIGSTOP)"
back = "restarted" if fault == "kill" else "resumed"
print(f"Failover: GET {path}, {rate} req/s per proxy for {duration} s; one of three backends {what} at "
      f"{kill_at} s, {back} at {restart_at} s")
print()
print("| proxy    | requests |    2xx |   5xx | conn errors | client errors | p99 ms | max ms | > 1 s | errors by second |")
print("|----------|---------:|-------:|------:|------------:|--------------:|-------:|-------:|------:|------------------|")
for proxy in proxies:
    r = json.load(open(f"{work}/load-{proxy}.json"))
    total = r["ok"] + r["5xx"] + r["other"] + r["conn_error"]
    errors = r["5xx"] + r["conn_error"]
    timeline = " ".join(f"{k}s:{v}" for k, v in r["timeline"].items()) or "-"
    print(f"| {proxy:<8} | {total:>8} | {r['ok']:>6} | {r['5xx']:>5} | {r['conn_error']:>11} | {errors:>13} | "
          f"{r.get('p99_ms', 0):>6} | {r.get('max_ms', 0):>6} | {r.get('over_1s', 0):>5} | {timeline} |")
PY
if [[ -n $sluice_notes ]]; then echo; echo "$sluice_notes"; fi
run_ok=1
