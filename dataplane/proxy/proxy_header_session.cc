#include "dataplane/proxy/proxy_header_session.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "dataplane/proxy_protocol/proxy_protocol.h"

namespace sluice::proxy {

ProxyHeaderSession::ProxyHeaderSession(WorkerContext* ctx, int fd, const IpAddress& peer, bool tls,
                                       SessionOwner* owner, ProxiedConnectionStarter* starter)
    : ctx_(ctx), fd_(fd), peer_(peer), tls_(tls), owner_(owner), starter_(starter) {}

ProxyHeaderSession::~ProxyHeaderSession() {
  if (timer_ != 0) ctx_->loop->CancelTimer(timer_);
  if (fd_ >= 0) close(fd_);
}

void ProxyHeaderSession::Start() {
  ctx_->loop->Register(fd_, this, EPOLLIN | EPOLLRDHUP | EPOLLET);
  timer_ = ctx_->loop->AddTimer(ctx_->config->client_header_timeout, [this] {
    timer_ = 0;
    ctx_->stats.Count(ctx_->stats.proxy_protocol_failures);
    Close();
  });
  TryRead();
}

void ProxyHeaderSession::OnIoEvents(uint32_t) {
  if (!closed_) TryRead();
}

void ProxyHeaderSession::TryRead() {
  // Peeked, not read: only the header's own bytes are taken below. Edge
  // triggered, so the next event comes when more bytes arrive.
  char buffer[proxy_protocol::kMaxHeaderLength];
  ssize_t n = recv(fd_, buffer, sizeof buffer, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) return Close();  // gone before a header
  proxy_protocol::Result parsed = proxy_protocol::Parse(std::string_view(buffer, static_cast<size_t>(n)));
  if (parsed.status == proxy_protocol::Status::kNeedMore) return;
  if (parsed.status == proxy_protocol::Status::kInvalid ||
      recv(fd_, buffer, parsed.length, 0) != static_cast<ssize_t>(parsed.length)) {
    ctx_->stats.Count(ctx_->stats.proxy_protocol_failures);
    return Close();
  }
  ClientInfo client = ClientInfo::At(parsed.header.local ? peer_ : parsed.header.source);
  if (!parsed.header.local && !(parsed.header.source == peer_)) client.peer_ip = peer_.ToString();
  if (timer_ != 0) {
    ctx_->loop->CancelTimer(timer_);
    timer_ = 0;
  }
  // The next session registers the socket itself (a TLS handshake wants
  // other events than ours).
  ctx_->loop->Unregister(fd_);
  int fd = fd_;
  fd_ = -1;
  if (starter_->StartProxiedConnection(this, fd, std::move(client), tls_)) {
    closed_ = true;  // replaced: the successor owns the socket
    return;
  }
  fd_ = fd;
  Close();
}

void ProxyHeaderSession::Close() {
  if (closed_) return;
  closed_ = true;
  if (timer_ != 0) {
    ctx_->loop->CancelTimer(timer_);
    timer_ = 0;
  }
  ctx_->loop->ForgetBeforeClose(fd_);
  close(fd_);
  fd_ = -1;
  owner_->OnSessionClosed(this);
}

}  // namespace sluice::proxy
