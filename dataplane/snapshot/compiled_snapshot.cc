#include "dataplane/snapshot/compiled_snapshot.h"

#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "dataplane/metrics/series.h"
#include "dataplane/balancer/hash.h"
#include "dataplane/common/log.h"
#include "dataplane/health/registry.h"
#include "dataplane/router/router.h"

namespace sluice::snapshot {
namespace {

bool IsValidHostLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// "demo.local", "*.demo.local" or "*"; already lower case.
bool IsValidVirtualHostName(std::string_view name) {
  if (name == "*") return true;
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (IsValidHostLabelChar(c)) {
      ++label;
    } else {
      return false;
    }
  }
  return label > 0;
}

// ExternalName Services carry DNS names. Resolve them here, on the main
// thread at compile time, so that workers never block on DNS.
Status ResolveEndpoint(const v1::Endpoint& endpoint, std::vector<CompiledEndpoint>& out, bool& used_dns) {
  if (endpoint.port() == 0 || endpoint.port() > 65535) {
    return Status::Error("endpoint " + endpoint.address() + " has invalid port " + std::to_string(endpoint.port()));
  }
  uint32_t weight = endpoint.weight() == 0 ? 1 : endpoint.weight();
  auto literal = net::MakeAddress(endpoint.address(), static_cast<int>(endpoint.port()));
  if (literal.ok()) {
    out.push_back({*literal, literal->ToString(), weight});
    return Status::Ok();
  }
  used_dns = true;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  int rc = getaddrinfo(endpoint.address().c_str(), nullptr, &hints, &results);
  if (rc != 0 || results == nullptr) {
    // One unresolvable ExternalName must not reject the whole snapshot: the
    // cluster just has no endpoint from it (its routes answer 503).
    log::Warn("cannot resolve endpoint, skipping it", {{"address", endpoint.address()}, {"error", gai_strerror(rc)}});
    return Status::Ok();
  }
  std::set<std::string> seen;
  for (addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) {
    net::Address address;
    std::memcpy(&address.storage, ai->ai_addr, ai->ai_addrlen);
    address.length = ai->ai_addrlen;
    auto resolved = net::MakeAddress(address.IpString(), static_cast<int>(endpoint.port()));
    if (resolved.ok() && seen.insert(resolved->ToString()).second) {
      out.push_back({*resolved, resolved->ToString(), weight});
    }
  }
  freeaddrinfo(results);
  return Status::Ok();
}

std::string LowerCase(std::string text) {
  for (char& c : text) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  return text;
}

// FNV-1a over what per-cluster balancer state depends on.
uint64_t EndpointsVersion(const std::vector<CompiledEndpoint>& endpoints) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // separator, so "ab","c" differs from "a","bc"
  };
  for (const CompiledEndpoint& e : endpoints) {
    mix(e.key);
    mix(std::to_string(e.weight));
    mix(e.zone);
  }
  return h;
}

// Re-encryption towards the cluster's endpoints; also fills every
// endpoint's pool key.
Status CompileUpstreamTls(const v1::Cluster& cluster, CompiledCluster& out) {
  const v1::UpstreamTls& settings = cluster.upstream_tls();
  if (settings.enabled() || cluster.protocol() == v1::Cluster::H2) {
    tls::ClientSettings client;
    client.server_name = settings.sni();
    client.verify = settings.verify();
    client.ca_pem = settings.ca_pem();
    client.h2 = cluster.protocol() == v1::Cluster::H2;
    auto context = tls::ClientContext::Get(client);
    if (!context.ok()) return context.status();
    out.upstream_tls = *context;
  }
  for (CompiledEndpoint& endpoint : out.endpoints) {
    endpoint.pool_key = out.upstream_tls ? endpoint.key + "|" + out.upstream_tls->identity() : endpoint.key;
    endpoint.upstream_tls = out.upstream_tls.get();
  }
  return Status::Ok();
}

}  // namespace

