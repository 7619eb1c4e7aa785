#pragma once
// The process-wide ring of session ticket keys: every worker and every
// server context (across snapshot swaps) encrypts tickets with the same
// current key, so a client resumes whichever worker its next connection
// lands on. Rotate() makes a fresh current key and keeps the previous one
// for decryption only (tickets it sealed are accepted and re-issued), so a
// ticket lives at most two rotation periods. A TLS 1.3 resumption always
// gets one fresh ticket (clients use each ticket once); a TLS 1.2 one keeps
// its ticket while the key is current.
#include <openssl/types.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>

namespace sluice::tls {

class TicketKeyRing {
 public:
  struct Key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes_key;
    std::array<unsigned char, 32> hmac_key;
  };

  // The one ring of this process (created with a random key on first use).
  static TicketKeyRing& Instance();

  void Rotate();
  Key Current() const;
  // The key called `name` (current or previous) and whether it is current.
  std::optional<std::pair<Key, bool>> Find(const unsigned char* name) const;
  uint64_t rotations() const;

  // Installs the ticket callback on `ctx` (OpenSSL 3 EVP interface).
  static void Install(SSL_CTX* ctx);

 private:
  TicketKeyRing();
  static Key NewKey();
  mutable std::mutex mu_;  // held for a copy of 80 bytes, once per handshake
  Key current_;
  std::optional<Key> previous_;
  uint64_t rotations_ = 0;
};

}  // namespace sluice::tls
