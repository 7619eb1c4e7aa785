#pragma once
// The downstream HTTP/2 codec for one client connection (h2 over TLS, or
// h2c with prior knowledge handed over by Http1Session). Each stream drives
// one protocol-neutral Exchange, exactly like an HTTP/1.1 request, so every
// feature behaves the same over both protocols. The framing, HPACK and flow
// control are nghttp2's (through dataplane/http2/server_connection.h); this
// class maps its events to Exchanges, batches writes, and enforces the
// connection-level defences (rapid reset, floods, zero-window stalls).
#include <memory>
#include <string>
#include <string_view>

#include "dataplane/net/event_loop.h"
#include "dataplane/net/transport.h"
#include "dataplane/proxy/downstream.h"
#include "dataplane/proxy/session.h"
#include "dataplane/proxy/worker_context.h"

namespace sluice::proxy {

class Http2Session : public Session {
 public:
  // `already_read`: bytes the previous owner of the connection read past
  // what it used (the h2c preface and whatever followed it).
  Http2Session(WorkerContext* ctx, std::unique_ptr<net::Transport> transport, ClientInfo client, SessionOwner* owner,
               std::string_view already_read = {});
  ~Http2Session() override;

  void Start() override;
  // GOAWAY with the last stream id, finish the open streams, then close.
  void Drain() override;
  void NoticeShutdown() override;
  void CloseIfIdleSince(net::Clock::time_point cutoff) override;
  void OnIoEvents(uint32_t events) override;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::proxy
