#include "dataplane/proxy/http1_session.h"

#include <sys/sendfile.h>

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "dataplane/pipeline/access_log_stage.h"
#include "dataplane/pipeline/hop_by_hop.h"
#include "dataplane/pipeline/local_reply.h"
#include "dataplane/proxy/http2_session.h"

namespace sluice::proxy {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
// Below this much free space the read buffer grows; above it, reads reuse it.
constexpr size_t kMinReadRoom = 2048;
// Pipelined bytes we hold while a response is in progress before we stop
// reading the socket.
constexpr size_t kMaxPipelinedBytes = 64 * 1024;
// Response bytes buffered before we write them without waiting for the end
// of the current batch of upstream input.
constexpr size_t kEagerFlushBytes = 32 * 1024;

}  // namespace

Http1Session::Http1Session(WorkerContext* ctx, std::unique_ptr<net::Transport> transport, ClientInfo client,
                           SessionOwner* owner, bool registered)
    : ctx_(ctx),
      transport_(std::move(transport)),
      fd_(transport_->fd()),
      client_(std::move(client)),
      owner_(owner),
      registered_(registered),
      head_parser_(ctx->config->head_limits) {}

Http1Session::~Http1Session() {
  if (timer_ != 0) ctx_->loop->CancelTimer(timer_);
  if (fd_ >= 0) close(fd_);
}

void Http1Session::Start() {
  // Taking over the handshake's registration (same events) costs no
  // epoll_ctl; a freshly accepted socket is added.
  if (!registered_ || !ctx_->loop->Retarget(fd_, this)) {
    ctx_->loop->Register(fd_, this, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  }
  ArmTimer(ctx_->config->client_header_timeout);
  ReadFromSocket();
}

void Http1Session::Drain() {
  draining_ = true;
  keep_alive_ = false;
  // Idle between requests: close. A connection that has not sent its first
  // request yet was just accepted (the drain takes what the listen queue
  // held): it is served once, within the header timeout.
  if (request_seen_ && state_ == State::kReadingHead && in_.empty() && out_.empty()) Close();
}

void Http1Session::SayGoingAway() {
  if (state_ == State::kTunnel && exchange_ != nullptr) exchange_->SayGoingAway();
}

void Http1Session::NoticeShutdown() {
  // The response in flight (or the next one) says Connection: close.
  if (state_ != State::kReadingHead || !in_.empty()) keep_alive_ = false;
}

void Http1Session::EnterIdle() {
  // No timer while idle: the worker sweeps idle sessions periodically, so an
  // idle keep-alive connection costs no timer entry or callback.
  if (timer_ != 0) {
    ctx_->loop->CancelTimer(timer_);
    timer_ = 0;
  }
  idle_ = true;
  idle_since_ = ctx_->loop->now();
}

void Http1Session::CloseIfIdleSince(net::Clock::time_point cutoff) {
  if (idle_ && state_ == State::kReadingHead && in_.empty() && out_.empty() && idle_since_ <= cutoff) Close();
}

void Http1Session::OnIoEvents(uint32_t events) {
  if (state_ == State::kClosed) return;
  if (events & EPOLLOUT) Flush();
  if (state_ == State::kClosed) return;
  // The FIN (or an error) came with these events: a short read is no longer
  // "drained", as no further edge will report the end of stream.
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) end_signalled_ = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ReadFromSocket();
}

bool Http1Session::WantsInput() const {
  switch (state_) {
    case State::kReadingHead:
      return true;
    case State::kReadingBody:
      return exchange_ == nullptr || !exchange_->RequestBodyFull();
    case State::kAwaitingResponse:
      return in_.size() < kMaxPipelinedBytes;
    case State::kTunnel:
      return exchange_ != nullptr && !exchange_->RequestBodyFull();
    default:
      return false;
  }
}

