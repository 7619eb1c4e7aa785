#include "dataplane/pipeline/redirect_stage.h"

namespace sluice::pipeline {
namespace {

// The ":port" of an authority ("a.b:8080" -> ":8080", "[::1]:80" -> ":80"),
// or empty.
std::string_view PortOf(std::string_view authority) {
  size_t start = 0;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return {};
    start = close + 1;
  }
  size_t colon = authority.find(':', start);
  return colon == std::string_view::npos ? std::string_view() : authority.substr(colon);
}

Verdict Redirect(ExchangeState& state, int status, std::string location) {
  state.reply.status = status;
  state.reply.location = std::move(location);
  state.error = ProxyError::Proxy(ErrorCode::kRedirect, "redirect");
  return Verdict::kReply;
}

}  // namespace

RedirectStage::Options RedirectStage::Options::From(const v1::RoutePolicy& policy) {
  Options options;
  const v1::RedirectPolicy& redirect = policy.redirect();
  if (!redirect.url().empty() || !redirect.host().empty()) {
    // 300..308 (validated by the controller); anything else: 301.
    options.code = redirect.code() >= 300 && redirect.code() <= 308 ? static_cast<int>(redirect.code()) : 301;
    options.url = redirect.url();
    options.host = redirect.host();
  }
  options.app_root = policy.app_root();
  return options;
}

std::unique_ptr<const Stage> RedirectStage::FromPolicy(const v1::RoutePolicy& policy) {
  Options options = Options::From(policy);
  if (!options.any()) return nullptr;
  return std::make_unique<RedirectStage>(std::move(options));
}

Verdict RedirectStage::OnRequestHead(ExchangeState& state) const {
  const http::RequestHead& request = state.request;
  std::string_view scheme = state.secure() ? "https" : "http";
  std::string_view path = request.path.empty() ? std::string_view("/") : std::string_view(request.path);
  if (options_.code != 0) {
    if (!options_.url.empty()) return Redirect(state, options_.code, options_.url);
    std::string location;
    location.reserve(scheme.size() + 3 + options_.host.size() + 8 + path.size());
    location.append(scheme).append("://").append(options_.host).append(PortOf(request.authority)).append(path);
    return Redirect(state, options_.code, std::move(location));
  }
  // app-root: nginx's `if ($uri = /) { return 302 $scheme://$http_host<root>; }`
  // ($uri has no query). A request without an authority gets a relative one.
  std::string_view bare = path.substr(0, path.find('?'));
  if (!options_.app_root.empty() && bare == "/") {
    std::string location;
    if (!request.authority.empty()) location.append(scheme).append("://").append(request.authority);
    location.append(options_.app_root);
    return Redirect(state, 302, std::move(location));
  }
  return Verdict::kContinue;
}

}  // namespace sluice::pipeline
