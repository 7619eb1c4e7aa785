#include "dataplane/pipeline/cors_stage.h"

#include "dataplane/http/message.h"

namespace sluice::pipeline {
namespace {

bool IsLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsLower(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (Lower(text[i]) != lower[i]) return false;
  }
  return true;
}

bool AllDigits(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The fields this stage owns on a response it decorates.
constexpr std::string_view kOwnedFields[] = {
    "access-control-allow-origin",  "access-control-allow-credentials", "access-control-allow-methods",
    "access-control-allow-headers", "access-control-expose-headers",    "access-control-max-age",
};

// Whether a Vary field already names `lower_name` (or is "*").
bool VaryCovers(const http::HeaderMap& headers, std::string_view lower_name) {
  for (const http::Header& h : headers.entries()) {
    if (h.name != "vary") continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (item == "*" || EqualsLower(item, lower_name)) return true;
    }
  }
  return false;
}

}  // namespace

bool ParseCorsOrigin(std::string_view text, CorsStage::OriginPattern& out) {
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) return false;
  std::string scheme;
  for (char c : text.substr(0, sep)) scheme.push_back(Lower(c));
  if (scheme != "http" && scheme != "https") return false;
  std::string_view rest = text.substr(sep + 3);
  std::string_view host = rest, port;
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (!AllDigits(port)) return false;
  }
  bool wildcard = host.size() > 2 && host[0] == '*' && host[1] == '.';
  if (wildcard) host.remove_prefix(1);  // keeps the dot: ".example.com"
  if (host.empty() || host.back() == '.' || (!wildcard && host.front() == '.')) return false;
  std::string lower;
  char previous = wildcard ? '.' : '\0';
  for (size_t i = wildcard ? 1 : 0; i < host.size(); ++i) {
    char c = host[i];
    if (c == '.') {
      if (previous == '.') return false;  // an empty label
    } else if (!IsLabelChar(c)) {
      return false;
    }
    previous = c;
  }
  for (char c : host) lower.push_back(Lower(c));
  out.scheme = std::move(scheme);
  out.host_suffix = std::move(lower);
  out.wildcard = wildcard;
  out.port = std::string(port);
  return true;
}

CorsStage::Options CorsStage::Options::From(const v1::CorsPolicy& policy) {
  Options options;
  for (const std::string& origin : policy.allow_origins()) {
    if (origin == "*") {
      options.any_origin = true;
      continue;
    }
    OriginPattern pattern;
    // The controller validated every entry; one that does not parse (an
    // older or foreign controller) allows nothing rather than everything.
    if (ParseCorsOrigin(origin, pattern)) options.origins.push_back(std::move(pattern));
  }
  options.allow_methods = policy.allow_methods();
  options.allow_headers = policy.allow_headers();
  options.expose_headers = policy.expose_headers();
  options.allow_credentials = policy.allow_credentials();
  if (policy.max_age_seconds() >= 0) options.max_age = std::to_string(policy.max_age_seconds());
  return options;
}

bool CorsStage::Allows(std::string_view origin) const {
  if (origin.empty()) return false;
  if (options_.any_origin) return true;
  size_t sep = origin.find("://");
  if (sep == std::string_view::npos) return false;
  std::string_view scheme = origin.substr(0, sep);
  std::string_view rest = origin.substr(sep + 3);
  std::string_view host = rest, port;
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (!AllDigits(port)) return false;
  }
  for (const OriginPattern& p : options_.origins) {
    if (!EqualsLower(scheme, p.scheme) || port != p.port) continue;
    if (!p.wildcard) {
      if (EqualsLower(host, p.host_suffix)) return true;
      continue;
    }
    // One label, then the suffix (".example.com").
    if (host.size() <= p.host_suffix.size()) continue;
    std::string_view label = host.substr(0, host.size() - p.host_suffix.size());
    if (!EqualsLower(host.substr(label.size()), p.host_suffix)) continue;
    bool one_label = !label.empty();
    for (char c : label) one_label = one_label && IsLabelChar(c);
    if (one_label) return true;
  }
  return false;
}

Verdict CorsStage::OnRequestHead(ExchangeState& state) const {
  const http::RequestHead& request = state.request;
  if (request.method != "OPTIONS") return Verdict::kContinue;
  const std::string* origin = request.headers.Get("origin");
  if (origin == nullptr || request.headers.Get("access-control-request-method") == nullptr) {
    return Verdict::kContinue;
  }
  if (!Allows(*origin)) return Verdict::kContinue;
  // The fields come from OnResponseHead, which runs on this local reply too.
  state.reply = LocalReply{};
  state.reply.status = 204;
  state.reply.head_only = true;
  return Verdict::kReply;
}

Verdict CorsStage::OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool) const {
  const std::string* origin = state.request.headers.Get("origin");
  if (origin == nullptr || !Allows(*origin)) return Verdict::kContinue;
  head.headers.RemoveIf([](const http::Header& h) {
    if (h.name.size() < 22 || h.name.compare(0, 15, "access-control-") != 0) return false;
    for (std::string_view owned : kOwnedFields) {
      if (h.name == owned) return true;
    }
    return false;
  });
  if (options_.any_origin) {
    head.headers.Add("access-control-allow-origin", "*");
  } else {
    head.headers.Add("access-control-allow-origin", *origin);
    // The answer depends on the Origin: caches must key on it.
    if (!VaryCovers(head.headers, "origin")) head.headers.Add("vary", "Origin");
  }
  if (options_.allow_credentials) head.headers.Add("access-control-allow-credentials", "true");
  if (!options_.allow_methods.empty()) head.headers.Add("access-control-allow-methods", options_.allow_methods);
  if (!options_.allow_headers.empty()) head.headers.Add("access-control-allow-headers", options_.allow_headers);
  if (!options_.expose_headers.empty()) head.headers.Add("access-control-expose-headers", options_.expose_headers);
  if (!options_.max_age.empty()) head.headers.Add("access-control-max-age", options_.max_age);
  return Verdict::kContinue;
}

}  // namespace sluice::pipeline
