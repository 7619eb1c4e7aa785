#include "base/ip_prefix.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace sluice {
namespace {

using U128 = unsigned __int128;

U128 ToU128(const IpAddress& a) { return (static_cast<U128>(a.hi) << 64) | a.lo; }
IpAddress FromU128(U128 v) { return IpAddress{static_cast<uint64_t>(v >> 64), static_cast<uint64_t>(v)}; }
U128 HostMask(int length) { return length >= 128 ? 0 : (~static_cast<U128>(0)) >> length; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::optional<uint32_t> ParseV4(std::string_view text) {
  uint32_t value = 0;
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    size_t start = i;
    uint32_t part = 0;
    while (i < text.size() && IsDigit(text[i]) && i - start < 3) part = part * 10 + static_cast<uint32_t>(text[i++] - '0');
    size_t digits = i - start;
    if (digits == 0 || part > 255 || (digits > 1 && text[start] == '0')) return std::nullopt;
    value = (value << 8) | part;
    ++parts;
    if (parts < 4) {
      if (i >= text.size() || text[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != text.size()) return std::nullopt;
  return value;
}

}  // namespace

IpAddress IpAddress::FromV4(uint32_t host_order) { return IpAddress{0, (uint64_t{0xffff} << 32) | host_order}; }

IpAddress IpAddress::FromV6Bytes(const uint8_t bytes[16]) {
  IpAddress out;
  for (int i = 0; i < 8; ++i) out.hi = (out.hi << 8) | bytes[i];
  for (int i = 8; i < 16; ++i) out.lo = (out.lo << 8) | bytes[i];
  return out;
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  if (text.find(':') == std::string_view::npos) {
    std::optional<uint32_t> v4 = ParseV4(text);
    if (!v4) return std::nullopt;
    return FromV4(*v4);
  }
  char buffer[46];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  uint8_t bytes[16];
  if (inet_pton(AF_INET6, buffer, bytes) != 1) return std::nullopt;
  return FromV6Bytes(bytes);
}

std::string IpAddress::ToString() const {
  char buffer[INET6_ADDRSTRLEN];
  if (is_v4()) {
    // By hand: inet_ntop formats through sprintf, ~1,800 instructions,
    // paid per request by the real_client stage (callgrind).
    char* at = buffer;
    for (int shift = 24; shift >= 0; shift -= 8) {
      unsigned octet = static_cast<unsigned>(lo >> shift) & 0xff;
      if (octet >= 100) *at++ = static_cast<char>('0' + octet / 100);
      if (octet >= 10) *at++ = static_cast<char>('0' + octet / 10 % 10);
      *at++ = static_cast<char>('0' + octet % 10);
      if (shift != 0) *at++ = '.';
    }
    return std::string(buffer, static_cast<size_t>(at - buffer));
  } else {
    uint8_t bytes[16];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
    for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
    inet_ntop(AF_INET6, bytes, buffer, sizeof buffer);
  }
  return buffer;
}

std::optional<IpPrefix> IpPrefix::Parse(std::string_view text) {
  size_t slash = text.find('/');
  std::optional<IpAddress> address = IpAddress::Parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  // An IPv4-mapped IPv6 literal ("::ffff:10.0.0.0/104") counts as IPv6 text.
  bool v4_text = text.substr(0, slash).find(':') == std::string_view::npos;
  int max = v4_text ? 32 : 128;
  int length = max;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
    length = 0;
    for (char c : digits) {
      if (!IsDigit(c)) return std::nullopt;
      length = length * 10 + (c - '0');
    }
    if (length > max) return std::nullopt;
  }
  if (v4_text) length += 96;
  IpPrefix prefix;
  prefix.length = length;
  prefix.network = FromU128(ToU128(*address) & ~HostMask(length));
  return prefix;
}

bool IpPrefix::Contains(const IpAddress& address) const {
  return (ToU128(address) & ~HostMask(length)) == ToU128(network);
}

IpAddress IpPrefix::last() const { return FromU128(ToU128(network) | HostMask(length)); }

std::string IpPrefix::ToString() const {
  bool v4 = network.is_v4() && length >= 96;
  return network.ToString() + "/" + std::to_string(v4 ? length - 96 : length);
}

PrefixSet::PrefixSet(const std::vector<IpPrefix>& prefixes) {
  std::vector<Range> ranges;
  ranges.reserve(prefixes.size());
  for (const IpPrefix& prefix : prefixes) ranges.push_back(Range{prefix.network, prefix.last()});
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.first < b.first; });
  for (const Range& range : ranges) {
    if (!ranges_.empty()) {
      U128 end = ToU128(ranges_.back().last);
      // Overlapping, nested or adjacent (end + 1 == first, unless end is
      // the very last address): one range.
      if (ToU128(range.first) <= end || (end != ~static_cast<U128>(0) && ToU128(range.first) == end + 1)) {
        if (range.last > ranges_.back().last) ranges_.back().last = range.last;
        continue;
      }
    }
    ranges_.push_back(range);
  }
}

bool PrefixSet::Contains(const IpAddress& address) const {
  // The last range starting at or before `address` is the only candidate.
  auto after = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                                [](const IpAddress& a, const Range& r) { return a < r.first; });
  if (after == ranges_.begin()) return false;
  return !(std::prev(after)->last < address);
}

std::optional<std::vector<IpPrefix>> ParsePrefixList(std::string_view text, std::string* bad) {
  std::vector<IpPrefix> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || text[i] == ' ' || text[i] == '\t')) ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ',' && text[i] != ' ' && text[i] != '\t') ++i;
    if (start == i) break;
    std::string_view item = text.substr(start, i - start);
    std::optional<IpPrefix> prefix = IpPrefix::Parse(item);
    if (!prefix) {
      if (bad != nullptr) *bad = std::string(item);
      return std::nullopt;
    }
    out.push_back(*prefix);
  }
  return out;
}

}  // namespace sluice
