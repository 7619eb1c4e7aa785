#include "dataplane/balancer/balancer.h"

namespace sluice::balancer {

PickResult Balancer::Pick(const snapshot::CompiledCluster& cluster, const PickContext& context) {
  const snapshot::CompiledEndpoint* skip = context.tried.empty() ? nullptr : context.tried.back();
  return PickResult{round_robin_.Pick(cluster, skip), {}};
}

void Balancer::OnRequestStart(const snapshot::CompiledCluster&, const snapshot::CompiledEndpoint&) {}

void Balancer::OnRequestEnd(const snapshot::CompiledCluster&, const snapshot::CompiledEndpoint&,
                            std::chrono::nanoseconds, bool) {}

}  // namespace sluice::balancer
