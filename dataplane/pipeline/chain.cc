#include "dataplane/pipeline/chain.h"

#include <algorithm>

#include "dataplane/pipeline/access_control_stage.h"
#include "dataplane/pipeline/access_log_stage.h"
#include "dataplane/pipeline/metrics_stage.h"
#include "dataplane/pipeline/basic_auth_stage.h"
#include "dataplane/pipeline/body_limit_stage.h"
#include "dataplane/pipeline/cache_stage.h"
#include "dataplane/pipeline/compression_stage.h"
#include "dataplane/pipeline/custom_errors_stage.h"
#include "dataplane/pipeline/ext_auth_stage.h"
#include "dataplane/pipeline/cors_stage.h"
#include "dataplane/pipeline/https_redirect_stage.h"
#include "dataplane/pipeline/real_client_stage.h"
#include "dataplane/pipeline/redirect_stage.h"
#include "dataplane/pipeline/rewrite_stage.h"
#include "dataplane/pipeline/concurrency_limit_stage.h"
#include "dataplane/pipeline/rate_limit_stage.h"
#include "dataplane/pipeline/mirror_stage.h"
#include "dataplane/pipeline/request_headers_stage.h"
#include "dataplane/pipeline/response_headers_stage.h"
#include "dataplane/pipeline/static_stage.h"

