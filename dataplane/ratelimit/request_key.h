#pragma once
// What a rate-limit bucket is per, read from a request without copying:
// the client address (default), a header's value or a cookie's value. A
// request without that header or cookie falls back to its client address,
// so leaving the header out never escapes the limit. Also the addresses a
// limit never applies to (nginx's limit-whitelist).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/http/message.h"

namespace sluice::ratelimit {

enum class KeyKind : uint8_t { kClientAddress, kHeader, kCookie };

struct KeySpec {
  KeyKind kind = KeyKind::kClientAddress;
  std::string name;  // header name (lower case) or cookie name
};

// The bucket key of a request under limit `limit_id`: a hash of the limit
// and of the key's bytes (header values and addresses never collide: each
// kind hashes its own prefix).
uint64_t RequestKey(uint64_t limit_id, const KeySpec& spec, const http::HeaderMap& headers,
                    std::string_view client_address);

// A set of IPv4/IPv6 networks. Entries are "a.b.c.d/n", "x::y/n" or a
// single address; IPv4-mapped IPv6 clients (::ffff:a.b.c.d) match IPv4
// entries.
class AddressSet {
 public:
  // Returns false (and leaves the set unchanged) when `entry` is not valid.
  bool Add(std::string_view entry);
  bool Contains(std::string_view address) const;
  bool empty() const { return networks_.empty(); }
  // True when `entry` would be accepted by Add (the translator's check).
  static bool IsValid(std::string_view entry);

 private:
  struct Network {
    std::array<uint8_t, 16> bytes{};  // IPv4 as ::ffff:a.b.c.d
    int prefix = 0;                   // over the 128 bits
  };
  std::vector<Network> networks_;
};

}  // namespace sluice::ratelimit
