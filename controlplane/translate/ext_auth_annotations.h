#pragma once
// External authentication annotations -> RoutePolicy.external_auth
// (dataplane/pipeline/ext_auth_stage.h). The sluice.io/ name wins when both
// it and the ingress-nginx one are set.
//   sluice.io/auth-url               nginx.ingress.kubernetes.io/auth-url
//       http://SERVICE.NAMESPACE[.svc[.CLUSTER-DOMAIN]][:PORT][/PATH][?QUERY],
//       or SERVICE alone (the Ingress's namespace); PORT is the Service
//       port (default 80). The auth service must be a Service of the
//       cluster: another host (an external URL), https, or an unparsable
//       URL is a problem and the route then refuses every request (500):
//       never served unauthenticated.
//   sluice.io/auth-method            nginx.ingress.kubernetes.io/auth-method (GET, POST, ...; default:
//                                    the request's own method)
//   sluice.io/auth-signin            nginx.ingress.kubernetes.io/auth-signin (http(s) URL or /path;
//                                    variables $host, $scheme, $request_uri, $escaped_request_uri)
//   sluice.io/auth-response-headers  nginx.ingress.kubernetes.io/auth-response-headers (comma separated)
//   sluice.io/auth-request-redirect  nginx.ingress.kubernetes.io/auth-request-redirect
//   sluice.io/auth-cache-key         nginx.ingress.kubernetes.io/auth-cache-key (text with $remote_user,
//                                    $http_NAME, $cookie_NAME, $request_uri, $host)
//   sluice.io/auth-cache-duration    nginx.ingress.kubernetes.io/auth-cache-duration ("200 202 401 5m",
//                                    several comma separated; default "200 202 401 5m")
//   sluice.io/auth-timeout           the whole auth subrequest (default 5s)
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "controlplane/translate/annotations.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::translate {

struct AnnotatedAuth {
  bool set = false;  // an auth URL is set (valid or not)
  // Everything but `cluster`, which the translator fills from the Service
  // below; deny_all when the URL was unusable.
  v1::ExternalAuthPolicy policy;
  std::string service_namespace;
  std::string service_name;
  uint32_t service_port = 0;
  std::vector<AnnotationProblem> problems;
};

AnnotatedAuth ExternalAuthFromAnnotations(const nlohmann::json* annotations, const std::string& ingress_namespace);

// Custom error pages and the per-Ingress default backend:
//   sluice.io/custom-http-errors  nginx.ingress.kubernetes.io/custom-http-errors  "404,503" (300..599)
//   sluice.io/default-backend     nginx.ingress.kubernetes.io/default-backend     a Service of the Ingress's
//                                 namespace (its first port); serves the listed errors, and the requests of
//                                 routes whose Service has no endpoints
struct AnnotatedErrors {
  std::vector<uint32_t> statuses;
  std::string default_backend;  // a Service name; empty: none
  std::vector<AnnotationProblem> problems;
};
AnnotatedErrors CustomErrorsFromAnnotations(const nlohmann::json* annotations);

}  // namespace sluice::translate
