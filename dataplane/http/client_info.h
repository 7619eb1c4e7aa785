#pragma once
// What the proxy knows of the client connection a request came on, for every
// stage that needs it (forwarding headers, HSTS, redirects, access control,
// limits, logging).
//
// `ip`/`address` are the REAL client: the PROXY protocol header's source on
// a --proxy-protocol listener, else the TCP peer; per request, the
// real_client stage replaces them with the client a trusted proxy named in
// X-Forwarded-For (ExchangeState::client then points at its own copy).
// Every stage keys on these; `peer_ip` keeps the TCP peer for the log.
#include <string>
#include <string_view>

#include "base/ip_prefix.h"

namespace sluice::http {

struct ClientInfo {
  std::string ip;                     // the real client's address, without port
  IpAddress address;                  // the same, parsed (what lists and limits match)
  std::string peer_ip;                // the TCP peer when it is not the client (a balancer, a proxy); else empty
  std::string_view scheme = "http";   // a literal: "http" or "https" (over TLS)
  bool secure() const { return scheme.size() == 5; }  // "https"

  // A client at `address` (`ip` is its one spelling: IPv4 dotted even when
  // it arrived IPv4-mapped on a dual-stack socket).
  static ClientInfo At(const IpAddress& address, std::string_view scheme = "http") {
    ClientInfo client;
    client.ip = address.ToString();
    client.address = address;
    client.scheme = scheme;
    return client;
  }
};

}  // namespace sluice::http
