#pragma once
// Connection-specific ("hop-by-hop") headers, RFC 9110 section 7.6.1: they
// describe one connection and must not be forwarded to the next hop. The
// request-headers and response-headers stages both filter with this one
// table.
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/http/message.h"

namespace sluice::pipeline {

// True when the comma-separated Connection value lists `token`.
bool HasConnectionToken(std::string_view connection_value, std::string_view token);

// The fixed hop-by-hop names (connection, keep-alive, proxy-connection, te,
// transfer-encoding, upgrade, proxy-authenticate, proxy-authorization).
// Inline: it runs for every field of every request and response.
inline bool IsHopByHopName(std::string_view n) {
  switch (n.size()) {  // by length first
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

// Lower-cased header names listed in Connection (never host or
// content-length, which a client could otherwise strip to confuse us);
// empty when no Connection value names a header (the usual "keep-alive" or
// "close" costs a compare, no allocation).
std::vector<std::string> ConnectionNamedHeaders(const http::HeaderMap& headers);

// Removes, in one pass and keeping the order, every field for which
// `drop(field)` is true, every hop-by-hop field and every field named in
// Connection.
template <typename Drop>
void FilterHopByHop(http::HeaderMap& headers, Drop drop) {
  std::vector<http::Header>& entries = headers.mutable_entries();
  std::vector<std::string> named = ConnectionNamedHeaders(headers);
  size_t kept = 0;
  const size_t count = entries.size();
  for (size_t i = 0; i < count; ++i) {
    const http::Header& h = entries[i];
    bool dropped = drop(h) || IsHopByHopName(h.name);  // drop sees every field (it may note some)
    for (size_t k = 0; !dropped && k < named.size(); ++k) dropped = h.name == named[k];
    if (dropped) continue;
    // A kept field moves only when one before it was dropped.
    if (kept != i) entries[kept] = std::move(entries[i]);
    ++kept;
  }
  entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(kept), entries.end());
}

// The hop-by-hop fields and those named in Connection.
inline void RemoveHopByHopHeaders(http::HeaderMap& headers) {
  FilterHopByHop(headers, [](const http::Header&) { return false; });
}

}  // namespace sluice::pipeline
