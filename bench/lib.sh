# shellcheck shell=bash disable=SC2034  # ROOT, CLK_TCK, last_pid, run_ok are for the sourcing script
# bench/lib.sh: the helpers every bench script needs, in one place. Source
# it (do not run it) near the top of a script, after `set -euo pipefail`:
#
#   LOG_TAG=h2bench  # the [tag] of log lines
#   # shellcheck source=bench/lib.sh
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sourcing sets ROOT (the repository, found from this file, so scripts run
# from any cwd) and CLK_TCK (clock ticks per second, for /proc/PID/stat).
#
# Whole run and clean-up:
#   bench_help                  print the script's header comment (-h, --help)
#   bench_bound_run SECS "$@"   re-exec the script under timeout(1) once:
#                               BENCH_MAX_SECONDS (default SECS) bounds the
#                               whole run; timeout's TERM reaches the EXIT trap
#   bench_make_work TEMPLATE    WORK=$(mktemp -d TEMPLATE); installs the EXIT
#                               trap: every start_bg process is stopped (by
#                               pid), WORK is removed if the script set
#                               run_ok=1 and BENCH_KEEP is not 1, else kept
#                               and its path logged; a function
#                               bench_cleanup_hook, if defined, runs after the
#                               processes are stopped
#   log MSG, die MSG            "[LOG_TAG] MSG" on stderr; die adds "error: "
#                               and exits 1
# Processes:
#   start_bg LOGFILE CMD...     CMD in the background, stdout and stderr to
#                               LOGFILE; sets last_pid; stopped at exit
#   stop_pid PID [GRACE]        TERM, wait up to GRACE seconds (5), then KILL
#   forget_pid PID [GRACE]      stop_pid, and no longer stopped at exit
#   pid_and_children PID        PID and its direct children (nginx's workers)
#   cpu_ticks PID               utime+stime of those, in clock ticks (all
#                               threads included)
#   rss_kib PID                 VmRSS of those, summed, in KiB
# Ports and readiness (127.0.0.1 only):
#   bench_ports DEFAULT NAME=OFFSET...   PORT_BASE=${BENCH_PORT_BASE:-DEFAULT}
#                               (checked: a number from 1024 to 60000), and
#                               each NAME=PORT_BASE+OFFSET
#   require_free_ports PORT...  die if something already listens on one
#   wait_port PORT [SECS]       until PORT accepts a connection (10 s)
#   wait_url URL SECS [PID]     until URL answers 2xx; fails early if PID exits
#   wait_http URL SECS [BYTES]  until URL, sent with Host: $HOST_HEADER,
#                               answers 200 (with a body of BYTES bytes)
# Tools and binaries:
#   require_tools HINT TOOL...  die "TOOL not found: HINT" for a missing TOOL
#   install_missing TOOL=PKG... apt-get install the packages of missing tools
#   sluice_binaries OUTPUT_BASE MODE VAR=LABEL...
#                               e.g. SLUICE_PROXY_BIN=//dataplane/main:sluice-proxy:
#                               a VAR set by the caller is used as is; if any
#                               is unset, bazel builds all LABELs (-c MODE;
#                               MODE "" for bazel's default) in OUTPUT_BASE
#                               and each unset VAR becomes its built file
# Objects for sluice-controller --manifests DIR, one YAML document each, all
# in namespace bench, Service port 80 (named http) on 127.0.0.1 endpoints:
#   k8s_ingress_class           IngressClass sluice, the default class
#   k8s_service NAME            Service NAME
#   k8s_endpoint_slice NAME SERVICE PORT   one ready endpoint 127.0.0.1:PORT
#   k8s_ingress NAME HOST SERVICE [ANNOTATIONS]   HOST, Prefix / -> SERVICE:80;
#                               ANNOTATIONS is a YAML flow map ({k: v, ...})
# callgrind (a process under valgrind --tool=callgrind --callgrind-out-file=OUT):
#   callgrind_latest_dump OUT   newest dump file OUT.*
#   callgrind_count PID OUT CMD...   zero PID's counters, run CMD (the load,
#                               which dies with its own message if it fails),
#                               dump, print the dump's total instructions
#   callgrind_per_request I1 I2 N1 N2   (I2 - I1) / (N2 - N1), rounded
# CPU cap (a server made the bottleneck; see the section at the end):
#   cpu_cap_init PERCENT KNOB   one CPU cgroup capped at PERCENT of a core
#   cpu_cap_add PID             PID, its children and their threads join it

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLK_TCK="$(getconf CLK_TCK)"
started_pids=()
run_ok=0

log() { echo "[${LOG_TAG:-bench}] $*" >&2; }
die() { log "error: $*"; exit 1; }

bench_help() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { print }' "$0"; }

bench_bound_run() {
  local default_seconds="$1"
  shift
  [[ -n "${BENCH_UNDER_TIMEOUT:-}" ]] && return 0
  BENCH_UNDER_TIMEOUT=1 exec timeout --foreground -s TERM -k 30 "${BENCH_MAX_SECONDS:-$default_seconds}" "$0" "$@"
}

# The start of a side-by-side bench that takes no arguments (compression,
# waf, static): --help prints the script's header comment, anything else is
# a usage error; then bounds the whole run (BENCH_MAX_SECONDS, default
# DEFAULT_SECONDS) and reads the knobs they share.
bench_start_without_arguments() {
  local default_seconds="$1"
  shift
  case "${1:-}" in
    -h | --help) bench_help; exit 0 ;;
    "") ;;
    *) echo "usage: $0" >&2; exit 2 ;;
  esac
  bench_bound_run "$default_seconds" "$@"
  SECONDS_PER_ROW="${BENCH_SECONDS:-5}"
  WARMUP_SECONDS="${BENCH_WARMUP_SECONDS:-1}"
  CONNECTIONS="${BENCH_CONNECTIONS:-8}"
  OUTPUT_BASE="${BENCH_OUTPUT_BASE:-/root/.cache/bazel-bench}"
}

