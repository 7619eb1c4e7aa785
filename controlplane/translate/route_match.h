#pragma once
// The proxy's routing algorithm over a Snapshot, header-only so that the
// translator's tests check what the proxy will do with its output. The data
// plane router implements exactly these semantics:
//  1. Virtual host: the one named exactly like the request host; else the
//     wildcard "*.<parent>" (the host minus its first label, so a wildcard
//     covers one label only); else the catch-all "*".
//  2. Route: the first route of that virtual host that matches (the
//     translator has ordered them):
//       EXACT  path == route.path
//       PREFIX route.path == "/", or path == route.path, or path starts with
//              route.path + "/"   (element-wise: "/foo" matches "/foo/bar",
//                                  not "/foobar"; case-sensitive)
//     There is no fallback to another virtual host when no route matches.
// The host is compared lower-cased without ":port"; the path without
// "?query" or "#fragment".
#include <string>
#include <string_view>

#include "sluice/v1/snapshot.pb.h"

namespace sluice::translate {

inline std::string NormalizeRequestHost(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // "[::1]:8080"
    size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else if (size_t colon = host.find(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string lower(host);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

inline bool PathMatches(const v1::Route& route, std::string_view path) {
  const std::string& p = route.path();
  if (route.match() == v1::Route::EXACT) return path == p;
  if (p == "/") return true;
  return path.size() >= p.size() && path.compare(0, p.size(), p) == 0 &&
         (path.size() == p.size() || path[p.size()] == '/');
}

inline const v1::VirtualHost* FindVirtualHost(const v1::Snapshot& snapshot, std::string_view request_host) {
  std::string host = NormalizeRequestHost(request_host);
  std::string wildcard;
  if (size_t dot = host.find('.'); dot != std::string::npos && dot > 0) wildcard = "*" + host.substr(dot);
  const v1::VirtualHost* by_wildcard = nullptr;
  const v1::VirtualHost* catch_all = nullptr;
  for (const v1::VirtualHost& vhost : snapshot.virtual_hosts()) {
    if (vhost.name() == host) return &vhost;
    if (!wildcard.empty() && vhost.name() == wildcard) by_wildcard = &vhost;
    if (vhost.name() == "*") catch_all = &vhost;
  }
  return by_wildcard != nullptr ? by_wildcard : catch_all;
}

// The route a request for `host` and `path` takes, or nullptr (404).
inline const v1::Route* MatchRoute(const v1::Snapshot& snapshot, std::string_view host, std::string_view path) {
  const v1::VirtualHost* vhost = FindVirtualHost(snapshot, host);
  if (vhost == nullptr) return nullptr;
  path = path.substr(0, path.find_first_of("?#"));
  for (const v1::Route& route : vhost->routes()) {
    if (PathMatches(route, path)) return &route;
  }
  return nullptr;
}

}  // namespace sluice::translate
