#include "dataplane/proxy_protocol/proxy_protocol.h"

#include <algorithm>

namespace sluice::proxy_protocol {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);

Result Invalid(std::string_view why) {
  Result result;
  result.status = Status::kInvalid;
  result.error = why;
  return result;
}

// `bytes` is a prefix of `signature` (or the other way round).
bool AgreesWith(std::string_view bytes, std::string_view signature) {
  size_t n = std::min(bytes.size(), signature.size());
  return bytes.substr(0, n) == signature.substr(0, n);
}

// The next space-separated field of a v1 line; empty when there is none.
std::string_view NextField(std::string_view& line) {
  size_t space = line.find(' ');
  std::string_view field = line.substr(0, space);
  line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  return field;
}

bool ParsePort(std::string_view text, uint16_t* port) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

Result ParseV1(std::string_view bytes) {
  // The line ends at the first CRLF, within 107 bytes; a CR or LF that is
  // not part of it is malformed (and stays so whatever follows).
  size_t end = std::string_view::npos;
  size_t scan = std::min(bytes.size(), kMaxV1Length - 1);  // the CR; its LF is the 107th byte at most
  for (size_t i = 0; i < scan; ++i) {
    if (bytes[i] == '\n') return Invalid("PROXY v1 header: bare LF");
    if (bytes[i] != '\r') continue;
    if (i + 1 == bytes.size()) break;  // the LF may come next
    if (bytes[i + 1] != '\n') return Invalid("PROXY v1 header: bare CR");
    end = i;
    break;
  }
  if (end == std::string_view::npos) {
    if (bytes.size() >= kMaxV1Length) return Invalid("PROXY v1 header longer than 107 bytes");
    return Result{};
  }
  Result result;
  result.length = end + 2;
  result.header.version = 1;
  std::string_view line = bytes.substr(kV1Prefix.size(), end - kV1Prefix.size());
  std::string_view protocol = NextField(line);
  if (protocol == "UNKNOWN") {
    // The rest of the line is to be ignored (the spec).
    result.status = Status::kDone;
    result.header.local = true;
    return result;
  }
  if (protocol != "TCP4" && protocol != "TCP6") return Invalid("PROXY v1 header: protocol not TCP4, TCP6 or UNKNOWN");
  std::string_view source = NextField(line), destination = NextField(line);
  std::string_view source_port = NextField(line), destination_port = line;
  bool v4 = protocol == "TCP4";
  std::optional<IpAddress> src = IpAddress::Parse(source), dst = IpAddress::Parse(destination);
  // The family must match the protocol: "TCP4" with IPv6 text is malformed.
  auto family_ok = [v4](std::string_view text) { return (text.find(':') == std::string_view::npos) == v4; };
  if (!src || !dst || !family_ok(source) || !family_ok(destination)) return Invalid("PROXY v1 header: bad address");
  if (!ParsePort(source_port, &result.header.source_port) ||
      !ParsePort(destination_port, &result.header.destination_port)) {
    return Invalid("PROXY v1 header: bad port");
  }
  result.header.source = *src;
  result.header.destination = *dst;
  result.status = Status::kDone;
  return result;
}

uint16_t Read16(const unsigned char* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

Result ParseV2(std::string_view bytes) {
  if (bytes.size() < kV2FixedLength) return Result{};
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  uint8_t version = p[12] >> 4, command = p[12] & 0x0f;
  uint8_t family = p[13] >> 4, transport = p[13] & 0x0f;
  size_t payload = Read16(p + 14);
  if (version != 2) return Invalid("PROXY v2 header: version not 2");
  if (command > 1) return Invalid("PROXY v2 header: command not LOCAL or PROXY");
  if (family > 3 || transport > 2) return Invalid("PROXY v2 header: unknown family or transport");
  if (payload > kMaxV2Payload) return Invalid("PROXY v2 header: longer than 4096 bytes");
  if (bytes.size() < kV2FixedLength + payload) return Result{};
  Result result;
  result.length = kV2FixedLength + payload;
  result.header.version = 2;
  result.status = Status::kDone;
  const unsigned char* addresses = p + kV2FixedLength;
  // LOCAL: the balancer's own connection (health checks); the address
  // block, if any, is to be ignored.
  if (command == 0) {
    result.header.local = true;
    return result;
  }
  if (family == 1 || family == 2) {  // INET, INET6
    if (transport != 1) return Invalid("PROXY v2 header: transport not STREAM");
    size_t need = family == 1 ? 12 : 36;
    if (payload < need) return Invalid("PROXY v2 header: address block too short");
    if (family == 1) {
      auto v4 = [](const unsigned char* a) {
        return IpAddress::FromV4((uint32_t{a[0]} << 24) | (uint32_t{a[1]} << 16) | (uint32_t{a[2]} << 8) | a[3]);
      };
      result.header.source = v4(addresses);
      result.header.destination = v4(addresses + 4);
      result.header.source_port = Read16(addresses + 8);
      result.header.destination_port = Read16(addresses + 10);
    } else {
      result.header.source = IpAddress::FromV6Bytes(addresses);
      result.header.destination = IpAddress::FromV6Bytes(addresses + 16);
      result.header.source_port = Read16(addresses + 32);
      result.header.destination_port = Read16(addresses + 34);
    }
    // What follows (TLVs: ALPN, authority, CRC32C, vendor data) is skipped.
    return result;
  }
  // UNSPEC or UNIX: nothing an address limit can key on; the spec lets the
  // receiver use the connection's own addresses.
  result.header.local = true;
  return result;
}

}  // namespace

Result Parse(std::string_view bytes) {
  if (bytes.empty()) return Result{};
  if (bytes[0] == 'P') {
    if (!AgreesWith(bytes, kV1Prefix)) return Invalid("not a PROXY protocol header");
    if (bytes.size() <= kV1Prefix.size()) return Result{};
    return ParseV1(bytes);
  }
  if (!AgreesWith(bytes, kV2Signature)) return Invalid("not a PROXY protocol header");
  return ParseV2(bytes);
}

}  // namespace sluice::proxy_protocol
