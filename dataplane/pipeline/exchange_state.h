#pragma once
// What the stages of one request read and change: the request (owned here
// for the whole exchange, so a retry's balancer pick, a cache key or a WAF
// see the same fields as the first try), the client, what the upstream
// request adds, the local reply a stage chose, and what the access log
// writes at the end. Plain data: a stage is unit-tested by filling one of
// these and calling its hook.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/http/client_info.h"
#include "dataplane/http/message.h"
#include "dataplane/pipeline/local_reply.h"
#include "dataplane/pipeline/proxy_error.h"

#include "dataplane/accesslog/access_log.h"

namespace sluice::subrequest {
class Client;
}
namespace sluice::net {
class EventLoop;
}

namespace sluice::pipeline {

// A field the request stages add to the upstream request after the
// request's own (the serializers append them: no copy of the header map).
// The views point into storage that outlives the exchange's upstream tries:
// the request, the client, literals, or ExchangeState::owned_values.
struct AddedField {
  std::string_view name;
  std::string_view value;
};

struct CompressionStats;
class IoOffload;
}  // namespace sluice::pipeline
namespace sluice::metrics {
struct SeriesCounters;
}  // namespace sluice::metrics
namespace sluice::pipeline {
class MirrorSink;
class AuthCache;

// What the response cache did with a request (cache_stage): the access
// log's "cache" field and the per-route cache counters.
enum class CacheOutcome : uint8_t {
  kNone,       // not a caching route
  kHit,        // answered from a fresh object
  kCoalesced,  // waited for another request's fill and answered from it
  kStale,      // answered from a stale object (stale-if-error, stale-while-revalidate, max-stale)
  kMiss,       // went to the origin for a cacheable request
  kPass,       // went to the origin: the key is hit-for-pass, the response uncacheable, or too many waiters
  kBypass,     // not looked up: a method, no-store, a conditional or range request
  kCount,
};
// "HIT", "COALESCED", "STALE", "MISS", "PASS", "BYPASS" ("" for kNone).
inline std::string_view CacheOutcomeName(CacheOutcome outcome) {
  constexpr std::string_view kNames[] = {"", "HIT", "COALESCED", "STALE", "MISS", "PASS", "BYPASS"};
  const size_t i = static_cast<size_t>(outcome);
  return i < std::size(kNames) ? kNames[i] : std::string_view();
}
enum class CacheFill : uint8_t { kNone, kStored, kAbandoned };

// Per-request data of a stage that needs some (a compression stream, a WAF
// transaction); most stages keep none.
class StageData {
 public:
  virtual ~StageData() = default;
};

// Where a stage keeps its StageData in ExchangeState::stage_data: one
// fixed slot per stage kind that needs one.
enum StageDataSlot : size_t {
  kCompressionData = 0,
  kWafData,  // the request's ModSecurity transaction (dataplane/waf)
  kConcurrencyData,  // the request's in-flight slot (concurrency_limit_stage)
  kMirrorData,       // the request's mirror copy being gathered (mirror_stage)
  kExtAuthData,      // the auth subrequest and its answer (ext_auth_stage)
  kCustomErrorsData, // the default backend's page (custom_errors_stage)
  kCacheData,  // the request's cache key, fill and Cache-Status (cache_stage)
  kStaticOpenData,  // the request's opens on the I/O pool (static_stage: StaticOpenStage)
  kStageDataSlots,
};

// Stops a paused chain waiting and goes on (implemented by the exchange).
class Resumer {
 public:
  virtual ~Resumer() = default;
  // Call from the event loop, never from inside the hook that paused.
  virtual void Resume() = 0;
};

struct ExchangeState {
  // The request. Stages before the upstream may change method, path,
  // authority and fields; the upstream serializers send what is here.
  http::RequestHead request;
  // The connection's client, or `forwarded_client` once the real_client
  // stage took it from a trusted proxy's X-Forwarded-For.
  const http::ClientInfo* client = nullptr;
  http::ClientInfo forwarded_client;
  // `satisfy: any` (RoutePolicy.satisfy_any): the access_control stage
  // found the client in the route's allow list, which grants access by
  // itself; the authentication stages after it let the request pass
  // without credentials. Never set otherwise.
  bool access_granted = false;

  // Request side.
  int64_t request_content_length = -1;  // the declared body length; -1: unknown (chunked) or none
  uint64_t request_body_bytes = 0;      // body bytes received so far
  // The client sent "te: trailers" (gRPC): HTTP/2 upstreams get it back
  // (the only TE value allowed there); HTTP/1.1 upstreams do not.
  bool te_trailers = false;
  static constexpr size_t kMaxAddedFields = 8;
  std::array<AddedField, kMaxAddedFields> added_fields{};
  size_t added_field_count = 0;
  // Values built at run time for added_fields (stable addresses).
  std::vector<std::unique_ptr<std::string>> owned_values;

