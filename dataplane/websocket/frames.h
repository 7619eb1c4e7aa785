#pragma once
// Just enough of RFC 6455's framing for a proxy that tunnels WebSocket bytes
// and, when it shuts down, must say so in the protocol (a Close frame with
// 1001 "going away", RFC 6455 §7.4.1) rather than by cutting TCP. A Close
// frame can only be put between two frames, so each direction of a tunnel
// has a FrameBoundary that follows the frame headers (never the payloads,
// which pass untouched) and says when the stream is between frames.
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::websocket {

class FrameBoundary {
 public:
  // Bytes of one direction, in order, as they are forwarded.
  void Feed(std::string_view bytes);
  // Between two frames: a frame may be inserted here.
  bool at_boundary() const { return !lost_ && header_length_ == 0 && payload_left_ == 0; }
  // A header that RFC 6455 forbids (a 64-bit length with its top bit set):
  // the stream is not WebSocket as far as we can tell, and nothing is ever
  // inserted into it.
  bool lost() const { return lost_; }

 private:
  // The header being read: at most 2 + 8 (length) + 4 (mask key) bytes.
  uint8_t header_[14] = {};
  uint8_t header_length_ = 0;
  uint64_t payload_left_ = 0;
  bool lost_ = false;
};

// A Close frame with `code` and `reason` (at most 123 bytes, cut to that).
// `mask_key` non-null: masked, as frames from a client must be (towards the
// upstream server); null: unmasked, as a server sends (towards the client).
std::string CloseFrame(uint16_t code, std::string_view reason, const uint8_t* mask_key);

// 1001: the endpoint is going away (a server shutting down).
inline constexpr uint16_t kGoingAway = 1001;

}  // namespace sluice::websocket
