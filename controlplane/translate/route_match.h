#pragma once
// What the proxy does with a Snapshot, for the translator's tests: the
// snapshot's virtual hosts handed to dataplane/router, the one matching
// implementation (the proxy's CompiledSnapshot::Match uses the same rules;
// see router.h for them). Builds a router per call: for tests and tools,
// not for anything per request.
#include <string_view>
#include <vector>

#include "dataplane/router/router.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::translate {

// The route a request for `host` (as the client sends it) and `target`
// takes, or nullptr (404).
inline const v1::Route* MatchRoute(const v1::Snapshot& snapshot, std::string_view host, std::string_view target) {
  std::vector<router::HostSpec> hosts;
  hosts.reserve(static_cast<size_t>(snapshot.virtual_hosts_size()));
  for (const v1::VirtualHost& vhost : snapshot.virtual_hosts()) {
    router::HostSpec& spec = hosts.emplace_back();
    spec.name = vhost.name();
    for (const v1::Route& route : vhost.routes()) {
      router::PathType type = route.match() == v1::Route::EXACT   ? router::PathType::kExact
                              : route.match() == v1::Route::REGEX ? router::PathType::kRegex
                                                                  : router::PathType::kPrefix;
      spec.routes.push_back({type, route.path()});
    }
  }
  std::optional<router::RouteRef> ref = router::Router(hosts).Match(host, target);
  if (!ref) return nullptr;
  return &snapshot.virtual_hosts(static_cast<int>(ref->host)).routes(static_cast<int>(ref->route));
}

}  // namespace sluice::translate
