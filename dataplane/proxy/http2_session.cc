#include "dataplane/proxy/http2_session.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "dataplane/http2/server_connection.h"
#include "dataplane/net/buffer.h"
#include "dataplane/proxy/exchange.h"
#include "dataplane/pipeline/access_log_stage.h"
#include "dataplane/pipeline/local_reply.h"
#include "dataplane/proxy/spare_blocks.h"

namespace sluice::proxy {
namespace {

// Frames are serialised into the output buffer up to this much before one
// write; more waits for the socket to drain.
constexpr size_t kOutputBatch = 64 * 1024;
constexpr size_t kReadChunk = 32 * 1024;

// One read buffer per worker thread: every read is handed to nghttp2 (which
// copies what it keeps) before the next, so connections need none of their own.
thread_local char read_buffer[kReadChunk];

// One output buffer per worker thread too: frames are serialised into it
// and written at once; only what the socket did not take moves to the
// connection's own buffer. A fresh buffer per flush was a malloc + free of
// 4-64 KiB per write (callgrind). `busy` guards against a nested flush of
// another connection from inside a callback.
thread_local net::Buffer shared_output;
thread_local bool shared_output_busy = false;

int64_t Millis(net::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

http2::ServerOptions OptionsFrom(const ProxyConfig& config) {
  http2::ServerOptions options;
  options.max_concurrent_streams = config.h2_max_concurrent_streams;
  options.max_header_list_bytes = config.head_limits.max_head_bytes;
  options.max_headers = config.head_limits.max_header_count;
  options.max_header_block_bytes = config.head_limits.max_head_bytes;
  options.max_resets_per_second = config.h2_max_resets_per_second;
  options.max_control_frames_per_second = config.h2_max_control_frames_per_second;
  options.stream_high_watermark = config.high_watermark;
  options.stream_low_watermark = config.low_watermark;
  options.initial_stream_window = static_cast<uint32_t>(config.high_watermark);
  return options;
}

}  // namespace

class Http2Session::Impl : public http2::ServerEvents {
 public:
  // One request/response: the DownstreamStream its Exchange talks to. Freed
  // through DeleteLater (hence IoHandler), since an Exchange may still be
  // inside one of its calls when the stream closes.
  struct Stream final : DownstreamStream, net::IoHandler {
    Impl* impl = nullptr;
    http2::ServerStream* wire = nullptr;  // null once the HTTP/2 stream closed
    std::unique_ptr<Exchange> exchange;
    size_t unconsumed = 0;  // request body bytes taken but not yet acknowledged (window)
    uint64_t response_bytes_ = 0;
    uint64_t last_sent = 0;
    net::Clock::time_point progress_at{};
    Stream* prev = nullptr;
    Stream* next = nullptr;

    // One per request: from a per-worker free list (spare_blocks.h).
    static void* operator new(size_t size) { return SpareBlocks<Stream>::Take(size); }
    static void operator delete(void* block, size_t size) noexcept { SpareBlocks<Stream>::Give(block, size); }

    void OnIoEvents(uint32_t) override {}
    void SendResponseHead(http::ResponseHead&& head, bool end_stream) override {
      if (wire == nullptr) return;
      for (const http::Header& h : head.headers.entries()) response_bytes_ += h.name.size() + h.value.size() + 2;
      impl->conn_.SubmitResponse(wire, std::move(head), end_stream);
    }
    void SendResponseBody(std::string_view data) override {
      if (wire == nullptr) return;
      response_bytes_ += data.size();
      impl->conn_.AppendResponseData(wire, data);
    }
    void SendResponseEnd(const http::HeaderMap* trailers) override {
      if (wire != nullptr) impl->conn_.EndResponse(wire, trailers);
    }
    void AbortResponse() override {
      if (wire == nullptr) return;
      impl->conn_.ResetStream(wire, http2::kInternalError);
      // Callers (upstream timeouts and resets) do not flush after an abort:
      // without this the RST_STREAM waits for unrelated traffic and the
      // client hangs (a gRPC call until its own deadline).
      impl->ScheduleFlush();
    }
    void Flush() override { impl->ScheduleFlush(); }
    bool OutputFull() const override { return wire != nullptr && impl->conn_.OutputFull(wire); }
    void ResumeRequestBody() override {
      if (wire == nullptr || unconsumed == 0) return;
      impl->conn_.ConsumeRequestData(wire, unconsumed);
      unconsumed = 0;
      impl->ScheduleFlush();
    }
    void OnExchangeDone() override { impl->ExchangeDone(this); }
    void StartTunnel() override { AbortResponse(); }  // no Upgrade over HTTP/2 (never requested)
    const ClientInfo& client() const override { return impl->client_; }
    uint64_t response_bytes() const override { return response_bytes_; }
  };