void Http1Session::ReadFromSocket() {
  if (peer_closed_) return;  // decided when the end of stream was seen
  while (!peer_closed_ && WantsInput()) {
    if (in_.writable() < kMinReadRoom) in_.Reserve(kReadChunk);
    size_t room = in_.writable();
    ssize_t n = transport_->Read(in_.write_ptr(), room);
    if (n > 0) {
      bool was_idle = state_ == State::kReadingHead && in_.empty();
      in_.Commit(static_cast<size_t>(n));
      if (was_idle) {
        idle_ = false;
        ArmTimer(ctx_->config->client_header_timeout);  // the whole head must come within it
      }
      if (state_ == State::kReadingBody && exchange_) ArmTimer(exchange_->ClientBodyTimeout());
      ProcessInput();
      if (state_ == State::kClosed) return;
      // A short read drained the socket: edge-triggered epoll reports the
      // next arrival, so the extra recv() that would say EAGAIN is skipped.
      if (static_cast<size_t>(n) < room && !end_signalled_ && transport_->drained_after_short_read()) break;
      continue;
    }
    if (n == 0) {
      peer_closed_ = true;
      break;
    }
    if (errno == EAGAIN) break;
    if (errno == EINTR) continue;
    peer_closed_ = true;
    peer_reset_ = true;  // ECONNRESET and friends: nobody will read a response
    break;
  }
  if (!peer_closed_) {
    // An idle keep-alive connection keeps no read buffer (see the idle-RSS
    // benchmark): it is allocated again, without zero-filling, on the next read.
    if (state_ == State::kReadingHead && in_.empty()) in_.ShrinkIfEmpty();
    return;
  }
  if (state_ == State::kTunnel && !peer_reset_) {  // pass the half-close on; the upstream may still talk
    if (exchange_) exchange_->OnTunnelClientEof();
    return;
  }
  // The client closed its side. Between requests that is a normal goodbye;
  // mid-request it is an abort. After a complete request, a client that only
  // half-closed (printf ... | nc -N) still gets its response; but once the
  // response has started, an end of stream means the client went away (a
  // browser tab closed, curl interrupted): let go of the upstream now rather
  // than at its idle timeout.
  bool response_in_progress = exchange_ != nullptr && exchange_->response_started();
  if (state_ == State::kReadingHead || state_ == State::kReadingBody || peer_reset_ ||
      (state_ != State::kClosing && response_in_progress)) {
    if (exchange_) {
      exchange_->OnDownstreamClosed();
      ctx_->loop->DeleteLater(std::move(exchange_));
    }
    Close();
  }
}

void Http1Session::ProcessInput() {
  // An exchange that answers at once re-enters here through OnExchangeDone;
  // the outer call's loop picks up the next pipelined request instead, so
  // the stack does not grow with the number of pipelined requests.
  if (processing_input_) return;
  processing_input_ = true;
  ProcessBufferedRequests();
  processing_input_ = false;
}

void Http1Session::ProcessBufferedRequests() {
  if (!request_seen_ && state_ == State::kReadingHead && HandOverToHttp2()) return;
  while (state_ == State::kReadingHead && !in_.empty()) {
    http::RequestHead head;
    http1::HeadParse parsed = head_parser_.Parse(in_.view(), &head);
    if (parsed.state == http1::ParseState::kIncomplete) return;
    if (parsed.state == http1::ParseState::kError) {
      std::string_view body = "bad request\n";
      if (parsed.error_status == 431) body = "request header fields too large\n";
      if (parsed.error_status == 501) body = "not implemented\n";
      if (parsed.error_status == 505) body = "http version not supported\n";
      return SendErrorAndClose(parsed.error_status, body, parsed.error);
    }
    in_.Consume(parsed.consumed);
    Status valid = http1::ValidateRequestHead(head);
    if (!valid.ok()) return SendErrorAndClose(400, "bad request\n", valid.message());
    http1::BodyFraming framing;
    Status framed = http1::RequestBodyFraming(head, &framing);
    if (!framed.ok()) {
      return SendErrorAndClose(400, "bad request\n", framed.message());  // 501s are the parser's
    }
    if (head.method == "CONNECT") return SendErrorAndClose(405, "method not allowed\n", "CONNECT is not supported");
    StartRequest(std::move(head), framing);
  }
  if (state_ == State::kReadingBody) FeedRequestBody();
  if (state_ == State::kTunnel && !in_.empty() && exchange_) {
    exchange_->OnTunnelData(in_.view());
    in_.Consume(in_.size());
  }
}

