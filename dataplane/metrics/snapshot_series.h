#pragma once
// The proxy's per-route and per-cluster series as Prometheus text, and the
// reclaiming of slots no live snapshot uses. Runs on the admin / apply
// threads, walking the snapshot (O(routes + clusters)), never per request.
#include <string>
#include <vector>

#include "dataplane/metrics/series.h"
#include "dataplane/snapshot/compiled_snapshot.h"

namespace sluice::metrics {

// The series of the routes and clusters of `current` (a removed route's
// series is no longer exported: Prometheus ends it with a staleness
// marker), summed over `workers`, as the families sluice_route_* and
// sluice_cluster_*, plus the registry's own gauges.
std::string SeriesText(const SeriesRegistry& registry, const std::vector<const WorkerSeries*>& workers,
                       const snapshot::CompiledSnapshot* current);

// When a label set went to the overflow slot since the last call, frees
// every slot that none of `live` (the current snapshot and those still held
// by a worker or an in-flight request) uses. Returns whether it looked.
bool ReclaimUnused(SeriesRegistry& registry, const std::vector<const WorkerSeries*>& workers,
                   const std::vector<const snapshot::CompiledSnapshot*>& live);

}  // namespace sluice::metrics
