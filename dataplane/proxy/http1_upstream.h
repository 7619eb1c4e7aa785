#pragma once
// A try over HTTP/1.1: a pooled keep-alive connection or a new one (TLS
// when the cluster re-encrypts), the request head written straight from the
// request stages' result, the body framed as the client framed it (or
// chunked when its length is unknown), the response parsed incrementally
// and its body decoded and handed on as it arrives, with backpressure both
// ways. After a 101 the connection is a raw byte tunnel.
#include <memory>
#include <optional>
#include <string>

#include "dataplane/net/buffer.h"
#include "dataplane/proxy/deadline_list.h"
#include "dataplane/proxy/upstream_stream.h"
#include "dataplane/proxy/worker_context.h"

namespace sluice::proxy {

class Http1Upstream final : public UpstreamStream, private MovingDeadline {
 public:
  Http1Upstream(WorkerContext* ctx, UpstreamEvents* events, const UpstreamRequest& request);
  ~Http1Upstream() override;
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
  void OnIoEvents(uint32_t events) override;

 private:
  void SerializeHead();
  void Write();
  void Read();
  void Process();
  // True when a head (interim or final) was consumed.
  bool ProcessHead();
  void RelayTunnel();
  void Complete();
  void Fail(pipeline::ErrorCode code, std::string_view message);
  void Release(bool reusable);
  void OnDeadline() override;

  WorkerContext* ctx_;
  UpstreamEvents* events_;
  UpstreamRequest request_;
  const snapshot::CompiledEndpoint* endpoint_ = nullptr;
  std::unique_ptr<upstream::UpstreamConnection> conn_;
  net::Buffer out_;
  net::Buffer in_;
  http1::ResponseHeadParser parser_;  // incremental: never rescans a line
  std::optional<http1::BodyDecoder> decoder_;
  bool reused_ = false;
  bool connecting_ = false;        // TCP connect, then the TLS handshake when re-encrypting
  bool tcp_connected_ = false;
  bool connect_timer_ = false;     // the armed timeout is the connect one
  bool request_complete_ = false;
  bool head_received_ = false;
  bool eof_ = false;
  bool end_signalled_ = false;     // epoll reported RDHUP/HUP/ERR: read until EOF
  bool wants_close_ = false;
  bool paused_ = false;
  bool tunnel_ = false;
  bool client_eof_ = false;        // tunnel: the client half-closed
  bool shut_ = false;              // tunnel: we half-closed towards the upstream
  bool finished_ = false;          // reported its end or error, or cancelled
};

}  // namespace sluice::proxy
