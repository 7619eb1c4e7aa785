#pragma once
// Plain HTTP to a host served over TLS only (RoutePolicy.redirect_to_https,
// ingress-nginx's ssl-redirect / force-ssl-redirect): 308 to the same URL
// over https. ACME HTTP-01 challenges stay reachable over HTTP, as with
// ingress-nginx. Reads: client scheme, authority, path. Changes: nothing.
#include "dataplane/pipeline/stage.h"

namespace sluice::pipeline {

class HttpsRedirectStage final : public Stage {
 public:
  explicit HttpsRedirectStage(int https_port) : https_port_(https_port) {}
  std::string_view name() const override { return "https_redirect"; }
  StageOrder order() const override { return StageOrder::kHttpsRedirect; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;

 private:
  int https_port_;
};

}  // namespace sluice::pipeline
