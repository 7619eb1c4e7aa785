#pragma once
// External authentication (ingress-nginx's auth-url, nginx's auth_request),
// at order 16 (kExternalAuth): before the request goes upstream, a
// subrequest without body to the auth service's cluster
// (ExchangeState::subrequests), carrying the request's fields and what
// ingress-nginx adds (X-Original-URL, X-Original-Method, X-Sent-From,
// X-Real-IP, X-Forwarded-For/Host/Proto, X-Auth-Request-Redirect).
//   2xx          the request goes on, with the route's auth-response-headers
//                copied from the answer (a field the answer lacks is removed
//                from the request: a client cannot supply it itself)
//   401          401 with the service's WWW-Authenticate; with a signin URL:
//                302 to it with rd=<the original URL>
//   403          403
//   other, none  500 (timeout, connect failure, no endpoint): fail closed
// With a cache key, decisions of the cached statuses are kept per worker
// (AuthCache) for the cache duration.
//
// Two stages at the same order: ExtAuthStage sends and pauses (its
// StageData keeps the Handle, so the exchange's end cancels the
// subrequest), ExtAuthVerdictStage, right after it, applies the answer (a
// paused chain resumes with the next stage, so the one that waited cannot
// reply itself).
#include <memory>
#include <string>
#include <vector>

#include "dataplane/pipeline/stage.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

class ExtAuthStage final : public Stage {
 public:
  explicit ExtAuthStage(const v1::ExternalAuthPolicy& policy);
  std::string_view name() const override { return "ext_auth"; }
  StageOrder order() const override { return StageOrder::kExternalAuth; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;

  // The cache key of `state`'s request (the route's key text, evaluated),
  // "" when the route has none. Public for tests.
  std::string CacheKey(const ExchangeState& state) const;

  // Both stages of a policy, in order.
  static void AddStages(const v1::ExternalAuthPolicy& policy, std::vector<std::unique_ptr<const Stage>>& stages);

 private:
  v1::ExternalAuthPolicy policy_;
  std::string cache_prefix_;  // keeps two routes' decisions apart
};

class ExtAuthVerdictStage final : public Stage {
 public:
  explicit ExtAuthVerdictStage(const v1::ExternalAuthPolicy& policy) : policy_(policy) {}
  std::string_view name() const override { return "ext_auth_verdict"; }
  StageOrder order() const override { return StageOrder::kExternalAuth; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;

 private:
  v1::ExternalAuthPolicy policy_;
};

}  // namespace sluice::pipeline
