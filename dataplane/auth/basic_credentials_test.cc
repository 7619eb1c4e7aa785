#include "dataplane/auth/basic_credentials.h"

#include <gtest/gtest.h>

#include "dataplane/auth/verified_cache.h"

namespace sluice::auth {
namespace {

TEST(ParseBasicAuthorization, Valid) {
  struct Case {
    const char* value;
    const char* user;
    const char* password;
  } cases[] = {
      {"Basic YWxpY2U6c2VjcmV0", "alice", "secret"},
      {"basic YWxpY2U6c2VjcmV0", "alice", "secret"},
      {"BASIC   YWxpY2U6c2VjcmV0", "alice", "secret"},
      {"Basic YWxpY2U6czplOmNyZXQ=", "alice", "s:e:cret"},  // split at the first colon
      {"Basic YTo=", "a", ""},
      {"Basic OmI=", "", "b"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseBasicAuthorization(c.value);
    ASSERT_TRUE(parsed.has_value()) << c.value;
    EXPECT_EQ(parsed->user, c.user) << c.value;
    EXPECT_EQ(parsed->password, c.password) << c.value;
  }
}

TEST(ParseBasicAuthorization, Invalid) {
  for (const char* value : {
           "", "Basic", "Basic ", "Basic  ", "Bearer YWxpY2U6c2VjcmV0", "BasicYWxpY2U6c2VjcmV0",
           "Basic\tYWxpY2U6c2VjcmV0",   // a tab is not the space the grammar has
           "Basic YWxpY2U=",            // "alice": no colon
           "Basic YWxpY2U6c2VjcmV0 ",   // trailing space
           "Basic YWxpY2U6c2VjcmV",     // not a multiple of 4
           "Basic YWxp Y2U6c2VjcmV0",   // two tokens
           "Basic YWxpY2U6c2VjcmV0==",  // padding too long
           "Basic YWxpY2U6c2Vj=mV0",    // '=' inside
           "Basic YWxpY2U6c2VjcmV0-_",  // base64url
           "Basic YR==",                // non-zero unused bits
           "Basic YWJ=",                // non-zero unused bits
           "Basic ====",
       }) {
    EXPECT_FALSE(ParseBasicAuthorization(value).has_value()) << value;
  }
}

TEST(BasicChallenge, EscapesTheRealm) {
  EXPECT_EQ(BasicChallenge(""), "Basic realm=\"\"");
  EXPECT_EQ(BasicChallenge("Staff only"), "Basic realm=\"Staff only\"");
  EXPECT_EQ(BasicChallenge("a\"b\\c\r\nd"), "Basic realm=\"a\\\"b\\\\cd\"");
}

TEST(VerifiedCache, RemembersForItsLifetime) {
  VerifiedCache cache;
  auto now = std::chrono::steady_clock::now();
  uint64_t a = VerifiedCache::Fingerprint("alice", "secret", "h");
  EXPECT_NE(a, VerifiedCache::Fingerprint("alice", "secreT", "h"));
  EXPECT_NE(a, VerifiedCache::Fingerprint("alice", "secret", "h2"));
  EXPECT_NE(VerifiedCache::Fingerprint("a:b", "c", "h"), VerifiedCache::Fingerprint("a", "b:c", "h"));
  EXPECT_FALSE(cache.Contains(a, now));
  cache.Insert(a, now);
  EXPECT_TRUE(cache.Contains(a, now));
  EXPECT_TRUE(cache.Contains(a, now + VerifiedCache::kLifetime - std::chrono::seconds(1)));
  EXPECT_FALSE(cache.Contains(a, now + VerifiedCache::kLifetime));
}

}  // namespace
}  // namespace sluice::auth
