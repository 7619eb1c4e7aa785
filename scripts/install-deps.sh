#!/usr/bin/env bash
# Installs everything Sluice needs to build, test and run its demo, from
# Debian 12's packages only. Safe to run again: when every package is
# already present it does nothing (CI=true always runs apt-get, as a fresh
# machine would).
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap g++ python3
  # libraries (linked as system libraries through Bazel linkopts)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libnghttp2-dev libssl-dev libcrypt-dev nlohmann-json3-dev libcpprest-dev libyaml-cpp-dev
  # response compression (dataplane/pipeline/compression_stage): Debian's
  # zlib, brotli and zstd libraries rather than hand-written codecs
  zlib1g-dev libbrotli-dev libzstd-dev
  # cluster-wide rate limits (dataplane/ratelimit/redis_limiter): Debian's
  # hiredis, the maintained Redis client, formats and parses RESP rather
  # than a hand-written client; redis-server for the tests and benchmark
  libhiredis-dev redis-server
  # regex paths and rewrites (dataplane/router, issue 18): Debian's RE2,
  # linear-time matching whatever the pattern (no backtracking on hostile
  # request paths), used by the proxy and by the controller to validate
  libre2-dev
  # application firewall (dataplane/waf): libmodsecurity3 running Debian's
  # OWASP Core Rule Set, what security teams audit (no hand-written SQLi/XSS
  # detection); the CRS is also what the WAF tests run
  libmodsecurity-dev modsecurity-crs
  # tests: GoogleTest, fuzzers (clang + libFuzzer runtime), real clients
  libgtest-dev libgmock-dev clang libclang-rt-14-dev curl python3-websockets
  # compression tests: brotli and zstd CLIs decode what the proxy sent
  brotli zstd
  # HTTP/2 tests: nghttp, h2load (clients) and nghttpd (an h2c origin)
  nghttp2-client nghttp2-server
  # TLS tests: openssl s_client / s_server (a TLS backend)
  openssl
  # Helm chart check (test/charts): Debian has no helm, so a small renderer
  # built on Helm's own template library (sprig) stands in for it
  python3-yaml python3-jsonschema golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
  # metrics tests: promtool (in Debian's prometheus package) checks both
  # /metrics endpoints (test/integration/metrics_e2e_test) and the
  # PrometheusRule expressions in deploy/ (test/deploy)
  prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 && "${CI:-}" != "true" ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]:-${PACKAGES[*]}}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
