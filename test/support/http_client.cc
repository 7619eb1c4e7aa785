#include "test/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dataplane/http1/parser.h"

namespace sluice::testing {

HttpConnection::HttpConnection(int port, std::string host, int timeout_ms, std::string source) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (!source.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, source.c_str(), &local.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      close(fd);
      return;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return;
  }
  fd_ = fd;
}

HttpConnection::~HttpConnection() {
  if (fd_ >= 0) close(fd_);
}

bool HttpConnection::SendRaw(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

Response HttpConnection::ReadResponse(bool head_request) {
  Response out;
  if (fd_ < 0) return out;
  char buf[65536];
  auto fill = [&]() -> bool {
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffered_.append(buf, static_cast<size_t>(n));
    return true;
  };
  while (true) {
    http::ResponseHead head;
    http1::HeadParse parsed = http1::ParseResponseHead(buffered_, http1::Limits(), &head);
    if (parsed.state == http1::ParseState::kError) return out;
    if (parsed.state == http1::ParseState::kIncomplete) {
      if (!fill()) return out;
      continue;
    }
    buffered_.erase(0, parsed.consumed);
    if (head.status >= 100 && head.status < 200) continue;  // interim
    http1::BodyFraming framing;
    if (!http1::ResponseBodyFraming(head, head_request ? "HEAD" : "GET", &framing).ok()) return out;
    http1::BodyDecoder decoder(framing);
    std::string body;
    bool eof = false;
    while (!decoder.done()) {
      auto step = decoder.Next(buffered_);
      if (step.kind == http1::BodyDecoder::Step::kData) body.append(step.data);  // before erase: a view
      buffered_.erase(0, step.consumed);
      if (step.kind == http1::BodyDecoder::Step::kData) {
      } else if (step.kind == http1::BodyDecoder::Step::kError) {
        return out;
      } else if (step.kind == http1::BodyDecoder::Step::kNeedMore && step.consumed == 0) {
        if (eof) return out;
        if (!fill()) {
          eof = true;
          decoder.FinishAtEof();
        }
      }
    }
    out.status = head.status;
    out.headers = std::move(head.headers);
    out.body = std::move(body);
    return out;
  }
}

Response HttpConnection::Get(std::string_view host, std::string_view path, std::string_view extra_headers) {
  std::string request = "GET " + std::string(path) + " HTTP/1.1\r\nHost: " + std::string(host) + "\r\n" +
                        std::string(extra_headers) + "\r\n";
  if (!SendRaw(request)) return {};
  return ReadResponse();
}

bool HttpConnection::PeerClosed() {
  char c;
  ssize_t n = recv(fd_, &c, 1, 0);
  return n == 0;
}

Response Fetch(int port, std::string_view host, std::string_view path, std::string_view extra_headers) {
  HttpConnection conn(port);
  return conn.Get(host, path, extra_headers);
}

}  // namespace sluice::testing
