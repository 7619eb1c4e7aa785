#pragma once
// A try over HTTP/2 (Cluster.protocol H2C, cleartext with prior knowledge,
// or H2, TLS with ALPN h2): the request is one stream on a multiplexed
// per-worker connection (upstream::Http2Pool). The response arrives as the
// stream's events, passed on as the same protocol-neutral events as an
// HTTP/1.1 try's; backpressure is the stream's flow-control window, which
// reopens only as the client takes the bytes.
#include <cstddef>

#include "dataplane/http2/client_connection.h"
#include "dataplane/proxy/deadline_list.h"
#include "dataplane/proxy/upstream_stream.h"
#include "dataplane/proxy/worker_context.h"

namespace sluice::proxy {

class Http2Upstream final : public UpstreamStream, private http2::ClientStreamEvents, private MovingDeadline {
 public:
  Http2Upstream(WorkerContext* ctx, UpstreamEvents* events, const UpstreamRequest& request);
  ~Http2Upstream() override;
  static void* operator new(size_t size);
  static void operator delete(void* block, size_t size) noexcept;

  void Start(const snapshot::CompiledEndpoint& endpoint, bool allow_pooled) override;
  void SendBody(std::string_view data) override;
  void SendEnd(const http::HeaderMap* trailers) override;
  bool BodyFull() const override;
  void PauseResponse() override { paused_ = true; }
  void ResumeResponse() override;
  bool reused_connection() const override { return reused_; }
  void Cancel() override;

 private:
  // http2::ClientStreamEvents.
  void OnResponseHead(http::ResponseHead head, bool end_stream) override;
  void OnResponseData(std::string_view data) override;
  void OnResponseEnd(const http::HeaderMap* trailers) override;
  void OnStreamReset(uint32_t error_code) override;
  void OnRequestWritable() override;

  // Lets go of the stream: RST_STREAM CANCEL unless it completed.
  void Detach();
  void Fail(pipeline::ErrorCode code, std::string_view message, bool stale = false);
  void OnDeadline() override;

  WorkerContext* ctx_;
  UpstreamEvents* events_;
  UpstreamRequest request_;
  upstream::Http2Upstream* conn_ = nullptr;  // valid exactly while stream_ is set
  http2::ClientStream* stream_ = nullptr;
  size_t unconsumed_ = 0;  // response bytes taken but not yet acknowledged (paused)
  bool reused_ = false;
  bool opened_ = false;     // this try opened the connection (the connect timeout applies)
  bool head_received_ = false;
  bool request_ended_ = false;
  bool paused_ = false;
  bool finished_ = false;
};

}  // namespace sluice::proxy
