#pragma once
// A small Kubernetes REST client over cpprestsdk: JSON requests with the
// bearer token or client certificate of a Credentials, and streamed GETs for
// watches. cpprestsdk stays out of this header (its headers are heavy): the
// API is callbacks, which run on cpprestsdk's thread pool.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "controlplane/kube/credentials.h"
#include "base/status.h"

namespace sluice::kube {

struct ApiRequest {
  std::string method = "GET";
  // Path and query, percent-encoded (see UrlEncode): "/api/v1/services?limit=500".
  std::string path;
  std::string body;
  std::string content_type = "application/json";
};

struct ApiResponse {
  int status = 0;           // HTTP status; 0 = no response (refused, TLS, timeout, cancelled)
  std::string body;         // for Stream(): the error body of a non-200 answer
  std::string error;        // why there was no (complete) response
  std::string retry_after;  // the Retry-After header, if any
  bool ok() const { return status >= 200 && status < 300; }
  // One line for logs: "HTTP 403: <Status message>" or "no response: <error>".
  std::string Describe() const;
};

struct ApiClientOptions {
  std::chrono::seconds request_timeout{30};
  // Inactivity limit of watch streams: above the longest watch timeoutSeconds,
  // so the server, not us, ends a quiet watch.
  std::chrono::seconds stream_timeout{700};
  std::string user_agent = "sluice-controller";
};

// A running Stream(); Cancel() ends it (its done callback still runs once).
class StreamHandle {
 public:
  virtual ~StreamHandle() = default;
  virtual void Cancel() = 0;
};

class ApiClient {
 public:
  // Fails (one line) on an unparsable server URL or unusable PEM data.
  static Result<std::shared_ptr<ApiClient>> Create(Credentials credentials, ApiClientOptions options = {});
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // Asynchronous; `done` runs exactly once on a pool thread. A 401 makes the
  // token source re-read its file before the next request.
  void Send(ApiRequest request, std::function<void(ApiResponse)> done);
  // Blocking. Not for pool threads (it would wait on its own pool).
  ApiResponse SendSync(ApiRequest request);

  // A GET whose 200 body is delivered as it arrives, chunk by chunk;
  // on_chunk returns false to stop reading. `done` runs exactly once, last:
  // status is the HTTP status (0: no response); for a non-200 answer body
  // holds the error body and on_chunk never ran; error is set when the body
  // broke off or was cancelled.
  std::shared_ptr<StreamHandle> Stream(ApiRequest request, std::function<bool(std::string_view chunk)> on_chunk,
                                       std::function<void(ApiResponse)> done);

  // Runs `task` on the pool after `delay` (retry timers).
  void After(std::chrono::milliseconds delay, std::function<void()> task);

  const Credentials& credentials() const;

  struct Impl;

 private:
  explicit ApiClient(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Percent-encodes everything but RFC 3986 unreserved characters, for query
// values (continue tokens, field selectors).
std::string UrlEncode(std::string_view text);

}  // namespace sluice::kube
