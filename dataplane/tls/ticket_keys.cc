#include "dataplane/tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <cstring>

namespace sluice::tls {
namespace {

// Fetched once: an implicit fetch per ticket costs a lock and a lookup.
const EVP_CIPHER* TicketCipher() {
  static const EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  return cipher;
}

int TicketCallback(SSL* ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX* cipher,
                   EVP_MAC_CTX* mac, int encrypt) {
  TicketKeyRing& ring = TicketKeyRing::Instance();
  TicketKeyRing::Key key;
  int verdict = 1;
  if (encrypt) {
    key = ring.Current();
    std::memcpy(key_name, key.name.data(), key.name.size());
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(TicketCipher())) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, TicketCipher(), nullptr, key.aes_key.data(), iv) != 1) return -1;
  } else {
    auto found = ring.Find(key_name);
    if (!found) return 0;  // unknown or retired key: full handshake, new ticket
    key = found->first;
    // 2: valid, and issue a new ticket (under the current key). Always so in
    // TLS 1.3, as OpenSSL's built-in keys (and so nginx) do: RFC 8446 has
    // clients use a ticket once (browsers do), so a resumption that hands
    // out no fresh ticket leaves them a full handshake next time. In TLS
    // 1.2 a ticket is reused, so only one sealed by the previous key is
    // renewed.
    verdict = found->second && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
    if (EVP_DecryptInit_ex(cipher, TicketCipher(), nullptr, key.aes_key.data(), iv) != 1) return -1;
  }
  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac_key.data(), key.hmac_key.size());
  params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0);
  params[2] = OSSL_PARAM_construct_end();
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  return verdict;
}

}  // namespace

TicketKeyRing& TicketKeyRing::Instance() {
  static TicketKeyRing* ring = new TicketKeyRing();  // never destroyed: workers may handshake during exit
  return *ring;
}

TicketKeyRing::TicketKeyRing() : current_(NewKey()) {}

TicketKeyRing::Key TicketKeyRing::NewKey() {
  Key key;
  RAND_bytes(key.name.data(), key.name.size());
  RAND_priv_bytes(key.aes_key.data(), key.aes_key.size());
  RAND_priv_bytes(key.hmac_key.data(), key.hmac_key.size());
  return key;
}

void TicketKeyRing::Rotate() {
  Key fresh = NewKey();
  std::lock_guard lock(mu_);
  previous_ = current_;
  current_ = fresh;
  ++rotations_;
}

TicketKeyRing::Key TicketKeyRing::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::optional<std::pair<TicketKeyRing::Key, bool>> TicketKeyRing::Find(const unsigned char* name) const {
  std::lock_guard lock(mu_);
  if (std::memcmp(name, current_.name.data(), current_.name.size()) == 0) return std::make_pair(current_, true);
  if (previous_ && std::memcmp(name, previous_->name.data(), previous_->name.size()) == 0) {
    return std::make_pair(*previous_, false);
  }
  return std::nullopt;
}

uint64_t TicketKeyRing::rotations() const {
  std::lock_guard lock(mu_);
  return rotations_;
}

void TicketKeyRing::Install(SSL_CTX* ctx) { SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, TicketCallback); }

}  // namespace sluice::tls
