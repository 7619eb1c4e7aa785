#include "dataplane/http2/server_connection.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/http/spare_fields.h"
#include "dataplane/http2/header_names.h"
#include "dataplane/http2/session.h"

namespace sluice::http2 {
namespace {

// Closed streams kept per worker thread for the next ones, with their body
// buffer: a stream per request was otherwise a handful of allocations. Per
// thread rather than per connection, so idle connections hold none; bounded
// in count and in the buffer each keeps.
constexpr size_t kMaxSpareStreams = 256;
constexpr size_t kMaxSpareBodyCapacity = 16 * 1024;

struct SpareStreams {
  std::vector<ServerStream*> streams;
  ~SpareStreams() {
    for (ServerStream* s : streams) delete s;
  }
};
thread_local SpareStreams spare_streams;

constexpr uint8_t kNoCopy = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;

}  // namespace

class ServerConnection::Callbacks {
 public:
  static ServerConnection* Self(void* user_data) { return static_cast<ServerConnection*>(user_data); }

  static int OnBeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) {
    ServerConnection* self = Self(user_data);
    switch (hd->type) {
      case NGHTTP2_HEADERS:
        self->header_block_bytes_ = hd->length;
        break;
      case NGHTTP2_CONTINUATION:
        self->header_block_bytes_ += hd->length;
        break;
      case NGHTTP2_RST_STREAM:
        if (self->resets_.Add(self->now_ms_) > self->options_.max_resets_per_second) {
          self->Fail(kEnhanceYourCalm, "too many stream resets (rapid reset)");
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        if (ServerStream* stream = self->StreamFor(hd->stream_id)) stream->client_reset_ = true;
        return 0;
      case NGHTTP2_DATA:
        if (hd->length != 0 || (hd->flags & NGHTTP2_FLAG_END_STREAM)) return 0;
        [[fallthrough]];  // an empty, non-final DATA frame carries nothing
      case NGHTTP2_PING:
      case NGHTTP2_SETTINGS:
      case NGHTTP2_PRIORITY:
      case NGHTTP2_WINDOW_UPDATE:
        if (self->control_frames_.Add(self->now_ms_) >
            self->options_.max_control_frames_per_second + self->control_frames_.credit()) {
          self->Fail(kEnhanceYourCalm, "control frame flood");
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
      default:
        return 0;
    }
    // HEADERS or CONTINUATION: the raw block, before any HPACK work.
    if (self->header_block_bytes_ > self->options_.max_header_block_bytes) {
      self->Fail(kEnhanceYourCalm, "header block too large (CONTINUATION flood)");
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int OnBeginHeaders(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    ServerConnection* self = Self(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      ServerStream* stream = self->NewStream();
      stream->id_ = frame->hd.stream_id;
      // Room for a typical request's fields at once, from a spare list
      // (a finished exchange gave its own back) when there is one.
      http::SpareFieldLists::Take(stream->head_.headers, 8);
      nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, stream);
      stream->next_ = self->streams_;
      if (self->streams_ != nullptr) self->streams_->prev_ = stream;
      self->streams_ = stream;
      ++self->open_streams_;
      self->header_stream_ = stream;
      self->header_stream_id_ = stream->id_;
      return 0;
    }
    ServerStream* stream = self->StreamFor(frame->hd.stream_id);
    self->header_stream_ = stream;
    self->header_stream_id_ = stream != nullptr ? frame->hd.stream_id : 0;
    if (stream != nullptr) {
      stream->in_trailers_ = true;
      stream->header_list_bytes_ = 0;
    }
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name_bytes, size_t name_len,
                      const uint8_t* value_bytes, size_t value_len, uint8_t, void* user_data) {
    ServerConnection* self = Self(user_data);
    ServerStream* stream = frame->hd.stream_id == self->header_stream_id_ && self->header_stream_ != nullptr
                               ? self->header_stream_
                               : self->StreamFor(frame->hd.stream_id);
    if (stream == nullptr || stream->headers_too_large_) return 0;
    std::string_view name(reinterpret_cast<const char*>(name_bytes), name_len);
    std::string_view value(reinterpret_cast<const char*>(value_bytes), value_len);
    // Counted as SETTINGS_MAX_HEADER_LIST_SIZE counts: on the decoded list,
    // so a few bytes of HPACK references cannot expand without bound.
    stream->header_list_bytes_ += name_len + value_len + 32;
    size_t count = stream->in_trailers_ ? stream->trailers_.size() : stream->head_.headers.size();
    if (stream->header_list_bytes_ > self->options_.max_header_list_bytes || count >= self->options_.max_headers) {
      stream->headers_too_large_ = true;
      return 0;
    }
    if (stream->in_trailers_) {
      if (!name.empty() && name[0] == ':') return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      stream->trailers_.Add(std::string(name), std::string(value));
      return 0;
    }
    http::RequestHead& head = stream->head_;
    if (!name.empty() && name[0] == ':') {
      // nghttp2 has checked that pseudo-headers are known, unique and first.
      // By length first: one compare each, not a chain of them.
      switch (name_len) {
        case 5:
          if (name == ":path") {
            head.path.assign(value);
            head.target.assign(value);
          }
          break;
        case 7:
          if (name == ":method") {
            head.method.assign(value);
          } else if (name == ":scheme") {
            head.scheme.assign(value);
          }
          break;
        case 10:
          if (name == ":authority") head.authority.assign(value);
          break;
      }
      return 0;
    }
    if (name_len == 4 && name == "host") {
      // The authority is what counts (routing); the proxy writes its own
      // Host. A Host that names something else makes the request malformed
      // (RFC 9113 §8.3.1): answered 400, never routed.
      if (head.authority.empty()) {
        head.authority.assign(value);
      } else if (!http::EqualsIgnoreCase(head.authority, value)) {
        stream->bad_request_ = true;
      }
      return 0;
    }
    // Built in place: no temporary strings to move and destroy; a long
    // value (user-agent) in a spare string.
    http::SpareFieldLists::AppendField(head.headers, name, value);
    return 0;
  }

  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    ServerConnection* self = Self(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    ServerStream* stream = self->StreamFor(frame->hd.stream_id);
    if (stream == nullptr) return 0;
    bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (end_stream) stream->client_ended_ = true;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      self->header_block_bytes_ = 0;
      if (stream->headers_too_large_) {
        self->RejectStream(stream, 431);
        return 0;
      }
      http::RequestHead& head = stream->head_;
      // nghttp2 checks :path only for the http and https schemes: any other
      // must not reach an HTTP/1.1 request line either (RFC 9113 §8.3.1).
      // CONNECT (no :path) is refused by the owner.
      if (!head.path.empty() && head.path[0] != '/' && !(head.path == "*" && head.method == "OPTIONS")) {
        self->ResetStream(stream, kProtocolError);
        return 0;
      }
      if (stream->bad_request_) {
        self->RejectStream(stream, 400);
        return 0;
      }
      JoinCookies(head.headers);
      head.version_major = 2;
      head.version_minor = 0;
      stream->request_ended_ = end_stream;
      stream->delivered_ = true;
      self->events_->OnRequest(stream, std::move(head), end_stream);
      return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS) self->header_block_bytes_ = 0;
    if (!end_stream || stream->request_ended_) return 0;
    stream->request_ended_ = true;
    if (!stream->delivered_) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && stream->headers_too_large_) {
      self->ResetStream(stream, kProtocolError);  // trailers over the limit
      return 0;
    }
    bool has_trailers = frame->hd.type == NGHTTP2_HEADERS && !stream->trailers_.empty();
    self->events_->OnRequestEnd(stream, has_trailers ? &stream->trailers_ : nullptr);
    return 0;
  }

  static int OnDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                         void* user_data) {
    ServerConnection* self = Self(user_data);
    ServerStream* stream = self->StreamFor(stream_id);
    if (stream == nullptr || !stream->delivered_ || stream->request_ended_) {
      nghttp2_session_consume(session, stream_id, len);  // nobody wants it; keep the window open
      return 0;
    }
    self->events_->OnRequestData(stream, std::string_view(reinterpret_cast<const char*>(data), len));
    return 0;
  }

