#pragma once
// What the proxy knows of the client connection a request came on, for every
// stage that needs it (forwarding headers, HSTS, redirects, logging).
#include <string>
#include <string_view>

namespace sluice::http {

struct ClientInfo {
  std::string ip;                     // peer address without port
  std::string_view scheme = "http";   // a literal: "http" or "https" (over TLS)
  bool secure() const { return scheme.size() == 5; }  // "https"
};

}  // namespace sluice::http
