#include "dataplane/pipeline/concurrency_limit_stage.h"

#include <string>
#include <utility>

#include "dataplane/balancer/hash.h"
#include "dataplane/ratelimit/request_key.h"

namespace sluice::pipeline {
namespace {

// The request's slot, released when the exchange (and its state) dies.
class HeldSlot final : public StageData {
 public:
  ratelimit::InFlightTable::Slot slot;
};

}  // namespace

ConcurrencyLimitStage::ConcurrencyLimitStage(const v1::RateLimitPolicy& policy, ratelimit::InFlightTable* table)
    : options_(RateLimitStage::Options::From(policy)),
      id_(balancer::Hash64(policy.name() + "|in-flight")),
      max_in_flight_(policy.max_concurrent_requests()),
      table_(table) {}

Verdict ConcurrencyLimitStage::OnRequestHead(ExchangeState& state) const {
  std::string_view address = state.client != nullptr ? std::string_view(state.client->ip) : std::string_view();
  if (options_.exempt.Contains(address)) return Verdict::kContinue;
  auto held = std::make_unique<HeldSlot>();
  const uint64_t key = ratelimit::RequestKey(id_, options_.key, state.request.headers, address);
  if (!table_->Admit(key, max_in_flight_, &held->slot)) {
    state.reply.status = 429;
    state.reply.body = "too many requests in flight\n";
    state.reply.headers.Add("retry-after", "1");
    state.error = ProxyError::Proxy(ErrorCode::kRefused, "too many requests in flight");
    return Verdict::kReply;
  }
  state.set_data(kConcurrencyData, std::move(held));
  return Verdict::kContinue;
}

}  // namespace sluice::pipeline
