#include "dataplane/proxy/exchange.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/proxy/hop_by_hop.h"

namespace sluice::proxy {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMinReadRoom = 2048;

bool IsInterim(int status) { return status >= 100 && status < 200 && status != 101; }

}  // namespace

Exchange::Exchange(WorkerContext* ctx, DownstreamStream* downstream, http::RequestHead head,
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
  LogAccess();  // an exchange cut short (client gone) is logged too
  if (timer_ != 0) ctx_->loop->CancelTimer(timer_);
  if (upstream_) ctx_->pool.Discard(std::move(upstream_));
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
  uint64_t max_body = route_->policy.max_request_body_bytes() != 0 ? route_->policy.max_request_body_bytes()
                                                                   : ctx_->config->max_request_body_bytes;
  if (max_body != 0 && request_framing_.kind == http1::BodyFraming::kContentLength &&
      request_framing_.length > max_body) {
    return Respond(413, "request body too large\n");
  }
  balancer::PickContext pick;
  pick.request = &request_;
  pick.client_ip = downstream_->client().ip;
  pick.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(ctx_->loop->now().time_since_epoch()).count();
  endpoint_ = ctx_->balancer.Pick(*route_->cluster, pick).endpoint;
  if (endpoint_ == nullptr) {
    error_ = "no endpoints";
    return Respond(503, "no healthy upstream\n");
  }
  SerializeRequestHead();
  Connect(/*allow_pooled=*/true);
}

void Exchange::SerializeRequestHead() {
  // Written straight from the parsed request: no intermediate head, no copy
  // of the headers. Values come from our strict parser (no CR, LF or NUL).
  std::string& out = upstream_head_;
  out.clear();
  size_t estimate = request_.method.size() + request_.path.size() + 2 * request_.authority.size() + 160;
  for (const http::Header& h : request_.headers.entries()) estimate += h.name.size() + h.value.size() + 4;
  out.reserve(estimate);
  out += request_.method;
  out += ' ';
  out += request_.path.empty() ? std::string_view("/") : std::string_view(request_.path);
  out += " HTTP/1.1\r\n";
  std::vector<std::string> named = ConnectionNamedHeaders(request_.headers);
  for (const http::Header& h : request_.headers.entries()) {
    if (IsHopByHopName(h.name)) continue;
    switch (h.name.size()) {  // re-added below from what the proxy knows
      case 4: if (h.name == "host") continue; break;
      case 6: if (h.name == "expect") continue; break;  // the codec answers 100-continue itself
      case 14: if (h.name == "content-length") continue; break;
      case 15: if (h.name == "x-forwarded-for") continue; break;
      case 16: if (h.name == "x-forwarded-host") continue; break;
      case 17: if (h.name == "x-forwarded-proto") continue; break;
    }
    bool connection_named = false;
    for (const std::string& n : named) connection_named = connection_named || h.name == n;
    if (connection_named) continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  out += "host: ";
  out += request_.authority;
  out += "\r\n";
  if (!upgrade_.empty()) {  // hop-by-hop, but this hop asks for it on the next one too
    out += "connection: upgrade\r\nupgrade: ";
    out += upgrade_;
    out += "\r\n";
  }
  // Client-supplied forwarding headers are not trusted: an edge proxy states
  // what it saw, so a client cannot spoof its address to the backend.
  out += "x-forwarded-for: ";
  out += downstream_->client().ip;
  out += "\r\nx-forwarded-proto: ";
  out += downstream_->client().scheme;
  out += "\r\nx-forwarded-host: ";
  out += request_.authority;
  out += "\r\n";
  if (request_framing_.kind == http1::BodyFraming::kContentLength) {
    out += "content-length: ";
    out += std::to_string(request_framing_.length);
    out += "\r\n";
  } else if (request_framing_.kind == http1::BodyFraming::kChunked) {
    out += "transfer-encoding: chunked\r\n";
  }
  out += "\r\n";
  request_.headers.clear();  // not needed any more; frees their memory early
}

void Exchange::Connect(bool allow_pooled) {
  ++attempts_;
  upstream_start_ = ctx_->loop->now();
  upstream_out_ = net::Buffer();
  upstream_out_.Append(upstream_head_);
  upstream_ = allow_pooled ? ctx_->pool.TakeIdle(endpoint_->key) : nullptr;
  if (upstream_ != nullptr) {
    ctx_->stats.Count(ctx_->stats.upstream_reuses);
    reused_connection_ = true;
    connecting_ = false;
    upstream_->set_owner(this);
    ArmTimer(PolicyTimeout(route_->policy.response_timeout_ms(), ctx_->config->response_timeout));
    WriteUpstream();
    return;
  }
  reused_connection_ = false;
  auto connected = net::ConnectNonBlocking(endpoint_->address);
  if (!connected.ok()) return UpstreamFailed(Failure::kConnect, connected.status().message().c_str());
  ctx_->stats.Count(ctx_->stats.upstream_connects);
  upstream_ = std::make_unique<upstream::UpstreamConnection>(ctx_->loop, *connected, endpoint_->key);
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
  if (request_framing_.kind == http1::BodyFraming::kChunked) {
    std::string chunk;
    http1::AppendChunk(data, chunk);
    upstream_out_.Append(chunk);
  } else {
    upstream_out_.Append(data);
  }
  if (!connecting_) WriteUpstream();
}

void Exchange::OnRequestEnd() {
  if (done_) return;
  if (request_framing_.kind == http1::BodyFraming::kChunked) {
    std::string last;
    http1::AppendLastChunk(nullptr, last);
    upstream_out_.Append(last);
  }
  request_complete_ = true;
  if (!connecting_) WriteUpstream();
}

bool Exchange::RequestBodyFull() const { return upstream_out_.size() >= ctx_->config->high_watermark; }

void Exchange::OnDownstreamWritable() {
  if (done_ || !reading_paused_) return;
  reading_paused_ = false;
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
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = net::PendingSocketError(upstream_fd());
    if (err != 0) return UpstreamFailed(Failure::kConnect, strerror(err));
    connecting_ = false;
    connect_pending_timeout_ = false;
    ArmTimer(PolicyTimeout(route_->policy.response_timeout_ms(), ctx_->config->response_timeout));
  }
  if (events & EPOLLOUT) WriteUpstream();
  if (done_) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ReadUpstream();
}

