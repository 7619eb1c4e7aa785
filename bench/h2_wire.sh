#!/usr/bin/env bash
# What each proxied HTTP/2 request costs the *other* processes, counted
# rather than timed: sluice-proxy vs h2o vs nghttpx (h2c) in front of one
# nginx origin, pinned as bench/h2_bench.sh pins them (proxy on core 0,
# h2load and the origin on core 1), h2load -c 64 -m 10 -n N (1 KiB).
#
# Per request, for the proxy, the origin and the load (h2load), from perf
# tracepoints (no strace slowdown; the counts do not depend on the machine's
# load, the microseconds do): task-clock, syscalls, epoll_wait, read,
# recvfrom, sendto, writev; connections accepted + opened (upstream churn
# shows at the origin); TCP segments sent on the machine while the load ran
# (/proc/net/snmp OutSegs: every process's, so noisy on a shared machine);
# and, from h2load, the bytes on the wire and the HPACK header bytes. Then
# two requests on one connection with nghttp -nv: the frames each response
# takes and its HEADERS length (the second one: the dynamic table at work).
#
#   bench/h2_wire.sh            N=40000
# Environment: BENCH_REQUESTS=40000, BENCH_PROXIES="sluice h2o nghttpx",
#   BENCH_PORT_BASE=21100, SLUICE_PROXY_BIN/SLUICE_CONTROLLER_BIN (prebuilt),
#   BENCH_OUTPUT_BASE, BENCH_KEEP=1, BENCH_MAX_SECONDS=600.
# Needs perf with tracepoints (linux-perf) and root.
set -euo pipefail
LOG_TAG=h2wire
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case "${1:-}" in
  -h | --help) bench_help; exit 0 ;;
  "") ;;
  *) echo "usage: $0" >&2; exit 2 ;;
esac
bench_bound_run 600 "$@"

N="${BENCH_REQUESTS:-40000}"
PROXIES="${BENCH_PROXIES:-sluice h2o nghttpx}"
OUTPUT_BASE="${BENCH_OUTPUT_BASE:-/root/.cache/bazel-bench}"
bench_ports 21100 ORIGIN_PORT=1 CONTROLLER_PORT=2 SLUICE_ADMIN_PORT=3 CONTROLLER_ADMIN_PORT=4 \
  SLUICE_PORT=11 H2O_PORT=12 NGHTTPX_PORT=13
HOST="bench.local"
bench_make_work /tmp/sluice-h2wire.XXXXXX
install_missing h2load=nghttp2-client nghttp=nghttp2-client nghttpx=nghttp2-proxy h2o=h2o nginx=nginx-light
require_tools "apt-get install -y linux-perf" perf
sluice_binaries "$OUTPUT_BASE" opt SLUICE_PROXY_BIN=//dataplane/main:sluice-proxy \
  SLUICE_CONTROLLER_BIN=//controlplane/main:sluice-controller

mkdir -p "$WORK/www" "$WORK/tmp" "$WORK/manifests"
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

declare -A port_of pid_of
for proxy in $PROXIES; do
  case "$proxy" in
    sluice)
      { k8s_ingress_class; k8s_service origin; k8s_endpoint_slice origin-1 origin "$ORIGIN_PORT"
        k8s_ingress bench "$HOST" origin; } >"$WORK/manifests/bench.yaml"
      start_bg "$WORK/controller.log" taskset -c 1 "$SLUICE_CONTROLLER_BIN" --manifests "$WORK/manifests" \
        --grpc-listen "127.0.0.1:$CONTROLLER_PORT" --admin-listen "127.0.0.1:$CONTROLLER_ADMIN_PORT"
      start_bg "$WORK/sluice.log" taskset -c 0 "$SLUICE_PROXY_BIN" --controller "127.0.0.1:$CONTROLLER_PORT" \
        --http-listen "127.0.0.1:$SLUICE_PORT" --admin-listen "127.0.0.1:$SLUICE_ADMIN_PORT" --workers 1 --access-log off
      pid_of[sluice]=$last_pid port_of[sluice]=$SLUICE_PORT
      wait_url "http://127.0.0.1:$SLUICE_ADMIN_PORT/readyz" 60 || die "sluice not ready (see $WORK/sluice.log)"
      ;;
    h2o)
      cat >"$WORK/h2o.conf" <<EOF
num-threads: 1
$( [[ $(id -u) == 0 ]] && echo "user: root" )
error-log: $WORK/h2o.err
listen:
  host: 127.0.0.1
  port: $H2O_PORT
hosts:
  "$HOST":
    paths:
      "/":
        proxy.reverse.url: http://127.0.0.1:$ORIGIN_PORT/
EOF
      start_bg "$WORK/h2o.log" taskset -c 0 h2o -c "$WORK/h2o.conf"
      pid_of[h2o]=$last_pid port_of[h2o]=$H2O_PORT
      ;;
    nghttpx)
      start_bg "$WORK/nghttpx.log" taskset -c 0 nghttpx --conf=/dev/null --frontend="127.0.0.1,$NGHTTPX_PORT;no-tls" \
        --backend="127.0.0.1,$ORIGIN_PORT" --workers=1 --no-ocsp --pid-file="$WORK/nghttpx.pid" \
        --errorlog-file="$WORK/nghttpx.err"
      pid_of[nghttpx]=$last_pid port_of[nghttpx]=$NGHTTPX_PORT
      ;;
    *) die "unknown proxy $proxy" ;;
  esac
  wait_port "${port_of[$proxy]}" || die "$proxy did not start (see $WORK)"