  Impl(Http2Session* outer, WorkerContext* ctx, std::unique_ptr<net::Transport> transport, ClientInfo client,
       SessionOwner* owner, std::string_view already_read)
      : outer_(outer),
        ctx_(ctx),
        transport_(std::move(transport)),
        client_(std::move(client)),
        owner_(owner),
        already_read_(already_read),
        conn_(OptionsFrom(*ctx->config), this) {}

  ~Impl() override {
    if (timer_ != 0) ctx_->loop->CancelTimer(timer_);
    if (flush_timer_ != 0) ctx_->loop->CancelTimer(flush_timer_);
    DropAllStreams();
    if (transport_ != nullptr && transport_->fd() >= 0 && !closed_) close(transport_->fd());
  }

  void Start() {
    int fd = transport_->fd();
    // A predecessor (HTTP/1 that saw the h2c preface, a TLS handshake) left
    // the socket registered with the same events: take its place without an
    // epoll_ctl.
    if (!ctx_->loop->Retarget(fd, outer_)) {
      ctx_->loop->Register(fd, outer_, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    }
    idle_since_ = last_write_ = ctx_->loop->now();
    conn_.Start();
    if (ctx_->shutting_down) conn_.ShutdownNotice();
    if (!already_read_.empty()) {
      Receive(already_read_);
      already_read_ = std::string();
    }
    if (!closed_) ReadFromTransport();
  }

  void Drain() {
    if (closed_) return;
    conn_.GracefulShutdown();
    Flush();
  }

  void NoticeShutdown() {
    if (closed_) return;
    conn_.ShutdownNotice();
    Flush();
  }

  void CloseIfIdleSince(net::Clock::time_point cutoff) {
    if (closed_ || streams_ != nullptr || conn_.open_streams() != 0 || idle_since_ > cutoff) return;
    conn_.GracefulShutdown();
    Flush();
    if (!closed_ && out_.empty()) Close();
  }

  void OnIoEvents(uint32_t events) {
    if (closed_) return;
    if (events & EPOLLOUT) Flush();
    if (closed_) return;
    // The FIN (or an error) came with these events: a short read is no
    // longer "drained", as no further edge will report the end of stream.
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) end_signalled_ = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ReadFromTransport();
  }

  // http2::ServerEvents
  void OnRequest(http2::ServerStream* wire, http::RequestHead&& head, bool end_stream) override {
    auto* stream = new Stream();
    stream->impl = this;
    stream->wire = wire;
    stream->progress_at = ctx_->loop->now();
    wire->user = stream;
    stream->next = streams_;
    if (streams_ != nullptr) streams_->prev = stream;
    streams_ = stream;
    ArmStallTimer();
    if (head.method == "CONNECT") return Refuse(stream, head, 405, "method not allowed\n", "CONNECT is not supported");
    if (head.authority.empty()) return Refuse(stream, head, 400, "bad request\n", "no :authority");
    http1::BodyFraming framing;
    if (end_stream) {
      framing.kind = http1::BodyFraming::kNone;
    } else if (const std::string* length = head.headers.Get("content-length")) {
      framing.kind = http1::BodyFraming::kContentLength;  // nghttp2 checks it against the DATA frames
      framing.length = std::strtoull(length->c_str(), nullptr, 10);
    } else {
      framing.kind = http1::BodyFraming::kChunked;  // length unknown: re-framed towards HTTP/1 upstreams
    }
    head.scheme = std::string(client_.scheme);
    stream->exchange = std::make_unique<Exchange>(ctx_, stream, std::move(head), framing);
    stream->exchange->Start();
  }

