#include "dataplane/health/snapshot_health.h"

#include <algorithm>
#include <cstdio>

#include "dataplane/common/log.h"

namespace sluice::health {

CheckSpec CheckSpecFrom(const v1::HealthCheck& settings) {
  CheckSpec spec;
  spec.path = settings.path();
  spec.host = settings.host();
  if (settings.interval_ms() != 0) spec.interval = std::chrono::milliseconds(settings.interval_ms());
  if (settings.timeout_ms() != 0) spec.timeout = std::chrono::milliseconds(settings.timeout_ms());
  if (settings.healthy_threshold() != 0) spec.healthy_threshold = settings.healthy_threshold();
  if (settings.unhealthy_threshold() != 0) spec.unhealthy_threshold = settings.unhealthy_threshold();
  if (settings.expected_statuses_size() > 0) {
    spec.expected_statuses.clear();
    for (const v1::StatusRange& range : settings.expected_statuses()) {
      spec.expected_statuses.emplace_back(static_cast<int>(range.start()), static_cast<int>(range.end()));
    }
  }
  return spec;
}

std::vector<CheckTarget> CheckTargets(const snapshot::CompiledSnapshot& snapshot) {
  std::vector<CheckTarget> targets;
  // Runs on every apply: look at the checked clusters only, in name order.
  std::vector<const snapshot::CompiledCluster*> checked;
  snapshot.ForEachCluster([&checked](const snapshot::CompiledCluster& cluster) {
    if (cluster.source != nullptr && !cluster.source->health_check().path().empty()) checked.push_back(&cluster);
  });
  std::sort(checked.begin(), checked.end(),
            [](const snapshot::CompiledCluster* a, const snapshot::CompiledCluster* b) { return a->name < b->name; });
  for (const snapshot::CompiledCluster* compiled : checked) {
    CheckSpec spec = CheckSpecFrom(compiled->source->health_check());
    for (const snapshot::CompiledEndpoint& endpoint : compiled->endpoints) {
      if (endpoint.health == nullptr) continue;
      targets.push_back(CheckTarget{endpoint.key, endpoint.address, spec, endpoint.health});
    }
  }
  return targets;  // the checker merges duplicates (same endpoint and path)
}

namespace {

std::string Labels(const std::string& cluster, const std::string& endpoint) {
  // Label values escape like JSON strings minus the quotes' meaning; names
  // here are Kubernetes names and IPs, so quoting is enough.
  return "{cluster=" + log::Quote(cluster) + ",endpoint=" + log::Quote(endpoint) + "}";
}

}  // namespace

std::string HealthMetricsText(const snapshot::CompiledSnapshot& snapshot, int64_t now_ns) {
  std::string healthy = "# HELP sluice_endpoint_healthy 1 when the endpoint may take new requests (active checks and outlier detection).\n"
                        "# TYPE sluice_endpoint_healthy gauge\n";
  std::string active = "# HELP sluice_endpoint_active_check_healthy Active health check result (only endpoints that are checked).\n"
                       "# TYPE sluice_endpoint_active_check_healthy gauge\n";
  std::string ejected = "# HELP sluice_endpoint_ejected 1 while outlier detection ejects the endpoint.\n"
                        "# TYPE sluice_endpoint_ejected gauge\n";
  std::string ejections = "# HELP sluice_endpoint_ejections Times outlier detection ejected the endpoint.\n"
                          "# TYPE sluice_endpoint_ejections gauge\n";
  for (const snapshot::CompiledCluster* cluster : snapshot.ClustersByName()) {
    for (const snapshot::CompiledEndpoint& endpoint : cluster->endpoints) {
      std::string labels = Labels(cluster->name, endpoint.key);
      const EndpointHealth* h = endpoint.health.get();
      bool available = h == nullptr || h->Available(now_ns);
      healthy += "sluice_endpoint_healthy" + labels + (available ? " 1\n" : " 0\n");
      if (h == nullptr) continue;
      if (h->actively_checked.load(std::memory_order_relaxed)) {
        active += "sluice_endpoint_active_check_healthy" + labels +
                  (h->active_healthy.load(std::memory_order_relaxed) ? " 1\n" : " 0\n");
      }
      ejected += "sluice_endpoint_ejected" + labels +
                 (h->ejected_until_ns.load(std::memory_order_relaxed) > now_ns ? " 1\n" : " 0\n");
      ejections += "sluice_endpoint_ejections" + labels + " " +
                   std::to_string(h->ejection_count.load(std::memory_order_relaxed)) + "\n";
    }
  }
  return healthy + active + ejected + ejections;
}

std::string HealthJson(const snapshot::CompiledSnapshot& snapshot, int64_t now_ns) {
  std::string json = "{";
  bool first_cluster = true;
  for (const snapshot::CompiledCluster* cluster : snapshot.ClustersByName()) {
    json += (first_cluster ? "" : ",") + log::Quote(cluster->name) + ":[";
    first_cluster = false;
    bool first = true;
    for (const snapshot::CompiledEndpoint& endpoint : cluster->endpoints) {
      const EndpointHealth* h = endpoint.health.get();
      json += first ? "{" : ",{";
      first = false;
      json += "\"endpoint\":" + log::Quote(endpoint.key);
      json += std::string(",\"available\":") + (h == nullptr || h->Available(now_ns) ? "true" : "false");
      const char* active = "off";
      double ejected_for = 0;
      uint32_t count = 0;
      if (h != nullptr) {
        if (h->actively_checked.load(std::memory_order_relaxed)) {
          active = h->active_healthy.load(std::memory_order_relaxed) ? "healthy" : "unhealthy";
        }
        int64_t until = h->ejected_until_ns.load(std::memory_order_relaxed);
        if (until > now_ns) ejected_for = static_cast<double>(until - now_ns) / 1e9;
        count = h->ejection_count.load(std::memory_order_relaxed);
      }
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.1f", ejected_for);
      json += std::string(",\"active_check\":\"") + active + "\",\"ejected_for_seconds\":" + seconds +
              ",\"ejections\":" + std::to_string(count) + "}";
    }
    json += "]";
  }
  return json + "}";
}

}  // namespace sluice::health