  static int OnStreamClose(nghttp2_session* session, int32_t stream_id, uint32_t error_code, void* user_data) {
    ServerConnection* self = Self(user_data);
    ServerStream* stream = self->StreamFor(stream_id);
    self->RecordClosed(stream_id, stream != nullptr && (stream->client_ended_ || stream->client_reset_));
    if (stream == nullptr) return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, nullptr);
    if (stream->prev_ != nullptr) stream->prev_->next_ = stream->next_;
    if (stream->next_ != nullptr) stream->next_->prev_ = stream->prev_;
    if (self->streams_ == stream) self->streams_ = stream->next_;
    --self->open_streams_;
    if (stream->delivered_) self->events_->OnStreamClosed(stream, error_code);
    self->RecycleStream(stream);
    return 0;
  }

  // A HEADERS frame nghttp2 turned down without opening a stream (refused
  // over the concurrency limit): we reset it, so late frames are ignored.
  static int OnInvalidFrame(nghttp2_session* session, const nghttp2_frame* frame, int, void* user_data) {
    if (frame->hd.type == NGHTTP2_HEADERS && nghttp2_session_find_stream(session, frame->hd.stream_id) == nullptr) {
      Self(user_data)->RecordClosed(frame->hd.stream_id, false);
    }
    return 0;
  }

  static ssize_t ReadResponseBody(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length,
                                  uint32_t* data_flags, nghttp2_data_source* source, void* user_data) {
    ServerConnection* self = Self(user_data);
    auto* stream = static_cast<ServerStream*>(source->ptr);
    // Only sizes the frame: SendResponseData below writes the bytes from
    // the stream's buffer straight into the output (NO_COPY), so they are
    // not copied into nghttp2's frame buffer first.
    (void)buf;
    size_t n = std::min(length, stream->body_.size());
    if (n < stream->body_.size()) {
      *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
      return static_cast<ssize_t>(n);
    }
    if (!stream->response_ended_) {
      if (n > 0) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
        return static_cast<ssize_t>(n);
      }
      stream->data_deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_COPY;
    if (stream->has_trailers_) {
      std::vector<nghttp2_nv>& nv = self->nv_scratch_;
      nv.clear();
      for (const http::Header& h : stream->response_trailers_.entries()) {
        if (IsConnectionSpecific(h.name)) continue;
        nv.push_back(MakeNv(h.name, h.value));
      }
      if (nghttp2_submit_trailer(session, stream_id, nv.data(), nv.size()) == 0) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
    return static_cast<ssize_t>(n);
  }

  // The DATA frame ReadResponseBody sized: header, then the payload from
  // the stream's buffer, appended to the output SendPending is filling.
  static int SendResponseData(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length,
                              nghttp2_data_source* source, void* user_data) {
    ServerConnection* self = Self(user_data);
    auto* stream = static_cast<ServerStream*>(source->ptr);
    net::Buffer* out = self->send_out_;
    if (out == nullptr || length > stream->body_.size()) return NGHTTP2_ERR_CALLBACK_FAILURE;
    out->Append(std::string_view(reinterpret_cast<const char*>(framehd), 9));
    size_t padlen = frame->data.padlen;  // never asked for; written as the callback contract says
    if (padlen > 0) out->Append(std::string(1, static_cast<char>(padlen - 1)));
    if (length > 0) {
      out->Append(stream->body_.view().substr(0, length));
      stream->body_.Consume(length);
      stream->bytes_sent_ += length;
      // Each DATA frame invites a WINDOW_UPDATE: not part of a flood.
      self->control_frames_.Credit(self->now_ms_);
    }
    if (padlen > 1) out->Append(std::string(padlen - 1, '\0'));
    if (stream->above_high_watermark_ && stream->body_.size() < self->options_.stream_low_watermark) {
      stream->above_high_watermark_ = false;
      self->writable_.push_back(stream->id_);
    }
    return 0;
  }
};

