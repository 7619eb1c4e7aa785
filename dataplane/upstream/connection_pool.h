#pragma once
// Upstream connections and the per-worker pool of idle keep-alive ones,
// keyed by the endpoint's stable name ("ip:port") so the pool survives
// snapshot swaps that keep the endpoint. Only connections whose previous
// response was read completely are released into it (the caller's duty).
//
// A connection is registered with epoll once, for its whole life, and
// forwards events to whoever holds it (an exchange, or the pool while idle):
// taking and releasing a pooled connection costs no epoll_ctl.
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "dataplane/net/event_loop.h"
#include "dataplane/net/transport.h"
#include "dataplane/tls/tls_transport.h"

namespace sluice::upstream {

class ConnectionPool;

class UpstreamConnection : public net::IoHandler {
 public:
  // Takes ownership of the connected (or connecting) socket `fd` and
  // registers it with `loop` for reading and writing, edge-triggered. All
  // I/O goes through transport(): plain TCP by default, or `tls` (client
  // side, over `fd`) whose handshake ContinueHandshake() drives.
  UpstreamConnection(net::EventLoop* loop, int fd, std::string endpoint_key,
                     std::unique_ptr<tls::TlsTransport> tls = nullptr);
  ~UpstreamConnection() override;

  int fd() const { return fd_; }
  net::Transport& transport() { return *transport_; }
  enum class Handshake { kDone, kPending, kFailed };
  // Plain TCP: kDone at once. TLS: as far as the socket allows; call again
  // on the next event while kPending.
  Handshake ContinueHandshake();
  // Why the TLS handshake failed (certificate verification, protocol).
  std::string handshake_error() const;
  const std::string& endpoint_key() const { return endpoint_key_; }
  // Where events go while an exchange uses the connection.
  void set_owner(net::IoHandler* owner) { owner_ = owner; }
  // Closes the socket now; events already queued for it are ignored. The
  // object itself must still be freed through EventLoop::DeleteLater.
  void Close();

  void OnIoEvents(uint32_t events) override;

 private:
  friend class ConnectionPool;
  net::EventLoop* loop_;
  int fd_;
  std::unique_ptr<net::Transport> transport_;
  tls::TlsTransport* tls_ = nullptr;  // transport_ when it is TLS
  bool handshake_done_ = false;
  std::string endpoint_key_;
  net::IoHandler* owner_ = nullptr;
  ConnectionPool* idle_in_ = nullptr;  // set while parked in a pool
  net::Clock::time_point idle_since_{};
};

class ConnectionPool {
 public:
  ConnectionPool(net::EventLoop* loop, size_t max_idle_per_endpoint, std::chrono::milliseconds idle_timeout);
  ~ConnectionPool();

  // The most recently used idle connection to `endpoint_key`, or null. The
  // caller sets itself as owner.
  std::unique_ptr<UpstreamConnection> TakeIdle(const std::string& endpoint_key);
  // Parks a healthy keep-alive connection; closes it when the endpoint's idle
  // list is full.
  void Release(std::unique_ptr<UpstreamConnection> connection);
  // Closes and frees a connection that cannot be reused.
  void Discard(std::unique_ptr<UpstreamConnection> connection);
  size_t idle_count() const { return idle_total_; }
  void CloseAll();

 private:
  friend class UpstreamConnection;
  // Any event on an idle connection means the server closed it (or sent
  // bytes nobody asked for): drop it.
  void OnIdleEvent(UpstreamConnection* connection);
  void Sweep();

  net::EventLoop* loop_;
  size_t max_idle_per_endpoint_;
  std::chrono::milliseconds idle_timeout_;
  using IdleList = std::deque<std::unique_ptr<UpstreamConnection>>;
  // The idle list of `endpoint_key`; with `create`, made when missing
  // (else null then).
  IdleList* ListFor(const std::string& endpoint_key, bool create);

  std::unordered_map<std::string, IdleList> idle_;
  // The list used last and its key: nearly every request goes to the
  // endpoint of the one before (one endpoint, or a few in turn), and a
  // compare of the key is a fraction of hashing it twice a request (~250
  // instructions per proxied request in callgrind). Elements of an
  // unordered_map stay where they are until erased: Sweep and CloseAll,
  // which erase, forget it.
  const std::string* last_key_ = nullptr;
  IdleList* last_list_ = nullptr;
  size_t idle_total_ = 0;
  net::EventLoop::TimerId sweep_timer_ = 0;
};

}  // namespace sluice::upstream
