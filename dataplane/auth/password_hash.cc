#include "dataplane/auth/password_hash.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>
#include <memory>

namespace sluice::auth {
namespace {

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  // The lengths are those of the stored hash's format: not secret.
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

class Md5 {
 public:
  Md5() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_md5(), nullptr); }
  void Reset() { EVP_DigestInit_ex(ctx_.get(), EVP_md5(), nullptr); }
  void Update(std::string_view data) { EVP_DigestUpdate(ctx_.get(), data.data(), data.size()); }
  void Update(const unsigned char* data, size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }
  void Final(unsigned char out[16]) {
    unsigned int size = 16;
    EVP_DigestFinal_ex(ctx_.get(), out, &size);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx_;
};

constexpr char kItoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void To64(std::string& out, unsigned long value, int count) {
  while (count-- > 0) {
    out.push_back(kItoa64[value & 0x3f]);
    value >>= 6;
  }
}

bool VerifyCrypt(std::string_view hash, std::string_view password) {
  // crypt_rn takes C strings: a NUL in the password would cut it short,
  // so such a password matches nothing.
  if (password.find('\0') != std::string_view::npos) return false;
  // 32 KiB of scratch per call: one per thread, reused (crypt_rn needs it
  // zeroed only before its first use).
  thread_local std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
  std::string phrase(password), setting(hash);
  const char* result = crypt_rn(phrase.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  if (result == nullptr || result[0] == '*') return false;
  bool equal = ConstantTimeEqual(result, hash);
  OPENSSL_cleanse(phrase.data(), phrase.size());
  return equal;
}

bool VerifySha1(std::string_view hash, std::string_view password) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(password.data(), password.size(), digest, &size, EVP_sha1(), nullptr) != 1) return false;
  unsigned char encoded[64];
  int length = EVP_EncodeBlock(encoded, digest, static_cast<int>(size));
  std::string_view expected = hash.substr(5);  // after "{SHA}"
  return ConstantTimeEqual(std::string_view(reinterpret_cast<const char*>(encoded), length), expected);
}

}  // namespace

std::string Apr1Crypt(std::string_view password, std::string_view salt) {
  constexpr std::string_view kMagic = "$apr1$";
  if (salt.substr(0, kMagic.size()) == kMagic) salt.remove_prefix(kMagic.size());
  salt = salt.substr(0, std::min(salt.find('$'), size_t{8}));

  Md5 md5;
  unsigned char alt[16];
  md5.Update(password);
  md5.Update(salt);
  md5.Update(password);
  md5.Final(alt);

  md5.Reset();
  md5.Update(password);
  md5.Update(kMagic);
  md5.Update(salt);
  for (size_t left = password.size(); left > 0; left -= std::min(left, size_t{16})) {
    md5.Update(alt, std::min(left, size_t{16}));
  }
  static const unsigned char kZero = 0;
  for (size_t bits = password.size(); bits != 0; bits >>= 1) {
    if (bits & 1) {
      md5.Update(&kZero, 1);
    } else {
      md5.Update(password.substr(0, 1));
    }
  }
  unsigned char final[16];
  md5.Final(final);

  // 1000 rounds to slow down guessing (a 1990s idea of slow).
  for (int round = 0; round < 1000; ++round) {
    md5.Reset();
    if (round & 1) {
      md5.Update(password);
    } else {
      md5.Update(final, 16);
    }
    if (round % 3) md5.Update(salt);
    if (round % 7) md5.Update(password);
    if (round & 1) {
      md5.Update(final, 16);
    } else {
      md5.Update(password);
    }
    md5.Final(final);
  }

  std::string out;
  out.reserve(kMagic.size() + salt.size() + 1 + 22);
  out.append(kMagic).append(salt).push_back('$');
  To64(out, (final[0] << 16) | (final[6] << 8) | final[12], 4);
  To64(out, (final[1] << 16) | (final[7] << 8) | final[13], 4);
  To64(out, (final[2] << 16) | (final[8] << 8) | final[14], 4);
  To64(out, (final[3] << 16) | (final[9] << 8) | final[15], 4);
  To64(out, (final[4] << 16) | (final[10] << 8) | final[5], 4);
  To64(out, final[11], 2);
  OPENSSL_cleanse(final, sizeof final);
  OPENSSL_cleanse(alt, sizeof alt);
  return out;
}

bool VerifyPassword(htpasswd::HashKind kind, std::string_view hash, std::string_view password) {
  using htpasswd::HashKind;
  switch (kind) {
    case HashKind::kBcrypt:
    case HashKind::kMd5Crypt:
    case HashKind::kSha256Crypt:
    case HashKind::kSha512Crypt: return VerifyCrypt(hash, password);
    case HashKind::kSha1: return VerifySha1(hash, password);
    case HashKind::kApr1: return ConstantTimeEqual(Apr1Crypt(password, hash), hash);
    case HashKind::kDesCrypt:
    case HashKind::kUnknown: return false;
  }
  return false;
}

}  // namespace sluice::auth
