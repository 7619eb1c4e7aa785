#pragma once
// Blocking filesystem work off the event loops, as nginx's thread pools:
// a few threads per process taking jobs from one bounded queue. A stage
// reaches it through its worker's IoOffload (ExchangeState::io), which
// runs the job's `done` back on that worker's loop (EventLoop::Post), so a
// stage never sees another thread: it pauses, and resumes in `done`.
//
// What uses it: the static stage's opens and stats of directory-site
// files the worker's open-file cache does not hold fresh (static_stage.h),
// the one read of a small file kept whole in that cache (at most
// --open-file-cache-inline-bytes: answered from memory afterwards),
// the cache's disk hits (open and head read: cache_disk_lookup.h), and
// the read-in of file body ranges not in the page cache before the loop
// sends them (FileBodySource, given the pool by OffloadReadsTo;
// dataplane/fs/page_cache.h).
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice::pipeline {

// A worker's way to the pool.
class IoOffload {
 public:
  virtual ~IoOffload() = default;
  // Runs `work` on an I/O thread, then `done` on the worker's loop (never
  // inside Submit). False when the queue is full: nothing runs, the caller
  // does the work itself.
  virtual bool Submit(std::function<void()> work, std::function<void()> done) = 0;
};

class IoPool {
 public:
  IoPool(size_t threads, size_t max_queued);
  ~IoPool();  // runs what is queued, then joins
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;
  // False when `max_queued` jobs wait already.
  bool Submit(std::function<void()> job);

  // The process's pool (the proxy starts it before its workers), or null.
  static IoPool* Process();
  static void StartProcessPool(size_t threads, size_t max_queued);

 private:
  void Run();
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  size_t max_queued_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sluice::pipeline