void Exchange::WriteUpstream() {
  while (!upstream_out_.empty()) {
    std::string_view pending = upstream_out_.view();
    ssize_t n = send(upstream_fd(), pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n > 0) {
      upstream_out_.Consume(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0 && errno == EINTR) continue;
    // The upstream closed early. If it already answered, the read side will
    // find the response; otherwise this is a failure.
    upstream_out_ = net::Buffer();
    ReadUpstream();
    if (!done_ && !response_head_received_) UpstreamFailed(Failure::kReset, strerror(errno));
    return;
  }
  upstream_out_.ShrinkIfEmpty();
  if (tunnel_) {
    if (client_eof_ && !upstream_shut_) {
      shutdown(upstream_fd(), SHUT_WR);
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
  while (!done_ && !reading_paused_) {
    bool drained = upstream_eof_;
    while (!drained && upstream_in_.size() < kReadChunk * 4) {
      if (upstream_in_.writable() < kMinReadRoom) upstream_in_.Reserve(kReadChunk);
      size_t room = upstream_in_.writable();
      ssize_t n = recv(upstream_fd(), upstream_in_.write_ptr(), room, 0);
      if (n > 0) {
        upstream_in_.Commit(static_cast<size_t>(n));
        // A short read drained the socket; edge-triggered epoll reports more.
        if (static_cast<size_t>(n) < room) drained = true;
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
                     : PolicyTimeout(route_->policy.response_timeout_ms(), ctx_->config->response_timeout));
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
    shutdown(upstream_fd(), SHUT_WR);  // pass the half-close on
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
  if (timer_ != 0) {
    ctx_->loop->CancelTimer(timer_);
    timer_ = 0;
  }
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

void Exchange::Respond(int status, std::string_view body) {
  ReleaseUpstream(false);
  status_ = status;
  http::ResponseHead head;
  head.status = status;
  head.headers.Add("content-type", "text/plain; charset=utf-8");
  head.headers.Add("content-length", std::to_string(body.size()));
  head.headers.Add("cache-control", "no-store");
  response_started_ = true;
  ctx_->stats.Count(ctx_->stats.responses_by_class[status / 100]);
  downstream_->SendResponseHead(std::move(head), body.empty());
  if (!body.empty()) downstream_->SendResponseBody(body);
  downstream_->SendResponseEnd(nullptr);
  Finish();
}

void Exchange::Finish() {
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
  if (endpoint_ != nullptr && upstream_start_ != net::Clock::time_point{}) {
    entry.upstream_address = endpoint_->key;
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
  if (timer_ != 0 && deadline_ >= timer_due_) return;
  if (timer_ != 0) ctx_->loop->CancelTimer(timer_);
  timer_due_ = deadline_;
  timer_ = ctx_->loop->AddTimer(timeout, [this] { OnTimer(); });
}

void Exchange::OnTimer() {
  timer_ = 0;
  if (done_) return;
  auto now = net::Clock::now();
  if (now < deadline_) {
    timer_due_ = deadline_;
    timer_ = ctx_->loop->AddTimer(std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now) +
                                      std::chrono::milliseconds(1),
                                  [this] { OnTimer(); });
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
