#include "dataplane/net/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace sluice::net {

class EventLoop::Wakeup : public IoHandler {
 public:
  explicit Wakeup(EventLoop* loop) : loop_(loop) {}
  void OnIoEvents(uint32_t) override {
    uint64_t value;
    while (read(loop_->event_fd_, &value, sizeof value) > 0) {
    }
    loop_->RunPosted();
  }

 private:
  EventLoop* loop_;
};

EventLoop::EventLoop() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || event_fd_ < 0) {
    perror("sluice: epoll/eventfd");
    std::abort();  // nothing can run without them
  }
  wakeup_ = std::make_unique<Wakeup>(this);
  Register(event_fd_, wakeup_.get(), EPOLLIN | EPOLLET);
}

EventLoop::~EventLoop() {
  graveyard_.clear();
  close(event_fd_);
  close(epoll_fd_);
}

namespace {

uint64_t Token(int fd, uint32_t generation) { return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd); }

}  // namespace

bool EventLoop::Register(int fd, IoHandler* handler, uint32_t events) {
  if (fd < 0) return false;
  if (static_cast<size_t>(fd) >= slots_.size()) slots_.resize(std::max<size_t>(fd + 1, slots_.size() * 2));
  if (++next_generation_ == 0) ++next_generation_;  // 0 means "not registered"
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = Token(fd, next_generation_);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  slots_[fd] = Slot{handler, next_generation_};
  return true;
}

bool EventLoop::Modify(int fd, IoHandler* handler, uint32_t events) {
  if (fd < 0 || static_cast<size_t>(fd) >= slots_.size() || slots_[fd].generation == 0) return false;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = Token(fd, slots_[fd].generation);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) return false;
  slots_[fd].handler = handler;
  return true;
}

bool EventLoop::Retarget(int fd, IoHandler* handler) {
  if (fd < 0 || static_cast<size_t>(fd) >= slots_.size() || slots_[fd].generation == 0) return false;
  slots_[fd].handler = handler;
  return true;
}

void EventLoop::Unregister(int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ForgetBeforeClose(fd);
}

void EventLoop::ForgetBeforeClose(int fd) {
  if (fd >= 0 && static_cast<size_t>(fd) < slots_.size()) slots_[fd] = Slot{};
}

EventLoop::TimerId EventLoop::AddTimer(std::chrono::milliseconds delay, std::function<void()> fn) {
  TimerId id = next_timer_id_++;
  timer_heap_.push({Clock::now() + delay, id});
  timers_.emplace(id, std::move(fn));
  return id;
}

void EventLoop::CancelTimer(TimerId id) { timers_.erase(id); }

void EventLoop::DeleteLater(std::unique_ptr<IoHandler> object) { graveyard_.push_back(std::move(object)); }

void EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  (void)!write(event_fd_, &one, sizeof one);
}

void EventLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    stop_requested_ = true;
  }
  uint64_t one = 1;
  (void)!write(event_fd_, &one, sizeof one);
}

void EventLoop::RunPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    batch.swap(posted_);
    if (stop_requested_) stopping_ = true;
  }
  for (auto& fn : batch) fn();
}

int EventLoop::NextTimeoutMs() const {
  if (timer_heap_.empty()) return 1000;
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(timer_heap_.top().due - Clock::now()).count();
  if (wait < 0) return 0;
  return wait > 1000 ? 1000 : static_cast<int>(wait) + 1;
}

void EventLoop::RunDueTimers() {
  while (!timer_heap_.empty() && timer_heap_.top().due <= now_) {
    TimerId id = timer_heap_.top().id;
    timer_heap_.pop();
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled
    auto fn = std::move(it->second);
    timers_.erase(it);
    fn();
  }
}

void EventLoop::Run() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (!stopping_) {
    int n = epoll_wait(epoll_fd_, events, kMaxEvents, NextTimeoutMs());
    now_ = Clock::now();
    ++iteration_;
    if (n < 0 && errno != EINTR) {
      perror("sluice: epoll_wait");
      std::abort();
    }
    for (int i = 0; i < n; ++i) {
      uint64_t token = events[i].data.u64;
      auto fd = static_cast<uint32_t>(token);
      if (fd >= slots_.size()) continue;
      const Slot& slot = slots_[fd];
      // A stale event: the fd was closed (and perhaps reused) earlier in this batch.
      if (slot.generation != static_cast<uint32_t>(token >> 32) || slot.handler == nullptr) continue;
      slot.handler->OnIoEvents(events[i].events);
    }
    RunDueTimers();
    graveyard_.clear();
  }
  RunPosted();
  graveyard_.clear();
}

}  // namespace sluice::net
