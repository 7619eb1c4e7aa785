#pragma once
// The one error type of the request path. An error knows where it came from,
// what it was (a code the retry logic and the local reply read), whether the
// request may have reached a backend (what decides if any method may be
// retried), and owns its message: nothing in an exchange points into a
// temporary (a StatusOr's or a parser's message used to be kept as a
// `const char*` and read by the access log after it was freed).
#include <string>
#include <string_view>

namespace sluice::pipeline {

enum class ErrorSource : uint8_t {
  kNone,
  kDownstream,  // the client: bad request body, client timeout, client gone
  kUpstream,    // the backend: connect, timeout, reset, malformed response
  kProxy,       // this proxy's own decision: no route, no endpoint, a limit
};

enum class ErrorCode : uint8_t {
  kNone,
  // Upstream.
  kConnectFailed,     // TCP connect or TLS handshake failed: nothing was sent
  kConnectTimeout,    // no connection within the connect timeout: nothing was sent
  kResponseTimeout,   // no response head within the (per-try) response timeout
  kIdleTimeout,       // the response stalled mid-body
  kTunnelIdleTimeout, // an Upgrade tunnel was idle too long
  kReset,             // the connection closed or reset before the response completed
  kBadResponse,       // the response does not parse or is not allowed
  kStatus5xx,         // answered 502/503/504 (the cause of a retry, in the log)
  // Downstream.
  kBadRequestBody,
  kClientTimeout,
  kClientGone,
  // Proxy decisions (local replies).
  kNoConfiguration,
  kNoRoute,
  kNoEndpoint,
  kRedirect,
  kBodyTooLarge,
  kRefused,           // a stage refused the request (access control, WAF, rate limit)
  kTransformFailed,   // a response body transform (compression) failed: the response is cut short
};

struct ProxyError {
  ErrorSource source = ErrorSource::kNone;
  ErrorCode code = ErrorCode::kNone;
  std::string message;  // short, for the access log; never sent to clients as is
  // The connection this try used came from the idle pool and died before a
  // single response byte: the backend closed it while we picked it, so the
  // request never reached it (replayed on a fresh connection, not a retry).
  bool stale_pooled_connection = false;

  bool ok() const { return code == ErrorCode::kNone; }
  // Nothing of the request reached a backend: any method may be sent again.
  bool NothingSent() const { return code == ErrorCode::kConnectFailed || code == ErrorCode::kConnectTimeout; }

  static ProxyError Upstream(ErrorCode code, std::string_view message) {
    return ProxyError{ErrorSource::kUpstream, code, std::string(message)};
  }
  static ProxyError Proxy(ErrorCode code, std::string_view message) {
    return ProxyError{ErrorSource::kProxy, code, std::string(message)};
  }
  static ProxyError Downstream(ErrorCode code, std::string_view message) {
    return ProxyError{ErrorSource::kDownstream, code, std::string(message)};
  }
};

// The HTTP status the proxy answers an upstream error with, before any
// response byte went to the client: 504 for timeouts, 502 otherwise.
int StatusForUpstreamError(ErrorCode code);

}  // namespace sluice::pipeline
