#!/usr/bin/env bash
# Builds the HTTP/1 codec, HTTP/2 session, PROXY protocol, TLS ClientHello (SNI), static path, WebSocket frame, basic auth, cache directive, cache disk entry and conditional-request fuzz targets with clang's libFuzzer + ASan + UBSan
# straight from the sources (no Bazel: its toolchain here is g++) and runs
# each for a bounded time. Exits non-zero on any crash, sanitizer report,
# timeout or property violation.
#
#   test/fuzz/run_fuzzers.sh [SECONDS_PER_TARGET]   (default 30)
#
# Environment: CXX (default clang++), FUZZ_OUT (default /tmp/sluice-fuzz),
# FUZZ_JOBS-free on purpose: one process per target keeps it to 2 cores.
# New corpus entries go to $FUZZ_OUT, never into the committed seeds.
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${FUZZ_OUT:-/tmp/sluice-fuzz}"
cxx="${CXX:-clang++}"
targets=(request_fuzzer response_fuzzer h2_session_fuzzer proxy_protocol_fuzzer static_path_fuzzer websocket_frames_fuzzer sni_fuzzer basic_auth_fuzzer cache_directives_fuzzer cache_entry_fuzzer conditional_fuzzer)
sources=(
  "$root/dataplane/http1/head_parser.cc"
  "$root/dataplane/http1/framing.cc"
  "$root/dataplane/http1/body_decoder.cc"
  "$root/dataplane/http1/serializer.cc"
  "$root/dataplane/http1/syntax.cc"
)
# The HTTP/2 target also needs our nghttp2 wrapper and libnghttp2.
declare -A extra=(
  [static_path_fuzzer]="$root/dataplane/pipeline/static_path.cc"
  [websocket_frames_fuzzer]="$root/dataplane/websocket/frames.cc"
  [basic_auth_fuzzer]="$root/dataplane/auth/basic_credentials.cc $root/base/htpasswd.cc"
  [cache_directives_fuzzer]="$root/dataplane/cache/directives/directives.cc"
  [cache_entry_fuzzer]="$root/dataplane/cache/disk/entry_format.cc -lz"
  [conditional_fuzzer]="$root/dataplane/http/conditional/conditional.cc"
  [h2_session_fuzzer]="$root/dataplane/http2/server_connection.cc $root/dataplane/http2/session.cc $root/dataplane/http2/session_memory.cc -lnghttp2"
  [proxy_protocol_fuzzer]="$root/dataplane/proxy_protocol/proxy_protocol.cc $root/base/ip_prefix.cc"
  [sni_fuzzer]="$root/dataplane/sni/client_hello.cc"
)
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$root")

if ! command -v "$cxx" >/dev/null; then
  echo "run_fuzzers: $cxx not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi

mkdir -p "$out"
for target in "${targets[@]}"; do
  echo "== building $target"
  # shellcheck disable=SC2086  # extra holds several words on purpose
  if ! "$cxx" "${flags[@]}" "$root/test/fuzz/$target.cc" "${sources[@]}" ${extra[$target]:-} -o "$out/$target"; then
    echo "run_fuzzers: build failed; if -fsanitize=fuzzer does not link, apt-get install libclang-rt-14-dev" >&2
    exit 2
  fi
done

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
for target in "${targets[@]}"; do
  work="$out/corpus/$target"
  artifacts="$out/artifacts/$target"
  mkdir -p "$work" "$artifacts"
  echo "== running $target for ${seconds}s"
  if ! "$out/$target" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=$(case $target in sni_*) echo 40000 ;; *) echo 8192 ;; esac) \
      $(case $target in h2_*|websocket_*|sni_*) ;; proxy_protocol_*) echo "-dict=$root/test/fuzz/proxy_protocol.dict" ;; basic_auth_*) echo "-dict=$root/test/fuzz/basic_auth.dict" ;; cache_entry_*) echo "-dict=$root/test/fuzz/cache_entry.dict" ;; cache_*) echo "-dict=$root/test/fuzz/cache_directives.dict" ;; *) echo "-dict=$root/test/fuzz/http.dict" ;; esac) -print_final_stats=1 \
      -artifact_prefix="$artifacts/" \
      "$work" "$root/test/fuzz/corpus/$target" >"$out/$target.log" 2>&1; then
    echo "run_fuzzers: $target FAILED; log: $out/$target.log, reproducer(s) in $artifacts/" >&2
    grep -E "ERROR|FUZZ_CHECK|runtime error|SUMMARY|Test unit written" "$out/$target.log" | head -20 >&2 || true
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$out/$target.log" | tail -2
    echo "== $target: no failures"
  fi
done
exit "$status"
