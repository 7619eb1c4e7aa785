#pragma once
// Small helpers shared by the HTTP/2 server and client wrappers.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "dataplane/http/message.h"

namespace sluice::http2 {

// Connection-specific fields that HTTP/2 forbids (RFC 9113 8.2.2); "te" is
// allowed only as "te: trailers", which the caller handles.
inline bool IsConnectionSpecific(std::string_view name) {
  switch (name.size()) {
    case 2: return name == "te";
    case 7: return name == "upgrade";
    case 10: return name == "connection" || name == "keep-alive";
    case 16: return name == "proxy-connection";
    case 17: return name == "transfer-encoding";
    default: return false;
  }
}

// nghttp2 copies the name and value when the frame is submitted, unless
// `flags` holds NGHTTP2_NV_FLAG_NO_COPY_NAME / _VALUE: then they must stay
// valid until the frame is sent (and a name so passed must be lower case).
inline nghttp2_nv MakeNv(std::string_view name, std::string_view value, uint8_t flags = NGHTTP2_NV_FLAG_NONE) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(), flags};
}

// No 'A'..'Z' in `name`. Eight bytes at a time: this runs for every
// response field, and a byte loop was ~6 instructions per character.
inline bool IsLowerCaseName(std::string_view name) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  size_t i = 0;
  for (; i + 8 <= name.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, name.data() + i, 8);
    uint64_t low7 = word & ~kHigh;
    uint64_t at_least_a = low7 + kOnes * (0x80 - 'A');      // high bit: byte >= 'A'
    uint64_t above_z = low7 + kOnes * (0x80 - 'Z' - 1);     // high bit: byte > 'Z'
    if ((at_least_a & ~above_z & ~word & kHigh) != 0) return false;  // ASCII and in 'A'..'Z'
  }
  for (; i < name.size(); ++i) {
    if (name[i] >= 'A' && name[i] <= 'Z') return false;
  }
  return true;
}

// HTTP/2 may split Cookie into one field per pair; HTTP/1.1 needs one
// field joined with "; " (RFC 9113 8.2.3).
inline void JoinCookies(http::HeaderMap& headers) {
  if (headers.Count("cookie") < 2) return;
  std::string joined;
  for (const http::Header& h : headers.entries()) {
    if (h.name != "cookie") continue;
    if (!joined.empty()) joined += "; ";
    joined += h.value;
  }
  headers.Set("cookie", std::move(joined));
}

}  // namespace sluice::http2
