#include "dataplane/websocket/frames.h"

#include <algorithm>

namespace sluice::websocket {
namespace {

// The whole header's length once its first two bytes are known.
size_t HeaderLength(const uint8_t* header) {
  const uint8_t length7 = header[1] & 0x7f;
  const bool masked = (header[1] & 0x80) != 0;
  return 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + (masked ? 4 : 0);
}

}  // namespace

void FrameBoundary::Feed(std::string_view bytes) {
  size_t at = 0;
  while (!lost_ && at < bytes.size()) {
    if (payload_left_ > 0) {
      const uint64_t skip = std::min<uint64_t>(payload_left_, bytes.size() - at);
      payload_left_ -= skip;
      at += static_cast<size_t>(skip);
      continue;
    }
    header_[header_length_++] = static_cast<uint8_t>(bytes[at++]);
    if (header_length_ < 2 || header_length_ < HeaderLength(header_)) continue;
    // The header is complete.
    const uint8_t length7 = header_[1] & 0x7f;
    uint64_t length = length7;
    if (length7 == 126) {
      length = (uint64_t{header_[2]} << 8) | header_[3];
    } else if (length7 == 127) {
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | header_[2 + i];
      if ((length >> 63) != 0) {  // RFC 6455 §5.2: the most significant bit MUST be 0
        lost_ = true;
        return;
      }
    }
    header_length_ = 0;
    payload_left_ = length;
  }
}

std::string CloseFrame(uint16_t code, std::string_view reason, const uint8_t* mask_key) {
  reason = reason.substr(0, 123);  // a control frame's payload is at most 125 bytes
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xff);
  payload.append(reason);
  std::string frame;
  frame += static_cast<char>(0x88);  // FIN, opcode 8 (Close)
  frame += static_cast<char>((mask_key != nullptr ? 0x80 : 0) | payload.size());
  if (mask_key != nullptr) {
    frame.append(reinterpret_cast<const char*>(mask_key), 4);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ mask_key[i % 4]);
  }
  frame += payload;
  return frame;
}

}  // namespace sluice::websocket
