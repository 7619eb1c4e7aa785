#include "test/support/fake_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <utility>

namespace sluice::testing {
namespace {

constexpr int kPollMs = 20;  // how often threads look at the stop flag

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Value of header `name` (lower case) in a raw head, or nullopt.
std::optional<std::string> HeaderValue(const std::string& lower_head, std::string_view name) {
  std::string key = "\r\n" + std::string(name) + ":";
  size_t at = lower_head.find(key);
  if (at == std::string::npos) return std::nullopt;
  size_t start = at + key.size();
  size_t end = lower_head.find("\r\n", start);
  std::string value = lower_head.substr(start, end - start);
  value.erase(0, value.find_first_not_of(" \t"));
  value.erase(value.find_last_not_of(" \t") + 1);
  return value;
}

void SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

std::string FakeUpstream::OkResponse(std::string_view body, std::string_view extra_headers) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra_headers) +
         "\r\n" + std::string(body);
}

std::string FakeUpstream::TargetOf(std::string_view head) {
  const size_t start = head.find(' ') + 1;
  return std::string(head.substr(start, head.find(' ', start) - start));
}

FakeUpstream::Script FakeUpstream::Always(std::string bytes, bool close) {
  return [bytes = std::move(bytes), close](const Request&) { return Reply{bytes, close}; };
}

FakeUpstream::Script FakeUpstream::Silent() {
  return [](const Request&) { return Reply{}; };
}

FakeUpstream::FakeUpstream(Script script) : script_(std::move(script)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks: no race with other tests
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 64) != 0) {
    std::abort();  // a test peer that cannot listen makes every assertion meaningless
  }
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

FakeUpstream::~FakeUpstream() {
  stop_ = true;
  if (accept_thread_.joinable()) accept_thread_.join();
  close(listen_fd_);
  // Connection threads only touch their own entry; the vector no longer grows.
  for (auto& c : connections_) {
    if (c->thread.joinable()) c->thread.join();
    if (c->fd >= 0) close(c->fd);
  }
}

void FakeUpstream::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, kPollMs) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval send_timeout{5, 0};  // a proxy that stops reading cannot hang the test
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    std::lock_guard<std::mutex> lock(mu_);
    auto conn = std::make_unique<Connection>();
    conn->fd = fd;
    size_t index = connections_.size();
    connections_.push_back(std::move(conn));
    connections_.back()->thread = std::thread([this, index] { Serve(index); });
    changed_.notify_all();
  }
}

void FakeUpstream::Serve(size_t index) {
  int fd;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fd = connections_[index]->fd;
  }
  char buf[65536];
  while (!stop_) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kPollMs) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    std::vector<Request> requests;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Connection& c = *connections_[index];
      if (n <= 0) {  // EOF or reset: either way the proxy let go of it
        c.peer_closed = true;
        c.closed_at = std::chrono::steady_clock::now();
        changed_.notify_all();
        return;
      }
      c.received.append(buf, static_cast<size_t>(n));
      requests = TakeRequests(index);
      changed_.notify_all();
    }
    for (const Request& request : requests) {
      for (Reply reply = script_(request);;) {
        if (reply.close && reply.fin_with_data) {
          int on = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
        }
        if (!reply.bytes.empty()) SendAll(fd, reply.bytes);
        if (reply.close) {
          std::lock_guard<std::mutex> lock(mu_);
          close(fd);
          connections_[index]->fd = -1;
          changed_.notify_all();
          return;
        }
        if (!reply.then) break;
        Reply next = reply.then();
        reply = std::move(next);
      }
    }
  }
}

