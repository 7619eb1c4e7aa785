#pragma once
// One access-log line per request, however it ended (answered by the
// upstream or by the proxy, aborted, the client gone), written through the
// worker's non-blocking writer (dataplane/accesslog). Reads: everything the
// exchange noted in the state. Changes: nothing.
#include "dataplane/pipeline/stage.h"

namespace sluice::pipeline {

class AccessLogStage final : public Stage {
 public:
  std::string_view name() const override { return "access_log"; }
  StageOrder order() const override { return StageOrder::kAccessLog; }
  uint32_t hooks() const override { return kComplete; }
  void OnComplete(const ExchangeState& state) const override;
};

// The line for a request refused before it had a route (a malformed
// request, a client timeout, a protocol refusal): what is known of it.
void LogRefusedRequest(accesslog::AccessLog::Writer* log, const http::ClientInfo& client,
                       const http::RequestHead* request, int status, std::string_view reason, uint64_t bytes_out);

}  // namespace sluice::pipeline
