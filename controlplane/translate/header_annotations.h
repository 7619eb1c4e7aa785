#pragma once
// Ingress annotations for headers and CORS -> RoutePolicy fields 100-103
// (issue 18 item 3). The sluice.io/ one wins when both it and its
// ingress-nginx equivalent are set; an invalid one is reported (a problem:
// Event + log line) and counts as not set.
//
//   sluice.io/upstream-vhost     the Host sent upstream    nginx.ingress.kubernetes.io/upstream-vhost
//                                (HOST or HOST:PORT, literal; X-Forwarded-Host stays the client's)
//   sluice.io/proxy-set-headers  NAME or NS/NAME of a ConfigMap whose data is header -> value, set on
//                                requests going upstream (replacing the client's field)
//                                (ingress-nginx: only the global controller ConfigMap key
//                                proxy-set-headers; it has no such annotation)
//   sluice.io/custom-headers     the same, set on responses  nginx.ingress.kubernetes.io/custom-headers
//   sluice.io/enable-cors        true|false                 nginx.ingress.kubernetes.io/enable-cors
//   sluice.io/cors-allow-origin  "*" (default) or origins: "https://a.com, https://*.b.com:8443"
//   sluice.io/cors-allow-methods letters, comma separated (default GET, PUT, POST, DELETE, PATCH, OPTIONS)
//   sluice.io/cors-allow-headers letters, digits, _ - * (default: ingress-nginx's list)
//   sluice.io/cors-expose-headers  letters, digits, _ - * (default none)
//   sluice.io/cors-allow-credentials  true (default) | false
//   sluice.io/cors-max-age       seconds (default 1728000)
//   (each cors-* also as nginx.ingress.kubernetes.io/cors-*)
//
// The ConfigMaps: in the Ingress's own namespace (a namespace user cannot
// copy another namespace's ConfigMap into headers), labelled
// sluice.io/headers: "true" (the controller keeps no other ConfigMap, see
// store/secret_filter.h). Each key is a field name (token characters,
// stored lower case), each value a literal: no nginx variable is
// interpreted, and a value that looks like one ("$remote_addr",
// "${host}") is refused rather than sent as text. Refused names, each
// reported: hop-by-hop fields, Host, Content-Length, Transfer-Encoding,
// Trailer, and on requests Expect, HTTP2-Settings and X-Forwarded-* (the
// proxy writes those). At most 64 fields and 16 KiB per ConfigMap.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "controlplane/translate/annotations.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::translate {

// The ConfigMap NS/NAME as stored, or nullptr.
using ConfigMapFinder = std::function<const nlohmann::json*(const std::string& ns, const std::string& name)>;

inline constexpr size_t kMaxHeaderFields = 64;
inline constexpr size_t kMaxHeaderBytes = 16 * 1024;

// Sets the policy's upstream_vhost, set_request_headers,
// set_response_headers and cors from the Ingress's annotations; problems
// are appended.
void ReadHeaderAnnotations(const nlohmann::json* annotations, const std::string& ingress_namespace,
                           const ConfigMapFinder& find_config_map, v1::RoutePolicy& policy,
                           std::vector<AnnotationProblem>& problems);

}  // namespace sluice::translate
