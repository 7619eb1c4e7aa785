#pragma once
// Ingress annotations for request rate limits -> RoutePolicy.rate_limit
// (dataplane/pipeline/rate_limit_stage.h). The sluice.io/ one wins when
// both it and its ingress-nginx equivalent are set; an invalid one counts
// as not set and is reported.
//   sluice.io/rate-limit-rps      requests per second, per key   nginx.ingress.kubernetes.io/limit-rps
//   sluice.io/rate-limit-rpm      requests per minute, per key   nginx.ingress.kubernetes.io/limit-rpm
//                                 (both set: both apply, as in ingress-nginx)
//   sluice.io/rate-limit-burst    requests more than the rate that may arrive at once
//                                 (default: rate x 5)         nginx.ingress.kubernetes.io/limit-burst-multiplier
//                                                             (burst = rate x multiplier, ingress-nginx's rule)
//   sluice.io/rate-limit-key      client (default) | header:NAME | cookie:NAME (no header/cookie: client)
//   sluice.io/rate-limit-exempt   CIDRs or addresses, comma separated, never limited
//                                                             nginx.ingress.kubernetes.io/limit-whitelist
//   sluice.io/rate-limit-scope    local (default: each proxy) | cluster (all proxies, --ratelimit-redis)
//   sluice.io/rate-limit-fail     open (default) | closed: with scope cluster, what happens while
//                                 Redis is down or slow (open: each proxy applies the limit alone)
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "controlplane/translate/annotations.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::translate {

// Sets policy.rate_limit when the Ingress has a valid rate; problems are
// appended. The limit's name (RateLimitPolicy.name) is the translator's.
void ReadRateLimitAnnotations(const nlohmann::json* annotations, v1::RoutePolicy& policy,
                              std::vector<AnnotationProblem>& problems);

}  // namespace sluice::translate