// h2c with prior knowledge (RFC 9113 3.3): a connection that opens with the
// HTTP/2 preface is handed, with the bytes read so far, to an Http2Session.
// Returns true when the connection is (or may become, once the rest of the
// preface arrives) HTTP/2. The first line ("PRI * HTTP/2.0") decides: no
// HTTP/1 request has it, so a preface that goes wrong after it is HTTP/2's
// to refuse (GOAWAY PROTOCOL_ERROR, RFC 9113 §3.4), not a 400.
bool Http1Session::HandOverToHttp2() {
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  static constexpr size_t kFirstLine = 16;  // "PRI * HTTP/2.0\r\n"
  std::string_view input = in_.view();
  size_t n = std::min(input.size(), kFirstLine);
  if (owner_ == nullptr || n == 0 || input.substr(0, n) != kPreface.substr(0, n)) return false;
  if (input.size() < kPreface.size() && input.substr(0, input.size()) == kPreface.substr(0, input.size())) {
    return true;  // wait for the rest of the preface
  }
  if (timer_ != 0) {
    ctx_->loop->CancelTimer(timer_);
    timer_ = 0;
  }
  auto* successor = new Http2Session(ctx_, std::move(transport_), client_, owner_, input);
  fd_ = -1;  // the successor owns the socket now
  state_ = State::kClosed;
  owner_->ReplaceSession(this, successor);
  successor->Start();
  return true;
}

void Http1Session::StartRequest(http::RequestHead head, http1::BodyFraming framing) {
  request_seen_ = true;
  const std::string* connection = head.headers.Get("connection");
  request_http10_ = head.version_minor == 0;
  if (request_http10_) {
    keep_alive_ = connection != nullptr && pipeline::HasConnectionToken(*connection, "keep-alive");
  } else {
    keep_alive_ = connection == nullptr || !pipeline::HasConnectionToken(*connection, "close");
  }
  if (draining_ || ctx_->shutting_down) keep_alive_ = false;
  bool expects_continue = false;
  if (const std::string* expect = head.headers.Get("expect")) {
    if (!http::EqualsIgnoreCase(*expect, "100-continue")) {
      return SendErrorAndClose(417, "expectation failed\n", "unsupported Expect");
    }
    expects_continue = !request_http10_;
  }
  bool has_body = framing.kind == http1::BodyFraming::kChunked ||
                  (framing.kind == http1::BodyFraming::kContentLength && framing.length > 0);
  head.scheme = client_.scheme;
  response_bytes_ = 0;
  std::string upgrade;
  if (const std::string* value = head.headers.Get("upgrade");
      value != nullptr && !request_http10_ && !has_body && connection != nullptr &&
      pipeline::HasConnectionToken(*connection, "upgrade")) {
    upgrade = *value;
  }
  state_ = has_body ? State::kReadingBody : State::kAwaitingResponse;
  if (has_body) body_decoder_ = std::make_unique<http1::BodyDecoder>(framing);
  if (timer_ != 0) deadline_ = net::Clock::time_point::max();  // the exchange's timers govern now
  exchange_ = std::make_unique<Exchange>(ctx_, this, std::move(head), framing);
  if (!upgrade.empty()) exchange_->RequestUpgrade(std::move(upgrade));
  exchange_->Start();
  // Tell a client waiting for "100 Continue" to send its body, unless the
  // exchange already answered (404, 413, ...).
  if (expects_continue && has_body && exchange_ && !exchange_->response_started()) {
    out_.Append("HTTP/1.1 100 Continue\r\n\r\n");
    Flush();
  }
  if (state_ == State::kReadingBody && exchange_) ArmTimer(exchange_->ClientBodyTimeout());
}

