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
  // Same registration (same events), new handler: a connection handed from
  // one session to the next (TLS handshake -> HTTP codec, HTTP/1 -> h2c)
  // costs no epoll_ctl. False when `fd` is not registered here.
  bool Retarget(int fd, IoHandler* handler);
  // EPOLL_CTL_DEL and forget `fd`.
  void Unregister(int fd);
  // Forgets `fd` without an epoll_ctl, for a caller about to close() its
  // only reference to it: the kernel drops an epoll registration when the
  // last reference to the open file goes. Use Unregister instead when the fd
  // may be dup'ed or otherwise kept open elsewhere (the registration would
  // outlive the close and keep reporting events).
  void ForgetBeforeClose(int fd);

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
  // Counts epoll_wait returns: a handler called on two consecutive
  // iterations knows its fd was ready again at once (a level-triggered
  // listener with more connections queued).
  uint64_t iteration() const { return iteration_; }

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
  uint64_t iteration_ = 0;

  struct TimerEntry {
    Clock::time_point due;
    TimerId id;
    bool operator>(const TimerEntry& o) const { return due > o.due || (due == o.due && id > o.id); }
  };
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<TimerEntry>> timer_heap_;
  std::unordered_map<TimerId, std::function<void()>> timers_;
  TimerId next_timer_id_ = 1;

  std::vector<std::unique_ptr<IoHandler>> graveyard_;

  // Handlers by fd. epoll carries (generation << 32 | fd) rather than the
  // handler pointer, so that a handler can be replaced without an
  // epoll_ctl (Retarget) and so that an event already fetched for an fd
  // that was closed and reused within the same batch is dropped (its
  // generation no longer matches) instead of reaching the new handler.
  struct Slot {
    IoHandler* handler = nullptr;
    uint32_t generation = 0;  // 0: not registered
  };
  std::vector<Slot> slots_;
  uint32_t next_generation_ = 0;

  std::mutex posted_mu_;
  std::vector<std::function<void()>> posted_;
  bool stop_requested_ = false;  // guarded by posted_mu_
};

}  // namespace sluice::net
