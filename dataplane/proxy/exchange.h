#pragma once
// One proxied request, protocol-neutral downstream, HTTP/1.1 upstream:
// route -> balancer pick -> pooled or new upstream connection -> stream the
// request body up and the response body down, with backpressure both ways.
//
// The Exchange is the IoHandler of its upstream socket while it holds it.
// It never deletes itself: the downstream codec owns it and frees it with
// EventLoop::DeleteLater after OnExchangeDone(), so no callback runs on a
// freed object.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/http/message.h"
#include "dataplane/http1/parser.h"
#include "dataplane/net/buffer.h"
#include "dataplane/net/event_loop.h"
#include "dataplane/proxy/deadline_list.h"
#include "dataplane/proxy/downstream.h"
#include "dataplane/proxy/worker_context.h"

namespace sluice::proxy {

// The HTTP/2 upstream branch (exchange_http2.cc): an Exchange whose cluster
// speaks HTTP/2 sends its request as a stream on a multiplexed connection.
class Http2UpstreamBranch;
struct Http2UpstreamBranchDeleter {
  void operator()(Http2UpstreamBranch* branch) const;
};

class Exchange : public net::IoHandler, private DeadlineWatcher {
 public:
  // `request_framing` describes the request body the codec will deliver.
  Exchange(WorkerContext* ctx, DownstreamStream* downstream, http::RequestHead&& head,
           http1::BodyFraming request_framing);
  ~Exchange() override;
  // From a per-worker free list (spare_blocks.h): one Exchange per request.
  static void* operator new(size_t size);
  static void operator delete(void* block, size_t size) noexcept;

  // Routes and connects; may answer at once (404, 503, 413) and call
  // OnExchangeDone() before returning.
  void Start();
  // The client asked to switch protocols (Connection: upgrade + Upgrade):
  // forward the request's Upgrade and, on 101, tunnel bytes both ways.
  void RequestUpgrade(std::string upgrade) { upgrade_ = std::move(upgrade); }
  void OnRequestBody(std::string_view data);
  // `trailers`: the request's trailer fields, if any. They go to HTTP/2
  // upstreams as a trailing HEADERS frame and to HTTP/1.1 upstreams in the
  // last chunk when the body is chunked; a Content-Length body has no place
  // for them (RFC 9112 7.1.2), so there they are dropped.
  void OnRequestEnd(const http::HeaderMap* trailers = nullptr);
  // Too much request body buffered towards the upstream: the codec stops
  // reading the client until DownstreamStream::ResumeRequestBody().
  bool RequestBodyFull() const;
  void OnDownstreamWritable();
  // The client went away: drop the upstream connection, say nothing more.
  void OnDownstreamClosed();
  // The codec answered this request itself (bad body, timeout): what the
  // access log should say.
  void NoteRefused(int status, const char* reason) {
    status_ = status;
    error_ = reason;
  }
  // Tunnel mode (after 101): client bytes, and the client's end of stream.
  void OnTunnelData(std::string_view data);
  void OnTunnelClientEof();
  // The route's client body timeout (idle time between body reads).
  std::chrono::milliseconds ClientBodyTimeout() const;
  bool done() const { return done_; }
  // True once a response head was sent downstream.
  bool response_started() const { return response_started_; }

  void OnIoEvents(uint32_t events) override;

 private:
  enum class Failure { kConnect, kTimeout, kBadResponse, kReset };

  void Connect(bool allow_pooled);
  void SerializeRequestHead();
  void WriteUpstream();
  void ReadUpstream();
  void ProcessUpstreamInput();
  bool HandleResponseHead();
  void CompleteResponse();
  bool StartTunnel(http::ResponseHead head);
  void RelayTunnel();
  void UpstreamFailed(Failure failure, const char* detail);
  // Retries (RetryPolicy in snapshot.proto): starts a new try on another
  // endpoint when the condition is enabled, the request is safe to send
  // again, tries and the cluster's retry budget remain. True: a try started.
  bool Retry(v1::RetryPolicy::Condition condition, const char* detail);
  bool RetrySafe(v1::RetryPolicy::Condition condition) const;
  // The request body as sent upstream, kept while it is small so that a
  // later try can send it again.
  void KeepForReplay(std::string_view bytes);
  // Outlier detection: the outcome of the current try (once per try).
  void ReportOutcome(bool success);
  // The wait for a try's response head: the per-try timeout when set.
  std::chrono::milliseconds ResponseWaitTimeout() const;
  void Respond(int status, std::string_view body);
  // 308 to the same URL over https (RoutePolicy.redirect_to_https).
  void RedirectToHttps();
  // Strict-Transport-Security, over HTTPS only, when the route asks for it.
  void AddHsts(http::HeaderMap& headers) const;
  void Finish();
  void ReleaseUpstream(bool reusable);
  void ArmTimer(std::chrono::milliseconds timeout);
  void LogAccess();
  void OnTimer();
  void OnDeadline() override { OnTimer(); }  // the worker's DeadlineList
  std::chrono::milliseconds PolicyTimeout(uint32_t route_ms, std::chrono::milliseconds fallback) const;

