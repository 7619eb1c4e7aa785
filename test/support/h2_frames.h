#pragma once
// Test-only HTTP/2 frame and HPACK writers, for tests that must send what
// well-behaved clients never produce (malformed frames, smuggling attempts,
// protocol violations): the unit tests of the server connection and the
// end-to-end tests over real sockets share them.
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::testing::h2 {

enum : uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};
enum : uint8_t { kEndStream = 1, kAck = 1, kEndHeaders = 4, kPriorityFlag = 0x20 };

// A frame: the 9-byte header (RFC 9113 4.1) and `payload`.
inline std::string FrameBytes(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  uint32_t len = static_cast<uint32_t>(payload.size());
  f += static_cast<char>(len >> 16);
  f += static_cast<char>(len >> 8);
  f += static_cast<char>(len);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += static_cast<char>((stream >> 24) & 0x7f);
  f += static_cast<char>(stream >> 16);
  f += static_cast<char>(stream >> 8);
  f += static_cast<char>(stream);
  f.append(payload);
  return f;
}

// Big-endian 32-bit value.
inline std::string U32(uint32_t v) {
  std::string s;
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>(v >> shift);
  return s;
}

// HPACK integer with an N-bit prefix (RFC 7541 5.1).
inline void HpackInt(std::string& out, uint8_t first, int prefix_bits, size_t value) {
  size_t max = (1u << prefix_bits) - 1;
  if (value < max) {
    out += static_cast<char>(first | value);
    return;
  }
  out += static_cast<char>(first | max);
  value -= max;
  while (value >= 128) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

// Literal field with a new name, no Huffman coding; `index` adds it to the
// dynamic table (RFC 7541 6.2.1), otherwise it is not indexed (6.2.2).
inline std::string HpackLiteral(std::string_view name, std::string_view value, bool index = false) {
  std::string out;
  out += static_cast<char>(index ? 0x40 : 0x00);
  HpackInt(out, 0, 7, name.size());
  out.append(name);
  HpackInt(out, 0, 7, value.size());
  out.append(value);
  return out;
}

}  // namespace sluice::testing::h2
