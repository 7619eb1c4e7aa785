#pragma once
// A deliberately tiny HTTP/1.0 responder for the controller's admin
// endpoints: one thread, one connection at a time, GET/HEAD (and POST for a
// purge, loopback peers only), the whole
// response in memory, connection closed after each response. Operators and
// probes call it a few times a minute; it is not a web server.
#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "base/status.h"

namespace sluice::controller {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called with the request path (query string stripped) on the admin thread.
// Return status 404 for unknown paths.
using AdminHandler = std::function<AdminResponse(const std::string& path)>;
// A POST (a cache purge): the path and the parameters, form-encoded (the
// query string, or the body when there is no query). Answered only for
// peers on a loopback address (kubectl port-forward or exec); others get
// 403, since the listener may be on every interface for kubelet's probes.
using AdminPostHandler = std::function<AdminResponse(const std::string& path, const std::string& form)>;

class AdminHttpServer {
 public:
  explicit AdminHttpServer(AdminHandler handler, AdminPostHandler post = nullptr);
  ~AdminHttpServer();  // Stop()
  AdminHttpServer(const AdminHttpServer&) = delete;
  AdminHttpServer& operator=(const AdminHttpServer&) = delete;

  // "host:port", "[v6]:port" or ":port" (all interfaces). Port 0 picks a
  // free one (see port()). Binds synchronously so errors come back here.
  sluice::Status Start(const std::string& listen_address);
  int port() const { return port_; }
  void Stop();

 private:
  void Serve();
  void HandleConnection(int fd, bool loopback_peer);

  AdminHandler handler_;
  AdminPostHandler post_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::thread thread_;
};

}  // namespace sluice::controller
