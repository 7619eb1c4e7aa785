#include "base/htpasswd.h"

#include <gtest/gtest.h>

namespace sluice::htpasswd {
namespace {

TEST(ClassifyHash, EveryKind) {
  struct Case {
    const char* hash;
    HashKind kind;
  } cases[] = {
      // htpasswd -nbB / -nbs / -nbm / -nbd / -nbp (apache2-utils), openssl passwd -1/-5/-6/-apr1.
      {"$2y$05$2tZwt8ttYIQXM7y/oyzWpO3lGLDTbyjlu9LAd9fYMUX9Y5LaAn84G", HashKind::kBcrypt},
      {"$2b$10$2tZwt8ttYIQXM7y/oyzWpO3lGLDTbyjlu9LAd9fYMUX9Y5LaAn84G", HashKind::kBcrypt},
      {"$2a$12$2tZwt8ttYIQXM7y/oyzWpO3lGLDTbyjlu9LAd9fYMUX9Y5LaAn84G", HashKind::kBcrypt},
      {"$2y$05$short", HashKind::kUnknown},
      {"$2x$05$2tZwt8ttYIQXM7y/oyzWpO3lGLDTbyjlu9LAd9fYMUX9Y5LaAn84G", HashKind::kUnknown},
      {"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", HashKind::kSha1},
      {"{SHA}5en6G6Mez", HashKind::kUnknown},
      {"$apr1$ucOKVW6V$2b8Eg8F8zKFoCyQg9Cd.Q1", HashKind::kApr1},
      {"$apr1$ucOKVW6V", HashKind::kUnknown},
      {"$1$abc$iCQ2D3nhptRYi27fDYv2s1", HashKind::kMd5Crypt},
      {"$5$abc$qsg6EHbUzHQzF1POlD7zUwBINSELQxypPaeDcZe6vH0", HashKind::kSha256Crypt},
      {"$5$rounds=10000$abc$qsg6EHbUzHQzF1POlD7zUwBINSELQxypPaeDcZe6vH0", HashKind::kSha256Crypt},
      {"$6$abc$IdWKNKTJEb8LxY7CGg8YBXlvtfZzFw7Mp/r6niK9YB2mdvgY..TKjv1T..8RadRt2qvUHYRLr/TsVArtr91iR1",
       HashKind::kSha512Crypt},
      {"XoHrPzmA7g6Ew", HashKind::kDesCrypt},
      {"secret", HashKind::kUnknown},
      {"", HashKind::kUnknown},
      {"$y$j9T$abc$def", HashKind::kUnknown},  // yescrypt: nginx on Debian would take it; we do not (yet)
  };
  for (const Case& c : cases) EXPECT_EQ(ClassifyHash(c.hash), c.kind) << c.hash;
  EXPECT_FALSE(Accepted(HashKind::kDesCrypt));
  EXPECT_FALSE(Accepted(HashKind::kUnknown));
  EXPECT_TRUE(Accepted(HashKind::kApr1));
}

TEST(ParseFile, LinesCommentsDuplicatesAndProblems) {
  Parsed parsed = ParseFile(
      "# users\r\n"
      "alice:$apr1$ucOKVW6V$2b8Eg8F8zKFoCyQg9Cd.Q1\r\n"
      "\n"
      "nocolon\n"
      ":nouser\n"
      "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=:a comment\n"
      "alice:other\n"
      "carol:");
  ASSERT_EQ(parsed.entries.size(), 3u);
  EXPECT_EQ(parsed.entries[0].user, "alice");
  EXPECT_EQ(parsed.entries[0].line, 2);
  EXPECT_EQ(parsed.entries[0].hash, "$apr1$ucOKVW6V$2b8Eg8F8zKFoCyQg9Cd.Q1");
  EXPECT_EQ(parsed.entries[1].user, "bob");
  EXPECT_EQ(parsed.entries[1].hash, "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=");
  EXPECT_EQ(parsed.entries[2].user, "carol");
  EXPECT_EQ(parsed.entries[2].hash, "");
  ASSERT_EQ(parsed.problems.size(), 3u);
  EXPECT_EQ(parsed.problems[0].message, "line 4: no ':' between user and hash");
  EXPECT_EQ(parsed.problems[1].message, "line 5: empty user name");
  EXPECT_EQ(parsed.problems[2].message, "line 7: user \"alice\" again (its first line counts)");
}

}  // namespace
}  // namespace sluice::htpasswd
