#pragma once
// What the rate-limit stage asks for a limit that holds across every proxy
// sharing a Redis (RateLimitPolicy.scope CLUSTER). Abstract so that the
// stage is tested without Redis; the implementation is redis_limiter.h.
// Answers come from what this proxy already holds (tokens leased from
// Redis ahead of need): a call never waits on the network.
#include <cstdint>

#include "dataplane/ratelimit/bucket_table.h"

namespace sluice::ratelimit {

struct ClusterLimit {
  uint64_t key = 0;           // the bucket: limit and request key (RequestKey)
  GcraLimit gcra;             // the global rate and burst
};

class ClusterLimiter {
 public:
  enum class Outcome : uint8_t {
    kAllowed,
    kDenied,       // the global bucket is empty: retry_after_us says until when
    kUnavailable,  // Redis is down or slow: the route's fail mode decides
    kUnknown,      // this proxy cannot follow the key (more active keys than leases): its own bucket decides
  };
  struct Answer {
    Outcome outcome = Outcome::kAllowed;
    int64_t retry_after_us = 0;
  };
  virtual ~ClusterLimiter() = default;
  // Thread-safe and lock-free; `now_us` on BucketTable's clock.
  virtual Answer Take(const ClusterLimit& limit, int64_t now_us) = 0;
};

}  // namespace sluice::ratelimit
