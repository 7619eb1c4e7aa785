#include "dataplane/tls/server_config.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "dataplane/tls/ticket_keys.h"

namespace sluice::tls {
namespace {

constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr unsigned char kSessionIdContext[] = "sluice";

std::string OpenSslError(std::string_view what) {
  std::string message(what);
  unsigned long code = ERR_get_error();
  if (code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    message += ": ";
    message += text;
  }
  ERR_clear_error();
  return message;
}

// ALPN wire format of what we offer, by preference.
const std::string& OfferedAlpn() {
  static const std::string offered = kOfferH2 ? std::string("\x02h2\x08http/1.1", 12) : std::string("\x08http/1.1", 9);
  return offered;
}

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* client,
               unsigned int client_length, void*) {
  const std::string& ours = OfferedAlpn();
  unsigned char* selected = nullptr;
  // Server preference: the first of ours that the client offers.
  if (SSL_select_next_proto(&selected, out_length, reinterpret_cast<const unsigned char*>(ours.data()),
                            static_cast<unsigned int>(ours.size()), client,
                            client_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN (HTTP/1.1)
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

int SelectBySni(SSL* ssl, int*, void*) {
  auto* config = static_cast<const ServerConfig*>(SSL_get_app_data(ssl));
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (config == nullptr || name == nullptr) return SSL_TLSEXT_ERR_OK;  // default context
  std::string host(name);
  for (char& c : host) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  if (!host.empty() && host.back() == '.') host.pop_back();
  const ServerContext* chosen = config->Select(host);
  if (chosen != nullptr && chosen->ctx() != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen->ctx());
  return SSL_TLSEXT_ERR_OK;
}

SSL_CTX* NewBaseContext() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_cipher_list(ctx, kTls12Ciphers);
  SSL_CTX_set1_groups_list(ctx, kGroups);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Partial writes: one record per SSL_write, retried with a buffer that may
  // have moved or grown (our output buffers only append).
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // One read() per socket-full instead of two per record (5-byte header,
  // then body), as nginx sets it: read() calls per connection (handshake
  // and one request) went from 10.7 to 5.6.
  // Safe with our edge-triggered loops: TlsTransport::Read drains until
  // OpenSSL itself met EAGAIN, and the sessions a handshake hands over to
  // read right away in Start(), before waiting for an edge.
  SSL_CTX_set_read_ahead(ctx, 1);
  // Tickets only: stateless, shared by all workers through the key ring.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
  SSL_CTX_set_num_tickets(ctx, 1);
  TicketKeyRing::Install(ctx);
  SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, nullptr);
  SSL_CTX_set_tlsext_servername_callback(ctx, SelectBySni);
  return ctx;
}

Result<std::shared_ptr<ServerContext>> BuildContext(std::string_view chain_pem, std::string_view key_pem,
                                                    std::string* subject);

}  // namespace

ServerContext::~ServerContext() { SSL_CTX_free(ctx_); }

Result<std::shared_ptr<ServerContext>> NewServerContext(std::string_view chain_pem, std::string_view key_pem) {
  // Cache by content: the same PEMs give the same (immutable) context.
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<ServerContext>> cache;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  std::string material;
  material.reserve(chain_pem.size() + key_pem.size() + 1);
  material.append(chain_pem).push_back('\0');
  material.append(key_pem);
  SHA256(reinterpret_cast<const unsigned char*>(material.data()), material.size(), digest);
  std::string cache_key(reinterpret_cast<const char*>(digest), sizeof digest);
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(cache_key); it != cache.end()) {
      if (auto alive = it->second.lock()) {
        // Validity is re-checked: a cached certificate may have expired since.
        X509* leaf = SSL_CTX_get0_certificate(alive->ctx());
        if (leaf != nullptr && X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
          return Status::Error("certificate expired (notAfter in the past)");
        }
        return alive;
      }
    }
  }
  std::string subject;
  auto built = BuildContext(chain_pem, key_pem, &subject);
  if (!built.ok()) return built;
  std::lock_guard lock(mu);
  std::erase_if(cache, [](const auto& entry) { return entry.second.expired(); });
  cache[cache_key] = *built;
  return built;
}

