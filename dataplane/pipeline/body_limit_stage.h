#pragma once
// The route's request body limit (RoutePolicy.max_request_body_bytes, or
// the proxy's default; ingress-nginx's proxy-body-size): 413 before the
// body is read when the declared length is over it, or as soon as the
// bytes received pass it (chunked or HTTP/2 bodies of unknown length).
// Reads: the declared length, the bytes received. Changes: nothing.
#include "dataplane/pipeline/stage.h"

namespace sluice::pipeline {

class BodyLimitStage final : public Stage {
 public:
  explicit BodyLimitStage(uint64_t max_bytes) : max_bytes_(max_bytes) {}
  std::string_view name() const override { return "body_limit"; }
  StageOrder order() const override { return StageOrder::kBodyLimit; }
  uint32_t hooks() const override { return kRequestHead | kRequestBody; }
  Verdict OnRequestHead(ExchangeState& state) const override;
  // `state.request_body_bytes` already counts `chunk`.
  Verdict OnRequestBody(ExchangeState& state, std::string_view chunk) const override;

 private:
  Verdict TooLarge(ExchangeState& state) const;
  uint64_t max_bytes_;
};

}  // namespace sluice::pipeline
