#include "dataplane/pipeline/https_redirect_stage.h"

#include <string>

namespace sluice::pipeline {
namespace {

// The host of the Location: lower case, without the port the client used
// for plain HTTP (the https port is written separately) or a trailing dot.
std::string RedirectHost(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close != std::string_view::npos) authority = authority.substr(0, close + 1);
  } else if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
    authority = authority.substr(0, colon);
  }
  if (!authority.empty() && authority.back() == '.') authority.remove_suffix(1);
  std::string host(authority);
  for (char& c : host) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  return host;
}

}  // namespace

Verdict HttpsRedirectStage::OnRequestHead(ExchangeState& state) const {
  const http::RequestHead& request = state.request;
  if (state.secure() || request.authority.empty() || request.path.starts_with("/.well-known/acme-challenge/")) {
    return Verdict::kContinue;
  }
  std::string location = "https://" + RedirectHost(request.authority);
  if (https_port_ != 443) {
    location += ':';
    location += std::to_string(https_port_);
  }
  location += request.path.empty() ? std::string_view("/") : std::string_view(request.path);
  state.reply.status = 308;
  state.reply.location = std::move(location);
  state.error = ProxyError::Proxy(ErrorCode::kRedirect, "redirect to https");
  return Verdict::kReply;
}

}  // namespace sluice::pipeline
