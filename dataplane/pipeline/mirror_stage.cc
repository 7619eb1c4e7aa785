#include "dataplane/pipeline/mirror_stage.h"

namespace sluice::pipeline {

std::string MirrorTarget::ExpandPath(const http::RequestHead& request) const {
  std::string_view request_uri = request.path.empty() ? std::string_view("/") : std::string_view(request.path);
  size_t query = request_uri.find('?');
  std::string_view uri = request_uri.substr(0, query);
  std::string_view args = query == std::string_view::npos ? std::string_view() : request_uri.substr(query + 1);
  std::string out;
  out.reserve(path.size() + request_uri.size());
  std::string_view rest = path;
  while (!rest.empty()) {
    size_t dollar = rest.find('$');
    out.append(rest.substr(0, dollar));
    if (dollar == std::string_view::npos) break;
    rest.remove_prefix(dollar);
    auto take = [&](std::string_view name, std::string_view value) {
      if (!rest.starts_with(name)) return false;
      // "/$request_uri": the value starts with "/" already.
      if (!value.empty() && value.front() == '/' && !out.empty() && out.back() == '/') out.pop_back();
      out.append(value);
      rest.remove_prefix(name.size());
      return true;
    };
    // Longest names first ($request_uri before $uri would not clash, but
    // $args must not eat a longer name either).
    if (take("$request_uri", request_uri) || take("$uri", uri) || take("$args", args)) continue;
    out.push_back('$');  // not a variable (the translator allows none other)
    rest.remove_prefix(1);
  }
  if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
  return out;
}

MirrorStage::MirrorStage(const v1::RoutePolicy& policy) {
  const v1::MirrorPolicy& mirror = policy.mirror();
  target_.cluster = mirror.cluster();
  target_.path = mirror.path().empty() ? "$request_uri" : mirror.path();
  target_.host = mirror.host();
  target_.request_body = !mirror.drop_request_body();
  target_.connect_timeout = std::chrono::milliseconds(policy.connect_timeout_ms());
  target_.response_timeout = std::chrono::milliseconds(policy.response_timeout_ms());
}

Verdict MirrorStage::OnRequestHead(ExchangeState& state) const {
  if (state.mirror == nullptr) return Verdict::kContinue;  // tests, tools
  if (std::unique_ptr<MirrorCopy> copy = state.mirror->Begin(target_, state)) {
    state.set_data(kMirrorData, std::move(copy));
  }
  return Verdict::kContinue;
}

Verdict MirrorStage::OnRequestBody(ExchangeState& state, std::string_view chunk) const {
  if (!target_.request_body) return Verdict::kContinue;
  auto* copy = static_cast<MirrorCopy*>(state.data(kMirrorData));
  if (copy != nullptr && !copy->Body(chunk)) state.set_data(kMirrorData, nullptr);
  return Verdict::kContinue;
}

Verdict MirrorStage::OnRequestEnd(ExchangeState& state, http::HeaderMap*) const {
  if (auto* copy = static_cast<MirrorCopy*>(state.data(kMirrorData))) {
    copy->End();
    state.set_data(kMirrorData, nullptr);  // the sender owns what is in flight
  }
  return Verdict::kContinue;
}

}  // namespace sluice::pipeline
