#pragma once
// What the client and server connections do alike with their nghttp2
// session: create it (the callbacks each side handles, the options both
// need, our allocator), open the connection window, and pump bytes in and
// out with the same error handling. Internal to http2/.
#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "dataplane/net/buffer.h"

namespace sluice::http2 {

// The C callbacks a session calls, per frame and per header field: plain
// function pointers, so nothing is added to that path. Null leaves one
// unset (nghttp2's default).
struct SessionCallbacks {
  nghttp2_on_begin_frame_callback on_begin_frame = nullptr;
  nghttp2_on_begin_headers_callback on_begin_headers = nullptr;
  nghttp2_on_header_callback on_header = nullptr;
  nghttp2_on_frame_recv_callback on_frame_recv = nullptr;
  nghttp2_on_invalid_frame_recv_callback on_invalid_frame_recv = nullptr;
  nghttp2_on_data_chunk_recv_callback on_data_chunk_recv = nullptr;
  nghttp2_on_stream_close_callback on_stream_close = nullptr;
  nghttp2_send_data_callback send_data = nullptr;
};

struct SessionLimits {
  // Streams we may open before the peer's SETTINGS say how many; 0 keeps
  // nghttp2's default (100 in 1.52, unlimited in older versions).
  uint32_t peer_max_concurrent_streams = 0;
};

enum class SessionSide { kClient, kServer };

// A session that leaves WINDOW_UPDATEs to us (windows reopen only as the
// receiver takes the bytes: backpressure) and keeps no closed streams (no
// priority tree of them). `user_data` reaches every callback. The caller
// owns the result (nghttp2_session_del); null if nghttp2 could not create it.
nghttp2_session* NewSession(SessionSide side, const SessionCallbacks& callbacks, const SessionLimits& limits,
                            void* user_data);

// Raises the connection-level receive window to `window` bytes; below
// the RFC's initial 65535 it is left as is.
void OpenConnectionWindow(nghttp2_session* session, uint32_t window);

// Feeds bytes from the peer. On a fatal error `failure` keeps the first
// cause (set here unless already set) and the error carries it.
Status FeedSession(nghttp2_session* session, std::string_view bytes, std::string& failure);

// Frames what is ready into `out` until it holds `limit` bytes or nothing
// is left. Errors as FeedSession.
Status DrainSession(nghttp2_session* session, net::Buffer& out, size_t limit, std::string& failure);

}  // namespace sluice::http2
