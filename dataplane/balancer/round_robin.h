#pragma once
// Per-worker round robin over a cluster's endpoints. State is keyed by the
// cluster's stable name so a snapshot swap does not reset it; no locks, as
// each worker owns its own Balancer.
#include <string>
#include <unordered_map>

#include "dataplane/snapshot/compiled_snapshot.h"

namespace sluice::balancer {

class RoundRobin {
 public:
  // Weighted by repetition: with weights 2 and 1 the picks go a, a, b.
  // nullptr when the cluster has no endpoints. `skip` (may be null) names an
  // endpoint to avoid when another exists (a retry after a failure).
  const snapshot::CompiledEndpoint* Pick(const snapshot::CompiledCluster& cluster,
                                         const snapshot::CompiledEndpoint* skip = nullptr);

 private:
  std::unordered_map<std::string, uint64_t> position_;
};

}  // namespace sluice::balancer