  WorkerContext* ctx_;
  DownstreamStream* downstream_;
  http::RequestHead request_;
  http1::BodyFraming request_framing_;
  // Read from the request head once, before the HTTP/1 upstream path frees
  // the headers (SerializeRequestHead notes them in its pass over the
  // fields) or at the proxy's first own answer, whichever comes first.
  void RecordGrpcCall();
  bool grpc_recorded_ = false;
  bool grpc_request_ = false;   // content-type application/grpc*: answer errors as gRPC (grpc_error.h)
  bool grpc_deadline_ = false;  // the call carries grpc-timeout
  std::shared_ptr<const snapshot::CompiledSnapshot> snapshot_;  // kept to the end
  const snapshot::CompiledRoute* route_ = nullptr;
  const snapshot::CompiledEndpoint* endpoint_ = nullptr;
  const snapshot::CompiledCluster* cluster_ = nullptr;  // the cluster endpoint_ was picked from
  // Session affinity: the Set-Cookie the balancer asked for (empty: none).
  std::string affinity_cookie_;
  // Balancer accounting (in-flight, latency): one OnRequestStart/End pair
  // per try, opened in Connect, closed when the try fails or the exchange ends.
  void BeginBalancerTry();
  void EndBalancerTry(bool success);
  const snapshot::CompiledCluster* balancer_try_cluster_ = nullptr;  // null: no try open
  const snapshot::CompiledEndpoint* balancer_try_endpoint_ = nullptr;
  net::Clock::time_point balancer_try_head_at_{};  // when the try's response head came
  bool balancer_try_success_ = true;

  // Retries.
  std::vector<const snapshot::CompiledEndpoint*> tried_;  // one entry per try, in order
  std::string replay_body_;     // request body bytes as framed upstream, while <= kMaxReplayBody
  http::HeaderMap request_trailers_;  // forwardable ones, kept for HTTP/2 retries
  bool body_replayable_ = true;  // false once the body outgrew replay_body_
  int retries_ = 0;
  bool outcome_reported_ = false;  // for the current try

  std::unique_ptr<upstream::UpstreamConnection> upstream_;  // while we hold one

  // HTTP/2 upstream (Cluster.protocol H2C/H2), in exchange_http2.cc. When
  // h2_ is set, the body/upstream methods hand over to these.
  friend class Http2UpstreamBranch;
  bool UsesHttp2Upstream() const;
  void ConnectHttp2(bool allow_pooled);
  void Http2RequestBody(std::string_view data);
  void Http2RequestEnd();
  bool Http2RequestBodyFull() const;
  void Http2ResumeResponse();
  void Http2Release();
  std::unique_ptr<Http2UpstreamBranch, Http2UpstreamBranchDeleter> h2_;
  int upstream_fd() const { return upstream_ ? upstream_->fd() : -1; }
  bool connecting_ = false;       // TCP connect, then the TLS handshake when re-encrypting
  bool tcp_connected_ = false;
  std::string upstream_tls_error_;  // kept here: error_ points into it
  bool reused_connection_ = false;
  int attempts_ = 0;
  std::string upstream_head_;     // kept for one replay on a stale pooled connection
  net::Buffer upstream_out_;
  net::Buffer upstream_in_;
  bool request_body_started_ = false;
  bool request_complete_ = false;
  uint64_t request_body_bytes_ = 0;

  http1::ResponseHeadParser response_parser_;  // incremental: never rescans a line
  bool response_head_received_ = false;
  bool response_started_ = false;
  std::optional<http1::BodyDecoder> response_decoder_;
  bool upstream_eof_ = false;
  bool upstream_end_signalled_ = false;  // epoll reported RDHUP/HUP/ERR: read until EOF
  bool upstream_wants_close_ = false;
  bool reading_paused_ = false;
  std::string upgrade_;        // the request's Upgrade value, when it asked for one
  bool tunnel_ = false;        // after 101: raw bytes both ways
  bool client_eof_ = false;    // tunnel: the client half-closed
  bool upstream_shut_ = false; // tunnel: we half-closed towards the upstream
  bool done_ = false;

  // For the access log.
  std::chrono::system_clock::time_point start_wall_;
  net::Clock::time_point start_;
  net::Clock::time_point upstream_start_{};
  int status_ = 0;
  const char* error_ = "";
  bool logged_ = false;

  // Watched in ctx_->deadlines (deadline_list.h) while a timeout runs.
  net::Clock::time_point deadline_{};
  net::Clock::time_point timer_due_{};  // what the DeadlineList was told
  bool connect_pending_timeout_ = false;  // the armed timeout is the connect one (for the log)
};

}  // namespace sluice::proxy
