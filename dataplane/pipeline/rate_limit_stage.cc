#include "dataplane/pipeline/rate_limit_stage.h"

#include <algorithm>
#include <cctype>

#include "dataplane/balancer/hash.h"

namespace sluice::pipeline {
namespace {

// Whole seconds, rounded up, at least 1 (Retry-After: 0 would invite an
// immediate retry that is refused again).
int64_t CeilSeconds(int64_t us) { return std::max<int64_t>(1, (us + 999999) / 1000000); }

}  // namespace

RateLimitStage::Options RateLimitStage::Options::From(const v1::RateLimitPolicy& policy) {
  Options options;
  for (const auto& limit : policy.limits()) {
    if (limit.requests() == 0 || limit.period_seconds() == 0) continue;
    Limit out;
    out.requests = limit.requests();
    out.period_seconds = limit.period_seconds();
    out.gcra = ratelimit::GcraLimit::Of(limit.requests(), limit.period_seconds(), limit.burst());
    std::string identity = policy.name() + "|" + std::to_string(limit.requests()) + "/" +
                           std::to_string(limit.period_seconds()) + "+" + std::to_string(limit.burst());
    out.id = balancer::Hash64(identity);
    // One policy item per limit, named by its window ("1s", "60s").
    out.policy_name = "\"" + std::to_string(limit.period_seconds()) + "s\"";
    out.policy_field = out.policy_name + ";q=" + std::to_string(limit.requests()) +
                       ";w=" + std::to_string(limit.period_seconds());
    options.limits.push_back(std::move(out));
  }
  if (policy.key() == v1::RateLimitPolicy::HEADER) options.key.kind = ratelimit::KeyKind::kHeader;
  if (policy.key() == v1::RateLimitPolicy::COOKIE) options.key.kind = ratelimit::KeyKind::kCookie;
  options.key.name = policy.key_name();
  if (options.key.kind == ratelimit::KeyKind::kHeader) {
    std::transform(options.key.name.begin(), options.key.name.end(), options.key.name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  for (const std::string& entry : policy.exempt()) options.exempt.Add(entry);  // the translator checked them
  options.cluster = policy.scope() == v1::RateLimitPolicy::CLUSTER;
  options.fail_closed = policy.fail_closed();
  return options;
}

Verdict RateLimitStage::OnRequestHead(ExchangeState& state) const {
  std::string_view address = state.client != nullptr ? std::string_view(state.client->ip) : std::string_view();
  if (options_.exempt.Contains(address)) return Verdict::kContinue;
  const int64_t now = table_->NowUs();
  for (const Limit& limit : options_.limits) {
    uint64_t key = ratelimit::RequestKey(limit.id, options_.key, state.request.headers, address);
    if (options_.cluster && cluster_ != nullptr) {
      ratelimit::ClusterLimiter::Answer answer = cluster_->Take({key, limit.gcra}, now);
      if (answer.outcome == ratelimit::ClusterLimiter::Outcome::kAllowed) continue;
      if (answer.outcome == ratelimit::ClusterLimiter::Outcome::kDenied) {
        return Refuse(state, limit, answer.retry_after_us);
      }
      // Redis unavailable: fail closed refuses; fail open falls back on
      // this proxy's own bucket (never stricter than the cluster's limit,
      // and a flood is still bounded per proxy). A key the limiter cannot
      // follow (its lease table is full): this proxy's bucket decides too.
      if (answer.outcome == ratelimit::ClusterLimiter::Outcome::kUnavailable && options_.fail_closed) {
        return Refuse(state, limit, 1000000);
      }
    }
    ratelimit::Decision decision = table_->Take(key, limit.gcra, now);
    if (!decision.allowed) return Refuse(state, limit, decision.retry_after_us);
  }
  return Verdict::kContinue;
}

Verdict RateLimitStage::Refuse(ExchangeState& state, const Limit& limit, int64_t retry_after_us) const {
  std::string seconds = std::to_string(CeilSeconds(retry_after_us));
  state.reply.status = 429;
  state.reply.body = "too many requests\n";
  state.reply.headers.Add("retry-after", seconds);
  state.reply.headers.Add("ratelimit-policy", limit.policy_field);
  // Nothing remains until Retry-After.
  state.reply.headers.Add("ratelimit", limit.policy_name + ";r=0;t=" + seconds);
  state.error = ProxyError::Proxy(ErrorCode::kRefused, "rate limited");
  return Verdict::kReply;
}

}  // namespace sluice::pipeline
