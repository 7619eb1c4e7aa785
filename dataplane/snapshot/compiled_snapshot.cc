#include "dataplane/snapshot/compiled_snapshot.h"

#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "dataplane/common/log.h"
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
Status ResolveEndpoint(const v1::Endpoint& endpoint, std::vector<CompiledEndpoint>& out) {
  if (endpoint.port() == 0 || endpoint.port() > 65535) {
    return Status::Error("endpoint " + endpoint.address() + " has invalid port " + std::to_string(endpoint.port()));
  }
  uint32_t weight = endpoint.weight() == 0 ? 1 : endpoint.weight();
  auto literal = net::MakeAddress(endpoint.address(), static_cast<int>(endpoint.port()));
  if (literal.ok()) {
    out.push_back({*literal, literal->ToString(), weight});
    return Status::Ok();
  }
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
    vhost = &it->second;
  } else if (size_t dot = host.find('.'); dot != std::string::npos && dot > 0 && !wildcard_hosts_.empty()) {
    if (auto wild = wildcard_hosts_.find(host.substr(dot + 1)); wild != wildcard_hosts_.end()) vhost = &wild->second;
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

Result<std::shared_ptr<const CompiledSnapshot>> Compile(v1::Snapshot snapshot, std::string version) {
  auto compiled = std::make_shared<CompiledSnapshot>();
  compiled->version_ = std::move(version);

  for (const v1::Cluster& cluster : snapshot.clusters()) {
    if (cluster.name().empty()) return Status::Error("cluster with an empty name");
    auto out = std::make_unique<CompiledCluster>();
    out->name = cluster.name();
    for (const v1::Endpoint& endpoint : cluster.endpoints()) {
      Status resolved = ResolveEndpoint(endpoint, out->endpoints);
      if (!resolved.ok()) return Status::Error("cluster " + cluster.name() + ": " + resolved.message());
    }
    if (!compiled->clusters_by_name_.emplace(out->name, out.get()).second) {
      return Status::Error("duplicate cluster " + cluster.name());
    }
    compiled->clusters_.push_back(std::move(out));
  }

  for (const v1::VirtualHost& vhost : snapshot.virtual_hosts()) {
    if (!IsValidVirtualHostName(vhost.name())) {
      return Status::Error("virtual host \"" + vhost.name() + "\": invalid host name");
    }
    CompiledVirtualHost out;
    out.name = vhost.name();
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
      compiled_route.policy = route.policy();
      compiled_route.origin = route.origin();
      out.routes.push_back(std::move(compiled_route));
    }
    compiled->route_count_ += out.routes.size();
    bool inserted;
    if (vhost.name() == "*") {
      inserted = compiled->catch_all_ == nullptr;
      if (inserted) compiled->catch_all_ = std::make_unique<CompiledVirtualHost>(std::move(out));
    } else if (vhost.name().starts_with("*.")) {
      inserted = compiled->wildcard_hosts_.emplace(vhost.name().substr(2), std::move(out)).second;
    } else {
      inserted = compiled->exact_hosts_.emplace(vhost.name(), std::move(out)).second;
    }
    if (!inserted) return Status::Error("duplicate virtual host " + vhost.name());
  }
  compiled->source_ = std::move(snapshot);
  for (size_t i = 0; i < compiled->clusters_.size(); ++i) {
    compiled->clusters_[i]->source = &compiled->source_.clusters(static_cast<int>(i));
  }
  return std::shared_ptr<const CompiledSnapshot>(std::move(compiled));
}

}  // namespace sluice::snapshot
