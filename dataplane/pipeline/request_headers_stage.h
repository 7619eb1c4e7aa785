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
//
// A route may also set fields (RoutePolicy.set_request_headers, the
// proxy-set-headers ConfigMap): each replaces the client's field of that
// name, as nginx's proxy_set_header; and send another Host upstream
// (upstream_vhost: ExchangeState::upstream_authority; X-Forwarded-Host
// stays the client's). Names and values were validated by the controller
// (never a hop-by-hop, framing or X-Forwarded-* name).
#include <string>
#include <utility>
#include <vector>

#include "dataplane/pipeline/stage.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

class RequestHeadersStage final : public Stage {
 public:
  struct Options {
    std::string upstream_vhost;  // empty: the client's Host
    std::vector<std::pair<std::string, std::string>> set;  // lower-case name, value
    static Options From(const v1::RoutePolicy& policy);
  };
  RequestHeadersStage() = default;
  explicit RequestHeadersStage(Options options) : options_(std::move(options)) {}
  std::string_view name() const override { return "request_headers"; }
  StageOrder order() const override { return StageOrder::kRequestHeaders; }
  uint32_t hooks() const override { return kRequestHead | kRequestEnd; }
  Verdict OnRequestHead(ExchangeState& state) const override;
  // Trailer fields that frame, route or belong to one hop never come from
  // a trailer.
  Verdict OnRequestEnd(ExchangeState& state, http::HeaderMap* trailers) const override;

 private:
  bool Sets(const std::string& name) const {
    for (const auto& field : options_.set) {
      if (field.first == name) return true;
    }
    return false;
  }
  Options options_;
};

}  // namespace sluice::pipeline