void Http1Session::FeedRequestBody() {
  while (state_ == State::kReadingBody && body_decoder_ != nullptr) {
    if (exchange_ && exchange_->RequestBodyFull()) return;
    std::string_view input = in_.view();
    http1::BodyDecoder::Step step = body_decoder_->Next(input);
    in_.Consume(step.consumed);
    switch (step.kind) {
      case http1::BodyDecoder::Step::kData:
        if (exchange_) exchange_->OnRequestBody(step.data);
        continue;
      case http1::BodyDecoder::Step::kDone: {
        http::HeaderMap trailers = body_decoder_->trailers();  // chunked trailers; empty (no allocation) mostly
        body_decoder_.reset();
        state_ = State::kAwaitingResponse;
        if (exchange_) exchange_->OnRequestEnd(trailers.empty() ? nullptr : &trailers);
        return;
      }
      case http1::BodyDecoder::Step::kError:
        body_decoder_.reset();
        if (exchange_ && !exchange_->response_started()) {
          exchange_->NoteRefused(400, "invalid request body");
          exchange_->OnDownstreamClosed();
          ctx_->loop->DeleteLater(std::move(exchange_));
          return SendErrorAndClose(400, "bad request\n", step.error, /*log=*/false);
        }
        keep_alive_ = false;
        state_ = State::kAwaitingResponse;
        return;
      case http1::BodyDecoder::Step::kNeedMore:
        if (step.consumed == 0) return;
        continue;
    }
  }
}

void Http1Session::SendResponseHead(http::ResponseHead&& head, bool end_stream) {
  response_chunked_ = false;
  response_close_delimited_ = false;
  if (head.status == 101) {  // the exchange set Connection/Upgrade; no framing follows
    std::string& bytes = ctx_->scratch;
    bytes.clear();
    http1::AppendResponseHead(head, bytes);
    response_bytes_ += bytes.size();
    out_.Append(bytes);
    return;
  }
  // The request body was not read to its end (early answer): the rest of it
  // cannot be told apart from the next request, so this connection closes.
  if (state_ == State::kReadingBody) keep_alive_ = false;
  if (!end_stream && head.headers.Get("content-length") == nullptr) {
    if (request_http10_) {
      response_close_delimited_ = true;
      keep_alive_ = false;
    } else {
      response_chunked_ = true;
      head.headers.Add("transfer-encoding", "chunked");
    }
  }
  if (!keep_alive_) {
    head.headers.Add("connection", "close");
  } else if (request_http10_) {
    head.headers.Add("connection", "keep-alive");
  }
  head.version_minor = 1;
  std::string& bytes = ctx_->scratch;
  bytes.clear();
  http1::AppendResponseHead(head, bytes);
  response_bytes_ += bytes.size();
  out_.Append(bytes);
}

void Http1Session::SendResponseBody(std::string_view data) {
  if (data.empty()) return;
  response_bytes_ += data.size();
  if (response_chunked_) {
    std::string& chunk = ctx_->scratch;
    chunk.clear();
    http1::AppendChunk(data, chunk);
    out_.Append(chunk);
  } else if (data.size() >= kEagerFlushBytes && !transport_->secure() && state_ != State::kClosed) {
    // A large piece (a cached object's bytes, a file's block, a big read
    // from the origin) would be copied into out_ only to be written at
    // once: write it from where it lies instead, behind what is buffered,
    // in one sendmsg. Only what the socket does not take is copied.
    const size_t taken = WriteThrough(data);
    if (taken == kClientGoneWriting) return ClientGone();
    // (Nothing left: no Append, whose memcpy into a never-allocated buffer
    // would pass a null pointer, undefined even for 0 bytes.)
    if (taken < data.size()) out_.Append(data.substr(taken));
  } else {
    out_.Append(data);
  }
  // Large bodies go out as they come rather than after the whole batch:
  // the client sees bytes sooner and the buffer stays small.
  if (out_.size() >= kEagerFlushBytes) Flush();
}

