#include "dataplane/proxy/exchange.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "dataplane/common/log.h"
#include "dataplane/health/outlier.h"
#include "dataplane/proxy/grpc_error.h"
#include "dataplane/proxy/hop_by_hop.h"
#include "dataplane/proxy/spare_blocks.h"
#include "dataplane/tls/tls_transport.h"

namespace sluice::proxy {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMinReadRoom = 2048;

bool IsInterim(int status) { return status >= 100 && status < 200 && status != 101; }

// A request body up to this size is kept while the first try is in flight,
// so that a retry can send it again; a longer one makes the request
// unretryable once its body started.
constexpr size_t kMaxReplayBody = 64 * 1024;
constexpr uint32_t kDefaultRetries = 2;  // 3 tries, as ingress-nginx's proxy-next-upstream-tries
constexpr uint32_t kDefaultBudgetPercent = 20;
constexpr uint32_t kDefaultBudgetMinPerSecond = 3;

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

int64_t SteadyNs(net::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The upstream read and write buffers of finished exchanges, kept per worker
// thread for the next ones: a 16 KiB read buffer and a 4 KiB write buffer
// per request through malloc cost ~1.2k instructions (chunks that large miss
// glibc's thread cache and make it consolidate its fastbins). Bounded in
// count and in the size of each buffer kept.
constexpr size_t kMaxSpareBuffers = 64;
constexpr size_t kMaxSpareBufferBytes = 32 * 1024;

struct SpareBuffers {
  std::vector<net::Buffer> read;  // read buffers grow in kReadChunk steps: each has room for one
  std::vector<net::Buffer> write;
};
thread_local SpareBuffers spare_buffers;

// Leaves `buffer` empty without memory; keeps its memory when it is empty.
void RecycleBuffer(net::Buffer& buffer, std::vector<net::Buffer>& spares) {
  // An empty buffer's room is its whole capacity (Consume rewinds it).
  if (buffer.empty() && buffer.writable() > 0 && buffer.writable() <= kMaxSpareBufferBytes &&
      spares.size() < kMaxSpareBuffers) {
    spares.push_back(std::move(buffer));
  }
  buffer = net::Buffer();  // also resets a moved-from buffer's sizes
}

// A spare buffer into `buffer` (which must have no memory), when one is kept.
void TakeSpareBuffer(net::Buffer& buffer, std::vector<net::Buffer>& spares) {
  if (spares.empty()) return;
  buffer = std::move(spares.back());
  spares.pop_back();
}

}  // namespace

void* Exchange::operator new(size_t size) { return SpareBlocks<Exchange>::Take(size); }
void Exchange::operator delete(void* block, size_t size) noexcept { SpareBlocks<Exchange>::Give(block, size); }

Exchange::Exchange(WorkerContext* ctx, DownstreamStream* downstream, http::RequestHead&& head,
                   http1::BodyFraming request_framing)
    : ctx_(ctx),
      downstream_(downstream),
      request_(std::move(head)),
      request_framing_(request_framing),
      response_parser_(ctx->config->head_limits),
      start_wall_(std::chrono::system_clock::now()),
      start_(net::Clock::now()) {
  request_complete_ = request_framing_.kind == http1::BodyFraming::kNone ||
                      (request_framing_.kind == http1::BodyFraming::kContentLength && request_framing_.length == 0);
}

Exchange::~Exchange() {
  EndBalancerTry(true);  // the client went away: not the endpoint's failure
  LogAccess();  // an exchange cut short (client gone) is logged too
  ctx_->deadlines.Unwatch(this);
  if (upstream_) ctx_->pool.Discard(std::move(upstream_));
  upstream_in_.Consume(upstream_in_.size());
  upstream_out_.Consume(upstream_out_.size());
  RecycleBuffer(upstream_in_, spare_buffers.read);
  RecycleBuffer(upstream_out_, spare_buffers.write);
}

std::chrono::milliseconds Exchange::PolicyTimeout(uint32_t route_ms, std::chrono::milliseconds fallback) const {
  return route_ms != 0 ? std::chrono::milliseconds(route_ms) : fallback;
}

void Exchange::Start() {
  ctx_->stats.Count(ctx_->stats.requests);
  snapshot_ = ctx_->snapshot;
  if (snapshot_ == nullptr) {
    error_ = "no configuration yet";
    return Respond(503, "no configuration yet\n");
  }
  route_ = snapshot_->Match(request_.authority, request_.path);
  if (route_ == nullptr) {
    error_ = "no route";
    return Respond(404, "not found\n");
  }
  // Before anything else about the request: a plain-HTTP request to a host
  // served over TLS only learns where to go (ACME HTTP-01 challenges stay
  // reachable over HTTP, as with ingress-nginx).
  if (route_->policy.redirect_to_https() && !downstream_->client().secure() && !request_.authority.empty() &&
      !request_.path.starts_with("/.well-known/acme-challenge/")) {
    return RedirectToHttps();
  }
  uint64_t max_body = route_->policy.max_request_body_bytes() != 0 ? route_->policy.max_request_body_bytes()
                                                                   : ctx_->config->max_request_body_bytes;
  if (max_body != 0 && request_framing_.kind == http1::BodyFraming::kContentLength &&
      request_framing_.length > max_body) {
    return Respond(413, "request body too large\n");
  }
  balancer::PickContext pick;
  pick.route = route_;  // the route's balancing policy
  pick.request = &request_;
  pick.client_ip = downstream_->client().ip;
  pick.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(ctx_->loop->now().time_since_epoch()).count();
  // Canary rule and traffic split first, then the endpoint in that cluster.
  cluster_ = ctx_->balancer.ChooseCluster(*route_, request_);
  balancer::PickResult picked = ctx_->balancer.Pick(*cluster_, pick);
  endpoint_ = picked.endpoint;
  affinity_cookie_ = std::move(picked.set_cookie);
  if (endpoint_ == nullptr) {
    error_ = "no endpoints";
    return Respond(503, "no healthy upstream\n");
  }
  ctx_->retry_budgets.For(cluster_->name).RecordRequest(pick.now_ns);
  // FilterResponseHeaders would drop them: not stored in the first place.
  response_parser_.set_skip_server_fields(!route_->policy.keep_server_header());
  SerializeRequestHead();
  Connect(/*allow_pooled=*/true);
}

void Exchange::RecordGrpcCall() {
  if (grpc_recorded_) return;
  grpc_recorded_ = true;
  grpc_request_ = IsGrpcRequest(request_.headers);
  grpc_deadline_ = grpc_request_ && request_.headers.Get("grpc-timeout") != nullptr;
}

namespace {

char* Put(char* at, std::string_view s) {
  std::memcpy(at, s.data(), s.size());
  return at + s.size();
}

}  // namespace

void Exchange::SerializeRequestHead() {
  if (UsesHttp2Upstream()) return;  // the HTTP/2 branch sends the parsed head as is
  // Written straight from the parsed request: no intermediate head, no copy
  // of the headers. Values come from our strict parser (no CR, LF or NUL).
  // Two passes: which fields go up and the exact size, then one write with
  // plain copies (appending piece by piece cost ~30 instructions a piece).
  const std::vector<http::Header>& fields = request_.headers.entries();
  std::vector<std::string> named = ConnectionNamedHeaders(request_.headers);
  const std::string* content_type = nullptr;  // the first, as IsGrpcRequest reads it
  bool has_grpc_timeout = false;
  auto forwarded = [&](const http::Header& h) {
    if (IsHopByHopName(h.name)) return false;
    switch (h.name.size()) {  // re-added below from what the proxy knows
      case 4: if (h.name == "host") return false; break;
      case 6: if (h.name == "expect") return false; break;  // the codec answers 100-continue itself
      case 14: if (h.name == "content-length") return false; break;
      case 15: if (h.name == "x-forwarded-for") return false; break;
      case 16: if (h.name == "x-forwarded-host") return false; break;
      case 17: if (h.name == "x-forwarded-proto") return false; break;
    }
    for (const std::string& n : named) {
      if (h.name == n) return false;
    }
    return true;
  };
  const std::string_view path = request_.path.empty() ? std::string_view("/") : std::string_view(request_.path);
  const ClientInfo& client = downstream_->client();
  char length_text[24];
  size_t length_size = 0;
  if (request_framing_.kind == http1::BodyFraming::kContentLength) {
    length_size = static_cast<size_t>(std::to_chars(length_text, length_text + sizeof length_text,
                                                    request_framing_.length).ptr - length_text);
  }
  constexpr std::string_view kUpgrade = "connection: upgrade\r\nupgrade: ";
  constexpr std::string_view kChunked = "transfer-encoding: chunked\r\n";
  size_t size = request_.method.size() + 1 + path.size() + sizeof(" HTTP/1.1\r\n") - 1;
  uint64_t kept = 0;  // bit i: field i goes up (fields past 64 are judged again when written)
  for (size_t i = 0; i < fields.size(); ++i) {
    const http::Header& h = fields[i];
    if (h.name.size() == 12) {
      if (content_type == nullptr && h.name == "content-type") content_type = &h.value;
      if (h.name == "grpc-timeout") has_grpc_timeout = true;
    }
    if (!forwarded(h)) continue;
    if (i < 64) kept |= uint64_t{1} << i;
    size += h.name.size() + h.value.size() + 4;
  }
  // Recorded here, before the fields are freed below (as IsGrpcRequest would).
  if (!grpc_recorded_) {
    grpc_recorded_ = true;
    grpc_request_ = content_type != nullptr && IsGrpcContentType(*content_type);
    grpc_deadline_ = grpc_request_ && has_grpc_timeout;
  }
  size += sizeof("host: \r\n") - 1 + request_.authority.size();
  if (!upgrade_.empty()) size += kUpgrade.size() + upgrade_.size() + 2;
  size += sizeof("x-forwarded-for: \r\nx-forwarded-proto: \r\nx-forwarded-host: \r\n") - 1 + client.ip.size() +
          client.scheme.size() + request_.authority.size();
  if (length_size != 0) size += sizeof("content-length: \r\n") - 1 + length_size;
  if (request_framing_.kind == http1::BodyFraming::kChunked) size += kChunked.size();
  size += 2;

  std::string& out = upstream_head_;
  out.resize(size);
  char* p = out.data();
  p = Put(p, request_.method);
  *p++ = ' ';
  p = Put(p, path);
  p = Put(p, " HTTP/1.1\r\n");
  for (size_t i = 0; i < fields.size(); ++i) {
    const http::Header& h = fields[i];
    if (i < 64 ? (kept >> i & 1) == 0 : !forwarded(h)) continue;
    p = Put(p, h.name);
    p = Put(p, ": ");
    p = Put(p, h.value);
    p = Put(p, "\r\n");
  }
  p = Put(p, "host: ");
  p = Put(p, request_.authority);
  p = Put(p, "\r\n");
  if (!upgrade_.empty()) {  // hop-by-hop, but this hop asks for it on the next one too
    p = Put(p, kUpgrade);
    p = Put(p, upgrade_);
    p = Put(p, "\r\n");
  }
  // Client-supplied forwarding headers are not trusted: an edge proxy states
  // what it saw, so a client cannot spoof its address to the backend.
  p = Put(p, "x-forwarded-for: ");
  p = Put(p, client.ip);
  p = Put(p, "\r\nx-forwarded-proto: ");
  p = Put(p, client.scheme);
  p = Put(p, "\r\nx-forwarded-host: ");
  p = Put(p, request_.authority);
  p = Put(p, "\r\n");
  if (length_size != 0) {
    p = Put(p, "content-length: ");
    p = Put(p, std::string_view(length_text, length_size));
    p = Put(p, "\r\n");
  } else if (request_framing_.kind == http1::BodyFraming::kChunked) {
    p = Put(p, kChunked);
  }
  p = Put(p, "\r\n");
  assert(static_cast<size_t>(p - out.data()) == size);
  request_.headers.clear();  // not needed any more; frees their memory early
}

void Exchange::Connect(bool allow_pooled) {
  ++attempts_;
  upstream_end_signalled_ = false;  // that was the previous try's socket
  if (tried_.empty() || tried_.back() != endpoint_) tried_.push_back(endpoint_);
  outcome_reported_ = false;
  upstream_start_ = ctx_->loop->now();
  BeginBalancerTry();
  if (UsesHttp2Upstream()) return ConnectHttp2(allow_pooled);
  upstream_out_.Consume(upstream_out_.size());  // a new try sends everything again
  if (upstream_out_.writable() < upstream_head_.size()) TakeSpareBuffer(upstream_out_, spare_buffers.write);
  upstream_out_.Append(upstream_head_);
  if (!replay_body_.empty()) upstream_out_.Append(replay_body_);  // a retry: the body so far, again
  upstream_ = allow_pooled ? ctx_->pool.TakeIdle(endpoint_->pool_key) : nullptr;
  if (upstream_ != nullptr) {
    ctx_->stats.Count(ctx_->stats.upstream_reuses);
    reused_connection_ = true;
    connecting_ = false;
    upstream_->set_owner(this);
    ArmTimer(ResponseWaitTimeout());
    WriteUpstream();
    return;
  }
  reused_connection_ = false;
  auto connected = net::ConnectNonBlocking(endpoint_->address);
  if (!connected.ok()) return UpstreamFailed(Failure::kConnect, connected.status().message().c_str());
  ctx_->stats.Count(ctx_->stats.upstream_connects);
  std::unique_ptr<tls::TlsTransport> tls;
  if (endpoint_->upstream_tls != nullptr) {
    tls = endpoint_->upstream_tls->NewTransport(*connected, endpoint_->key);
    if (tls == nullptr) {
      close(*connected);
      return UpstreamFailed(Failure::kConnect, "cannot start upstream TLS");
    }
  }
  upstream_ = std::make_unique<upstream::UpstreamConnection>(ctx_->loop, *connected, endpoint_->pool_key, std::move(tls));
  tcp_connected_ = false;
  upstream_->set_owner(this);
  connecting_ = true;
  connect_pending_timeout_ = true;
  ArmTimer(PolicyTimeout(route_->policy.connect_timeout_ms(), ctx_->config->connect_timeout));
}

void Exchange::OnRequestBody(std::string_view data) {
  if (done_ || data.empty()) return;
  request_body_started_ = true;
  request_body_bytes_ += data.size();
  uint64_t max_body = route_->policy.max_request_body_bytes() != 0 ? route_->policy.max_request_body_bytes()
                                                                   : ctx_->config->max_request_body_bytes;
  if (max_body != 0 && request_body_bytes_ > max_body) {
    if (!response_started_) return Respond(413, "request body too large\n");
    return UpstreamFailed(Failure::kReset, "request body too large");
  }
  if (UsesHttp2Upstream()) body_replayable_ = false;  // no copy kept to replay: no retry once the body started
  if (h2_ != nullptr) return Http2RequestBody(data);
  if (request_framing_.kind == http1::BodyFraming::kChunked) {
    std::string chunk;
    http1::AppendChunk(data, chunk);
    upstream_out_.Append(chunk);
    KeepForReplay(chunk);
  } else {
    upstream_out_.Append(data);
    KeepForReplay(data);
  }
  if (!connecting_) WriteUpstream();
}

void Exchange::OnRequestEnd(const http::HeaderMap* trailers) {
  if (done_) return;
  if (trailers != nullptr) {
    // Fields that frame, route or belong to one hop never come from a trailer.
    for (const http::Header& h : trailers->entries()) {
      if (IsHopByHopName(h.name) || h.name == "content-length" || h.name == "host" || h.name == "trailer") continue;
      request_trailers_.Add(h.name, h.value);
    }
  }
  if (h2_ != nullptr) return Http2RequestEnd();
  if (request_framing_.kind == http1::BodyFraming::kChunked) {
    std::string last;
    http1::AppendLastChunk(request_trailers_.empty() ? nullptr : &request_trailers_, last);
    upstream_out_.Append(last);
    KeepForReplay(last);
  }
  request_complete_ = true;
  if (!connecting_) WriteUpstream();
}

bool Exchange::RequestBodyFull() const {
  if (h2_ != nullptr) return Http2RequestBodyFull();
  return upstream_out_.size() >= ctx_->config->high_watermark;
}

void Exchange::OnDownstreamWritable() {
  if (done_ || !reading_paused_) return;
  reading_paused_ = false;
  if (h2_ != nullptr) return Http2ResumeResponse();
  ReadUpstream();
}

void Exchange::OnDownstreamClosed() {
  if (done_) return;
  done_ = true;
  ReleaseUpstream(false);
}

void Exchange::OnIoEvents(uint32_t events) {
  if (done_ || upstream_ == nullptr) return;
  if (connecting_) {
    if (!tcp_connected_) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = net::PendingSocketError(upstream_fd());
      if (err != 0) return UpstreamFailed(Failure::kConnect, strerror(err));
      tcp_connected_ = true;
    }
    // Re-encryption: the handshake is part of connecting (same timeout).
    switch (upstream_->ContinueHandshake()) {
      case upstream::UpstreamConnection::Handshake::kPending:
        return;
      case upstream::UpstreamConnection::Handshake::kFailed:
        upstream_tls_error_ = "upstream TLS handshake failed: " + upstream_->handshake_error();
        return UpstreamFailed(Failure::kConnect, upstream_tls_error_.c_str());
      case upstream::UpstreamConnection::Handshake::kDone:
        break;
    }
    events |= EPOLLOUT;  // the request waits to be written; the last handshake event may have been a read
    connecting_ = false;
    connect_pending_timeout_ = false;
    ArmTimer(ResponseWaitTimeout());
  }
  int attempt = attempts_;
  if (events & EPOLLOUT) WriteUpstream();
  if (done_ || attempts_ != attempt) return;  // these events were for the previous try's socket
  // The peer's FIN (or an error) came with these events: a short read no
  // longer means "drained", since no further edge will report the EOF.
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) upstream_end_signalled_ = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ReadUpstream();
}

