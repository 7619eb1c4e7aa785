#pragma once
// Per-worker pool of idle keep-alive connections to upstream endpoints,
// keyed by the endpoint's stable name ("ip:port"), so it survives snapshot
// swaps that keep the endpoint. Only connections whose previous response was
// read completely are released into it (the caller's duty).
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "dataplane/net/event_loop.h"

namespace sluice::upstream {

class ConnectionPool {
 public:
  ConnectionPool(net::EventLoop* loop, size_t max_idle_per_endpoint, std::chrono::milliseconds idle_timeout);
  ~ConnectionPool();

  // The most recently used idle connection to `endpoint_key`, or -1. The fd
  // stays registered in the loop; the caller re-points it with Modify().
  int TakeIdle(const std::string& endpoint_key);
  // Parks a healthy keep-alive connection. Closes it when the endpoint's idle
  // list is full.
  void Release(const std::string& endpoint_key, int fd);
  size_t idle_count() const { return idle_total_; }
  void CloseAll();

 private:
  class IdleConnection;
  void Sweep();
  void Remove(IdleConnection* conn);

  net::EventLoop* loop_;
  size_t max_idle_per_endpoint_;
  std::chrono::milliseconds idle_timeout_;
  std::unordered_map<std::string, std::deque<std::unique_ptr<IdleConnection>>> idle_;
  size_t idle_total_ = 0;
  net::EventLoop::TimerId sweep_timer_ = 0;
};

}  // namespace sluice::upstream
