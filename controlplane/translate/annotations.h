#pragma once
// Ingress annotations -> the RoutePolicy every route of that Ingress carries.
//
// Values follow ingress-nginx's syntax, so existing manifests keep working:
//   timeout  a whole number of seconds ("60"), or with a unit: "60s", "500ms",
//            "5m" (minutes); from 1 ms to 24 hours.
//   size     bytes ("1048576"), or binary units k/m/g in either case ("512k",
//            "8m", "1g"); at most 1 TiB; "0" means unlimited.
//   boolean  "true" or "false".
// Values are strings in Kubernetes; a YAML number or boolean written without
// quotes is a wrong type, not silently converted.
//
// Annotations read (the sluice.io/ one wins when both it and its
// ingress-nginx equivalent are set; an invalid one counts as not set):
//   sluice.io/proxy-connect-timeout   connect_timeout_ms      nginx.ingress.kubernetes.io/proxy-connect-timeout
//   sluice.io/proxy-read-timeout      response_timeout_ms and nginx.ingress.kubernetes.io/proxy-read-timeout
//                                     idle_timeout_ms (nginx's proxy_read_timeout bounds both)
//   sluice.io/proxy-response-timeout  response_timeout_ms, over proxy-read-timeout
//   sluice.io/proxy-body-size         max_request_body_bytes  nginx.ingress.kubernetes.io/proxy-body-size
//   sluice.io/client-body-timeout     client_body_timeout_ms  nginx.ingress.kubernetes.io/client-body-timeout
//   sluice.io/keep-server-header      keep_server_header
// Other annotations are not looked at.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "dataplane/common/status.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::translate {

// The value syntaxes above; the error says what was expected, not which
// annotation (callers add that).
sluice::Result<uint32_t> ParseTimeoutMs(std::string_view text);
sluice::Result<uint64_t> ParseSizeBytes(std::string_view text);
sluice::Result<bool> ParseBoolean(std::string_view text);

struct AnnotationProblem {
  std::string annotation;  // as written, e.g. "nginx.ingress.kubernetes.io/proxy-body-size"
  // Names the annotation and its value: sluice.io/proxy-body-size "8q": expected a size like 8m, 512k or 1048576
  std::string message;
};

struct AnnotatedPolicy {
  // Fields left at zero/false mean "the proxy's default".
  v1::RoutePolicy policy;
  // One per invalid annotation, in a fixed order; each such annotation was
  // ignored and the rest still applied.
  std::vector<AnnotationProblem> problems;
};

// `annotations` is an Ingress's metadata.annotations, nullptr when absent.
// Pure and deterministic.
AnnotatedPolicy RoutePolicyFromAnnotations(const nlohmann::json* annotations);

}  // namespace sluice::translate