std::vector<FakeUpstream::Request> FakeUpstream::TakeRequests(size_t index) {
  Connection& c = *connections_[index];
  std::vector<Request> out;
  while (true) {
    if (c.body_left > 0) {
      uint64_t available = c.received.size() - c.next_head;
      uint64_t skip = std::min(available, c.body_left);
      c.next_head += skip;
      c.body_left -= skip;
      if (c.body_left > 0) return out;
    }
    if (c.in_chunked_body) {
      // Good enough for a test peer: the body ends at the first last-chunk.
      std::string_view rest = std::string_view(c.received).substr(c.next_head);
      size_t end = rest.starts_with("0\r\n\r\n") ? 0 : rest.find("\r\n0\r\n\r\n");
      if (end == std::string_view::npos) return out;
      c.next_head += end + (end == 0 ? 5 : 7);
      c.in_chunked_body = false;
    }
    size_t head_end = c.received.find("\r\n\r\n", c.next_head);
    if (head_end == std::string::npos) return out;
    Request request;
    request.connection = index;
    request.index = c.requests++;
    request.head = c.received.substr(c.next_head, head_end + 4 - c.next_head);
    c.next_head = head_end + 4;
    std::string lower = Lower(request.head);
    if (auto te = HeaderValue(lower, "transfer-encoding"); te && te->find("chunked") != std::string::npos) {
      c.in_chunked_body = true;
    } else if (auto cl = HeaderValue(lower, "content-length")) {
      c.body_left = std::strtoull(cl->c_str(), nullptr, 10);
    }
    heads_.push_back(request.head);
    out.push_back(std::move(request));
  }
}

template <typename Pred>
bool FakeUpstream::WaitFor(std::chrono::milliseconds timeout, Pred pred) const {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, timeout, pred);
}

size_t FakeUpstream::connection_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_.size();
}

size_t FakeUpstream::request_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return heads_.size();
}

std::vector<std::string> FakeUpstream::request_heads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return heads_;
}

std::vector<std::string> FakeUpstream::request_heads_for(const std::string& method_and_target) const {
  std::vector<std::string> out;
  for (std::string& head : request_heads()) {
    if (head.rfind(method_and_target + " ", 0) == 0) out.push_back(std::move(head));
  }
  return out;
}

size_t FakeUpstream::requests_for(const std::string& method_and_target) const {
  return request_heads_for(method_and_target).size();
}

std::string FakeUpstream::received(size_t connection) const {
  std::lock_guard<std::mutex> lock(mu_);
  return connection < connections_.size() ? connections_[connection]->received : "";
}

std::string FakeUpstream::all_received() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& c : connections_) out += c->received;
  return out;
}

bool FakeUpstream::peer_closed(size_t connection) const {
  std::lock_guard<std::mutex> lock(mu_);
  return connection < connections_.size() && connections_[connection]->peer_closed;
}

std::optional<std::chrono::steady_clock::time_point> FakeUpstream::peer_closed_at(size_t connection) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (connection >= connections_.size() || !connections_[connection]->peer_closed) return std::nullopt;
  return connections_[connection]->closed_at;
}

bool FakeUpstream::WaitForConnections(size_t n, std::chrono::milliseconds timeout) const {
  return WaitFor(timeout, [&] { return connections_.size() >= n; });
}

bool FakeUpstream::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  return WaitFor(timeout, [&] { return heads_.size() >= n; });
}

bool FakeUpstream::WaitForPeerClose(size_t connection, std::chrono::milliseconds timeout) const {
  return WaitFor(timeout, [&] { return connection < connections_.size() && connections_[connection]->peer_closed; });
}

bool FakeUpstream::WaitForAllPeerClosed(std::chrono::milliseconds timeout) const {
  return WaitFor(timeout, [&] {
    return std::all_of(connections_.begin(), connections_.end(), [](const auto& c) { return c->peer_closed; });
  });
}

bool FakeUpstream::WaitForReceived(size_t connection, std::string_view needle,
                                   std::chrono::milliseconds timeout) const {
  return WaitFor(timeout, [&] {
    return connection < connections_.size() && connections_[connection]->received.find(needle) != std::string::npos;
  });
}

}  // namespace sluice::testing
