#pragma once
// The server side of one HTTP/2 connection, as a thin layer over an nghttp2
// server session that knows nothing of sockets: bytes in (Receive), bytes
// out (SendPending into a buffer, so one write carries many frames), and
// protocol-neutral request/response events per stream. It also holds the
// connection-level defences that nghttp2 leaves to its user: a decoded
// header-list cap (HPACK bomb), a raw header-block cap across CONTINUATION
// frames, and per-second budgets for client resets (CVE-2023-44487) and for
// cheap control frames (PING, SETTINGS, PRIORITY, WINDOW_UPDATE, empty DATA).
//
// In front of nghttp2 sits a frame-header pre-check (Receive): it reads the
// 9-byte header of every frame as the bytes arrive and enforces the RFC 9113
// rules nghttp2 1.52 leaves out with our options: the connection preface
// (§3.4, GOAWAY PROTOCOL_ERROR), PRIORITY on stream 0 (§6.3) or on itself
// (§5.3.1), HEADERS on a lower stream id than one already opened (§5.1.1),
// and DATA or HEADERS on a stream the client closed (§5.1, STREAM_CLOSED).
//
// Flow control is manual both ways: request body bytes open the client's
// window again only when the owner says it took them (ConsumeRequestData),
// and response bytes leave only as the client's window allows.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "dataplane/http/message.h"
#include "dataplane/http2/rate_window.h"
#include "dataplane/net/buffer.h"

namespace sluice::http2 {

// RFC 9113 error codes used here.
enum ErrorCode : uint32_t {
  kNoError = 0x0,
  kProtocolError = 0x1,
  kInternalError = 0x2,
  kFlowControlError = 0x3,
  kRefusedStream = 0x7,
  kStreamClosed = 0x5,
  kCancel = 0x8,
  kEnhanceYourCalm = 0xb,
};

struct ServerOptions {
  uint32_t max_concurrent_streams = 100;
  // Decoded header list (sum of name + value + 32 per field, as in
  // SETTINGS_MAX_HEADER_LIST_SIZE) and field count: above either the stream
  // is answered 431 and the connection goes on.
  size_t max_header_list_bytes = 64 * 1024;
  size_t max_headers = 100;
  // Raw HEADERS + CONTINUATION payload per header block: above it the
  // connection is closed (CONTINUATION flood).
  size_t max_header_block_bytes = 64 * 1024;
  uint32_t initial_stream_window = 256 * 1024;
  uint32_t connection_window = 1024 * 1024;
  // Client RST_STREAMs per second before GOAWAY ENHANCE_YOUR_CALM.
  uint32_t max_resets_per_second = 200;
  // PING + SETTINGS + PRIORITY + WINDOW_UPDATE + empty non-final DATA frames
  // per second (plus one per DATA frame we sent) before GOAWAY.
  uint32_t max_control_frames_per_second = 1000;
  // Response bytes buffered per stream above which the producer pauses.
  size_t stream_high_watermark = 256 * 1024;
  size_t stream_low_watermark = 64 * 1024;
};

class ServerConnection;

// One request/response. Owned by the ServerConnection; valid until
// ServerEvents::OnStreamClosed returns.
class ServerStream {
 public:
  int32_t id() const { return id_; }
  // Free for the owner (the proxy keeps its per-stream state here).
  void* user = nullptr;
  size_t buffered_response_bytes() const { return body_.size(); }
  bool response_submitted() const { return response_submitted_; }
  bool request_ended() const { return request_ended_; }
  // Response bytes this stream handed to nghttp2 (for stall detection).
  uint64_t response_bytes_sent() const { return bytes_sent_; }

