#pragma once
// Multiplexed HTTP/2 upstream connections (Cluster.protocol H2C, or H2 over
// a TLS transport), per worker, keyed by endpoint: one connection carries
// many exchanges' streams up to the server's SETTINGS_MAX_CONCURRENT_STREAMS;
// a new one is opened when every connection is full or has seen a GOAWAY
// (whose in-flight streams below last-stream-id still finish on it).
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "dataplane/http2/client_connection.h"
#include "dataplane/net/buffer.h"
#include "dataplane/net/event_loop.h"
#include "dataplane/net/socket.h"
#include "dataplane/net/transport.h"

namespace sluice::upstream {

class Http2Pool;

class Http2Upstream final : public net::IoHandler {
 public:
  Http2Upstream(net::EventLoop* loop, Http2Pool* pool, std::unique_ptr<net::Transport> transport,
                std::string pool_key, const http2::ClientOptions& options);
  ~Http2Upstream() override;

  http2::ClientConnection& session() { return session_; }
  bool CanOpenStream() const { return !dead_ && session_.CanOpenStream(); }
  // The TCP (and TLS) connection is up; before that, frames queue.
  bool connected() const { return connected_; }
  // Writes what the session has queued; deferred while its input is parsed.
  void Flush();
  void OnIoEvents(uint32_t events) override;

 private:
  friend class Http2Pool;
  void Read();
  void Fail(const char* why);

  net::EventLoop* loop_;
  Http2Pool* pool_;
  std::unique_ptr<net::Transport> transport_;
  std::string pool_key_;
  http2::ClientConnection session_;
  net::Buffer out_;
  bool connected_ = false;
  bool dead_ = false;
  bool end_signalled_ = false;  // epoll reported RDHUP/HUP/ERR: read until EOF
  bool in_receive_ = false;
  bool flush_again_ = false;
  net::Clock::time_point idle_since_{};
};

class Http2Pool {
 public:
  // Wraps a connected (or connecting) socket in a transport: plain TCP when
  // empty, TLS with ALPN h2 for Cluster.protocol H2.
  using TransportFactory = std::function<std::unique_ptr<net::Transport>(int fd)>;

  Http2Pool(net::EventLoop* loop, std::chrono::milliseconds idle_timeout, http2::ClientOptions options = {});
  ~Http2Pool();
  Http2Pool(const Http2Pool&) = delete;
  Http2Pool& operator=(const Http2Pool&) = delete;

  // A connection to `pool_key` with room for one more stream, opening one
  // when none has room (or always, with `fresh`). `*opened` says which.
  Result<Http2Upstream*> Acquire(const std::string& pool_key, const net::Address& address, bool fresh,
                                 const TransportFactory& make_transport, bool* opened);
  size_t connection_count() const;
  // Closes connections without streams (drain); busy ones finish first.
  void CloseIdle();

 private:
  friend class Http2Upstream;
  void Remove(Http2Upstream* connection);
  void Sweep();

  net::EventLoop* loop_;
  std::chrono::milliseconds idle_timeout_;
  http2::ClientOptions options_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Http2Upstream>>> connections_;
  net::EventLoop::TimerId sweep_timer_ = 0;
};

}  // namespace sluice::upstream
