#include "dataplane/proxy/hop_by_hop.h"

#include <string>
#include <vector>

namespace sluice::proxy {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <typename Fn>
void ForEachToken(std::string_view value, Fn fn) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view token = Trim(value.substr(0, comma));
    if (!token.empty()) fn(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

bool HasConnectionToken(std::string_view connection_value, std::string_view token) {
  bool found = false;
  ForEachToken(connection_value, [&](std::string_view t) { found = found || http::EqualsIgnoreCase(t, token); });
  return found;
}

void RemoveHopByHopHeaders(http::HeaderMap& headers) {
  std::vector<std::string> named;
  for (const http::Header& h : headers.entries()) {
    if (h.name != "connection") continue;
    ForEachToken(h.value, [&](std::string_view t) {
      std::string lower(t);
      for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      named.push_back(std::move(lower));
    });
  }
  headers.RemoveIf([&](const http::Header& h) {
    if (h.name == "connection" || h.name == "keep-alive" || h.name == "proxy-connection" || h.name == "te" ||
        h.name == "transfer-encoding" || h.name == "upgrade" || h.name == "proxy-authenticate" ||
        h.name == "proxy-authorization") {
      return true;
    }
    for (const std::string& n : named) {
      if (h.name == n && n != "host" && n != "content-length") return true;
    }
    return false;
  });
}

void RemoveServerHeaders(http::HeaderMap& headers) {
  headers.RemoveIf([](const http::Header& h) { return h.name == "server" || h.name == "x-powered-by"; });
}

}  // namespace sluice::proxy
