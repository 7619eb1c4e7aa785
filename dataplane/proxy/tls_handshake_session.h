#pragma once
// An accepted HTTPS connection until its TLS handshake is done: drives the
// non-blocking handshake (SNI picks the certificate from the ServerConfig
// the connection was accepted under), bounded by the client header timeout,
// then hands the connection to an Http1Session or, when ALPN chose h2, an
// Http2Session (SessionOwner::ReplaceSession). Failed handshakes and
// timeouts just close: there is no HTTP to answer with.
#include <memory>

#include "dataplane/net/event_loop.h"
#include "dataplane/proxy/downstream.h"
#include "dataplane/proxy/session.h"
#include "dataplane/proxy/worker_context.h"
#include "dataplane/tls/server_config.h"
#include "dataplane/tls/tls_transport.h"

namespace sluice::proxy {

class TlsHandshakeSession : public Session {
 public:
  // Takes ownership of the accepted socket `fd`. `config` stays referenced
  // until the handshake ends (its SNI callback runs during it).
  TlsHandshakeSession(WorkerContext* ctx, int fd, ClientInfo client,
                      std::shared_ptr<const tls::ServerConfig> config, SessionOwner* owner);
  ~TlsHandshakeSession() override;

  void Start() override;
  void Drain() override;  // a handshake in progress may finish; its session then drains
  void CloseIfIdleSince(net::Clock::time_point) override {}  // the handshake timer governs
  void OnIoEvents(uint32_t events) override;

 private:
  void Continue();
  void HandOver();
  void Close();

  WorkerContext* ctx_;
  int fd_;
  ClientInfo client_;
  std::shared_ptr<const tls::ServerConfig> config_;
  SessionOwner* owner_;
  std::unique_ptr<tls::TlsTransport> transport_;
  net::EventLoop::TimerId timer_ = 0;
  bool draining_ = false;
  bool closed_ = false;
};

// Label values of WorkerStats::tls_handshakes_by_version and
// tls_failures_by_reason, by index.
const char* TlsVersionName(size_t index);
const char* TlsFailureReasonName(size_t index);

}  // namespace sluice::proxy
