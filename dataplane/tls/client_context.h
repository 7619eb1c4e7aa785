#pragma once
// Client-side TLS towards backends (re-encryption), one context per
// distinct setting (SNI, verification, CA, ALPN). Contexts are shared by
// every cluster and snapshot with the same setting (cached by identity), so
// the sessions they remember for resumption survive snapshot swaps.
#include <openssl/types.h>

struct ssl_session_st;
typedef struct ssl_session_st SSL_SESSION;

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "dataplane/tls/tls_transport.h"

namespace sluice::tls {

struct ClientSettings {
  std::string server_name;  // SNI and, when verifying, the name checked; empty: none
  bool verify = false;      // verify the chain against ca_pem (and server_name if set)
  std::string ca_pem;       // one or more PEM certificates
  bool h2 = false;          // offer ALPN h2 (HTTP/2 upstream) instead of http/1.1
};

class ClientContext {
 public:
  // The context for `settings` (built once, then shared). Verification
  // without a CA uses the system's CAs; a CA bundle without a usable
  // certificate makes every handshake fail (closed, never open).
  static Result<std::shared_ptr<ClientContext>> Get(const ClientSettings& settings);
  ~ClientContext();

  // "tls|<sni>|<verify>|<ca digest>|<alpn>": part of the pool key, so a
  // pooled connection is only reused under the same TLS identity.
  const std::string& identity() const { return identity_; }

  // A client-side TLS transport on connected socket `fd` to the endpoint
  // `endpoint_key` (resuming its last session when we have one). Null only
  // when OpenSSL cannot allocate.
  std::unique_ptr<TlsTransport> NewTransport(int fd, const std::string& endpoint_key) const;

 private:
  ClientContext() = default;
  static int OnNewSession(SSL* ssl, SSL_SESSION* session);

  SSL_CTX* ctx_ = nullptr;
  ClientSettings settings_;
  std::string identity_;
  // Last session per endpoint, for resumption; shared by the workers
  // (touched on new connections only, never per request).
  mutable std::mutex sessions_mu_;
  mutable std::map<std::string, SSL_SESSION*> sessions_;
};

}  // namespace sluice::tls
