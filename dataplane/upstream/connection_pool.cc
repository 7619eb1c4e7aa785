#include "dataplane/upstream/connection_pool.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "dataplane/tls/tls_transport.h"

namespace sluice::upstream {

UpstreamConnection::UpstreamConnection(net::EventLoop* loop, int fd, std::string endpoint_key,
                                       std::unique_ptr<tls::TlsTransport> tls)
    : loop_(loop), fd_(fd), endpoint_key_(std::move(endpoint_key)) {
  if (tls != nullptr) {
    tls_ = tls.get();
    transport_ = std::move(tls);
  } else {
    transport_ = std::make_unique<net::PlainTransport>(fd);
    handshake_done_ = true;
  }
  loop_->Register(fd_, this, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
}

UpstreamConnection::Handshake UpstreamConnection::ContinueHandshake() {
  if (handshake_done_) return Handshake::kDone;
  switch (tls_->Handshake()) {
    case tls::TlsTransport::HandshakeResult::kDone:
      handshake_done_ = true;
      return Handshake::kDone;
    case tls::TlsTransport::HandshakeResult::kWantIo:
      return Handshake::kPending;
    case tls::TlsTransport::HandshakeResult::kFailed:
      break;
  }
  return Handshake::kFailed;
}

std::string UpstreamConnection::handshake_error() const { return tls_ != nullptr ? tls_->error() : std::string(); }

UpstreamConnection::~UpstreamConnection() { Close(); }

void UpstreamConnection::Close() {
  if (fd_ < 0) return;
  loop_->Unregister(fd_);
  close(fd_);
  fd_ = -1;
  owner_ = nullptr;
}

void UpstreamConnection::OnIoEvents(uint32_t events) {
  if (fd_ < 0) return;
  if (owner_ != nullptr) return owner_->OnIoEvents(events);
  if (idle_in_ != nullptr && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) idle_in_->OnIdleEvent(this);
}

ConnectionPool::ConnectionPool(net::EventLoop* loop, size_t max_idle_per_endpoint, std::chrono::milliseconds idle_timeout)
    : loop_(loop), max_idle_per_endpoint_(max_idle_per_endpoint), idle_timeout_(idle_timeout) {
  sweep_timer_ = loop_->AddTimer(std::chrono::seconds(1), [this] { Sweep(); });
}

ConnectionPool::~ConnectionPool() {
  loop_->CancelTimer(sweep_timer_);
  CloseAll();
}

ConnectionPool::IdleList* ConnectionPool::ListFor(const std::string& endpoint_key, bool create) {
  if (last_list_ != nullptr && *last_key_ == endpoint_key) return last_list_;
  auto it = create ? idle_.try_emplace(endpoint_key).first : idle_.find(endpoint_key);
  if (it == idle_.end()) return nullptr;
  last_key_ = &it->first;
  last_list_ = &it->second;
  return last_list_;
}

std::unique_ptr<UpstreamConnection> ConnectionPool::TakeIdle(const std::string& endpoint_key) {
  IdleList* list = ListFor(endpoint_key, /*create=*/false);
  if (list == nullptr || list->empty()) return nullptr;
  std::unique_ptr<UpstreamConnection> connection = std::move(list->back());
  list->pop_back();
  --idle_total_;
  connection->idle_in_ = nullptr;
  return connection;
}

void ConnectionPool::Release(std::unique_ptr<UpstreamConnection> connection) {
  connection->owner_ = nullptr;
  IdleList& list = *ListFor(connection->endpoint_key(), /*create=*/true);
  if (list.size() >= max_idle_per_endpoint_ || connection->fd() < 0) return Discard(std::move(connection));
  connection->idle_in_ = this;
  connection->idle_since_ = loop_->now();
  list.push_back(std::move(connection));
  ++idle_total_;
}

void ConnectionPool::Discard(std::unique_ptr<UpstreamConnection> connection) {
  if (connection == nullptr) return;
  connection->idle_in_ = nullptr;
  connection->Close();
  loop_->DeleteLater(std::move(connection));  // events for it may still be queued in this batch
}

void ConnectionPool::OnIdleEvent(UpstreamConnection* connection) {
  auto it = idle_.find(connection->endpoint_key());
  if (it == idle_.end()) return;
  auto& list = it->second;
  auto pos = std::find_if(list.begin(), list.end(), [&](const auto& c) { return c.get() == connection; });
  if (pos == list.end()) return;
  std::unique_ptr<UpstreamConnection> dropped = std::move(*pos);
  list.erase(pos);
  --idle_total_;
  Discard(std::move(dropped));
}

void ConnectionPool::Sweep() {
  auto cutoff = loop_->now() - idle_timeout_;
  for (auto& [key, list] : idle_) {
    while (!list.empty() && list.front()->idle_since_ < cutoff) {
      std::unique_ptr<UpstreamConnection> expired = std::move(list.front());
      list.pop_front();
      --idle_total_;
      Discard(std::move(expired));
    }
  }
  std::erase_if(idle_, [](const auto& entry) { return entry.second.empty(); });
  last_key_ = nullptr;
  last_list_ = nullptr;
  sweep_timer_ = loop_->AddTimer(std::chrono::seconds(1), [this] { Sweep(); });
}

void ConnectionPool::CloseAll() {
  for (auto& [key, list] : idle_) {
    for (auto& connection : list) Discard(std::move(connection));
  }
  idle_.clear();
  last_key_ = nullptr;
  last_list_ = nullptr;
  idle_total_ = 0;
}

}  // namespace sluice::upstream
