#pragma once
// The immutable, validated form of a Snapshot that workers route with.
// Built on the main thread, shared as std::shared_ptr<const CompiledSnapshot>
// and swapped into each worker on its own loop; a request keeps the snapshot
// it started with until it ends.
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dataplane/common/status.h"
#include "dataplane/health/endpoint_health.h"
#include "dataplane/net/socket.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::snapshot {

struct CompiledEndpoint {
  net::Address address;
  std::string key;  // "ip:port": stable name for pools and health state
  uint32_t weight = 1;
  std::string zone;
  // Shared with the health checker and every worker; null means "healthy,
  // not tracked" (e.g. snapshots compiled in tests without a registry).
  std::shared_ptr<health::EndpointHealth> health;
};

struct CompiledCluster {
  std::string name;
  std::vector<CompiledEndpoint> endpoints;
  const v1::Cluster* source = nullptr;  // policies (load balancing, health, TLS, protocol)
};

struct CompiledRoute {
  v1::Route::PathMatch match = v1::Route::PREFIX;
  std::string path;  // PREFIX: without trailing slash, "/" matches everything
  const CompiledCluster* cluster = nullptr;
  v1::RoutePolicy policy;
  std::string origin;

  bool Matches(std::string_view request_path) const;
};

struct CompiledVirtualHost {
  std::string name;
  std::vector<CompiledRoute> routes;  // match order
};

class CompiledSnapshot {
 public:
  const std::string& version() const { return version_; }
  const v1::Snapshot& source() const { return source_; }

  // `host` as the client sent it (any case, maybe with a port); `path` with
  // or without a query. Exact host first, then the single-label wildcard,
  // then the catch-all "*"; inside the host, the first matching route.
  const CompiledRoute* Match(std::string_view host, std::string_view path) const;

  const CompiledCluster* FindCluster(std::string_view name) const;
  size_t route_count() const { return route_count_; }

 private:
  friend Result<std::shared_ptr<const CompiledSnapshot>> Compile(v1::Snapshot, std::string);
  std::string version_;
  v1::Snapshot source_;
  std::vector<std::unique_ptr<CompiledCluster>> clusters_;
  std::unordered_map<std::string, const CompiledCluster*> clusters_by_name_;
  std::unordered_map<std::string, CompiledVirtualHost> exact_hosts_;
  std::unordered_map<std::string, CompiledVirtualHost> wildcard_hosts_;  // keyed by parent domain
  std::unique_ptr<CompiledVirtualHost> catch_all_;
  size_t route_count_ = 0;
};

// Validates and compiles. Errors name the resource concerned; a snapshot
// that does not compile is NACKed and the old one keeps serving.
Result<std::shared_ptr<const CompiledSnapshot>> Compile(v1::Snapshot snapshot, std::string version);

// Lower-cases `host`, strips a port and a trailing dot. Empty on garbage.
std::string NormalizeHost(std::string_view host);

}  // namespace sluice::snapshot
