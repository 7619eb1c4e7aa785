// How long one uncached password check takes on the event loop, per hash
// kind: `bazel run //dataplane/auth:password_hash_bench`.
#include <chrono>
#include <cstdio>

#include "dataplane/auth/password_hash.h"

int main() {
  using sluice::htpasswd::ClassifyHash;
  const char* hashes[] = {
      "$2y$05$2tZwt8ttYIQXM7y/oyzWpO3lGLDTbyjlu9LAd9fYMUX9Y5LaAn84G",
      "$2y$10$0DZz0YqsFYk9eAYZmpKfUOrFi2Q6V7hqkGIuyjytMIigXNCdV140u",
      "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
      "$apr1$ucOKVW6V$2b8Eg8F8zKFoCyQg9Cd.Q1",
      "$1$abc$iCQ2D3nhptRYi27fDYv2s1",
      "$5$abc$qsg6EHbUzHQzF1POlD7zUwBINSELQxypPaeDcZe6vH0",
      "$6$abc$IdWKNKTJEb8LxY7CGg8YBXlvtfZzFw7Mp/r6niK9YB2mdvgY..TKjv1T..8RadRt2qvUHYRLr/TsVArtr91iR1",
  };
  for (const char* hash : hashes) {
    constexpr int kRounds = 5;
    auto start = std::chrono::steady_clock::now();
    bool ok = true;
    for (int i = 0; i < kRounds; ++i) ok &= sluice::auth::VerifyPassword(ClassifyHash(hash), hash, "secret");
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / kRounds;
    std::printf("%-8.8s... %-14s %8.3f ms%s\n", hash, sluice::htpasswd::HashKindName(ClassifyHash(hash)), ms,
                ok ? "" : "  MISMATCH");
  }
}
