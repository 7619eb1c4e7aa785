#pragma once
// htpasswd files and password hash kinds, shared by the controller (which
// reads a basic-auth Secret, keeps only its hashes and refuses the entries
// the proxy must not accept) and the proxy (which verifies against them).
// Standard library only: the hashing itself is dataplane/auth.
#include <string>
#include <string_view>
#include <vector>

namespace sluice::htpasswd {

// The hash formats nginx's auth_basic_user_file accepts, told apart by
// their prefix and shape (not verified here).
enum class HashKind {
  kUnknown,      // anything else: a plaintext password, a typo
  kDesCrypt,     // 13 characters of ./0-9A-Za-z: traditional DES crypt (refused: 8-byte passwords, 12-bit salt)
  kBcrypt,       // $2a$, $2b$, $2y$ (htpasswd -B)
  kSha1,         // {SHA}base64(SHA-1(password)) (htpasswd -s)
  kApr1,         // $apr1$: Apache's MD5 crypt (htpasswd -m, the default)
  kMd5Crypt,     // $1$
  kSha256Crypt,  // $5$
  kSha512Crypt,  // $6$
};

HashKind ClassifyHash(std::string_view hash);
// "bcrypt", "SHA1", ... for messages.
const char* HashKindName(HashKind kind);
// Whether the proxy verifies this kind (everything but unknown and DES).
inline bool Accepted(HashKind kind) { return kind != HashKind::kUnknown && kind != HashKind::kDesCrypt; }

struct Entry {
  int line = 0;  // 1-based line of the file (0 for an auth-map's key)
  std::string user;
  std::string hash;  // up to the end of the line or a further ':'
};

struct ParseProblem {
  int line = 0;
  std::string message;  // "line 3: no ':' between user and hash"
};

struct Parsed {
  std::vector<Entry> entries;  // in file order; a user's first line only
  std::vector<ParseProblem> problems;
};

// Lines "user:hash" (CRLF or LF); blank lines and lines starting with '#'
// are skipped, as nginx does. A user's later lines are problems (nginx
// uses the first). The hash is not classified here.
Parsed ParseFile(std::string_view text);

}  // namespace sluice::htpasswd
