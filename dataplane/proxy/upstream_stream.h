#pragma once
// One try of a request on one upstream endpoint, whatever the upstream's
// protocol: Http1Upstream (a connection of its own, pooled keep-alive) or
// Http2Upstream (a stream on a multiplexed connection). Both emit the same
// protocol-neutral events to the exchange, so response handling, retries
// and the response stages exist once.
//
// A stream reports at most one of OnUpstreamEnd / OnUpstreamError, after
// which it has let go of its connection and reports nothing more. The
// exchange never deletes a stream from inside one of its callbacks: it
// hands it to EventLoop::DeleteLater (a stream is an IoHandler for that).
#include <chrono>
#include <string_view>

#include "dataplane/http/message.h"
#include "dataplane/http1/parser.h"
#include "dataplane/net/event_loop.h"
#include "dataplane/pipeline/exchange_state.h"
#include "dataplane/pipeline/proxy_error.h"
#include "dataplane/snapshot/compiled_snapshot.h"

namespace sluice::proxy {

// What a try sends and how long it may take.
struct UpstreamRequest {
  // The request after the request stages: method, path, authority, the
  // end-to-end fields, the added fields, te_trailers. Lives for the exchange.
  const pipeline::ExchangeState* state = nullptr;
  // The request body as the client frames it (no body, a length, or
  // unknown: chunked towards HTTP/1.1 upstreams).
  http1::BodyFraming framing;
  // HTTP/1.1 only: the client asked to switch to this protocol (WebSocket).
  std::string_view upgrade;
  // pipeline::ResponseFieldHint bits of the route's chain: fields the
  // parser may leave out of the response head.
  uint32_t response_field_hints = 0;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds response_timeout{60000};  // to the response head (per try)
  std::chrono::milliseconds idle_timeout{60000};      // between response reads, and in a tunnel
  // While the client, not the upstream, is slow (the response is paused
  // on a full client buffer), the upstream timeout waits this much longer.
  std::chrono::milliseconds paused_grace{60000};
};

class UpstreamEvents {
 public:
  virtual ~UpstreamEvents() = default;
  // The final response head (interim 1xx responses are skipped; a 101 opens
  // a tunnel: then body events carry raw bytes). `end_stream`: no body
  // follows (OnUpstreamEnd still comes).
  virtual void OnUpstreamHead(http::ResponseHead&& head, bool end_stream) = 0;
  virtual void OnUpstreamBody(std::string_view data) = 0;
  // The end of a batch of events: write to the client, and PauseResponse()
  // while the client cannot take more.
  virtual void OnUpstreamFlush() = 0;
  // The response is complete; `trailers` null or non-empty.
  virtual void OnUpstreamEnd(const http::HeaderMap* trailers) = 0;
  virtual void OnUpstreamError(pipeline::ProxyError error) = 0;
  // The request body buffer towards the upstream drained: read more from the client.
  virtual void OnUpstreamRequestWritable() = 0;
};

class UpstreamStream : public net::IoHandler {
 public:
  // Connects to `endpoint` (or takes an idle pooled connection when
  // `allow_pooled`) and sends the request head. May report an error before
  // it returns.
  virtual void Start(const snapshot::CompiledEndpoint& endpoint, bool allow_pooled) = 0;
  // Request body bytes as received from the client (framing is the stream's).
  // In a tunnel: raw bytes.
  virtual void SendBody(std::string_view data) = 0;
  // The request is complete (`trailers`: null or the forwardable ones). In a
  // tunnel: the client half-closed, passed on once what is buffered is written.
  virtual void SendEnd(const http::HeaderMap* trailers) = 0;
  // Too much request body buffered: the client codec stops reading.
  virtual bool BodyFull() const = 0;
  virtual void PauseResponse() = 0;
  virtual void ResumeResponse() = 0;
  // The try used a pooled connection (for the stale-connection replay).
  virtual bool reused_connection() const = 0;
  // The stream is no longer wanted: no more events; an unfinished response
  // closes (HTTP/1.1) or cancels (HTTP/2) its stream. Idempotent.
  virtual void Cancel() = 0;
  void OnIoEvents(uint32_t) override {}
};

}  // namespace sluice::proxy
