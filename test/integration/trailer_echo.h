#pragma once
// Test origins on 127.0.0.1 that answer each request with what arrived
// after its head: "body <bytes>\n" and then every request trailer as a
// "name: value\n" line, so a test through the proxy can see which trailers
// the proxy forwarded. One speaks HTTP/1.1 (trailers only exist there in a
// chunked body), one h2c with prior knowledge (trailers are a trailing
// HEADERS frame). nghttpd cannot do this: it never shows request trailers.
// Thread per connection, blocking sockets; every wait is bounded and the
// destructor stops all threads.
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice::testing {

class TrailerEchoOrigin {
 public:
  enum class Protocol { kHttp1, kH2c };
  explicit TrailerEchoOrigin(Protocol protocol);
  ~TrailerEchoOrigin();
  TrailerEchoOrigin(const TrailerEchoOrigin&) = delete;
  TrailerEchoOrigin& operator=(const TrailerEchoOrigin&) = delete;

  int port() const { return port_; }

 private:
  void AcceptLoop();
  void ServeHttp1(int fd);
  void ServeH2c(int fd);

  Protocol protocol_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> connections_;
};

}  // namespace sluice::testing
