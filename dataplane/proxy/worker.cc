#include "dataplane/proxy/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "dataplane/common/log.h"
#include "dataplane/proxy/tls_handshake_session.h"

namespace sluice::proxy {

class Worker::Listener : public net::IoHandler {
 public:
  Listener(Worker* worker, int fd, bool tls) : worker_(worker), fd_(fd), tls_(tls) {}
  ~Listener() override { CloseFd(); }
  void OnIoEvents(uint32_t) override {
    if (fd_ >= 0) worker_->Accept(fd_, tls_);
  }
  int fd() const { return fd_; }
  void CloseFd() {
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

 private:
  Worker* worker_;
  int fd_;
  bool tls_;
};

Worker::Worker(int index, const ProxyConfig* config, accesslog::AccessLog* access_log)
    : index_(index), ctx_(&loop_, config) {
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

Status Worker::Listen(const net::Address& address) {
  auto fd = net::Listen(address, /*reuse_port=*/true);
  if (!fd.ok()) return fd.status();
  listeners_.push_back(std::make_unique<Listener>(this, *fd, /*tls=*/false));
  return Status::Ok();
}

Status Worker::ListenTls(const net::Address& address, std::shared_ptr<const tls::ServerConfig> initial) {
  auto fd = net::Listen(address, /*reuse_port=*/true);
  if (!fd.ok()) return fd.status();
  initial_tls_ = std::move(initial);
  listeners_.push_back(std::make_unique<Listener>(this, *fd, /*tls=*/true));
  return Status::Ok();
}

void Worker::Start() {
  for (auto& listener : listeners_) loop_.Register(listener->fd(), listener.get(), EPOLLIN | EPOLLET);
  if (ctx_.access_log) loop_.AddTimer(access_log_flush_interval_, [this] { FlushAccessLog(); });
  loop_.AddTimer(IdleSweepInterval(), [this] { SweepIdleSessions(); });
  thread_ = std::thread([this] { loop_.Run(); });
}

void Worker::SetSnapshot(std::shared_ptr<const snapshot::CompiledSnapshot> snapshot) {
  loop_.Post([this, snapshot = std::move(snapshot)]() mutable {
    {
      std::lock_guard<std::mutex> lock(version_mu_);
      applied_version_ = snapshot ? snapshot->version() : "";
    }
    ctx_.snapshot = std::move(snapshot);  // in-flight exchanges keep theirs
  });
}

std::string Worker::applied_version() const {
  std::lock_guard<std::mutex> lock(version_mu_);
  return applied_version_;
}

void Worker::Drain() {
  loop_.Post([this] {
    ctx_.draining = true;
    for (auto& listener : listeners_) {
      loop_.Unregister(listener->fd());
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

void Worker::Accept(int listen_fd, bool tls) {
  while (true) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        log::Warn("accept failed: out of file descriptors", {{"worker", std::to_string(index_)}});
      }
      return;  // EAGAIN, or an error we cannot fix here
    }
    net::SetTcpNoDelay(fd);
    net::Address address;
    address.storage = peer;
    address.length = len;
    ctx_.stats.Count(ctx_.stats.connections_accepted);
    ctx_.stats.Count(ctx_.stats.connections_active);
    Session* session;
    if (tls) {
      // Certificates as of this accept: a snapshot swap during the
      // handshake does not change them under it.
      const auto& current = ctx_.snapshot != nullptr && ctx_.snapshot->server_tls() != nullptr
                                ? ctx_.snapshot->server_tls()
                                : initial_tls_;
      session = new TlsHandshakeSession(&ctx_, fd, address.IpString(), current, this);
    } else {
      ClientInfo client;
      client.ip = address.IpString();
      session = new Http1Session(&ctx_, std::make_unique<net::PlainTransport>(fd), std::move(client), this);
    }
    AddSession(session);
    session->Start();
    if (ctx_.draining) session->Drain();
  }
}

void Worker::AddSession(Session* session) {
  session->next = sessions_;
  if (sessions_ != nullptr) sessions_->prev = session;
  sessions_ = session;
}

void Worker::ReplaceSession(Session* old, Session* successor) {
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
