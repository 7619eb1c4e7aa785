#pragma once
// The immutable, validated form of a Snapshot that workers route with.
// Built on the main thread, shared as std::shared_ptr<const CompiledSnapshot>
// and swapped into each worker on its own loop; a request keeps the snapshot
// it started with until it ends.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "dataplane/balancer/consistent_hash.h"
#include "dataplane/health/endpoint_health.h"
#include "dataplane/health/outlier.h"
#include "dataplane/net/socket.h"
#include "dataplane/pipeline/chain.h"
#include "dataplane/snapshot/persistent_map.h"
#include "dataplane/snapshot/sources.h"
#include "dataplane/tls/client_context.h"
#include "dataplane/tls/server_config.h"
#include "sluice/v1/snapshot.pb.h"

namespace re2 {
class RE2;
}

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
  // Fingerprint of the endpoint set (keys, weights, order): equal between
  // two snapshots when per-cluster balancer state (endpoint stats, round
  // robin positions) built for one is valid for the other.
  uint64_t endpoints_version = 0;
  // Set by Compile: the v1::Cluster this was compiled from (`source` points
  // here, so a cluster shared with a later snapshot keeps its source alive),
  // and whether an endpoint came from DNS (never reused, so that every
  // snapshot re-resolves ExternalName services as before).
  std::shared_ptr<const v1::Cluster> owned_source;
  bool resolved_by_dns = false;
  // This cluster's counters in every worker's metrics::WorkerSeries
  // (metrics::kNoSlot: compiled without a metrics registry).
  uint32_t metrics_slot = UINT32_MAX;
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

// Cookie affinity's lookup for one cluster: affinity hash -> endpoint index.
struct AffinityIndex {
  std::unordered_map<uint64_t, uint32_t> by_hash;
};

// A route's load-balancing policy (v1::LoadBalancingPolicy) towards one of
// the clusters it can send to, compiled with the snapshot: the immutable
// pick tables (hash ring, Maglev table, affinity index) are built here, once
// per snapshot change and shared by every worker, never per request. The
// tables depend on the cluster's endpoints only, so routes with the same
// algorithm towards one cluster share them. Mutable pick state (round robin
// positions) is each worker's own, in its Balancer, keyed by the cluster and
// `policy_id`; endpoint stats, health and outlier state stay per cluster.
struct CompiledBalancing {
  const CompiledCluster* cluster = nullptr;
  v1::LoadBalancingPolicy::Algorithm algorithm = v1::LoadBalancingPolicy::ROUND_ROBIN;
  v1::HashKey::Source hash_source = v1::HashKey::NONE;
  std::string hash_name;  // header (lower case) or cookie name
  // Cookie affinity; cookie_name empty: off.
  std::string cookie_name;
  std::shared_ptr<const AffinityIndex> affinity;
  // By endpoint index: the whole Set-Cookie value pinning that endpoint
  // (shared by the routes with the same cookie settings on this cluster).
  std::shared_ptr<const std::vector<std::string>> set_cookies;
  std::shared_ptr<const balancer::HashRing> ring;       // RING_HASH
  std::shared_ptr<const balancer::MaglevTable> maglev;  // MAGLEV
  // Stable fingerprint of the policy alone (0: the default policy).
  uint64_t policy_id = 0;
};

// Tables shared while compiling one snapshot: (cluster, kind) -> table.
struct BalancingTables;

// `policy` towards `cluster` (tests and tools may call it directly).
// `tables`, when given, shares tables between calls for the same cluster.
CompiledBalancing CompileBalancing(const v1::LoadBalancingPolicy& policy, const CompiledCluster& cluster,
                                   BalancingTables* tables = nullptr);