ServerConnection::ServerConnection(const ServerOptions& options, ServerEvents* events)
    : options_(options), events_(events) {
  SessionCallbacks callbacks;
  callbacks.on_begin_frame = &Callbacks::OnBeginFrame;
  callbacks.on_begin_headers = &Callbacks::OnBeginHeaders;
  callbacks.on_header = &Callbacks::OnHeader;
  callbacks.on_frame_recv = &Callbacks::OnFrameRecv;
  callbacks.on_invalid_frame_recv = &Callbacks::OnInvalidFrame;
  callbacks.on_data_chunk_recv = &Callbacks::OnDataChunk;
  callbacks.on_stream_close = &Callbacks::OnStreamClose;
  callbacks.send_data = &Callbacks::SendResponseData;
  // The clients' streams are limited by our SETTINGS, not by an option.
  session_ = NewSession(SessionSide::kServer, callbacks, SessionLimits(), this);
}

ServerConnection::~ServerConnection() {
  // nghttp2_session_del does not call on_stream_close: streams still open
  // are freed here (the owner has dropped its state for them already).
  events_ = nullptr;
  if (session_ != nullptr) nghttp2_session_del(session_);
  while (streams_ != nullptr) {
    ServerStream* next = streams_->next_;
    delete streams_;
    streams_ = next;
  }
}

