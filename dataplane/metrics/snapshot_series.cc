#include "dataplane/metrics/snapshot_series.h"

#include <algorithm>
#include <utility>

#include "base/prom_text.h"

namespace sluice::metrics {
namespace {

SeriesTotals Sum(const std::vector<const WorkerSeries*>& workers, bool route, uint32_t slot) {
  SeriesTotals totals;
  for (const WorkerSeries* worker : workers) {
    if (worker == nullptr) continue;
    const SeriesCounters* counters = route ? worker->route(slot) : worker->cluster(slot);
    if (counters != nullptr) totals.Add(*counters);
  }
  return totals;
}

std::string RouteLabelText(const SeriesRegistry& registry, uint32_t slot) {
  if (slot == registry.route_overflow_slot()) {
    return "namespace=\"\",ingress=\"\",host=\"\",path=\"\",overflow=\"true\"";
  }
  RouteKey key = registry.RouteLabels(slot);
  std::string_view origin = key.origin, ns, name = origin;
  if (size_t slash = origin.find('/'); slash != std::string_view::npos) {
    ns = origin.substr(0, slash);
    name = origin.substr(slash + 1);
  }
  return "namespace=\"" + prom::Escape(ns) + "\",ingress=\"" + prom::Escape(name) + "\",host=\"" +
         prom::Escape(key.host) + "\",path=\"" + prom::Escape(key.path) + "\"";
}

std::string ClusterLabelText(const SeriesRegistry& registry, uint32_t slot) {
  if (slot == registry.cluster_overflow_slot()) return "cluster=\"\",overflow=\"true\"";
  return "cluster=\"" + prom::Escape(registry.ClusterName(slot)) + "\"";
}

}  // namespace

std::string SeriesText(const SeriesRegistry& registry, const std::vector<const WorkerSeries*>& workers,
                       const snapshot::CompiledSnapshot* current) {
  std::vector<bool> seen_routes(registry.max_routes() + 1), seen_clusters(registry.max_clusters() + 1);
  std::vector<std::pair<std::string, uint32_t>> routes, clusters;  // (labels, slot), sorted: stable output
  std::vector<bool> static_slots(registry.max_routes() + 1);       // routes serving a static site
  if (current != nullptr) {
    current->ForEachVirtualHost([&](const snapshot::CompiledVirtualHost& host) {
      for (const snapshot::CompiledRoute& route : host.routes) {
        uint32_t slot = route.metrics_slot;
        if (slot < static_slots.size() && route.policy.has_static_site()) static_slots[slot] = true;
        if (slot >= seen_routes.size() || seen_routes[slot]) continue;
        seen_routes[slot] = true;
        routes.emplace_back(RouteLabelText(registry, slot), slot);
      }
    });
    current->ForEachCluster([&](const snapshot::CompiledCluster& cluster) {
      uint32_t slot = cluster.metrics_slot;
      if (slot >= seen_clusters.size() || seen_clusters[slot]) return;
      seen_clusters[slot] = true;
      clusters.emplace_back(ClusterLabelText(registry, slot), slot);
    });
  }
  std::sort(routes.begin(), routes.end());
  std::sort(clusters.begin(), clusters.end());
  std::string out;
  auto family = [&](const char* prefix, bool route, const std::vector<std::pair<std::string, uint32_t>>& slots) {
    std::vector<std::string> labels;
    std::vector<SeriesTotals> totals;
    for (const auto& [text, slot] : slots) {
      labels.push_back(text);
      totals.push_back(registry.Exported(route, slot, Sum(workers, route, slot)));
    }
    AppendSeriesText(out, prefix, labels, totals);
    if (route) AppendCacheSeriesText(out, prefix, labels, totals);
  };
  family("sluice_route", true, routes);
  {
    std::vector<std::string> labels;
    std::vector<SeriesTotals> totals;
    for (const auto& [text, slot] : routes) {
      if (!static_slots[slot]) continue;
      labels.push_back(text);
      totals.push_back(registry.Exported(true, slot, Sum(workers, true, slot)));
    }
    if (!labels.empty()) AppendStaticSeriesText(out, labels, totals);
  }
  family("sluice_cluster", false, clusters);
  prom::Single(out, "sluice_route_series", "gauge", "Route label sets holding a series slot now.",
               static_cast<double>(registry.route_series()));
  prom::Single(out, "sluice_route_series_limit", "gauge",
               "Route series slots per proxy (--metrics-max-routes); routes past it share the overflow series.",
               static_cast<double>(registry.max_routes()));
  prom::Single(out, "sluice_cluster_series", "gauge", "Cluster names holding a series slot now.",
               static_cast<double>(registry.cluster_series()));
  prom::Single(out, "sluice_cluster_series_limit", "gauge",
               "Cluster series slots per proxy (--metrics-max-clusters); clusters past it share the overflow "
               "series.",
               static_cast<double>(registry.max_clusters()));
  prom::Single(out, "sluice_series_overflow_assignments_total", "counter",
               "Routes and clusters compiled into the overflow series because every slot was taken.",
               static_cast<double>(registry.overflowed_assignments()));
  return out;
}

bool ReclaimUnused(SeriesRegistry& registry, const std::vector<const WorkerSeries*>& workers,
                   const std::vector<const snapshot::CompiledSnapshot*>& live) {
  if (!registry.overflowed()) return false;
  std::vector<bool> live_routes(registry.max_routes() + 1), live_clusters(registry.max_clusters() + 1);
  for (const snapshot::CompiledSnapshot* snapshot : live) {
    if (snapshot == nullptr) continue;
    snapshot->ForEachVirtualHost([&](const snapshot::CompiledVirtualHost& host) {
      for (const snapshot::CompiledRoute& route : host.routes) {
        if (route.metrics_slot < live_routes.size()) live_routes[route.metrics_slot] = true;
      }
    });
    snapshot->ForEachCluster([&](const snapshot::CompiledCluster& cluster) {
      if (cluster.metrics_slot < live_clusters.size()) live_clusters[cluster.metrics_slot] = true;
    });
  }
  registry.Reclaim(live_routes, live_clusters,
                   [&](bool route, uint32_t slot) { return Sum(workers, route, slot); });
  return true;
}

}  // namespace sluice::metrics
