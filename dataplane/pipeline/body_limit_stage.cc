#include "dataplane/pipeline/body_limit_stage.h"

namespace sluice::pipeline {

Verdict BodyLimitStage::TooLarge(ExchangeState& state) const {
  state.reply.status = 413;
  state.reply.body = "request body too large\n";
  state.error = ProxyError::Proxy(ErrorCode::kBodyTooLarge, "request body too large");
  return Verdict::kReply;
}

Verdict BodyLimitStage::OnRequestHead(ExchangeState& state) const {
  if (state.request_content_length > 0 && static_cast<uint64_t>(state.request_content_length) > max_bytes_) {
    return TooLarge(state);
  }
  return Verdict::kContinue;
}

Verdict BodyLimitStage::OnRequestBody(ExchangeState& state, std::string_view) const {
  return state.request_body_bytes > max_bytes_ ? TooLarge(state) : Verdict::kContinue;
}

}  // namespace sluice::pipeline