void ServerConnection::Start() {
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options_.initial_stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(options_.max_header_list_bytes)},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, sizeof settings / sizeof settings[0]);
  OpenConnectionWindow(session_, options_.connection_window);
}

// ---- the frame-header pre-check
//
// nghttp2 1.52, with the options we use (no closed streams kept, RFC 7540
// priorities off), silently ignores: DATA on a closed stream (it even opens
// the window again), HEADERS on a stream id lower than the highest opened,
// and every PRIORITY frame, including one on stream 0 or one that makes a
// stream depend on itself. And a bad client preface ends the session
// without a GOAWAY. So Receive walks the frame headers of the bytes before
// nghttp2 does: per frame two big-endian loads and a few compares (a HEADERS
// frame opening a stream, DATA on a stream opened in the same read or known
// open, any control frame); a stream lookup for the first DATA frame on a
// stream opened in an earlier read (and again after any stream closed).
// Only a frame that needs nghttp2's stream state as of that frame (DATA on
// a stream a frame of this read ends or resets, DATA on a stream not open,
// HEADERS on an older id: trailers or a violation) splits the read there,
// so nghttp2 has seen everything before it. Measured with callgrind on
// pipelined h2c requests through ServerConnection alone: +68 instructions
// per GET (0.7%: the frame walk, the closed-stream ring, two flags), +100
// per POST with a body.
//
// Frames on closed streams: RFC 9113 §5.1 says a frame after the client's
// own END_STREAM or RST_STREAM is a STREAM_CLOSED error (a connection error
// here, which §5.4.1 allows for any stream error), while frames on a stream
// that we reset must be ignored (they may have been in flight). Which of the
// two a closed stream was is kept for the last kClosedRing closed streams;
// older ones are ignored as before.

namespace {
constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
}

Status ServerConnection::Feed(std::string_view bytes) {
  unfed_ending_count_ = 0;
  unfed_first_new_id_ = INT32_MAX;
  if (bytes.empty()) return Status::Ok();
  return FeedSession(session_, bytes, failure_);
}

void ServerConnection::NoteEnding(int32_t id) {
  if (unfed_ending_count_ < kMaxUnfedEnding) {
    unfed_ending_[unfed_ending_count_++] = id;
  } else {
    unfed_ending_count_ = kMaxUnfedEnding + 1;
  }
}

void ServerConnection::RecordClosed(int32_t id, bool by_client) {
  open_hint_id_ = 0;
  uint32_t& slot = closed_ring_[closed_total_ % kClosedRing];
  if (closed_total_ >= kClosedRing) evicted_max_ = std::max(evicted_max_, static_cast<int32_t>(slot & 0x7fffffff));
  slot = static_cast<uint32_t>(id) | (by_client ? 0x80000000u : 0);
  ++closed_total_;
}

