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

// The fixed hop-by-hop names, by length first: this runs for every header
// of every request and response.
bool IsHopByHopName(std::string_view n) {
  switch (n.size()) {
    case 2: return n == "te";
    case 7: return n == "upgrade";
    case 10: return n == "connection" || n == "keep-alive";
    case 16: return n == "proxy-connection";
    case 17: return n == "transfer-encoding";
    case 18: return n == "proxy-authenticate";
    case 19: return n == "proxy-authorization";
    default: return false;
  }
}

std::vector<std::string> ConnectionNamedHeaders(const http::HeaderMap& headers) {
  // Headers named in Connection are hop-by-hop too (never Host or
  // Content-Length, which a client could otherwise strip to confuse us).
  std::vector<std::string> named;
  for (const http::Header& h : headers.entries()) {
    if (h.name.size() != 10 || h.name != "connection") continue;
    ForEachToken(h.value, [&](std::string_view t) {
      // The usual tokens name no header: no copy for them (every response).
      if (http::EqualsIgnoreCase(t, "keep-alive") || http::EqualsIgnoreCase(t, "close")) return;
      std::string lower(t);
      for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      if (lower != "host" && lower != "content-length" && lower != "close" && lower != "keep-alive") {
        named.push_back(std::move(lower));
      }
    });
  }
  return named;
}

void RemoveHopByHopHeaders(http::HeaderMap& headers) { FilterResponseHeaders(headers, false, false); }

namespace {

// A Connection value that names no header: what nearly every message has.
bool NamesNoHeader(std::string_view connection_value) {
  return http::EqualsIgnoreCase(connection_value, "keep-alive") || http::EqualsIgnoreCase(connection_value, "close");
}

}  // namespace

void FilterResponseHeaders(http::HeaderMap& headers, bool hide_server, bool drop_content_length) {
  std::vector<http::Header>& entries = headers.mutable_entries();
  // The list of Connection-named headers is built only when some
  // Connection value may name one (rare); the usual "keep-alive" or
  // "close" costs a compare.
  std::vector<std::string> named;
  for (const http::Header& h : entries) {
    if (h.name.size() == 10 && h.name == "connection" && !NamesNoHeader(h.value)) {
      named = ConnectionNamedHeaders(headers);
      break;
    }
  }
  auto drop = [&](const http::Header& h) {
    const std::string& n = h.name;
    switch (n.size()) {  // one switch for the fixed names, by length
      case 2: if (n == "te") return true; break;
      case 6: if (hide_server && n == "server") return true; break;
      case 7: if (n == "upgrade") return true; break;
      case 10: if (n == "connection" || n == "keep-alive") return true; break;
      case 12: if (hide_server && n == "x-powered-by") return true; break;
      case 14: if (drop_content_length && n == "content-length") return true; break;
      case 16: if (n == "proxy-connection") return true; break;
      case 17: if (n == "transfer-encoding") return true; break;
      case 18: if (n == "proxy-authenticate") return true; break;
      case 19: if (n == "proxy-authorization") return true; break;
    }
    for (const std::string& listed : named) {
      if (n == listed) return true;
    }
    return false;
  };
  // In place, keeping the order; a kept field moves only when one before
  // it was dropped.
  size_t kept = 0;
  const size_t count = entries.size();
  for (size_t i = 0; i < count; ++i) {
    if (drop(entries[i])) continue;
    if (kept != i) entries[kept] = std::move(entries[i]);
    ++kept;
  }
  entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(kept), entries.end());
}

}  // namespace sluice::proxy
