#include "dataplane/proxy/exchange.h"

#include <sys/random.h>

#include <algorithm>
#include <cstring>

#include "dataplane/common/log.h"
#include "dataplane/http/spare_fields.h"
#include "dataplane/health/outlier.h"
#include "dataplane/pipeline/io_pool.h"
#include "dataplane/proxy/http1_upstream.h"
#include "dataplane/proxy/http2_upstream.h"
#include "dataplane/proxy/spare_blocks.h"

namespace sluice::proxy {
namespace {

using pipeline::ErrorCode;
using pipeline::ProxyError;
using pipeline::Verdict;

// A request body up to this size is kept while a try is in flight, so that
// a retry can send it again; a longer one makes the request unretryable
// once its body started.
constexpr size_t kMaxReplayBody = 64 * 1024;
constexpr uint32_t kDefaultRetries = 2;  // 3 tries, as ingress-nginx's proxy-next-upstream-tries
constexpr uint32_t kDefaultBudgetPercent = 20;
constexpr uint32_t kDefaultBudgetMinPerSecond = 3;
constexpr size_t kBodySourceChunk = 64 * 1024;
// Per sendfile(2) call: large enough to fill a socket buffer at once.
constexpr uint64_t kSendFileChunk = 1 << 20;

// RFC 9110 idempotent methods: sending them twice has the effect of once.
bool IsIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" || method == "DELETE" ||
         method == "TRACE";
}

bool RetryEnabledFor(const v1::RetryPolicy& policy, v1::RetryPolicy::Condition condition) {
  if (policy.disabled()) return false;
  if (policy.retry_on_size() == 0) {
    return condition == v1::RetryPolicy::CONNECT_FAILURE || condition == v1::RetryPolicy::RESET;
  }
  for (int c : policy.retry_on()) {
    if (c == condition) return true;
  }
  return false;
}

v1::RetryPolicy::Condition RetryConditionFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kConnectFailed:
    case ErrorCode::kConnectTimeout:
      return v1::RetryPolicy::CONNECT_FAILURE;
    case ErrorCode::kResponseTimeout:
    case ErrorCode::kIdleTimeout:
    case ErrorCode::kTunnelIdleTimeout:
      return v1::RetryPolicy::TIMEOUT;
    default:
      return v1::RetryPolicy::RESET;
  }
}

std::string_view ReplyTextForUpstreamError(ErrorCode code) {
  switch (code) {
    case ErrorCode::kConnectFailed:
      return "upstream unavailable\n";
    default:
      return pipeline::StatusForUpstreamError(code) == 504 ? "upstream timed out\n" : "bad gateway\n";
  }
}

