#include "dataplane/proxy/passthrough_session.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace sluice::proxy {

namespace {

int64_t SteadyNs(net::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

PassthroughSession::PassthroughSession(WorkerContext* ctx, int fd, ClientInfo client,
                                       std::shared_ptr<const snapshot::CompiledSnapshot> snapshot,
                                       const snapshot::CompiledVirtualHost* host, std::string server_name,
                                       SessionOwner* owner)
    : ctx_(ctx),
      fd_(fd),
      client_(std::move(client)),
      snapshot_(std::move(snapshot)),
      host_(host),
      server_name_(std::move(server_name)),
      owner_(owner),
      idle_timeout_(host->passthrough_idle_timeout.count() > 0 ? host->passthrough_idle_timeout
                                                               : ctx->config->upstream_idle_timeout),
      start_wall_(std::chrono::system_clock::now()),
      start_(ctx->loop->now()) {}

PassthroughSession::~PassthroughSession() {
  // Only when the worker stops with the connection still open.
  if (connect_timer_ != 0) ctx_->loop->CancelTimer(connect_timer_);
  if (idle_timer_ != 0) ctx_->loop->CancelTimer(idle_timer_);
  if (upstream_fd_ >= 0) close(upstream_fd_);
  if (fd_ >= 0) close(fd_);
}

void PassthroughSession::Start() {
  ctx_->stats.Count(ctx_->stats.passthrough_connections);
  ctx_->loop->Retarget(fd_, this);
  to_upstream_.buffer = std::make_unique<char[]>(kBufferBytes);
  to_client_.buffer = std::make_unique<char[]>(kBufferBytes);
  Connect();
}

void PassthroughSession::Connect() {
  const snapshot::CompiledRoute& route = host_->routes.front();
  while (static_cast<int>(tried_.size()) < kMaxConnectTries) {
    balancer::PickContext pick;
    pick.route = &route;
    pick.client_ip = client_.ip;
    pick.tried = tried_;
    pick.now_ns = SteadyNs(ctx_->loop->now());
    const snapshot::CompiledEndpoint* endpoint = ctx_->balancer.Pick(*route.cluster, pick).endpoint;
    // The balancer falls back on a tried endpoint only when no other is left.
    if (endpoint == nullptr) return Close(tried_.empty() ? "no endpoints" : "connect failed");
    for (const auto* tried : tried_) {
      if (tried == endpoint) return Close("connect failed");
    }
    tried_.push_back(endpoint);
    if (!upstream_addresses_.empty()) upstream_addresses_ += ", ";
    upstream_addresses_ += endpoint->key;
    auto fd = net::ConnectNonBlocking(endpoint->address);
    if (!fd.ok()) {
      ctx_->stats.Count(ctx_->stats.upstream_failures);
      continue;
    }
    upstream_fd_ = *fd;
    endpoint_ = endpoint;
    net::SetTcpNoDelay(upstream_fd_);
    ctx_->loop->Register(upstream_fd_, &upstream_handler_, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    auto timeout = host_->passthrough_connect_timeout.count() > 0 ? host_->passthrough_connect_timeout
                                                                  : ctx_->config->connect_timeout;
    connect_timer_ = ctx_->loop->AddTimer(timeout, [this] {
      connect_timer_ = 0;
      ConnectFailed("connect timeout");
    });
    return;
  }
  Close("connect failed");
}

void PassthroughSession::ConnectFailed(const char*) {
  if (closed_) return;
  ctx_->stats.Count(ctx_->stats.upstream_failures);
  if (connect_timer_ != 0) {
    ctx_->loop->CancelTimer(connect_timer_);
    connect_timer_ = 0;
  }
  CloseUpstreamFd();
  endpoint_ = nullptr;
  Connect();  // the next endpoint, or close
}

void PassthroughSession::OnUpstreamEvents(uint32_t events) {
  if (closed_) return;
  if (!connected_) {
    int error = net::PendingSocketError(upstream_fd_);
    if (error != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) return ConnectFailed("connect failed");
    if ((events & EPOLLOUT) == 0) return;
    return Connected();
  }
  PumpBoth();
}

void PassthroughSession::Connected() {
  connected_ = true;
  ctx_->stats.Count(ctx_->stats.upstream_connects);
  if (connect_timer_ != 0) {
    ctx_->loop->CancelTimer(connect_timer_);
    connect_timer_ = 0;
  }
  last_activity_ = ctx_->loop->now();
  ArmIdleTimer(idle_timeout_);
  PumpBoth();  // the ClientHello (still queued on the client socket) first
}

void PassthroughSession::OnIoEvents(uint32_t) {
  if (!closed_ && connected_) PumpBoth();
  // Before the connect completes the client's bytes wait in its socket; the
  // first pump after it reads them all (edge-triggered: until EAGAIN).
}

void PassthroughSession::PumpBoth() {
  if (!Pump(to_upstream_, fd_, upstream_fd_)) return Close("client or backend reset");
  if (!Pump(to_client_, upstream_fd_, fd_)) return Close("client or backend reset");
  if (to_upstream_.shut && to_client_.shut) Close(nullptr);
}

bool PassthroughSession::Pump(Direction& d, int from, int to) {
  while (true) {
    while (d.begin < d.end) {
      ssize_t n = send(to, d.buffer.get() + d.begin, d.end - d.begin, MSG_NOSIGNAL);
      if (n > 0) {
        d.begin += static_cast<size_t>(n);
        d.bytes += static_cast<uint64_t>(n);
        last_activity_ = ctx_->loop->now();
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;  // EPOLLOUT on `to` resumes
      return false;
    }
    d.begin = d.end = 0;
    if (d.eof) {
      if (!d.shut) {
        d.shut = true;
        shutdown(to, SHUT_WR);  // the peer may be gone already: its own EOF or reset tells
      }
      return true;
    }
    ssize_t n = recv(from, d.buffer.get(), kBufferBytes, 0);
    if (n > 0) {
      d.end = static_cast<size_t>(n);
      last_activity_ = ctx_->loop->now();
      continue;
    }
    if (n == 0) {
      d.eof = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;  // EPOLLIN on `from` resumes
    return false;
  }
}

void PassthroughSession::ArmIdleTimer(std::chrono::milliseconds delay) {
  idle_timer_ = ctx_->loop->AddTimer(delay, [this] {
    idle_timer_ = 0;
    auto idle = ctx_->loop->now() - last_activity_;
    if (idle >= idle_timeout_) return Close("idle timeout");
    ArmIdleTimer(std::chrono::duration_cast<std::chrono::milliseconds>(idle_timeout_ - idle) +
                 std::chrono::milliseconds(1));
  });
}

void PassthroughSession::SayGoingAway() {
  if (closed_) return;
  // TLS records cannot be ended from here (the proxy holds no keys): the
  // best ending is what was in flight delivered, then a FIN each way, which
  // the peers' TLS stacks see as a truncation they can retry on.
  if (connected_) {
    Pump(to_client_, upstream_fd_, fd_);
    Pump(to_upstream_, fd_, upstream_fd_);
    shutdown(upstream_fd_, SHUT_WR);
  }
  shutdown(fd_, SHUT_WR);
  Close("drain deadline");
}

void PassthroughSession::CloseUpstreamFd() {
  if (upstream_fd_ < 0) return;
  ctx_->loop->ForgetBeforeClose(upstream_fd_);
  close(upstream_fd_);
  upstream_fd_ = -1;
}

void PassthroughSession::Close(const char* error) {
  if (closed_) return;
  closed_ = true;
  if (connect_timer_ != 0) ctx_->loop->CancelTimer(connect_timer_);
  if (idle_timer_ != 0) ctx_->loop->CancelTimer(idle_timer_);
  connect_timer_ = idle_timer_ = 0;
  CloseUpstreamFd();
  ctx_->loop->ForgetBeforeClose(fd_);
  close(fd_);
  fd_ = -1;
  if (error != nullptr && !connected_) ctx_->stats.Count(ctx_->stats.passthrough_failures);
  ctx_->stats.Count(ctx_->stats.passthrough_bytes_in, to_upstream_.bytes);
  ctx_->stats.Count(ctx_->stats.passthrough_bytes_out, to_client_.bytes);
  if (ctx_->access_log) {
    accesslog::Entry entry;
    entry.start = start_wall_;
    entry.client_address = client_.ip;
    entry.peer_address = client_.peer_ip;
    entry.method = "PASSTHROUGH";
    entry.host = server_name_;
    entry.path = "";
    entry.bytes_in = to_upstream_.bytes;
    entry.bytes_out = to_client_.bytes;
    entry.upstream_address = upstream_addresses_;
    entry.upstream_attempts = static_cast<int>(tried_.size());
    entry.total_seconds = std::chrono::duration<double>(ctx_->loop->now() - start_).count();
    entry.snapshot_version = snapshot_->version();
    entry.route_origin = host_->routes.front().origin;
    if (error != nullptr) entry.error = error;
    ctx_->access_log->Log(entry);
  }
  owner_->OnSessionClosed(this);
}

}  // namespace sluice::proxy
