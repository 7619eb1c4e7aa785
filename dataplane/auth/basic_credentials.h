#pragma once
// The Authorization field of HTTP Basic authentication (RFC 7617), parsed
// strictly: the scheme "Basic" (any case), one or more spaces, one token of
// standard base64 with its padding and nothing after it; decoded, the user
// ends at the first colon (the password may hold more). Anything else is no
// credentials (the stage answers 401).
#include <optional>
#include <string>
#include <string_view>

namespace sluice::auth {

struct BasicCredentials {
  std::string user;
  std::string password;
};

std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view value);

// The realm as a quoted-string for WWW-Authenticate: `Basic realm="..."`,
// with '"' and '\' escaped and control characters dropped.
std::string BasicChallenge(std::string_view realm);

}  // namespace sluice::auth
