#pragma once
// Proxy-wide defaults. Every timeout and limit here can be overridden per
// route through the snapshot's RoutePolicy where the proto has a field.
#include <chrono>
#include <cstdint>

#include "dataplane/connlimit/connection_limits.h"
#include "dataplane/http1/parser.h"

namespace sluice::proxy {

using std::chrono::milliseconds;

struct ProxyConfig {
  http1::Limits head_limits;                     // 64 KiB head, 100 headers
  milliseconds client_header_timeout{10'000};    // slowloris: whole head within this
  milliseconds client_body_timeout{60'000};      // idle time between body reads
  milliseconds keepalive_timeout{60'000};        // idle downstream keep-alive
  milliseconds connect_timeout{5'000};           // upstream connect
  milliseconds response_timeout{60'000};         // upstream response headers
  milliseconds upstream_idle_timeout{60'000};    // upstream idle read while streaming
  milliseconds upstream_keepalive_timeout{60'000};  // idle pooled upstream connection
  // Idle upstream connections kept per endpoint and worker. As many as a
  // burst of concurrent requests needed: with fewer, every burst beyond the
  // cap (64 h2 clients x 10 streams) closed and reopened upstream
  // connections, ~20% of requests paying a connect, an accept at the
  // backend and a close (strace). They time out after
  // upstream_keepalive_timeout, so a quiet endpoint holds none for long.
  size_t max_idle_upstream_per_endpoint = 1024;
  size_t high_watermark = 256 * 1024;            // pause the producer above this
  size_t low_watermark = 64 * 1024;              // resume it below this
  // (The request body limit and the HTTPS redirect port are the stages':
  // snapshot::CompileOptions::chain.)
  // HTTP/2 (downstream); header limits are head_limits' (decoded list size
  // and count, and the raw header block across CONTINUATION frames).
  uint32_t h2_max_concurrent_streams = 100;      // SETTINGS_MAX_CONCURRENT_STREAMS
  milliseconds h2_stall_timeout{30'000};         // response stuck on a closed client window
  uint32_t h2_max_resets_per_second = 200;       // rapid reset (CVE-2023-44487)
  uint32_t h2_max_control_frames_per_second = 1000;  // PING/SETTINGS/WINDOW_UPDATE/empty DATA floods
  // Connection limits for the whole proxy (--max-connections...), one
  // table shared by every worker; null: none (tests).
  connlimit::ConnectionLimits* connection_limits = nullptr;
  // Per-route and per-cluster series (dataplane/metrics): each worker
  // allocates counters for this many routes and clusters (+1 overflow
  // each). 0: no per-route metrics (tests).
  size_t metrics_max_routes = 0;
  size_t metrics_max_clusters = 0;
};

}  // namespace sluice::proxy
