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

class AdminServer {
 public:
  explicit AdminServer(net::EventLoop* loop);
  ~AdminServer();
  Status Listen(const net::Address& address);
  int port() const;
  void Route(std::string path, AdminHandler handler);

 private:
  class Listener;
  class Connection;
  void Accept();
  void Handle(Connection* connection, const http::RequestHead& head);
  void Closed(Connection* connection);

  net::EventLoop* loop_;
  int listen_fd_ = -1;
  std::unique_ptr<Listener> listener_;
  std::unordered_map<std::string, AdminHandler> routes_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
};

}  // namespace sluice::admin
