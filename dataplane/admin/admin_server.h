#pragma once
// The admin listener (loopback by default): tiny one-request-per-connection
// HTTP/1.1 on the main thread's loop. The routes are given by the caller.
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/status.h"
#include "dataplane/http/message.h"
#include "dataplane/net/event_loop.h"
#include "dataplane/net/socket.h"

namespace sluice::admin {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using AdminHandler = std::function<AdminResponse(const http::RequestHead&)>;
// A POST route: the head and the body (at most kMaxPostBody bytes).
using AdminPostHandler = std::function<AdminResponse(const http::RequestHead&, std::string_view body)>;

class AdminServer {
 public:
  explicit AdminServer(net::EventLoop* loop);
  ~AdminServer();
  Status Listen(const net::Address& address);
  int port() const;
  void Route(std::string path, AdminHandler handler);
  // POST routes change state (a cache purge): they answer only peers on a
  // loopback address (kubectl port-forward and exec arrive there; the
  // listener itself may be on every interface for kubelet's probes).
  // Others get 403.
  void RoutePost(std::string path, AdminPostHandler handler);
  static constexpr size_t kMaxPostBody = 8192;

 private:
  class Listener;
  class Connection;
  void Accept();
  void Handle(Connection* connection, const http::RequestHead& head, std::string_view body);
  void Closed(Connection* connection);

  net::EventLoop* loop_;
  int listen_fd_ = -1;
  std::unique_ptr<Listener> listener_;
  std::unordered_map<std::string, AdminHandler> routes_;
  std::unordered_map<std::string, AdminPostHandler> post_routes_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
};

}  // namespace sluice::admin
