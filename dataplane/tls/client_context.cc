#include "dataplane/tls/client_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>

namespace sluice::tls {
namespace {

int EndpointKeyIndex() {
  static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string HexDigest(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  char hex[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  return std::string(hex, 16);
}

}  // namespace

Result<std::shared_ptr<ClientContext>> ClientContext::Get(const ClientSettings& settings) {
  std::string identity = "tls|" + settings.server_name + "|" + (settings.verify ? "verify" : "noverify") + "|" +
                         (settings.verify ? HexDigest(settings.ca_pem) : "") + "|" + (settings.h2 ? "h2" : "h1");
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<ClientContext>> cache;
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(identity); it != cache.end()) {
      if (auto alive = it->second.lock()) return alive;
    }
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return Status::Error("cannot create a TLS client context");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  static const unsigned char kH2[] = "\x02h2";
  static const unsigned char kH1[] = "\x08http/1.1";
  if (settings.h2) {
    SSL_CTX_set_alpn_protos(ctx, kH2, sizeof kH2 - 1);
  } else {
    SSL_CTX_set_alpn_protos(ctx, kH1, sizeof kH1 - 1);
  }
  if (settings.verify) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    BIO* bio = BIO_new_mem_buf(settings.ca_pem.data(), static_cast<int>(settings.ca_pem.size()));
    int added = 0;
    while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      if (X509_STORE_add_cert(store, ca) == 1) ++added;
      X509_free(ca);
    }
    BIO_free(bio);
    ERR_clear_error();
    // No CA given: the system's. A CA bundle with nothing usable in it
    // leaves the store empty, so every handshake fails: closed, not open.
    if (settings.ca_pem.empty() && added == 0) SSL_CTX_set_default_verify_paths(ctx);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, OnNewSession);

  auto context = std::shared_ptr<ClientContext>(new ClientContext());
  context->ctx_ = ctx;
  context->settings_ = settings;
  context->identity_ = identity;
  SSL_CTX_set_app_data(ctx, context.get());
  std::lock_guard lock(mu);
  std::erase_if(cache, [](const auto& entry) { return entry.second.expired(); });
  cache[identity] = context;
  return context;
}

ClientContext::~ClientContext() {
  for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
  SSL_CTX_free(ctx_);
}

int ClientContext::OnNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<ClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  auto* endpoint = static_cast<const std::string*>(SSL_get_ex_data(ssl, EndpointKeyIndex()));
  if (self == nullptr || endpoint == nullptr) return 0;
  std::lock_guard lock(self->sessions_mu_);
  SSL_SESSION*& slot = self->sessions_[*endpoint];
  if (slot != nullptr) SSL_SESSION_free(slot);
  slot = session;
  return 1;  // we keep the reference
}

std::unique_ptr<TlsTransport> ClientContext::NewTransport(int fd, const std::string& endpoint_key) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  SSL_set_fd(ssl, fd);
  SSL_set_connect_state(ssl);
  if (!settings_.server_name.empty()) {
    SSL_set_tlsext_host_name(ssl, settings_.server_name.c_str());
    if (settings_.verify) SSL_set1_host(ssl, settings_.server_name.c_str());
  }
  auto transport = std::make_unique<TlsTransport>(ssl, fd);
  transport->set_session_key(endpoint_key);
  SSL_set_ex_data(ssl, EndpointKeyIndex(), const_cast<std::string*>(&transport->session_key()));
  std::lock_guard lock(sessions_mu_);
  if (auto it = sessions_.find(endpoint_key); it != sessions_.end()) SSL_set_session(ssl, it->second);
  return transport;
}

}  // namespace sluice::tls