  // Request buffering (nginx's proxy_request_buffering), asked for by a
  // request head hook that must see the whole body before any of it goes
  // upstream (the WAF): the most body bytes it holds. When the head hooks
  // are done, the exchange runs the end hooks as soon as the request is
  // complete and only then starts the upstream; meanwhile the body is held
  // and the client is read while no more than this (or the high watermark)
  // is held. A body hook that stops buffering (over its limit, passing the
  // rest uninspected) sets it back to 0: the upstream starts with what is
  // held and the rest streams. 0: no buffering.
  uint64_t buffer_request_body = 0;

  // The Host (HTTP/2 :authority) sent upstream when not the request's own
  // (upstream-vhost; the request_headers stage sets it, pointing into the
  // route's compiled configuration). Empty: request.authority.
  std::string_view upstream_authority;
  std::string_view UpstreamAuthority() const {
    return upstream_authority.empty() ? std::string_view(request.authority) : upstream_authority;
  }

  // Balancing: the Set-Cookie the balancer asked for (session affinity).
  std::string affinity_cookie;

  // A stage that answers the request itself says so here (and returns
  // Verdict::kReply).
  LocalReply reply;
  // Why the proxy answered or cut the exchange short (access log "error").
  ProxyError error;

  // What the access log writes.
  int status = 0;  // the HTTP status the client was sent (or meant to be)
  std::chrono::system_clock::time_point start_wall{};
  std::chrono::steady_clock::time_point start{};
  // Filled by the exchange when it is over, just before OnComplete.
  std::string_view upstream_address;  // "ip:port", or every endpoint tried: "a, b"
  int upstream_attempts = 0;
  double upstream_seconds = -1;       // < 0: no upstream try
  uint64_t bytes_out = 0;             // response bytes queued for the client
  std::string_view snapshot_version;
  std::string_view route_origin;      // "namespace/ingress"
  // This worker's access log writer, or null when the log is off.
  accesslog::AccessLog::Writer* access_log = nullptr;
  // This worker's compression counters, or null (tests).
  CompressionStats* compression_stats = nullptr;
  // This worker's counters for the route and for the cluster of the last
  // upstream try (metrics_stage), or null (no route, no cluster, or no
  // metrics registry); and how many tries did not connect.
  metrics::SeriesCounters* route_series = nullptr;
  metrics::SeriesCounters* cluster_series = nullptr;
  uint32_t upstream_connect_failures = 0;
  // This worker's mirror sender (dataplane/mirror), or null (tests).
  MirrorSink* mirror = nullptr;
  // This worker's subrequest client (dataplane/subrequest), or null (tests):
  // a stage's own requests to a cluster (external auth).
  subrequest::Client* subrequests = nullptr;
  // This worker's cache of external auth decisions, or null.
  AuthCache* auth_cache = nullptr;
  // This worker's way to the process's I/O thread pool (io_pool.h), or
  // null (tests, no pool): blocking file opens off the loop.
  IoOffload* io = nullptr;

  // The response head ends the response (HEAD, 204, 304, an upstream
  // HEADERS frame with END_STREAM): no body and no tail may follow it.
  // Set by the exchange before the response head hooks run.
  bool response_head_ends_stream = false;
  // The bytes the response end hooks emit, when more than one stage emits
  // some (Chain::RunResponseEnd joins them here).
  std::string response_tail;

  // Per-stage data, by the stage's data slot (empty unless a stage of the
  // route's chain keeps some).
  std::vector<std::unique_ptr<StageData>> stage_data;
  Resumer* resumer = nullptr;

  bool AddField(std::string_view name, std::string_view value) {
    if (added_field_count == kMaxAddedFields) return false;
    added_fields[added_field_count++] = AddedField{name, value};
    return true;
  }
  std::string_view Own(std::string value) {
    owned_values.push_back(std::make_unique<std::string>(std::move(value)));
    return *owned_values.back();
  }
  StageData* data(StageDataSlot slot) const {
    return slot < stage_data.size() ? stage_data[slot].get() : nullptr;
  }
  void set_data(StageDataSlot slot, std::unique_ptr<StageData> value) {
    if (stage_data.size() <= slot) stage_data.resize(kStageDataSlots);
    stage_data[slot] = std::move(value);
  }
  bool secure() const { return client != nullptr && client->secure(); }

  // This worker's event loop, or null (tests without one): where a stage
  // that waits on another thread's work (a cache fill on another worker)
  // Post()s its wake-up, and arms its own wait timeout.
  net::EventLoop* loop = nullptr;
  // A paused request head stage that decided, when its wait ended, to
  // answer the request itself (a coalesced cache miss served from another
  // request's fill) sets `reply` and this before Resume(): the chain then
  // answers with `reply` instead of going on (Chain::RunRequestHead).
  bool reply_when_resumed = false;
  // The response cache's outcome (cache_stage), for the access log and the
  // per-route cache counters (metrics_stage).
  CacheOutcome cache_outcome = CacheOutcome::kNone;
  bool cache_waited = false;          // this miss waited for another request's fill
  // What became of this request's own fill; mutable: cache_store's
  // OnComplete (a const state) notes a fill abandoned at the end.
  mutable CacheFill cache_fill = CacheFill::kNone;
};

}  // namespace sluice::pipeline
