#pragma once
// The application firewall as the proxy sets it up (one per process, from
// its flags): compiles each route's WafPolicy into its two stages, sharing
// compiled rules between routes with the same configuration, and keeps the
// audit log and the counters across snapshots.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataplane/pipeline/chain.h"
#include "dataplane/waf/waf_audit.h"
#include "dataplane/waf/waf_rules.h"
#include "dataplane/waf/waf_stage.h"

namespace sluice::waf {

class Firewall final : public pipeline::StageCompiler {
 public:
  // `audit`: null for no audit lines.
  Firewall(RulesEnvironment environment, std::unique_ptr<AuditLog> audit);

  // Compiles the CRS with the extra rules once, so that a bad
  // --waf-extra-rules file stops the proxy at start, not a route later.
  Status Check();

  void AddStages(const v1::RoutePolicy& policy, std::string_view route_origin,
                 std::vector<std::unique_ptr<const pipeline::Stage>>& stages) override;

  const Metrics& metrics() const { return metrics_; }

  // Routes of the snapshots still alive whose firewall did not compile (they
  // answer 503), one per route, with the reason: the proxy names them in its
  // partial ACK, so the controller's /nodes shows them. A route leaves the
  // list when the snapshots that held it are gone.
  struct RejectedRoute {
    std::string route;
    std::string error;
  };
  std::vector<RejectedRoute> RejectedRoutes() const;
  const RulesCache& cache() const { return cache_; }

 private:
  RulesCache cache_;
  std::unique_ptr<AuditLog> audit_;
  Metrics metrics_;
  mutable std::mutex rejections_mu_;  // the compile thread and /metrics' thread; never a worker
  mutable std::vector<std::weak_ptr<const WafUnavailableStage::Rejection>> rejections_;
};

}  // namespace sluice::waf
