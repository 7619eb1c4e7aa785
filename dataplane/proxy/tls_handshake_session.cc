#include "dataplane/proxy/tls_handshake_session.h"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "dataplane/proxy/http1_session.h"
#include "dataplane/proxy/http2_session.h"
#include "dataplane/proxy/passthrough_session.h"
#include "dataplane/sni/client_hello.h"

namespace sluice::proxy {
namespace {

// WorkerStats::tls_failures_by_reason's index: HandshakeFailure's, then two
// the handshake session sees itself.
constexpr size_t kNoCertificateIndex = 6;
constexpr size_t kTimeoutIndex = 7;

size_t TlsVersionIndex(std::string_view version) {
  if (version == "TLSv1.3") return 3;
  if (version == "TLSv1.2") return 2;
  if (version == "TLSv1.1" || version == "TLSv1" || version == "SSLv3") return 1;
  return 0;
}

}  // namespace

const char* TlsVersionName(size_t index) {
  static const char* names[WorkerStats::kTlsVersions] = {"other", "TLSv1.1_or_older", "TLSv1.2", "TLSv1.3"};
  return index < WorkerStats::kTlsVersions ? names[index] : "other";
}

const char* TlsFailureReasonName(size_t index) {
  if (index == kNoCertificateIndex) return "no_certificate";
  if (index == kTimeoutIndex) return "timeout";
  return tls::TlsTransport::HandshakeFailureName(static_cast<tls::TlsTransport::HandshakeFailure>(index));
}

TlsHandshakeSession::TlsHandshakeSession(WorkerContext* ctx, int fd, ClientInfo client,
                                         std::shared_ptr<const tls::ServerConfig> config, SessionOwner* owner)
    : ctx_(ctx), fd_(fd), client_(std::move(client)), config_(std::move(config)), owner_(owner) {}

TlsHandshakeSession::~TlsHandshakeSession() {
  if (timer_ != 0) ctx_->loop->CancelTimer(timer_);
  if (fd_ >= 0) close(fd_);
}

void TlsHandshakeSession::Start() {
  ctx_->loop->Register(fd_, this, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  // One timer for the ClientHello peek and the handshake together.
  timer_ = ctx_->loop->AddTimer(ctx_->config->client_header_timeout, [this] {
    timer_ = 0;
    ctx_->stats.Count(ctx_->stats.tls_handshake_failures);
    ctx_->stats.Count(ctx_->stats.tls_failures_by_reason[kTimeoutIndex]);
    Close();
  });
  if (ctx_->snapshot != nullptr && ctx_->snapshot->has_tls_passthrough()) {
    // The host list as of this accept, as the certificates are.
    passthrough_snapshot_ = ctx_->snapshot;
    return Peek();
  }
  StartHandshake();
}

void TlsHandshakeSession::StartHandshake() {
  SSL* ssl = config_ != nullptr ? config_->NewSsl(fd_) : nullptr;
  if (ssl == nullptr) {
    ctx_->stats.Count(ctx_->stats.tls_handshake_failures);
    ctx_->stats.Count(ctx_->stats.tls_failures_by_reason[kNoCertificateIndex]);
    return Close();
  }
  transport_ = std::make_unique<tls::TlsTransport>(ssl, fd_);
  Continue();
}

void TlsHandshakeSession::Drain() { draining_ = true; }

void TlsHandshakeSession::OnIoEvents(uint32_t) {
  if (closed_) return;
  if (transport_ == nullptr) return Peek();
  Continue();
}

void TlsHandshakeSession::Peek() {
  // Peeked, not read: a connection that is terminated here gives OpenSSL
  // every byte, and one passed through gives the backend every byte. Edge
  // triggered, so the next event comes when more bytes arrive; the timer
  // bounds the wait for a ClientHello split over slow segments.
  thread_local char buffer[sni::kMaxClientHelloInput];
  ssize_t n = recv(fd_, buffer, sizeof buffer, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    ctx_->stats.Count(ctx_->stats.tls_handshake_failures);
    return Close();  // gone before a ClientHello
  }
  sni::Result hello = sni::ParseClientHello(std::string_view(buffer, static_cast<size_t>(n)));
  if (hello.status == sni::Status::kNeedMore) return;
  std::shared_ptr<const snapshot::CompiledSnapshot> snapshot = std::move(passthrough_snapshot_);
  if (hello.status == sni::Status::kFound) {
    if (const snapshot::CompiledVirtualHost* host = snapshot->MatchPassthrough(hello.server_name)) {
      return HandOverToPassthrough(std::move(snapshot), host, std::move(hello.server_name));
    }
  }
  // Not a passthrough host (or no usable ClientHello: OpenSSL says why).
  StartHandshake();
}

void TlsHandshakeSession::HandOverToPassthrough(std::shared_ptr<const snapshot::CompiledSnapshot> snapshot,
                                                const snapshot::CompiledVirtualHost* host, std::string server_name) {
  if (timer_ != 0) {
    ctx_->loop->CancelTimer(timer_);
    timer_ = 0;
  }
  config_.reset();
  // The successor takes over the socket's registration (EventLoop::Retarget).
  Session* successor = new PassthroughSession(ctx_, fd_, std::move(client_), std::move(snapshot), host,
                                              std::move(server_name), owner_);
  fd_ = -1;
  closed_ = true;
  owner_->ReplaceSession(this, successor);
  successor->Start();
}

void TlsHandshakeSession::Continue() {
  switch (transport_->Handshake()) {
    case tls::TlsTransport::HandshakeResult::kWantIo:
      return;
    case tls::TlsTransport::HandshakeResult::kFailed:
      ctx_->stats.Count(ctx_->stats.tls_handshake_failures);
      ctx_->stats.Count(ctx_->stats.tls_failures_by_reason[static_cast<size_t>(transport_->handshake_failure())]);
      return Close();
    case tls::TlsTransport::HandshakeResult::kDone:
      return HandOver();
  }
}

void TlsHandshakeSession::HandOver() {
  ctx_->stats.Count(ctx_->stats.tls_handshakes);
  if (transport_->resumed()) ctx_->stats.Count(ctx_->stats.tls_resumed);
  ctx_->stats.Count(ctx_->stats.tls_handshakes_by_version[TlsVersionIndex(transport_->version())]);
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