ServerConnection::Check ServerConnection::PreCheck(const uint8_t* h, uint32_t* fail_code, const char** why) {
  const uint8_t type = h[3];
  const uint8_t flags = h[4];
  const int32_t id = static_cast<int32_t>(((h[5] & 0x7fu) << 24) | (h[6] << 16) | (h[7] << 8) | h[8]);
  switch (type) {
    case NGHTTP2_DATA: {
      Check check = Check::kPass;
      if (id > 0 && id <= scan_max_id_ && !goaway_sent_) {
        bool ended_unfed = unfed_ending_count_ > kMaxUnfedEnding;
        for (uint8_t i = 0; i < unfed_ending_count_ && i < kMaxUnfedEnding; ++i) ended_unfed |= unfed_ending_[i] == id;
        if (ended_unfed) {
          check = Check::kExact;
        } else if (id >= unfed_first_new_id_ || id == open_hint_id_) {
          // Opened by a frame nghttp2 has yet to see, or known open.
        } else if (nghttp2_session_find_stream(session_, id) != nullptr) {
          open_hint_id_ = id;  // open as of what nghttp2 has seen, and nothing since ends it
        } else {
          check = Check::kExact;
        }
      }
      // A stream opened by a frame nghttp2 has yet to see cannot be closed
      // by an END_STREAM in the same read (our side has sent nothing yet).
      if ((flags & NGHTTP2_FLAG_END_STREAM) && id < unfed_first_new_id_) NoteEnding(id);
      return check;
    }
    case NGHTTP2_HEADERS:
      if (id > scan_max_id_) {  // a new stream: the common case
        scan_max_id_ = id;
        if (unfed_first_new_id_ == INT32_MAX) unfed_first_new_id_ = id;
        return Check::kPass;
      }
      if ((flags & NGHTTP2_FLAG_END_STREAM) && id < unfed_first_new_id_) NoteEnding(id);
      return id > 0 && (id & 1) && !goaway_sent_ ? Check::kExact : Check::kPass;
    case NGHTTP2_RST_STREAM:
      NoteEnding(id);
      return Check::kPass;
    case NGHTTP2_PRIORITY: {
      uint32_t length = (h[0] << 16) | (h[1] << 8) | h[2];
      if (length != 5) return Check::kPass;  // nghttp2: FRAME_SIZE_ERROR
      *fail_code = kProtocolError;
      if (id == 0) {
        *why = "PRIORITY on stream 0";
        return Check::kFail;
      }
      const int32_t depends_on = static_cast<int32_t>(((h[9] & 0x7fu) << 24) | (h[10] << 16) | (h[11] << 8) | h[12]);
      if (depends_on == id) {
        *why = "PRIORITY: a stream depends on itself";
        return Check::kFail;
      }
      return Check::kPass;
    }
    default:
      return Check::kPass;
  }
}

bool ServerConnection::ExactCheck(uint8_t type, int32_t id, uint32_t* fail_code, const char** why) {
  if (goaway_sent_ || nghttp2_session_find_stream(session_, id) != nullptr) return true;  // open: nghttp2's part
  size_t kept = std::min<size_t>(closed_total_, kClosedRing);
  for (size_t i = 0; i < kept; ++i) {
    if (static_cast<int32_t>(closed_ring_[i] & 0x7fffffff) != id) continue;
    if (!(closed_ring_[i] & 0x80000000u)) return true;  // we reset it: late frames are ignored
    *fail_code = kStreamClosed;
    *why = type == NGHTTP2_DATA ? "DATA on a closed stream" : "HEADERS on a closed stream";
    return false;
  }
  if (id <= evicted_max_) return true;  // closed too long ago to know how
  // Never opened: skipped when a higher stream was opened (RFC 9113 §5.1.1).
  if (type == NGHTTP2_HEADERS) {
    *fail_code = kProtocolError;
    *why = "HEADERS on a stream id lower than one already opened";
  } else {
    *fail_code = kStreamClosed;
    *why = "DATA on a closed stream";
  }
  return false;
}

