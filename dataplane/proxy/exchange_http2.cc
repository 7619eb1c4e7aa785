// The Exchange's HTTP/2 upstream branch: for clusters whose protocol is H2C
// (cleartext, prior knowledge) or H2 (TLS, ALPN h2), the request goes out
// as one stream on a multiplexed per-worker connection (upstream::Http2Pool)
// instead of on a connection of its own. Everything before (routing,
// balancing, retries) and after (response filtering, access log) is the
// Exchange's, shared with HTTP/1.
#include <nghttp2/nghttp2.h>

#include "dataplane/http2/header_names.h"
#include "dataplane/http2/server_connection.h"  // error codes
#include "dataplane/proxy/exchange.h"
#include "dataplane/proxy/hop_by_hop.h"
#include "dataplane/upstream/http2_pool.h"

namespace sluice::proxy {

// Receives one upstream stream's events for its Exchange. Holds the stream
// only while it is open (conn_ is valid exactly while stream_ is set).
class Http2UpstreamBranch final : public http2::ClientStreamEvents {
 public:
  explicit Http2UpstreamBranch(Exchange* exchange) : ex_(exchange) {}
  ~Http2UpstreamBranch() override { Detach(); }

  void Attach(upstream::Http2Upstream* conn, http2::ClientStream* stream) {
    conn_ = conn;
    stream_ = stream;
    unconsumed_ = 0;
  }
  // Lets go of the stream: RST_STREAM CANCEL unless it completed.
  void Detach() {
    if (stream_ == nullptr) return;
    http2::ClientStream* stream = stream_;
    upstream::Http2Upstream* conn = conn_;
    stream_ = nullptr;
    conn_ = nullptr;
    conn->session().Cancel(stream);
    conn->Flush();
  }

  void OnResponseHead(http::ResponseHead head, bool end_stream) override {
    Exchange* ex = ex_;
    ex->ReportOutcome(head.status < 500);
    ex->balancer_try_head_at_ = ex->ctx_->loop->now();  // the balancer's latency sample (EWMA)
    ex->balancer_try_success_ = head.status < 500;
    if (head.status == 502 || head.status == 503 || head.status == 504) {
      auto condition = head.status == 502   ? v1::RetryPolicy::STATUS_502
                       : head.status == 503 ? v1::RetryPolicy::STATUS_503
                                            : v1::RetryPolicy::STATUS_504;
      if (ex->Retry(condition, "upstream answered 5xx")) return;
    }
    ex->response_head_received_ = true;
    FilterResponseHeaders(head.headers, !ex->route_->policy.keep_server_header(), /*drop_content_length=*/false);
    ex->AddHsts(head.headers);
    if (!ex->affinity_cookie_.empty()) head.headers.Add("set-cookie", ex->affinity_cookie_);
    ex->response_started_ = true;
    int status = head.status;
    ex->status_ = status;
    ex->downstream_->SendResponseHead(std::move(head), end_stream);
    ex->ctx_->stats.Count(ex->ctx_->stats.responses_by_class[status / 100 <= 5 ? status / 100 : 0]);
    if (end_stream) return Complete(nullptr);
    ex->ArmTimer(ex->PolicyTimeout(ex->route_->policy.idle_timeout_ms(), ex->ctx_->config->upstream_idle_timeout));
    ex->downstream_->Flush();
  }

  void OnResponseData(std::string_view data) override {
    Exchange* ex = ex_;
    if (ex->done_ || !ex->response_started_) return;
    ex->deadline_ = ex->ctx_->loop->now() +
                    ex->PolicyTimeout(ex->route_->policy.idle_timeout_ms(), ex->ctx_->config->upstream_idle_timeout);
    ex->downstream_->SendResponseBody(data);
    // Backpressure: the upstream's window reopens only as the client takes
    // the bytes (Http2ResumeResponse).
    if (ex->downstream_->OutputFull()) {
      unconsumed_ += data.size();
      ex->reading_paused_ = true;
    } else if (stream_ != nullptr) {
      conn_->session().ConsumeResponseData(stream_, data.size());
    }
    ex->downstream_->Flush();
  }

  void OnResponseEnd(const http::HeaderMap* trailers) override {
    if (ex_->done_ || !ex_->response_started_) return;
    Complete(trailers);
  }

  void OnStreamReset(uint32_t error_code) override {
    upstream::Http2Upstream* conn = conn_;
    stream_ = nullptr;
    conn_ = nullptr;
    Exchange* ex = ex_;
    if (ex->done_) return;
    // REFUSED_STREAM (e.g. above a GOAWAY's last-stream-id): the server did
    // not act on it, so it is replayed on a fresh connection like a request
    // sent on a stale keep-alive connection.
    if (error_code == http2::kRefusedStream) ex->reused_connection_ = true;
    bool never_connected = conn != nullptr && !conn->connected();
    if (never_connected) return ex->UpstreamFailed(Exchange::Failure::kConnect, "upstream connect failed");
    ex->UpstreamFailed(Exchange::Failure::kReset, "upstream HTTP/2 stream reset");
  }

  void OnRequestWritable() override {
    if (!ex_->done_) ex_->downstream_->ResumeRequestBody();
  }

  upstream::Http2Upstream* conn_ = nullptr;
  http2::ClientStream* stream_ = nullptr;
  size_t unconsumed_ = 0;  // response bytes taken but not yet acknowledged

 private:
  void Complete(const http::HeaderMap* trailers) {
    Exchange* ex = ex_;
    // Copied before the stream goes: the trailers live in it.
    ex->downstream_->SendResponseEnd(trailers != nullptr && !trailers->empty() ? trailers : nullptr);
    Detach();
    ex->ReleaseUpstream(true);
    ex->Finish();
  }

