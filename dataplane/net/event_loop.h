#pragma once
// One epoll event loop per worker thread. Sockets register an IoHandler;
// timers are one-shot; Post() is the only thread-safe entry point (used for
// snapshot swaps and shutdown, never per request).
#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <unordered_map>
#include <vector>

namespace sluice::net {

using Clock = std::chrono::steady_clock;

class IoHandler {
 public:
  virtual ~IoHandler() = default;
  // `events` is a mask of EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP / EPOLLRDHUP.
  virtual void OnIoEvents(uint32_t events) = 0;
};

class EventLoop {
 public:
  using TimerId = uint64_t;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Edge-triggered registration for reading and writing: handlers read and
  // write until EAGAIN.
  bool Register(int fd, IoHandler* handler, uint32_t events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  bool Modify(int fd, IoHandler* handler, uint32_t events);
  void Unregister(int fd);

  // Runs `fn` once after `delay` on this loop. Returns an id for CancelTimer.
  TimerId AddTimer(std::chrono::milliseconds delay, std::function<void()> fn);
  void CancelTimer(TimerId id);

  // Destroys `object` after the current batch of events, so that a handler
  // may close itself while other events for it are still queued.
  void DeleteLater(std::unique_ptr<IoHandler> object);

  // Thread-safe: runs `fn` on the loop thread soon.
  void Post(std::function<void()> fn);

  // Runs until Stop(). Must be called on the loop's own thread.
  void Run();
  // Thread-safe.
  void Stop();

  // Cached once per loop iteration: cheap "now" for timeouts.
  Clock::time_point now() const { return now_; }

 private:
  class Wakeup;
  void RunDueTimers();
  void RunPosted();
  int NextTimeoutMs() const;

  int epoll_fd_ = -1;
  int event_fd_ = -1;
  std::unique_ptr<Wakeup> wakeup_;
  bool stopping_ = false;
  Clock::time_point now_ = Clock::now();

  struct TimerEntry {
    Clock::time_point due;
    TimerId id;
    bool operator>(const TimerEntry& o) const { return due > o.due || (due == o.due && id > o.id); }
  };
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<TimerEntry>> timer_heap_;
  std::unordered_map<TimerId, std::function<void()>> timers_;
  TimerId next_timer_id_ = 1;

  std::vector<std::unique_ptr<IoHandler>> graveyard_;

  std::mutex posted_mu_;
  std::vector<std::function<void()>> posted_;
  bool stop_requested_ = false;  // guarded by posted_mu_
};

}  // namespace sluice::net