struct BalancingTables {
  std::map<const CompiledCluster*, std::shared_ptr<const balancer::HashRing>> rings;
  std::map<const CompiledCluster*, std::shared_ptr<const balancer::MaglevTable>> maglevs;
  std::map<const CompiledCluster*, std::shared_ptr<const AffinityIndex>> affinities;
  std::map<std::pair<const CompiledCluster*, std::string>, std::shared_ptr<const std::vector<std::string>>> cookies;
};

namespace {

std::vector<balancer::HashTarget> HashTargets(const CompiledCluster& cluster) {
  std::vector<balancer::HashTarget> targets;
  targets.reserve(cluster.endpoints.size());
  for (const CompiledEndpoint& e : cluster.endpoints) targets.push_back({e.key, e.weight});
  return targets;
}

// The table for `cluster` from `cache` (when given), else built by `build`.
template <typename T, typename Build>
std::shared_ptr<const T> Shared(std::map<const CompiledCluster*, std::shared_ptr<const T>>* cache,
                                const CompiledCluster& cluster, Build&& build) {
  if (cache != nullptr) {
    if (auto it = cache->find(&cluster); it != cache->end()) return it->second;
  }
  std::shared_ptr<const T> table = build();
  if (cache != nullptr) cache->emplace(&cluster, table);
  return table;
}

std::string SetCookieValue(const v1::SessionAffinity& affinity, std::string_view name, std::string_view value) {
  std::string out;
  out.reserve(name.size() + value.size() + 64);
  out.append(name).append("=").append(value);
  out.append("; Path=").append(affinity.path().empty() ? std::string_view("/") : std::string_view(affinity.path()));
  if (affinity.max_age_seconds() != 0) out.append("; Max-Age=").append(std::to_string(affinity.max_age_seconds()));
  if (!affinity.same_site().empty()) out.append("; SameSite=").append(affinity.same_site());
  if (affinity.secure()) out.append("; Secure");
  out.append("; HttpOnly");
  return out;
}

// The router's view of a compiled route.
router::PathType PathTypeOf(v1::Route::PathMatch match) {
  switch (match) {
    case v1::Route::EXACT: return router::PathType::kExact;
    case v1::Route::REGEX: return router::PathType::kRegex;
    default: return router::PathType::kPrefix;
  }
}
router::RouteRule RuleOf(const CompiledRoute& route) {
  return {PathTypeOf(route.match), route.path, route.regex.get()};
}

}  // namespace

