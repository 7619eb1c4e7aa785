#include "dataplane/admin/admin_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "dataplane/http1/parser.h"

namespace sluice::admin {

class AdminServer::Listener : public net::IoHandler {
 public:
  explicit Listener(AdminServer* server) : server_(server) {}
  void OnIoEvents(uint32_t) override { server_->Accept(); }

 private:
  AdminServer* server_;
};

class AdminServer::Connection : public net::IoHandler {
 public:
  Connection(AdminServer* server, int fd, bool loopback_peer)
      : server_(server), fd_(fd), loopback_peer_(loopback_peer) {}
  bool loopback_peer() const { return loopback_peer_; }
  ~Connection() override {
    if (fd_ >= 0) close(fd_);
  }
  void OnIoEvents(uint32_t events) override {
    if (fd_ < 0) return;
    if (!out_.empty()) return Write();
    char buf[4096];
    while (true) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EAGAIN) break;
      return Finish();  // closed or failed before a full request
    }
    http::RequestHead head;
    http1::Limits limits;
    limits.max_head_bytes = 8192;
    http1::HeadParse parsed = http1::ParseRequestHead(in_, limits, &head);
    if (parsed.state == http1::ParseState::kIncomplete) return;
    if (parsed.state == http1::ParseState::kError) {
      Send({parsed.error_status, "text/plain; charset=utf-8", "bad request\n"});
      return;
    }
    // A POST's body (Content-Length only; one request per connection).
    size_t body_length = 0;
    if (const std::string* length = head.headers.Get("content-length")) {
      body_length = static_cast<size_t>(std::strtoull(length->c_str(), nullptr, 10));
      if (body_length > kMaxPostBody) {
        Send({413, "text/plain; charset=utf-8", "body too large\n"});
        return;
      }
    } else if (head.headers.Get("transfer-encoding") != nullptr) {
      Send({411, "text/plain; charset=utf-8", "send a Content-Length\n"});
      return;
    }
    if (in_.size() < parsed.consumed + body_length) return;  // the rest of the body is on its way
    server_->Handle(this, head, std::string_view(in_).substr(parsed.consumed, body_length));
  }
  void Send(const AdminResponse& response) {
    http::ResponseHead head;
    head.status = response.status;
    head.headers.Add("content-type", response.content_type);
    head.headers.Add("content-length", std::to_string(response.body.size()));
    head.headers.Add("cache-control", "no-store");
    head.headers.Add("connection", "close");
    http1::AppendResponseHead(head, out_);
    out_ += response.body;
    Write();
  }
  int fd() const { return fd_; }

 private:
  void Write() {
    while (!out_.empty()) {
      ssize_t n = send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
      if (n > 0) {
        out_.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EAGAIN) return;
      break;
    }
    Finish();
  }
  void Finish() {
    if (fd_ < 0) return;
    server_->loop_->Unregister(fd_);
    shutdown(fd_, SHUT_WR);
    close(fd_);
    fd_ = -1;
    server_->Closed(this);
  }

  AdminServer* server_;
  int fd_;
  bool loopback_peer_;
  std::string in_;
  std::string out_;
};

AdminServer::AdminServer(net::EventLoop* loop) : loop_(loop), listener_(std::make_unique<Listener>(this)) {}

AdminServer::~AdminServer() {
  connections_.clear();
  if (listen_fd_ >= 0) close(listen_fd_);
}

Status AdminServer::Listen(const net::Address& address) {
  auto fd = net::Listen(address, /*reuse_port=*/false, 64);
  if (!fd.ok()) return fd.status();
  listen_fd_ = *fd;
  loop_->Register(listen_fd_, listener_.get(), EPOLLIN | EPOLLET);
  return Status::Ok();
}

int AdminServer::port() const {
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0) return 0;
  net::Address address;
  address.storage = bound;
  address.length = len;
  return address.port();
}

void AdminServer::Route(std::string path, AdminHandler handler) { routes_[std::move(path)] = std::move(handler); }

void AdminServer::Accept() {
  while (true) {
    net::Address peer;
    peer.length = sizeof peer.storage;
    int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer.storage), &peer.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;
    }
    const bool loopback = peer.Ip().is_loopback();
    auto connection = std::make_unique<Connection>(this, fd, loopback);
    Connection* raw = connection.get();
    connections_.emplace(raw, std::move(connection));
    loop_->Register(fd, raw, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  }
}

void AdminServer::RoutePost(std::string path, AdminPostHandler handler) {
  post_routes_[std::move(path)] = std::move(handler);
}

void AdminServer::Handle(Connection* connection, const http::RequestHead& head, std::string_view body) {
  const std::string path(http::PathWithoutQuery(head.path));
  if (auto post = post_routes_.find(path); post != post_routes_.end()) {
    if (head.method != "POST") {
      connection->Send({405, "text/plain; charset=utf-8", "use POST\n"});
    } else if (!connection->loopback_peer()) {
      connection->Send({403, "text/plain; charset=utf-8",
                        "POST " + path + " is answered on loopback only (kubectl port-forward or exec)\n"});
    } else {
      connection->Send(post->second(head, body));
    }
    return;
  }
  if (head.method != "GET" && head.method != "HEAD") {
    connection->Send({405, "text/plain; charset=utf-8", "method not allowed\n"});
    return;
  }
  auto it = routes_.find(path);
  if (it == routes_.end()) {
    connection->Send({404, "text/plain; charset=utf-8", "not found\n"});
    return;
  }
  connection->Send(it->second(head));
}

void AdminServer::Closed(Connection* connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  loop_->DeleteLater(std::move(it->second));
  connections_.erase(it);
}

}  // namespace sluice::admin
