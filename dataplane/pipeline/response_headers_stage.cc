#include "dataplane/pipeline/response_headers_stage.h"

#include "dataplane/pipeline/hop_by_hop.h"

namespace sluice::pipeline {

ResponseHeadersStage::Options ResponseHeadersStage::Options::From(const v1::RoutePolicy& policy) {
  Options options;
  options.hide_server = !policy.keep_server_header();
  const v1::HstsPolicy& hsts = policy.hsts();
  if (hsts.max_age_seconds() != 0) {
    options.hsts = "max-age=" + std::to_string(hsts.max_age_seconds());
    if (hsts.include_subdomains()) options.hsts += "; includeSubDomains";
    if (hsts.preload()) options.hsts += "; preload";
  }
  for (const v1::HeaderField& field : policy.set_response_headers()) {
    options.set.emplace_back(field.name(), field.value());
  }
  return options;
}

Verdict ResponseHeadersStage::OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const {
  if (local) return Verdict::kContinue;
  const bool hide_server = options_.hide_server;
  const auto& set = options_.set;
  FilterHopByHop(head.headers, [hide_server, &set](const http::Header& h) {
    for (const auto& field : set) {
      if (field.first == h.name) return true;  // replaced below
    }
    return hide_server && ((h.name.size() == 6 && h.name == "server") ||
                           (h.name.size() == 12 && h.name == "x-powered-by"));
  });
  for (const auto& [name, value] : set) head.headers.AppendField(name, value);
  if (!options_.hsts.empty() && state.secure() && head.status != 101) {
    head.headers.Add("strict-transport-security", options_.hsts);
  }
  if (!state.affinity_cookie.empty()) head.headers.Add("set-cookie", state.affinity_cookie);
  return Verdict::kContinue;
}

}  // namespace sluice::pipeline
