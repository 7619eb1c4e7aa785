#pragma once
// What goes upstream of the request's fields: the end-to-end ones. Removes
// the hop-by-hop fields and those named in Connection (RFC 9110 7.6.1),
// Host and Content-Length (the upstream serializers write them from the
// authority and the body framing), Expect (the client codec answers
// 100-continue itself), HTTP2-Settings, and the client's own
// X-Forwarded-For/-Proto/-Host: an edge proxy states what it saw, so a
// client cannot spoof its address to the backend. Adds X-Forwarded-For,
// -Proto and -Host. Notes "te: trailers" (gRPC) for HTTP/2 upstreams.
// Reads: the request, the client. Changes: request fields, added fields,
// te_trailers. Runs once: retries send the same fields.
#include "dataplane/pipeline/stage.h"

namespace sluice::pipeline {

class RequestHeadersStage final : public Stage {
 public:
  std::string_view name() const override { return "request_headers"; }
  StageOrder order() const override { return StageOrder::kRequestHeaders; }
  uint32_t hooks() const override { return kRequestHead | kRequestEnd; }
  Verdict OnRequestHead(ExchangeState& state) const override;
  // Trailer fields that frame, route or belong to one hop never come from
  // a trailer.
  Verdict OnRequestEnd(ExchangeState& state, http::HeaderMap* trailers) const override;
};

}  // namespace sluice::pipeline
