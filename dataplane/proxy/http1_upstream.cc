#include "dataplane/proxy/http1_upstream.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#include "dataplane/net/socket.h"
#include "dataplane/pipeline/hop_by_hop.h"
#include "dataplane/pipeline/stage.h"
#include "dataplane/proxy/spare_blocks.h"
#include "dataplane/tls/tls_transport.h"

namespace sluice::proxy {
namespace {

using pipeline::ErrorCode;

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMinReadRoom = 2048;

bool IsInterim(int status) { return status >= 100 && status < 200 && status != 101; }

// The read and write buffers of finished tries, kept per worker thread for
// the next ones: a 16 KiB read buffer and a 4 KiB write buffer per request
// through malloc cost ~1.2k instructions (chunks that large miss glibc's
// thread cache and make it consolidate its fastbins). Bounded in count and
// in the size of each buffer kept.
constexpr size_t kMaxSpareBuffers = 64;
constexpr size_t kMaxSpareBufferBytes = 32 * 1024;

struct SpareBuffers {
  std::vector<net::Buffer> read;  // read buffers grow in kReadChunk steps: each has room for one
  std::vector<net::Buffer> write;
};
thread_local SpareBuffers spare_buffers;

// Leaves `buffer` empty without memory; keeps its memory when it is empty.
void RecycleBuffer(net::Buffer& buffer, std::vector<net::Buffer>& spares) {
  if (buffer.empty() && buffer.writable() > 0 && buffer.writable() <= kMaxSpareBufferBytes &&
      spares.size() < kMaxSpareBuffers) {
    spares.push_back(std::move(buffer));
  }
  buffer = net::Buffer();
}

void TakeSpareBuffer(net::Buffer& buffer, std::vector<net::Buffer>& spares) {
  if (spares.empty()) return;
  buffer = std::move(spares.back());
  spares.pop_back();
}

char* Put(char* at, std::string_view s) {
  std::memcpy(at, s.data(), s.size());
  return at + s.size();
}

}  // namespace

void* Http1Upstream::operator new(size_t size) { return SpareBlocks<Http1Upstream>::Take(size); }
void Http1Upstream::operator delete(void* block, size_t size) noexcept { SpareBlocks<Http1Upstream>::Give(block, size); }

Http1Upstream::Http1Upstream(WorkerContext* ctx, UpstreamEvents* events, const UpstreamRequest& request)
    : MovingDeadline(&ctx->deadlines), ctx_(ctx), events_(events), request_(request), parser_(ctx->config->head_limits) {
  parser_.set_skip_server_fields((request_.response_field_hints & pipeline::kDropsServerFields) != 0);
  parser_.set_skip_keep_alive((request_.response_field_hints & pipeline::kDropsKeepAliveField) != 0);
  request_complete_ = request_.framing.kind == http1::BodyFraming::kNone ||
                      (request_.framing.kind == http1::BodyFraming::kContentLength && request_.framing.length == 0);
}

Http1Upstream::~Http1Upstream() {
  StopDeadline();
  if (conn_) ctx_->pool.Discard(std::move(conn_));
  in_.Consume(in_.size());
  out_.Consume(out_.size());
  RecycleBuffer(in_, spare_buffers.read);
  RecycleBuffer(out_, spare_buffers.write);
}

void Http1Upstream::Start(const snapshot::CompiledEndpoint& endpoint, bool allow_pooled) {
  endpoint_ = &endpoint;
  SerializeHead();
  conn_ = allow_pooled ? ctx_->pool.TakeIdle(endpoint.pool_key) : nullptr;
  if (conn_ != nullptr) {
    ctx_->stats.Count(ctx_->stats.upstream_reuses);
    reused_ = true;
    conn_->set_owner(this);
    SetDeadline(ctx_->loop->now(), request_.response_timeout);
    return Write();
  }
  auto connected = net::ConnectNonBlocking(endpoint.address);
  if (!connected.ok()) return Fail(ErrorCode::kConnectFailed, connected.status().message());
  ctx_->stats.Count(ctx_->stats.upstream_connects);
  std::unique_ptr<tls::TlsTransport> tls;
  if (endpoint.upstream_tls != nullptr) {
    tls = endpoint.upstream_tls->NewTransport(*connected, endpoint.key);
    if (tls == nullptr) {
      close(*connected);
      return Fail(ErrorCode::kConnectFailed, "cannot start upstream TLS");
    }
  }
  conn_ = std::make_unique<upstream::UpstreamConnection>(ctx_->loop, *connected, endpoint.pool_key, std::move(tls));
  conn_->set_owner(this);
  connecting_ = true;
  connect_timer_ = true;
  SetDeadline(ctx_->loop->now(), request_.connect_timeout);
}

// Written straight from the request: no intermediate head, no copy of the
// fields (the request stages already chose them). Values come from our
// strict parsers (no CR, LF or NUL). Two passes: the exact size, then one
// write with plain copies.
void Http1Upstream::SerializeHead() {
  const pipeline::ExchangeState& state = *request_.state;
  const http::RequestHead& request = state.request;
  const std::vector<http::Header>& fields = request.headers.entries();
  const std::string_view path = request.path.empty() ? std::string_view("/") : std::string_view(request.path);
  char length_text[24];
  size_t length_size = 0;
  if (request_.framing.kind == http1::BodyFraming::kContentLength) {
    length_size = static_cast<size_t>(
        std::to_chars(length_text, length_text + sizeof length_text, request_.framing.length).ptr - length_text);
  }
  constexpr std::string_view kUpgrade = "connection: upgrade\r\nupgrade: ";
  constexpr std::string_view kChunked = "transfer-encoding: chunked\r\n";
  size_t size = request.method.size() + 1 + path.size() + sizeof(" HTTP/1.1\r\n") - 1;
  for (const http::Header& h : fields) size += h.name.size() + h.value.size() + 4;
  for (size_t i = 0; i < state.added_field_count; ++i) {
    size += state.added_fields[i].name.size() + state.added_fields[i].value.size() + 4;
  }
  const std::string_view authority = state.UpstreamAuthority();
  size += sizeof("host: \r\n") - 1 + authority.size();
  if (!request_.upgrade.empty()) size += kUpgrade.size() + request_.upgrade.size() + 2;
  if (length_size != 0) size += sizeof("content-length: \r\n") - 1 + length_size;
  if (request_.framing.kind == http1::BodyFraming::kChunked) size += kChunked.size();
  size += 2;

  if (out_.writable() < size) TakeSpareBuffer(out_, spare_buffers.write);
  out_.Reserve(size);
  char* start = out_.write_ptr();
  char* p = start;
  p = Put(p, request.method);
  *p++ = ' ';
  p = Put(p, path);
  p = Put(p, " HTTP/1.1\r\nhost: ");
  p = Put(p, authority);
  p = Put(p, "\r\n");
  for (const http::Header& h : fields) {
    p = Put(p, h.name);
    p = Put(p, ": ");
    p = Put(p, h.value);
    p = Put(p, "\r\n");
  }
  if (!request_.upgrade.empty()) {  // hop-by-hop, but this hop asks for it on the next one too
    p = Put(p, kUpgrade);
    p = Put(p, request_.upgrade);
    p = Put(p, "\r\n");
  }
  for (size_t i = 0; i < state.added_field_count; ++i) {
    p = Put(p, state.added_fields[i].name);
    p = Put(p, ": ");
    p = Put(p, state.added_fields[i].value);
    p = Put(p, "\r\n");
  }
  if (length_size != 0) {
    p = Put(p, "content-length: ");
    p = Put(p, std::string_view(length_text, length_size));
    p = Put(p, "\r\n");
  } else if (request_.framing.kind == http1::BodyFraming::kChunked) {
    p = Put(p, kChunked);
  }
  p = Put(p, "\r\n");
  assert(static_cast<size_t>(p - start) == size);
  out_.Commit(static_cast<size_t>(p - start));
}

void Http1Upstream::SendBody(std::string_view data) {
  if (finished_ || data.empty()) return;
  if (tunnel_) {
    PushDeadline(ctx_->loop->now(), request_.idle_timeout);
    out_.Append(data);
  } else if (request_.framing.kind == http1::BodyFraming::kChunked) {
    std::string chunk;
    http1::AppendChunk(data, chunk);
    out_.Append(chunk);
  } else {
    out_.Append(data);
  }
  if (!connecting_) Write();
}

void Http1Upstream::SendEnd(const http::HeaderMap* trailers) {
  if (finished_) return;
  if (tunnel_) {
    client_eof_ = true;
    if (out_.empty() && !shut_ && conn_ != nullptr) {
      conn_->transport().ShutdownWrite();  // pass the half-close on
      shut_ = true;
    }
    return;
  }
  if (request_complete_) return;
  // Trailers go in the last chunk; a Content-Length body has no place for
  // them (RFC 9112 7.1.2), so there they are dropped.
  if (request_.framing.kind == http1::BodyFraming::kChunked) {
    std::string last;
    http1::AppendLastChunk(trailers != nullptr && !trailers->empty() ? trailers : nullptr, last);
    out_.Append(last);
  }
  request_complete_ = true;
  if (!connecting_) Write();
}

bool Http1Upstream::BodyFull() const { return out_.size() >= ctx_->config->high_watermark; }

void Http1Upstream::ResumeResponse() {
  if (finished_ || !paused_) return;
  paused_ = false;
  Read();
}

void Http1Upstream::Cancel() {
  if (finished_) return;
  finished_ = true;
  Release(false);
}

void Http1Upstream::OnIoEvents(uint32_t events) {
  if (finished_ || conn_ == nullptr) return;
  if (connecting_) {
    if (!tcp_connected_) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = net::PendingSocketError(conn_->fd());
      if (err != 0) return Fail(ErrorCode::kConnectFailed, strerror(err));
      tcp_connected_ = true;
    }
    // Re-encryption: the handshake is part of connecting (same timeout).
    switch (conn_->ContinueHandshake()) {
      case upstream::UpstreamConnection::Handshake::kPending:
        return;
      case upstream::UpstreamConnection::Handshake::kFailed:
        return Fail(ErrorCode::kConnectFailed, "upstream TLS handshake failed: " + conn_->handshake_error());
      case upstream::UpstreamConnection::Handshake::kDone:
        break;
    }
    events |= EPOLLOUT;  // the request waits to be written; the last handshake event may have been a read
    connecting_ = false;
    connect_timer_ = false;
    SetDeadline(ctx_->loop->now(), request_.response_timeout);
  }
  if (events & EPOLLOUT) Write();
  if (finished_) return;
  // The peer's FIN (or an error) came with these events: a short read no
  // longer means "drained", since no further edge will report the EOF.
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) end_signalled_ = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) Read();
}