CompiledBalancing CompileBalancing(const v1::LoadBalancingPolicy& policy, const CompiledCluster& cluster,
                                   BalancingTables* tables) {
  CompiledBalancing out;
  out.cluster = &cluster;
  out.algorithm = policy.algorithm();
  std::string bytes = policy.SerializeAsString();
  out.policy_id = bytes.empty() ? 0 : balancer::Hash64(bytes) | 1;
  if (out.algorithm == v1::LoadBalancingPolicy::RING_HASH || out.algorithm == v1::LoadBalancingPolicy::MAGLEV) {
    out.hash_source = policy.hash_key().source();
    out.hash_name = policy.hash_key().source() == v1::HashKey::HEADER ? LowerCase(policy.hash_key().name())
                                                                      : policy.hash_key().name();
  }
  if (out.algorithm == v1::LoadBalancingPolicy::RING_HASH) {
    out.ring = Shared<balancer::HashRing>(tables != nullptr ? &tables->rings : nullptr, cluster, [&] {
      std::vector<balancer::HashTarget> targets = HashTargets(cluster);
      return std::make_shared<const balancer::HashRing>(targets);
    });
  } else if (out.algorithm == v1::LoadBalancingPolicy::MAGLEV) {
    out.maglev = Shared<balancer::MaglevTable>(tables != nullptr ? &tables->maglevs : nullptr, cluster, [&] {
      std::vector<balancer::HashTarget> targets = HashTargets(cluster);
      return std::make_shared<const balancer::MaglevTable>(targets);
    });
  }
  if (policy.affinity().enabled()) {
    const v1::SessionAffinity& affinity = policy.affinity();
    out.cookie_name = affinity.cookie_name().empty() ? "sluice-affinity" : affinity.cookie_name();
    out.affinity = Shared<AffinityIndex>(tables != nullptr ? &tables->affinities : nullptr, cluster, [&] {
      auto index = std::make_shared<AffinityIndex>();
      for (size_t i = 0; i < cluster.endpoints.size(); ++i) {
        index->by_hash.emplace(balancer::AffinityHash(cluster.name, cluster.endpoints[i].key), static_cast<uint32_t>(i));
      }
      return std::shared_ptr<const AffinityIndex>(std::move(index));
    });
    std::shared_ptr<const std::vector<std::string>>* cached = nullptr;
    if (tables != nullptr) cached = &tables->cookies[{&cluster, affinity.SerializeAsString()}];
    if (cached != nullptr && *cached != nullptr) {
      out.set_cookies = *cached;
    } else {
      auto cookies = std::make_shared<std::vector<std::string>>();
      cookies->reserve(cluster.endpoints.size());
      for (const CompiledEndpoint& e : cluster.endpoints) {
        cookies->push_back(
            SetCookieValue(affinity, out.cookie_name, balancer::AffinityCookieValue(cluster.name, e.key)));
      }
      out.set_cookies = std::move(cookies);
      if (cached != nullptr) *cached = out.set_cookies;
    }
  }
  return out;
}

bool CompiledRoute::Matches(std::string_view request_path) const {
  return router::RuleMatches(RuleOf(*this), router::RequestPath(request_path));
}

std::string NormalizeHost(std::string_view host) { return router::NormalizeHost(host); }

// The rules are the router's (dataplane/router/router.h); the virtual hosts
// stay in this snapshot's persistent maps, shared between versions.
const CompiledRoute* CompiledSnapshot::Match(std::string_view raw_host, std::string_view path) const {
  router::RequestHost host(raw_host);
  const CompiledVirtualHost* vhost = router::SelectHost(
      host,
      [this](std::string_view name) -> const CompiledVirtualHost* {
        const auto* found = exact_hosts_.Find(name);
        return found == nullptr ? nullptr : found->get();
      },
      [this](std::string_view parent) -> const CompiledVirtualHost* {
        if (wildcard_hosts_.empty()) return nullptr;
        const auto* found = wildcard_hosts_.Find(parent);
        return found == nullptr ? nullptr : found->get();
      },
      [this]() -> const CompiledVirtualHost* { return catch_all_.get(); });
  if (vhost == nullptr) return nullptr;
  return router::FirstMatch(vhost->routes, path, RuleOf);
}

const CompiledVirtualHost* CompiledSnapshot::MatchPassthrough(std::string_view server_name) const {
  if (passthrough_hosts_ == 0 || server_name.empty()) return nullptr;
  router::RequestHost host(server_name);
  const CompiledVirtualHost* vhost = router::SelectHost(
      host,
      [this](std::string_view name) -> const CompiledVirtualHost* {
        const auto* found = exact_hosts_.Find(name);
        return found == nullptr ? nullptr : found->get();
      },
      [this](std::string_view parent) -> const CompiledVirtualHost* {
        if (wildcard_hosts_.empty()) return nullptr;
        const auto* found = wildcard_hosts_.Find(parent);
        return found == nullptr ? nullptr : found->get();
      },
      []() -> const CompiledVirtualHost* { return nullptr; });
  if (vhost == nullptr || !vhost->tls_passthrough || vhost->routes.empty() || vhost->routes.front().cluster == nullptr) {
    return nullptr;
  }
  return vhost;
}

