#pragma once
// Custom error pages (ingress-nginx's custom-http-errors with a default
// backend), at order 105 (kCustomErrors), the first response stage: an
// upstream response whose status the route lists is replaced by the
// default backend's answer to GET / with the headers ingress-nginx sends
// (X-Code, X-Format = the client's Accept, X-Original-URI, X-Namespace,
// X-Ingress-Name, X-Service-Name, X-Service-Port, X-Request-ID), with the
// default backend's status, fields and body (nginx's `error_page ... =`).
// When the default backend does not answer (or its page is over 1 MiB),
// the upstream's own response goes out: an error page is no reason to
// fail the request. The proxy's own replies (502, 503, 504) are not
// replaced: a local reply's head hooks cannot wait.
//
// Two stages as ext_auth: CustomErrorsStage sends and pauses (the upstream
// is paused meanwhile, its body held), CustomErrorsVerdictStage right
// after it replaces the response.
#include <memory>
#include <vector>

#include "dataplane/pipeline/stage.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

class CustomErrorsStage final : public Stage {
 public:
  explicit CustomErrorsStage(const v1::CustomErrorsPolicy& policy) : policy_(policy) {}
  std::string_view name() const override { return "custom_errors"; }
  StageOrder order() const override { return StageOrder::kCustomErrors; }
  uint32_t hooks() const override { return kResponseHead; }
  Verdict OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const override;

  static void AddStages(const v1::CustomErrorsPolicy& policy, std::vector<std::unique_ptr<const Stage>>& stages);

 private:
  v1::CustomErrorsPolicy policy_;
};

class CustomErrorsVerdictStage final : public Stage {
 public:
  std::string_view name() const override { return "custom_errors_verdict"; }
  StageOrder order() const override { return StageOrder::kCustomErrors; }
  uint32_t hooks() const override { return kResponseHead; }
  Verdict OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const override;
};

}  // namespace sluice::pipeline
