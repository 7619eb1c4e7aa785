#pragma once
// Subrequests: an HTTP request a stage sends on its own to a cluster of the
// snapshot (an external auth service, a custom error page's default
// backend, a mirror target), without blocking the worker. The request goes
// through the worker's own upstream machinery (the balancer picks an
// endpoint of the cluster, the connection pools, Http1Upstream or
// Http2Upstream by the cluster's protocol), with one overall timeout and a
// cap on the response body kept.
//
// The callback runs on the worker's event loop, never from inside Send()
// (a stage may pause, send and call state.resumer->Resume() from the
// callback). It runs at most once; never after the Handle is destroyed, so
// a stage keeps the Handle in its StageData and the exchange's death cancels
// the subrequest (its connection is closed, or its HTTP/2 stream reset).
//
// Fire-and-forget (a mirror): Fire() sends and forgets; the client owns the
// subrequest until it completes or times out, and drops the response.
//
// This header is the only thing the pipeline sees (an interface, no
// sockets): the stages reach the worker's client through
// ExchangeState::subrequests; the implementation is WorkerClient
// (worker_client.h), one per worker.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "dataplane/http/message.h"

namespace sluice::subrequest {

struct Request {
  std::string cluster;  // a cluster name of the worker's current snapshot
  std::string method = "GET";
  std::string path = "/";  // origin form, with the query
  std::string authority;   // the Host header
  // End-to-end fields only (no Host, Content-Length, Transfer-Encoding,
  // Connection or other hop-by-hop fields: the serializers frame the request).
  http::HeaderMap headers;
  std::string body;  // sent with a Content-Length when not empty
  // From Send() to the end of the response: connect, response head and body.
  std::chrono::milliseconds timeout{5000};
  // Response body bytes kept; more are dropped and Response::truncated says so.
  size_t max_body_bytes = 64 * 1024;
};

struct Response {
  // The upstream's status; 0 when there was no response (no such cluster,
  // no endpoint, connect failure, reset, timeout): then `error` says why.
  int status = 0;
  http::HeaderMap headers;
  std::string body;
  bool truncated = false;  // the body was longer than max_body_bytes
  bool timed_out = false;  // status 0 because the timeout passed
  std::string error;
};

using Callback = std::function<void(Response&&)>;

// Destroying it cancels the subrequest (no callback afterwards).
class Handle {
 public:
  virtual ~Handle() = default;
};

class Client {
 public:
  virtual ~Client() = default;
  // Starts `request`; `done` runs once on this worker's loop. Keep the
  // Handle for as long as the answer is wanted.
  virtual std::unique_ptr<Handle> Send(Request request, Callback done) = 0;
  // Starts `request` and forgets it (no callback, no handle).
  virtual void Fire(Request request) = 0;
  // Starts `request`, owned by the client until it ends: `done` runs once
  // on this worker's loop with the answer (or the timeout), unless the
  // worker shuts down first (then `done` is destroyed without running).
  // For work that outlives the exchange that started it (a background
  // cache revalidation).
  virtual void Detach(Request request, Callback done) = 0;
};

}  // namespace sluice::subrequest