std::vector<RouteProblem> CompiledSnapshot::route_problems() const {
  std::vector<RouteProblem> out;
  hosts_with_route_problems_.ForEach([&](const std::string& name, bool) {
    if (const CompiledVirtualHost* host = FindVirtualHost(name)) {
      out.insert(out.end(), host->route_problems.begin(), host->route_problems.end());
    }
  });
  return out;
}

const CompiledCluster* CompiledSnapshot::FindCluster(std::string_view name) const {
  const auto* found = clusters_.Find(name);
  return found == nullptr ? nullptr : found->get();
}

const CompiledVirtualHost* CompiledSnapshot::FindVirtualHost(std::string_view name) const {
  if (name == "*") return catch_all_.get();
  const auto& hosts = name.starts_with("*.") ? wildcard_hosts_ : exact_hosts_;
  if (name.starts_with("*.")) name.remove_prefix(2);
  const auto* found = hosts.Find(name);
  return found == nullptr ? nullptr : found->get();
}

std::vector<const CompiledCluster*> CompiledSnapshot::ClustersByName() const {
  std::vector<const CompiledCluster*> clusters;
  clusters.reserve(clusters_.size());
  ForEachCluster([&clusters](const CompiledCluster& cluster) { clusters.push_back(&cluster); });
  std::sort(clusters.begin(), clusters.end(),
            [](const CompiledCluster* a, const CompiledCluster* b) { return a->name < b->name; });
  return clusters;
}

namespace {

// Equal content. The same object is the common case (shared between
// versions); otherwise equal serializations, as a full state re-sends every
// resource as a new object.
bool SameMessage(const google::protobuf::MessageLite& a, const google::protobuf::MessageLite& b) {
  if (&a == &b) return true;
  return a.ByteSizeLong() == b.ByteSizeLong() && a.SerializeAsString() == b.SerializeAsString();
}

Result<std::shared_ptr<const CompiledCluster>> CompileCluster(const std::shared_ptr<const v1::Cluster>& source,
                                                              health::HealthRegistry* registry,
                                                              metrics::SeriesRegistry* series) {
  const v1::Cluster& cluster = *source;
  auto out = std::make_shared<CompiledCluster>();
  out->name = cluster.name();
  if (series != nullptr) out->metrics_slot = series->ClusterSlot(cluster.name());
  for (const v1::Endpoint& endpoint : cluster.endpoints()) {
    Status resolved = ResolveEndpoint(endpoint, out->endpoints, out->resolved_by_dns);
    if (!resolved.ok()) return Status::Error("cluster " + cluster.name() + ": " + resolved.message());
  }
  if (registry != nullptr) {
    for (CompiledEndpoint& endpoint : out->endpoints) endpoint.health = registry->Acquire(endpoint.key);
  }
  out->outlier = health::OutlierPolicyFrom(cluster.outlier_detection());
  out->endpoints_version = EndpointsVersion(out->endpoints);
  Status upstream_tls = CompileUpstreamTls(cluster, *out);
  if (!upstream_tls.ok()) return Status::Error("cluster " + cluster.name() + ": " + upstream_tls.message());
  out->owned_source = source;  // shared with the discovery state, not copied
  out->source = out->owned_source.get();
  return std::shared_ptr<const CompiledCluster>(std::move(out));
}

// Names of the clusters `vhost` routes to (primary, split, canary), once each.
std::vector<std::string> ClusterNames(const CompiledVirtualHost& vhost) {
  std::vector<std::string> names;
  auto add = [&names](const CompiledCluster* cluster) {
    if (cluster != nullptr && std::find(names.begin(), names.end(), cluster->name) == names.end()) {
      names.push_back(cluster->name);
    }
  };
  for (const CompiledRoute& route : vhost.routes) {
    add(route.cluster);
    add(route.canary.cluster);
    for (const CompiledWeightedCluster& weighted : route.weighted_clusters) add(weighted.cluster);
  }
  return names;
}

}  // namespace

