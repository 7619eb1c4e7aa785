#pragma once
// Ingress annotations for load balancing, session affinity and canaries.
// Per route: every route of an Ingress carries the Ingress's own balancing
// policy (RoutePolicy.load_balancing), so two Ingresses routing to one
// Service port each balance as they are annotated; a canary Ingress attaches
// its Service to the primary Ingress's route for the same host and path
// (with its own balancing policy for its Service, CanaryRule.load_balancing).
//
// Annotations read (the sluice.io/ one wins when both are set; an invalid
// one counts as not set and is reported):
//   sluice.io/load-balance            round-robin|least-request|ring-hash|maglev|random|ewma
//                                     nginx.ingress.kubernetes.io/load-balance (round_robin, ewma)
//   sluice.io/hash-key                header:NAME | cookie:NAME | client-ip | path | uri
//                                     nginx.ingress.kubernetes.io/upstream-hash-by ($remote_addr,
//                                     $request_uri, $uri, $http_NAME, $cookie_NAME); a hash key
//                                     without a hash policy selects ring-hash
//   sluice.io/affinity                cookie          nginx.ingress.kubernetes.io/affinity
//   sluice.io/session-cookie-name     cookie name     nginx.ingress.kubernetes.io/session-cookie-name
//   sluice.io/session-cookie-max-age  seconds         nginx.ingress.kubernetes.io/session-cookie-max-age
//   sluice.io/session-cookie-path     /path           nginx.ingress.kubernetes.io/session-cookie-path
//   sluice.io/session-cookie-samesite Lax|Strict|None nginx.ingress.kubernetes.io/session-cookie-samesite
//   sluice.io/session-cookie-secure   true|false      nginx.ingress.kubernetes.io/session-cookie-secure
//   sluice.io/canary                  true|false      nginx.ingress.kubernetes.io/canary
//   sluice.io/canary-weight           0..total        nginx.ingress.kubernetes.io/canary-weight
//   sluice.io/canary-weight-total     1..1000000 (100) nginx.ingress.kubernetes.io/canary-weight-total
//   sluice.io/canary-by-header        header name     nginx.ingress.kubernetes.io/canary-by-header
//   sluice.io/canary-by-header-value  exact value     nginx.ingress.kubernetes.io/canary-by-header-value
//   sluice.io/canary-by-cookie        cookie name     nginx.ingress.kubernetes.io/canary-by-cookie
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "controlplane/translate/annotations.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::translate {

struct AnnotatedBalancing {
  // True when the Ingress sets any balancing or affinity annotation validly.
  bool set = false;
  v1::LoadBalancingPolicy::Algorithm load_balancing = v1::LoadBalancingPolicy::ROUND_ROBIN;
  v1::HashKey hash_key;
  v1::SessionAffinity affinity;
  std::vector<AnnotationProblem> problems;

  // load_balancing, hash_key and affinity as a route's policy.
  v1::LoadBalancingPolicy Policy() const;
  bool SamePolicyAs(const AnnotatedBalancing& other) const;
  // "ring-hash by header:x-user, cookie affinity", for messages.
  std::string Describe() const;
};

AnnotatedBalancing BalancingFromAnnotations(const nlohmann::json* annotations);

struct AnnotatedCanary {
  bool canary = false;
  uint32_t weight = 0;
  uint32_t weight_total = 100;
  std::string header;  // lower case
  std::string header_value;
  std::string cookie;
  std::vector<AnnotationProblem> problems;
};

AnnotatedCanary CanaryFromAnnotations(const nlohmann::json* annotations);

}  // namespace sluice::translate
