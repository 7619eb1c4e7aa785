#!/usr/bin/env bash
# Application firewall, side by side in one run: sluice-proxy (libmodsecurity3
# stages) and nginx with Debian's libnginx-mod-http-modsecurity, both running
# Debian's OWASP CRS at paranoia 1 with the same engine settings, as reverse
# proxies in front of the same nginx origin. Two requests: a GET of about
# 1 KiB with a query string, and a 16 KiB application/x-www-form-urlencoded
# POST (both clean: they pass the CRS). For each row: requests per second
# and the proxy's CPU time per request (utime + stime from /proc/PID/stat,
# so origin and wrk speed do not enter it), with the firewall on and off
# (same process, another host/port). Proxies pinned to core 0 with one
# worker each, origin and wrk to core 1. Prints a table.
#
#   bench/waf_bench.sh
#
# Environment (all optional):
#   BENCH_SECONDS=5            measured wrk duration per row
#   BENCH_WARMUP_SECONDS=1     unmeasured wrk run before each row
#   BENCH_CONNECTIONS=8        wrk connections
#   BENCH_PORT_BASE=19300      ports BASE+1 .. BASE+7 on 127.0.0.1
#   SLUICE_PROXY_BIN, SLUICE_CONTROLLER_BIN   prebuilt binaries (skip bazel)
#   BENCH_OUTPUT_BASE=/root/.cache/bazel-bench
#   BENCH_MAX_SECONDS=900      bound on the whole run
#   BENCH_KEEP=1               keep the temp dir (configs, logs)
set -euo pipefail
LOG_TAG=waf_bench
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_start_without_arguments 900 "$@"
CRS_DIR=/usr/share/modsecurity-crs
NGINX_MODSECURITY=/usr/share/nginx/modules/ngx_http_modsecurity_module.so
bench_ports 19300 ORIGIN_PORT=1 SLUICE_PORT=2 SLUICE_ADMIN_PORT=3 NGINX_WAF_PORT=4 NGINX_PLAIN_PORT=5 \
  CONTROLLER_GRPC_PORT=6 CONTROLLER_ADMIN_PORT=7
require_free_ports "$ORIGIN_PORT" "$SLUICE_PORT" "$SLUICE_ADMIN_PORT" "$NGINX_WAF_PORT" "$NGINX_PLAIN_PORT" \
  "$CONTROLLER_GRPC_PORT" "$CONTROLLER_ADMIN_PORT"

require_tools "apt-get install -y nginx-light wrk curl" nginx wrk curl taskset timeout awk
bench_make_work /tmp/sluice-waf-bench.XXXXXX
# The comparison's nginx module is a bench-only package (benches are not run
# in CI), installed here when missing.
if [[ ! -f $NGINX_MODSECURITY ]]; then
  log "installing libnginx-mod-http-modsecurity"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libnginx-mod-http-modsecurity \
    >"$WORK/apt.log" 2>&1 || die "apt-get install libnginx-mod-http-modsecurity failed (see $WORK/apt.log)"
fi
[[ -d $CRS_DIR/rules ]] || die "$CRS_DIR/rules missing: apt-get install -y modsecurity-crs"
sluice_binaries "$OUTPUT_BASE" opt SLUICE_PROXY_BIN=//dataplane/main:sluice-proxy \
  SLUICE_CONTROLLER_BIN=//controlplane/main:sluice-controller
mkdir -p "$WORK/tmp" "$WORK/origin" "$WORK/nginx" "$WORK/manifests"

NGINX_COMMON_HTTP="
  access_log off;
  client_body_temp_path $WORK/tmp/body;
  proxy_temp_path $WORK/tmp/proxy;
  fastcgi_temp_path $WORK/tmp/fastcgi;
  uwsgi_temp_path $WORK/tmp/uwsgi;
  scgi_temp_path $WORK/tmp/scgi;
  client_body_buffer_size 64k;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  tcp_nodelay on;"

