#pragma once
// Test-only scriptable origin on 127.0.0.1, for proxy tests that need a
// misbehaving backend or proof of what was (or was not) forwarded. It
// records every byte received on each connection and whether and when the
// peer (the proxy) closed it, and answers each request head with bytes the
// test chooses. It does not parse HTTP beyond finding request heads and
// skipping Content-Length / chunked bodies between them. Every wait is
// bounded; the destructor stops all threads.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sluice::testing {

class FakeUpstream {
 public:
  struct Request {
    size_t connection = 0;  // connection index, in accept order
    size_t index = 0;       // request index on that connection
    std::string head;       // the request head, final CRLFCRLF included
    // The request target: "/x?y" of "GET /x?y HTTP/1.1".
    std::string target() const { return TargetOf(head); }
  };
  struct Reply {
    std::string bytes;   // sent as is; empty: say nothing
    bool close = false;  // then close our side (no more recording on it)
    // With close: the bytes and the FIN leave in one TCP segment (TCP_CORK
    // until the close), so the proxy's one wakeup finds both the data and
    // the end of stream, as it does from a fast origin on a busy machine.
    bool fin_with_data = false;
    // After `bytes` went out (and unless `close`): the rest of the answer,
    // called on the connection's thread, where it may block (bounded) until
    // the test lets it go on: a response that pauses mid-body.
    std::function<Reply()> then;
  };
  using Script = std::function<Reply(const Request&)>;

  // The request target of a raw request head ("/x?y" of "GET /x?y HTTP/1.1...").
  static std::string TargetOf(std::string_view head);

  // Canned scripts.
  // A complete 200 response with `body` and extra header lines ("A: b\r\n").
  static std::string OkResponse(std::string_view body = "ok", std::string_view extra_headers = "");
  // Every request gets `bytes`.
  static Script Always(std::string bytes, bool close = false);
  // Never answers: the proxy waits until it gives up or the client goes away.
  static Script Silent();

  explicit FakeUpstream(Script script);
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  int port() const { return port_; }
  size_t connection_count() const;
  size_t request_count() const;  // request heads seen, all connections
  std::vector<std::string> request_heads() const;
  // The heads, in order, whose request line starts with `method_and_target`
  // ("GET /x": the target exactly, not one it is a prefix of), and their count.
  std::vector<std::string> request_heads_for(const std::string& method_and_target) const;
  size_t requests_for(const std::string& method_and_target) const;
  std::string received(size_t connection) const;  // "" when there is no such connection
  std::string all_received() const;                // every connection's bytes, in accept order
  bool peer_closed(size_t connection) const;       // the proxy closed (EOF or reset)
  std::optional<std::chrono::steady_clock::time_point> peer_closed_at(size_t connection) const;

  bool WaitForConnections(size_t n, std::chrono::milliseconds timeout) const;
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;
  bool WaitForPeerClose(size_t connection, std::chrono::milliseconds timeout) const;
  // Every connection accepted so far was closed by the proxy.
  bool WaitForAllPeerClosed(std::chrono::milliseconds timeout) const;
  bool WaitForReceived(size_t connection, std::string_view needle, std::chrono::milliseconds timeout) const;

 private:
  struct Connection {
    int fd = -1;
    std::string received;
    bool peer_closed = false;
    std::chrono::steady_clock::time_point closed_at{};
    // Framing cursor: where the next head starts and how much body to skip.
    size_t next_head = 0;
    uint64_t body_left = 0;
    bool in_chunked_body = false;
    size_t requests = 0;
    std::thread thread;
  };

  void AcceptLoop();
  void Serve(size_t index);
  // Finds complete heads past the connection's cursor (called locked).
  std::vector<Request> TakeRequests(size_t index);
  template <typename Pred>
  bool WaitFor(std::chrono::milliseconds timeout, Pred pred) const;

  Script script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<std::string> heads_;
  std::thread accept_thread_;
};

}  // namespace sluice::testing
