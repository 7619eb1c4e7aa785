#pragma once
// What a worker knows of a downstream connection, whatever its protocol
// (HTTP/1.1, HTTP/2, a TLS handshake still in progress): it can be started,
// drained and swept when idle, and it tells its owner once when it is done.
#include "dataplane/connlimit/connection_limits.h"
#include "dataplane/net/event_loop.h"

namespace sluice::proxy {

class Session;

// Who owns the sessions (the worker): told once when a session is finished
// with its socket, and frees it with DeleteLater.
class SessionOwner {
 public:
  virtual ~SessionOwner() = default;
  virtual void OnSessionClosed(Session* session) = 0;
  // A session hands its connection over to another (TLS handshake done ->
  // HTTP/1 or HTTP/2 codec; HTTP/1 that saw the h2c preface -> HTTP/2):
  // `successor` takes `old`'s place in the list and `old` is freed later.
  virtual void ReplaceSession(Session* old, Session* successor) = 0;
};

class Session : public net::IoHandler {
 public:
  ~Session() override = default;
  virtual void Start() = 0;
  // Stop taking new requests: close now if idle, else after what is in
  // flight (HTTP/2: GOAWAY, then finish the open streams).
  virtual void Drain() = 0;
  // Shutdown is coming, but the connection is still served: HTTP/1.1 ends
  // it after the next response (Connection: close), HTTP/2 sends the
  // GOAWAY shutdown notice (RFC 9113 §6.8) so the client opens its next
  // streams elsewhere. Nothing is closed: Drain() comes later.
  virtual void NoticeShutdown() {}
  // The drain deadline: a WebSocket tunnel says 1001 "going away" to both
  // peers before the connection is cut (Exchange::SayGoingAway).
  virtual void SayGoingAway() {}
  // Closes the connection if it has been idle since before `cutoff`. Called
  // by the owner's periodic sweep: idle connections hold no timer.
  virtual void CloseIfIdleSince(net::Clock::time_point cutoff) = 0;

  // The owner's intrusive list of sessions (no per-session map node).
  Session* prev = nullptr;
  Session* next = nullptr;
  // The connection's place under the proxy's connection limits: moved to
  // the successor by ReplaceSession, given back when the connection closes.
  connlimit::Ticket admission;
};

}  // namespace sluice::proxy
