#include "dataplane/snapshot/compiled_snapshot.h"

#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "dataplane/common/log.h"
#include "dataplane/health/registry.h"
#include "dataplane/http/message.h"

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
uint64_t EndpointsVersion(const v1::Cluster& cluster, const std::vector<CompiledEndpoint>& endpoints) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // separator, so "ab","c" differs from "a","bc"
  };
  mix(std::to_string(cluster.load_balancing()));
  mix(cluster.hash_key().SerializeAsString());
  mix(cluster.affinity().SerializeAsString());
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

bool CompiledRoute::Matches(std::string_view request_path) const {
  std::string_view p = http::PathWithoutQuery(request_path);
  if (match == v1::Route::EXACT) return p == path;
  if (path == "/") return true;
  // Element-wise prefix: "/aaa" matches "/aaa" and "/aaa/..." but not "/aaab".
  if (!p.starts_with(path)) return false;
  return p.size() == path.size() || p[path.size()] == '/';
}

std::string NormalizeHost(std::string_view host) {
  std::string out;
  if (!host.empty() && host.front() == '[') {  // IPv6 literal
    size_t close = host.find(']');
    if (close == std::string_view::npos) return {};
    host = host.substr(0, close + 1);
  } else {
    size_t colon = host.find(':');
    if (colon != std::string_view::npos) host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  out.reserve(host.size());
  for (char c : host) out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
  return out;
}

const CompiledRoute* CompiledSnapshot::Match(std::string_view raw_host, std::string_view path) const {
  std::string host = NormalizeHost(raw_host);
  const CompiledVirtualHost* vhost = nullptr;
  if (auto it = exact_hosts_.find(host); it != exact_hosts_.end()) {
    vhost = it->second.get();
  } else if (size_t dot = host.find('.'); dot != std::string::npos && dot > 0 && !wildcard_hosts_.empty()) {
    if (auto wild = wildcard_hosts_.find(host.substr(dot + 1)); wild != wildcard_hosts_.end()) vhost = wild->second.get();
  }
  if (vhost == nullptr) vhost = catch_all_.get();
  if (vhost == nullptr) return nullptr;
  for (const CompiledRoute& route : vhost->routes) {
    if (route.Matches(path)) return &route;
  }
  return nullptr;
}

const CompiledCluster* CompiledSnapshot::FindCluster(std::string_view name) const {
  auto it = clusters_by_name_.find(std::string(name));
  return it == clusters_by_name_.end() ? nullptr : it->second;
}

const CompiledVirtualHost* CompiledSnapshot::FindVirtualHost(std::string_view name) const {
  if (name == "*") return catch_all_.get();
  const auto& hosts = name.starts_with("*.") ? wildcard_hosts_ : exact_hosts_;
  if (name.starts_with("*.")) name.remove_prefix(2);
  auto it = hosts.find(std::string(name));
  return it == hosts.end() ? nullptr : it->second.get();
}

namespace {

// The shared object behind FindVirtualHost(name) in `snapshot`.
std::shared_ptr<const CompiledVirtualHost> SharedVirtualHost(
    const std::unordered_map<std::string, std::shared_ptr<const CompiledVirtualHost>>& exact,
    const std::unordered_map<std::string, std::shared_ptr<const CompiledVirtualHost>>& wildcard,
    const std::shared_ptr<const CompiledVirtualHost>& catch_all, const std::string& name) {
  if (name == "*") return catch_all;
  const auto& hosts = name.starts_with("*.") ? wildcard : exact;
  auto it = hosts.find(name.starts_with("*.") ? name.substr(2) : name);
  return it == hosts.end() ? nullptr : it->second;
}

// The previous snapshot's clusters not (yet) carried over into the one
// being compiled, each with its owning pointer.
using StaleClusters =
    std::unordered_map<const CompiledCluster*, const std::shared_ptr<const CompiledCluster>*>;

// Whether every cluster `vhost` routes to was carried over (same object)
// into the snapshot being compiled.
bool ClustersKept(const CompiledVirtualHost& vhost, const StaleClusters& stale) {
  if (stale.empty()) return true;
  for (const CompiledRoute& route : vhost.routes) {
    if (stale.contains(route.cluster) || stale.contains(route.canary.cluster)) return false;
    for (const CompiledWeightedCluster& weighted : route.weighted_clusters) {
      if (stale.contains(weighted.cluster)) return false;
    }
  }
  return true;
}

}  // namespace

Result<std::shared_ptr<const CompiledSnapshot>> Compile(v1::Snapshot snapshot, std::string version,
                                                        health::HealthRegistry* registry,
                                                        const CompileOptions& options,
                                                        const CompiledSnapshot* previous) {
  auto compiled = std::make_shared<CompiledSnapshot>();
  compiled->version_ = std::move(version);
  compiled->clusters_.reserve(static_cast<size_t>(snapshot.clusters_size()));
  compiled->clusters_by_name_.reserve(static_cast<size_t>(snapshot.clusters_size()));
  compiled->exact_hosts_.reserve(static_cast<size_t>(snapshot.virtual_hosts_size()));

  // Previous clusters not carried over (changed, removed, or DNS): a
  // virtual host that routes to one of them is compiled again.
  StaleClusters stale;
  if (previous != nullptr) {
    stale.reserve(previous->clusters_.size());
    for (const auto& cluster : previous->clusters_) stale.emplace(cluster.get(), &cluster);
  }
  for (const v1::Cluster& cluster : snapshot.clusters()) {
    if (cluster.name().empty()) return Status::Error("cluster with an empty name");
    std::string source_bytes = cluster.SerializeAsString();
    if (previous != nullptr) {
      auto it = previous->clusters_by_name_.find(cluster.name());
      if (it != previous->clusters_by_name_.end() && !it->second->resolved_by_dns &&
          it->second->source_bytes == source_bytes) {
        // Same object; absent from `stale` when a duplicate name took it.
        if (auto kept = stale.find(it->second); kept != stale.end()) {
          if (!compiled->clusters_by_name_.emplace(cluster.name(), it->second).second) {
            return Status::Error("duplicate cluster " + cluster.name());
          }
          compiled->clusters_.push_back(*kept->second);
          stale.erase(kept);
          continue;
        }
      }
    }
    auto out = std::make_shared<CompiledCluster>();
    out->name = cluster.name();
    out->source_bytes = std::move(source_bytes);
    for (const v1::Endpoint& endpoint : cluster.endpoints()) {
      Status resolved = ResolveEndpoint(endpoint, out->endpoints, out->resolved_by_dns);
      if (!resolved.ok()) return Status::Error("cluster " + cluster.name() + ": " + resolved.message());
    }
    if (registry != nullptr) {
      for (CompiledEndpoint& endpoint : out->endpoints) endpoint.health = registry->Acquire(endpoint.key);
    }
    out->outlier = health::OutlierPolicyFrom(cluster.outlier_detection());
    out->endpoints_version = EndpointsVersion(cluster, out->endpoints);
    Status upstream_tls = CompileUpstreamTls(cluster, *out);
    if (!upstream_tls.ok()) return Status::Error("cluster " + cluster.name() + ": " + upstream_tls.message());
    if (!compiled->clusters_by_name_.emplace(out->name, out.get()).second) {
      return Status::Error("duplicate cluster " + cluster.name());
    }
    out->owned_source = std::make_shared<const v1::Cluster>(cluster);
    out->source = out->owned_source.get();
    compiled->clusters_.push_back(std::move(out));
  }

  auto insert = [&compiled](const std::string& name, std::shared_ptr<const CompiledVirtualHost> host) {
    compiled->route_count_ += host->routes.size();
    if (name == "*") {
      if (compiled->catch_all_ != nullptr) return false;
      compiled->catch_all_ = std::move(host);
      return true;
    }
    if (name.starts_with("*.")) return compiled->wildcard_hosts_.emplace(name.substr(2), std::move(host)).second;
    return compiled->exact_hosts_.emplace(name, std::move(host)).second;
  };
  std::string source_bytes;  // one buffer for every host: no allocation per unchanged host
  for (const v1::VirtualHost& vhost : snapshot.virtual_hosts()) {
    source_bytes.resize(vhost.ByteSizeLong());
    vhost.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(source_bytes.data()));
    if (previous != nullptr) {
      std::shared_ptr<const CompiledVirtualHost> kept = SharedVirtualHost(
          previous->exact_hosts_, previous->wildcard_hosts_, previous->catch_all_, vhost.name());
      if (kept != nullptr && kept->source_bytes == source_bytes && ClustersKept(*kept, stale)) {
        // Validated when it was compiled, from the same bytes and clusters.
        if (!insert(vhost.name(), std::move(kept))) return Status::Error("duplicate virtual host " + vhost.name());
        continue;
      }
    }
    if (!IsValidVirtualHostName(vhost.name())) {
      return Status::Error("virtual host \"" + vhost.name() + "\": invalid host name");
    }
    auto out_host = std::make_shared<CompiledVirtualHost>();
    CompiledVirtualHost& out = *out_host;
    out.name = vhost.name();
    out.source_bytes = source_bytes;
    out.routes.reserve(static_cast<size_t>(vhost.routes_size()));
    for (int i = 0; i < vhost.routes_size(); ++i) {
      const v1::Route& route = vhost.routes(i);
      std::string where = "virtual host " + vhost.name() + " route " + std::to_string(i);
      if (route.path().empty() || route.path().front() != '/') {
        return Status::Error(where + ": path \"" + route.path() + "\" must start with /");
      }
      const CompiledCluster* cluster = compiled->FindCluster(route.cluster());
      if (cluster == nullptr) return Status::Error(where + ": unknown cluster \"" + route.cluster() + "\"");
      CompiledRoute compiled_route;
      compiled_route.match = route.match();
      compiled_route.path = route.path();
      if (route.match() == v1::Route::PREFIX && compiled_route.path.size() > 1 && compiled_route.path.back() == '/') {
        compiled_route.path.pop_back();
      }
      compiled_route.cluster = cluster;
      for (const v1::WeightedCluster& weighted : route.weighted_clusters()) {
        const CompiledCluster* target = compiled->FindCluster(weighted.cluster());
        if (target == nullptr) return Status::Error(where + ": unknown weighted cluster \"" + weighted.cluster() + "\"");
        compiled_route.weighted_clusters.push_back({target, weighted.weight()});
        compiled_route.total_weight += weighted.weight();
      }
      if (!compiled_route.weighted_clusters.empty() && compiled_route.total_weight == 0) {
        return Status::Error(where + ": weighted clusters all have weight 0");
      }
      if (!route.canary().cluster().empty()) {
        compiled_route.canary.cluster = compiled->FindCluster(route.canary().cluster());
        if (compiled_route.canary.cluster == nullptr) {
          return Status::Error(where + ": unknown canary cluster \"" + route.canary().cluster() + "\"");
        }
        compiled_route.canary.header = LowerCase(route.canary().header());
        compiled_route.canary.header_value = route.canary().header_value();
        compiled_route.canary.cookie = route.canary().cookie();
      }
      compiled_route.policy = route.policy();
      compiled_route.origin = route.origin();
      out.routes.push_back(std::move(compiled_route));
    }
    if (!insert(vhost.name(), std::move(out_host))) return Status::Error("duplicate virtual host " + vhost.name());
  }
  CompileServerTls(snapshot, options, *compiled);
  compiled->source_ = std::move(snapshot);
  return std::shared_ptr<const CompiledSnapshot>(std::move(compiled));
}

}  // namespace sluice::snapshot

namespace sluice::snapshot {

void CompileServerTls(const v1::Snapshot& snapshot, const CompileOptions& options, CompiledSnapshot& out) {
  std::vector<tls::CertificateInput> inputs;
  inputs.reserve(static_cast<size_t>(snapshot.certificates_size()));
  for (const v1::Certificate& certificate : snapshot.certificates()) {
    tls::CertificateInput input;
    input.name = certificate.name();
    input.sni_names.assign(certificate.sni_names().begin(), certificate.sni_names().end());
    input.chain_pem = certificate.certificate_chain_pem();
    input.key_pem = certificate.private_key_pem();
    inputs.push_back(std::move(input));
  }
  out.server_tls_ = tls::ServerConfig::Build(inputs, options.explicit_default_certificate,
                                             options.generated_default_certificate, &out.certificate_problems_);
  if (out.server_tls_->default_context() == nullptr && out.server_tls_->size() == 0) out.server_tls_ = nullptr;
}

}  // namespace sluice::snapshot
