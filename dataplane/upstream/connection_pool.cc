#include "dataplane/upstream/connection_pool.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace sluice::upstream {

// An idle connection watches its socket: any readable event while idle means
// the server closed it (or sent bytes nobody asked for), so it is dropped.
class ConnectionPool::IdleConnection : public net::IoHandler {
 public:
  IdleConnection(ConnectionPool* pool, std::string key, int fd, net::Clock::time_point since)
      : pool_(pool), key_(std::move(key)), fd_(fd), since_(since) {}
  void OnIoEvents(uint32_t events) override {
    if (fd_ < 0) return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) pool_->Remove(this);
  }
  const std::string& key() const { return key_; }
  int fd() const { return fd_; }
  int ReleaseFd() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  net::Clock::time_point since() const { return since_; }

 private:
  ConnectionPool* pool_;
  std::string key_;
  int fd_;
  net::Clock::time_point since_;
};

ConnectionPool::ConnectionPool(net::EventLoop* loop, size_t max_idle_per_endpoint, std::chrono::milliseconds idle_timeout)
    : loop_(loop), max_idle_per_endpoint_(max_idle_per_endpoint), idle_timeout_(idle_timeout) {
  sweep_timer_ = loop_->AddTimer(std::chrono::seconds(1), [this] { Sweep(); });
}

ConnectionPool::~ConnectionPool() {
  loop_->CancelTimer(sweep_timer_);
  CloseAll();
}

int ConnectionPool::TakeIdle(const std::string& endpoint_key) {
  auto it = idle_.find(endpoint_key);
  if (it == idle_.end() || it->second.empty()) return -1;
  std::unique_ptr<IdleConnection> conn = std::move(it->second.back());
  it->second.pop_back();
  --idle_total_;
  int fd = conn->ReleaseFd();
  loop_->DeleteLater(std::move(conn));  // events for it may still be queued in this batch
  return fd;
}

void ConnectionPool::Release(const std::string& endpoint_key, int fd) {
  auto& list = idle_[endpoint_key];
  if (list.size() >= max_idle_per_endpoint_) {
    loop_->Unregister(fd);
    close(fd);
    return;
  }
  auto conn = std::make_unique<IdleConnection>(this, endpoint_key, fd, loop_->now());
  loop_->Modify(fd, conn.get(), EPOLLIN | EPOLLRDHUP | EPOLLET);
  list.push_back(std::move(conn));
  ++idle_total_;
}

void ConnectionPool::Remove(IdleConnection* conn) {
  auto it = idle_.find(conn->key());
  if (it == idle_.end()) return;
  auto& list = it->second;
  auto pos = std::find_if(list.begin(), list.end(), [&](const auto& c) { return c.get() == conn; });
  if (pos == list.end()) return;
  int fd = (*pos)->ReleaseFd();
  loop_->Unregister(fd);
  close(fd);
  loop_->DeleteLater(std::move(*pos));
  list.erase(pos);
  --idle_total_;
}

void ConnectionPool::Sweep() {
  auto cutoff = loop_->now() - idle_timeout_;
  for (auto& [key, list] : idle_) {
    while (!list.empty() && list.front()->since() < cutoff) {
      int fd = list.front()->ReleaseFd();
      loop_->Unregister(fd);
      close(fd);
      loop_->DeleteLater(std::move(list.front()));
      list.pop_front();
      --idle_total_;
    }
  }
  std::erase_if(idle_, [](const auto& entry) { return entry.second.empty(); });
  sweep_timer_ = loop_->AddTimer(std::chrono::seconds(1), [this] { Sweep(); });
}

void ConnectionPool::CloseAll() {
  for (auto& [key, list] : idle_) {
    for (auto& conn : list) {
      int fd = conn->ReleaseFd();
      loop_->Unregister(fd);
      close(fd);
      loop_->DeleteLater(std::move(conn));
    }
  }
  idle_.clear();
  idle_total_ = 0;
}

}  // namespace sluice::upstream
