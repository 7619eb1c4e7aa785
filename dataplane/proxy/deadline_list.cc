#include "dataplane/proxy/deadline_list.h"

#include <algorithm>

namespace sluice::proxy {
namespace {

constexpr size_t kCoalesceAbove = 1024;
constexpr std::chrono::milliseconds kCoalesce(50);

}  // namespace

DeadlineList::~DeadlineList() {
  if (timer_ != 0) loop_->CancelTimer(timer_);
  while (head_ != nullptr) Unwatch(head_);
}

void DeadlineList::Watch(DeadlineWatcher* watcher, net::Clock::time_point due) {
  watcher->due_ = due;
  if (watcher->list_ == nullptr) {
    watcher->list_ = this;
    watcher->prev_ = nullptr;
    watcher->next_ = head_;
    if (head_ != nullptr) head_->prev_ = watcher;
    head_ = watcher;
    ++size_;
  }
  // A later deadline waits for the sweep at the armed time; only an earlier
  // one moves the timer.
  if (timer_ == 0 || due < timer_due_) Arm(due);
}

void DeadlineList::Unwatch(DeadlineWatcher* watcher) {
  if (watcher->list_ != this) return;
  if (watcher->prev_ != nullptr) watcher->prev_->next_ = watcher->next_;
  if (watcher->next_ != nullptr) watcher->next_->prev_ = watcher->prev_;
  if (head_ == watcher) head_ = watcher->next_;
  watcher->prev_ = watcher->next_ = nullptr;
  watcher->list_ = nullptr;
  --size_;
  // The timer stays armed even when the list empties: it fires once, finds
  // nothing, and is not re-armed (cheaper than a cancel per request).
}

void DeadlineList::Arm(net::Clock::time_point due) {
  if (timer_ != 0) loop_->CancelTimer(timer_);
  // Rounded up: the loop's timer must not fire before `due`.
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(due - loop_->now());
  if (delay.count() < 0) delay = std::chrono::milliseconds(0);
  timer_due_ = due;
  timer_ = loop_->AddTimer(delay, [this] {
    timer_ = 0;
    Sweep();
  });
}

void DeadlineList::Sweep() {
  const net::Clock::time_point now = loop_->now();
  due_.clear();
  bool have_next = false;
  net::Clock::time_point next{};
  for (DeadlineWatcher* w = head_; w != nullptr;) {
    DeadlineWatcher* following = w->next_;
    if (w->due_ <= now) {
      Unwatch(w);
      due_.push_back(w);
    } else if (!have_next || w->due_ < next) {
      next = w->due_;
      have_next = true;
    }
    w = following;
  }
  // A sweep visits every watcher: with many long-lived ones (tunnels, long
  // polls) whose deadlines keep moving, sweeping for each would cost
  // watchers^2; then deadlines within kCoalesce are served by one sweep, at
  // most that late.
  if (have_next && size_ > kCoalesceAbove) next = std::max(next, now + kCoalesce);
  if (have_next) Arm(next);
  // Called after the sweep, from a copy: a callback may watch or unwatch any
  // watcher (itself again, with a new deadline). Watchers are freed only at
  // the end of the loop turn (EventLoop::DeleteLater), so all are alive here.
  std::vector<DeadlineWatcher*> fired;
  fired.swap(due_);
  for (DeadlineWatcher* w : fired) {
    if (w->list_ == nullptr) w->OnDeadline();  // unless a callback before it watched it again
  }
  fired.clear();
  if (due_.capacity() < fired.capacity()) due_.swap(fired);  // keep the capacity for the next sweep
}

}  // namespace sluice::proxy
