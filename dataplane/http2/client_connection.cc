#include "dataplane/http2/client_connection.h"

#include <cstdlib>
#include <cstring>

#include "dataplane/http2/header_names.h"
#include "dataplane/http2/server_connection.h"  // ErrorCode
#include "dataplane/http2/session.h"

namespace sluice::http2 {

class ClientConnection::Callbacks {
 public:
  static ClientConnection* Self(void* user_data) { return static_cast<ClientConnection*>(user_data); }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    ClientStream* stream = Self(user_data)->StreamFor(frame->hd.stream_id);
    if (stream == nullptr || frame->hd.type != NGHTTP2_HEADERS) return 0;
    stream->header_list_bytes_ = 0;
    stream->in_trailers_ = frame->headers.cat == NGHTTP2_HCAT_HEADERS && stream->response_started_;
    if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE) stream->head_ = http::ResponseHead();  // after a 1xx
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name_bytes, size_t name_len,
                      const uint8_t* value_bytes, size_t value_len, uint8_t, void* user_data) {
    ClientConnection* self = Self(user_data);
    ClientStream* stream = self->StreamFor(frame->hd.stream_id);
    if (stream == nullptr || stream->headers_too_large_) return 0;
    std::string_view name(reinterpret_cast<const char*>(name_bytes), name_len);
    std::string_view value(reinterpret_cast<const char*>(value_bytes), value_len);
    stream->header_list_bytes_ += name_len + value_len + 32;
    size_t count = stream->in_trailers_ ? stream->trailers_.size() : stream->head_.headers.size();
    if (stream->header_list_bytes_ > self->options_.max_header_list_bytes || count >= self->options_.max_headers) {
      stream->headers_too_large_ = true;
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM for this stream only
    }
    if (stream->in_trailers_) {
      stream->trailers_.Add(std::string(name), std::string(value));
      return 0;
    }
    if (name == ":status") {
      int status = 0;
      for (char c : value) status = status * 10 + (c - '0');  // nghttp2 checked: three digits
      stream->head_.status = status;
      return 0;
    }
    stream->head_.headers.Add(std::string(name), std::string(value));
    return 0;
  }

  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    ClientConnection* self = Self(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      self->goaway_received_ = true;
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    ClientStream* stream = self->StreamFor(frame->hd.stream_id);
    if (stream == nullptr) return 0;
    bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
      if (stream->head_.status < 200) return 0;  // interim: the final head follows
      stream->response_started_ = true;
      stream->response_ended_ = end_stream;
      stream->head_.version_major = 2;
      stream->head_.version_minor = 0;
      if (stream->events_ != nullptr) stream->events_->OnResponseHead(std::move(stream->head_), end_stream);
      return 0;
    }
    if (!end_stream || stream->response_ended_ || !stream->response_started_) return 0;
    stream->response_ended_ = true;
    bool has_trailers = frame->hd.type == NGHTTP2_HEADERS && !stream->trailers_.empty();
    if (stream->events_ != nullptr) stream->events_->OnResponseEnd(has_trailers ? &stream->trailers_ : nullptr);
    return 0;
  }

  static int OnDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                         void* user_data) {
    ClientStream* stream = Self(user_data)->StreamFor(stream_id);
    if (stream == nullptr || stream->events_ == nullptr) {
      nghttp2_session_consume(session, stream_id, len);
      return 0;
    }
    stream->events_->OnResponseData(std::string_view(reinterpret_cast<const char*>(data), len));
    return 0;
  }

  static int OnStreamClose(nghttp2_session* session, int32_t stream_id, uint32_t error_code, void* user_data) {
    ClientConnection* self = Self(user_data);
    ClientStream* stream = self->StreamFor(stream_id);
    if (stream == nullptr) return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, nullptr);
    self->Unlink(stream);
    ClientStreamEvents* events = stream->events_;
    bool complete = stream->response_ended_;
    delete stream;
    if (events != nullptr && !complete) events->OnStreamReset(error_code != 0 ? error_code : kInternalError);
    return 0;
  }

  static ssize_t ReadRequestBody(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length,
                                 uint32_t* data_flags, nghttp2_data_source* source, void* user_data) {
    ClientConnection* self = Self(user_data);
    auto* stream = static_cast<ClientStream*>(source->ptr);
    size_t n = std::min(length, stream->body_.size());
    if (n > 0) {
      std::memcpy(buf, stream->body_.view().data(), n);
      stream->body_.Consume(n);
    }
    if (stream->above_high_watermark_ && stream->body_.size() < self->options_.stream_low_watermark) {
      stream->above_high_watermark_ = false;
      self->writable_.push_back(stream_id);
    }
    if (!stream->body_.empty()) return static_cast<ssize_t>(n);
    if (stream->request_ended_) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!stream->request_trailers_.empty()) {
        std::vector<nghttp2_nv> nv;  // nghttp2 copies the fields
        for (const http::Header& h : stream->request_trailers_.entries()) {
          if (!IsConnectionSpecific(h.name)) nv.push_back(MakeNv(h.name, h.value));
        }
        // The trailing HEADERS carries END_STREAM instead of this DATA frame.
        if (!nv.empty() && nghttp2_submit_trailer(session, stream_id, nv.data(), nv.size()) == 0) {
          *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
      }
      return static_cast<ssize_t>(n);
    }
    if (n > 0) return static_cast<ssize_t>(n);
    stream->data_deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
};