namespace {

Result<std::shared_ptr<ServerContext>> BuildContext(std::string_view chain_pem, std::string_view key_pem,
                                                    std::string* subject) {
  ERR_clear_error();
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  if (key == nullptr) return Status::Error(OpenSslError("private key is not valid PEM"));

  BIO* chain_bio = BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size()));
  X509* leaf = PEM_read_bio_X509(chain_bio, nullptr, nullptr, nullptr);
  if (leaf == nullptr) {
    BIO_free(chain_bio);
    EVP_PKEY_free(key);
    return Status::Error(OpenSslError("certificate chain has no valid PEM certificate"));
  }
  std::vector<X509*> intermediates;
  while (X509* next = PEM_read_bio_X509(chain_bio, nullptr, nullptr, nullptr)) intermediates.push_back(next);
  ERR_clear_error();  // the loop ends on a "no start line" error
  BIO_free(chain_bio);

  auto release = [&] {
    EVP_PKEY_free(key);
    X509_free(leaf);
    for (X509* x : intermediates) X509_free(x);
  };
  if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
    release();
    return Status::Error("certificate is not valid yet (notBefore in the future)");
  }
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
    release();
    return Status::Error("certificate expired (notAfter in the past)");
  }
  if (X509_check_private_key(leaf, key) != 1) {
    ERR_clear_error();
    release();
    return Status::Error("private key does not match the certificate");
  }
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof cn - 1);
  *subject = cn;

  SSL_CTX* ctx = NewBaseContext();
  if (ctx == nullptr) {
    release();
    return Status::Error(OpenSslError("cannot create a TLS context"));
  }
  bool ok = SSL_CTX_use_certificate(ctx, leaf) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  for (X509* x : intermediates) {
    ok = ok && SSL_CTX_add1_chain_cert(ctx, x) == 1;
  }
  release();
  if (!ok) {
    SSL_CTX_free(ctx);
    return Status::Error(OpenSslError("certificate or key rejected"));
  }
  return std::make_shared<ServerContext>(ctx, *subject);
}

}  // namespace

PemPair GenerateSelfSigned(std::string_view common_name) {
  PemPair out;
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* serial_bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(serial_bn, X509_get_serialNumber(cert));
  BN_free(serial_bn);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  std::string cn(common_name);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  out.chain.assign(data, static_cast<size_t>(length));
  BIO_free(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  length = BIO_get_mem_data(bio, &data);
  out.key.assign(data, static_cast<size_t>(length));
  BIO_free(bio);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

std::shared_ptr<const ServerConfig> ServerConfig::Build(const std::vector<CertificateInput>& certificates,
                                                        std::shared_ptr<ServerContext> explicit_default,
                                                        std::shared_ptr<ServerContext> generated_default,
                                                        std::vector<CertificateProblem>* problems) {
  auto config = std::make_shared<ServerConfig>();
  std::shared_ptr<ServerContext> snapshot_default;
  for (const CertificateInput& input : certificates) {
    auto context = NewServerContext(input.chain_pem, input.key_pem);
    if (!context.ok()) {
      if (problems != nullptr) problems->push_back({input.name, context.status().message()});
      continue;
    }
    if (input.sni_names.empty() && snapshot_default == nullptr) snapshot_default = *context;
    for (const std::string& raw : input.sni_names) {
      std::string sni = raw;
      for (char& c : sni) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      if (sni.starts_with("*.")) {
        config->by_wildcard_.emplace(sni.substr(2), *context);  // first (name order) wins
      } else {
        config->by_name_.emplace(sni, *context);
      }
    }
  }
  config->default_ = explicit_default ? explicit_default : snapshot_default ? snapshot_default : generated_default;
  return config;
}

const ServerContext* ServerConfig::Select(std::string_view host) const {
  if (!by_name_.empty()) {
    if (auto it = by_name_.find(std::string(host)); it != by_name_.end()) return it->second.get();
  }
  if (!by_wildcard_.empty()) {
    size_t dot = host.find('.');
    if (dot != std::string_view::npos && dot > 0) {
      if (auto it = by_wildcard_.find(std::string(host.substr(dot + 1))); it != by_wildcard_.end()) {
        return it->second.get();
      }
    }
  }
  return default_.get();
}

SSL* ServerConfig::NewSsl(int fd) const {
  if (default_ == nullptr) return nullptr;
  SSL* ssl = SSL_new(default_->ctx());
  if (ssl == nullptr) return nullptr;
  SSL_set_fd(ssl, fd);
  SSL_set_accept_state(ssl);
  SSL_set_app_data(ssl, const_cast<ServerConfig*>(this));
  return ssl;
}

Result<std::string> ReadPemFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace sluice::tls
