#include "base/htpasswd.h"

#include <set>

namespace sluice::htpasswd {
namespace {

bool StartsWith(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

bool CryptChar(char c) {
  return c == '.' || c == '/' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool AllCrypt(std::string_view text) {
  for (char c : text) {
    if (!CryptChar(c)) return false;
  }
  return true;
}

bool Base64Char(char c) {
  return c == '+' || c == '/' || c == '=' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z');
}

// "$id$[rounds=N$]salt$hash": the salt and hash of crypt alphabet.
bool CryptShape(std::string_view rest) {
  if (StartsWith(rest, "rounds=")) {
    size_t dollar = rest.find('$');
    if (dollar == std::string_view::npos) return false;
    rest.remove_prefix(dollar + 1);
  }
  size_t dollar = rest.find('$');
  if (dollar == std::string_view::npos) return false;
  return AllCrypt(rest.substr(0, dollar)) && AllCrypt(rest.substr(dollar + 1)) && dollar + 1 < rest.size();
}

}  // namespace

HashKind ClassifyHash(std::string_view hash) {
  if (StartsWith(hash, "$2a$") || StartsWith(hash, "$2b$") || StartsWith(hash, "$2y$")) {
    // $2y$10$ + 22 salt + 31 hash characters.
    std::string_view rest = hash.substr(4);
    if (rest.size() == 3 + 53 && rest[0] >= '0' && rest[0] <= '9' && rest[1] >= '0' && rest[1] <= '9' &&
        rest[2] == '$' && AllCrypt(rest.substr(3))) {
      return HashKind::kBcrypt;
    }
    return HashKind::kUnknown;
  }
  if (StartsWith(hash, "{SHA}")) {
    std::string_view rest = hash.substr(5);
    if (rest.size() != 28) return HashKind::kUnknown;
    for (char c : rest) {
      if (!Base64Char(c)) return HashKind::kUnknown;
    }
    return HashKind::kSha1;
  }
  if (StartsWith(hash, "$apr1$")) return CryptShape(hash.substr(6)) ? HashKind::kApr1 : HashKind::kUnknown;
  if (StartsWith(hash, "$1$")) return CryptShape(hash.substr(3)) ? HashKind::kMd5Crypt : HashKind::kUnknown;
  if (StartsWith(hash, "$5$")) return CryptShape(hash.substr(3)) ? HashKind::kSha256Crypt : HashKind::kUnknown;
  if (StartsWith(hash, "$6$")) return CryptShape(hash.substr(3)) ? HashKind::kSha512Crypt : HashKind::kUnknown;
  if (hash.size() == 13 && AllCrypt(hash)) return HashKind::kDesCrypt;
  return HashKind::kUnknown;
}

const char* HashKindName(HashKind kind) {
  switch (kind) {
    case HashKind::kUnknown: return "not a supported hash (a plaintext password?)";
    case HashKind::kDesCrypt: return "DES crypt";
    case HashKind::kBcrypt: return "bcrypt";
    case HashKind::kSha1: return "SHA1";
    case HashKind::kApr1: return "apr1 MD5";
    case HashKind::kMd5Crypt: return "MD5 crypt";
    case HashKind::kSha256Crypt: return "SHA-256 crypt";
    case HashKind::kSha512Crypt: return "SHA-512 crypt";
  }
  return "?";
}

Parsed ParseFile(std::string_view text) {
  Parsed parsed;
  std::set<std::string, std::less<>> seen;
  int number = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      parsed.problems.push_back({number, "line " + std::to_string(number) + ": no ':' between user and hash"});
      continue;
    }
    std::string_view user = line.substr(0, colon);
    std::string_view hash = line.substr(colon + 1);
    hash = hash.substr(0, hash.find(':'));  // no hash kind has one: a trailing comment field
    if (user.empty()) {
      parsed.problems.push_back({number, "line " + std::to_string(number) + ": empty user name"});
      continue;
    }
    if (!seen.insert(std::string(user)).second) {
      parsed.problems.push_back({number, "line " + std::to_string(number) + ": user \"" + std::string(user) +
                                             "\" again (its first line counts)"});
      continue;
    }
    parsed.entries.push_back(Entry{number, std::string(user), std::string(hash)});
  }
  return parsed;
}

}  // namespace sluice::htpasswd
