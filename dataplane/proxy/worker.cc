#include "dataplane/proxy/worker.h"

#include "dataplane/subrequest/worker_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "dataplane/common/log.h"
#include "dataplane/proxy/proxy_header_session.h"
#include "dataplane/proxy/tls_handshake_session.h"

namespace sluice::proxy {

namespace {

// The listener is level-triggered: what a wakeup leaves in the queue is
// reported again by the next epoll_wait, after the other ready connections
// had their turn. A wakeup takes one connection, so connections that come
// one at a time cost one accept4 each (none that only says EAGAIN), and so
// do two at once (two clients). A listener that is ready again on the
// very next loop iteration after a full batch, twice in a row, is in a
// burst: its batch doubles on each further such wakeup, up to this.
constexpr int kMaxAcceptBatch = 32;
// Out of file descriptors (or socket memory): stop accepting this long
// rather than spin on a listener that stays readable.
constexpr std::chrono::milliseconds kAcceptPause{100};

}  // namespace

class Worker::Listener : public net::IoHandler {
 public:
  Listener(Worker* worker, int fd, net::Address address, bool tls, bool proxy_protocol)
      : worker_(worker), fd_(fd), address_(address), tls_(tls), proxy_protocol_(proxy_protocol) {}
  ~Listener() override { CloseFd(); }
  void OnIoEvents(uint32_t) override {
    if (fd_ >= 0) worker_->Accept(this);
  }
  int fd() const { return fd_; }
  const net::Address& address() const { return address_; }
  bool tls() const { return tls_; }
  bool proxy_protocol() const { return proxy_protocol_; }
  void CloseFd() {
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  int batch = 1;                      // accepts allowed per wakeup
  int streak = 0;                     // wakeups in a row right after a full batch (capped at 2)
  uint64_t full_batch_iteration = 0;  // the last loop iteration whose wakeup took a whole batch
  bool paused = false;                // unregistered until a timer (EMFILE)
  bool listening = false;             // listen() called: in the port's SO_REUSEPORT group

 private:
  Worker* worker_;
  int fd_;
  net::Address address_;
  bool tls_;
  bool proxy_protocol_;  // every connection starts with a PROXY header
};

namespace {

// Jobs on the process's I/O pool whose `done` comes back to this worker's
// loop. The loop is reached under a lock held only by pool threads and by
// the destructor (never on the request path): a job finishing after the
// worker is gone posts nothing.
class LoopIoOffload final : public pipeline::IoOffload {
 public:
  LoopIoOffload(pipeline::IoPool* pool, net::EventLoop* loop)
      : pool_(pool), target_(std::make_shared<Target>()) {
    target_->loop = loop;
  }
  ~LoopIoOffload() override {
    std::lock_guard<std::mutex> lock(target_->mu);
    target_->loop = nullptr;
  }
  bool Submit(std::function<void()> work, std::function<void()> done) override {
    return pool_->Submit([target = target_, work = std::move(work), done = std::move(done)]() mutable {
      work();
      std::lock_guard<std::mutex> lock(target->mu);
      if (target->loop != nullptr) target->loop->Post(std::move(done));
    });
  }

