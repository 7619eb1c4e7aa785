#pragma once
// The health of one endpoint ("ip:port"), shared by every worker of a proxy
// and by the active health checker, and carried across snapshot swaps that
// keep the endpoint (a registry keyed by the endpoint's stable name hands out
// the same object). Plain atomics: read on the per-request path without
// locks; written by the checker thread and by workers reporting outcomes.
#include <atomic>
#include <cstdint>

namespace sluice::health {

struct EndpointHealth {
  // Active checks: false after `unhealthy_threshold` failed checks, true
  // again after `healthy_threshold` passing ones. True when not checked.
  std::atomic<bool> active_healthy{true};
  // Passive outlier detection: ejected until this steady-clock time (ns
  // since the clock's epoch); 0 when not ejected.
  std::atomic<int64_t> ejected_until_ns{0};
  // Outlier detection bookkeeping (see outlier.h): failures in a row since
  // the last success, how many times it was ejected (the next ejection lasts
  // that many base times), and when the last ejection ended.
  std::atomic<uint32_t> consecutive_failures{0};
  std::atomic<uint32_t> ejection_count{0};
  std::atomic<int64_t> last_ejection_end_ns{0};
  // True while some cluster runs active checks against this endpoint (for
  // /metrics: untracked endpoints show no active-check state).
  std::atomic<bool> actively_checked{false};

  // Whether new requests may go to this endpoint at `now_ns` (steady clock).
  bool Available(int64_t now_ns) const {
    return active_healthy.load(std::memory_order_relaxed) &&
           ejected_until_ns.load(std::memory_order_relaxed) <= now_ns;
  }
};

}  // namespace sluice::health
