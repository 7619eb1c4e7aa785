#include "dataplane/proxy/http2_upstream.h"

#include <string>
#include <vector>

#include "dataplane/http2/header_names.h"
#include "dataplane/http2/server_connection.h"  // error codes
#include "dataplane/proxy/spare_blocks.h"
#include "dataplane/upstream/http2_pool.h"

namespace sluice::proxy {

using pipeline::ErrorCode;

void* Http2Upstream::operator new(size_t size) { return SpareBlocks<Http2Upstream>::Take(size); }
void Http2Upstream::operator delete(void* block, size_t size) noexcept { SpareBlocks<Http2Upstream>::Give(block, size); }

Http2Upstream::Http2Upstream(WorkerContext* ctx, UpstreamEvents* events, const UpstreamRequest& request)
    : MovingDeadline(&ctx->deadlines), ctx_(ctx), events_(events), request_(request) {}

Http2Upstream::~Http2Upstream() {
  StopDeadline();
  Detach();
}

void Http2Upstream::Start(const snapshot::CompiledEndpoint& endpoint, bool allow_pooled) {
  const snapshot::CompiledEndpoint* at = &endpoint;
  upstream::Http2Pool::TransportFactory make_transport;
  if (at->upstream_tls != nullptr) {
    make_transport = [at](int fd) -> std::unique_ptr<net::Transport> {
      return at->upstream_tls->NewTransport(fd, at->key);
    };
  }
  bool opened = false;
  auto conn = ctx_->h2_pool.Acquire(at->pool_key, at->address, !allow_pooled, make_transport, &opened);
  if (!conn.ok()) return Fail(ErrorCode::kConnectFailed, conn.status().message());
  ctx_->stats.Count(opened ? ctx_->stats.upstream_connects : ctx_->stats.upstream_reuses);
  reused_ = !opened;
  opened_ = opened;

  // The head from the request stages' result: the fields they kept (no
  // hop-by-hop one: HTTP/2 forbids them) plus "te: trailers" when the client
  // sent it (gRPC needs it, and it is the one TE value HTTP/2 allows).
  const pipeline::ExchangeState& state = *request_.state;
  const http::RequestHead& request = state.request;
  thread_local std::vector<nghttp2_nv> nv;
  nv.clear();
  nv.push_back(http2::MakeNv(":method", request.method));
  nv.push_back(http2::MakeNv(":scheme", at->upstream_tls != nullptr ? "https" : "http"));
  nv.push_back(http2::MakeNv(":authority", state.UpstreamAuthority()));
  nv.push_back(http2::MakeNv(":path", request.path.empty() ? std::string_view("/") : std::string_view(request.path)));
  for (const http::Header& h : request.headers.entries()) nv.push_back(http2::MakeNv(h.name, h.value));
  if (state.te_trailers) nv.push_back(http2::MakeNv("te", "trailers"));
  std::string length;
  if (request_.framing.kind == http1::BodyFraming::kContentLength) {
    length = std::to_string(request_.framing.length);
    nv.push_back(http2::MakeNv("content-length", length));
  }
  for (size_t i = 0; i < state.added_field_count; ++i) {
    nv.push_back(http2::MakeNv(state.added_fields[i].name, state.added_fields[i].value));
  }
  bool end_stream = request_.framing.kind == http1::BodyFraming::kNone ||
                    (request_.framing.kind == http1::BodyFraming::kContentLength && request_.framing.length == 0);
  http2::ClientStream* stream = (*conn)->session().SubmitRequest(nv.data(), nv.size(), end_stream, this);
  if (stream == nullptr) return Fail(ErrorCode::kConnectFailed, "upstream refused a new HTTP/2 stream");
  conn_ = *conn;
  stream_ = stream;
  request_ended_ = end_stream;
  SetDeadline(ctx_->loop->now(),
              opened ? request_.connect_timeout + request_.response_timeout : request_.response_timeout);
  conn_->Flush();
}

void Http2Upstream::SendBody(std::string_view data) {
  if (finished_ || stream_ == nullptr || data.empty() || request_ended_) return;
  conn_->session().AppendRequestData(stream_, data);
  conn_->Flush();
}

void Http2Upstream::SendEnd(const http::HeaderMap* trailers) {
  if (finished_ || stream_ == nullptr || request_ended_) return;
  request_ended_ = true;
  conn_->session().EndRequest(stream_, trailers != nullptr && !trailers->empty() ? trailers : nullptr);
  conn_->Flush();
}

bool Http2Upstream::BodyFull() const {
  return stream_ != nullptr && conn_->session().RequestBodyFull(stream_);
}

void Http2Upstream::ResumeResponse() {
  paused_ = false;
  if (stream_ == nullptr || unconsumed_ == 0) return;
  conn_->session().ConsumeResponseData(stream_, unconsumed_);
  unconsumed_ = 0;
  conn_->Flush();
}

void Http2Upstream::Cancel() {
  if (finished_) return;
  finished_ = true;
  StopDeadline();
  Detach();
}

void Http2Upstream::Detach() {
  if (stream_ == nullptr) return;
  http2::ClientStream* stream = stream_;
  upstream::Http2Upstream* conn = conn_;
  stream_ = nullptr;
  conn_ = nullptr;
  conn->session().Cancel(stream);
  conn->Flush();
}

void Http2Upstream::OnResponseHead(http::ResponseHead head, bool end_stream) {
  if (finished_) return;
  head_received_ = true;
  SetDeadline(ctx_->loop->now(), request_.idle_timeout);
  events_->OnUpstreamHead(std::move(head), end_stream);
  // A head that ends the stream (204, a HEAD's answer, gRPC Trailers-Only)
  // is the whole response: the session reports no end after it.
  if (end_stream) OnResponseEnd(nullptr);
}

void Http2Upstream::OnResponseData(std::string_view data) {
  if (finished_) return;
  PushDeadline(ctx_->loop->now(), request_.idle_timeout);
  events_->OnUpstreamBody(data);
  if (finished_) return;
  events_->OnUpstreamFlush();
  if (finished_ || stream_ == nullptr) return;
  // Backpressure: the window reopens only as the client takes the bytes.
  if (paused_) {
    unconsumed_ += data.size();
  } else {
    conn_->session().ConsumeResponseData(stream_, data.size());
  }
}

void Http2Upstream::OnResponseEnd(const http::HeaderMap* trailers) {
  if (finished_) return;
  finished_ = true;
  StopDeadline();
  // The trailers live in the stream: passed on before it goes.
  events_->OnUpstreamEnd(trailers != nullptr && !trailers->empty() ? trailers : nullptr);
  Detach();
}

void Http2Upstream::OnStreamReset(uint32_t error_code) {
  upstream::Http2Upstream* conn = conn_;
  stream_ = nullptr;  // the stream is gone
  conn_ = nullptr;
  if (finished_) return;
  bool never_connected = conn != nullptr && !conn->connected();
  if (never_connected) return Fail(ErrorCode::kConnectFailed, "upstream connect failed");
  // REFUSED_STREAM (e.g. above a GOAWAY's last-stream-id): the server did
  // not act on it, so it is replayed on a fresh connection like a request
  // sent on a stale keep-alive connection.
  Fail(ErrorCode::kReset, "upstream HTTP/2 stream reset",
       /*stale=*/error_code == http2::kRefusedStream);
}

void Http2Upstream::OnRequestWritable() {
  if (!finished_) events_->OnUpstreamRequestWritable();
}

void Http2Upstream::Fail(ErrorCode code, std::string_view message, bool stale) {
  if (finished_) return;
  finished_ = true;
  StopDeadline();
  Detach();
  pipeline::ProxyError error = pipeline::ProxyError::Upstream(code, message);
  error.stale_pooled_connection = stale;
  events_->OnUpstreamError(std::move(error));
}

void Http2Upstream::OnDeadline() {
  if (finished_) return;
  auto now = net::Clock::now();
  if (!DeadlineReached(now)) return;
  if (paused_) return SetDeadline(now, request_.paused_grace);  // the client is slow, not the upstream: wait for it
  if (head_received_) return Fail(ErrorCode::kIdleTimeout, "upstream idle timeout");
  if (opened_ && conn_ != nullptr && !conn_->connected()) {
    return Fail(ErrorCode::kConnectTimeout, "upstream connect timeout");
  }
  Fail(ErrorCode::kResponseTimeout, "upstream response timeout");
}

}  // namespace sluice::proxy