  void OnRequestData(http2::ServerStream* wire, std::string_view data) override {
    auto* stream = static_cast<Stream*>(wire->user);
    if (stream == nullptr || stream->exchange == nullptr || stream->exchange->done()) {
      conn_.ConsumeRequestData(wire, data.size());
      return;
    }
    stream->exchange->OnRequestBody(data);
    // Backpressure: the client's window reopens only as the upstream takes
    // the bytes (ResumeRequestBody), so a slow upstream slows the client.
    if (stream->exchange != nullptr && !stream->exchange->done() && stream->exchange->RequestBodyFull()) {
      stream->unconsumed += data.size();
    } else {
      conn_.ConsumeRequestData(wire, data.size());
    }
  }

  void OnRequestEnd(http2::ServerStream* wire, const http::HeaderMap* trailers) override {
    auto* stream = static_cast<Stream*>(wire->user);
    if (stream != nullptr && stream->exchange != nullptr) stream->exchange->OnRequestEnd(trailers);
  }

  void OnStreamClosed(http2::ServerStream* wire, uint32_t) override {
    auto* stream = static_cast<Stream*>(wire->user);
    if (stream == nullptr) return;
    wire->user = nullptr;
    stream->wire = nullptr;
    if (stream->exchange != nullptr) {
      stream->exchange->OnDownstreamClosed();  // a no-op once the exchange is done
      ctx_->loop->DeleteLater(std::move(stream->exchange));
    }
    Unlink(stream);
    ctx_->loop->DeleteLater(std::unique_ptr<net::IoHandler>(stream));
    if (streams_ == nullptr) idle_since_ = ctx_->loop->now();
  }

  void OnResponseWritable(http2::ServerStream* wire) override {
    auto* stream = static_cast<Stream*>(wire->user);
    if (stream != nullptr && stream->exchange != nullptr && !stream->exchange->done()) {
      stream->exchange->OnDownstreamWritable();
    }
  }

  void ExchangeDone(Stream* stream) {
    if (stream->exchange != nullptr) ctx_->loop->DeleteLater(std::move(stream->exchange));
    // A body the exchange will not read (early answer): acknowledge what we
    // held so the connection window stays open for the other streams.
    if (stream->wire != nullptr && stream->unconsumed > 0) {
      conn_.ConsumeRequestData(stream->wire, stream->unconsumed);
      stream->unconsumed = 0;
    }
  }

  // Exchanges driven by upstream events flush here: one write per
  // connection after the current batch of events (a zero-delay timer runs
  // after the batch), not one per stream that produced output.
  void ScheduleFlush() {
    if (closed_) return;
    if (in_receive_ || flushing_) {
      flush_again_ = true;
      return;
    }
    if (flush_timer_ != 0) return;
    flush_timer_ = ctx_->loop->AddTimer(std::chrono::milliseconds(0), [this] {
      flush_timer_ = 0;
      Flush();
    });
  }

