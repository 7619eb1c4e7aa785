#include "dataplane/tls/tls_transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace sluice::tls {
namespace {

std::string DescribeError(int ssl_error) {
  unsigned long code = ERR_peek_last_error();
  if (code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
  }
  if (ssl_error == SSL_ERROR_SYSCALL) return errno != 0 ? std::strerror(errno) : "connection closed during handshake";
  return "TLS error " + std::to_string(ssl_error);
}

TlsTransport::HandshakeFailure ClassifyFailure(int ssl_error) {
  if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN) {
    return TlsTransport::HandshakeFailure::kPeerClosed;
  }
  unsigned long code = ERR_peek_last_error();
  if (code == 0) return TlsTransport::HandshakeFailure::kPeerClosed;
  switch (ERR_GET_REASON(code)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return TlsTransport::HandshakeFailure::kVersion;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
      return TlsTransport::HandshakeFailure::kNoSharedCipher;
    case SSL_R_HTTP_REQUEST:
      return TlsTransport::HandshakeFailure::kHttpRequest;
    default:
      return TlsTransport::HandshakeFailure::kProtocol;
  }
}

}  // namespace

const char* TlsTransport::HandshakeFailureName(HandshakeFailure failure) {
  switch (failure) {
    case HandshakeFailure::kNone:
      return "none";
    case HandshakeFailure::kPeerClosed:
      return "peer_closed";
    case HandshakeFailure::kVersion:
      return "protocol_version";
    case HandshakeFailure::kNoSharedCipher:
      return "no_shared_cipher";
    case HandshakeFailure::kHttpRequest:
      return "http_request";
    case HandshakeFailure::kProtocol:
      return "protocol_error";
  }
  return "protocol_error";
}

TlsTransport::TlsTransport(SSL* ssl, int fd) : ssl_(ssl), fd_(fd) {}

TlsTransport::~TlsTransport() {
  // Without this, SSL_free treats a connection that was simply closed (the
  // usual end of a keep-alive connection) as broken and marks its session
  // not resumable, which defeats client-side resumption towards backends.
  if (!failed_ && SSL_is_init_finished(ssl_)) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl_);
}

TlsTransport::HandshakeResult TlsTransport::Handshake() {
  if (failed_) return HandshakeResult::kFailed;
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) return HandshakeResult::kDone;
  int ssl_error = SSL_get_error(ssl_, rc);
  if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) return HandshakeResult::kWantIo;
  error_ = DescribeError(ssl_error);
  handshake_failure_ = ClassifyFailure(ssl_error);
  ERR_clear_error();
  failed_ = true;
  failed_errno_ = ECONNRESET;
  return HandshakeResult::kFailed;
}

bool TlsTransport::resumed() const { return SSL_session_reused(ssl_) == 1; }

std::string_view TlsTransport::version() const { return SSL_get_version(ssl_); }

std::string_view TlsTransport::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &data, &length);
  return data == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), length);
}

ssize_t TlsTransport::Fail(int ssl_error) {
  // OpenSSL says no further I/O on this SSL after SSL_ERROR_SSL/SYSCALL.
  failed_ = true;
  int saved = errno;
  ERR_clear_error();
  failed_errno_ = (ssl_error == SSL_ERROR_SYSCALL && saved != 0 && saved != EAGAIN) ? saved : ECONNRESET;
  errno = failed_errno_;
  return -1;
}

ssize_t TlsTransport::Read(void* buffer, size_t length) {
  if (failed_) {
    errno = failed_errno_;
    return -1;
  }
  end_pending_ = false;
  char* out = static_cast<char*>(buffer);
  size_t total = 0;
  while (total < length) {
    size_t got = 0;
    int rc = SSL_read_ex(ssl_, out + total, length - total, &got);
    if (rc == 1) {
      total += got;
      continue;
    }
    int ssl_error = SSL_get_error(ssl_, rc);
    switch (ssl_error) {
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE:  // e.g. answering a KeyUpdate while the socket is full
        if (total > 0) return static_cast<ssize_t>(total);
        errno = EAGAIN;
        return -1;
      case SSL_ERROR_ZERO_RETURN:  // close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF); repeats on the next call
        end_pending_ = total > 0;
        return static_cast<ssize_t>(total);
      default:
        if (total > 0) {  // hand over what arrived; the error comes next call
          Fail(ssl_error);
          end_pending_ = true;
          return static_cast<ssize_t>(total);
        }
        return Fail(ssl_error);
    }
  }
  return static_cast<ssize_t>(total);
}

ssize_t TlsTransport::Write(const void* data, size_t length) {
  if (failed_) {
    errno = failed_errno_ == ECONNRESET ? EPIPE : failed_errno_;
    return -1;
  }
  if (length == 0) return 0;
  size_t written = 0;
  // SSL_MODE_ENABLE_PARTIAL_WRITE: returns after each record, so the
  // callers' "write until EAGAIN" loops see progress record by record.
  int rc = SSL_write_ex(ssl_, data, length, &written);
  if (rc == 1) return static_cast<ssize_t>(written);
  int ssl_error = SSL_get_error(ssl_, rc);
  if (ssl_error == SSL_ERROR_WANT_WRITE || ssl_error == SSL_ERROR_WANT_READ) {
    errno = EAGAIN;
    return -1;
  }
  return Fail(ssl_error);
}

void TlsTransport::ShutdownWrite() {
  if (!shut_ && !failed_ && SSL_is_init_finished(ssl_)) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues close_notify; best effort on a non-blocking socket
    ERR_clear_error();
  }
  shut_ = true;
  ::shutdown(fd_, SHUT_WR);
}

}  // namespace sluice::tls
