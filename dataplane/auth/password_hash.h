#pragma once
// Checks a password against one htpasswd hash, in constant time for the
// comparison. bcrypt and the $1$/$5$/$6$ crypt families go through
// Debian's libxcrypt (crypt_rn: a maintained, reviewed library rather than
// hand-written hashing); Apache's $apr1$ (md5crypt with another magic,
// which libxcrypt does not know) and {SHA} are computed here with
// OpenSSL's digests. bcrypt is slow on purpose (~1 ms at cost 5, ~70 ms at
// cost 10 on this machine): the basic_auth stage caches successes.
#include <string>
#include <string_view>

#include "base/htpasswd.h"

namespace sluice::auth {

// Whether `password` matches `hash` of `kind` (htpasswd::ClassifyHash).
// False for the kinds the proxy does not accept (unknown, DES).
bool VerifyPassword(htpasswd::HashKind kind, std::string_view hash, std::string_view password);

// Apache's MD5 crypt: "$apr1$" + salt (at most 8 characters) + "$" + 22
// characters; `salt` may carry the whole hash (it stops at its '$').
std::string Apr1Crypt(std::string_view password, std::string_view salt);

}  // namespace sluice::auth