bench_make_work() {
  WORK="$(mktemp -d "$1")"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${started_pids[@]}"; do stop_pid "$pid" 3; done
  # A script's own clean-up after its processes are gone (e.g. a cgroup).
  if declare -F bench_cleanup_hook >/dev/null; then bench_cleanup_hook || true; fi
  if [[ $run_ok == 1 && "${BENCH_KEEP:-0}" != 1 ]]; then
    rm -rf "$WORK"
  else
    log "configs and logs kept in $WORK"
  fi
  exit "$rc"
}

start_bg() {
  local logfile="$1"
  shift
  "$@" >"$logfile" 2>&1 &
  last_pid=$!
  started_pids+=("$last_pid")
}

stop_pid() {
  local pid="$1" grace="${2:-5}" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

forget_pid() {
  local pid="$1" remaining=() p
  stop_pid "$pid" "${2:-5}"
  for p in "${started_pids[@]}"; do [[ $p == "$pid" ]] || remaining+=("$p"); done
  started_pids=("${remaining[@]}")
}

pid_and_children() {
  # shellcheck disable=SC2046  # pgrep prints one pid a line: split them
  echo "$1" $(pgrep -P "$1" 2>/dev/null || true)
}

cpu_ticks() {
  local total=0 pid fields
  for pid in $(pid_and_children "$1"); do
    # Past "pid (comm) " (comm may hold spaces), utime and stime (fields 14
    # and 15) are words 12 and 13.
    fields="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null)" || continue
    total=$((total + $(echo "$fields" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

rss_kib() {
  local total=0 pid kib
  for pid in $(pid_and_children "$1"); do
    kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" || continue
    total=$((total + ${kib:-0}))
  done
  echo "$total"
}

require_free_ports() {
  local port
  for port; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "127.0.0.1:$port is already in use; set BENCH_PORT_BASE to a free range"
    fi
  done
}

bench_ports() {
  local spec
  PORT_BASE="${BENCH_PORT_BASE:-$1}"
  shift
  if ! [[ $PORT_BASE =~ ^[0-9]+$ ]] || ((PORT_BASE < 1024 || PORT_BASE > 60000)); then
    die "BENCH_PORT_BASE must be a port number from 1024 to 60000"
  fi
  for spec; do printf -v "${spec%%=*}" '%d' $((PORT_BASE + ${spec#*=})); done
}

wait_port() {
  local port="$1" secs="${2:-10}" i
  for ((i = 0; i < secs * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

wait_url() {
  local url="$1" secs="$2" pid="${3:-}" i
  for ((i = 0; i < secs * 10; i++)); do
    curl -fs -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    [[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

wait_http() {
  local url="$1" secs="$2" bytes="${3:-}" i got=""
  for ((i = 0; i < secs * 10; i++)); do
    got="$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "Host: ${HOST_HEADER:-}" --max-time 2 "$url" \
      2>/dev/null || true)"
    if [[ -n $bytes ]]; then [[ $got == "200 $bytes" ]] && return 0; else [[ $got == "200 "* ]] && return 0; fi
    sleep 0.1
  done
  log "$url answered '$got', wanted '200${bytes:+ $bytes}'"
  return 1
}

require_tools() {
  local hint="$1" tool
  shift
  for tool; do command -v "$tool" >/dev/null || die "$tool not found: $hint"; done
}

install_missing() {
  local spec need=() sudo=()
  for spec; do command -v "${spec%%=*}" >/dev/null || need+=("${spec#*=}"); done
  ((${#need[@]})) || return 0
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  log "installing ${need[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" \
    >"$WORK/apt.log" 2>&1 || die "apt-get install ${need[*]} failed (see $WORK/apt.log)"
}

sluice_binaries() {
  local output_base="$1" mode="$2" spec var label labels=() missing=0 mode_flags=() bazel_bin
  shift 2
  [[ -n $mode ]] && mode_flags=(-c "$mode")
  for spec; do
    var="${spec%%=*}"
    labels+=("${spec#*=}")
    [[ -n "${!var:-}" ]] || missing=1
  done
  if ((missing)); then
    log "building sluice${mode:+ (-c $mode)} with output base $output_base"
    (cd "$ROOT" && timeout 3600 bazel --output_base="$output_base" build "${mode_flags[@]}" "${labels[@]}" \
      >"$WORK/build.log" 2>&1) || { tail -30 "$WORK/build.log" >&2; die "build failed"; }
    bazel_bin="$(cd "$ROOT" && timeout 300 bazel --output_base="$output_base" info "${mode_flags[@]}" bazel-bin 2>/dev/null)"
  fi
  for spec; do
    var="${spec%%=*}"
    label="${spec#*=}"
    label="${label#//}"
    [[ -n "${!var:-}" ]] || printf -v "$var" '%s' "$bazel_bin/${label/://}"
    [[ -x ${!var} ]] || die "$var: ${!var} is not an executable"
  done
}

k8s_ingress_class() {
  cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: sluice, annotations: {ingressclass.kubernetes.io/is-default-class: "true"}}
spec: {controller: sluice.io/ingress-controller}
EOF
}

k8s_service() {
  cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: bench}
spec: {ports: [{name: http, port: 80, protocol: TCP}]}
EOF
}

k8s_endpoint_slice() {
  cat <<EOF
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $1, namespace: bench, labels: {kubernetes.io/service-name: $2}}
addressType: IPv4
ports: [{name: http, port: $3, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
EOF
}

k8s_ingress() {
  local annotations="${4:-"{}"}"
  cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: $1, namespace: bench, annotations: $annotations}
spec:
  ingressClassName: sluice
  rules: [{host: $2, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: $3, port: {number: 80}}}}]}}]
EOF
}

callgrind_latest_dump() {
  # shellcheck disable=SC2012  # callgrind names its dumps OUT.PID[.N]: no odd characters
  ls -1t "$1".* 2>/dev/null | head -1
}

callgrind_count() {
  local pid="$1" out="$2" before file i
  shift 2
  timeout 120 callgrind_control -z "$pid" >/dev/null 2>&1 || die "callgrind_control -z $pid failed"
  before="$(callgrind_latest_dump "$out")"
  "$@" || exit 1  # CMD says why (die)
  timeout 120 callgrind_control -d "$pid" >/dev/null 2>&1 || die "callgrind_control -d $pid failed"
  # The dump is written after callgrind_control returns: wait for it.
  for ((i = 0; i < 600; i++)); do
    file="$(callgrind_latest_dump "$out")"
    if [[ -n $file && $file != "$before" ]] && grep -q '^totals:' "$file" 2>/dev/null; then
      awk '/^totals:/ {print $2}' "$file"
      return 0
    fi
    sleep 0.1
  done
  die "no callgrind dump appeared for $pid"
}

callgrind_per_request() {
  awk -v a="$1" -v b="$2" -v n1="$3" -v n2="$4" 'BEGIN { printf "%.0f", (b - a) / (n2 - n1) }'
}

# ------------------------------------------------------------- CPU cap ------
# cpu_cap_init PERCENT VARNAME   one CPU cgroup for the run, capped at PERCENT
#                                of one core (CFS quota over a 10 ms period,
#                                short so the cap throttles smoothly); v1 (the
#                                cpu controller at /sys/fs/cgroup/cpu) or v2
#                                (cpu.max); removed at exit. VARNAME names the
#                                knob in error messages.
# cpu_cap_add PID                PID, its children and all their threads join it
CPU_CAP_DIR=""
cpu_cap_init() {
  local percent="$1" knob="$2" quota
  [[ $percent =~ ^[1-9][0-9]?$|^100$ ]] || die "$knob must be a percentage from 1 to 100"
  quota=$((percent * 100))  # of a 10000 us period
  if [[ -w /sys/fs/cgroup/cpu/cgroup.procs ]]; then
    CPU_CAP_DIR="/sys/fs/cgroup/cpu/sluice-bench-$$"
    mkdir "$CPU_CAP_DIR" && echo 10000 >"$CPU_CAP_DIR/cpu.cfs_period_us" &&
      echo "$quota" >"$CPU_CAP_DIR/cpu.cfs_quota_us" || die "cannot create the CPU cgroup $CPU_CAP_DIR"
  elif [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
    echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    CPU_CAP_DIR="/sys/fs/cgroup/sluice-bench-$$"
    mkdir "$CPU_CAP_DIR" && echo "$quota 10000" >"$CPU_CAP_DIR/cpu.max" || die "cannot create the CPU cgroup $CPU_CAP_DIR"
  else
    die "$knob needs a writable CPU cgroup (v1 /sys/fs/cgroup/cpu, or v2 with the cpu controller)"
  fi
  bench_cleanup_hook() { rmdir "$CPU_CAP_DIR" 2>/dev/null; }
}

cpu_cap_add() {
  local pid tid file=cgroup.procs
  [[ -f $CPU_CAP_DIR/tasks ]] && file=tasks  # v1 moves one thread per write
  for pid in $(pid_and_children "$1"); do
    if [[ $file == tasks ]]; then
      # A thread may end between the listing and the write: skip it.
      for tid in /proc/"$pid"/task/*; do echo "${tid##*/}" >"$CPU_CAP_DIR/tasks" 2>/dev/null || true; done
    else
      echo "$pid" >"$CPU_CAP_DIR/cgroup.procs" 2>/dev/null || true
    fi
  done
  grep -qx "$1" "$CPU_CAP_DIR/$file" || die "could not move $1 into the CPU cgroup $CPU_CAP_DIR"
}