struct CompiledRoute {
  v1::Route::PathMatch match = v1::Route::PREFIX;
  std::string path;  // PREFIX: without trailing slash, "/" matches everything; REGEX: the expression
  // REGEX only: the expression, compiled once here (router::CompileRegex)
  // and shared with the route's rewrite stage; never null for REGEX.
  std::shared_ptr<const re2::RE2> regex;
  const CompiledCluster* cluster = nullptr;
  // Traffic split: when non-empty the exchange picks one of these by weight
  // (total_weight > 0), after the canary rule; `cluster` is the primary.
  std::vector<CompiledWeightedCluster> weighted_clusters;
  uint64_t total_weight = 0;
  CompiledCanary canary;
  v1::RoutePolicy policy;
  std::string origin;
  // This route's counters in every worker's metrics::WorkerSeries, by
  // (origin, host, configured path); metrics::kNoSlot without a registry.
  uint32_t metrics_slot = UINT32_MAX;
  // The route's request pipeline (dataplane/pipeline), compiled with it.
  std::shared_ptr<const pipeline::Chain> chain;
  // One per cluster the route can send to (primary, split, canary), each
  // with the route's policy.load_balancing (the canary's own when its rule
  // sets one).
  std::vector<CompiledBalancing> balancing;

  bool Matches(std::string_view request_path) const;
  // The route's policy towards `cluster`; null if the route never sends
  // there (the balancer then uses the default policy).
  const CompiledBalancing* BalancingFor(const CompiledCluster* cluster) const {
    for (const CompiledBalancing& b : balancing) {
      if (b.cluster == cluster) return &b;
    }
    return nullptr;
  }
};

// A route left out of a virtual host because the proxy cannot use it (a
// REGEX path that does not compile): named in the partial ACK.
struct RouteProblem {
  std::string origin;  // "namespace/ingress"
  std::string error;
};

struct CompiledVirtualHost {
  std::string name;
  std::vector<CompiledRoute> routes;  // match order (router::SortByPrecedence)
  // TLS passthrough (v1::VirtualHost.tls_passthrough): connections whose
  // SNI names this host are spliced to routes.front().cluster, balanced by
  // that route's policy. Timeouts 0: the proxy's defaults.
  bool tls_passthrough = false;
  std::chrono::milliseconds passthrough_connect_timeout{0};
  std::chrono::milliseconds passthrough_idle_timeout{0};
  std::vector<RouteProblem> route_problems;  // routes left out
  // The v1::VirtualHost it was compiled from: an equal one (and unchanged
  // clusters) lets the next snapshot share this object.
  std::shared_ptr<const v1::VirtualHost> source;
};

// Process-wide inputs to compilation that do not come from the controller.
struct CompileOptions {
  // --default-certificate/--default-key; wins over the snapshot's own.
  std::shared_ptr<tls::ServerContext> explicit_default_certificate;
  // Self-signed, generated at start: used when there is no other default.
  std::shared_ptr<tls::ServerContext> generated_default_certificate;
  // What the stages fall back on when a route says nothing (proxy flags).
  pipeline::ChainDefaults chain;
};

class CompiledSnapshot {
 public:
  const std::string& version() const { return version_; }
  // What this was compiled from (shared with the proxy's discovery state).
  const SnapshotSources& sources() const { return sources_; }
  // The same as one message, each kind ordered by name. O(size): for the
  // admin view, not for anything per request or per apply.
  v1::Snapshot SourceSnapshot() const { return sources_.ToSnapshot(); }

  // `host` as the client sent it (any case, maybe with a port); `path` the
  // request target (with or without query and fragment). The rules are
  // dataplane/router's: exact host first, then the single-label wildcard,
  // then the catch-all "*"; inside the host, the longest matching path
  // (Exact before Prefix on the same path). No allocation.
  const CompiledRoute* Match(std::string_view host, std::string_view path) const;

  const CompiledCluster* FindCluster(std::string_view name) const;
  // TLS passthrough: whether any host is passed through (the HTTPS listener
  // peeks at ClientHellos only then), and the host a ClientHello's server
  // name selects when that host is a passthrough one (the router's host
  // rules: exact, then wildcard; never the catch-all, which has no SNI).
  // Null: terminate TLS as usual.
  bool has_tls_passthrough() const { return passthrough_hosts_ > 0; }
  const CompiledVirtualHost* MatchPassthrough(std::string_view server_name) const;
  // The compiled virtual host named `name` ("a.b", "*.b" or "*"), or null.
  // Shared (same object) between snapshots while it and its clusters are
  // unchanged (see Compile's `previous`).
  const CompiledVirtualHost* FindVirtualHost(std::string_view name) const;