 private:
  friend class ServerConnection;
  int32_t id_ = 0;
  http::RequestHead head_;
  http::HeaderMap trailers_;
  bool in_trailers_ = false;
  bool headers_too_large_ = false;
  bool bad_request_ = false;  // answered 400 (e.g. :authority and Host disagree)
  bool client_ended_ = false;  // END_STREAM received from the client
  bool client_reset_ = false;  // RST_STREAM received from the client
  size_t header_list_bytes_ = 0;
  size_t header_block_bytes_ = 0;
  bool request_ended_ = false;
  bool delivered_ = false;  // the owner saw OnRequest
  bool response_submitted_ = false;
  bool response_ended_ = false;
  bool data_deferred_ = false;
  bool above_high_watermark_ = false;
  http::HeaderMap response_trailers_;
  bool has_trailers_ = false;
  net::Buffer body_;  // response bytes not yet framed
  // The submitted response head lives here until the stream ends, so
  // nghttp2 can frame it from these strings without copying them (its
  // NO_COPY flags); ":status" too.
  http::ResponseHead response_head_;
  char status_text_[12] = {};
  uint64_t bytes_sent_ = 0;
  ServerStream* prev_ = nullptr;  // every live stream, to free them with the connection
  ServerStream* next_ = nullptr;
  // A member added here is reset in ServerConnection::ResetForReuse too.
};

class ServerEvents {
 public:
  virtual ~ServerEvents() = default;
  // A complete, valid request head (the stream's own, for the owner to move
  // from: a by-value head was one more move of five strings and a list per
  // request). `end_stream`: no body follows.
  virtual void OnRequest(ServerStream* stream, http::RequestHead&& head, bool end_stream) = 0;
  // Body bytes; the owner calls ConsumeRequestData once it took them.
  virtual void OnRequestData(ServerStream* stream, std::string_view data) = 0;
  // The request is complete; `trailers` is null without trailers.
  virtual void OnRequestEnd(ServerStream* stream, const http::HeaderMap* trailers) = 0;
  // The stream is gone (completed, reset by either side). `error_code` is
  // kNoError for a normal end. Not called for streams that never reached
  // OnRequest.
  virtual void OnStreamClosed(ServerStream* stream, uint32_t error_code) = 0;
  // A stream's buffered response fell below the low watermark.
  virtual void OnResponseWritable(ServerStream* stream) = 0;
};

class ServerConnection {
 public:
  ServerConnection(const ServerOptions& options, ServerEvents* events);
  ~ServerConnection();
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;

  // Queues our SETTINGS. Call once before anything else.
  void Start();
  // Feeds bytes from the client (starting with the connection preface).
  // `now_ms` is any monotonic millisecond clock (for the rate limits).
  // An error means the connection is beyond saving: send what is pending
  // (a GOAWAY when we chose to end it) and close.
  Status Receive(std::string_view bytes, int64_t now_ms);
  // Frames what is ready into `out` until it holds `limit` bytes or nothing
  // is left. Must not be called from inside an event callback.
  Status SendPending(net::Buffer& out, size_t limit);
  bool WantsWrite() const;
  // False once both sides are done with the connection (GOAWAY exchanged,
  // or a fatal error): close after writing what is pending.
  bool Alive() const;

  // The head is kept by the stream until it ends (the rvalue overload
  // takes it without a copy).
  void SubmitResponse(ServerStream* stream, http::ResponseHead&& head, bool end_stream);
  void SubmitResponse(ServerStream* stream, const http::ResponseHead& head, bool end_stream) {
    SubmitResponse(stream, http::ResponseHead(head), end_stream);
  }
  void AppendResponseData(ServerStream* stream, std::string_view data);
  // Ends the response body, with trailers when `trailers` is non-empty.
  void EndResponse(ServerStream* stream, const http::HeaderMap* trailers);
  void ResetStream(ServerStream* stream, uint32_t error_code);
  // The owner took `n` request body bytes: reopen the client's window.
  void ConsumeRequestData(ServerStream* stream, size_t n);
  bool OutputFull(const ServerStream* stream) const {
    return stream->body_.size() >= options_.stream_high_watermark;
  }
  // Nonzero when the client's flow-control window (stream or connection)
  // keeps this stream's buffered response from moving.
  bool WindowBlocked(const ServerStream* stream) const;