int64_t SteadyNs(net::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

void* Exchange::operator new(size_t size) { return SpareBlocks<Exchange>::Take(size); }
void Exchange::operator delete(void* block, size_t size) noexcept { SpareBlocks<Exchange>::Give(block, size); }

Exchange::Exchange(WorkerContext* ctx, DownstreamStream* downstream, http::RequestHead&& head,
                   http1::BodyFraming request_framing)
    : ctx_(ctx), downstream_(downstream), request_framing_(request_framing) {
  ctx_->stats.Count(ctx_->stats.exchanges_active);
  state_.request = std::move(head);
  state_.client = &downstream->client();
  state_.start_wall = std::chrono::system_clock::now();
  state_.start = net::Clock::now();
  state_.access_log = ctx->access_log.get();
  state_.compression_stats = &ctx->stats.compression;
  state_.mirror = ctx->mirror;
  state_.io = ctx->io;
  state_.subrequests = ctx->subrequests.get();
  state_.auth_cache = &ctx->auth_cache;
  state_.loop = ctx->loop;
  if (request_framing_.kind == http1::BodyFraming::kContentLength) {
    state_.request_content_length = static_cast<int64_t>(request_framing_.length);
  }
  request_end_received_ = request_framing_.kind == http1::BodyFraming::kNone ||
                          (request_framing_.kind == http1::BodyFraming::kContentLength && request_framing_.length == 0);
}

Exchange::~Exchange() {
  // A source shared elsewhere must never call back into a freed exchange.
  if (body_source_ != nullptr) body_source_->SetReady(nullptr);
  EndBalancerTry(true);  // the client went away: not the endpoint's failure
  if (upstream_ != nullptr) upstream_->Cancel();
  Complete();  // an exchange cut short (client gone) is logged too
  ctx_->stats.Uncount(ctx_->stats.exchanges_active);
  // The request's field list, for the next request or response head; and
  // the response's, unless the downstream codec took it (HTTP/2 does).
  http::SpareFieldLists::Give(state_.request.headers);
  http::SpareFieldLists::Give(response_head_.headers);
}

std::chrono::milliseconds Exchange::PolicyTimeout(uint32_t route_ms, std::chrono::milliseconds fallback) const {
  return route_ms != 0 ? std::chrono::milliseconds(route_ms) : fallback;
}

void Exchange::Start() {
  ctx_->stats.Count(ctx_->stats.requests);
  snapshot_ = ctx_->snapshot;
  if (snapshot_ == nullptr) {
    chain_ = &pipeline::RoutelessChain();
    state_.error = ProxyError::Proxy(ErrorCode::kNoConfiguration, "no configuration yet");
    state_.reply.status = 503;
    state_.reply.body = "no configuration yet\n";
    return Reply();
  }
  state_.snapshot_version = snapshot_->version();
  route_ = snapshot_->Match(state_.request.authority, state_.request.path);
  if (route_ == nullptr) {
    chain_ = &pipeline::RoutelessChain();
    state_.error = ProxyError::Proxy(ErrorCode::kNoRoute, "no route");
    state_.reply.status = 404;
    state_.reply.body = "not found\n";
    return Reply();
  }
  chain_ = route_->chain.get();
  state_.route_origin = route_->origin;
  if (ctx_->series != nullptr) state_.route_series = ctx_->series->route(route_->metrics_slot);
  state_.resumer = this;
  RunRequestHead();
}

// --- Request side ----------------------------------------------------------

void Exchange::RunRequestHead() {
  switch (chain_->RunRequestHead(state_, cursor_)) {
    case Verdict::kPause:
      paused_ = Paused::kRequestHead;
      return;
    case Verdict::kReply:
      return Reply();
    case Verdict::kContinue:
      break;
  }
  cursor_ = 0;
  if (state_.buffer_request_body != 0) {
    // Request buffering: the end hooks decide before any byte goes upstream.
    buffering_request_ = true;
    if (request_end_received_) RunRequestEnd();
    return;
  }
  StartUpstream();
  if (phase_ == Phase::kUpstream && request_end_received_ && !request_end_done_ && paused_ == Paused::kNone) {
    RunRequestEnd();
  }
}

void Exchange::StartUpstream() {
  buffering_request_ = false;
  if (!ChooseEndpoint()) return;
  phase_ = Phase::kUpstream;
  cursor_ = 0;
  StartTry(/*allow_pooled=*/true);
}

void Exchange::OnRequestBody(std::string_view data) {
  if (phase_ == Phase::kDone || data.empty()) return;
  request_body_started_ = true;
  state_.request_body_bytes += data.size();
  if (chain_->Has(pipeline::kRequestBody) && chain_->RunRequestBody(state_, data) == Verdict::kReply) {
    if (!response_started_) return Reply();
    return Abort();  // the response already started: it cannot be answered any more
  }
  if (buffering_request_ && state_.buffer_request_body == 0) {
    // The buffering stage let go (over its limit, the rest passes): what is
    // held goes first, then this chunk and the rest as they come.
    StartUpstream();
    if (phase_ != Phase::kUpstream) return;
  }
  KeepForReplay(data);
  if (upstream_ != nullptr && phase_ != Phase::kRequest) upstream_->SendBody(data);
}

void Exchange::KeepForReplay(std::string_view bytes) {
  if (upstream_ == nullptr) {  // no try yet: held whole (RequestBodyFull bounds it)
    replay_body_.append(bytes);
    return;
  }
  if (!body_replayable_) return;
  if (replay_body_.size() + bytes.size() > kMaxReplayBody || route_->policy.retry().disabled()) {
    body_replayable_ = false;
    std::string().swap(replay_body_);
    return;
  }
  replay_body_.append(bytes);
}

void Exchange::OnRequestEnd(const http::HeaderMap* trailers) {
  if (phase_ == Phase::kDone || request_end_received_) return;
  request_end_received_ = true;
  if (trailers != nullptr) request_trailers_ = *trailers;
  // While the head stages run (or wait), RunRequestHead runs the end hooks
  // after them; a buffered request's end hooks run now.
  if (phase_ == Phase::kRequest && !buffering_request_) return;
  RunRequestEnd();
}

void Exchange::RunRequestEnd() {
  switch (chain_->RunRequestEnd(state_, &request_trailers_, cursor_)) {
    case Verdict::kPause:
      paused_ = Paused::kRequestEnd;
      return;
    case Verdict::kReply:
      if (!response_started_) return Reply();
      return Abort();
    case Verdict::kContinue:
      break;
  }
  cursor_ = 0;
  request_end_done_ = true;
  if (buffering_request_) return StartUpstream();  // the try sends the held body and the end
  if (upstream_ != nullptr) upstream_->SendEnd(request_trailers_.empty() ? nullptr : &request_trailers_);
}

bool Exchange::RequestBodyFull() const {
  if (phase_ == Phase::kDone) return false;
  if (upstream_ == nullptr) {
    // A buffering stage reads one byte past its limit, to see it passed.
    uint64_t hold = std::max<uint64_t>(ctx_->config->high_watermark,
                                       state_.buffer_request_body == 0 ? 0 : state_.buffer_request_body + 1);
    return replay_body_.size() >= hold;
  }
  return upstream_->BodyFull();
}

void Exchange::OnUpstreamRequestWritable() {
  if (phase_ != Phase::kDone) downstream_->ResumeRequestBody();
}

void Exchange::NoteRefused(int status, const char* reason) {
  state_.status = status;
  state_.error = ProxyError::Downstream(status == 408 ? ErrorCode::kClientTimeout : ErrorCode::kBadRequestBody, reason);
}

std::chrono::milliseconds Exchange::ClientBodyTimeout() const {
  uint32_t route_ms = route_ != nullptr ? route_->policy.client_body_timeout_ms() : 0;
  return PolicyTimeout(route_ms, ctx_->config->client_body_timeout);
}

void Exchange::Resume() {
  if (phase_ == Phase::kDone) return;
  Paused paused = paused_;
  paused_ = Paused::kNone;
  switch (paused) {
    case Paused::kNone:
      return;
    case Paused::kRequestHead:
      RunRequestHead();
      break;
    case Paused::kRequestEnd:
      RunRequestEnd();
      break;
    case Paused::kResponseHead:
      RunResponseHead();
      break;
  }
  if (phase_ != Phase::kDone) downstream_->Flush();
}

// --- Upstream ---------------------------------------------------------------

balancer::PickContext Exchange::PickContextAt(net::Clock::time_point now) const {
  balancer::PickContext pick;
  pick.route = route_;  // the route's balancing policy
  pick.request = &state_.request;  // every try picks with the same fields
  pick.client_ip = state_.client->ip;
  pick.tried = tried_.all();
  pick.now_ns = SteadyNs(now);
  return pick;
}

bool Exchange::ChooseEndpoint() {
  balancer::PickContext pick = PickContextAt(ctx_->loop->now());
  // Canary rule and traffic split first, then the endpoint in that cluster.
  cluster_ = ctx_->balancer.ChooseCluster(*route_, state_.request);
  if (ctx_->series != nullptr) state_.cluster_series = ctx_->series->cluster(cluster_->metrics_slot);
  balancer::PickResult picked = ctx_->balancer.Pick(*cluster_, pick);
  if (picked.endpoint == nullptr && !route_->policy.default_backend_cluster().empty()) {
    // ingress-nginx's default-backend annotation: a Service without
    // endpoints is served by the default backend.
    if (const snapshot::CompiledCluster* fallback = snapshot_->FindCluster(route_->policy.default_backend_cluster())) {
      cluster_ = fallback;
      picked = ctx_->balancer.Pick(*cluster_, pick);
    }
  }
  endpoint_ = picked.endpoint;
  state_.affinity_cookie = std::move(picked.set_cookie);
  if (endpoint_ == nullptr) {
    state_.error = ProxyError::Proxy(ErrorCode::kNoEndpoint, "no endpoints");
    state_.reply.status = 503;
    state_.reply.body = "no healthy upstream\n";
    Reply();
    return false;
  }
  ctx_->retry_budgets.For(cluster_->name).RecordRequest(pick.now_ns);

  const v1::RoutePolicy& policy = route_->policy;
  UpstreamRequest& request = upstream_request_;
  request.state = &state_;
  request.framing = request_framing_;
  request.upgrade = upgrade_;
  request.response_field_hints = chain_->response_field_hints();
  request.connect_timeout = PolicyTimeout(policy.connect_timeout_ms(), ctx_->config->connect_timeout);
  request.response_timeout = PolicyTimeout(policy.response_timeout_ms(), ctx_->config->response_timeout);
  uint32_t per_try_ms = policy.retry().per_try_timeout_ms();
  if (per_try_ms != 0 && std::chrono::milliseconds(per_try_ms) < request.response_timeout) {
    request.response_timeout = std::chrono::milliseconds(per_try_ms);
  }
  request.idle_timeout = PolicyTimeout(policy.idle_timeout_ms(), ctx_->config->upstream_idle_timeout);
  request.paused_grace = ctx_->config->upstream_idle_timeout;
  return true;
}

void Exchange::StartTry(bool allow_pooled) {
  ++state_.upstream_attempts;
  if (tried_.empty() || tried_.back() != endpoint_) tried_.Add(endpoint_);
  outcome_reported_ = false;
  upstream_start_ = ctx_->loop->now();
  BeginBalancerTry();
  RetireUpstream();
  bool http2 = cluster_->source != nullptr && cluster_->source->protocol() != v1::Cluster::HTTP1;
  if (http2) {
    upstream_.reset(new Http2Upstream(ctx_, this, upstream_request_));
  } else {
    upstream_.reset(new Http1Upstream(ctx_, this, upstream_request_));
  }
  // Any call below may end this try (and start the next one, or answer):
  // each goes on only while this try is the current one.
  UpstreamStream* stream = upstream_.get();
  stream->Start(*endpoint_, allow_pooled);
  if (upstream_.get() != stream || phase_ != Phase::kUpstream) return;
  if (!replay_body_.empty()) {
    stream->SendBody(replay_body_);  // a retry, or a body held while the request stages waited
    if (upstream_.get() != stream || phase_ != Phase::kUpstream) return;
  }
  if (!body_replayable_ || route_->policy.retry().disabled()) std::string().swap(replay_body_);
  if (request_end_done_) stream->SendEnd(request_trailers_.empty() ? nullptr : &request_trailers_);
}

void Exchange::RetireUpstream() {
  if (upstream_ == nullptr) return;
  upstream_->Cancel();
  ctx_->loop->DeleteLater(std::move(upstream_));
}

void Exchange::OnUpstreamError(ProxyError error) {
  if (phase_ == Phase::kDone) return;
  ctx_->stats.Count(ctx_->stats.upstream_failures);
  if (error.NothingSent()) ++state_.upstream_connect_failures;
  // A pooled connection the server closed while we picked it (or a stream
  // it refused): the request never reached it, so it goes again once on a
  // fresh connection when no body byte was taken from the client.
  if (error.stale_pooled_connection && !response_started_ && !request_body_started_ &&
      state_.upstream_attempts < 2) {
    return StartTry(/*allow_pooled=*/false);
  }
  ReportOutcome(false);
  EndBalancerTry(false);
  if (!response_started_ && Retry(RetryConditionFor(error.code), error)) return;
  ErrorCode code = error.code;
  state_.error = std::move(error);
  if (response_started_) return Abort();
  state_.reply.status = pipeline::StatusForUpstreamError(code);
  state_.reply.body = ReplyTextForUpstreamError(code);
  Reply();
}

bool Exchange::RetrySafe(v1::RetryPolicy::Condition condition) const {
  // The body so far must still be at hand to send it again.
  if (request_body_started_ && !body_replayable_) return false;
  // Nothing reached the upstream: safe for any method.
  if (condition == v1::RetryPolicy::CONNECT_FAILURE) return true;
  // The upstream may have acted on it: only when doing it twice is harmless,
  // or the whole request was buffered before it failed.
  return IsIdempotent(state_.request.method) || request_end_received_;
}

bool Exchange::Retry(v1::RetryPolicy::Condition condition, const ProxyError& cause) {
  if (phase_ != Phase::kUpstream || response_started_ || cluster_ == nullptr || endpoint_ == nullptr) return false;
  const v1::RetryPolicy& policy = route_->policy.retry();
  if (!RetryEnabledFor(policy, condition) || !RetrySafe(condition)) return false;
  uint32_t max_retries = policy.has_retries() ? policy.retries() : kDefaultRetries;
  if (static_cast<uint32_t>(retries_) >= max_retries) return false;
  net::Clock::time_point now = ctx_->loop->now();
  if (policy.total_timeout_ms() != 0 && now - state_.start >= std::chrono::milliseconds(policy.total_timeout_ms())) {
    return false;
  }
  balancer::PickContext pick = PickContextAt(now);
  balancer::PickResult picked = ctx_->balancer.Pick(*cluster_, pick);
  const snapshot::CompiledEndpoint* next = picked.endpoint;
  // A different endpoint per try; none left means the answer we have stands.
  std::span<const snapshot::CompiledEndpoint* const> tried = tried_.all();
  if (next == nullptr || std::find(tried.begin(), tried.end(), next) != tried.end()) return false;
  uint32_t percent = policy.has_budget_percent() ? policy.budget_percent() : kDefaultBudgetPercent;
  uint32_t floor = policy.has_budget_min_per_second() ? policy.budget_min_per_second() : kDefaultBudgetMinPerSecond;
  // A connect failure left no work on any backend: its retry only moves the
  // request elsewhere and cannot amplify an outage, so it needs no budget.
  if (condition != v1::RetryPolicy::CONNECT_FAILURE &&
      !ctx_->retry_budgets.For(cluster_->name).TryAcquireRetry(pick.now_ns, percent, floor)) {
    ctx_->stats.Count(ctx_->stats.retry_budget_exhausted);
    return false;
  }
  ++retries_;
  ctx_->stats.Count(ctx_->stats.upstream_retries);
  state_.error = cause;  // what made it retry, should the last try fail too
  endpoint_ = next;
  if (!picked.set_cookie.empty()) state_.affinity_cookie = std::move(picked.set_cookie);  // pin the endpoint that serves
  StartTry(/*allow_pooled=*/true);
  return true;
}

void Exchange::ReportOutcome(bool success) {
  if (outcome_reported_ || endpoint_ == nullptr || endpoint_->health == nullptr || cluster_ == nullptr) return;
  outcome_reported_ = true;
  health::EndpointHealth& health = *endpoint_->health;
  if (success) return health::RecordSuccess(health);
  int64_t now_ns = SteadyNs(ctx_->loop->now());
  size_t ejected = 0;
  for (const snapshot::CompiledEndpoint& e : cluster_->endpoints) {
    if (e.health != nullptr && e.health->ejected_until_ns.load(std::memory_order_relaxed) > now_ns) ++ejected;
  }
  if (!health::RecordFailure(health, cluster_->outlier, now_ns, ejected, cluster_->endpoints.size())) return;
  ctx_->stats.Count(ctx_->stats.outlier_ejections);
  int64_t seconds = (health.ejected_until_ns.load(std::memory_order_relaxed) - now_ns) / 1'000'000'000;
  log::Warn("endpoint ejected", {{"endpoint", endpoint_->key},
                                 {"cluster", cluster_->name},
                                 {"seconds", std::to_string(seconds)},
                                 {"ejections", std::to_string(health.ejection_count.load(std::memory_order_relaxed))}});
}

void Exchange::BeginBalancerTry() {
  if (balancer_try_cluster_ != nullptr) {
    if (balancer_try_endpoint_ == endpoint_) return;  // the same try, replayed on a fresh connection
    EndBalancerTry(false);
  }
  balancer_try_cluster_ = cluster_;
  balancer_try_endpoint_ = endpoint_;
  balancer_try_head_at_ = {};
  balancer_try_success_ = true;
  ctx_->balancer.OnRequestStart(*cluster_, *endpoint_);
}

void Exchange::EndBalancerTry(bool success) {
  if (balancer_try_cluster_ == nullptr) return;
  // Latency to the response head (the backend's think time), not the whole
  // body transfer; the whole try when no head came.
  net::Clock::time_point now = ctx_->loop->now();
  net::Clock::time_point until = balancer_try_head_at_ != net::Clock::time_point{} ? balancer_try_head_at_ : now;
  ctx_->balancer.OnRequestEnd(*balancer_try_cluster_, *balancer_try_endpoint_, until - upstream_start_,
                              success && balancer_try_success_, SteadyNs(now));
  balancer_try_cluster_ = nullptr;
  balancer_try_endpoint_ = nullptr;
}

// --- Response side -----------------------------------------------------------

void Exchange::OnUpstreamHead(http::ResponseHead&& head, bool end_stream) {
  if (phase_ != Phase::kUpstream) return;
  ReportOutcome(head.status < 500);
  balancer_try_head_at_ = ctx_->loop->now();
  balancer_try_success_ = head.status < 500;
  if (head.status == 502 || head.status == 503 || head.status == 504) {
    // Nothing went to the client yet: another endpoint may do better.
    auto condition = head.status == 502   ? v1::RetryPolicy::STATUS_502
                     : head.status == 503 ? v1::RetryPolicy::STATUS_503
                                          : v1::RetryPolicy::STATUS_504;
    if (Retry(condition, ProxyError::Upstream(ErrorCode::kStatus5xx, "upstream answered 5xx"))) return;
  }
  if (head.status == 101) {
    // Read before the response stages drop the hop-by-hop fields.
    const std::string* upgrade = head.headers.Get("upgrade");
    tunnel_protocol_ = upgrade != nullptr ? *upgrade : upgrade_;
  }
  response_head_ = std::move(head);
  state_.response_head_ends_stream = end_stream;
  phase_ = Phase::kResponse;
  RunResponseHead();
}

void Exchange::RunResponseHead() {
  switch (chain_->RunResponseHead(state_, response_head_, /*local=*/false, cursor_)) {
    case Verdict::kPause:
      paused_ = Paused::kResponseHead;
      if (upstream_ != nullptr) upstream_->PauseResponse();  // body events are held meanwhile
      return;
    case Verdict::kReply:  // a stage replaces the upstream's response
      RetireUpstream();
      return Reply();
    case Verdict::kContinue:
      break;
  }
  cursor_ = 0;
  http::ResponseHead& head = response_head_;
  int status = head.status;
  if (status == 101) {
    head.headers.Add("connection", "upgrade");
    head.headers.Add("upgrade", tunnel_protocol_);
  }
  response_started_ = true;
  state_.status = status;
  ctx_->stats.Count(ctx_->stats.responses_by_class[status / 100 <= 5 ? status / 100 : 0]);
  downstream_->SendResponseHead(std::move(head), state_.response_head_ends_stream);
  if (status == 101) {
    phase_ = Phase::kTunnel;
    websocket_tunnel_ = http::EqualsIgnoreCase(tunnel_protocol_, "websocket");
    downstream_->StartTunnel();
  }
  // What the upstream delivered while the head stages waited.
  if (!held_body_.empty()) {
    std::string held = std::move(held_body_);
    SendResponseBody(held);
    if (phase_ == Phase::kDone) return;
  }
  if (upstream_ != nullptr) upstream_->ResumeResponse();
  if (held_end_) {
    held_end_ = false;
    EndResponse(held_trailers_.empty() ? nullptr : &held_trailers_);
  }
}

void Exchange::OnUpstreamBody(std::string_view data) {
  if (paused_ == Paused::kResponseHead) {
    held_body_.append(data);
    return;
  }
  if (phase_ != Phase::kResponse && phase_ != Phase::kTunnel) return;
  SendResponseBody(data);
}

void Exchange::SendResponseBody(std::string_view data) {
  if (phase_ == Phase::kTunnel && websocket_tunnel_) {
    if (going_away_sent_) return;  // the client was told Close: nothing may follow
    to_client_frames_.Feed(data);
  }
  if (phase_ == Phase::kResponse && BodyPassesStages() && chain_->RunResponseBody(state_, data) == Verdict::kReply) {
    return Abort();  // the head is out: a stage can only cut the response short
  }
  if (!data.empty()) downstream_->SendResponseBody(data);
}

void Exchange::OnUpstreamFlush() {
  if (phase_ == Phase::kDone) return;
  downstream_->Flush();
  if (phase_ != Phase::kDone && upstream_ != nullptr && downstream_->OutputFull()) {
    response_paused_ = true;
    upstream_->PauseResponse();
  }
}

void Exchange::OnDownstreamWritable() {
  if (phase_ == Phase::kDone) return;
  if (body_source_ != nullptr) {
    // A source with nothing now calls back itself (SetReady); pumping it
    // here would only loop (Flush reports a drained socket at once).
    if (!body_source_waiting_) PumpBodySource();
    return;
  }
  if (!response_paused_ || paused_ == Paused::kResponseHead) return;
  response_paused_ = false;
  if (upstream_ != nullptr) upstream_->ResumeResponse();
}

void Exchange::OnUpstreamEnd(const http::HeaderMap* trailers) {
  if (paused_ == Paused::kResponseHead) {
    held_end_ = true;
    if (trailers != nullptr) held_trailers_ = *trailers;
    return;
  }
  if (phase_ == Phase::kTunnel) return Finish();  // the upstream closed: so does the client connection
  if (phase_ != Phase::kResponse) return;
  EndResponse(trailers);
}

void Exchange::EndResponse(const http::HeaderMap* trailers) {
  std::string_view tail;  // a transform's last bytes (a compressor's final block)
  if (chain_->Has(pipeline::kResponseEnd) && chain_->RunResponseEnd(state_, tail) == Verdict::kReply) return Abort();
  // A head that ended the stream has no body: nothing may follow it.
  if (!tail.empty() && !state_.response_head_ends_stream) downstream_->SendResponseBody(tail);
  downstream_->SendResponseEnd(trailers);
  Finish();
}

void Exchange::OnTunnelData(std::string_view data) {
  if (phase_ != Phase::kTunnel || data.empty() || upstream_ == nullptr) return;
  if (websocket_tunnel_) {
    if (going_away_sent_) return;
    to_upstream_frames_.Feed(data);
  }
  upstream_->SendBody(data);
}

void Exchange::SayGoingAway() {
  if (phase_ != Phase::kTunnel || !websocket_tunnel_ || going_away_sent_) return;
  going_away_sent_ = true;
  constexpr std::string_view kReason = "going away";
  if (to_client_frames_.at_boundary()) {
    downstream_->SendResponseBody(websocket::CloseFrame(websocket::kGoingAway, kReason, nullptr));
    downstream_->Flush();
  }
  if (upstream_ != nullptr && to_upstream_frames_.at_boundary()) {
    // Frames from a client are masked with a key the server cannot predict
    // (RFC 6455 §5.3).
    uint8_t key[4];
    if (getrandom(key, sizeof key, 0) != static_cast<ssize_t>(sizeof key)) {
      const uint64_t now = static_cast<uint64_t>(net::Clock::now().time_since_epoch().count());
      std::memcpy(key, &now, sizeof key);
    }
    upstream_->SendBody(websocket::CloseFrame(websocket::kGoingAway, kReason, key));
  }
}

void Exchange::OnTunnelClientEof() {
  if (phase_ != Phase::kTunnel || upstream_ == nullptr) return;
  upstream_->SendEnd(nullptr);  // the half-close goes on
}

void Exchange::Reply() {
  RetireUpstream();
  paused_ = Paused::kNone;
  pipeline::LocalReply& reply = state_.reply;
  pipeline::ReplyShape shape = pipeline::ReplyShape::Of(state_.request);
  http::ResponseHead head = pipeline::TakeLocalReplyHead(reply, shape);
  bool body = pipeline::BodyFollows(reply, shape);
  state_.response_head_ends_stream = !body;
  size_t cursor = 0;
  chain_->RunResponseHead(state_, head, /*local=*/true, cursor);
  int status = reply.status;
  state_.status = status;  // the access log keeps the HTTP status the proxy meant, also for gRPC
  response_started_ = true;
  phase_ = Phase::kResponse;
  ctx_->stats.Count(ctx_->stats.responses_by_class[status / 100 <= 5 ? status / 100 : 0]);
  downstream_->SendResponseHead(std::move(head), !body);
  if (!body) {
    downstream_->SendResponseEnd(nullptr);
    return Finish();
  }
  if (reply.source != nullptr) {
    body_source_ = reply.source;
  } else {
    body_source_ = std::make_shared<pipeline::MemoryBodySource>(std::string(reply.text()));
  }
  // A source that had nothing now (a cache fill still arriving: its bytes
  // come from another worker's upstream; a file being read in) says when
  // to pump again; posted to this loop, never called from inside Next.
  body_source_->SetReady([this] {
    body_source_waiting_ = false;
    if (phase_ == Phase::kResponse && body_source_ != nullptr) PumpBodySource();
  });
  // A file's pages not in the page cache are read in on an I/O thread
  // before this loop sends them (sendfile and pread would block it): the
  // source has nothing now meanwhile, and its ready callback follows.
  body_source_->OffloadReadsTo(state_.io, &ctx_->stats.file_warmups);
  PumpBodySource();
}

void Exchange::PumpBodySource() {
  // A file, and no stage that must see the bytes: the connection may send
  // them itself (sendfile), never copying them through this process.
  pipeline::BodySource::FileRange range;
  while (phase_ == Phase::kResponse && !BodyPassesStages() && body_source_->NextFileRange(&range)) {
    if (range.length == 0) return EndResponse(nullptr);
    const int64_t sent =
        downstream_->SendFileBody(range.fd, range.offset, static_cast<size_t>(std::min<uint64_t>(range.length, kSendFileChunk)));
    if (sent == DownstreamStream::kCannotSendFile) break;  // read it below
    if (sent == DownstreamStream::kClientGone || phase_ == Phase::kDone) return;
    if (sent == 0) return;  // the socket is full: OnDownstreamWritable comes back here
    body_source_->Skip(static_cast<uint64_t>(sent));
  }
  // Only while the client takes the bytes: OnDownstreamWritable goes on.
  while (phase_ == Phase::kResponse && !downstream_->OutputFull()) {
    pipeline::BodySource::Chunk chunk = body_source_->Next(kBodySourceChunk);
    if (chunk.failed) {
      state_.error = body_source_->error();
      return Abort();
    }
    if (!chunk.data.empty()) {
      SendResponseBody(chunk.data);
      if (phase_ == Phase::kDone) return;
    }
    if (chunk.end) return EndResponse(nullptr);
    if (chunk.data.empty()) {
      body_source_waiting_ = true;  // until its SetReady callback
      break;
    }
  }
  if (phase_ != Phase::kDone) downstream_->Flush();
}

bool Exchange::BodyPassesStages() {
  if (body_passes_stages_ < 0) {
    body_passes_stages_ = chain_->Has(pipeline::kResponseBody) && chain_->WantsResponseBody(state_) ? 1 : 0;
  }
  return body_passes_stages_ != 0;
}

void Exchange::Abort() {
  ctx_->stats.Count(ctx_->stats.responses_by_class[0]);
  phase_ = Phase::kDone;
  RetireUpstream();
  EndBalancerTry(true);
  downstream_->AbortResponse();
  Complete();
  downstream_->OnExchangeDone();
}

void Exchange::OnDownstreamClosed() {
  if (phase_ == Phase::kDone) return;
  phase_ = Phase::kDone;
  RetireUpstream();
}

void Exchange::Finish() {
  EndBalancerTry(true);
  phase_ = Phase::kDone;
  Complete();
  downstream_->Flush();
  downstream_->OnExchangeDone();
}

void Exchange::Complete() {
  if (completed_ || chain_ == nullptr) return;
  completed_ = true;
  if (!chain_->Has(pipeline::kComplete)) return;
  std::string upstreams;  // every endpoint tried, as nginx's $upstream_addr: "a, b"
  if (endpoint_ != nullptr && upstream_start_ != net::Clock::time_point{}) {
    state_.upstream_address = endpoint_->key;
    if (tried_.size() > 1) {
      for (const snapshot::CompiledEndpoint* tried : tried_.all()) {
        if (!upstreams.empty()) upstreams += ", ";
        upstreams += tried->key;
      }
      state_.upstream_address = upstreams;
    }
    state_.upstream_seconds = std::chrono::duration<double>(net::Clock::now() - upstream_start_).count();
  } else {
    state_.upstream_attempts = 0;
  }
  state_.bytes_out = downstream_->response_bytes();
  chain_->Complete(state_);
}

}  // namespace sluice::proxy
