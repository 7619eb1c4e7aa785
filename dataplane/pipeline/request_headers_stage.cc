#include "dataplane/pipeline/request_headers_stage.h"

#include "dataplane/pipeline/hop_by_hop.h"

namespace sluice::pipeline {

RequestHeadersStage::Options RequestHeadersStage::Options::From(const v1::RoutePolicy& policy) {
  Options options;
  options.upstream_vhost = policy.upstream_vhost();
  for (const v1::HeaderField& field : policy.set_request_headers()) options.set.emplace_back(field.name(), field.value());
  return options;
}

Verdict RequestHeadersStage::OnRequestHead(ExchangeState& state) const {
  bool te_trailers = false;
  const bool sets = !options_.set.empty();
  FilterHopByHop(state.request.headers, [&](const http::Header& h) {
    const std::string& n = h.name;
    if (sets && Sets(n)) return true;  // replaced below
    switch (n.size()) {
      case 0: return true;
      case 2:  // "te" is hop-by-hop (dropped anyway); only its "trailers" value matters
        if (n == "te" && http::EqualsIgnoreCase(h.value, "trailers")) te_trailers = true;
        return false;
      case 4: return n == "host";
      case 6: return n == "expect";
      case 14: return n == "content-length" || n == "http2-settings";
      case 15: return n == "x-forwarded-for";
      case 16: return n == "x-forwarded-host";
      case 17: return n == "x-forwarded-proto";
      default: return false;
    }
  });
  state.te_trailers = te_trailers;
  const http::ClientInfo* client = state.client;
  state.AddField("x-forwarded-for", client != nullptr ? std::string_view(client->ip) : std::string_view());
  state.AddField("x-forwarded-proto", client != nullptr ? client->scheme : std::string_view("http"));
  state.AddField("x-forwarded-host", state.request.authority);
  for (const auto& [name, value] : options_.set) state.request.headers.AppendField(name, value);
  if (!options_.upstream_vhost.empty()) state.upstream_authority = options_.upstream_vhost;
  return Verdict::kContinue;
}

Verdict RequestHeadersStage::OnRequestEnd(ExchangeState&, http::HeaderMap* trailers) const {
  if (trailers == nullptr) return Verdict::kContinue;
  FilterHopByHop(*trailers, [](const http::Header& h) {
    return h.name == "content-length" || h.name == "host" || h.name == "trailer";
  });
  return Verdict::kContinue;
}

}  // namespace sluice::pipeline