  Exchange* ex_;
};

void Http2UpstreamBranchDeleter::operator()(Http2UpstreamBranch* branch) const { delete branch; }

bool Exchange::UsesHttp2Upstream() const {
  const snapshot::CompiledCluster* cluster = cluster_ != nullptr ? cluster_ : route_ != nullptr ? route_->cluster : nullptr;
  return cluster != nullptr && cluster->source != nullptr && cluster->source->protocol() != v1::Cluster::HTTP1;
}

void Exchange::ConnectHttp2(bool allow_pooled) {
  if (h2_ == nullptr) h2_.reset(new Http2UpstreamBranch(this));
  h2_->Detach();
  const snapshot::CompiledEndpoint* endpoint = endpoint_;
  upstream::Http2Pool::TransportFactory make_transport;
  if (endpoint->upstream_tls != nullptr) {
    make_transport = [endpoint](int fd) -> std::unique_ptr<net::Transport> {
      return endpoint->upstream_tls->NewTransport(fd, endpoint->key);
    };
  }
  bool opened = false;
  auto conn = ctx_->h2_pool.Acquire(endpoint->pool_key, endpoint->address, !allow_pooled, make_transport, &opened);
  if (!conn.ok()) return UpstreamFailed(Failure::kConnect, "upstream connect failed");
  ctx_->stats.Count(opened ? ctx_->stats.upstream_connects : ctx_->stats.upstream_reuses);
  reused_connection_ = !opened;
  connecting_ = false;
  connect_pending_timeout_ = false;

  // The head, straight from the parsed request. Hop-by-hop fields stay
  // behind (HTTP/2 forbids them) except "te: trailers", which gRPC needs.
  thread_local std::vector<nghttp2_nv> nv;
  nv.clear();
  bool secure = endpoint->upstream_tls != nullptr;
  nv.push_back(http2::MakeNv(":method", request_.method));
  nv.push_back(http2::MakeNv(":scheme", secure ? "https" : "http"));
  nv.push_back(http2::MakeNv(":authority", request_.authority));
  nv.push_back(http2::MakeNv(":path", request_.path.empty() ? std::string_view("/") : std::string_view(request_.path)));
  std::vector<std::string> named = ConnectionNamedHeaders(request_.headers);
  for (const http::Header& h : request_.headers.entries()) {
    if (h.name.empty() || h.name[0] == ':') continue;
    if (h.name == "te") {
      if (http::EqualsIgnoreCase(h.value, "trailers")) nv.push_back(http2::MakeNv("te", "trailers"));
      continue;
    }
    if (IsHopByHopName(h.name) || http2::IsConnectionSpecific(h.name)) continue;
    if (h.name == "host" || h.name == "expect" || h.name == "content-length" || h.name == "x-forwarded-for" ||
        h.name == "x-forwarded-host" || h.name == "x-forwarded-proto" || h.name == "http2-settings") {
      continue;
    }
    bool connection_named = false;
    for (const std::string& n : named) connection_named = connection_named || h.name == n;
    if (connection_named) continue;
    nv.push_back(http2::MakeNv(h.name, h.value));
  }
  std::string length;
  if (request_framing_.kind == http1::BodyFraming::kContentLength) {
    length = std::to_string(request_framing_.length);
    nv.push_back(http2::MakeNv("content-length", length));
  }
  nv.push_back(http2::MakeNv("x-forwarded-for", downstream_->client().ip));
  nv.push_back(http2::MakeNv("x-forwarded-proto", downstream_->client().scheme));
  nv.push_back(http2::MakeNv("x-forwarded-host", request_.authority));

  bool end_stream = request_complete_ && replay_body_.empty() && request_trailers_.empty();
  http2::ClientStream* stream = (*conn)->session().SubmitRequest(nv.data(), nv.size(), end_stream, h2_.get());
  if (stream == nullptr) return UpstreamFailed(Failure::kConnect, "upstream refused a new HTTP/2 stream");
  h2_->Attach(*conn, stream);
  if (!replay_body_.empty()) (*conn)->session().AppendRequestData(stream, replay_body_);  // a retry: the body so far, again
  if (request_complete_ && !end_stream) {
    (*conn)->session().EndRequest(stream, request_trailers_.empty() ? nullptr : &request_trailers_);
  }
  ArmTimer(opened ? ctx_->config->connect_timeout + ResponseWaitTimeout() : ResponseWaitTimeout());
  (*conn)->Flush();
}

void Exchange::Http2RequestBody(std::string_view data) {
  KeepForReplay(data);
  if (h2_->stream_ == nullptr) return;
  h2_->conn_->session().AppendRequestData(h2_->stream_, data);
  h2_->conn_->Flush();
}

void Exchange::Http2RequestEnd() {
  request_complete_ = true;
  if (h2_->stream_ == nullptr) return;
  h2_->conn_->session().EndRequest(h2_->stream_, request_trailers_.empty() ? nullptr : &request_trailers_);
  h2_->conn_->Flush();
}

bool Exchange::Http2RequestBodyFull() const {
  return h2_->stream_ != nullptr && h2_->conn_->session().RequestBodyFull(h2_->stream_);
}

void Exchange::Http2ResumeResponse() {
  if (h2_->stream_ == nullptr || h2_->unconsumed_ == 0) return;
  h2_->conn_->session().ConsumeResponseData(h2_->stream_, h2_->unconsumed_);
  h2_->unconsumed_ = 0;
  h2_->conn_->Flush();
}

void Exchange::Http2Release() { h2_->Detach(); }

}  // namespace sluice::proxy