void Http1Upstream::Write() {
  while (!out_.empty()) {
    std::string_view pending = out_.view();
    ssize_t n = conn_->transport().Write(pending.data(), pending.size());
    if (n > 0) {
      out_.Consume(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0 && errno == EINTR) continue;
    // The upstream closed early. If it already answered, the read side will
    // find the response; otherwise this is a failure.
    int error = errno;
    out_ = net::Buffer();
    Read();
    if (!finished_ && !head_received_) Fail(ErrorCode::kReset, strerror(error));
    return;
  }
  RecycleBuffer(out_, spare_buffers.write);  // idle keep-alive tries (long polls) hold none
  if (tunnel_ && client_eof_ && !shut_) {
    conn_->transport().ShutdownWrite();
    shut_ = true;
  }
  if (tunnel_ || !request_complete_) events_->OnUpstreamRequestWritable();
}

void Http1Upstream::Read() {
  // Edge-triggered: keep going until the socket says EAGAIN (or EOF), unless
  // the client cannot take more, in which case ResumeResponse goes on.
  while (!finished_ && !paused_) {
    bool drained = eof_;
    while (!drained && in_.size() < kReadChunk * 4) {
      if (in_.writable() < kMinReadRoom) {
        if (in_.writable() == 0 && in_.empty()) TakeSpareBuffer(in_, spare_buffers.read);
        if (in_.writable() < kMinReadRoom) in_.Reserve(kReadChunk);
      }
      size_t room = in_.writable();
      ssize_t n = conn_->transport().Read(in_.write_ptr(), room);
      if (n > 0) {
        in_.Commit(static_cast<size_t>(n));
        // A short read drained the socket; edge-triggered epoll reports more.
        if (static_cast<size_t>(n) < room) drained = !end_signalled_ && conn_->transport().drained_after_short_read();
      } else if (n == 0) {
        eof_ = drained = true;
      } else if (errno == EAGAIN) {
        drained = true;
      } else if (errno != EINTR) {
        if (head_received_) return Fail(ErrorCode::kReset, strerror(errno));
        eof_ = drained = true;  // a reset before the response: the head parser decides
      }
    }
    PushDeadline(ctx_->loop->now(), head_received_ ? request_.idle_timeout : request_.response_timeout);
    size_t before = in_.size();
    Process();
    if (finished_) return;
    events_->OnUpstreamFlush();
    if (drained) return;
    if (in_.size() == before && before >= kReadChunk * 4) return;  // no progress: wait
  }
}

void Http1Upstream::Process() {
  if (tunnel_) return RelayTunnel();
  while (!finished_ && !head_received_) {
    if (!ProcessHead()) return;
  }
  if (finished_) return;
  if (tunnel_) return RelayTunnel();
  while (!finished_ && !paused_ && decoder_.has_value()) {
    http1::BodyDecoder::Step step = decoder_->Next(in_.view());
    in_.Consume(step.consumed);
    switch (step.kind) {
      case http1::BodyDecoder::Step::kData:
        events_->OnUpstreamBody(step.data);
        continue;
      case http1::BodyDecoder::Step::kDone:
        return Complete();
      case http1::BodyDecoder::Step::kError:
        return Fail(ErrorCode::kBadResponse, step.error);
      case http1::BodyDecoder::Step::kNeedMore:
        break;
    }
    if (eof_) {
      if (in_.empty() || step.consumed == 0) {
        decoder_->FinishAtEof();
        if (decoder_->Next({}).kind == http1::BodyDecoder::Step::kDone) return Complete();
        return Fail(ErrorCode::kReset, "upstream closed mid-body");
      }
      continue;
    }
    if (step.consumed == 0) break;
  }
}

bool Http1Upstream::ProcessHead() {
  std::string_view input = in_.view();
  http::ResponseHead head;
  http1::HeadParse parsed = parser_.Parse(input, &head);
  if (parsed.state == http1::ParseState::kIncomplete) {
    if (eof_) Fail(input.empty() ? ErrorCode::kReset : ErrorCode::kBadResponse, "upstream closed before a response");
    return false;
  }
  if (parsed.state == http1::ParseState::kError) {
    Fail(ErrorCode::kBadResponse, parsed.error);
    return false;
  }
  in_.Consume(parsed.consumed);
  if (IsInterim(head.status)) return true;  // 100/102/103: the client codec sends its own 100-continue
  if (head.status == 101) {
    if (request_.upgrade.empty()) {
      Fail(ErrorCode::kBadResponse, "101 Switching Protocols without an Upgrade request");
      return false;
    }
    head_received_ = true;
    tunnel_ = true;
    SetDeadline(ctx_->loop->now(), request_.idle_timeout);
    events_->OnUpstreamHead(std::move(head), /*end_stream=*/false);
    return true;
  }
  http1::BodyFraming framing;
  Status framed = http1::ResponseBodyFraming(head, request_.state->request.method, &framing);
  if (!framed.ok()) {
    Fail(ErrorCode::kBadResponse, framed.message());
    return false;
  }
  head_received_ = true;
  const std::string* connection = head.headers.Get("connection");
  wants_close_ = (connection != nullptr && pipeline::HasConnectionToken(*connection, "close")) ||
                 (head.version_minor == 0 &&
                  (connection == nullptr || !pipeline::HasConnectionToken(*connection, "keep-alive")));
  // The body is framed again towards the client: Content-Length stays only
  // when it is the one (valid) length of this body.
  bool reset_length = framing.kind != http1::BodyFraming::kNone &&
                      (framing.kind != http1::BodyFraming::kContentLength || head.headers.Count("content-length") != 1);
  if (reset_length) {
    head.headers.Remove("content-length");
    if (framing.kind == http1::BodyFraming::kContentLength) {
      head.headers.Add("content-length", std::to_string(framing.length));
    }
  }
  bool end_stream = framing.kind == http1::BodyFraming::kNone ||
                    (framing.kind == http1::BodyFraming::kContentLength && framing.length == 0);
  if (!end_stream) decoder_.emplace(framing);
  SetDeadline(ctx_->loop->now(), request_.idle_timeout);
  events_->OnUpstreamHead(std::move(head), end_stream);
  if (end_stream && !finished_) Complete();
  return true;
}

void Http1Upstream::RelayTunnel() {
  if (!in_.empty()) {
    events_->OnUpstreamBody(in_.view());
    in_.Consume(in_.size());
  }
  if (eof_ && !finished_) {
    // The upstream is done sending: the client gets what we have, then the
    // connection closes (a tunnel ends its connection).
    finished_ = true;
    Release(false);
    events_->OnUpstreamEnd(nullptr);
  }
}

void Http1Upstream::Complete() {
  finished_ = true;
  bool reusable = !eof_ && !wants_close_ && request_complete_ && out_.empty() && in_.empty();
  Release(reusable);
  const http::HeaderMap* trailers = decoder_.has_value() ? &decoder_->trailers() : nullptr;
  events_->OnUpstreamEnd(trailers != nullptr && !trailers->empty() ? trailers : nullptr);
}

void Http1Upstream::Fail(ErrorCode code, std::string_view message) {
  if (finished_) return;
  finished_ = true;
  pipeline::ProxyError error = pipeline::ProxyError::Upstream(code, message);
  // A pooled connection the server closed while we picked it: the request
  // never reached it.
  error.stale_pooled_connection = reused_ && code == ErrorCode::kReset && !head_received_ && in_.empty();
  Release(false);
  events_->OnUpstreamError(std::move(error));
}

void Http1Upstream::Release(bool reusable) {
  StopDeadline();
  if (conn_ == nullptr) return;
  if (reusable && !ctx_->draining) {
    ctx_->pool.Release(std::move(conn_));
  } else {
    ctx_->pool.Discard(std::move(conn_));
  }
}

void Http1Upstream::OnDeadline() {
  if (finished_) return;
  auto now = net::Clock::now();
  if (!DeadlineReached(now)) return;
  if (paused_) return SetDeadline(now, request_.paused_grace);  // the client is slow, not the upstream: wait for it
  if (connect_timer_) return Fail(ErrorCode::kConnectTimeout, "upstream connect timeout");
  if (tunnel_) return Fail(ErrorCode::kTunnelIdleTimeout, "tunnel idle timeout");
  if (head_received_) return Fail(ErrorCode::kIdleTimeout, "upstream idle timeout");
  Fail(ErrorCode::kResponseTimeout, "upstream response timeout");
}

}  // namespace sluice::proxy