 private:
  struct Target {
    std::mutex mu;
    net::EventLoop* loop = nullptr;
  };
  pipeline::IoPool* pool_;
  std::shared_ptr<Target> target_;
};

}  // namespace

Worker::Worker(int index, const ProxyConfig* config, accesslog::AccessLog* access_log)
    : index_(index), ctx_(&loop_, config), mirror_(std::make_unique<mirror::MirrorSender>(&ctx_)) {
  ctx_.mirror = mirror_.get();
  if (pipeline::IoPool* pool = pipeline::IoPool::Process(); pool != nullptr) {
    io_ = std::make_unique<LoopIoOffload>(pool, &loop_);
    ctx_.io = io_.get();
  }
  ctx_.subrequests = std::make_unique<subrequest::WorkerClient>(&ctx_);
  if (access_log != nullptr) {
    ctx_.access_log = access_log->NewWriter();
    access_log_flush_interval_ = access_log->flush_interval();
  }
}

void Worker::FlushAccessLog() {
  ctx_.access_log->Flush();
  loop_.AddTimer(access_log_flush_interval_, [this] { FlushAccessLog(); });
}

Worker::~Worker() { Stop(); }

// Bound now (a bad address or a port taken by another user fails at
// start), listening only once this worker has a configuration: see
// StartListening.
Status Worker::Listen(const net::Address& address, bool proxy_protocol) {
  auto fd = net::Bind(address, /*reuse_port=*/true);
  if (!fd.ok()) return fd.status();
  listeners_.push_back(std::make_unique<Listener>(this, *fd, address, /*tls=*/false, proxy_protocol));
  return Status::Ok();
}

Status Worker::ListenTls(const net::Address& address, std::shared_ptr<const tls::ServerConfig> initial,
                         bool proxy_protocol) {
  auto fd = net::Bind(address, /*reuse_port=*/true);
  if (!fd.ok()) return fd.status();
  initial_tls_ = std::move(initial);
  listeners_.push_back(std::make_unique<Listener>(this, *fd, address, /*tls=*/true, proxy_protocol));
  return Status::Ok();
}

void Worker::Start() {
  if (ctx_.access_log) loop_.AddTimer(access_log_flush_interval_, [this] { FlushAccessLog(); });
  loop_.AddTimer(IdleSweepInterval(), [this] { SweepIdleSessions(); });
  thread_ = std::thread([this] { loop_.Run(); });
}

void Worker::SetSnapshot(std::shared_ptr<const snapshot::CompiledSnapshot> snapshot) {
  loop_.Post([this, snapshot = std::move(snapshot)]() mutable {
    const std::string version = snapshot ? snapshot->version() : "";
    ctx_.snapshot = std::move(snapshot);  // in-flight exchanges keep theirs
    // Listening before the version shows: whoever waits for it (/readyz)
    // may send connections at once.
    if (ctx_.snapshot != nullptr) StartListening();
    std::lock_guard<std::mutex> lock(version_mu_);
    applied_version_ = version;
  });
}

// The first configuration is here: join the port's listen group. Before,
// the kernel would queue connections for a worker that can only answer
// 503, and with SO_REUSEPORT a proxy starting beside a running one (a
// restart on the same node) would take its share of new connections before
// it can route them.
void Worker::StartListening() {
  if (ctx_.draining) return;
  for (auto& listener : listeners_) {
    if (listener->listening || listener->fd() < 0) continue;
    Status listening = net::StartListening(listener->fd(), listener->address());
    if (!listening.ok()) {
      log::Error("cannot listen", {{"worker", std::to_string(index_)}, {"error", listening.message()}});
      continue;
    }
    listener->listening = true;
    // Level-triggered: Accept takes a bounded batch and leaves the rest queued.
    loop_.Register(listener->fd(), listener.get(), EPOLLIN);
  }
}

std::string Worker::applied_version() const {
  std::lock_guard<std::mutex> lock(version_mu_);
  return applied_version_;
}

void Worker::NoticeShutdown() {
  loop_.Post([this] {
    ctx_.shutting_down = true;
    for (Session* s = sessions_; s != nullptr; s = s->next) s->NoticeShutdown();
  });
}

void Worker::SayGoingAway() {
  loop_.Post([this] {
    for (Session* s = sessions_; s != nullptr;) {
      Session* next = s->next;  // a passthrough session closes (and unlinks) itself
      s->SayGoingAway();
      s = next;
    }
  });
}

void Worker::Drain() {
  loop_.Post([this] {
    ctx_.draining = true;
    for (auto& listener : listeners_) {
      // Connections the kernel already completed wait in the listen queue;
      // closing the listener would reset them. Take them first (they are
      // served one request each), so a client that connected before the
      // close is answered. (Between this and the close a few microseconds
      // remain; with net.ipv4.tcp_migrate_req=1 the kernel hands even those
      // to another SO_REUSEPORT listener on the port: deploy/README.md.)
      if (listener->listening && !listener->paused) Accept(listener.get(), 1 << 16);
      if (listener->listening) loop_.Unregister(listener->fd());
      listener->CloseFd();
    }
    ctx_.pool.CloseAll();
    std::vector<Session*> sessions;
    for (Session* s = sessions_; s != nullptr; s = s->next) sessions.push_back(s);
    for (Session* session : sessions) session->Drain();
  });
}

void Worker::Stop() {
  if (!thread_.joinable()) return;
  loop_.Stop();
  thread_.join();
  while (sessions_ != nullptr) {
    Session* session = sessions_;
    sessions_ = session->next;
    delete session;
  }
  if (ctx_.access_log) ctx_.access_log->Flush();
}

void Worker::Accept(Listener* listener, int batch) {
  const int listen_fd = listener->fd();
  const bool tls = listener->tls();
  const uint64_t iteration = loop_.iteration();
  bool again = listener->full_batch_iteration != 0 && iteration == listener->full_batch_iteration + 1;
  listener->streak = again ? std::min(listener->streak + 1, 2) : 0;
  listener->batch = listener->streak < 2 ? 1 : std::min(listener->batch * 2, kMaxAcceptBatch);
  if (batch > 0) listener->batch = batch;
  for (int accepted = 0; accepted < listener->batch;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // the queue is empty
      int error = errno;
      ++accepted;  // bounded even if every accept fails
      if (error == EINTR || error == ECONNABORTED || error == EPROTO || error == EPERM) continue;  // that one is gone
      // EMFILE, ENFILE, ENOBUFS, ENOMEM: the listener stays readable, so
      // retrying now would spin. Stop accepting for a moment; the queued
      // connections wait in the kernel.
      log::Warn(error == EMFILE || error == ENFILE ? "accept failed: out of file descriptors" : "accept failed",
                {{"worker", std::to_string(index_)}, {"error", strerror(error)}});
      PauseAccepting(listener);
      return;
    }
    ++accepted;
    net::SetTcpNoDelay(fd);
    net::Address address;
    address.storage = peer;
    address.length = len;
    ctx_.stats.Count(ctx_.stats.connections_accepted);
    if (listener->proxy_protocol()) {
      // The limits wait for the header: the peer is the balancer, whose
      // address every client shares.
      ctx_.stats.Count(ctx_.stats.connections_active);
      Session* header = new ProxyHeaderSession(&ctx_, fd, address.Ip(), tls, this, this);
      AddSession(header);
      header->Start();
      continue;
    }
    ClientInfo client = ClientInfo::At(address.Ip());
    connlimit::Ticket admission;
    if (!Admit(client, &admission)) {
      close(fd);  // over a limit: closed at once, nothing read or answered
      continue;
    }
    ctx_.stats.Count(ctx_.stats.connections_active);
    Session* session = NewConnectionSession(fd, std::move(client), tls);
    session->admission = std::move(admission);
    AddSession(session);
    session->Start();
    if (ctx_.draining) session->Drain();
  }
  listener->full_batch_iteration = iteration;  // more may be queued
}

Session* Worker::NewConnectionSession(int fd, ClientInfo client, bool tls) {
  if (tls) {
    // Certificates as of this accept: a snapshot swap during the
    // handshake does not change them under it.
    const auto& current = ctx_.snapshot != nullptr && ctx_.snapshot->server_tls() != nullptr
                              ? ctx_.snapshot->server_tls()
                              : initial_tls_;
    return new TlsHandshakeSession(&ctx_, fd, std::move(client), current, this);
  }
  return new Http1Session(&ctx_, std::make_unique<net::PlainTransport>(fd), std::move(client), this);
}

bool Worker::Admit(const ClientInfo& client, connlimit::Ticket* ticket) {
  connlimit::ConnectionLimits* limits = ctx_.config->connection_limits;
  if (limits == nullptr) return true;
  auto second = std::chrono::duration_cast<std::chrono::seconds>(loop_.now().time_since_epoch()).count();
  connlimit::Refusal refusal = limits->Admit(client.address, static_cast<uint32_t>(second), ticket);
  if (refusal == connlimit::Refusal::kNone) return true;
  ctx_.stats.Count(ctx_.stats.connections_refused[static_cast<size_t>(refusal)]);
  return false;
}

bool Worker::StartProxiedConnection(Session* header_session, int fd, ClientInfo client, bool tls) {
  connlimit::Ticket admission;
  if (!Admit(client, &admission)) return false;
  Session* session = NewConnectionSession(fd, std::move(client), tls);
  session->admission = std::move(admission);
  ReplaceSession(header_session, session);
  session->Start();
  if (ctx_.draining) session->Drain();
  return true;
}

void Worker::PauseAccepting(Listener* listener) {
  if (listener->paused) return;
  listener->paused = true;
  loop_.Unregister(listener->fd());
  loop_.AddTimer(kAcceptPause, [this, listener] {
    listener->paused = false;
    if (listener->fd() >= 0 && listener->listening && !ctx_.draining) loop_.Register(listener->fd(), listener, EPOLLIN);
  });
}

void Worker::AddSession(Session* session) {
  session->next = sessions_;
  if (sessions_ != nullptr) sessions_->prev = session;
  sessions_ = session;
}

void Worker::ReplaceSession(Session* old, Session* successor) {
  if (old->admission.held()) successor->admission = std::move(old->admission);
  successor->prev = old->prev;
  successor->next = old->next;
  if (old->prev != nullptr) old->prev->next = successor;
  if (old->next != nullptr) old->next->prev = successor;
  if (sessions_ == old) sessions_ = successor;
  old->prev = old->next = nullptr;
  loop_.DeleteLater(std::unique_ptr<net::IoHandler>(old));
}

void Worker::OnSessionClosed(Session* session) {
  if (session->prev != nullptr) session->prev->next = session->next;
  if (session->next != nullptr) session->next->prev = session->prev;
  if (sessions_ == session) sessions_ = session->next;
  session->prev = session->next = nullptr;
  session->admission.Release();  // now, not when the session is freed
  ctx_.stats.connections_active.store(ctx_.stats.connections_active.load(std::memory_order_relaxed) - 1,
                                      std::memory_order_relaxed);
  loop_.DeleteLater(std::unique_ptr<net::IoHandler>(session));
}

void Worker::SweepIdleSessions() {
  auto cutoff = loop_.now() - ctx_.config->keepalive_timeout;
  for (Session* s = sessions_; s != nullptr;) {
    Session* next = s->next;  // Close() unlinks s
    s->CloseIfIdleSince(cutoff);
    s = next;
  }
  loop_.AddTimer(IdleSweepInterval(), [this] { SweepIdleSessions(); });
}

std::chrono::milliseconds Worker::IdleSweepInterval() const {
  // Keep-alive timeouts are enforced to within a quarter of their length
  // (and at least once a second).
  auto quarter = ctx_.config->keepalive_timeout / 4;
  return std::clamp(quarter, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}

}  // namespace sluice::proxy
