#include "dataplane/balancer/round_robin.h"

namespace sluice::balancer {

const snapshot::CompiledEndpoint* RoundRobin::Pick(const snapshot::CompiledCluster& cluster,
                                                   const snapshot::CompiledEndpoint* skip) {
  const auto& endpoints = cluster.endpoints;
  if (endpoints.empty()) return nullptr;
  uint64_t total = 0;
  for (const auto& e : endpoints) total += e.weight;
  uint64_t& position = position_[cluster.name];
  for (size_t attempt = 0; attempt < 2; ++attempt) {
    uint64_t slot = position++ % total;
    const snapshot::CompiledEndpoint* picked = &endpoints.back();
    for (const auto& e : endpoints) {
      if (slot < e.weight) {
        picked = &e;
        break;
      }
      slot -= e.weight;
    }
    if (skip == nullptr || endpoints.size() == 1 || picked->key != skip->key) return picked;
  }
  return &endpoints.front() == skip ? &endpoints[1] : &endpoints.front();
}

}  // namespace sluice::balancer