ClientConnection::ClientConnection(const ClientOptions& options) : options_(options) {
  SessionCallbacks callbacks;
  callbacks.on_begin_headers = &Callbacks::OnBeginHeaders;
  callbacks.on_header = &Callbacks::OnHeader;
  callbacks.on_frame_recv = &Callbacks::OnFrameRecv;
  callbacks.on_data_chunk_recv = &Callbacks::OnDataChunk;
  callbacks.on_stream_close = &Callbacks::OnStreamClose;
  SessionLimits limits;
  // Until the server's SETTINGS arrive, assume the RFC's recommended minimum.
  limits.peer_max_concurrent_streams = 100;
  session_ = NewSession(SessionSide::kClient, callbacks, limits, this);
}

ClientConnection::~ClientConnection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
  while (streams_ != nullptr) {
    ClientStream* next = streams_->next_;
    delete streams_;
    streams_ = next;
  }
}

void ClientConnection::Start() {
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options_.initial_stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(options_.max_header_list_bytes)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, sizeof settings / sizeof settings[0]);
  OpenConnectionWindow(session_, options_.connection_window);
}

Status ClientConnection::Receive(std::string_view bytes) { return FeedSession(session_, bytes, failure_); }

Status ClientConnection::SendPending(net::Buffer& out, size_t limit) {
  Status result = DrainSession(session_, out, limit, failure_);
  if (!writable_.empty()) {
    std::vector<int32_t> ids;
    ids.swap(writable_);
    for (int32_t id : ids) {
      ClientStream* stream = StreamFor(id);
      if (stream != nullptr && stream->events_ != nullptr) stream->events_->OnRequestWritable();
    }
  }
  return result;
}

bool ClientConnection::WantsWrite() const { return nghttp2_session_want_write(session_) != 0; }

bool ClientConnection::Alive() const {
  return nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0;
}

bool ClientConnection::CanOpenStream() const {
  if (goaway_received_ || !failure_.empty() || nghttp2_session_check_request_allowed(session_) == 0) return false;
  uint32_t max = nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return open_streams_ < max && nghttp2_session_get_next_stream_id(session_) < (1u << 30);
}

ClientStream* ClientConnection::StreamFor(int32_t id) const {
  return static_cast<ClientStream*>(nghttp2_session_get_stream_user_data(session_, id));
}

ClientStream* ClientConnection::SubmitRequest(const nghttp2_nv* headers, size_t count, bool end_stream,
                                              ClientStreamEvents* events) {
  auto* stream = new ClientStream();
  stream->events_ = events;
  stream->request_ended_ = end_stream;
  nghttp2_data_provider provider;
  provider.source.ptr = stream;
  provider.read_callback = &Callbacks::ReadRequestBody;
  int32_t id = nghttp2_submit_request(session_, nullptr, headers, count, end_stream ? nullptr : &provider, stream);
  if (id < 0) {
    delete stream;
    return nullptr;
  }
  stream->id_ = id;
  stream->next_ = streams_;
  if (streams_ != nullptr) streams_->prev_ = stream;
  streams_ = stream;
  ++open_streams_;
  return stream;
}

void ClientConnection::AppendRequestData(ClientStream* stream, std::string_view data) {
  if (data.empty() || stream->request_ended_) return;
  stream->body_.Append(data);
  if (stream->body_.size() >= options_.stream_high_watermark) stream->above_high_watermark_ = true;
  if (stream->data_deferred_) {
    stream->data_deferred_ = false;
    nghttp2_session_resume_data(session_, stream->id_);
  }
}

void ClientConnection::EndRequest(ClientStream* stream, const http::HeaderMap* trailers) {
  if (stream->request_ended_) return;
  stream->request_ended_ = true;
  if (trailers != nullptr) stream->request_trailers_ = *trailers;
  if (stream->data_deferred_) {
    stream->data_deferred_ = false;
    nghttp2_session_resume_data(session_, stream->id_);
  }
}

void ClientConnection::ConsumeResponseData(ClientStream* stream, size_t n) {
  if (n > 0) nghttp2_session_consume(session_, stream->id_, n);
}

void ClientConnection::Cancel(ClientStream* stream) {
  stream->events_ = nullptr;
  if (!stream->response_ended_ || !stream->request_ended_) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream->id_, NGHTTP2_CANCEL);
  }
}

void ClientConnection::FailAllStreams(uint32_t error_code) {
  while (streams_ != nullptr) {
    ClientStream* stream = streams_;
    Unlink(stream);
    nghttp2_session_set_stream_user_data(session_, stream->id_, nullptr);
    ClientStreamEvents* events = stream->events_;
    bool complete = stream->response_ended_;
    delete stream;
    if (events != nullptr && !complete) events->OnStreamReset(error_code);
  }
}

void ClientConnection::Unlink(ClientStream* stream) {
  if (stream->prev_ != nullptr) stream->prev_->next_ = stream->next_;
  if (stream->next_ != nullptr) stream->next_->prev_ = stream->prev_;
  if (streams_ == stream) streams_ = stream->next_;
  stream->prev_ = stream->next_ = nullptr;
  --open_streams_;
}

}  // namespace sluice::http2
