#pragma once
// An accepted connection on a --proxy-protocol listener until its PROXY
// protocol header (v1 or v2) is read: the header names the real client,
// which the connection limits, every stage and the access log then see.
// Strict: bytes that cannot start a header, an invalid header, or no
// complete header within the client header timeout close the connection
// (there is no HTTP to answer with: a balancer that should send one is
// misconfigured, and a client that bypasses it must not choose its own
// address). LOCAL (v2) and UNKNOWN (v1) keep the peer's address.
//
// The header is read with MSG_PEEK and then exactly its own bytes are
// taken off the socket, so whatever follows (a TLS ClientHello, a request)
// stays queued for the session that takes over.
#include <string>

#include "dataplane/net/event_loop.h"
#include "dataplane/proxy/downstream.h"
#include "dataplane/proxy/session.h"
#include "dataplane/proxy/worker_context.h"

namespace sluice::proxy {

// Who starts the connection's real session once the header named the
// client (the worker: it applies the connection limits to that client).
class ProxiedConnectionStarter {
 public:
  virtual ~ProxiedConnectionStarter() = default;
  // Takes `fd` (unregistered from the loop) and replaces `header_session`
  // with the connection's session; false when the client is refused (the
  // fd is then still the header session's, which closes it).
  virtual bool StartProxiedConnection(Session* header_session, int fd, ClientInfo client, bool tls) = 0;
};

class ProxyHeaderSession : public Session {
 public:
  // Takes ownership of the accepted socket `fd`; `peer` is its TCP peer.
  ProxyHeaderSession(WorkerContext* ctx, int fd, const IpAddress& peer, bool tls, SessionOwner* owner,
                     ProxiedConnectionStarter* starter);
  ~ProxyHeaderSession() override;

  void Start() override;
  void Drain() override {}  // a header in progress may finish; its session then drains
  void CloseIfIdleSince(net::Clock::time_point) override {}  // the header timer governs
  void OnIoEvents(uint32_t events) override;

 private:
  void TryRead();
  void Close();

  WorkerContext* ctx_;
  int fd_;
  IpAddress peer_;
  bool tls_;
  SessionOwner* owner_;
  ProxiedConnectionStarter* starter_;
  net::EventLoop::TimerId timer_ = 0;
  bool closed_ = false;
};

}  // namespace sluice::proxy