# ---------------------------------------------------------------- requests ---
# A realistic ~1 KiB GET: a search page with filters and tracking parameters.
QUERY="/search?q=trail+running+shoes+waterproof&category=footwear&brand=acme&brand=northpeak&size=42&size=43"
QUERY+="&color=blue&color=grey&price_min=40&price_max=160&sort=relevance&page=3&per_page=48&in_stock=true"
QUERY+="&utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale_2024&utm_content=hero_banner"
QUERY+="&session_hint=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
while ((${#QUERY} < 1000)); do QUERY+="&f$((${#QUERY} % 97))=value$((${#QUERY} % 13))"; done
# A 16 KiB form: many ordinary fields.
FORM="name=Jane+Doe&email=jane%40example.com&address=12+Main+Street&city=Springfield&zip=12345"
i=0
while ((${#FORM} < 16384 - 40)); do FORM+="&item$i=product+number+$i+quantity+$((i % 5 + 1))"; i=$((i + 1)); done
FORM="${FORM:0:16384}"
cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = "$FORM"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Firefox/120.0"
wrk.headers["Accept"] = "text/html,application/xhtml+xml,*/*;q=0.8"
EOF
cat >"$WORK/get.lua" <<EOF
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Firefox/120.0"
wrk.headers["Accept"] = "text/html,application/xhtml+xml,*/*;q=0.8"
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
  server {
    listen 127.0.0.1:$ORIGIN_PORT;
    location / { client_max_body_size 1m; return 200 "ok\n"; }
  }
}
EOF
start_bg "$WORK/origin/stdout.log" taskset -c 1 nginx -p "$WORK/origin" -c "$WORK/origin/nginx.conf" \
  -e "$WORK/origin/error.log"
wait_url "http://127.0.0.1:$ORIGIN_PORT/" 10 || die "origin did not start; see $WORK/origin/error.log"

# ------------------------------------------------------------------ sluice ---
# waf.local: the CRS blocking at paranoia 1; plain.local: no firewall.
{
  k8s_ingress_class
  k8s_service origin
  k8s_endpoint_slice origin-manual origin "$ORIGIN_PORT"
  k8s_ingress waf waf.local origin '{sluice.io/waf: "block", sluice.io/waf-paranoia: "1"}'
  k8s_ingress plain plain.local origin
} >"$WORK/manifests/bench.yaml"
start_bg "$WORK/controller.log" taskset -c 1 "$SLUICE_CONTROLLER_BIN" --manifests "$WORK/manifests" \
  --grpc-listen "127.0.0.1:$CONTROLLER_GRPC_PORT" --admin-listen "127.0.0.1:$CONTROLLER_ADMIN_PORT"
start_bg "$WORK/sluice.log" taskset -c 0 "$SLUICE_PROXY_BIN" --controller "127.0.0.1:$CONTROLLER_GRPC_PORT" \
  --http-listen "127.0.0.1:$SLUICE_PORT" --admin-listen "127.0.0.1:$SLUICE_ADMIN_PORT" --workers 1 \
  --node-id waf-bench --access-log off --waf-audit-log "$WORK/sluice-waf-audit.log"
SLUICE_PID=$last_pid
HOST_HEADER=waf.local wait_http "http://127.0.0.1:$SLUICE_PORT/" 30 ||
  { cat "$WORK/sluice.log" "$WORK/controller.log" >&2; die "sluice-proxy not ready"; }

# ------------------------------------------------------------------- nginx ---
# The same engine settings and CRS setup as sluice's generated configuration
# (dataplane/waf/waf_rules.cc RulesText): paranoia 1, thresholds 5/4, the
# JSON/XML body processor rules, the REST methods allowed.
cat >"$WORK/nginx/modsecurity.conf" <<EOF
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 131072
SecRequestBodyLimitAction ProcessPartial
SecResponseBodyAccess Off
SecAuditEngine Off
SecDebugLogLevel 0
SecArgumentSeparator &
SecPcreMatchLimit 100000
SecPcreMatchLimitRecursion 100000
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/(?:[a-z0-9.+-]+\+)?json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation'"
SecDefaultAction "phase:1,log,auditlog,pass"
SecDefaultAction "phase:2,log,auditlog,pass"
SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=1"
SecAction "id:900110,phase:1,nolog,pass,t:none,setvar:tx.inbound_anomaly_score_threshold=5,setvar:tx.outbound_anomaly_score_threshold=4"
SecAction "id:900200,phase:1,nolog,pass,t:none,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'"
SecAction "id:900990,phase:1,nolog,pass,t:none,setvar:tx.crs_setup_version=334"
Include $CRS_DIR/rules/*.conf
EOF
cat >"$WORK/nginx/nginx.conf" <<EOF
load_module $NGINX_MODSECURITY;
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
  server {
    listen 127.0.0.1:$NGINX_WAF_PORT;
    client_max_body_size 1m;
    modsecurity on;
    modsecurity_rules_file $WORK/nginx/modsecurity.conf;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
    }
  }
  server {
    listen 127.0.0.1:$NGINX_PLAIN_PORT;
    client_max_body_size 1m;
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
wait_url "http://127.0.0.1:$NGINX_PLAIN_PORT/" 20 "$NGINX_PID" || die "nginx did not start; see $WORK/nginx/error.log"

# ----------------------------------------------------------------- measure ---
# One row: sets RPS and US (proxy CPU us per request).
measure() {
  local pid="$1" port="$2" host="$3" kind="$4"
  local url="http://127.0.0.1:$port/" script="$WORK/post.lua"
  [[ $kind == get ]] && { url="http://127.0.0.1:$port$QUERY"; script="$WORK/get.lua"; }
  local args=(-t1 -c"$CONNECTIONS" -H "Host: $host" -s "$script")
  # The firewall lets this clean request through (a 403 would measure the block page).
  local status
  if [[ $kind == get ]]; then
    status="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" --max-time 10 "$url")"
  else
    status="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" -H 'Content-Type: application/x-www-form-urlencoded' \
      --data-binary "$FORM" --max-time 10 "$url")"
  fi
  [[ $status == 200 ]] || die "$host $url ($kind) answered $status"
  taskset -c 1 timeout 60 wrk "${args[@]}" -d"${WARMUP_SECONDS}s" "$url" >/dev/null
  local before after out requests errors
  before="$(cpu_ticks "$pid")"
  out="$(taskset -c 1 timeout 120 wrk "${args[@]}" -d"${SECONDS_PER_ROW}s" "$url")"
  after="$(cpu_ticks "$pid")"
  requests="$(awk '/requests in/ { print $1 }' <<<"$out")"
  RPS="$(awk '/Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")"
  errors="$(awk '/Non-2xx|Socket errors/ { print }' <<<"$out")"
  [[ -z $errors ]] || log "$host $kind: $errors"
  US="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
}

printf '%-8s %-5s %-22s %9s %14s %10s\n' proxy waf request "req/s" "CPU/request" "vs nginx"
printf '%-8s %-5s %-22s %9s %14s %10s\n' ----- --- ------- ----- ----------- --------
for kind in get post; do
  label="GET 1 KiB + query"
  [[ $kind == post ]] && label="POST 16 KiB urlencoded"
  for waf in on off; do
    nginx_port=$NGINX_WAF_PORT sluice_host=waf.local
    [[ $waf == off ]] && { nginx_port=$NGINX_PLAIN_PORT; sluice_host=plain.local; }
    measure "$NGINX_PID" "$nginx_port" bench.local "$kind"
    nginx_us=$US
    printf '%-8s %-5s %-22s %9s %11s us %10s\n' nginx "$waf" "$label" "$RPS" "$US" ""
    measure "$SLUICE_PID" "$SLUICE_PORT" "$sluice_host" "$kind"
    ratio="$(awk -v a="$US" -v b="$nginx_us" 'BEGIN { printf "%.2fx", a / b }')"
    printf '%-8s %-5s %-22s %9s %11s us %10s\n' sluice "$waf" "$label" "$RPS" "$US" "$ratio"
  done
done
echo "(one worker each on core 0; origin nginx and wrk -c$CONNECTIONS on core 1; ${SECONDS_PER_ROW}s per row;"
echo " CRS $(dpkg-query -W -f='${Version}' modsecurity-crs 2>/dev/null) paranoia 1, libmodsecurity $(dpkg-query -W -f='${Version}' libmodsecurity3 2>/dev/null);"
echo " vs nginx = sluice CPU/request / nginx CPU/request for the same row)"
[[ ! -s $WORK/sluice-waf-audit.log ]] || log "sluice audited clean traffic: $(head -c 600 "$WORK/sluice-waf-audit.log")"
run_ok=1