done

EVENTS=task-clock,raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read
EVENTS+=,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_writev
EVENTS+=,syscalls:sys_enter_accept4,syscalls:sys_enter_connect
out_segs() { awk '/^Tcp:/ { if (seen) print $12; seen = 1 }' /proc/net/snmp; }
table="$WORK/table.txt"
printf '%-8s %-7s %8s %8s %7s %7s %8s %7s %7s %9s %9s %9s %9s\n' proxy process "us/req" "sys/req" epoll read recvfrom \
  sendto writev "conns/req" "segs/req" "bytes/req" "hpack/req" >"$table"
for proxy in $PROXIES; do
  url="http://127.0.0.1:${port_of[$proxy]}/1k"
  h2args=(-c 64 -m 10 -t 1 --header=":authority: $HOST")
  taskset -c 1 h2load "${h2args[@]}" -n 3000 "$url" >"$WORK/warm-$proxy.txt" 2>&1 || die "warm-up of $proxy failed"
  perf stat -x, -e "$EVENTS" -p "$(pid_and_children "${pid_of[$proxy]}" | tr ' ' ,)" -o "$WORK/perf-proxy-$proxy.txt" &
  perf_proxy=$!
  perf stat -x, -e "$EVENTS" -p "$origin_pid" -o "$WORK/perf-origin-$proxy.txt" &
  perf_origin=$!
  sleep 0.5
  segs_before=$(out_segs)
  perf stat -x, -e "$EVENTS" -o "$WORK/perf-load-$proxy.txt" -- taskset -c 1 h2load "${h2args[@]}" -n "$N" "$url" \
    >"$WORK/load-$proxy.txt" 2>&1 || die "h2load against $proxy failed"
  segs_after=$(out_segs)
  kill -INT "$perf_proxy" "$perf_origin"
  wait "$perf_proxy" "$perf_origin" 2>/dev/null || true
  grep -q "status codes: $N 2xx" "$WORK/load-$proxy.txt" || die "not every request of $proxy succeeded"
  # traffic: 40.71MB (42691712) total, 984.56KB (1008192) headers (...), 39.06MB (40960000) data
  bytes=$(awk '/^traffic:/ { gsub(/[()]/, "", $3); print $3 }' "$WORK/load-$proxy.txt")
  hpack=$(awk '/^traffic:/ { gsub(/[()]/, "", $6); print $6 }' "$WORK/load-$proxy.txt")
  for process in proxy origin load; do
    awk -F, -v n="$N" -v proxy="$proxy" -v process="$process" -v segs=$((segs_after - segs_before)) \
      -v bytes="$bytes" -v hpack="$hpack" '
      { v[$3] = $1 }
      END {
        last = process == "load"
        printf "%-8s %-7s %8.2f %8.2f %7.2f %7.2f %8.2f %7.2f %7.2f %9.4f %9s %9s %9s\n", proxy, process,
          v["task-clock"] * 1000 / n, v["raw_syscalls:sys_enter"] / n, v["syscalls:sys_enter_epoll_wait"] / n,
          v["syscalls:sys_enter_read"] / n, v["syscalls:sys_enter_recvfrom"] / n, v["syscalls:sys_enter_sendto"] / n,
          v["syscalls:sys_enter_writev"] / n, (v["syscalls:sys_enter_accept4"] + v["syscalls:sys_enter_connect"]) / n,
          last ? sprintf("%.2f", segs / n) : "-", last ? sprintf("%.1f", bytes / n) : "-", last ? sprintf("%.1f", hpack / n) : "-"
      }' "$WORK/perf-$process-$proxy.txt" >>"$table"
  done
  # Two requests on one connection: the frames of each response.
  nghttp -nv -H ":authority: $HOST" "$url" "$url?again" 2>&1 |
    awk -v proxy="$proxy" '/recv (HEADERS|DATA|WINDOW_UPDATE|SETTINGS|RST_STREAM|GOAWAY) frame/ {
      sub(/^\[ *[0-9.]+\] /, ""); printf "  %s: %s\n", proxy, $0 }' >>"$WORK/frames.txt"
done
echo "- h2c, h2load -c 64 -m 10 -n $N, 1 KiB from an nginx origin (HTTP/1.1 keep-alive), after 3000 warm-up requests"
echo "- per request; us/req is task-clock (timed: noisy on a shared machine), the rest are counts"
echo "- conns/req: accept4 + connect (the proxy: its clients; the origin: upstream connections opened by the proxy)"
echo "- segs/req: TCP segments sent by the whole machine while the load ran; bytes/req, hpack/req: as h2load saw them"
echo
cat "$table"
echo
echo "Frames of two responses on one connection (nghttp -nv):"
cat "$WORK/frames.txt"
run_ok=1