  // GOAWAY NO_ERROR with the last stream we started: newer streams are
  // refused, older ones finish.
  void GracefulShutdown();
  // GOAWAY with the largest stream id (RFC 9113 §6.8's first step of a
  // graceful shutdown): the client opens no new streams here but nothing
  // in flight is refused. GracefulShutdown sends the real last id later.
  void ShutdownNotice();
  // GOAWAY `error_code` now; the connection ends once it is sent.
  void Terminate(uint32_t error_code);
  size_t open_streams() const { return open_streams_; }
  bool goaway_sent() const { return goaway_sent_; }
  // Why the connection ended, for the log ("" while healthy).
  const std::string& failure() const { return failure_; }

  class Callbacks;  // the nghttp2 C callbacks (friends of this class)

 private:
  friend class Callbacks;
  ServerStream* StreamFor(int32_t id) const;
  ServerStream* NewStream();
  void RecycleStream(ServerStream* stream);
  static void ResetForReuse(ServerStream* stream);  // as a new ServerStream, keeping the body buffer
  void RejectStream(ServerStream* stream, int status);
  void Fail(uint32_t error_code, const char* why);

  // The frame-header pre-check (see the top of this file).
  enum class Check { kPass, kExact, kFail };
  Check PreCheck(const uint8_t* header, uint32_t* fail_code, const char** why);
  // With nghttp2 fed up to the frame: DATA or HEADERS on an older stream.
  bool ExactCheck(uint8_t type, int32_t id, uint32_t* fail_code, const char** why);
  void NoteEnding(int32_t id);
  void RecordClosed(int32_t id, bool by_client);
  Status Feed(std::string_view bytes);

  ServerOptions options_;
  ServerEvents* events_;
  nghttp2_session* session_ = nullptr;
  int64_t now_ms_ = 0;
  RateWindow resets_;
  RateWindow control_frames_;
  size_t open_streams_ = 0;
  ServerStream* streams_ = nullptr;
  // The stream whose header block is being decoded (set by OnBeginHeaders,
  // cleared when it is recycled): OnHeader runs once per field and looked
  // the stream up in nghttp2 each time (~33 instructions a call).
  ServerStream* header_stream_ = nullptr;
  int32_t header_stream_id_ = 0;
  size_t header_block_bytes_ = 0;  // raw HEADERS + CONTINUATION of the block being received
  bool goaway_sent_ = false;
  bool notice_sent_ = false;  // ShutdownNotice: the GOAWAY with the largest id went out
  bool in_send_ = false;
  net::Buffer* send_out_ = nullptr;  // where SendPending is framing (for NO_COPY DATA)
  std::string failure_;
  std::vector<int32_t> writable_;  // streams that drained while framing
  std::vector<nghttp2_nv> nv_scratch_;  // reused for every head we submit

  // Pre-check state. The header being read when it spans reads (13 bytes:
  // a PRIORITY frame's dependency too), payload bytes still to skip.
  size_t preface_left_ = 24;
  uint8_t scan_header_[13] = {};
  uint8_t scan_have_ = 0;
  uint32_t scan_skip_ = 0;
  int32_t scan_max_id_ = 0;  // highest client stream id on a HEADERS frame seen
  // Streams a frame not yet fed to nghttp2 ends (END_STREAM, RST_STREAM):
  // a DATA frame on one of them waits for nghttp2 to see them first.
  static constexpr size_t kMaxUnfedEnding = 4;
  int32_t unfed_ending_[kMaxUnfedEnding] = {};
  uint8_t unfed_ending_count_ = 0;  // kMaxUnfedEnding + 1: overflowed
  // The lowest stream a HEADERS frame not yet fed opens: DATA on it (or a
  // later one) is checked by nghttp2 itself once fed, no split needed.
  int32_t unfed_first_new_id_ = INT32_MAX;
  // A stream a DATA frame found open, until a stream closes: the frames of
  // one upload cost one lookup.
  int32_t open_hint_id_ = 0;
  // The last closed streams: id, and the top bit set when the client had
  // ended or reset it (a late DATA or HEADERS is then its error) rather than
  // we reset it (late frames are ignored, RFC 9113 §5.1). Streams closed
  // before the ring's window (id <= evicted_max_) are of unknown kind.
  static constexpr size_t kClosedRing = 32;
  uint32_t closed_ring_[kClosedRing] = {};
  uint32_t closed_total_ = 0;
  int32_t evicted_max_ = 0;
};

}  // namespace sluice::http2
