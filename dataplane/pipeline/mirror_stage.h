#pragma once
// Request mirroring (RoutePolicy.mirror; ingress-nginx mirror-target,
// mirror-host, mirror-request-body): a fire-and-forget copy of each request
// to another Service. Runs after request_headers (order 85), so the copy
// carries what the upstream gets (X-Forwarded-*, no hop-by-hop fields),
// with its own target and Host. The copy's body is gathered as the request
// body passes (the main request streams as usual, nothing waits for the
// mirror) and the copy is sent when the request is complete. Every limit is
// the sender's (state.mirror, per worker): a copy over them is dropped and
// counted. Never replies, never pauses.
#include "dataplane/pipeline/mirror_sink.h"
#include "dataplane/pipeline/stage.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

class MirrorStage final : public Stage {
 public:
  explicit MirrorStage(const v1::RoutePolicy& policy);
  std::string_view name() const override { return "mirror"; }
  StageOrder order() const override { return StageOrder::kMirror; }
  uint32_t hooks() const override { return kRequestHead | kRequestBody | kRequestEnd; }
  Verdict OnRequestHead(ExchangeState& state) const override;
  Verdict OnRequestBody(ExchangeState& state, std::string_view chunk) const override;
  Verdict OnRequestEnd(ExchangeState& state, http::HeaderMap* trailers) const override;

  const MirrorTarget& target() const { return target_; }

 private:
  MirrorTarget target_;
};

}  // namespace sluice::pipeline
