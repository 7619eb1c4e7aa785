#pragma once
// The PROXY protocol (HAProxy's, versions 1 and 2), which a load balancer
// in front of the proxy sends first on every connection to say whom the
// connection is really from. Parsed here from bytes alone (no sockets), so
// the parser is unit-tested and fuzzed (test/fuzz/proxy_protocol_fuzzer.cc).
//
// Strict: the bytes must start with a header; anything else is invalid as
// soon as its first bytes disagree with both signatures (a plain HTTP
// request is refused at once, not after the header timeout).
//   v1  "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN...\r\n",
//       at most 107 bytes.
//   v2  the 12-byte signature, version/command, family/transport, length,
//       then the addresses and TLVs (skipped, not interpreted).
// LOCAL (v2), UNKNOWN (v1) and the UNSPEC and UNIX families say "use the
// connection's own addresses" (a health check from the balancer itself).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/ip_prefix.h"

namespace sluice::proxy_protocol {

// A v1 header is at most this long, CRLF included (the spec's bound).
constexpr size_t kMaxV1Length = 107;
// The v2 fixed part, and the most address + TLV bytes accepted after it.
// The spec allows 65535; balancers send tens (AWS: a VPC endpoint id),
// and a bound keeps what a connection may make us hold small.
constexpr size_t kV2FixedLength = 16;
constexpr size_t kMaxV2Payload = 4096;
// Never more than this is needed to decide.
constexpr size_t kMaxHeaderLength = kV2FixedLength + kMaxV2Payload;

enum class Status : uint8_t {
  kNeedMore,  // a valid beginning: wait for more bytes
  kInvalid,   // not a valid header: close the connection
  kDone,      // a header of `length` bytes
};

struct Header {
  int version = 0;     // 1 or 2
  bool local = false;  // no addresses to use: keep the connection's own
  IpAddress source;
  uint16_t source_port = 0;
  IpAddress destination;
  uint16_t destination_port = 0;
};

struct Result {
  Status status = Status::kNeedMore;
  size_t length = 0;  // kDone: the header's bytes (the connection's data follows)
  Header header;
  std::string_view error;  // kInvalid: why (a literal)
};

// Parses the header at the start of `bytes` (all the connection sent so
// far; more than the header is fine).
Result Parse(std::string_view bytes);

}  // namespace sluice::proxy_protocol