int64_t Http1Session::SendFileBody(int fd, uint64_t offset, size_t max) {
  if (transport_->secure() || response_chunked_ || state_ == State::kClosed) return kCannotSendFile;
  // What is buffered (the head) goes first; not Flush(), which would call
  // the exchange back from inside its own pump.
  switch (WriteBuffered()) {
    case WriteOutcome::kSocketFull:
      return 0;
    case WriteOutcome::kClientGone:
      ClientGone();
      return kClientGone;
    case WriteOutcome::kWritten:
      break;
  }
  off_t at = static_cast<off_t>(offset);
  ssize_t n;
  do {
    n = sendfile(transport_->fd(), fd, &at, max);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    response_bytes_ += static_cast<uint64_t>(n);
    return n;
  }
  if (n < 0 && errno == EAGAIN) return 0;
  // The file ended early (or cannot be sent this way): the read path
  // reports it as the body source's failure.
  if (n == 0 || errno == EINVAL || errno == ENOSYS || errno == EIO) return kCannotSendFile;
  ClientGone();
  return kClientGone;
}

void Http1Session::SendResponseEnd(const http::HeaderMap* trailers) {
  if (response_chunked_) {
    std::string last;
    http1::AppendLastChunk(trailers, last);
    out_.Append(last);
  }
}

void Http1Session::AbortResponse() {
  // Send what we have, then close without the final chunk so the client
  // sees a truncated response.
  keep_alive_ = false;
  response_chunked_ = false;
}

bool Http1Session::OutputFull() const { return out_.size() >= ctx_->config->high_watermark; }

void Http1Session::StartTunnel() {
  state_ = State::kTunnel;
  keep_alive_ = false;  // when the tunnel ends, the connection ends
  body_decoder_.reset();
  // Bytes the client sent right after its request head belong to the tunnel.
  if (!processing_input_) {
    ProcessInput();
    if (state_ == State::kTunnel) ReadFromSocket();
  }
}

void Http1Session::ResumeRequestBody() {
  // Called from the exchange's upstream writes, which may themselves run
  // inside our input processing; the outer loop continues there.
  if ((state_ != State::kReadingBody && state_ != State::kTunnel) || processing_input_) return;
  ProcessInput();
  if (state_ != State::kClosed) ReadFromSocket();
}