Status ServerConnection::Receive(std::string_view bytes, int64_t now_ms) {
  now_ms_ = now_ms;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  size_t pos = 0;
  size_t fed = 0;
  if (preface_left_ > 0) {
    size_t k = std::min(n, preface_left_);
    if (std::memcmp(p, kClientPreface.data() + (kClientPreface.size() - preface_left_), k) != 0) {
      Fail(kProtocolError, "invalid connection preface");
      return Status::Error(failure_);
    }
    preface_left_ -= k;
    pos = k;
  }
  // Payload still to skip from the previous read.
  if (scan_skip_ > 0 && pos < n) {
    size_t k = std::min<size_t>(scan_skip_, n - pos);
    pos += k;
    scan_skip_ -= static_cast<uint32_t>(k);
  }
  while (pos < n) {
    const size_t frame_start = scan_have_ == 0 ? pos : 0;  // in this read
    const uint8_t* h = nullptr;
    uint32_t length = 0;
    size_t need = 9;
    if (scan_have_ == 0 && n - pos >= 9) {
      h = p + pos;
      // The common case in a few instructions: a HEADERS frame opening a
      // new stream, or a frame the check has nothing to say about. Length
      // and type in one big-endian word, the stream id in another.
      uint32_t word;
      std::memcpy(&word, h, 4);
      word = __builtin_bswap32(word);
      length = word >> 8;
      const uint8_t type = static_cast<uint8_t>(word);
      bool plain = type > NGHTTP2_RST_STREAM;  // SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION, ...
      if (type == NGHTTP2_HEADERS) {
        std::memcpy(&word, h + 5, 4);
        const int32_t id = static_cast<int32_t>(__builtin_bswap32(word) & 0x7fffffffu);
        if (id > scan_max_id_) {
          scan_max_id_ = id;
          if (unfed_first_new_id_ == INT32_MAX) unfed_first_new_id_ = id;
          plain = true;
        }
      } else if (type == NGHTTP2_DATA) {
        // On a stream opened earlier in this read, or known open with no
        // stream ended since: nghttp2 alone has the rest to say.
        std::memcpy(&word, h + 5, 4);
        const int32_t id = static_cast<int32_t>(__builtin_bswap32(word) & 0x7fffffffu);
        plain = id <= scan_max_id_ && unfed_ending_count_ == 0 &&
                (id >= unfed_first_new_id_ || (id == open_hint_id_ && !(h[4] & NGHTTP2_FLAG_END_STREAM)));
      } else if (type == NGHTTP2_PRIORITY && length == 5) {
        need = 13;
        if (n - pos < 13) h = nullptr;
      }
      if (plain) {
        if (n - pos - 9 >= length) {
          pos += 9 + length;
        } else {
          scan_skip_ = static_cast<uint32_t>(length - (n - pos - 9));
          pos = n;
        }
        continue;
      }
      if (h != nullptr) pos += need;
    }
    if (h == nullptr) {  // the header spans reads: gather it
      while (scan_have_ < 9 && pos < n) scan_header_[scan_have_++] = p[pos++];
      if (scan_have_ < 9) break;
      length = (scan_header_[0] << 16) | (scan_header_[1] << 8) | scan_header_[2];
      need = scan_header_[3] == NGHTTP2_PRIORITY && length == 5 ? 13 : 9;
      while (scan_have_ < need && pos < n) scan_header_[scan_have_++] = p[pos++];
      if (scan_have_ < need) break;
      h = scan_header_;
    }
    scan_have_ = 0;
    // The rest of the payload: skipped here or at the start of later reads.
    {
      uint32_t rest = length - static_cast<uint32_t>(need - 9);
      size_t k = std::min<size_t>(rest, n - pos);
      pos += k;
      scan_skip_ = rest - static_cast<uint32_t>(k);
    }
    uint32_t fail_code = kProtocolError;
    const char* why = "";
    Check check = PreCheck(h, &fail_code, &why);
    if (check == Check::kPass) continue;
    const int32_t id = static_cast<int32_t>(((h[5] & 0x7fu) << 24) | (h[6] << 16) | (h[7] << 8) | h[8]);
    // nghttp2 first takes everything before this frame.
    if (frame_start > fed) {
      Status fed_ok = Feed(bytes.substr(fed, frame_start - fed));
      fed = frame_start;
      if (!fed_ok.ok()) return fed_ok;
      // That cleared what this frame noted: note it again.
      if (h[4] & NGHTTP2_FLAG_END_STREAM) NoteEnding(id);
    }
    if (check == Check::kExact && ExactCheck(h[3], id, &fail_code, &why)) continue;
    Fail(fail_code, why);
    return Status::Error(failure_);
  }
  return Feed(bytes.substr(fed));
}

Status ServerConnection::SendPending(net::Buffer& out, size_t limit) {
  in_send_ = true;
  send_out_ = &out;
  Status result = DrainSession(session_, out, limit, failure_);
  in_send_ = false;
  send_out_ = nullptr;
  if (!writable_.empty() && events_ != nullptr) {
    std::vector<int32_t> ids;
    ids.swap(writable_);
    for (int32_t id : ids) {
      ServerStream* stream = StreamFor(id);
      if (stream != nullptr && stream->delivered_) events_->OnResponseWritable(stream);
    }
    if (writable_.empty()) writable_.swap(ids), writable_.clear();  // keep the capacity
  }
  return result;
}

bool ServerConnection::WantsWrite() const { return nghttp2_session_want_write(session_) != 0; }

bool ServerConnection::Alive() const {
  return nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0;
}

ServerStream* ServerConnection::NewStream() {
  std::vector<ServerStream*>& spares = spare_streams.streams;
  if (spares.empty()) return new ServerStream();
  ServerStream* stream = spares.back();
  spares.pop_back();
  return stream;
}

