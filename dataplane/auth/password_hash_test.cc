#include "dataplane/auth/password_hash.h"

#include <gtest/gtest.h>

namespace sluice::auth {
namespace {

using htpasswd::ClassifyHash;
using htpasswd::HashKind;

bool Check(std::string_view hash, std::string_view password) {
  return VerifyPassword(ClassifyHash(hash), hash, password);
}

// Vectors from `openssl passwd -apr1` and `htpasswd -nbm` (apache2-utils).
TEST(Apr1, MatchesOpensslAndHtpasswd) {
  EXPECT_EQ(Apr1Crypt("secret", "abcdefgh"), "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/");
  EXPECT_EQ(Apr1Crypt("", "x"), "$apr1$x$tMwYqBfQwi3FYAr0aJc8M/");
  EXPECT_EQ(Apr1Crypt("a much longer password than sixteen bytes", "12345678"),
            "$apr1$12345678$RkSsHiO1RUdjaoav57ZaW/");
  EXPECT_EQ(Apr1Crypt("pässwörd", "ab.d/"), "$apr1$ab.d/$qPav5OUbgOhAYaTUp/BZG/");
  // The whole hash as the salt: it stops at its '$'.
  EXPECT_EQ(Apr1Crypt("secret", "$apr1$ucOKVW6V$2b8Eg8F8zKFoCyQg9Cd.Q1"), "$apr1$ucOKVW6V$2b8Eg8F8zKFoCyQg9Cd.Q1");
}

TEST(VerifyPassword, EveryAcceptedKind) {
  struct Case {
    const char* hash;
    HashKind kind;
  } cases[] = {
      {"$2y$05$2tZwt8ttYIQXM7y/oyzWpO3lGLDTbyjlu9LAd9fYMUX9Y5LaAn84G", HashKind::kBcrypt},  // htpasswd -B
      {"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", HashKind::kSha1},                              // htpasswd -s
      {"$apr1$ucOKVW6V$2b8Eg8F8zKFoCyQg9Cd.Q1", HashKind::kApr1},                           // htpasswd -m
      {"$1$abc$iCQ2D3nhptRYi27fDYv2s1", HashKind::kMd5Crypt},                               // openssl passwd -1
      {"$5$abc$qsg6EHbUzHQzF1POlD7zUwBINSELQxypPaeDcZe6vH0", HashKind::kSha256Crypt},       // openssl passwd -5
      {"$6$abc$IdWKNKTJEb8LxY7CGg8YBXlvtfZzFw7Mp/r6niK9YB2mdvgY..TKjv1T..8RadRt2qvUHYRLr/TsVArtr91iR1",
       HashKind::kSha512Crypt},  // openssl passwd -6
  };
  for (const Case& c : cases) {
    ASSERT_EQ(ClassifyHash(c.hash), c.kind) << c.hash;
    EXPECT_TRUE(Check(c.hash, "secret")) << c.hash;
    EXPECT_FALSE(Check(c.hash, "Secret")) << c.hash;
    EXPECT_FALSE(Check(c.hash, "")) << c.hash;
    EXPECT_FALSE(Check(c.hash, std::string_view("secret\0x", 8))) << c.hash;
  }
  EXPECT_TRUE(Check("{SHA}2jmj7l5rSw0yVb/vlWAYkK/YBwk=", ""));  // htpasswd -nbs u ''
}

TEST(VerifyPassword, BcryptCostTen) {
  EXPECT_TRUE(Check("$2y$10$0DZz0YqsFYk9eAYZmpKfUOrFi2Q6V7hqkGIuyjytMIigXNCdV140u", "secret"));
  EXPECT_FALSE(Check("$2y$10$0DZz0YqsFYk9eAYZmpKfUOrFi2Q6V7hqkGIuyjytMIigXNCdV140u", "secreT"));
}

TEST(VerifyPassword, RefusesDesAndPlaintext) {
  // htpasswd -nbd: "secret" under DES crypt. libxcrypt would verify it;
  // the proxy must not (8-byte passwords, 4096 salts).
  EXPECT_EQ(ClassifyHash("XoHrPzmA7g6Ew"), HashKind::kDesCrypt);
  EXPECT_FALSE(VerifyPassword(HashKind::kDesCrypt, "XoHrPzmA7g6Ew", "secret"));
  EXPECT_FALSE(VerifyPassword(HashKind::kUnknown, "secret", "secret"));
}

}  // namespace
}  // namespace sluice::auth
