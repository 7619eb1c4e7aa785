#pragma once
// The deadlines of one worker's exchanges behind a single event-loop timer.
//
// Each exchange lives for one request and its deadline moves on most events
// (every upstream read pushes it back). An event-loop timer per exchange
// was an AddTimer and a CancelTimer per request: a hash-map node, and a heap
// entry that stayed in the loop's heap until its time came, 60 s later
// (callgrind: ~550 instructions per request). Here a watcher links itself
// into an intrusive list (no allocation), moving its deadline later costs
// nothing, and the one timer is armed for the earliest deadline known; when
// it fires, one sweep calls every watcher whose deadline passed and re-arms
// for the earliest of the rest. Touched only on the worker's thread.
#include <chrono>
#include <vector>

#include "dataplane/net/event_loop.h"

namespace sluice::proxy {

class DeadlineList;

// Something with a deadline (an Exchange).
class DeadlineWatcher {
 public:
  // The deadline passed. The watcher is no longer watched (Watch again to
  // wait for a new one). Runs from the event loop's timer.
  virtual void OnDeadline() = 0;
  bool watched() const { return list_ != nullptr; }

 protected:
  ~DeadlineWatcher() = default;  // the owner must Unwatch first

 private:
  friend class DeadlineList;
  net::Clock::time_point due_{};
  DeadlineList* list_ = nullptr;
  DeadlineWatcher* prev_ = nullptr;
  DeadlineWatcher* next_ = nullptr;
};

class DeadlineList {
 public:
  explicit DeadlineList(net::EventLoop* loop) : loop_(loop) {}
  ~DeadlineList();
  DeadlineList(const DeadlineList&) = delete;
  DeadlineList& operator=(const DeadlineList&) = delete;

  // Watches `watcher` for `due` (replacing its previous deadline, earlier or
  // later). Never early: OnDeadline runs once the loop's clock reached `due`;
  // on time, or up to 50 ms late while more than 1024 are watched (one sweep
  // then serves nearby deadlines).
  void Watch(DeadlineWatcher* watcher, net::Clock::time_point due);
  // No-op when not watched.
  void Unwatch(DeadlineWatcher* watcher);
  size_t size() const { return size_; }

 private:
  void Arm(net::Clock::time_point due);
  void Sweep();

  net::EventLoop* loop_;
  DeadlineWatcher* head_ = nullptr;
  size_t size_ = 0;
  net::EventLoop::TimerId timer_ = 0;
  net::Clock::time_point timer_due_{};
  std::vector<DeadlineWatcher*> due_;  // reused by Sweep
};

// A watcher whose deadline moves on most events (an upstream try: every
// read pushes it back). Moving it later costs nothing: the watch stays
// where it was and, when it fires early, DeadlineReached watches again for
// the moved deadline; only an earlier deadline re-schedules it.
class MovingDeadline : public DeadlineWatcher {
 protected:
  explicit MovingDeadline(DeadlineList* list) : deadlines_(list) {}
  ~MovingDeadline() { StopDeadline(); }

  void SetDeadline(net::Clock::time_point now, std::chrono::milliseconds timeout) {
    deadline_ = now + timeout;
    if (watched() && deadline_ >= watch_due_) return;
    watch_due_ = deadline_;
    deadlines_->Watch(this, deadline_);
  }
  // Later only, and without touching the list (the per-read path).
  void PushDeadline(net::Clock::time_point now, std::chrono::milliseconds timeout) { deadline_ = now + timeout; }
  // For OnDeadline: true when the deadline passed; false (watching again)
  // when it moved later meanwhile.
  bool DeadlineReached(net::Clock::time_point now) {
    if (now >= deadline_) return true;
    watch_due_ = deadline_;
    deadlines_->Watch(this, deadline_);
    return false;
  }
  void StopDeadline() { deadlines_->Unwatch(this); }

 private:
  DeadlineList* deadlines_;
  net::Clock::time_point deadline_{};
  net::Clock::time_point watch_due_{};  // what the list was told
};

}  // namespace sluice::proxy