  // fn(const CompiledCluster&) for every cluster, in no particular order.
  template <typename Fn>
  void ForEachCluster(Fn&& fn) const {
    clusters_.ForEach([&fn](const std::string&, const std::shared_ptr<const CompiledCluster>& c) { fn(*c); });
  }
  // fn(const CompiledVirtualHost&) for every virtual host (metrics: O(n)).
  template <typename Fn>
  void ForEachVirtualHost(Fn&& fn) const {
    exact_hosts_.ForEach([&fn](const std::string&, const std::shared_ptr<const CompiledVirtualHost>& h) { fn(*h); });
    wildcard_hosts_.ForEach(
        [&fn](const std::string&, const std::shared_ptr<const CompiledVirtualHost>& h) { fn(*h); });
    if (catch_all_) fn(*catch_all_);
  }
  // Every cluster, ordered by name (O(n log n): metrics and admin pages).
  std::vector<const CompiledCluster*> ClustersByName() const;
  size_t cluster_count() const { return clusters_.size(); }
  size_t virtual_host_count() const { return exact_hosts_.size() + wildcard_hosts_.size() + (catch_all_ ? 1 : 0); }

  // Server certificates chosen by SNI for the HTTPS listener (null when
  // there is no certificate and no default certificate at all).
  const std::shared_ptr<const tls::ServerConfig>& server_tls() const { return server_tls_; }
  // Certificates left out because they do not load (bad PEM, key mismatch,
  // expired, not yet valid); the rest of the snapshot applies without them.
  const std::vector<tls::CertificateProblem>& certificate_problems() const { return certificate_problems_; }
  size_t route_count() const { return route_count_; }
  // Routes left out (their regex does not compile), with the host named;
  // the rest of their hosts serve. O(hosts with problems).
  std::vector<RouteProblem> route_problems() const;

 private:
  friend struct CompiledSnapshotBuilder;
  template <typename T>
  using Shared = PersistentMap<std::shared_ptr<const T>>;

  std::string version_;
  SnapshotSources sources_;
  // Every map below is shared, node by node, with the snapshot this one was
  // compiled from: a new version costs what changed, not what it holds.
  Shared<CompiledCluster> clusters_;
  Shared<CompiledVirtualHost> exact_hosts_;
  Shared<CompiledVirtualHost> wildcard_hosts_;  // by parent domain
  std::shared_ptr<const CompiledVirtualHost> catch_all_;
  // Cluster name -> names of the virtual hosts routing to it: the hosts to
  // compile again when that cluster changes.
  PersistentMap<PersistentMap<bool>> hosts_by_cluster_;
  PersistentMap<bool> dns_clusters_;  // compiled again every time (re-resolved)
  // Names of the virtual hosts with route_problems, whatever their kind.
  PersistentMap<bool> hosts_with_route_problems_;
  size_t route_count_ = 0;
  size_t passthrough_hosts_ = 0;
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
// registry), only what differs between previous->sources() and `sources`
// is looked at (PersistentMap::Diff: shared subtrees are skipped), and of
// that, clusters whose v1::Cluster is unchanged (and not resolved through
// DNS) and virtual hosts whose v1::VirtualHost is unchanged and whose
// clusters were all kept are shared with `previous` instead of being
// compiled again. A one-resource delta over 10,000 hosts costs
// microseconds, and the new snapshot shares all but a few nodes with the
// old one. The result routes exactly as a full compile of `sources` would.
Result<std::shared_ptr<const CompiledSnapshot>> Compile(const SnapshotSources& sources, std::string version,
                                                        health::HealthRegistry* registry = nullptr,
                                                        const CompileOptions& options = CompileOptions(),
                                                        const CompiledSnapshot* previous = nullptr);
// The same from one message (tests, tools): also rejects a name that
// occurs twice and a cluster without a name.
Result<std::shared_ptr<const CompiledSnapshot>> Compile(v1::Snapshot snapshot, std::string version,
                                                        health::HealthRegistry* registry = nullptr,
                                                        const CompileOptions& options = CompileOptions(),
                                                        const CompiledSnapshot* previous = nullptr);

// Lower-cases `host`, strips a port and a trailing dot. Empty on garbage.
// (router::NormalizeHost.)
std::string NormalizeHost(std::string_view host);

}  // namespace sluice::snapshot
