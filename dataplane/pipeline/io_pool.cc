#include "dataplane/pipeline/io_pool.h"

#include <atomic>

namespace sluice::pipeline {
namespace {
std::atomic<IoPool*> process_pool{nullptr};
}  // namespace

IoPool::IoPool(size_t threads, size_t max_queued) : max_queued_(max_queued == 0 ? 1 : max_queued) {
  for (size_t i = 0; i < (threads == 0 ? 1 : threads); ++i) threads_.emplace_back([this] { Run(); });
}

IoPool::~IoPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

bool IoPool::Submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(job));
  }
  ready_.notify_one();
  return true;
}

void IoPool::Run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

IoPool* IoPool::Process() { return process_pool.load(std::memory_order_acquire); }

void IoPool::StartProcessPool(size_t threads, size_t max_queued) {
  // Lives as long as the process (workers may hand it jobs until they stop).
  if (Process() == nullptr) process_pool.store(new IoPool(threads, max_queued), std::memory_order_release);
}

}  // namespace sluice::pipeline
