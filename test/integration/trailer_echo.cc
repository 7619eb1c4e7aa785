#include "test/integration/trailer_echo.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>

#include "dataplane/http1/parser.h"

namespace sluice::testing {
namespace {

// Waits up to 100 ms for input; false when none came (the caller rechecks stop).
bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 100) > 0;
}

bool SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string Report(size_t body_bytes, const std::string& trailer_lines) {
  return "body " + std::to_string(body_bytes) + "\n" + trailer_lines;
}

// ---- h2c: one nghttp2 server session per connection.
struct H2Stream {
  size_t body_bytes = 0;
  bool in_trailers = false;
  std::string trailers;  // "name: value\n" lines
  std::string reply;
  size_t sent = 0;
};
using H2Streams = std::map<int32_t, H2Stream>;

ssize_t ReadReply(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags, nghttp2_data_source* source,
                  void*) {
  auto* stream = static_cast<H2Stream*>(source->ptr);
  size_t n = std::min(length, stream->reply.size() - stream->sent);
  std::copy_n(stream->reply.data() + stream->sent, n, buf);
  stream->sent += n;
  if (stream->sent == stream->reply.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto& streams = *static_cast<H2Streams*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    streams[frame->hd.stream_id] = H2Stream();
  } else {
    streams[frame->hd.stream_id].in_trailers = true;
  }
  return 0;
}

int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t name_len, const uint8_t* value,
             size_t value_len, uint8_t, void* user) {
  auto& streams = *static_cast<H2Streams*>(user);
  H2Stream& stream = streams[frame->hd.stream_id];
  if (!stream.in_trailers) return 0;
  stream.trailers.append(reinterpret_cast<const char*>(name), name_len);
  stream.trailers += ": ";
  stream.trailers.append(reinterpret_cast<const char*>(value), value_len);
  stream.trailers += "\n";
  return 0;
}

int OnData(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t*, size_t len, void* user) {
  (*static_cast<H2Streams*>(user))[stream_id].body_bytes += len;
  return 0;
}

int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
      !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    return 0;
  }
  H2Stream& stream = (*static_cast<H2Streams*>(user))[frame->hd.stream_id];
  stream.reply = Report(stream.body_bytes, stream.trailers);
  nghttp2_nv headers[] = {
      {(uint8_t*)":status", (uint8_t*)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t*)"content-type", (uint8_t*)"text/plain", 12, 10, NGHTTP2_NV_FLAG_NONE},
  };
  nghttp2_data_provider provider;
  provider.source.ptr = &stream;
  provider.read_callback = &ReadReply;
  nghttp2_submit_response(session, frame->hd.stream_id, headers, 2, &provider);
  return 0;
}

}  // namespace

TrailerEchoOrigin::TrailerEchoOrigin(Protocol protocol) : protocol_(protocol) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return;  // port() stays 0: the test fails on it
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TrailerEchoOrigin::~TrailerEchoOrigin() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (std::thread& t : connections_) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void TrailerEchoOrigin::AcceptLoop() {
  while (!stop_) {
    if (!Readable(listen_fd_)) continue;
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    connections_.emplace_back([this, fd] {
      if (protocol_ == Protocol::kHttp1) {
        ServeHttp1(fd);
      } else {
        ServeH2c(fd);
      }
      close(fd);
    });
  }
}

void TrailerEchoOrigin::ServeHttp1(int fd) {
  std::string in;
  char buf[16384];
  auto fill = [&]() -> bool {
    while (!stop_) {
      if (!Readable(fd)) continue;
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      in.append(buf, static_cast<size_t>(n));
      return true;
    }
    return false;
  };
  while (!stop_) {
    http::RequestHead head;
    http1::HeadParse parsed = http1::ParseRequestHead(in, http1::Limits(), &head);
    if (parsed.state == http1::ParseState::kError) return;
    if (parsed.state == http1::ParseState::kIncomplete) {
      if (!fill()) return;
      continue;
    }
    in.erase(0, parsed.consumed);
    http1::BodyFraming framing;
    if (!http1::RequestBodyFraming(head, &framing).ok()) return;
    http1::BodyDecoder decoder(framing);
    size_t body_bytes = 0;
    while (framing.kind != http1::BodyFraming::kNone && !decoder.done()) {
      http1::BodyDecoder::Step step = decoder.Next(in);
      if (step.kind == http1::BodyDecoder::Step::kData) body_bytes += step.data.size();
      in.erase(0, step.consumed);
      if (step.kind == http1::BodyDecoder::Step::kError) return;
      if (step.kind == http1::BodyDecoder::Step::kNeedMore && step.consumed == 0 && !fill()) return;
    }
    std::string lines;
    for (const http::Header& h : decoder.trailers().entries()) lines += h.name + ": " + h.value + "\n";
    std::string body = Report(body_bytes, lines);
    std::string response = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body;
    if (!SendAll(fd, response.data(), response.size())) return;
  }
}

void TrailerEchoOrigin::ServeH2c(int fd) {
  H2Streams streams;
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &OnData);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &OnFrameRecv);
  nghttp2_session* session = nullptr;
  nghttp2_session_server_new(&session, callbacks, &streams);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  char buf[16384];
  while (!stop_) {
    const uint8_t* out = nullptr;
    ssize_t n;
    bool failed = false;
    while ((n = nghttp2_session_mem_send(session, &out)) > 0) {
      if (!SendAll(fd, reinterpret_cast<const char*>(out), static_cast<size_t>(n))) failed = true;
    }
    if (failed || n < 0 || (!nghttp2_session_want_read(session) && !nghttp2_session_want_write(session))) break;
    if (!Readable(fd)) continue;
    ssize_t got = recv(fd, buf, sizeof buf, 0);
    if (got <= 0) break;
    if (nghttp2_session_mem_recv(session, reinterpret_cast<const uint8_t*>(buf), static_cast<size_t>(got)) < 0) break;
  }
  nghttp2_session_del(session);
}

}  // namespace sluice::testing
