#include "dataplane/auth/verified_cache.h"

#include <openssl/evp.h>

#include <cstring>

namespace sluice::auth {
namespace {

int64_t Milliseconds(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

uint64_t VerifiedCache::Fingerprint(std::string_view user, std::string_view password, std::string_view hash) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  static const unsigned char kNul = 0;
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  // Lengths first: ("a:b", "c") and ("a", "b:c") differ.
  uint64_t sizes[3] = {user.size(), password.size(), hash.size()};
  EVP_DigestUpdate(ctx, sizes, sizeof sizes);
  EVP_DigestUpdate(ctx, user.data(), user.size());
  EVP_DigestUpdate(ctx, &kNul, 1);
  EVP_DigestUpdate(ctx, password.data(), password.size());
  EVP_DigestUpdate(ctx, &kNul, 1);
  EVP_DigestUpdate(ctx, hash.data(), hash.size());
  EVP_DigestFinal_ex(ctx, digest, &size);
  EVP_MD_CTX_free(ctx);
  uint64_t fingerprint;
  std::memcpy(&fingerprint, digest, sizeof fingerprint);
  return fingerprint == 0 ? 1 : fingerprint;
}

bool VerifiedCache::Contains(uint64_t fingerprint, std::chrono::steady_clock::time_point now) const {
  const Slot& slot = slots_[fingerprint % kSlots];
  if (slot.fingerprint.load(std::memory_order_acquire) != fingerprint) return false;
  return slot.expires_ms.load(std::memory_order_relaxed) > Milliseconds(now);
}

void VerifiedCache::Insert(uint64_t fingerprint, std::chrono::steady_clock::time_point now) {
  Slot& slot = slots_[fingerprint % kSlots];
  slot.expires_ms.store(Milliseconds(now + kLifetime), std::memory_order_relaxed);
  slot.fingerprint.store(fingerprint, std::memory_order_release);
}

}  // namespace sluice::auth
