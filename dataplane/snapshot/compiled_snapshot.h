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
#include "dataplane/health/outlier.h"
#include "dataplane/net/socket.h"
#include "dataplane/tls/client_context.h"
#include "dataplane/tls/server_config.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::health {
class HealthRegistry;
}

namespace sluice::snapshot {

struct CompiledEndpoint {
  net::Address address;
  std::string key;  // "ip:port": stable name for pools and health state
  uint32_t weight = 1;
  std::string zone;
  // Shared with the health checker and every worker; null means "healthy,
  // not tracked" (e.g. snapshots compiled in tests without a registry).
  std::shared_ptr<health::EndpointHealth> health;
  // Upstream pool key: `key`, plus the TLS identity when the cluster
  // re-encrypts (a pooled connection is reused only under the same one).
  std::string pool_key;
  // The cluster's client TLS context (owned by the cluster); null: plain TCP.
  const tls::ClientContext* upstream_tls = nullptr;
};

struct CompiledCluster {
  std::string name;
  std::vector<CompiledEndpoint> endpoints;
  const v1::Cluster* source = nullptr;  // policies (load balancing, health, TLS, protocol)
  // Client TLS towards the endpoints (upstream_tls.enabled or protocol H2).
  std::shared_ptr<tls::ClientContext> upstream_tls;
  // source->outlier_detection() with defaults filled in (panic threshold
  // included, for the balancer).
  health::OutlierPolicy outlier;
  // Fingerprint of the endpoint set (keys, weights, order) and of the
  // balancing policy: equal between two snapshots when per-cluster balancer
  // state (hash rings, positions) built for one is valid for the other.
  uint64_t endpoints_version = 0;
  // Set by Compile: the v1::Cluster this was compiled from (`source` points
  // here, so a cluster shared with a later snapshot keeps its source alive),
  // its serialized bytes (to tell an unchanged cluster in the next
  // snapshot), and whether an endpoint came from DNS (never reused, so that
  // every snapshot re-resolves ExternalName services as before).
  std::shared_ptr<const v1::Cluster> owned_source;
  std::string source_bytes;
  bool resolved_by_dns = false;
};

// Route.weighted_clusters and Route.canary, resolved (see snapshot.proto).
struct CompiledWeightedCluster {
  const CompiledCluster* cluster = nullptr;
  uint32_t weight = 0;
};
struct CompiledCanary {
  const CompiledCluster* cluster = nullptr;  // null: no canary rule
  std::string header;        // lower case; empty: none
  std::string header_value;  // empty: "always"/"never"
  std::string cookie;        // empty: none
};

struct CompiledRoute {
  v1::Route::PathMatch match = v1::Route::PREFIX;
  std::string path;  // PREFIX: without trailing slash, "/" matches everything
  const CompiledCluster* cluster = nullptr;
  // Traffic split: when non-empty the exchange picks one of these by weight
  // (total_weight > 0), after the canary rule; `cluster` is the primary.
  std::vector<CompiledWeightedCluster> weighted_clusters;
  uint64_t total_weight = 0;
  CompiledCanary canary;
  v1::RoutePolicy policy;
  std::string origin;

  bool Matches(std::string_view request_path) const;
};

struct CompiledVirtualHost {
  std::string name;
  std::vector<CompiledRoute> routes;  // match order
  // Serialized v1::VirtualHost it was compiled from: equal bytes (and
  // unchanged clusters) let the next snapshot share this object.
  std::string source_bytes;
};

// Process-wide inputs to compilation that do not come from the controller.
struct CompileOptions {
  // --default-certificate/--default-key; wins over the snapshot's own.
  std::shared_ptr<tls::ServerContext> explicit_default_certificate;
  // Self-signed, generated at start: used when there is no other default.
  std::shared_ptr<tls::ServerContext> generated_default_certificate;
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
  // The compiled virtual host named `name` ("a.b", "*.b" or "*"), or null.
  // Shared (same object) between snapshots while it and its clusters are
  // unchanged (see Compile's `previous`).
  const CompiledVirtualHost* FindVirtualHost(std::string_view name) const;

  // Server certificates chosen by SNI for the HTTPS listener (null when
  // there is no certificate and no default certificate at all).
  const std::shared_ptr<const tls::ServerConfig>& server_tls() const { return server_tls_; }
  // Certificates left out because they do not load (bad PEM, key mismatch,
  // expired, not yet valid); the rest of the snapshot applies without them.
  const std::vector<tls::CertificateProblem>& certificate_problems() const { return certificate_problems_; }
  size_t route_count() const { return route_count_; }

 private:
  friend Result<std::shared_ptr<const CompiledSnapshot>> Compile(v1::Snapshot, std::string,
                                                                 health::HealthRegistry*, const CompileOptions&,
                                                                 const CompiledSnapshot*);
  friend void CompileServerTls(const v1::Snapshot&, const CompileOptions&, CompiledSnapshot&);
  std::string version_;
  v1::Snapshot source_;
  // Shared with other snapshots when unchanged (incremental compile).
  std::vector<std::shared_ptr<const CompiledCluster>> clusters_;
  std::unordered_map<std::string, const CompiledCluster*> clusters_by_name_;
  std::unordered_map<std::string, std::shared_ptr<const CompiledVirtualHost>> exact_hosts_;
  std::unordered_map<std::string, std::shared_ptr<const CompiledVirtualHost>> wildcard_hosts_;  // by parent domain
  std::shared_ptr<const CompiledVirtualHost> catch_all_;
  size_t route_count_ = 0;
  std::shared_ptr<const tls::ServerConfig> server_tls_;
  std::vector<tls::CertificateProblem> certificate_problems_;
};

// Validates and compiles. Errors name the resource concerned; a snapshot
// that does not compile is NACKed and the old one keeps serving.
// With a `registry`, every endpoint gets the registry's shared health object
// for its key (health state carries across snapshots); without one,
// CompiledEndpoint::health stays null ("healthy, not tracked").
// A certificate that does not load is not an error: see certificate_problems().
// With `previous` (the snapshot being replaced, compiled with the same
// registry), clusters whose v1::Cluster is byte-for-byte unchanged (and not
// resolved through DNS) and virtual hosts whose v1::VirtualHost is unchanged
// and whose clusters were all reused are shared with it instead of being
// compiled again: a one-resource delta costs a few ms, not a full compile.
// The result routes exactly as a full compile of `snapshot` would.
Result<std::shared_ptr<const CompiledSnapshot>> Compile(v1::Snapshot snapshot, std::string version,
                                                        health::HealthRegistry* registry = nullptr,
                                                        const CompileOptions& options = CompileOptions(),
                                                        const CompiledSnapshot* previous = nullptr);
// Fills out.server_tls_ / certificate_problems_ (part of Compile).
void CompileServerTls(const v1::Snapshot& snapshot, const CompileOptions& options, CompiledSnapshot& out);

// Lower-cases `host`, strips a port and a trailing dot. Empty on garbage.
std::string NormalizeHost(std::string_view host);

}  // namespace sluice::snapshot
