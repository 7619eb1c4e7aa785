#include "dataplane/upstream/http2_pool.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "dataplane/http2/server_connection.h"  // error codes

namespace sluice::upstream {
namespace {

constexpr size_t kOutputBatch = 64 * 1024;
constexpr size_t kReadChunk = 32 * 1024;
thread_local char read_buffer[kReadChunk];  // handed to nghttp2 before the next read

}  // namespace

Http2Upstream::Http2Upstream(net::EventLoop* loop, Http2Pool* pool, std::unique_ptr<net::Transport> transport,
                             std::string pool_key, const http2::ClientOptions& options)
    : loop_(loop), pool_(pool), transport_(std::move(transport)), pool_key_(std::move(pool_key)), session_(options) {
  session_.Start();
  loop_->Register(transport_->fd(), this, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
}

Http2Upstream::~Http2Upstream() {
  if (transport_ != nullptr && transport_->fd() >= 0 && !dead_) {
    loop_->Unregister(transport_->fd());
    close(transport_->fd());
  }
}

void Http2Upstream::OnIoEvents(uint32_t events) {
  if (dead_) return;
  if (!connected_) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (net::PendingSocketError(transport_->fd()) != 0) return Fail("upstream connect failed");
    connected_ = true;
  }
  if (events & EPOLLOUT) Flush();
  if (dead_) return;
  // The FIN (or an error) came with these events: a short read is no longer
  // "drained", as no further edge will report the end of stream.
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) end_signalled_ = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) Read();
}

void Http2Upstream::Read() {
  while (!dead_) {
    ssize_t n = transport_->Read(read_buffer, sizeof read_buffer);
    if (n > 0) {
      in_receive_ = true;
      Status received = session_.Receive(std::string_view(read_buffer, static_cast<size_t>(n)));
      in_receive_ = false;
      if (!received.ok()) return Fail("upstream HTTP/2 protocol error");
      if (static_cast<size_t>(n) < sizeof read_buffer && !end_signalled_ && transport_->drained_after_short_read()) {
        break;
      }
      continue;
    }
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0 && errno == EINTR) continue;
    return Fail(n == 0 ? "upstream closed the connection" : "upstream connection reset");
  }
  Flush();  // window updates and anything the callbacks submitted
  if (!dead_ && !session_.Alive()) pool_->Remove(this);  // GOAWAY and every stream done
}

void Http2Upstream::Flush() {
  if (dead_) return;
  if (in_receive_) {
    flush_again_ = true;
    return;
  }
  if (!connected_) return;  // the connect's EPOLLOUT writes the queue
  do {
    flush_again_ = false;
    if (out_.size() < kOutputBatch && !session_.SendPending(out_, kOutputBatch).ok()) {
      return Fail("upstream HTTP/2 session failed");
    }
    while (!out_.empty()) {
      std::string_view pending = out_.view();
      ssize_t n = transport_->Write(pending.data(), pending.size());
      if (n > 0) {
        out_.Consume(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EAGAIN) return;
      if (n < 0 && errno == EINTR) continue;
      return Fail("upstream write failed");
    }
  } while (flush_again_ || session_.WantsWrite());
  out_.ShrinkIfEmpty();
}

void Http2Upstream::Fail(const char* /*why*/) {
  if (dead_) return;
  dead_ = true;
  session_.FailAllStreams(http2::kInternalError);  // every exchange on it hears about it
  pool_->Remove(this);
}

Http2Pool::Http2Pool(net::EventLoop* loop, std::chrono::milliseconds idle_timeout, http2::ClientOptions options)
    : loop_(loop), idle_timeout_(idle_timeout), options_(options) {
  sweep_timer_ = loop_->AddTimer(std::chrono::seconds(1), [this] { Sweep(); });
}

Http2Pool::~Http2Pool() {
  loop_->CancelTimer(sweep_timer_);
  for (auto& [key, list] : connections_) {
    for (auto& connection : list) {
      connection->dead_ = true;  // the worker is going away: no callbacks into exchanges now
      loop_->Unregister(connection->transport_->fd());
      close(connection->transport_->fd());
    }
  }
}

Result<Http2Upstream*> Http2Pool::Acquire(const std::string& pool_key, const net::Address& address, bool fresh,
                                          const TransportFactory& make_transport, bool* opened) {
  *opened = false;
  auto& list = connections_[pool_key];
  if (!fresh) {
    for (auto& connection : list) {
      if (connection->CanOpenStream()) {
        connection->idle_since_ = {};
        return connection.get();
      }
    }
  }
  auto fd = net::ConnectNonBlocking(address);
  if (!fd.ok()) return fd.status();
  net::SetTcpNoDelay(*fd);
  std::unique_ptr<net::Transport> transport =
      make_transport ? make_transport(*fd) : std::make_unique<net::PlainTransport>(*fd);
  if (transport == nullptr) {
    close(*fd);
    return Status::Error("cannot create the upstream transport");
  }
  list.push_back(std::make_unique<Http2Upstream>(loop_, this, std::move(transport), pool_key, options_));
  *opened = true;
  return list.back().get();
}

size_t Http2Pool::connection_count() const {
  size_t n = 0;
  for (const auto& [key, list] : connections_) n += list.size();
  return n;
}

void Http2Pool::Remove(Http2Upstream* connection) {
  auto it = connections_.find(connection->pool_key_);
  if (it == connections_.end()) return;
  auto& list = it->second;
  auto pos = std::find_if(list.begin(), list.end(), [&](const auto& c) { return c.get() == connection; });
  if (pos == list.end()) return;
  std::unique_ptr<Http2Upstream> removed = std::move(*pos);
  list.erase(pos);
  int fd = removed->transport_->fd();
  if (fd >= 0) {
    loop_->Unregister(fd);
    removed->transport_->ShutdownWrite();
    close(fd);
  }
  if (!removed->dead_) {
    removed->dead_ = true;
    removed->session_.FailAllStreams(http2::kInternalError);
  }
  loop_->DeleteLater(std::move(removed));  // we may be inside one of its callbacks
}

void Http2Pool::Sweep() {
  auto now = loop_->now();
  std::vector<Http2Upstream*> expired;
  for (auto& [key, list] : connections_) {
    for (auto& connection : list) {
      if (connection->session_.open_streams() != 0) {
        connection->idle_since_ = {};
        continue;
      }
      if (connection->idle_since_ == net::Clock::time_point{}) {
        connection->idle_since_ = now;
      } else if (now - connection->idle_since_ >= idle_timeout_ || connection->session_.goaway_received()) {
        expired.push_back(connection.get());
      }
    }
  }
  for (Http2Upstream* connection : expired) Remove(connection);
  std::erase_if(connections_, [](const auto& entry) { return entry.second.empty(); });
  sweep_timer_ = loop_->AddTimer(std::chrono::seconds(1), [this] { Sweep(); });
}

void Http2Pool::CloseIdle() {
  std::vector<Http2Upstream*> idle;
  for (auto& [key, list] : connections_) {
    for (auto& connection : list) {
      if (connection->session_.open_streams() == 0) idle.push_back(connection.get());
    }
  }
  for (Http2Upstream* connection : idle) Remove(connection);
}

}  // namespace sluice::upstream
