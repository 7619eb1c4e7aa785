#include "dataplane/pipeline/ext_auth_stage.h"

#include <utility>

#include "base/base64.h"
#include "base/percent_encoding.h"
#include "dataplane/pipeline/auth_cache.h"
#include "dataplane/pipeline/hop_by_hop.h"
#include "dataplane/subrequest/subrequest.h"

namespace sluice::pipeline {
namespace {

constexpr std::chrono::milliseconds kDefaultTimeout{5000};

// What the first stage leaves for the second: the subrequest while it
// runs, then the answer.
struct ExtAuthData final : StageData {
  std::unique_ptr<subrequest::Handle> pending;  // destroyed with the exchange: cancels
  bool decided = false;
  int status = 0;             // 0: no answer (timeout, failure)
  http::HeaderMap headers;    // the fields kept from the answer
  std::string error;
};

// nginx's set_escape_uri: everything but unreserved characters as %XX.
std::string EscapeUri(std::string_view text) { return PercentEncode(text); }

// The user of a Basic Authorization field ($remote_user), "" otherwise.
std::string RemoteUser(const http::RequestHead& request) {
  const std::string* authorization = request.headers.Get("authorization");
  if (authorization == nullptr || authorization->size() < 6 ||
      !http::EqualsIgnoreCase(std::string_view(*authorization).substr(0, 6), "basic ")) {
    return "";
  }
  auto decoded = DecodeBase64(std::string_view(*authorization).substr(6));
  if (!decoded.ok()) return "";
  size_t colon = decoded->find(':');
  return colon == std::string::npos ? "" : decoded->substr(0, colon);
}

std::string Cookie(const http::RequestHead& request, std::string_view name) {
  for (const http::Header& field : request.headers.entries()) {
    if (field.name != "cookie") continue;
    std::string_view rest = field.value;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return std::string(pair.substr(eq + 1));
    }
  }
  return "";
}

// One $variable of a cache key ("" when the request has none of it).
std::string Variable(const ExchangeState& state, std::string_view name) {
  const http::RequestHead& request = state.request;
  if (name == "remote_user") return RemoteUser(request);
  if (name == "request_uri") return request.path;
  if (name == "host" || name == "http_host") return request.authority;
  if (name.rfind("http_", 0) == 0) {
    std::string field(name.substr(5));
    for (char& c : field) {
      if (c == '_') c = '-';
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    const std::string* value = request.headers.Get(field);
    return value == nullptr ? "" : *value;
  }
  if (name.rfind("cookie_", 0) == 0) return Cookie(request, name.substr(7));
  return "";  // the translator accepts only the names above
}

bool IsVariableChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// The signin URL with its variables ($host, $scheme, $request_uri,
// $escaped_request_uri: the ones the translator accepts) filled in.
std::string ExpandSignin(std::string_view url, const ExchangeState& state) {
  std::string out;
  for (size_t i = 0; i < url.size();) {
    if (url[i] != '$') {
      out.push_back(url[i++]);
      continue;
    }
    size_t end = i + 1;
    while (end < url.size() && IsVariableChar(url[end])) ++end;
    std::string_view name = url.substr(i + 1, end - i - 1);
    if (name == "host" || name == "http_host") {
      out += state.request.authority;
    } else if (name == "scheme") {
      out += state.secure() ? "https" : "http";
    } else if (name == "request_uri") {
      out += state.request.path;
    } else if (name == "escaped_request_uri") {
      out += EscapeUri(state.request.path);
    }
    i = end;
  }
  return out;
}

}  // namespace

ExtAuthStage::ExtAuthStage(const v1::ExternalAuthPolicy& policy) : policy_(policy) {
  cache_prefix_ = policy.cluster() + "\n" + policy.host() + policy.path() + "\n" + policy.method() + "\n";
}

void ExtAuthStage::AddStages(const v1::ExternalAuthPolicy& policy, std::vector<std::unique_ptr<const Stage>>& stages) {
  stages.push_back(std::make_unique<ExtAuthStage>(policy));
  stages.push_back(std::make_unique<ExtAuthVerdictStage>(policy));
}

std::string ExtAuthStage::CacheKey(const ExchangeState& state) const {
  if (policy_.cache_key().empty() || policy_.cache_rules_size() == 0) return "";
  std::string key = cache_prefix_;
  std::string_view text = policy_.cache_key();
  for (size_t i = 0; i < text.size();) {
    if (text[i] != '$') {
      key.push_back(text[i++]);
      continue;
    }
    size_t end = i + 1;
    while (end < text.size() && IsVariableChar(text[end])) ++end;
    std::string value = Variable(state, text.substr(i + 1, end - i - 1));
    // Length-prefixed: two different requests never give one key by
    // moving text between variables.
    key += std::to_string(value.size());
    key.push_back(':');
    key += value;
    i = end;
  }
  return key;
}

Verdict ExtAuthStage::OnRequestHead(ExchangeState& state) const {
  auto data = std::make_unique<ExtAuthData>();
  ExtAuthData* raw = data.get();
  state.set_data(kExtAuthData, std::move(data));
  if (policy_.deny_all()) {
    raw->decided = true;
    raw->error = "external auth configuration unusable";
    return Verdict::kContinue;
  }
  std::string key = CacheKey(state);
  if (!key.empty() && state.auth_cache != nullptr) {
    if (const AuthCache::Decision* hit = state.auth_cache->Find(key, AuthCache::Clock::now())) {
      raw->decided = true;
      raw->status = hit->status;
      raw->headers = hit->headers;
      return Verdict::kContinue;
    }
  }
  if (state.subrequests == nullptr || state.resumer == nullptr) {
    raw->decided = true;
    raw->error = "no subrequest client";
    return Verdict::kContinue;
  }

  const http::RequestHead& request = state.request;
  subrequest::Request auth;
  auth.cluster = policy_.cluster();
  auth.method = policy_.method().empty() ? request.method : policy_.method();
  auth.path = policy_.path().empty() ? "/" : policy_.path();
  auth.authority = policy_.host();
  auth.timeout = policy_.timeout_ms() != 0 ? std::chrono::milliseconds(policy_.timeout_ms()) : kDefaultTimeout;
  auth.max_body_bytes = 16 * 1024;  // only the head matters
  // The request's own end-to-end fields, without its body's framing (no
  // body is sent) and without what this proxy sets itself.
  for (const http::Header& field : request.headers.entries()) {
    std::string_view name = field.name;
    if (IsHopByHopName(name) || name == "content-length" || name == "expect" || name == "x-original-url" ||
        name == "x-original-method" || name == "x-sent-from" || name == "x-real-ip" || name == "x-forwarded-for" ||
        name == "x-forwarded-host" || name == "x-forwarded-proto" || name == "x-auth-request-redirect") {
      continue;
    }
    auth.headers.Add(field.name, field.value);
  }
  std::string_view scheme = state.secure() ? "https" : "http";
  std::string client_ip = state.client != nullptr ? state.client->ip : "";
  auth.headers.Add("x-original-url", std::string(scheme) + "://" + request.authority + request.path);
  auth.headers.Add("x-original-method", request.method);
  auth.headers.Add("x-sent-from", "nginx-ingress-controller");
  auth.headers.Add("x-real-ip", client_ip);
  auth.headers.Add("x-forwarded-for", client_ip);
  auth.headers.Add("x-forwarded-host", request.authority);
  auth.headers.Add("x-forwarded-proto", std::string(scheme));
  auth.headers.Add("x-auth-request-redirect",
                   policy_.request_redirect().empty() ? request.path : policy_.request_redirect());

  AuthCache* cache = key.empty() ? nullptr : state.auth_cache;
  // The auth status -> how long its decision is kept.
  std::vector<std::pair<int, std::chrono::milliseconds>> durations;
  for (const v1::ExternalAuthPolicy::CacheRule& rule : policy_.cache_rules()) {
    for (uint32_t status : rule.statuses()) {
      durations.emplace_back(static_cast<int>(status), std::chrono::milliseconds(rule.duration_ms()));
    }
  }
  std::vector<std::string> copied(policy_.response_headers().begin(), policy_.response_headers().end());
  raw->pending = state.subrequests->Send(
      std::move(auth), [raw, resumer = state.resumer, cache, key = std::move(key), durations = std::move(durations),
                        copied = std::move(copied)](subrequest::Response&& answer) mutable {
        raw->decided = true;
        raw->status = answer.status;
        raw->error = std::move(answer.error);
        for (const std::string& name : copied) {
          if (const std::string* value = answer.headers.Get(name)) raw->headers.Add(name, *value);
        }
        if (const std::string* value = answer.headers.Get("www-authenticate")) {
          raw->headers.Add("www-authenticate", *value);
        }
        for (const auto& [status, duration] : durations) {
          if (cache == nullptr || status != answer.status || duration.count() == 0) continue;
          AuthCache::Clock::time_point now = AuthCache::Clock::now();
          cache->Store(std::move(key), AuthCache::Decision{answer.status, raw->headers, now + duration}, now);
          break;
        }
        resumer->Resume();  // may end the exchange (and destroy `raw`): last
      });
  return Verdict::kPause;
}

Verdict ExtAuthVerdictStage::OnRequestHead(ExchangeState& state) const {
  auto* data = static_cast<ExtAuthData*>(state.data(kExtAuthData));
  int status = data != nullptr && data->decided ? data->status : 0;
  if (status >= 200 && status < 300) {
    // The auth service's fields replace the client's: a client never
    // supplies X-Auth-Request-User itself.
    for (const std::string& name : policy_.response_headers()) {
      state.request.headers.Remove(name);
      if (const std::string* value = data->headers.Get(name)) state.request.headers.Add(name, *value);
    }
    return Verdict::kContinue;
  }
  if (status == 401 && !policy_.signin_url().empty()) {
    std::string location = ExpandSignin(policy_.signin_url(), state);
    if (location.find("rd=") == std::string::npos) {
      std::string_view scheme = state.secure() ? "https" : "http";
      location += location.find('?') == std::string::npos ? "?" : "&";
      location += "rd=" + std::string(scheme) + "://" + state.request.authority + EscapeUri(state.request.path);
    }
    state.reply.status = 302;
    state.reply.location = std::move(location);
    state.reply.body = "authentication required\n";
    state.error = ProxyError::Proxy(ErrorCode::kRedirect, "external auth: sign in");
    return Verdict::kReply;
  }
  if (status == 401) {
    state.reply.status = 401;
    state.reply.body = "unauthorized\n";
    if (const std::string* value = data->headers.Get("www-authenticate")) {
      state.reply.headers.Add("www-authenticate", *value);
    }
    state.error = ProxyError::Proxy(ErrorCode::kRefused, "external auth: 401");
    return Verdict::kReply;
  }
  if (status == 403) {
    state.reply.status = 403;
    state.reply.body = "forbidden\n";
    state.error = ProxyError::Proxy(ErrorCode::kRefused, "external auth: 403");
    return Verdict::kReply;
  }
  // Anything else, or no answer: fail closed, as nginx's auth_request (500).
  state.reply.status = 500;
  state.reply.body = "authentication service failed\n";
  std::string why = data == nullptr ? "no auth decision"
                    : status != 0   ? "auth service answered " + std::to_string(status)
                                    : (data->error.empty() ? "no answer" : data->error);
  state.error = ProxyError::Proxy(ErrorCode::kRefused, "external auth: " + why);
  return Verdict::kReply;
}

}  // namespace sluice::pipeline
