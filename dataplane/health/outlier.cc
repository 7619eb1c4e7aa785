#include "dataplane/health/outlier.h"

#include <algorithm>

#include "sluice/v1/snapshot.pb.h"

namespace sluice::health {

OutlierPolicy OutlierPolicyFrom(const v1::OutlierDetection& settings) {
  OutlierPolicy policy;
  constexpr int64_t kMsToNs = 1'000'000;
  policy.enabled = !settings.disabled();
  if (settings.consecutive_failures() != 0) policy.consecutive_failures = settings.consecutive_failures();
  if (settings.base_ejection_time_ms() != 0) policy.base_ejection_ns = settings.base_ejection_time_ms() * kMsToNs;
  if (settings.max_ejection_time_ms() != 0) policy.max_ejection_ns = settings.max_ejection_time_ms() * kMsToNs;
  if (policy.max_ejection_ns < policy.base_ejection_ns) policy.max_ejection_ns = policy.base_ejection_ns;
  if (settings.has_max_ejection_percent()) policy.max_ejection_percent = std::min(settings.max_ejection_percent(), 100u);
  if (settings.has_panic_threshold_percent()) {
    policy.panic_threshold_percent = std::min(settings.panic_threshold_percent(), 100u);
  }
  return policy;
}

int64_t EjectionDurationNs(const OutlierPolicy& policy, uint32_t ejection_number) {
  int64_t n = std::max<uint32_t>(ejection_number, 1);
  // Compared before multiplying: no overflow whatever the count.
  if (policy.base_ejection_ns > 0 && n > policy.max_ejection_ns / policy.base_ejection_ns) {
    return policy.max_ejection_ns;
  }
  return std::min(policy.base_ejection_ns * n, policy.max_ejection_ns);
}

bool MayEject(const OutlierPolicy& policy, size_t ejected_now, size_t cluster_size) {
  if (policy.max_ejection_percent == 0 || cluster_size == 0) return false;
  size_t allowed = cluster_size * std::min<uint32_t>(policy.max_ejection_percent, 100) / 100;
  if (allowed == 0 && cluster_size > 1) allowed = 1;
  return ejected_now < allowed;
}

void RecordSuccess(EndpointHealth& health) {
  if (health.consecutive_failures.load(std::memory_order_relaxed) != 0) {
    health.consecutive_failures.store(0, std::memory_order_relaxed);
  }
}

bool RecordFailure(EndpointHealth& health, const OutlierPolicy& policy, int64_t now_ns, size_t ejected_now,
                   size_t cluster_size) {
  uint32_t failures = health.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (!policy.enabled || failures < policy.consecutive_failures) return false;
  int64_t until = health.ejected_until_ns.load(std::memory_order_relaxed);
  if (until > now_ns) return false;  // already ejected
  if (!MayEject(policy, ejected_now, cluster_size)) return false;  // the run goes on; retried on the next failure
  uint32_t count = health.ejection_count.load(std::memory_order_relaxed);
  int64_t last_end = health.last_ejection_end_ns.load(std::memory_order_relaxed);
  if (last_end != 0 && now_ns - last_end > policy.max_ejection_ns) count = 0;  // long healthy: start over
  int64_t duration = EjectionDurationNs(policy, count + 1);
  // Only the worker whose exchange succeeds ejects: the others see it ejected.
  if (!health.ejected_until_ns.compare_exchange_strong(until, now_ns + duration, std::memory_order_relaxed)) {
    return false;
  }
  health.ejection_count.store(count + 1, std::memory_order_relaxed);
  health.last_ejection_end_ns.store(now_ns + duration, std::memory_order_relaxed);
  health.consecutive_failures.store(0, std::memory_order_relaxed);
  return true;
}

}  // namespace sluice::health
