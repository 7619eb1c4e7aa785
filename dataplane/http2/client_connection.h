#pragma once
// The client side of one HTTP/2 connection (upstream h2c/h2, and the test
// clients), over an nghttp2 client session that knows nothing of sockets:
// many concurrent streams, each with a streamed request body (paused while
// the server's window is closed) and a streamed response whose window is
// reopened only as the caller takes the bytes (ConsumeResponseData).
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "dataplane/http/message.h"
#include "dataplane/net/buffer.h"

namespace sluice::http2 {

struct ClientOptions {
  uint32_t initial_stream_window = 256 * 1024;
  uint32_t connection_window = 4 * 1024 * 1024;
  size_t max_header_list_bytes = 64 * 1024;
  size_t max_headers = 100;
  // Request bytes buffered per stream above which the producer pauses.
  size_t stream_high_watermark = 256 * 1024;
  size_t stream_low_watermark = 64 * 1024;
};

class ClientStreamEvents {
 public:
  virtual ~ClientStreamEvents() = default;
  virtual void OnResponseHead(http::ResponseHead head, bool end_stream) = 0;
  // The caller calls ConsumeResponseData once it took the bytes.
  virtual void OnResponseData(std::string_view data) = 0;
  // The response is complete; `trailers` is null without trailers.
  virtual void OnResponseEnd(const http::HeaderMap* trailers) = 0;
  // The stream ended without a complete response: reset by the server
  // (`error_code`, e.g. REFUSED_STREAM after a GOAWAY: safe to retry), or
  // the connection failed. The stream is gone when this returns.
  virtual void OnStreamReset(uint32_t error_code) = 0;
  // The request body buffer fell below the low watermark.
  virtual void OnRequestWritable() = 0;
};

class ClientConnection;

class ClientStream {
 public:
  int32_t id() const { return id_; }
  size_t buffered_request_bytes() const { return body_.size(); }
  bool response_started() const { return response_started_; }

 private:
  friend class ClientConnection;
  int32_t id_ = 0;
  ClientStreamEvents* events_ = nullptr;  // null once detached
  http::ResponseHead head_;
  http::HeaderMap trailers_;
  bool in_trailers_ = false;
  bool headers_too_large_ = false;
  size_t header_list_bytes_ = 0;
  bool response_started_ = false;
  bool response_ended_ = false;
  bool request_ended_ = false;
  bool data_deferred_ = false;
  bool above_high_watermark_ = false;
  net::Buffer body_;  // request bytes not yet framed
  http::HeaderMap request_trailers_;  // sent as a trailing HEADERS after the body
  ClientStream* prev_ = nullptr;
  ClientStream* next_ = nullptr;
};

class ClientConnection {
 public:
  explicit ClientConnection(const ClientOptions& options);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Queues the connection preface and our SETTINGS.
  void Start();
  Status Receive(std::string_view bytes);
  // Frames what is ready into `out` until it holds `limit` bytes or nothing
  // is left. Must not be called from inside an event callback.
  Status SendPending(net::Buffer& out, size_t limit);
  bool WantsWrite() const;
  bool Alive() const;

  // Room for another stream: no GOAWAY from the server and fewer open
  // streams than its SETTINGS_MAX_CONCURRENT_STREAMS.
  bool CanOpenStream() const;
  // `headers` carries the pseudo-headers first (:method, :scheme,
  // :authority, :path). Without `end_stream` the body follows through
  // AppendRequestData/EndRequest. Null when nghttp2 refuses the stream.
  ClientStream* SubmitRequest(const nghttp2_nv* headers, size_t count, bool end_stream, ClientStreamEvents* events);
  void AppendRequestData(ClientStream* stream, std::string_view data);
  // Ends the request body, with a trailing HEADERS frame when `trailers`
  // is non-empty (connection-specific fields are left out).
  void EndRequest(ClientStream* stream, const http::HeaderMap* trailers = nullptr);
  void ConsumeResponseData(ClientStream* stream, size_t n);
  bool RequestBodyFull(const ClientStream* stream) const {
    return stream->body_.size() >= options_.stream_high_watermark;
  }
  // The caller is no longer interested: RST_STREAM CANCEL, no more events.
  void Cancel(ClientStream* stream);
  // The connection is lost: every open stream hears OnStreamReset.
  void FailAllStreams(uint32_t error_code);

  size_t open_streams() const { return open_streams_; }
  bool goaway_received() const { return goaway_received_; }
  const std::string& failure() const { return failure_; }

  class Callbacks;

 private:
  friend class Callbacks;
  ClientStream* StreamFor(int32_t id) const;
  void Unlink(ClientStream* stream);

  ClientOptions options_;
  nghttp2_session* session_ = nullptr;
  size_t open_streams_ = 0;
  ClientStream* streams_ = nullptr;
  bool goaway_received_ = false;
  std::string failure_;
  std::vector<int32_t> writable_;
};

}  // namespace sluice::http2
