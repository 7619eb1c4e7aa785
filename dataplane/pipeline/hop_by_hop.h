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

// A Connection value that names no field besides itself: what nearly
// every message carries ("keep-alive", "close").
inline bool NamesNoField(std::string_view connection_value) {
  return http::EqualsIgnoreCase(connection_value, "keep-alive") || http::EqualsIgnoreCase(connection_value, "close");
}

// Removes the fields named in `connection_values` (Connection values joined
// with ","; never host or content-length, which a client could otherwise
// strip to confuse us). The rare second pass of FilterHopByHop.
void RemoveConnectionNamedFields(http::HeaderMap& headers, std::string_view connection_values);

// Removes, in one pass and keeping the order, every field for which
// `drop(field)` is true, every hop-by-hop field and every field named in
// Connection (those in a second pass, only when a Connection value names
// any: one pass over the fields for nearly every message).
template <typename Drop>
void FilterHopByHop(http::HeaderMap& headers, Drop drop) {
  std::vector<http::Header>& entries = headers.mutable_entries();
  std::string named_by_connection;
  size_t kept = 0;
  const size_t count = entries.size();
  for (size_t i = 0; i < count; ++i) {
    const http::Header& h = entries[i];
    bool dropped = drop(h);  // drop sees every field (it may note some)
    if (IsHopByHopName(h.name)) {
      if (h.name.size() == 10 && h.name[0] == 'c' && !NamesNoField(h.value)) {
        named_by_connection.append(h.value).push_back(',');
      }
      dropped = true;
    }
    if (dropped) continue;
    // A kept field moves only when one before it was dropped.
    if (kept != i) entries[kept] = std::move(entries[i]);
    ++kept;
  }
  entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(kept), entries.end());
  if (!named_by_connection.empty()) RemoveConnectionNamedFields(headers, named_by_connection);
}

// The hop-by-hop fields and those named in Connection.
inline void RemoveHopByHopHeaders(http::HeaderMap& headers) {
  FilterHopByHop(headers, [](const http::Header&) { return false; });
}

}  // namespace sluice::pipeline
