#pragma once
// Requests in flight per client (or per the rate limit's key) for an
// Ingress: ingress-nginx's limit-connections (nginx's limit_conn per client
// address), held for the whole proxy through one table every worker shares
// (ratelimit::InFlightTable). At order 20 with the rate limits. A request
// over the limit gets 429 with Retry-After: 1; its slot is held until the
// exchange ends, however it ends (the StageData releases it), so a
// WebSocket or a long download holds one for its whole life.
#include <cstdint>

#include "dataplane/pipeline/rate_limit_stage.h"
#include "dataplane/pipeline/stage.h"
#include "dataplane/ratelimit/in_flight_table.h"

namespace sluice::pipeline {

class ConcurrencyLimitStage final : public Stage {
 public:
  // `limits` gives the key and the exempt addresses (the rate limit's own).
  ConcurrencyLimitStage(const v1::RateLimitPolicy& policy, ratelimit::InFlightTable* table);
  std::string_view name() const override { return "concurrency_limit"; }
  StageOrder order() const override { return StageOrder::kRateLimit; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;

 private:
  RateLimitStage::Options options_;  // key and exempt only
  uint64_t id_;
  uint32_t max_in_flight_;
  ratelimit::InFlightTable* table_;
};

}  // namespace sluice::pipeline