void Exchange::WriteUpstream() {
  while (!upstream_out_.empty()) {
    std::string_view pending = upstream_out_.view();
    ssize_t n = upstream_->transport().Write(pending.data(), pending.size());
    if (n > 0) {
      upstream_out_.Consume(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0 && errno == EINTR) continue;
    // The upstream closed early. If it already answered, the read side will
    // find the response; otherwise this is a failure.
    int error = errno;
    int attempt = attempts_;
    upstream_out_ = net::Buffer();
    ReadUpstream();
    // (Unless that already ended this try: a retry may be under way.)
    if (!done_ && !response_head_received_ && attempts_ == attempt) UpstreamFailed(Failure::kReset, strerror(error));
    return;
  }
  RecycleBuffer(upstream_out_, spare_buffers.write);  // idle keep-alive exchanges (long polls) hold none
  if (tunnel_) {
    if (client_eof_ && !upstream_shut_) {
      upstream_->transport().ShutdownWrite();
      upstream_shut_ = true;
    }
    if (upstream_out_.size() < ctx_->config->low_watermark) downstream_->ResumeRequestBody();
    return;
  }
  if (!request_complete_ && upstream_out_.size() < ctx_->config->low_watermark) downstream_->ResumeRequestBody();
}

void Exchange::ReadUpstream() {
  // Edge-triggered: keep going until the socket says EAGAIN (or EOF), unless
  // the client cannot take more, in which case OnDownstreamWritable resumes.
  // A retry (a new try on a new socket) ends this loop: its own events drive it.
  int attempt = attempts_;
  while (!done_ && !reading_paused_ && attempts_ == attempt) {
    bool drained = upstream_eof_;
    while (!drained && upstream_in_.size() < kReadChunk * 4) {
      if (upstream_in_.writable() < kMinReadRoom) {
        if (upstream_in_.writable() == 0 && upstream_in_.empty()) TakeSpareBuffer(upstream_in_, spare_buffers.read);
        if (upstream_in_.writable() < kMinReadRoom) upstream_in_.Reserve(kReadChunk);
      }
      size_t room = upstream_in_.writable();
      ssize_t n = upstream_->transport().Read(upstream_in_.write_ptr(), room);
      if (n > 0) {
        upstream_in_.Commit(static_cast<size_t>(n));
        // A short read drained the socket; edge-triggered epoll reports more.
        if (static_cast<size_t>(n) < room) {
          drained = !upstream_end_signalled_ && upstream_->transport().drained_after_short_read();
        }
      } else if (n == 0) {
        upstream_eof_ = drained = true;
      } else if (errno == EAGAIN) {
        drained = true;
      } else if (errno != EINTR) {
        if (response_started_) return UpstreamFailed(Failure::kReset, strerror(errno));
        upstream_eof_ = drained = true;  // a reset before the response: the head parser decides
      }
    }
    deadline_ = ctx_->loop->now() +
                (response_head_received_
                     ? PolicyTimeout(route_->policy.idle_timeout_ms(), ctx_->config->upstream_idle_timeout)
                     : ResponseWaitTimeout());
    size_t before = upstream_in_.size();
    ProcessUpstreamInput();
    if (drained) return;
    if (!done_ && upstream_in_.size() == before && before >= kReadChunk * 4) return;  // no progress: wait
  }
}

void Exchange::ProcessUpstreamInput() {
  if (tunnel_) return RelayTunnel();
  while (!done_ && !response_head_received_) {
    if (!HandleResponseHead()) return;
  }
  if (tunnel_) return RelayTunnel();
  while (!done_ && response_decoder_.has_value()) {
    std::string_view input = upstream_in_.view();
    http1::BodyDecoder::Step step = response_decoder_->Next(input);
    upstream_in_.Consume(step.consumed);
    if (step.kind == http1::BodyDecoder::Step::kData) {
      downstream_->SendResponseBody(step.data);
      continue;
    }
    if (step.kind == http1::BodyDecoder::Step::kDone) return CompleteResponse();
    if (step.kind == http1::BodyDecoder::Step::kError) return UpstreamFailed(Failure::kBadResponse, step.error.c_str());
    // kNeedMore
    if (upstream_eof_) {
      if (upstream_in_.empty() || step.consumed == 0) {
        response_decoder_->FinishAtEof();
        http1::BodyDecoder::Step last = response_decoder_->Next({});
        if (last.kind == http1::BodyDecoder::Step::kDone) return CompleteResponse();
        return UpstreamFailed(Failure::kReset, "upstream closed mid-body");
      }
      continue;
    }
    if (step.consumed == 0) break;
  }
  if (done_) return;
  downstream_->Flush();
  if (downstream_->OutputFull()) reading_paused_ = true;
}

// Returns true when a head (interim or final) was consumed.
bool Exchange::HandleResponseHead() {
  std::string_view input = upstream_in_.view();
  http::ResponseHead head;
  http1::HeadParse parsed = response_parser_.Parse(input, &head);
  if (parsed.state == http1::ParseState::kIncomplete) {
    if (upstream_eof_) UpstreamFailed(input.empty() ? Failure::kReset : Failure::kBadResponse, "upstream closed before a response");
    return false;
  }
  if (parsed.state == http1::ParseState::kError) {
    UpstreamFailed(Failure::kBadResponse, parsed.error.c_str());
    return false;
  }
  upstream_in_.Consume(parsed.consumed);
  if (IsInterim(head.status)) return true;  // 100/102/103: the codec sends its own 100-continue
  ReportOutcome(head.status < 500);
  balancer_try_head_at_ = ctx_->loop->now();
  balancer_try_success_ = head.status < 500;
  if (head.status == 101) {
    if (upgrade_.empty()) {
      UpstreamFailed(Failure::kBadResponse, "101 Switching Protocols without an Upgrade request");
      return false;
    }
    return StartTunnel(std::move(head));
  }
  http1::BodyFraming framing;
  Status framed = http1::ResponseBodyFraming(head, request_.method, &framing);
  if (!framed.ok()) {
    UpstreamFailed(Failure::kBadResponse, framed.message().c_str());
    return false;
  }
  if (head.status == 502 || head.status == 503 || head.status == 504) {
    // Nothing went to the client yet: another endpoint may do better.
    auto condition = head.status == 502   ? v1::RetryPolicy::STATUS_502
                     : head.status == 503 ? v1::RetryPolicy::STATUS_503
                                          : v1::RetryPolicy::STATUS_504;
    if (Retry(condition, "upstream answered 5xx")) return false;
  }
  response_head_received_ = true;
  const std::string* connection = head.headers.Get("connection");
  upstream_wants_close_ = (connection != nullptr && HasConnectionToken(*connection, "close")) ||
                          (head.version_minor == 0 && (connection == nullptr || !HasConnectionToken(*connection, "keep-alive")));
  // One pass over the response headers: hop-by-hop ones, the backend's
  // Server/X-Powered-By (unless the route keeps them), and Content-Length
  // when the body is re-framed or had duplicates (folded to one below).
  bool reset_length = framing.kind != http1::BodyFraming::kNone &&
                      (framing.kind != http1::BodyFraming::kContentLength || head.headers.Count("content-length") != 1);
  FilterResponseHeaders(head.headers, !route_->policy.keep_server_header(), reset_length);
  AddHsts(head.headers);
  if (!affinity_cookie_.empty()) head.headers.Add("set-cookie", affinity_cookie_);
  if (reset_length && framing.kind == http1::BodyFraming::kContentLength) {
    head.headers.Add("content-length", std::to_string(framing.length));
  }
  bool end_stream = framing.kind == http1::BodyFraming::kNone ||
                    (framing.kind == http1::BodyFraming::kContentLength && framing.length == 0);
  response_started_ = true;
  int status = head.status;
  status_ = status;
  downstream_->SendResponseHead(std::move(head), end_stream);
  ctx_->stats.Count(ctx_->stats.responses_by_class[status / 100 <= 5 ? status / 100 : 0]);
  if (end_stream) {
    CompleteResponse();
    return true;
  }
  response_decoder_.emplace(framing);
  ArmTimer(PolicyTimeout(route_->policy.idle_timeout_ms(), ctx_->config->upstream_idle_timeout));
  return true;
}

bool Exchange::StartTunnel(http::ResponseHead head) {
  const std::string* upgrade = head.headers.Get("upgrade");
  std::string protocol = upgrade != nullptr ? *upgrade : upgrade_;
  FilterResponseHeaders(head.headers, !route_->policy.keep_server_header(), /*drop_content_length=*/false);
  if (!affinity_cookie_.empty()) head.headers.Add("set-cookie", affinity_cookie_);
  head.headers.Add("connection", "upgrade");
  head.headers.Add("upgrade", protocol);
  response_head_received_ = true;
  response_started_ = true;
  tunnel_ = true;
  status_ = 101;
  ctx_->stats.Count(ctx_->stats.responses_by_class[1]);
  downstream_->SendResponseHead(std::move(head), /*end_stream=*/false);
  ArmTimer(PolicyTimeout(route_->policy.idle_timeout_ms(), ctx_->config->upstream_idle_timeout));
  downstream_->StartTunnel();
  return true;
}

void Exchange::RelayTunnel() {
  if (!upstream_in_.empty()) {
    downstream_->SendResponseBody(upstream_in_.view());
    upstream_in_.Consume(upstream_in_.size());
  }
  if (upstream_eof_) {
    // The upstream is done sending: deliver what we have, then close the
    // client connection (the session closes after this exchange).
    ReleaseUpstream(false);
    return Finish();
  }
  downstream_->Flush();
  if (!done_ && downstream_->OutputFull()) reading_paused_ = true;
}

void Exchange::OnTunnelData(std::string_view data) {
  if (done_ || !tunnel_ || data.empty()) return;
  deadline_ = ctx_->loop->now() + PolicyTimeout(route_->policy.idle_timeout_ms(), ctx_->config->upstream_idle_timeout);
  upstream_out_.Append(data);
  WriteUpstream();
}

void Exchange::OnTunnelClientEof() {
  if (done_ || !tunnel_) return;
  client_eof_ = true;
  if (upstream_out_.empty() && !upstream_shut_ && upstream_ != nullptr) {
    upstream_->transport().ShutdownWrite();  // pass the half-close on
    upstream_shut_ = true;
  }
}

std::chrono::milliseconds Exchange::ClientBodyTimeout() const {
  uint32_t route_ms = route_ != nullptr ? route_->policy.client_body_timeout_ms() : 0;
  return PolicyTimeout(route_ms, ctx_->config->client_body_timeout);
}

void Exchange::CompleteResponse() {
  bool reusable = !upstream_eof_ && !upstream_wants_close_ && request_complete_ && upstream_out_.empty() &&
                  upstream_in_.empty();
  const http::HeaderMap* trailers = response_decoder_.has_value() ? &response_decoder_->trailers() : nullptr;
  downstream_->SendResponseEnd(trailers && !trailers->empty() ? trailers : nullptr);
  ReleaseUpstream(reusable);
  Finish();
}

void Exchange::ReleaseUpstream(bool reusable) {
  ctx_->deadlines.Unwatch(this);
  if (h2_ != nullptr) Http2Release();
  if (upstream_ == nullptr) return;
  if (reusable && !ctx_->draining) {
    ctx_->pool.Release(std::move(upstream_));
  } else {
    ctx_->pool.Discard(std::move(upstream_));
  }
}

void Exchange::UpstreamFailed(Failure failure, const char* detail) {
  if (done_) return;
  ctx_->stats.Count(ctx_->stats.upstream_failures);
  bool nothing_received = !response_head_received_ && upstream_in_.empty();
  ReleaseUpstream(false);
  // A pooled connection the server closed while we picked it: replay once on
  // a fresh connection when no body byte was consumed from the client.
  if (reused_connection_ && nothing_received && !request_body_started_ && failure == Failure::kReset && attempts_ < 2) {
    upstream_eof_ = false;
    upstream_in_ = net::Buffer();
    response_parser_.Reset();
    return Connect(/*allow_pooled=*/false);
  }
  ReportOutcome(false);
  EndBalancerTry(false);
  if (!response_started_) {
    auto condition = failure == Failure::kConnect || (failure == Failure::kTimeout && connect_pending_timeout_)
                         ? v1::RetryPolicy::CONNECT_FAILURE
                     : failure == Failure::kTimeout ? v1::RetryPolicy::TIMEOUT
                                                    : v1::RetryPolicy::RESET;
    if (Retry(condition, detail)) return;
  }
  if (response_started_) {
    ctx_->stats.Count(ctx_->stats.responses_by_class[0]);
    error_ = detail;
    done_ = true;
    downstream_->AbortResponse();
    downstream_->OnExchangeDone();
    return;
  }
  error_ = detail;
  if (failure == Failure::kTimeout) return Respond(504, "upstream timed out\n");
  if (failure == Failure::kConnect) return Respond(502, "upstream unavailable\n");
  Respond(502, "bad gateway\n");
}

bool Exchange::RetrySafe(v1::RetryPolicy::Condition condition) const {
  // The body so far must still be at hand to send it again.
  if (request_body_started_ && !body_replayable_) return false;
  // Nothing reached the upstream: safe for any method.
  if (condition == v1::RetryPolicy::CONNECT_FAILURE) return true;
  // The upstream may have acted on it: only when doing it twice is harmless,
  // or the whole request was buffered before it failed.
  return IsIdempotent(request_.method) || request_complete_;
}

bool Exchange::Retry(v1::RetryPolicy::Condition condition, const char* detail) {
  if (done_ || response_started_ || route_ == nullptr || cluster_ == nullptr || endpoint_ == nullptr) return false;
  const v1::RetryPolicy& policy = route_->policy.retry();
  if (!RetryEnabledFor(policy, condition) || !RetrySafe(condition)) return false;
  uint32_t max_retries = policy.has_retries() ? policy.retries() : kDefaultRetries;
  if (static_cast<uint32_t>(retries_) >= max_retries) return false;
  net::Clock::time_point now = ctx_->loop->now();
  if (policy.total_timeout_ms() != 0 && now - start_ >= std::chrono::milliseconds(policy.total_timeout_ms())) {
    return false;
  }
  balancer::PickContext pick;
  pick.route = route_;  // the route's balancing policy
  pick.request = &request_;
  pick.client_ip = downstream_->client().ip;
  pick.tried = tried_;
  pick.now_ns = SteadyNs(now);
  balancer::PickResult picked = ctx_->balancer.Pick(*cluster_, pick);
  const snapshot::CompiledEndpoint* next = picked.endpoint;
  // A different endpoint per try; none left means the answer we have stands.
  if (next == nullptr || std::find(tried_.begin(), tried_.end(), next) != tried_.end()) return false;
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
  error_ = detail;  // what made it retry, should the last try fail too
  ReleaseUpstream(false);
  // A fresh try: nothing of the previous one's response is kept.
  upstream_eof_ = false;
  upstream_in_ = net::Buffer();
  response_parser_.Reset();
  response_decoder_.reset();
  upstream_wants_close_ = false;
  reading_paused_ = false;
  connect_pending_timeout_ = false;
  endpoint_ = next;
  if (!picked.set_cookie.empty()) affinity_cookie_ = std::move(picked.set_cookie);  // pin the endpoint that serves
  Connect(/*allow_pooled=*/true);
  return true;
}

void Exchange::KeepForReplay(std::string_view bytes) {
  if (!body_replayable_) return;
  if (replay_body_.size() + bytes.size() > kMaxReplayBody || route_->policy.retry().disabled()) {
    body_replayable_ = false;
    std::string().swap(replay_body_);
    return;
  }
  replay_body_.append(bytes);
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

std::chrono::milliseconds Exchange::ResponseWaitTimeout() const {
  auto response = PolicyTimeout(route_->policy.response_timeout_ms(), ctx_->config->response_timeout);
  uint32_t per_try_ms = route_->policy.retry().per_try_timeout_ms();
  if (per_try_ms != 0 && std::chrono::milliseconds(per_try_ms) < response) return std::chrono::milliseconds(per_try_ms);
  return response;
}

void Exchange::Respond(int status, std::string_view body) {
  ReleaseUpstream(false);
  status_ = status;  // the access log keeps the HTTP status the proxy meant, also for gRPC
  response_started_ = true;
  ctx_->stats.Count(ctx_->stats.responses_by_class[status / 100]);
  RecordGrpcCall();
  if (grpc_request_) {
    // Trailers-Only: one HEADERS frame that ends the stream.
    http::ResponseHead grpc = GrpcErrorHead(GrpcStatusForHttp(status, grpc_deadline_), body);
    if (request_.version_major < 2) grpc.headers.Add("content-length", "0");  // HTTP/1.1 needs framing
    downstream_->SendResponseHead(std::move(grpc), /*end_stream=*/true);
    downstream_->SendResponseEnd(nullptr);
    return Finish();
  }
  http::ResponseHead head;
  head.status = status;
  head.headers.Add("content-type", "text/plain; charset=utf-8");
  head.headers.Add("content-length", std::to_string(body.size()));
  head.headers.Add("cache-control", "no-store");
  downstream_->SendResponseHead(std::move(head), body.empty());
  if (!body.empty()) downstream_->SendResponseBody(body);
  downstream_->SendResponseEnd(nullptr);
  Finish();
}

void Exchange::RedirectToHttps() {
  std::string location = "https://";
  location += snapshot::NormalizeHost(request_.authority);
  if (ctx_->config->https_redirect_port != 443) {
    location += ':';
    location += std::to_string(ctx_->config->https_redirect_port);
  }
  location += request_.path.empty() ? std::string_view("/") : std::string_view(request_.path);
  status_ = 308;
  error_ = "redirect to https";
  http::ResponseHead head;
  head.status = 308;
  head.headers.Add("location", std::move(location));
  head.headers.Add("content-length", "0");
  response_started_ = true;
  ctx_->stats.Count(ctx_->stats.responses_by_class[3]);
  downstream_->SendResponseHead(std::move(head), /*end_stream=*/true);
  downstream_->SendResponseEnd(nullptr);
  Finish();
}

void Exchange::AddHsts(http::HeaderMap& headers) const {
  const v1::HstsPolicy& hsts = route_->policy.hsts();
  if (hsts.max_age_seconds() == 0 || !downstream_->client().secure()) return;
  std::string value = "max-age=" + std::to_string(hsts.max_age_seconds());
  if (hsts.include_subdomains()) value += "; includeSubDomains";
  if (hsts.preload()) value += "; preload";
  headers.Add("strict-transport-security", std::move(value));
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

void Exchange::Finish() {
  EndBalancerTry(true);
  done_ = true;
  LogAccess();
  downstream_->Flush();
  downstream_->OnExchangeDone();
}

void Exchange::LogAccess() {
  if (logged_ || ctx_->access_log == nullptr) return;
  logged_ = true;
  auto now = net::Clock::now();
  accesslog::Entry entry;
  entry.start = start_wall_;
  entry.client_address = downstream_->client().ip;
  entry.method = request_.method;
  entry.host = request_.authority;
  entry.path = request_.path;
  entry.status = status_;
  entry.bytes_in = request_body_bytes_;
  entry.bytes_out = downstream_->response_bytes();
  std::string upstreams;  // every endpoint tried, as nginx's $upstream_addr: "a, b"
  if (endpoint_ != nullptr && upstream_start_ != net::Clock::time_point{}) {
    entry.upstream_address = endpoint_->key;
    if (tried_.size() > 1) {
      for (const snapshot::CompiledEndpoint* tried : tried_) {
        if (!upstreams.empty()) upstreams += ", ";
        upstreams += tried->key;
      }
      entry.upstream_address = upstreams;
    }
    entry.upstream_attempts = attempts_;
    entry.upstream_seconds = std::chrono::duration<double>(now - upstream_start_).count();
  }
  entry.total_seconds = std::chrono::duration<double>(now - start_).count();
  if (snapshot_ != nullptr) entry.snapshot_version = snapshot_->version();
  if (route_ != nullptr) entry.route_origin = route_->origin;
  entry.error = error_;
  ctx_->access_log->Log(entry);
}

void Exchange::ArmTimer(std::chrono::milliseconds timeout) {
  // Lazy timer: moving the deadline later costs nothing (the timer re-arms
  // itself when it fires early); only an earlier deadline re-schedules it.
  deadline_ = ctx_->loop->now() + timeout;
  if (watched() && deadline_ >= timer_due_) return;
  timer_due_ = deadline_;
  ctx_->deadlines.Watch(this, deadline_);
}

void Exchange::OnTimer() {
  if (done_) return;
  auto now = net::Clock::now();
  if (now < deadline_) {
    timer_due_ = deadline_;
    ctx_->deadlines.Watch(this, deadline_);
    return;
  }
  if (reading_paused_) {  // the client is slow, not the upstream: wait for it
    deadline_ = now + ctx_->config->upstream_idle_timeout;
    return OnTimer();
  }
  const char* which = connect_pending_timeout_ ? "upstream connect timeout"
                      : tunnel_                 ? "tunnel idle timeout"
                      : response_head_received_ ? "upstream idle timeout"
                                                : "upstream response timeout";
  UpstreamFailed(Failure::kTimeout, which);
}

}  // namespace sluice::proxy
