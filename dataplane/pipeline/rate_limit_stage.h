#pragma once
// The route's request rate limits (RoutePolicy.rate_limit; ingress-nginx's
// limit-rps / limit-rpm / limit-burst-multiplier / limit-whitelist): one
// GCRA bucket per limit and key (client address, a header or a cookie) in
// the proxy-wide BucketTable, so the limit holds for the whole proxy, or,
// for scope CLUSTER, in the ClusterLimiter (tokens leased from Redis).
// Over the limit: 429 with Retry-After and the RateLimit-Policy / RateLimit
// fields of draft-ietf-httpapi-ratelimit-headers-10 (see README.md).
// Reads: the client address, the key header or cookie. Changes: nothing.
// Never pauses: a cluster decision comes from tokens this proxy already
// holds.
#include <string>
#include <vector>

#include "dataplane/pipeline/stage.h"
#include "dataplane/ratelimit/bucket_table.h"
#include "dataplane/ratelimit/cluster_limiter.h"
#include "dataplane/ratelimit/request_key.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

class RateLimitStage final : public Stage {
 public:
  struct Limit {
    uint64_t id = 0;  // names the bucket family: policy name and numbers
    ratelimit::GcraLimit gcra;
    uint32_t requests = 0;
    uint32_t period_seconds = 0;
    std::string policy_field;  // the RateLimit-Policy value
    std::string policy_name;   // its item, as RateLimit names it: "\"1s\""
  };
  struct Options {
    std::vector<Limit> limits;
    ratelimit::KeySpec key;
    ratelimit::AddressSet exempt;
    bool cluster = false;
    bool fail_closed = false;
    static Options From(const v1::RateLimitPolicy& policy);
  };
  // `cluster` may be null (no --ratelimit-redis): cluster limits then hold
  // per proxy, as local ones.
  RateLimitStage(Options options, ratelimit::BucketTable* table, ratelimit::ClusterLimiter* cluster)
      : options_(std::move(options)), table_(table), cluster_(cluster) {}
  std::string_view name() const override { return "rate_limit"; }
  StageOrder order() const override { return StageOrder::kRateLimit; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;

 private:
  Verdict Refuse(ExchangeState& state, const Limit& limit, int64_t retry_after_us) const;
  Options options_;
  ratelimit::BucketTable* table_;
  ratelimit::ClusterLimiter* cluster_;
};

}  // namespace sluice::pipeline
