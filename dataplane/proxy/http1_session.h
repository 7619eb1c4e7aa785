#pragma once
// The downstream HTTP/1.1 codec for one client connection: parses requests
// strictly, drives one Exchange at a time (pipelined requests wait in the
// input buffer, so responses leave in order), frames responses, and enforces
// the client-side timeouts and limits.
#include <memory>
#include <optional>

#include "dataplane/http1/parser.h"
#include "dataplane/net/buffer.h"
#include "dataplane/net/event_loop.h"
#include "dataplane/net/transport.h"
#include "dataplane/proxy/downstream.h"
#include "dataplane/proxy/exchange.h"
#include "dataplane/proxy/session.h"
#include "dataplane/proxy/worker_context.h"

namespace sluice::proxy {

class Http1Session : public Session, public DownstreamStream {
 public:
  // All socket I/O goes through `transport` (plain TCP or TLS); the session
  // closes transport->fd() when it closes. `registered`: the previous owner
  // of the connection (a TLS handshake) left the socket registered with the
  // loop, and Start() takes that registration over instead of adding one.
  Http1Session(WorkerContext* ctx, std::unique_ptr<net::Transport> transport, ClientInfo client,
               SessionOwner* owner, bool registered = false);
  ~Http1Session() override;

  void Start() override;
  // Drain: close now if idle, else after the response in flight.
  void Drain() override;
  void NoticeShutdown() override;
  int64_t SendFileBody(int fd, uint64_t offset, size_t max) override;
  void SayGoingAway() override;
  // Closes an idle keep-alive connection whose keep-alive time is over.
  void CloseIfIdleSince(net::Clock::time_point cutoff) override;

  void OnIoEvents(uint32_t events) override;

  // DownstreamStream
  void SendResponseHead(http::ResponseHead&& head, bool end_stream) override;
  void SendResponseBody(std::string_view data) override;
  void SendResponseEnd(const http::HeaderMap* trailers) override;
  void AbortResponse() override;
  void Flush() override;
  bool OutputFull() const override;
  void ResumeRequestBody() override;
  void OnExchangeDone() override;
  void StartTunnel() override;
  const ClientInfo& client() const override { return client_; }
  uint64_t response_bytes() const override { return response_bytes_; }

 private:
  enum class State {
    kReadingHead,   // waiting for (more of) a request head
    kReadingBody,   // streaming the request body to the exchange
    kAwaitingResponse,  // request complete, response in progress
    kTunnel,        // after 101: raw bytes both ways (WebSocket, other Upgrades)
    kClosing,       // flush what is buffered, then close
    kClosed,
  };

  void ReadFromSocket();
  void EnterIdle();
  bool WantsInput() const;
  void ProcessInput();
  void ProcessBufferedRequests();
  void StartRequest(http::RequestHead head, http1::BodyFraming framing);
  void FeedRequestBody();
  bool HandOverToHttp2();
  // Answers `status` and closes. `reason` goes to the access log (never to
  // the client); `log` is false when an exchange logs the request itself.
  void SendErrorAndClose(int status, std::string_view body, std::string_view reason, bool log = true);
  void Close();
  void ArmTimer(std::chrono::milliseconds timeout);
  void OnTimer();

  WorkerContext* ctx_;
  std::unique_ptr<net::Transport> transport_;
  int fd_;
  ClientInfo client_;
  SessionOwner* owner_;
  bool registered_;  // see the constructor
  // Writes `out_` until it is empty or the socket is full; tells no one.
  enum class WriteOutcome { kWritten, kSocketFull, kClientGone };
  WriteOutcome WriteBuffered();
  // Writes `out_`, then `data` from where it lies (one sendmsg, plain TCP
  // only), until both are written or the socket is full. Returns how many
  // bytes of `data` went out, or kClientGoneWriting; tells no one.
  static constexpr size_t kClientGoneWriting = static_cast<size_t>(-1);
  size_t WriteThrough(std::string_view data);
  // The client closed: the exchange is told and the session closes.
  void ClientGone();
  State state_ = State::kReadingHead;
  net::Buffer in_;
  net::Buffer out_;
  bool peer_closed_ = false;
  bool peer_reset_ = false;
  bool end_signalled_ = false;  // epoll reported RDHUP/HUP/ERR: read until EOF
  bool keep_alive_ = true;
  bool request_http10_ = false;
  bool response_chunked_ = false;
  bool response_close_delimited_ = false;
  bool draining_ = false;
  bool processing_input_ = false;
  bool request_seen_ = false;  // h2c prior knowledge is only looked for before the first request
  uint64_t response_bytes_ = 0;  // for the current request

  http1::RequestHeadParser head_parser_;
  std::unique_ptr<http1::BodyDecoder> body_decoder_;  // only while a body streams
  bool idle_ = false;                      // keep-alive, between requests
  net::Clock::time_point idle_since_{};
  std::unique_ptr<Exchange> exchange_;
  bool exchange_paused_us_ = false;

  net::EventLoop::TimerId timer_ = 0;
  net::Clock::time_point deadline_{};
  net::Clock::time_point timer_due_{};  // when the armed timer fires
};

}  // namespace sluice::proxy