// Builds one CompiledSnapshot from `previous` plus what changed.
struct CompiledSnapshotBuilder {
  using Clusters = PersistentMap<std::shared_ptr<const CompiledCluster>>;

  static Result<std::shared_ptr<const CompiledSnapshot>> Build(const SnapshotSources& sources, std::string version,
                                                               health::HealthRegistry* registry,
                                                               const CompileOptions& options,
                                                               const CompiledSnapshot* previous) {
    static const SnapshotSources kNothing{};
    const SnapshotSources& before = previous != nullptr ? previous->sources_ : kNothing;
    auto out = std::make_shared<CompiledSnapshot>();
    if (previous != nullptr) *out = *previous;  // O(1): the maps share their nodes
    out->version_ = std::move(version);

    // Clusters: the changed ones, and every DNS one (re-resolved each time).
    std::vector<std::string> names;
    SharedByName<v1::Cluster>::Diff(before.clusters, sources.clusters,
                                    [&names](const std::string& name, const auto*, const auto*) { names.push_back(name); });
    out->dns_clusters_.ForEach([&names](const std::string& name, bool) { names.push_back(name); });
    SortUnique(names);
    std::vector<std::string> changed_clusters;
    for (const std::string& name : names) {
      const std::shared_ptr<const v1::Cluster>* source = sources.clusters.Find(name);
      const std::shared_ptr<const CompiledCluster>* old = out->clusters_.Find(name);
      if (source == nullptr) {
        if (old != nullptr) {
          out->clusters_.Erase(name);
          changed_clusters.push_back(name);
        }
        out->dns_clusters_.Erase(name);
        continue;
      }
      if (old != nullptr && !(*old)->resolved_by_dns && SameMessage(*(*old)->owned_source, **source)) continue;
      if (name.empty()) return Status::Error("cluster with an empty name");
      auto compiled = CompileCluster(*source, registry, options.chain.series);
      if (!compiled.ok()) return compiled.status();
      if ((*compiled)->resolved_by_dns) {
        out->dns_clusters_.Set(name, true);
      } else {
        out->dns_clusters_.Erase(name);
      }
      out->clusters_.Set(name, std::move(*compiled));
      changed_clusters.push_back(name);
    }

    // Virtual hosts: the changed ones, and those routing to a changed cluster.
    BalancingTables tables;  // shared by the routes compiled now
    names.clear();
    SharedByName<v1::VirtualHost>::Diff(
        before.virtual_hosts, sources.virtual_hosts,
        [&names](const std::string& name, const auto*, const auto*) { names.push_back(name); });
    for (const std::string& cluster : changed_clusters) {
      if (const PersistentMap<bool>* hosts = out->hosts_by_cluster_.Find(cluster)) {
        hosts->ForEach([&names](const std::string& name, bool) { names.push_back(name); });
      }
    }
    SortUnique(names);
    for (const std::string& name : names) {
      const std::shared_ptr<const v1::VirtualHost>* source = sources.virtual_hosts.Find(name);
      std::shared_ptr<const CompiledVirtualHost> old = Host(*out, name);
      if (old != nullptr && source != nullptr && SameMessage(*old->source, **source) &&
          ClustersKept(*old, out->clusters_)) {
        continue;  // validated when it was compiled, from the same host and clusters
      }
      if (old != nullptr) RemoveHost(*out, name, *old);
      if (source == nullptr) continue;
      auto compiled = CompileVirtualHost(*source, *out, options.chain, tables);
      if (!compiled.ok()) return compiled.status();
      AddHost(*out, name, std::move(*compiled));
    }

    bool certificates_changed = previous == nullptr;
    SharedByName<v1::Certificate>::Diff(before.certificates, sources.certificates,
                                        [&](const std::string&, const auto*, const auto*) { certificates_changed = true; });
    if (certificates_changed) CompileServerTls(sources.certificates, options, *out);
    out->sources_ = sources;
    return std::shared_ptr<const CompiledSnapshot>(std::move(out));
  }

