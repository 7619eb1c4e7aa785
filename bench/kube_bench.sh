#!/bin/bash
# Cluster-mode benchmark: builds the binaries (-c opt, own output base), then
# runs kube_bench.py: 10,000 Ingresses / 1,000 Services in fakekube, time to
# the first snapshot, RSS, bytes on the wire, and per-change latency.
# Usage: bench/kube_bench.sh [--ingresses N] [--services N] [--changes N] [--gap-ms MS]
set -euo pipefail
cd "$(dirname "$0")/.."
OUTPUT_BASE=${SLUICE_BENCH_OUTPUT_BASE:-/root/.cache/bazel-fakekube}
TARGETS=(//controlplane/main:sluice-controller //dataplane/main:sluice-proxy //test/backend:sluice-echo-backend)
# --symlink_prefix=/ : leave the workspace's bazel-* links to other builds.
bazel --output_base="$OUTPUT_BASE" build -c opt --symlink_prefix=/ "${TARGETS[@]}" >&2
BIN=$(bazel --output_base="$OUTPUT_BASE" info -c opt bazel-bin 2>/dev/null)
SLUICE_BIN_ROOT="$BIN" exec /usr/bin/python3 -W ignore::ResourceWarning bench/kube_bench.py "$@"
