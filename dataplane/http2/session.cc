#include "dataplane/http2/session.h"

#include <memory>

#include "dataplane/http2/session_memory.h"

namespace sluice::http2 {
namespace {

struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* callbacks) const { nghttp2_session_callbacks_del(callbacks); }
};
struct OptionDeleter {
  void operator()(nghttp2_option* option) const { nghttp2_option_del(option); }
};
using CallbacksPtr = std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter>;
using OptionPtr = std::unique_ptr<nghttp2_option, OptionDeleter>;

// nghttp2 copies both into the session, so they live only while it is made.
// A null callback is the same as one never set (callbacks_new zeroes them).
CallbacksPtr MakeCallbacks(const SessionCallbacks& set) {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return nullptr;
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, set.on_begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, set.on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, set.on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, set.on_frame_recv);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks, set.on_invalid_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, set.on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, set.on_stream_close);
  nghttp2_session_callbacks_set_send_data_callback(callbacks, set.send_data);
  return CallbacksPtr(callbacks);
}

OptionPtr MakeOption(const SessionLimits& limits) {
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) return nullptr;
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_no_closed_streams(option, 1);
  if (limits.peer_max_concurrent_streams != 0) {
    nghttp2_option_set_peer_max_concurrent_streams(option, limits.peer_max_concurrent_streams);
  }
  return OptionPtr(option);
}

}  // namespace

nghttp2_session* NewSession(SessionSide side, const SessionCallbacks& callbacks, const SessionLimits& limits,
                            void* user_data) {
  CallbacksPtr nghttp2_callbacks = MakeCallbacks(callbacks);
  OptionPtr option = MakeOption(limits);
  if (nghttp2_callbacks == nullptr || option == nullptr) return nullptr;
  nghttp2_session* session = nullptr;
  int rv = side == SessionSide::kClient
               ? nghttp2_session_client_new3(&session, nghttp2_callbacks.get(), user_data, option.get(),
                                             SessionMemory())
               : nghttp2_session_server_new3(&session, nghttp2_callbacks.get(), user_data, option.get(),
                                             SessionMemory());
  // On failure nghttp2 has freed the session but may leave the pointer set.
  return rv == 0 ? session : nullptr;
}

void OpenConnectionWindow(nghttp2_session* session, uint32_t window) {
  if (window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) {
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, static_cast<int32_t>(window));
  }
}

Status FeedSession(nghttp2_session* session, std::string_view bytes, std::string& failure) {
  ssize_t rv = nghttp2_session_mem_recv(session, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (rv < 0) {
    if (failure.empty()) failure = nghttp2_strerror(static_cast<int>(rv));
    return Status::Error(failure);
  }
  return Status::Ok();
}

Status DrainSession(nghttp2_session* session, net::Buffer& out, size_t limit, std::string& failure) {
  while (out.size() < limit) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session, &data);
    if (n < 0) {
      if (failure.empty()) failure = nghttp2_strerror(static_cast<int>(n));
      return Status::Error(failure);
    }
    if (n == 0) break;
    out.Append(std::string_view(reinterpret_cast<const char*>(data), static_cast<size_t>(n)));
  }
  return Status::Ok();
}

}  // namespace sluice::http2
