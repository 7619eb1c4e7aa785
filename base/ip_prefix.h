#pragma once
// IP addresses and CIDR prefixes, IPv4 and IPv6 in one space, and a set of
// prefixes compiled for cheap lookups. Shared by the control plane (which
// validates the CIDRs of Ingress annotations) and the data plane (access
// control, trusted proxies), so both accept exactly the same text.
//
// IPv4 is kept IPv4-mapped (::ffff:a.b.c.d): one table holds both families,
// and a client that reaches a dual-stack socket as ::ffff:10.0.0.1 matches
// 10.0.0.0/8 like one that came over IPv4.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct IpAddress {
  uint64_t hi = 0;  // the first 8 bytes, big-endian
  uint64_t lo = 0;  // the last 8 bytes, big-endian

  // "10.1.2.3", "2001:db8::1", "::ffff:10.1.2.3". Nothing else: no port, no
  // zone, no leading zeros in IPv4 ("010.0.0.1" is octal to some parsers).
  static std::optional<IpAddress> Parse(std::string_view text);
  static IpAddress FromV4(uint32_t host_order);
  static IpAddress FromV6Bytes(const uint8_t bytes[16]);

  bool is_v4() const { return hi == 0 && (lo >> 32) == 0xffffu; }
  // 127.0.0.0/8 (mapped or not) or ::1: a peer on this host (kubectl
  // port-forward and exec arrive from there).
  bool is_loopback() const { return (is_v4() && ((lo >> 24) & 0xff) == 127) || (hi == 0 && lo == 1); }
  // "10.1.2.3" for IPv4 (mapped or not), "2001:db8::1" otherwise.
  std::string ToString() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

struct IpPrefix {
  IpAddress network;  // host bits cleared
  int length = 0;     // in the 128-bit space: an IPv4 /8 is 104

  // "10.0.0.0/8", "2001:db8::/32", or an address alone (a host: /32, /128).
  // Host bits set ("10.1.2.3/8") are cleared, as nginx's allow/deny do.
  static std::optional<IpPrefix> Parse(std::string_view text);
  bool Contains(const IpAddress& address) const;
  IpAddress last() const;  // the highest address in it
  std::string ToString() const;
};

// A set of prefixes as sorted, disjoint address ranges (nested and
// adjacent prefixes merged): a lookup is one binary search, whatever the
// mix of lengths and families. Immutable once built.
class PrefixSet {
 public:
  PrefixSet() = default;
  explicit PrefixSet(const std::vector<IpPrefix>& prefixes);
  bool Contains(const IpAddress& address) const;
  bool empty() const { return ranges_.empty(); }
  size_t range_count() const { return ranges_.size(); }

 private:
  struct Range {
    IpAddress first, last;
  };
  std::vector<Range> ranges_;
};

// Parses a list of CIDRs separated by commas and/or spaces (annotations,
// flags). On an invalid item returns nullopt and, when `bad` is given,
// sets it to that item.
std::optional<std::vector<IpPrefix>> ParsePrefixList(std::string_view text, std::string* bad = nullptr);

}  // namespace sluice
