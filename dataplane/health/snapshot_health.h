#pragma once
// The health view of a compiled snapshot: which active checks it asks for
// (deduplicated by endpoint and path), and per-endpoint health for /metrics
// and the admin /snapshot page.
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/health/checker.h"
#include "dataplane/snapshot/compiled_snapshot.h"

namespace sluice::health {

// The snapshot's settings with the documented defaults filled in.
CheckSpec CheckSpecFrom(const v1::HealthCheck& settings);

// One target per endpoint and path over every cluster with a health-check
// path, in cluster order. Endpoints without a health object are skipped.
std::vector<CheckTarget> CheckTargets(const snapshot::CompiledSnapshot& snapshot);

// Prometheus text: sluice_endpoint_healthy{cluster,endpoint} (1: may take
// new requests), sluice_endpoint_active_check_healthy and
// sluice_endpoint_ejected gauges, sluice_endpoint_ejections (count so far).
std::string HealthMetricsText(const snapshot::CompiledSnapshot& snapshot, int64_t now_ns);

// {"cluster":[{"endpoint":"ip:port","available":true,"active_check":"healthy"|"unhealthy"|"off",
//   "ejected_for_seconds":0,"ejections":0},...],...}
std::string HealthJson(const snapshot::CompiledSnapshot& snapshot, int64_t now_ns);

}  // namespace sluice::health