  static void SortUnique(std::vector<std::string>& names) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
  }

  // Where the host named `name` lives: "*", "*.parent" or exact.
  static std::shared_ptr<const CompiledVirtualHost> Host(const CompiledSnapshot& snapshot, std::string_view name) {
    if (name == "*") return snapshot.catch_all_;
    const auto* found = name.starts_with("*.") ? snapshot.wildcard_hosts_.Find(name.substr(2))
                                               : snapshot.exact_hosts_.Find(name);
    return found == nullptr ? nullptr : *found;
  }

  static void RemoveHost(CompiledSnapshot& snapshot, const std::string& name, const CompiledVirtualHost& host) {
    snapshot.route_count_ -= host.routes.size();
    if (host.tls_passthrough) --snapshot.passthrough_hosts_;
    if (!host.route_problems.empty()) snapshot.hosts_with_route_problems_.Erase(name);
    for (const std::string& cluster : ClusterNames(host)) {
      if (!snapshot.hosts_by_cluster_.Contains(cluster)) continue;
      PersistentMap<bool>& hosts = snapshot.hosts_by_cluster_.Mutable(cluster);
      hosts.Erase(name);
      if (hosts.empty()) snapshot.hosts_by_cluster_.Erase(cluster);
    }
    if (name == "*") {
      snapshot.catch_all_ = nullptr;
    } else if (name.starts_with("*.")) {
      snapshot.wildcard_hosts_.Erase(std::string_view(name).substr(2));
    } else {
      snapshot.exact_hosts_.Erase(name);
    }
  }

  static void AddHost(CompiledSnapshot& snapshot, const std::string& name, std::shared_ptr<const CompiledVirtualHost> host) {
    snapshot.route_count_ += host->routes.size();
    if (host->tls_passthrough) ++snapshot.passthrough_hosts_;
    if (!host->route_problems.empty()) snapshot.hosts_with_route_problems_.Set(name, true);
    for (const std::string& cluster : ClusterNames(*host)) snapshot.hosts_by_cluster_.Mutable(cluster).Set(name, true);
    if (name == "*") {
      snapshot.catch_all_ = std::move(host);
    } else if (name.starts_with("*.")) {
      snapshot.wildcard_hosts_.Set(name.substr(2), std::move(host));
    } else {
      snapshot.exact_hosts_.Set(name, std::move(host));
    }
  }

  // Whether every cluster `host` routes to is still the same object.
  static bool ClustersKept(const CompiledVirtualHost& host, const Clusters& clusters) {
    auto kept = [&clusters](const CompiledCluster* cluster) {
      if (cluster == nullptr) return true;
      const auto* current = clusters.Find(cluster->name);
      return current != nullptr && current->get() == cluster;
    };
    for (const CompiledRoute& route : host.routes) {
      if (!kept(route.cluster) || !kept(route.canary.cluster)) return false;
      for (const CompiledWeightedCluster& weighted : route.weighted_clusters) {
        if (!kept(weighted.cluster)) return false;
      }
    }
    return true;
  }

  static Result<std::shared_ptr<const CompiledVirtualHost>> CompileVirtualHost(
      const std::shared_ptr<const v1::VirtualHost>& source, const CompiledSnapshot& snapshot,
      const pipeline::ChainDefaults& chain_defaults, BalancingTables& tables) {
    const v1::VirtualHost& vhost = *source;
    if (!IsValidVirtualHostName(vhost.name())) {
      return Status::Error("virtual host \"" + vhost.name() + "\": invalid host name");
    }
    auto out_host = std::make_shared<CompiledVirtualHost>();
    CompiledVirtualHost& out = *out_host;
    out.name = vhost.name();
    out.source = source;
    out.routes.reserve(static_cast<size_t>(vhost.routes_size()));
    for (int i = 0; i < vhost.routes_size(); ++i) {
      const v1::Route& route = vhost.routes(i);
      std::string where = "virtual host " + vhost.name() + " route " + std::to_string(i);
      if (route.path().empty() || route.path().front() != '/') {
        return Status::Error(where + ": path \"" + route.path() + "\" must start with /");
      }
      const CompiledCluster* cluster = snapshot.FindCluster(route.cluster());
      // A static site's route answers every request itself (its chain's
      // static stage): it needs no cluster.
      // A redirect of every request (a www redirect host) neither.
      const bool static_site = (route.policy().has_static_site() || !route.policy().redirect().url().empty() ||
                                !route.policy().redirect().host().empty()) &&
                               route.cluster().empty();
      if (cluster == nullptr && !static_site) {
        return Status::Error(where + ": unknown cluster \"" + route.cluster() + "\"");
      }
      CompiledRoute compiled_route;
      compiled_route.match = route.match();
      compiled_route.path = router::CompilePath(PathTypeOf(route.match()), route.path());
      if (route.match() == v1::Route::REGEX) {
        // Refused alone (partial ACK), never the whole version: the
        // controller validates with the same RE2, so this is another
        // producer's snapshot or a different RE2 version.
        std::string error;
        compiled_route.regex = router::CompileRegex(compiled_route.path, &error);
        if (compiled_route.regex == nullptr) {
          out.route_problems.push_back({route.origin(), where + ": regex path \"" + route.path() +
                                                            "\" does not compile (" + error + "); route left out"});
          continue;
        }
      }
      compiled_route.cluster = cluster;
      for (const v1::WeightedCluster& weighted : route.weighted_clusters()) {
        const CompiledCluster* target = snapshot.FindCluster(weighted.cluster());
        if (target == nullptr) return Status::Error(where + ": unknown weighted cluster \"" + weighted.cluster() + "\"");
        compiled_route.weighted_clusters.push_back({target, weighted.weight()});
        compiled_route.total_weight += weighted.weight();
      }
      if (!compiled_route.weighted_clusters.empty() && compiled_route.total_weight == 0) {
        return Status::Error(where + ": weighted clusters all have weight 0");
      }
      if (!route.canary().cluster().empty()) {
        compiled_route.canary.cluster = snapshot.FindCluster(route.canary().cluster());
        if (compiled_route.canary.cluster == nullptr) {
          return Status::Error(where + ": unknown canary cluster \"" + route.canary().cluster() + "\"");
        }
        compiled_route.canary.header = LowerCase(route.canary().header());
        compiled_route.canary.header_value = route.canary().header_value();
        compiled_route.canary.cookie = route.canary().cookie();
      }
      compiled_route.policy = route.policy();
      compiled_route.origin = route.origin();
      if (chain_defaults.series != nullptr) {
        compiled_route.metrics_slot = chain_defaults.series->RouteSlot({route.origin(), vhost.name(), route.path()});
      }
      compiled_route.chain = pipeline::CompileChain(
          compiled_route.policy, chain_defaults, compiled_route.origin,
          pipeline::RouteRewrite{route.rewrite_target(), compiled_route.path, compiled_route.regex}, route.cluster());
      // The route's balancing policy towards each cluster it can send to.
      auto add_balancing = [&](const CompiledCluster* target, const v1::LoadBalancingPolicy& policy) {
        if (target == nullptr || compiled_route.BalancingFor(target) != nullptr) return;
        compiled_route.balancing.push_back(CompileBalancing(policy, *target, &tables));
      };
      if (compiled_route.canary.cluster != nullptr && compiled_route.canary.cluster != cluster &&
          route.canary().has_load_balancing()) {
        add_balancing(compiled_route.canary.cluster, route.canary().load_balancing());
      }
      add_balancing(cluster, route.policy().load_balancing());
      add_balancing(compiled_route.canary.cluster, route.policy().load_balancing());
      for (const CompiledWeightedCluster& weighted : compiled_route.weighted_clusters) {
        add_balancing(weighted.cluster, route.policy().load_balancing());
      }
      out.routes.push_back(std::move(compiled_route));
    }
    // Kubernetes precedence (longest path, then Exact), whatever order the
    // snapshot lists them in; the translator's order already is that.
    router::SortByPrecedence(out.routes, RuleOf);
    if (vhost.tls_passthrough()) {
      if (out.routes.empty() || out.routes.front().cluster == nullptr) {
        return Status::Error("virtual host " + vhost.name() + ": TLS passthrough needs a route with a cluster");
      }
      if (vhost.name() == "*") return Status::Error("virtual host *: TLS passthrough needs a host name (SNI)");
      out.tls_passthrough = true;
      out.passthrough_connect_timeout = std::chrono::milliseconds(vhost.passthrough_connect_timeout_ms());
      out.passthrough_idle_timeout = std::chrono::milliseconds(vhost.passthrough_idle_timeout_ms());
    }
    return std::shared_ptr<const CompiledVirtualHost>(std::move(out_host));
  }

  // Certificates ordered by name (as the snapshot message lists them).
  static void CompileServerTls(const SharedByName<v1::Certificate>& certificates, const CompileOptions& options,
                               CompiledSnapshot& out) {
    std::vector<tls::CertificateInput> inputs;
    inputs.reserve(certificates.size());
    for (const std::string& name : certificates.SortedKeys()) {
      const v1::Certificate& certificate = **certificates.Find(name);
      tls::CertificateInput input;
      input.name = certificate.name();
      input.sni_names.assign(certificate.sni_names().begin(), certificate.sni_names().end());
      input.chain_pem = certificate.certificate_chain_pem();
      input.key_pem = certificate.private_key_pem();
      inputs.push_back(std::move(input));
    }
    out.certificate_problems_.clear();
    out.server_tls_ = tls::ServerConfig::Build(inputs, options.explicit_default_certificate,
                                               options.generated_default_certificate, &out.certificate_problems_);
    if (out.server_tls_->default_context() == nullptr && out.server_tls_->size() == 0) out.server_tls_ = nullptr;
  }
};