  // Serialises what nghttp2 has ready and writes it; batched: called once
  // per batch of events, and deferred while nghttp2 is parsing our input.
  void Flush() {
    if (closed_) return;
    if (in_receive_ || flushing_) {
      flush_again_ = true;
      return;
    }
    flushing_ = true;
    bool blocked = false;
    do {
      flush_again_ = false;
      bool shared = out_.empty() && !shared_output_busy;
      net::Buffer& out = shared ? shared_output : out_;
      if (shared) shared_output_busy = true;
      if (out.size() < kOutputBatch) {
        Status sent = conn_.SendPending(out, kOutputBatch);
        if (!sent.ok()) fatal_ = true;
      }
      if (out.empty()) {
        if (shared) shared_output_busy = false;
        break;
      }
      blocked = !WriteOut(out);
      if (shared) {
        if (!out.empty() && !closed_) out_.Append(out.view());  // the socket is full: keep the rest
        out.Consume(out.size());
        shared_output_busy = false;
      }
      if (closed_) return;
    } while (!blocked && (flush_again_ || !out_.empty() || conn_.WantsWrite()));
    flushing_ = false;
    if (out_.empty()) out_.ShrinkIfEmpty();
    if (out_.empty() && (fatal_ || !conn_.Alive())) Close();
  }

 private:
  friend class Http2Session;

  // Answers a request refused before it became an exchange, with the one
  // local-reply builder the exchange uses too (a gRPC client gets the
  // Trailers-Only answer it can read), and logs it.
  void Refuse(Stream* stream, const http::RequestHead& request, int status, std::string_view body,
              std::string_view reason) {
    ctx_->stats.Count(ctx_->stats.responses_by_class[status / 100]);
    pipeline::LocalReply reply;
    reply.status = status;
    reply.body = body;
    pipeline::ReplyShape shape = pipeline::ReplyShape::Of(request);
    bool body_follows = pipeline::BodyFollows(reply, shape);
    stream->SendResponseHead(pipeline::BuildLocalReplyHead(reply, shape), /*end_stream=*/!body_follows);
    if (body_follows) stream->SendResponseBody(reply.text());
    stream->SendResponseEnd(nullptr);
    pipeline::LogRefusedRequest(ctx_->access_log.get(), client_, &request, status, reason, stream->response_bytes());
  }

  void Receive(std::string_view bytes) {
    in_receive_ = true;
    Status received = conn_.Receive(bytes, Millis(ctx_->loop->now()));
    in_receive_ = false;
    if (!received.ok()) fatal_ = true;
  }

  void ReadFromTransport() {
    while (!closed_ && !fatal_) {
      ssize_t n = transport_->Read(read_buffer, sizeof read_buffer);
      if (n > 0) {
        Receive(std::string_view(read_buffer, static_cast<size_t>(n)));
        // Drained (edge-triggered epoll reports more), unless the end of
        // stream is already known to follow (TLS: close_notify or an error
        // behind the data) or epoll reported the FIN with this wakeup.
        if (static_cast<size_t>(n) < sizeof read_buffer && !end_signalled_ && transport_->drained_after_short_read()) {
          break;
        }
        continue;
      }
      if (n < 0 && errno == EAGAIN) break;
      if (n < 0 && errno == EINTR) continue;
      return Close();  // EOF or error: the client is gone
    }
    Flush();
  }

  // False when the socket is full (EPOLLOUT resumes).
  bool WriteOut(net::Buffer& out) {
    while (!out.empty()) {
      std::string_view pending = out.view();
      ssize_t n = transport_->Write(pending.data(), pending.size());
      if (n > 0) {
        out.Consume(static_cast<size_t>(n));
        last_write_ = ctx_->loop->now();
        continue;
      }
      if (n < 0 && errno == EAGAIN) return false;
      if (n < 0 && errno == EINTR) continue;
      Close();
      return false;
    }
    return true;
  }

  void ArmStallTimer() {
    if (timer_ != 0) return;
    auto period = std::max(ctx_->config->h2_stall_timeout / 4, std::chrono::milliseconds(50));
    timer_ = ctx_->loop->AddTimer(period, [this] { OnStallTimer(); });
  }

