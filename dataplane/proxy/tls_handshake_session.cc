#include "dataplane/proxy/tls_handshake_session.h"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane/proxy/http1_session.h"
#include "dataplane/proxy/http2_session.h"

namespace sluice::proxy {

TlsHandshakeSession::TlsHandshakeSession(WorkerContext* ctx, int fd, ClientInfo client,
                                         std::shared_ptr<const tls::ServerConfig> config, SessionOwner* owner)
    : ctx_(ctx), fd_(fd), client_(std::move(client)), config_(std::move(config)), owner_(owner) {}

TlsHandshakeSession::~TlsHandshakeSession() {
  if (timer_ != 0) ctx_->loop->CancelTimer(timer_);
  if (fd_ >= 0) close(fd_);
}

void TlsHandshakeSession::Start() {
  SSL* ssl = config_ != nullptr ? config_->NewSsl(fd_) : nullptr;
  if (ssl == nullptr) {
    ctx_->stats.Count(ctx_->stats.tls_handshake_failures);
    return Close();
  }
  transport_ = std::make_unique<tls::TlsTransport>(ssl, fd_);
  ctx_->loop->Register(fd_, this, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  timer_ = ctx_->loop->AddTimer(ctx_->config->client_header_timeout, [this] {
    timer_ = 0;
    ctx_->stats.Count(ctx_->stats.tls_handshake_failures);
    Close();
  });
  Continue();
}

void TlsHandshakeSession::Drain() { draining_ = true; }

void TlsHandshakeSession::OnIoEvents(uint32_t) {
  if (!closed_) Continue();
}

void TlsHandshakeSession::Continue() {
  switch (transport_->Handshake()) {
    case tls::TlsTransport::HandshakeResult::kWantIo:
      return;
    case tls::TlsTransport::HandshakeResult::kFailed:
      ctx_->stats.Count(ctx_->stats.tls_handshake_failures);
      return Close();
    case tls::TlsTransport::HandshakeResult::kDone:
      return HandOver();
  }
}

void TlsHandshakeSession::HandOver() {
  ctx_->stats.Count(ctx_->stats.tls_handshakes);
  if (transport_->resumed()) ctx_->stats.Count(ctx_->stats.tls_resumed);
  if (timer_ != 0) {
    ctx_->loop->CancelTimer(timer_);
    timer_ = 0;
  }
  // The SNI callback is done with the config; the SSL keeps a reference to
  // the SSL_CTX it chose, so the config may go with the next snapshot.
  SSL_set_app_data(transport_->ssl(), nullptr);
  config_.reset();
  // The successor takes over the socket's registration (EventLoop::Retarget).
  ClientInfo client = std::move(client_);
  client.scheme = "https";
  Session* successor;
  if (transport_->alpn() == "h2") {
    successor = new Http2Session(ctx_, std::move(transport_), std::move(client), owner_);
  } else {
    successor = new Http1Session(ctx_, std::move(transport_), std::move(client), owner_, /*registered=*/true);
  }
  fd_ = -1;  // the successor owns the socket now
  closed_ = true;
  owner_->ReplaceSession(this, successor);
  successor->Start();
  if (draining_ || ctx_->draining) successor->Drain();
}

void TlsHandshakeSession::Close() {
  if (closed_) return;
  closed_ = true;
  if (timer_ != 0) {
    ctx_->loop->CancelTimer(timer_);
    timer_ = 0;
  }
  // No EPOLL_CTL_DEL: the fd is ours alone (never dup'ed, CLOEXEC), so the
  // close() below drops its registration.
  if (transport_ != nullptr) ctx_->loop->ForgetBeforeClose(fd_);
  transport_.reset();
  close(fd_);
  fd_ = -1;
  owner_->OnSessionClosed(this);
}

}  // namespace sluice::proxy
