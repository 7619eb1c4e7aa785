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
//   sluice.io/ssl-redirect            AnnotatedPolicy::ssl_redirect  nginx.ingress.kubernetes.io/ssl-redirect
//                                     (default true; the translator sets redirect_to_https on hosts with TLS)
//   sluice.io/hsts-max-age            hsts.max_age_seconds (whole seconds; 0: no header)
//   sluice.io/hsts-include-subdomains hsts.include_subdomains
//   sluice.io/hsts-preload            hsts.preload
// Compression (RoutePolicy.compression; off unless turned on, see README):
//   sluice.io/compression             on|off (or true|false)
//   sluice.io/compression-types       media types, comma or space separated: text/html, text/*, +json
//                                     (replaces the built-in list)
//   sluice.io/compression-codings     the codings offered, preferred first: "zstd, br, gzip" (default)
//   sluice.io/compression-min-length  size; bodies of a known smaller length are sent as they are (default 1k)
//   sluice.io/compression-level-gzip  1..9 (default 5)
//   sluice.io/compression-level-brotli 1..11 (default 4)
//   sluice.io/compression-level-zstd  1..19 (default 3)
//   (ingress-nginx has only global ConfigMap keys for these: README maps them)
// Access control (RoutePolicy.access_control; CIDRs, IPv4 or IPv6, comma or
// space separated; deny wins; an invalid list refuses every client):
//   sluice.io/allow-source-range      allow  nginx.ingress.kubernetes.io/whitelist-source-range
//   sluice.io/deny-source-range       deny   nginx.ingress.kubernetes.io/denylist-source-range
// Backend (per Service, read by BackendFromAnnotations):
//   sluice.io/backend-protocol        http|https|h2c|h2|grpc|grpcs  nginx.ingress.kubernetes.io/backend-protocol
//   sluice.io/backend-tls-ca-secret   NAME (same namespace) or NS/NAME, its ca.crt
//                                     nginx.ingress.kubernetes.io/proxy-ssl-secret
//   sluice.io/backend-tls-verify      true|false (default: true when a CA secret is set)
//                                     nginx.ingress.kubernetes.io/proxy-ssl-verify (on|off)
//   sluice.io/backend-tls-server-name SNI and verified name  nginx.ingress.kubernetes.io/proxy-ssl-name
// Retries (RoutePolicy.retry, see RetryPolicy in snapshot.proto):
//   sluice.io/retry-on                connect-failure,reset,timeout,502,503,504 | off
//                                     nginx.ingress.kubernetes.io/proxy-next-upstream (error timeout
//                                     invalid_header http_502 http_503 http_504 off; others accepted, no effect)
//   sluice.io/retries                 retries after the first try (0..10; default 2)
//                                     nginx.ingress.kubernetes.io/proxy-next-upstream-tries (tries, first included)
//   sluice.io/per-try-timeout         timeout for each try's response head
//   sluice.io/retry-timeout           no new try after this  nginx.ingress.kubernetes.io/proxy-next-upstream-timeout
//   sluice.io/retry-budget-percent    0..100 (default 20)
//   sluice.io/retry-budget-min-per-second  whole number (default 3)
// Health (per Service port, read by HealthFromAnnotations):
//   sluice.io/health-check-path, -interval, -timeout, -healthy-threshold,
//   -unhealthy-threshold, -expected-status ("200-399", "200,204"), -host
//   sluice.io/outlier-detection (true|false), sluice.io/outlier-consecutive-failures,
//   -base-ejection-time, -max-ejection-time, -max-ejection-percent,
//   sluice.io/panic-threshold-percent
// Load balancing, session affinity and canary annotations: see
// balancing_annotations.h. Rate limits (limit-rps, limit-rpm, ...): see
// ratelimit_annotations.h. Other annotations are not looked at.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/status.h"
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
  // HTTP -> HTTPS redirect wanted for this Ingress's hosts that have TLS
  // (policy.redirect_to_https is left to the translator, which knows them).
  bool ssl_redirect = true;
};

// `annotations` is an Ingress's metadata.annotations, nullptr when absent.
// Pure and deterministic.
AnnotatedPolicy RoutePolicyFromAnnotations(const nlohmann::json* annotations);

// How the proxy talks to the Ingress's backends (Cluster.protocol and
// Cluster.upstream_tls); the CA comes from a Secret the translator reads.
struct AnnotatedBackend {
  v1::Cluster::UpstreamProtocol protocol = v1::Cluster::HTTP1;
  bool tls = false;
  bool verify = false;
  std::string server_name;
  std::string ca_secret_namespace;  // empty: no CA secret
  std::string ca_secret_name;
  std::vector<AnnotationProblem> problems;
};
AnnotatedBackend BackendFromAnnotations(const nlohmann::json* annotations, const std::string& ingress_namespace);

// Active health checks and outlier detection of a Service port (Cluster).
struct AnnotatedHealth {
  // True when any health annotation is set validly: only such Ingresses
  // compete for a Service port's health policy (the oldest one wins).
  bool set = false;
  v1::HealthCheck health_check;            // empty path: no active checks
  v1::OutlierDetection outlier_detection;  // unset fields: defaults
  std::vector<AnnotationProblem> problems;
};

AnnotatedHealth HealthFromAnnotations(const nlohmann::json* annotations);

}  // namespace sluice::translate