  // Zero-window stalls: a response that cannot move because the client
  // keeps its flow-control window (or its socket) shut is reset after
  // --h2-stall-timeout, so it cannot pin an exchange and its upstream.
  void OnStallTimer() {
    timer_ = 0;
    if (closed_) return;
    auto now = ctx_->loop->now();
    auto limit = ctx_->config->h2_stall_timeout;
    if (!out_.empty() && now - last_write_ >= limit) return Close();  // the socket itself is stuck
    bool reset = false;
    for (Stream* stream = streams_; stream != nullptr; stream = stream->next) {
      if (stream->wire == nullptr) continue;
      uint64_t sent = stream->wire->response_bytes_sent();
      if (sent != stream->last_sent || !conn_.WindowBlocked(stream->wire)) {
        stream->last_sent = sent;
        stream->progress_at = now;
        continue;
      }
      if (now - stream->progress_at >= limit) {
        conn_.ResetStream(stream->wire, http2::kCancel);
        stream->progress_at = now;
        reset = true;
      }
    }
    if (reset) Flush();
    if (!closed_ && streams_ != nullptr) ArmStallTimer();
  }

  void Unlink(Stream* stream) {
    if (stream->prev != nullptr) stream->prev->next = stream->next;
    if (stream->next != nullptr) stream->next->prev = stream->prev;
    if (streams_ == stream) streams_ = stream->next;
    stream->prev = stream->next = nullptr;
  }

  void DropAllStreams() {
    while (streams_ != nullptr) {
      Stream* stream = streams_;
      Unlink(stream);
      if (stream->wire != nullptr) stream->wire->user = nullptr;
      stream->wire = nullptr;
      if (stream->exchange != nullptr) {
        stream->exchange->OnDownstreamClosed();
        ctx_->loop->DeleteLater(std::move(stream->exchange));
      }
      ctx_->loop->DeleteLater(std::unique_ptr<net::IoHandler>(stream));
    }
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    if (timer_ != 0) {
      ctx_->loop->CancelTimer(timer_);
      timer_ = 0;
    }
    if (flush_timer_ != 0) {
      ctx_->loop->CancelTimer(flush_timer_);
      flush_timer_ = 0;
    }
    DropAllStreams();
    int fd = transport_->fd();
    // No EPOLL_CTL_DEL: the fd is ours alone (never dup'ed, CLOEXEC), so the
    // close() below drops its registration.
    ctx_->loop->ForgetBeforeClose(fd);
    transport_->ShutdownWrite();
    close(fd);
    if (owner_ != nullptr) owner_->OnSessionClosed(outer_);
  }

  Http2Session* outer_;
  WorkerContext* ctx_;
  std::unique_ptr<net::Transport> transport_;
  ClientInfo client_;
  SessionOwner* owner_;
  std::string already_read_;
  http2::ServerConnection conn_;
  net::Buffer out_;
  Stream* streams_ = nullptr;
  bool closed_ = false;
  bool fatal_ = false;
  bool end_signalled_ = false;  // epoll reported RDHUP/HUP/ERR: read until EOF
  bool in_receive_ = false;
  bool flushing_ = false;
  bool flush_again_ = false;
  net::Clock::time_point idle_since_{};
  net::Clock::time_point last_write_{};
  net::EventLoop::TimerId timer_ = 0;
  net::EventLoop::TimerId flush_timer_ = 0;
};

Http2Session::Http2Session(WorkerContext* ctx, std::unique_ptr<net::Transport> transport, ClientInfo client,
                           SessionOwner* owner, std::string_view already_read)
    : impl_(std::make_unique<Impl>(this, ctx, std::move(transport), std::move(client), owner, already_read)) {}

Http2Session::~Http2Session() = default;

void Http2Session::Start() { impl_->Start(); }
void Http2Session::Drain() { impl_->Drain(); }
void Http2Session::NoticeShutdown() { impl_->NoticeShutdown(); }
void Http2Session::CloseIfIdleSince(net::Clock::time_point cutoff) { impl_->CloseIfIdleSince(cutoff); }
void Http2Session::OnIoEvents(uint32_t events) { impl_->OnIoEvents(events); }

}  // namespace sluice::proxy