size_t Http1Session::WriteThrough(std::string_view data) {
  size_t taken = 0;
  for (;;) {
    iovec parts[2];
    int count = 0;
    if (!out_.empty()) parts[count++] = {const_cast<char*>(out_.view().data()), out_.size()};
    if (taken < data.size()) parts[count++] = {const_cast<char*>(data.data() + taken), data.size() - taken};
    if (count == 0) return taken;
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = static_cast<size_t>(count);
    const ssize_t n = sendmsg(transport_->fd(), &message, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return taken;
    if (n <= 0) return kClientGoneWriting;
    // out_'s bytes went first.
    const size_t from_out = std::min(static_cast<size_t>(n), out_.size());
    out_.Consume(from_out);
    taken += static_cast<size_t>(n) - from_out;
  }
}

Http1Session::WriteOutcome Http1Session::WriteBuffered() {
  while (!out_.empty()) {
    std::string_view pending = out_.view();
    ssize_t n = transport_->Write(pending.data(), pending.size());
    if (n > 0) {
      out_.Consume(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) return WriteOutcome::kSocketFull;
    if (n < 0 && errno == EINTR) continue;
    return WriteOutcome::kClientGone;
  }
  return WriteOutcome::kWritten;
}

void Http1Session::ClientGone() {
  if (exchange_) {
    exchange_->OnDownstreamClosed();
    ctx_->loop->DeleteLater(std::move(exchange_));
  }
  Close();
}

void Http1Session::Flush() {
  switch (WriteBuffered()) {
    case WriteOutcome::kSocketFull:
      return;
    case WriteOutcome::kClientGone:
      return ClientGone();
    case WriteOutcome::kWritten:
      break;
  }
  out_.ShrinkIfEmpty();
  if (state_ == State::kClosing) return Close();
  if (exchange_ && !exchange_->done() && out_.size() < ctx_->config->low_watermark) exchange_->OnDownstreamWritable();
}

void Http1Session::OnExchangeDone() {
  if (exchange_) ctx_->loop->DeleteLater(std::move(exchange_));
  if (state_ == State::kClosed) return;
  if (state_ == State::kReadingBody) keep_alive_ = false;  // unread body
  if (!keep_alive_ || peer_closed_) {
    state_ = State::kClosing;
    Flush();
    return;
  }
  state_ = State::kReadingHead;
  body_decoder_.reset();
  if (in_.empty()) {
    EnterIdle();
  } else {
    ArmTimer(ctx_->config->client_header_timeout);  // a pipelined request is already here
  }
  Flush();
  if (state_ == State::kClosed) return;
  if (processing_input_) return;  // the caller's loop goes on with the input
  // Pipelined requests already buffered; then read more (edge-triggered).
  ProcessInput();
  if (state_ == State::kReadingHead || state_ == State::kReadingBody || state_ == State::kAwaitingResponse) {
    ReadFromSocket();
  }
}

void Http1Session::SendErrorAndClose(int status, std::string_view body, std::string_view reason, bool log) {
  // The one local-reply builder (the exchange's too), then the connection
  // closes: what follows a refused request on it cannot be trusted.
  pipeline::LocalReply reply;
  reply.status = status;
  reply.body = body;
  http::ResponseHead head = pipeline::BuildLocalReplyHead(reply, pipeline::ReplyShape());
  head.headers.Add("connection", "close");
  std::string bytes;
  http1::AppendResponseHead(head, bytes);
  bytes.append(body);
  out_.Append(bytes);
  ctx_->stats.Count(ctx_->stats.responses_by_class[status / 100]);
  if (log) pipeline::LogRefusedRequest(ctx_->access_log.get(), client_, nullptr, status, reason, bytes.size());
  state_ = State::kClosing;
  Flush();
}

void Http1Session::Close() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  if (timer_ != 0) {
    ctx_->loop->CancelTimer(timer_);
    timer_ = 0;
  }
  if (exchange_) {
    exchange_->OnDownstreamClosed();
    ctx_->loop->DeleteLater(std::move(exchange_));
  }
  // No EPOLL_CTL_DEL: the fd is ours alone (never dup'ed, CLOEXEC), so the
  // close() below drops its registration.
  ctx_->loop->ForgetBeforeClose(fd_);
  // Lingering close: shut down our side first so that unread request bytes
  // do not turn our FIN into an RST that could destroy the response.
  transport_->ShutdownWrite();
  close(fd_);
  fd_ = -1;
  if (owner_ != nullptr) owner_->OnSessionClosed(this);
}

void Http1Session::ArmTimer(std::chrono::milliseconds timeout) {
  // Lazy timer: moving the deadline later costs nothing (the timer re-arms
  // itself when it fires early); only an earlier deadline re-schedules it.
  deadline_ = ctx_->loop->now() + timeout;
  if (timer_ != 0 && deadline_ >= timer_due_) return;
  if (timer_ != 0) ctx_->loop->CancelTimer(timer_);
  timer_due_ = deadline_;
  timer_ = ctx_->loop->AddTimer(timeout, [this] { OnTimer(); });
}

void Http1Session::OnTimer() {
  timer_ = 0;
  if (state_ == State::kClosed) return;
  if (state_ == State::kAwaitingResponse || state_ == State::kTunnel || deadline_ == net::Clock::time_point::max()) {
    // Upstream timers govern while a response is in progress; look again later.
    deadline_ = ctx_->loop->now() + ctx_->config->client_body_timeout;
  }
  auto now = net::Clock::now();
  if (now < deadline_) {
    timer_due_ = deadline_;
    timer_ = ctx_->loop->AddTimer(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now) + std::chrono::milliseconds(1),
        [this] { OnTimer(); });
    return;
  }
  if (state_ == State::kReadingHead && in_.empty()) return Close();  // idle keep-alive
  if (state_ == State::kReadingHead || state_ == State::kReadingBody) {
    if (exchange_ == nullptr || !exchange_->response_started()) {
      bool had_exchange = exchange_ != nullptr;
      if (exchange_) {
        exchange_->NoteRefused(408, "client body timeout");
        exchange_->OnDownstreamClosed();
        ctx_->loop->DeleteLater(std::move(exchange_));
      }
      return SendErrorAndClose(408, "request timeout\n",
                               state_ == State::kReadingHead ? "client header timeout" : "client body timeout",
                               /*log=*/!had_exchange);
    }
  }
  Close();
}

}  // namespace sluice::proxy
