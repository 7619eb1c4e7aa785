#include "dataplane/ratelimit/request_key.h"

#include <arpa/inet.h>

#include <cstring>
#include <optional>

#include "dataplane/balancer/request_keys.h"
#include "dataplane/balancer/hash.h"

namespace sluice::ratelimit {
namespace {

// Distinct seeds: a header value equal to some client's address is another key.
constexpr uint64_t kAddressSeed = 0x61646472;  // "addr"
constexpr uint64_t kHeaderSeed = 0x68656164;   // "head"
constexpr uint64_t kCookieSeed = 0x636f6f6b;   // "cook"

// `text` as 16 bytes (IPv4 mapped into IPv6), or nothing.
std::optional<std::array<uint8_t, 16>> ParseAddress(std::string_view text) {
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buffer)) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  std::array<uint8_t, 16> bytes{};
  if (inet_pton(AF_INET6, buffer, bytes.data()) == 1) return bytes;
  in_addr v4;
  if (inet_pton(AF_INET, buffer, &v4) != 1) return std::nullopt;
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  std::memcpy(&bytes[12], &v4, 4);
  return bytes;
}

struct ParsedEntry {
  std::array<uint8_t, 16> bytes;
  int prefix;
};

std::optional<ParsedEntry> ParseEntry(std::string_view entry) {
  size_t slash = entry.find('/');
  auto address = ParseAddress(entry.substr(0, slash));
  if (!address) return std::nullopt;
  bool v4 = entry.substr(0, slash).find(':') == std::string_view::npos;
  int max = v4 ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    std::string_view digits = entry.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    prefix = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      prefix = prefix * 10 + (c - '0');
    }
    if (prefix > max) return std::nullopt;
  }
  return ParsedEntry{*address, v4 ? prefix + 96 : prefix};
}

}  // namespace

uint64_t RequestKey(uint64_t limit_id, const KeySpec& spec, const http::HeaderMap& headers,
                    std::string_view client_address) {
  if (spec.kind == KeyKind::kHeader) {
    if (const std::string* value = headers.Get(spec.name)) {
      return balancer::Hash64(*value, limit_id ^ kHeaderSeed);
    }
  } else if (spec.kind == KeyKind::kCookie) {
    if (auto value = balancer::CookieValue(headers, spec.name)) {
      return balancer::Hash64(*value, limit_id ^ kCookieSeed);
    }
  }
  return balancer::Hash64(client_address, limit_id ^ kAddressSeed);
}

bool AddressSet::IsValid(std::string_view entry) { return ParseEntry(entry).has_value(); }

bool AddressSet::Add(std::string_view entry) {
  auto parsed = ParseEntry(entry);
  if (!parsed) return false;
  networks_.push_back(Network{parsed->bytes, parsed->prefix});
  return true;
}

bool AddressSet::Contains(std::string_view address) const {
  if (networks_.empty()) return false;
  auto bytes = ParseAddress(address);
  if (!bytes) return false;
  for (const Network& network : networks_) {
    int full = network.prefix / 8, rest = network.prefix % 8;
    if (std::memcmp(bytes->data(), network.bytes.data(), static_cast<size_t>(full)) != 0) continue;
    if (rest != 0) {
      uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
      if ((((*bytes)[full] ^ network.bytes[full]) & mask) != 0) continue;
    }
    return true;
  }
  return false;
}

}  // namespace sluice::ratelimit
