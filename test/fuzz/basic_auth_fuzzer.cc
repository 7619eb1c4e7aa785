// libFuzzer target: basic authentication's parsers, fed the same bytes:
// the Authorization field (dataplane/auth/basic_credentials.h), the
// htpasswd file of a Secret (base/htpasswd.h) with the hash kinds, and the
// realm's quoting. Properties beyond "no crash, no sanitizer report":
//  - accepted credentials have a user without ':' and encode back
//    ("Basic " + base64(user:password)) to credentials that parse the same;
//  - every htpasswd entry has a non-empty user without ':' or line break, a
//    hash without ':' or line break, a line number inside the file, and no
//    user twice; a kind the proxy accepts starts with its prefix;
//  - the challenge is one quoted-string: no control byte, every '"' and
//    '\' inside escaped.
#include <set>
#include <string>
#include <string_view>

#include "base/base64.h"
#include "base/htpasswd.h"
#include "dataplane/auth/basic_credentials.h"
#include "test/fuzz/fuzz_util.h"

namespace {

void CheckAuthorization(std::string_view data) {
  auto parsed = sluice::auth::ParseBasicAuthorization(data);
  if (!parsed) return;
  FUZZ_CHECK(parsed->user.find(':') == std::string::npos);
  auto again = sluice::auth::ParseBasicAuthorization("Basic " +
                                                     sluice::EncodeBase64(parsed->user + ":" + parsed->password));
  FUZZ_CHECK(again.has_value() && again->user == parsed->user && again->password == parsed->password);
}

void CheckFile(std::string_view data) {
  using sluice::htpasswd::HashKind;
  sluice::htpasswd::Parsed parsed = sluice::htpasswd::ParseFile(data);
  size_t lines = 1;
  for (char c : data) lines += c == '\n';
  std::set<std::string> users;
  for (const auto& entry : parsed.entries) {
    FUZZ_CHECK(!entry.user.empty());
    FUZZ_CHECK(entry.user.find_first_of(":\n") == std::string::npos);
    FUZZ_CHECK(entry.hash.find_first_of(":\n") == std::string::npos);
    FUZZ_CHECK(entry.line >= 1 && static_cast<size_t>(entry.line) <= lines);
    FUZZ_CHECK(users.insert(entry.user).second);
    HashKind kind = sluice::htpasswd::ClassifyHash(entry.hash);
    std::string_view hash = entry.hash;
    switch (kind) {
      case HashKind::kBcrypt: FUZZ_CHECK(hash.substr(0, 2) == "$2" && hash.size() == 60); break;
      case HashKind::kSha1: FUZZ_CHECK(hash.substr(0, 5) == "{SHA}" && hash.size() == 33); break;
      case HashKind::kApr1: FUZZ_CHECK(hash.substr(0, 6) == "$apr1$"); break;
      case HashKind::kMd5Crypt: FUZZ_CHECK(hash.substr(0, 3) == "$1$"); break;
      case HashKind::kSha256Crypt: FUZZ_CHECK(hash.substr(0, 3) == "$5$"); break;
      case HashKind::kSha512Crypt: FUZZ_CHECK(hash.substr(0, 3) == "$6$"); break;
      case HashKind::kDesCrypt: FUZZ_CHECK(hash.size() == 13); break;
      case HashKind::kUnknown: break;
    }
  }
}

void CheckChallenge(std::string_view data) {
  std::string challenge = sluice::auth::BasicChallenge(data);
  constexpr std::string_view kStart = "Basic realm=\"";
  FUZZ_CHECK(challenge.substr(0, kStart.size()) == kStart && challenge.back() == '"');
  for (size_t i = kStart.size(); i + 1 < challenge.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(challenge[i]);
    FUZZ_CHECK(c >= 0x20 && c != 0x7f);
    if (challenge[i] == '\\') {
      ++i;  // an escape: the next byte is '"' or '\'
      FUZZ_CHECK(i + 1 < challenge.size() && (challenge[i] == '"' || challenge[i] == '\\'));
    } else {
      FUZZ_CHECK(challenge[i] != '"');
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  CheckAuthorization(data);
  CheckFile(data);
  CheckChallenge(data);
  return 0;
}
