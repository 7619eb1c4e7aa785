#pragma once
// net::Transport over OpenSSL on a non-blocking socket, for both ends: the
// downstream (server) side and re-encryption towards backends (client).
//
// recv/send semantics as net::Transport documents them:
//  - Read fills as much of the buffer as OpenSSL can give before the socket
//    says EAGAIN. SSL_read returns one record at a time, and records already
//    buffered inside OpenSSL (SSL_pending) raise no epoll edge, so a short
//    Read() means "drained" exactly as with recv() and the callers'
//    edge-triggered loops stay unchanged.
//  - WANT_READ / WANT_WRITE become -1 with errno EAGAIN (the connection is
//    registered for both directions, and callers retry both on any event).
//  - A close_notify, or a peer that just closes TCP, is a clean EOF (0).
//  - After a fatal error every call fails without touching OpenSSL again.
#include <openssl/types.h>

#include <string>
#include <string_view>

#include "dataplane/net/transport.h"

namespace sluice::tls {

class TlsTransport final : public net::Transport {
 public:
  enum class HandshakeResult { kDone, kWantIo, kFailed };
  // Why a handshake failed, coarsely (a metrics label: a fixed set).
  enum class HandshakeFailure : uint8_t { kNone, kPeerClosed, kVersion, kNoSharedCipher, kHttpRequest, kProtocol };
  static const char* HandshakeFailureName(HandshakeFailure failure);

  // Takes ownership of `ssl`, which must be bound to `fd` already. Does not
  // own the fd (the codec closes it, as with PlainTransport).
  TlsTransport(SSL* ssl, int fd);
  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  // Drives the handshake as far as the socket allows.
  HandshakeResult Handshake();
  // Why the handshake failed, for logs ("" if it did not).
  const std::string& error() const { return error_; }
  HandshakeFailure handshake_failure() const { return handshake_failure_; }
  // The handshake resumed a session (ticket) rather than a full one.
  bool resumed() const;
  // Negotiated protocol version, e.g. "TLSv1.3".
  std::string_view version() const;

  ssize_t Read(void* buffer, size_t length) override;
  ssize_t Write(const void* data, size_t length) override;
  void ShutdownWrite() override;
  int fd() const override { return fd_; }
  std::string_view alpn() const override;
  bool secure() const override { return true; }
  bool drained_after_short_read() const override { return !end_pending_; }

  SSL* ssl() const { return ssl_; }
  // Client side: the endpoint this connection's session is remembered under.
  void set_session_key(std::string key) { session_key_ = std::move(key); }
  const std::string& session_key() const { return session_key_; }

 private:
  ssize_t Fail(int ssl_error);

  SSL* ssl_;
  HandshakeFailure handshake_failure_ = HandshakeFailure::kNone;
  int fd_;
  bool failed_ = false;
  bool shut_ = false;
  bool end_pending_ = false;  // EOF or error met behind data already returned
  int failed_errno_ = 0;
  std::string error_;
  std::string session_key_;
};

}  // namespace sluice::tls
