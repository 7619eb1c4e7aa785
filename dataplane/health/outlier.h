#pragma once
// Passive outlier detection: the arithmetic of ejections, on the shared
// EndpointHealth atomics. Workers report each try's outcome; a run of
// `consecutive_failures` failures ejects the endpoint for
// base_ejection * (its number of ejections), capped at max_ejection, unless
// max_ejection_percent of the cluster is already ejected. A success resets
// the run. An endpoint that stayed un-ejected for max_ejection after its
// last ejection starts counting its ejections from one again.
#include <cstddef>
#include <cstdint>

#include "dataplane/health/endpoint_health.h"

namespace sluice::v1 {
class OutlierDetection;
}

namespace sluice::health {

struct OutlierPolicy {
  bool enabled = true;
  uint32_t consecutive_failures = 5;
  int64_t base_ejection_ns = 30'000'000'000;
  int64_t max_ejection_ns = 300'000'000'000;
  uint32_t max_ejection_percent = 50;
  // For the balancer: below this share of available endpoints, use them all.
  uint32_t panic_threshold_percent = 50;
};

// The snapshot's settings with the documented defaults filled in.
OutlierPolicy OutlierPolicyFrom(const v1::OutlierDetection& settings);

// How long the `ejection_number`th ejection (1-based) lasts.
int64_t EjectionDurationNs(const OutlierPolicy& policy, uint32_t ejection_number);

// Whether one more endpoint of a `cluster_size` cluster may be ejected while
// `ejected_now` are: at most max_ejection_percent, rounded down, but one
// endpoint may always be ejected (as Envoy does) when the cluster has more
// than one and the percentage is not 0.
bool MayEject(const OutlierPolicy& policy, size_t ejected_now, size_t cluster_size);

// A try reached the endpoint and got a non-5xx answer.
void RecordSuccess(EndpointHealth& health);

// A try failed (5xx, connect failure, reset, timeout). `ejected_now` and
// `cluster_size` describe the endpoint's cluster at `now_ns`. Returns true
// when this failure ejected the endpoint (exactly one caller sees true per
// ejection, even with workers racing).
bool RecordFailure(EndpointHealth& health, const OutlierPolicy& policy, int64_t now_ns, size_t ejected_now,
                   size_t cluster_size);

}  // namespace sluice::health
