#pragma once
// Connection-specific ("hop-by-hop") headers, RFC 9110 section 7.6.1: they
// describe one connection and must not be forwarded to the next hop.
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/http/message.h"

namespace sluice::proxy {

// True when the comma-separated Connection value lists `token`.
bool HasConnectionToken(std::string_view connection_value, std::string_view token);

// The fixed hop-by-hop names (connection, keep-alive, proxy-connection, te,
// transfer-encoding, upgrade, proxy-authenticate, proxy-authorization).
bool IsHopByHopName(std::string_view lower_name);
// Lower-cased header names listed in Connection (never host or
// content-length); empty when there is no Connection header.
std::vector<std::string> ConnectionNamedHeaders(const http::HeaderMap& headers);

// Removes connection, keep-alive, proxy-connection, te, transfer-encoding,
// upgrade, trailer-independent ones, and every header named in Connection.
void RemoveHopByHopHeaders(http::HeaderMap& headers);

// One pass over a response's headers: the hop-by-hop ones (as above), and
// optionally Server/X-Powered-By (they name the backend's software, which
// helps attackers and tells clients nothing) and Content-Length (when the
// body is re-framed).
void FilterResponseHeaders(http::HeaderMap& headers, bool hide_server, bool drop_content_length);

}  // namespace sluice::proxy
