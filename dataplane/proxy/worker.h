#pragma once
// One worker: a thread with its own event loop, its own SO_REUSEPORT
// listener (the kernel spreads connections across workers), and every
// connection it accepts for that connection's whole life. Snapshots arrive
// by Post() and are swapped on the worker's own loop: no lock on the
// per-request path.
#include <atomic>
#include <memory>
#include <thread>
#include <unordered_map>

#include "base/status.h"
#include "dataplane/net/event_loop.h"
#include "dataplane/mirror/mirror_sender.h"
#include "dataplane/net/socket.h"
#include "dataplane/pipeline/io_pool.h"
#include "dataplane/proxy/http1_session.h"
#include "dataplane/proxy/proxy_header_session.h"
#include "dataplane/proxy/worker_context.h"

namespace sluice::proxy {

class Worker : private SessionOwner, private ProxiedConnectionStarter {
 public:
  // `access_log` may be null (access log off); otherwise this worker logs
  // through its own writer, flushed from a timer on its loop.
  Worker(int index, const ProxyConfig* config, accesslog::AccessLog* access_log = nullptr);
  ~Worker();

  // Opens this worker's listener on `address` (SO_REUSEPORT). Called before
  // Start() so that a bad address fails the process at once.
  // `proxy_protocol`: every connection starts with a PROXY protocol header
  // naming the real client (strict: closed without one).
  Status Listen(const net::Address& address, bool proxy_protocol = false);
  // The same for HTTPS: connections start with a TLS handshake. The
  // certificates are the current snapshot's (CompiledSnapshot::server_tls);
  // `initial` serves until a snapshot brings some (default certificate).
  Status ListenTls(const net::Address& address, std::shared_ptr<const tls::ServerConfig> initial,
                   bool proxy_protocol = false);
  void Start();
  // Thread-safe: the worker swaps to `snapshot` on its own loop.
  void SetSnapshot(std::shared_ptr<const snapshot::CompiledSnapshot> snapshot);
  // Thread-safe: the first phase of a shutdown. Keep accepting (a load
  // balancer may still send new connections for a while), but move the
  // clients away: see Session::NoticeShutdown.
  void NoticeShutdown();
  // Thread-safe: the drain deadline is here; WebSocket tunnels say 1001.
  void SayGoingAway();
  // Thread-safe: stop accepting (after taking what the listen queues
  // hold), close idle connections, finish the rest.
  void Drain();
  // Thread-safe: stop the loop (after Drain and a deadline) and join.
  void Stop();

  const WorkerStats& stats() const { return ctx_.stats; }
  // Per-route and per-cluster counters (null: metrics off).
  const metrics::WorkerSeries* series() const { return ctx_.series.get(); }
  uint64_t active_connections() const { return ctx_.stats.connections_active.load(std::memory_order_relaxed); }
  // The version this worker routes new requests with (for /snapshot).
  std::string applied_version() const;

 private:
  class Listener;
  // Accepts a bounded batch from `listener` (see kMaxAcceptBatch), or up
  // to `batch` connections when it is given.
  void Accept(Listener* listener, int batch = 0);
  void PauseAccepting(Listener* listener);
  // On this worker's loop, with its first configuration: listen().
  void StartListening();
  // The connection limits for `client` (ProxyConfig::connection_limits):
  // true with `ticket` holding its place, or false (counted as refused).
  bool Admit(const ClientInfo& client, connlimit::Ticket* ticket);
  // The session a connection starts with: a TLS handshake or HTTP/1.1.
  Session* NewConnectionSession(int fd, ClientInfo client, bool tls);
  bool StartProxiedConnection(Session* header_session, int fd, ClientInfo client, bool tls) override;
  void AddSession(Session* session);
  void OnSessionClosed(Session* session) override;
  void ReplaceSession(Session* old, Session* successor) override;
  void SweepIdleSessions();
  std::chrono::milliseconds IdleSweepInterval() const;
  void FlushAccessLog();

  int index_;
  net::EventLoop loop_;
  WorkerContext ctx_;
  // Declared after ctx_: destroyed first (its copies use ctx_), after Stop()
  // freed the sessions whose exchanges may hold copies being gathered.
  std::unique_ptr<mirror::MirrorSender> mirror_;
  // This worker's way to the process's I/O pool (null: no pool).
  std::unique_ptr<pipeline::IoOffload> io_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::shared_ptr<const tls::ServerConfig> initial_tls_;
  Session* sessions_ = nullptr;  // intrusive list; the worker owns them
  std::thread thread_;
  std::chrono::milliseconds access_log_flush_interval_{100};
  mutable std::mutex version_mu_;  // admin reads only; never on the request path
  std::string applied_version_;
};

}  // namespace sluice::proxy