void ServerConnection::RecycleStream(ServerStream* stream) {
  if (header_stream_ == stream) {
    header_stream_ = nullptr;
    header_stream_id_ = 0;
  }
  std::vector<ServerStream*>& spares = spare_streams.streams;
  if (spares.size() >= kMaxSpareStreams) {
    delete stream;
    return;
  }
  ResetForReuse(stream);
  spares.push_back(stream);
}

// Member by member, rather than assigning a fresh ServerStream: that built
// a whole stream (two heads, three field lists, a buffer) and moved every
// member across, per request (~850 instructions in callgrind, for memory
// that is nearly all empty already: the request head went to the owner).
// A member added to ServerStream must be reset here too.
void ServerConnection::ResetForReuse(ServerStream* stream) {
  // Heap strings and field lists are freed: a spare stream holds no memory
  // but its body buffer's (bounded below).
  auto drop = [](std::string& s) {
    if (!s.empty()) std::string().swap(s);
  };
  // Field lists go to the thread's spares: the next request head and the
  // next upstream response head are built in them.
  auto drop_fields = [](http::HeaderMap& fields) { http::SpareFieldLists::Give(fields); };
  stream->user = nullptr;
  stream->id_ = 0;
  http::RequestHead& head = stream->head_;  // moved out by OnRequest, unless refused
  drop(head.method);
  drop(head.target);
  drop(head.path);
  drop(head.authority);
  drop(head.scheme);
  head.version_major = 1;
  head.version_minor = 1;
  drop_fields(head.headers);
  drop_fields(stream->trailers_);
  stream->in_trailers_ = false;
  stream->headers_too_large_ = false;
  stream->bad_request_ = false;
  stream->client_ended_ = false;
  stream->client_reset_ = false;
  stream->header_list_bytes_ = 0;
  stream->header_block_bytes_ = 0;
  stream->request_ended_ = false;
  stream->delivered_ = false;
  stream->response_submitted_ = false;
  stream->response_ended_ = false;
  stream->data_deferred_ = false;
  stream->above_high_watermark_ = false;
  drop_fields(stream->response_trailers_);
  stream->has_trailers_ = false;
  stream->body_.Consume(stream->body_.size());
  if (stream->body_.writable() > kMaxSpareBodyCapacity) stream->body_.ShrinkIfEmpty();
  drop_fields(stream->response_head_.headers);
  stream->response_head_ = http::ResponseHead();
  std::memset(stream->status_text_, 0, sizeof stream->status_text_);
  stream->bytes_sent_ = 0;
  stream->prev_ = nullptr;
  stream->next_ = nullptr;
}

ServerStream* ServerConnection::StreamFor(int32_t id) const {
  return static_cast<ServerStream*>(nghttp2_session_get_stream_user_data(session_, id));
}

void ServerConnection::SubmitResponse(ServerStream* stream, http::ResponseHead&& head_in, bool end_stream) {
  // nghttp2 frames the head from the stream's own copy (no string copies):
  // it outlives the HEADERS frame, which is sent or dropped before the
  // stream closes.
  stream->response_head_ = std::move(head_in);
  const http::ResponseHead& head = stream->response_head_;
  char* status = stream->status_text_;
  size_t status_len = 0;
  if (head.status >= 100 && head.status <= 999) {
    status[0] = static_cast<char>('0' + head.status / 100);
    status[1] = static_cast<char>('0' + head.status / 10 % 10);
    status[2] = static_cast<char>('0' + head.status % 10);
    status_len = 3;
  } else {
    std::string text = std::to_string(head.status);
    status_len = std::min(text.size(), sizeof stream->status_text_);
    std::memcpy(status, text.data(), status_len);
  }
  // No 'A'..'Z' in a name: two overlapping words per name (the byte loop
  // of IsLowerCaseName ran for most of a short name's bytes).
  auto lower_case = [](const std::string& name) {
    constexpr uint64_t kOnes = 0x0101010101010101ull;
    constexpr uint64_t kHigh = 0x8080808080808080ull;
    auto has_upper = [&](uint64_t word) {
      const uint64_t low7 = word & ~kHigh;
      return ((low7 + kOnes * (0x80 - 'A')) & ~(low7 + kOnes * (0x80 - 'Z' - 1)) & ~word & kHigh) != 0;
    };
    const char* p = name.data();
    const size_t n = name.size();
    if (n >= 8) {
      uint64_t word;
      for (size_t i = 0; i + 8 < n; i += 8) {
        std::memcpy(&word, p + i, 8);
        if (has_upper(word)) return false;
      }
      std::memcpy(&word, p + n - 8, 8);
      return !has_upper(word);
    }
    if (n >= 4) {
      uint32_t first, last;
      std::memcpy(&first, p, 4);
      std::memcpy(&last, p + n - 4, 4);
      return !has_upper(uint64_t{first} | uint64_t{last} << 32);
    }
    for (size_t i = 0; i < n; ++i) {
      if (p[i] >= 'A' && p[i] <= 'Z') return false;
    }
    return true;
  };
  // Sized once and filled in place (push_back was a call per field).
  std::vector<nghttp2_nv>& nv = nv_scratch_;
  if (nv.size() < head.headers.size() + 1) nv.resize(head.headers.size() + 1);
  size_t nv_count = 0;
  nv[nv_count++] = MakeNv(":status", std::string_view(status, status_len), kNoCopy);
  for (const http::Header& h : head.headers.entries()) {
    if (IsConnectionSpecific(h.name)) continue;
    // A name that is not lower case (never expected) is left for nghttp2
    // to copy and lower.
    nv[nv_count++] = MakeNv(h.name, h.value, lower_case(h.name) ? kNoCopy : NGHTTP2_NV_FLAG_NO_COPY_VALUE);
  }
  stream->response_submitted_ = true;
  stream->response_ended_ = end_stream;
  nghttp2_data_provider provider;
  provider.source.ptr = stream;
  provider.read_callback = &Callbacks::ReadResponseBody;
  nghttp2_submit_response(session_, stream->id_, nv.data(), nv_count, end_stream ? nullptr : &provider);
}

