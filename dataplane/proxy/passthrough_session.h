#pragma once
// A TLS connection passed through, not terminated (TLS passthrough,
// v1::VirtualHost.tls_passthrough): its ClientHello named a passthrough host
// (TlsHandshakeSession peeked at it), so every byte the client sent, the
// ClientHello included, goes to an endpoint of that host's cluster and every
// byte the endpoint sends comes back. The proxy sees no plaintext: no HTTP,
// no stages, only TCP.
//
//  - The endpoint: the balancer's pick for the host's first route (its
//    load-balancing policy), connected within the connect timeout; a failed
//    or timed-out connect tries the next endpoint (at most kMaxConnectTries
//    tries), then the client is closed.
//  - Backpressure: one fixed buffer each way (kBufferBytes). A full buffer
//    stops reading from its source until the destination took it, so a slow
//    reader slows the writer down through TCP; memory never grows.
//  - Half-close: EOF from one side is passed on (shutdown(SHUT_WR)) once its
//    buffer is flushed; the other direction goes on until it ends too. A
//    reset or an error on either side closes both.
//  - Idle timeout: nothing moved either way for this long closes both.
//  - One access-log line when it ends (method "PASSTHROUGH", host = SNI,
//    bytes_in = client -> backend, bytes_out = backend -> client), and the
//    worker's passthrough counters (/metrics).
// Drain does not cut a spliced connection (nothing in it can be told to
// stop); the drain deadline does (SayGoingAway): what is buffered either
// way is written out as far as the sockets take it, both sides get a FIN,
// and the access-log line says "drain deadline".
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/net/event_loop.h"
#include "dataplane/proxy/downstream.h"
#include "dataplane/proxy/session.h"
#include "dataplane/proxy/worker_context.h"

namespace sluice::proxy {

class PassthroughSession : public Session {
 public:
  static constexpr size_t kBufferBytes = 32 * 1024;
  static constexpr int kMaxConnectTries = 5;

  // Takes ownership of `fd`, registered on the loop (edge-triggered, in and
  // out) by the session it replaces. `host` lives in `snapshot`.
  PassthroughSession(WorkerContext* ctx, int fd, ClientInfo client,
                     std::shared_ptr<const snapshot::CompiledSnapshot> snapshot,
                     const snapshot::CompiledVirtualHost* host, std::string server_name, SessionOwner* owner);
  ~PassthroughSession() override;

  void Start() override;
  void Drain() override {}
  void SayGoingAway() override;
  void CloseIfIdleSince(net::Clock::time_point) override {}  // the idle timer governs
  void OnIoEvents(uint32_t events) override;                  // the client's socket

 private:
  class UpstreamHandler : public net::IoHandler {
   public:
    explicit UpstreamHandler(PassthroughSession* session) : session_(session) {}
    void OnIoEvents(uint32_t events) override { session_->OnUpstreamEvents(events); }

   private:
    PassthroughSession* session_;
  };
  struct Direction {
    std::unique_ptr<char[]> buffer;
    size_t begin = 0, end = 0;  // unsent bytes: [begin, end)
    bool eof = false;           // the source said EOF
    bool shut = false;          // EOF passed on to the destination
    uint64_t bytes = 0;         // delivered to the destination
  };

  void Connect();
  void OnUpstreamEvents(uint32_t events);
  void ConnectFailed(const char* why);
  void Connected();
  // Moves what it can from `from` to `to` through `d`; false on an error
  // that ends the connection.
  bool Pump(Direction& d, int from, int to);
  void PumpBoth();
  void ArmIdleTimer(std::chrono::milliseconds delay);
  void Close(const char* error);
  void CloseUpstreamFd();

  WorkerContext* ctx_;
  int fd_;
  int upstream_fd_ = -1;
  ClientInfo client_;
  std::shared_ptr<const snapshot::CompiledSnapshot> snapshot_;
  const snapshot::CompiledVirtualHost* host_;
  std::string server_name_;
  SessionOwner* owner_;
  UpstreamHandler upstream_handler_{this};
  std::vector<const snapshot::CompiledEndpoint*> tried_;
  const snapshot::CompiledEndpoint* endpoint_ = nullptr;
  std::string upstream_addresses_;  // every endpoint tried, for the log
  Direction to_upstream_, to_client_;
  net::EventLoop::TimerId connect_timer_ = 0;
  net::EventLoop::TimerId idle_timer_ = 0;
  std::chrono::milliseconds idle_timeout_;
  net::Clock::time_point last_activity_;
  std::chrono::system_clock::time_point start_wall_;
  net::Clock::time_point start_;
  bool connected_ = false;
  bool closed_ = false;
};

}  // namespace sluice::proxy
