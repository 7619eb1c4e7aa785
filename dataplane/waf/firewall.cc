#include "dataplane/waf/firewall.h"

#include "dataplane/common/log.h"
#include "dataplane/waf/waf_stage.h"

namespace sluice::waf {

Firewall::Firewall(RulesEnvironment environment, std::unique_ptr<AuditLog> audit)
    : cache_(std::move(environment)), audit_(std::move(audit)) {}

Status Firewall::Check() {
  v1::WafPolicy policy;
  policy.set_mode(v1::WafPolicy::BLOCK);
  auto rules = cache_.Get(policy);
  return rules.ok() ? Status::Ok() : rules.status();
}

void Firewall::AddStages(const v1::RoutePolicy& policy, std::string_view route_origin,
                         std::vector<std::unique_ptr<const pipeline::Stage>>& stages) {
  const v1::WafPolicy& waf = policy.waf();
  auto rules = cache_.Get(waf);
  if (!rules.ok()) {
    // Fail closed: the route answers 503 rather than go unprotected. (The
    // translator only writes validated numbers and tags, so this is an
    // operator's extra rules or a CRS that changed under us.)
    log::Error("application firewall configuration rejected; the route answers 503",
               {{"route", std::string(route_origin)}, {"error", rules.status().message()}});
    auto rejection = std::make_shared<const WafUnavailableStage::Rejection>(
        WafUnavailableStage::Rejection{std::string(route_origin), rules.status().message()});
    {
      std::lock_guard<std::mutex> lock(rejections_mu_);
      rejections_.push_back(rejection);
    }
    stages.push_back(std::make_unique<WafUnavailableStage>(std::move(rejection)));
    return;
  }
  std::string route(route_origin);
  auto firewall = RouteFirewall::From(waf, *rules, route, audit_.get(), metrics_.For(route));
  stages.push_back(std::make_unique<WafRequestStage>(firewall));
  stages.push_back(std::make_unique<WafResponseStage>(firewall));
}

std::vector<Firewall::RejectedRoute> Firewall::RejectedRoutes() const {
  std::vector<RejectedRoute> out;
  std::lock_guard<std::mutex> lock(rejections_mu_);
  std::erase_if(rejections_, [](const auto& weak) { return weak.expired(); });
  for (const auto& weak : rejections_) {
    auto rejection = weak.lock();
    if (rejection == nullptr) continue;
    bool seen = false;
    for (const RejectedRoute& route : out) seen = seen || route.route == rejection->route;
    if (!seen) out.push_back({rejection->route, rejection->error});
  }
  return out;
}

}  // namespace sluice::waf
