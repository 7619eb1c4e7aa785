#pragma once
// The stages of one route, in StageOrder, compiled once per route when a
// snapshot is compiled (never per request) and shared read-only by every
// worker. For each hook the chain keeps the stages that implement it, so a
// request pays a virtual call only where a stage has work to do.
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "base/ip_prefix.h"
#include "dataplane/pipeline/stage.h"
#include "dataplane/ratelimit/cluster_limiter.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::metrics {
class SeriesRegistry;
}  // namespace sluice::metrics
namespace re2 {
class RE2;
}

namespace sluice::pipeline {

// Stages built by a package the pipeline does not link (the application
// firewall links libmodsecurity): it adds the stages a route's policy asks
// for. Called on the thread that compiles snapshots, never per request.
class StageCompiler {
 public:
  virtual ~StageCompiler() = default;
  // `route_origin`: "namespace/ingress" (logs, metrics).
  virtual void AddStages(const v1::RoutePolicy& policy, std::string_view route_origin,
                         std::vector<std::unique_ptr<const Stage>>& stages) = 0;
};

// Process-wide settings that stages fall back on when the route says
// nothing (the proxy's flags).
struct ChainDefaults {
  uint64_t max_request_body_bytes = 0;  // 0: unlimited
  int https_redirect_port = 443;        // port in HTTPS redirects (443: none written)
  // --trusted-proxies: every route gets the real_client stage (null or
  // empty: the connection's client is the client).
  std::shared_ptr<const PrefixSet> trusted_proxies;
  // --ratelimit-redis: what rate limits of scope CLUSTER ask (owned by the
  // proxy's main, outlives every snapshot); null: they hold per proxy.
  ratelimit::ClusterLimiter* cluster_rate_limiter = nullptr;
  // The application firewall's stages (dataplane/waf); null: routes that
  // ask for one get none (tests of other stages).
  StageCompiler* waf = nullptr;
  // The proxy's metrics series (dataplane/metrics): routes and clusters get
  // their counter slots from it when compiled; null: not counted (tests).
  metrics::SeriesRegistry* series = nullptr;
};

class Chain {
 public:
  explicit Chain(std::vector<std::unique_ptr<const Stage>> stages);

  // A hook's stages from `cursor` on, until one does not continue; the
  // cursor is left after that stage, so that a paused chain resumes (by
  // calling again) with the next one. Start with cursor 0.
  Verdict RunRequestHead(ExchangeState& state, size_t& cursor) const;
  Verdict RunRequestEnd(ExchangeState& state, http::HeaderMap* trailers, size_t& cursor) const;
  Verdict RunResponseHead(ExchangeState& state, http::ResponseHead& head, bool local, size_t& cursor) const;
  // Body hooks do not pause (a stage that needs the whole body buffers it
  // in its StageData and pauses at the end hook): kPause counts as kContinue.
  Verdict RunRequestBody(ExchangeState& state, std::string_view chunk) const;
  Verdict RunResponseBody(ExchangeState& state, std::string_view& chunk) const;
  // `tail`: the bytes the end hooks emit (a compressor's last block), each
  // stage's passed through the body hooks of the stages after it; the
  // exchange sends them before the end of the response. Empty mostly.
  Verdict RunResponseEnd(ExchangeState& state, std::string_view& tail) const;
  void Complete(const ExchangeState& state) const;

  bool Has(Hook hook) const { return (hooks_ & hook) != 0; }
  // Whether a stage wants this response's body (Stage::WantsResponseBody),
  // after the response head stages ran.
  bool WantsResponseBody(const ExchangeState& state) const;
  // The ResponseFieldHint bits of every stage.
  uint32_t response_field_hints() const { return response_field_hints_; }
  // Every stage, in order (tests, the admin view).
  std::vector<std::string_view> StageNames() const;

 private:
  std::vector<std::unique_ptr<const Stage>> stages_;  // in StageOrder
  std::vector<const Stage*> request_head_, request_body_, request_end_;
  std::vector<const Stage*> response_head_, response_body_, response_end_, complete_;
  uint32_t hooks_ = 0;
  uint32_t response_field_hints_ = 0;
};

// The chain of a route with `policy`: only the stages the policy turns on
// (an HTTPS redirect stage only where redirect_to_https is set, ...), plus
// the ones every route has (request and response headers, access log).
// What of the route itself (not its policy) a chain needs: the rewrite
// stage's target and the route's path and compiled REGEX expression.
struct RouteRewrite {
  std::string_view target;  // Route.rewrite_target; empty: none
  std::string_view path;    // the route's compiled path
  std::shared_ptr<const re2::RE2> regex;  // REGEX routes; else null
};

// `cluster`: the route's (primary) cluster, for the stages that send
// requests of their own to it (the cache's background revalidation).
std::shared_ptr<const Chain> CompileChain(const v1::RoutePolicy& policy, const ChainDefaults& defaults,
                                          std::string_view route_origin = {}, const RouteRewrite& rewrite = {},
                                          std::string_view cluster = {});

// The chain of a request no route takes (no configuration yet, no route
// for its host and path): it is answered locally and logged.
const Chain& RoutelessChain();

}  // namespace sluice::pipeline