Result<std::shared_ptr<const CompiledSnapshot>> Compile(const SnapshotSources& sources, std::string version,
                                                        health::HealthRegistry* registry,
                                                        const CompileOptions& options,
                                                        const CompiledSnapshot* previous) {
  return CompiledSnapshotBuilder::Build(sources, std::move(version), registry, options, previous);
}

Result<std::shared_ptr<const CompiledSnapshot>> Compile(v1::Snapshot snapshot, std::string version,
                                                        health::HealthRegistry* registry,
                                                        const CompileOptions& options,
                                                        const CompiledSnapshot* previous) {
  SnapshotSources sources;
  for (v1::Cluster& cluster : *snapshot.mutable_clusters()) {
    if (cluster.name().empty()) return Status::Error("cluster with an empty name");
    std::string name = cluster.name();
    if (sources.clusters.Contains(name)) return Status::Error("duplicate cluster " + name);
    sources.clusters.Set(std::move(name), std::make_shared<const v1::Cluster>(std::move(cluster)));
  }
  for (v1::VirtualHost& vhost : *snapshot.mutable_virtual_hosts()) {
    std::string name = vhost.name();
    if (sources.virtual_hosts.Contains(name)) return Status::Error("duplicate virtual host " + name);
    sources.virtual_hosts.Set(std::move(name), std::make_shared<const v1::VirtualHost>(std::move(vhost)));
  }
  for (v1::Certificate& certificate : *snapshot.mutable_certificates()) {
    std::string name = certificate.name();
    sources.certificates.Set(std::move(name), std::make_shared<const v1::Certificate>(std::move(certificate)));
  }
  return Compile(sources, std::move(version), registry, options, previous);
}

}  // namespace sluice::snapshot
