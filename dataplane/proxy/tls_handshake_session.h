#pragma once
// An accepted HTTPS connection until its TLS handshake is done. When the
// snapshot has TLS passthrough hosts, it first peeks (MSG_PEEK, nothing
// consumed) at the ClientHello, within the same timeout, and a server name
// naming such a host hands the connection to a PassthroughSession instead
// (after the PROXY protocol header when the listener has one: that session
// comes first and starts this one). Otherwise it drives the
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
  void Peek();
  void StartHandshake();
  void HandOverToPassthrough(std::shared_ptr<const snapshot::CompiledSnapshot> snapshot,
                             const snapshot::CompiledVirtualHost* host, std::string server_name);
  void Continue();
  void HandOver();
  void Close();

  WorkerContext* ctx_;
  int fd_;
  ClientInfo client_;
  std::shared_ptr<const tls::ServerConfig> config_;
  SessionOwner* owner_;
  std::unique_ptr<tls::TlsTransport> transport_;  // null while peeking
  // Set while peeking at the ClientHello (the snapshot had passthrough hosts).
  std::shared_ptr<const snapshot::CompiledSnapshot> passthrough_snapshot_;
  net::EventLoop::TimerId timer_ = 0;
  bool draining_ = false;
  bool closed_ = false;
};

// Label values of WorkerStats::tls_handshakes_by_version and
// tls_failures_by_reason, by index.
const char* TlsVersionName(size_t index);
const char* TlsFailureReasonName(size_t index);

}  // namespace sluice::proxy