namespace sluice::pipeline {
namespace {

template <typename Call>
Verdict RunFrom(const std::vector<const Stage*>& stages, size_t& cursor, Call call) {
  while (cursor < stages.size()) {
    Verdict verdict = call(*stages[cursor++]);
    if (verdict != Verdict::kContinue) return verdict;
  }
  return Verdict::kContinue;
}

}  // namespace

Chain::Chain(std::vector<std::unique_ptr<const Stage>> stages) : stages_(std::move(stages)) {
  std::stable_sort(stages_.begin(), stages_.end(),
                   [](const auto& a, const auto& b) { return a->order() < b->order(); });
  for (const auto& stage : stages_) {
    uint32_t hooks = stage->hooks();
    hooks_ |= hooks;
    response_field_hints_ |= stage->response_field_hints();
    if (hooks & kRequestHead) request_head_.push_back(stage.get());
    if (hooks & kRequestBody) request_body_.push_back(stage.get());
    if (hooks & kRequestEnd) request_end_.push_back(stage.get());
    if (hooks & kResponseHead) response_head_.push_back(stage.get());
    if (hooks & kResponseBody) response_body_.push_back(stage.get());
    if (hooks & kResponseEnd) response_end_.push_back(stage.get());
    if (hooks & kComplete) complete_.push_back(stage.get());
  }
}

Verdict Chain::RunRequestHead(ExchangeState& state, size_t& cursor) const {
  if (state.reply_when_resumed) {
    // The stage that paused answers now (ExchangeState::reply_when_resumed).
    state.reply_when_resumed = false;
    return Verdict::kReply;
  }
  return RunFrom(request_head_, cursor, [&](const Stage& s) { return s.OnRequestHead(state); });
}

Verdict Chain::RunRequestEnd(ExchangeState& state, http::HeaderMap* trailers, size_t& cursor) const {
  return RunFrom(request_end_, cursor, [&](const Stage& s) { return s.OnRequestEnd(state, trailers); });
}

Verdict Chain::RunResponseHead(ExchangeState& state, http::ResponseHead& head, bool local, size_t& cursor) const {
  return RunFrom(response_head_, cursor, [&](const Stage& s) {
    Verdict verdict = s.OnResponseHead(state, head, local);
    // A local reply is final: a stage can neither answer it with another
    // nor make it wait.
    return local ? Verdict::kContinue : verdict;
  });
}

Verdict Chain::RunRequestBody(ExchangeState& state, std::string_view chunk) const {
  for (const Stage* s : request_body_) {
    if (s->OnRequestBody(state, chunk) == Verdict::kReply) return Verdict::kReply;
  }
  return Verdict::kContinue;
}

bool Chain::WantsResponseBody(const ExchangeState& state) const {
  for (const Stage* s : response_body_) {
    if (s->WantsResponseBody(state)) return true;
  }
  return false;
}

Verdict Chain::RunResponseBody(ExchangeState& state, std::string_view& chunk) const {
  for (const Stage* s : response_body_) {
    if (s->OnResponseBody(state, chunk) == Verdict::kReply) return Verdict::kReply;
  }
  return Verdict::kContinue;
}

Verdict Chain::RunResponseEnd(ExchangeState& state, std::string_view& tail) const {
  tail = {};
  bool joined = false;
  for (const Stage* s : response_end_) {
    std::string_view own;
    if (s->OnResponseEnd(state, own) == Verdict::kReply) return Verdict::kReply;
    if (own.empty()) continue;
    // The later stages see these bytes as body (a cache store keeps what
    // the client gets).
    for (const Stage* later : response_body_) {
      if (later->order() <= s->order() || own.empty()) continue;
      if (later->OnResponseBody(state, own) == Verdict::kReply) return Verdict::kReply;
    }
    if (tail.empty()) {
      tail = own;
      continue;
    }
    if (!joined) {
      state.response_tail.assign(tail);
      joined = true;
    }
    state.response_tail.append(own);
    tail = state.response_tail;
  }
  return Verdict::kContinue;
}

void Chain::Complete(const ExchangeState& state) const {
  for (const Stage* s : complete_) s->OnComplete(state);
}

std::vector<std::string_view> Chain::StageNames() const {
  std::vector<std::string_view> names;
  for (const auto& stage : stages_) names.push_back(stage->name());
  return names;
}

std::shared_ptr<const Chain> CompileChain(const v1::RoutePolicy& policy, const ChainDefaults& defaults,
                                          std::string_view route_origin, const RouteRewrite& rewrite,
                                          std::string_view cluster) {
  std::vector<std::unique_ptr<const Stage>> stages;
  if (defaults.trusted_proxies != nullptr && !defaults.trusted_proxies->empty()) {
    stages.push_back(std::make_unique<RealClientStage>(defaults.trusted_proxies));
  }
  if (policy.has_cors()) stages.push_back(std::make_unique<CorsStage>(CorsStage::Options::From(policy.cors())));
  // satisfy: any needs an authentication stage to fall back on; without
  // one the access lists apply as they are.
  bool satisfy_any = policy.satisfy_any() && policy.has_basic_auth();
  if (auto access = AccessControlStage::FromPolicy(policy.access_control(), satisfy_any)) {
    stages.push_back(std::move(access));
  }
  if (policy.has_basic_auth()) stages.push_back(BasicAuthStage::FromPolicy(policy.basic_auth()));
  if (policy.has_external_auth()) ExtAuthStage::AddStages(policy.external_auth(), stages);
  if (policy.rate_limit().limits_size() > 0) {
    stages.push_back(std::make_unique<RateLimitStage>(RateLimitStage::Options::From(policy.rate_limit()),
                                                      &ratelimit::BucketTable::ProcessWide(),
                                                      defaults.cluster_rate_limiter));
  }
  if (policy.rate_limit().max_concurrent_requests() > 0) {
    stages.push_back(
        std::make_unique<ConcurrencyLimitStage>(policy.rate_limit(), &ratelimit::InFlightTable::ProcessWide()));
  }
  if (defaults.waf != nullptr && policy.waf().mode() != v1::WafPolicy::OFF) {
    defaults.waf->AddStages(policy, route_origin, stages);
  }
  if (auto redirect = RedirectStage::FromPolicy(policy)) stages.push_back(std::move(redirect));
  if (policy.redirect_to_https()) stages.push_back(std::make_unique<HttpsRedirectStage>(defaults.https_redirect_port));
  uint64_t max_body = policy.max_request_body_bytes() != 0 ? policy.max_request_body_bytes()
                                                           : defaults.max_request_body_bytes;
  if (max_body != 0) stages.push_back(std::make_unique<BodyLimitStage>(max_body));
  // Static content: the route answers from its site (every request).
  if (policy.has_static_site()) StaticStage::AddStages(policy.static_site(), stages);
  if (!rewrite.target.empty() || !policy.x_forwarded_prefix().empty()) {
    stages.push_back(std::make_unique<RewriteStage>(rewrite.target, std::string(rewrite.path), rewrite.regex,
                                                    policy.x_forwarded_prefix()));
  }
  if (policy.cache().enabled()) {
    // Both halves share the process-wide store (dataplane/cache/store).
    CacheStageOptions cache = CacheStageOptions::From(policy.cache());
    // The background request goes as the client's came in (path, Host): not
    // for a route that rewrites either on the way upstream.
    if (rewrite.target.empty() && policy.upstream_vhost().empty()) cache.background.cluster = std::string(cluster);
    stages.push_back(std::make_unique<CacheLookupStage>(cache, &cache::Store::ProcessWide()));
    stages.push_back(std::make_unique<CacheStoreStage>(cache, &cache::Store::ProcessWide()));
  }
  stages.push_back(std::make_unique<RequestHeadersStage>(RequestHeadersStage::Options::From(policy)));
  if (policy.has_mirror() && !policy.mirror().cluster().empty()) stages.push_back(std::make_unique<MirrorStage>(policy));
  if (policy.custom_errors().statuses_size() > 0 && !policy.custom_errors().cluster().empty()) {
    CustomErrorsStage::AddStages(policy.custom_errors(), stages);
  }
  stages.push_back(std::make_unique<ResponseHeadersStage>(ResponseHeadersStage::Options::From(policy)));
  if (policy.compression().enabled()) {
    stages.push_back(std::make_unique<CompressionStage>(CompressionStage::Options::From(policy.compression())));
  }
  // Per-route metrics: on in the proxy (which always has a registry).
  if (defaults.series != nullptr) stages.push_back(std::make_unique<MetricsStage>());
  stages.push_back(std::make_unique<AccessLogStage>());
  return std::make_shared<const Chain>(std::move(stages));
}

const Chain& RoutelessChain() {
  static const Chain* chain = [] {
    std::vector<std::unique_ptr<const Stage>> stages;
    stages.push_back(std::make_unique<AccessLogStage>());
    return new Chain(std::move(stages));
  }();
  return *chain;
}

}  // namespace sluice::pipeline
