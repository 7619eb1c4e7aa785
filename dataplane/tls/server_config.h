#pragma once
// Server-side TLS: one SSL_CTX per certificate, and the choice between them
// by SNI. Built on the main thread (snapshot compile) and immutable after:
// workers share it through a shared_ptr that travels with the compiled
// snapshot, and a connection's SSL holds a reference to the SSL_CTX it
// picked, so a new snapshot changes the certificate of new connections
// only.
//
// Every context: TLS 1.2 and 1.3 only; for 1.2 ECDHE with AES-GCM or
// ChaCha20-Poly1305 (Mozilla "intermediate" without DHE); ALPN by server
// preference (h2 when offered, then http/1.1; no ALPN means HTTP/1.1);
// stateless session tickets under the process-wide TicketKeyRing, no
// server-side session cache.
#include <openssl/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace sluice::tls {

// Protocols the HTTPS listener offers in ALPN, in preference order. h2 is
// one flag away: it goes first once the HTTP/2 session is wired in.
inline constexpr bool kOfferH2 = true;

// One certificate chain and key serving a set of host names.
class ServerContext {
 public:
  // Takes ownership of `ctx`.
  ServerContext(SSL_CTX* ctx, std::string subject) : ctx_(ctx), subject_(std::move(subject)) {}
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  SSL_CTX* ctx() const { return ctx_; }
  // The leaf's subject CN, for logs.
  const std::string& subject() const { return subject_; }

 private:
  SSL_CTX* ctx_;
  std::string subject_;
};

// Parses and checks a PEM chain (leaf first) and its key: the key must
// match the leaf, and the leaf must be valid now (neither expired nor not
// yet valid). Identical PEMs give the same context (cached), so a snapshot
// that only changed endpoints does not re-parse every key.
Result<std::shared_ptr<ServerContext>> NewServerContext(std::string_view chain_pem, std::string_view key_pem);

// A self-signed ECDSA P-256 certificate (CN `common_name`, valid a year).
struct PemPair {
  std::string chain;
  std::string key;
};
PemPair GenerateSelfSigned(std::string_view common_name);

struct CertificateInput {
  std::string name;                    // "namespace/secret", for errors
  std::vector<std::string> sni_names;  // exact "a.example.com" or wildcard "*.example.com"
  std::string chain_pem;
  std::string key_pem;
};

struct CertificateProblem {
  std::string name;
  std::string message;
};

class ServerConfig {
 public:
  // `explicit_default`: from --default-certificate (wins over everything);
  // `generated_default`: the self-signed one, used when neither it nor a
  // certificate without SNI names exists. Each certificate that does not
  // load is left out and reported in `problems`; its hosts get the default.
  static std::shared_ptr<const ServerConfig> Build(const std::vector<CertificateInput>& certificates,
                                                   std::shared_ptr<ServerContext> explicit_default,
                                                   std::shared_ptr<ServerContext> generated_default,
                                                   std::vector<CertificateProblem>* problems);

  // A new server-side SSL for an accepted socket; SNI picks the context
  // during the handshake. The config must outlive the handshake.
  SSL* NewSsl(int fd) const;

  // Exact name, then the single-label wildcard, then the default. `host`
  // lower case.
  const ServerContext* Select(std::string_view host) const;
  const ServerContext* default_context() const { return default_.get(); }
  size_t size() const { return by_name_.size() + by_wildcard_.size(); }

 private:
  std::shared_ptr<ServerContext> default_;
  std::unordered_map<std::string, std::shared_ptr<ServerContext>> by_name_;
  std::unordered_map<std::string, std::shared_ptr<ServerContext>> by_wildcard_;  // keyed by the parent domain
};

// Reads a whole file (for --default-certificate / --default-key).
Result<std::string> ReadPemFile(const std::string& path);

}  // namespace sluice::tls