void ServerConnection::AppendResponseData(ServerStream* stream, std::string_view data) {
  if (data.empty() || stream->response_ended_) return;
  stream->body_.Append(data);
  if (stream->body_.size() >= options_.stream_high_watermark) stream->above_high_watermark_ = true;
  if (stream->data_deferred_) {
    stream->data_deferred_ = false;
    nghttp2_session_resume_data(session_, stream->id_);
  }
}

void ServerConnection::EndResponse(ServerStream* stream, const http::HeaderMap* trailers) {
  if (stream->response_ended_) return;
  stream->response_ended_ = true;
  if (trailers != nullptr && !trailers->empty()) {
    stream->response_trailers_ = *trailers;
    stream->has_trailers_ = true;
  }
  if (stream->data_deferred_) {
    stream->data_deferred_ = false;
    nghttp2_session_resume_data(session_, stream->id_);
  }
}

void ServerConnection::ResetStream(ServerStream* stream, uint32_t error_code) {
  stream->response_ended_ = true;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream->id_, error_code);
}

void ServerConnection::ConsumeRequestData(ServerStream* stream, size_t n) {
  if (n > 0) nghttp2_session_consume(session_, stream->id_, n);
}

bool ServerConnection::WindowBlocked(const ServerStream* stream) const {
  if (stream->body_.empty() && !(stream->response_ended_ && stream->has_trailers_)) return false;
  return nghttp2_session_get_stream_remote_window_size(session_, stream->id_) <= 0 ||
         nghttp2_session_get_remote_window_size(session_) <= 0;
}

void ServerConnection::RejectStream(ServerStream* stream, int status) {
  static constexpr std::string_view kTooLarge = "request header fields too large\n";
  static constexpr std::string_view kBad = "bad request\n";
  std::string_view body = status == 431 ? kTooLarge : kBad;
  http::ResponseHead head;
  head.status = status;
  head.headers.Add("content-type", "text/plain; charset=utf-8");
  head.headers.Add("content-length", std::to_string(body.size()));
  SubmitResponse(stream, std::move(head), false);
  AppendResponseData(stream, body);
  EndResponse(stream, nullptr);
}

void ServerConnection::GracefulShutdown() {
  if (goaway_sent_) return;
  goaway_sent_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
}

void ServerConnection::ShutdownNotice() {
  if (goaway_sent_ || notice_sent_) return;
  notice_sent_ = true;
  nghttp2_submit_shutdown_notice(session_);
}

void ServerConnection::Terminate(uint32_t error_code) { Fail(error_code, "terminated"); }

void ServerConnection::Fail(uint32_t error_code, const char* why) {
  if (failure_.empty()) failure_ = why;
  goaway_sent_ = true;
  nghttp2_session_terminate_session(session_, error_code);
}

}  // namespace sluice::http2
