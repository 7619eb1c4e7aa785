#pragma once
// The response head on its way to the client: hop-by-hop fields and those
// named in Connection go (RFC 9110 7.6.1); the backend's Server and
// X-Powered-By go unless the route keeps them (they name the backend's
// software, which helps attackers and tells clients nothing);
// Strict-Transport-Security over HTTPS when the route asks for it; the
// session-affinity cookie the balancer chose; the route's own fields
// (RoutePolicy.set_response_headers, the custom-headers ConfigMap), each
// replacing the upstream's field of that name as nginx's more_set_headers.
// Local replies keep their own head. Reads: the route's policy, the client
// scheme, the affinity cookie. Changes: response fields.
#include <string>
#include <utility>
#include <vector>

#include "dataplane/pipeline/stage.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

class ResponseHeadersStage final : public Stage {
 public:
  struct Options {
    bool hide_server = true;
    std::string hsts;  // the Strict-Transport-Security value; empty: none
    std::vector<std::pair<std::string, std::string>> set;  // lower-case name, value
    static Options From(const v1::RoutePolicy& policy);
  };
  explicit ResponseHeadersStage(Options options) : options_(std::move(options)) {}
  std::string_view name() const override { return "response_headers"; }
  StageOrder order() const override { return StageOrder::kResponseHeaders; }
  uint32_t hooks() const override { return kResponseHead; }
  // Connection is hop-by-hop: always dropped.
  uint32_t response_field_hints() const override {
    return (options_.hide_server ? kDropsServerFields : 0) | kDropsKeepAliveField;
  }
  Verdict OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const override;

 private:
  Options options_;
};

}  // namespace sluice::pipeline
