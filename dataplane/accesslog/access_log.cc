#include "dataplane/accesslog/access_log.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "dataplane/common/log.h"

namespace sluice::accesslog {
namespace {

// Room for one more typical line past kHandOverBytes, so a worker's buffer is
// allocated once and then only recycled.
constexpr size_t kBufferReserve = AccessLog::kHandOverBytes + 4096;
// Written-out buffers kept for reuse, and the largest one worth keeping (one
// huge line should not pin a huge allocation forever).
constexpr size_t kMaxSpareBuffers = 64;
constexpr size_t kMaxSpareCapacity = 4 * kBufferReserve;
constexpr int kMaxIovecs = IOV_MAX < 256 ? IOV_MAX : 256;

struct Chunk {
  std::string text;  // whole lines only
  uint64_t lines = 0;
};

}  // namespace

struct AccessLog::State {
  int fd = 1;
  bool owns_fd = false;
  size_t max_pending_bytes = 0;
  std::chrono::milliseconds flush_interval{};

  std::mutex mu;
  std::condition_variable wake;
  // Guarded by mu.
  std::vector<Chunk> pending;
  size_t pending_bytes = 0;  // handed over and not yet written (incl. in flight)
  std::vector<std::string> spare;
  bool stopping = false;
  bool closed = false;  // writer thread finished: hand-overs are dropped

  std::atomic<uint64_t> dropped_lines{0};
  std::atomic<uint64_t> written_lines{0};
  std::thread thread;

  // Writer-thread only.
  bool broke_a_line = false;  // a failed write left half a line in the output
  bool failing = false;       // to log a write error once, not per batch

  void Run();
  void WriteBatch(std::vector<Chunk>& batch);
  void DropFrom(const std::vector<Chunk>& batch, size_t index, bool partially_written, int error);
};

void AccessLog::State::Run() {
  std::vector<Chunk> batch;
  batch.reserve(64);
  std::unique_lock lock(mu);
  for (;;) {
    wake.wait(lock, [this] { return stopping || !pending.empty(); });
    if (pending.empty()) break;  // stopping, and everything handed over is written
    batch.swap(pending);
    lock.unlock();
    size_t bytes = 0;
    for (const Chunk& chunk : batch) bytes += chunk.text.size();
    WriteBatch(batch);
    lock.lock();
    pending_bytes -= bytes;
    for (Chunk& chunk : batch) {
      if (spare.size() < kMaxSpareBuffers && chunk.text.capacity() <= kMaxSpareCapacity) {
        chunk.text.clear();
        spare.push_back(std::move(chunk.text));
      }
    }
    batch.clear();
  }
  closed = true;
}

// One writev(2) per up to kMaxIovecs buffers, resuming after partial writes.
void AccessLog::State::WriteBatch(std::vector<Chunk>& batch) {
  static const char kNewline = '\n';
  size_t index = 0;   // first chunk not completely written
  size_t offset = 0;  // bytes of batch[index] already written
  while (index < batch.size()) {
    iovec iov[kMaxIovecs];
    int count = 0;
    if (broke_a_line) iov[count++] = {const_cast<char*>(&kNewline), 1};
    for (size_t i = index; i < batch.size() && count < kMaxIovecs; ++i) {
      const size_t skip = i == index ? offset : 0;
      iov[count++] = {batch[i].text.data() + skip, batch[i].text.size() - skip};
    }
    ssize_t written = ::writev(fd, iov, count);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The caller gave us a non-blocking fd: wait here, on our own thread.
      pollfd waiting{fd, POLLOUT, 0};
      (void)::poll(&waiting, 1, -1);
      continue;
    }
    if (written <= 0) {
      DropFrom(batch, index, offset > 0, written < 0 ? errno : EIO);
      return;
    }
    if (failing) {
      failing = false;
      log::Info("access log output writable again");
    }
    auto left = static_cast<size_t>(written);
    if (broke_a_line) {
      broke_a_line = false;
      --left;
    }
    while (left > 0) {
      const size_t remaining = batch[index].text.size() - offset;
      if (left < remaining) {
        offset += left;
        break;
      }
      left -= remaining;
      written_lines.fetch_add(batch[index].lines, std::memory_order_relaxed);
      ++index;
      offset = 0;
    }
  }
}

void AccessLog::State::DropFrom(const std::vector<Chunk>& batch, size_t index, bool partially_written, int error) {
  uint64_t lost = 0;
  for (size_t i = index; i < batch.size(); ++i) lost += batch[i].lines;
  dropped_lines.fetch_add(lost, std::memory_order_relaxed);
  // End the half-written line before the next successful write, so that one
  // broken line does not corrupt the next.
  if (partially_written) broke_a_line = true;
  if (!failing) {
    failing = true;
    log::Error("access log write failed; dropping lines until it recovers",
               {{"error", std::strerror(error)}, {"fd", std::to_string(fd)}});
  }
}

AccessLog::AccessLog(Options options) : AccessLog(options, /*owns_fd=*/false) {}

AccessLog::AccessLog(Options options, bool owns_fd) : state_(std::make_shared<State>()) {
  state_->fd = options.fd;
  state_->owns_fd = owns_fd;
  state_->max_pending_bytes = options.max_pending_bytes;
  state_->flush_interval = options.flush_interval;
  state_->pending.reserve(64);
  // The writer thread blocks every signal: process signals (SIGTERM, SIGHUP)
  // belong to the main thread, and a closed pipe must give the writer EPIPE
  // (counted as drops) instead of a process-killing SIGPIPE.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  State* state = state_.get();
  state_->thread = std::thread([state] { state->Run(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

Result<std::unique_ptr<AccessLog>> AccessLog::OpenFile(const std::string& path, Options options) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error("cannot open access log " + path + ": " + std::strerror(errno));
  options.fd = fd;
  return std::unique_ptr<AccessLog>(new AccessLog(options, /*owns_fd=*/true));
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->wake.notify_one();
  state_->thread.join();
  if (state_->owns_fd) ::close(state_->fd);
}

std::unique_ptr<AccessLog::Writer> AccessLog::NewWriter() { return std::unique_ptr<Writer>(new Writer(state_)); }

uint64_t AccessLog::dropped_lines() const { return state_->dropped_lines.load(std::memory_order_relaxed); }
uint64_t AccessLog::written_lines() const { return state_->written_lines.load(std::memory_order_relaxed); }
std::chrono::milliseconds AccessLog::flush_interval() const { return state_->flush_interval; }

AccessLog::Writer::Writer(std::shared_ptr<State> state) : state_(std::move(state)) { buffer_.reserve(kBufferReserve); }

AccessLog::Writer::~Writer() { Flush(); }

void AccessLog::Writer::Log(const Entry& entry) {
  AppendJsonLine(entry, buffer_);
  ++buffered_lines_;
  if (buffer_.size() >= kHandOverBytes) Flush();
}

void AccessLog::Writer::Flush() {
  if (buffered_lines_ == 0) return;
  State& state = *state_;
  std::string recycled;
  bool accepted = false;
  {
    std::lock_guard lock(state.mu);
    // An idle writer thread always takes the buffer, so a single line bigger
    // than max_pending_bytes is still written.
    accepted = !state.closed &&
               (state.pending_bytes == 0 || state.pending_bytes + buffer_.size() <= state.max_pending_bytes);
    if (accepted) {
      state.pending_bytes += buffer_.size();
      state.pending.push_back(Chunk{std::move(buffer_), buffered_lines_});
      if (!state.spare.empty()) {
        recycled = std::move(state.spare.back());
        state.spare.pop_back();
      }
    }
  }
  if (accepted) {
    // At most one futex wake per buffer (none if the writer thread is busy).
    state.wake.notify_one();
    buffer_ = std::move(recycled);
    if (buffer_.capacity() < kBufferReserve) buffer_.reserve(kBufferReserve);
  } else {
    dropped_lines_.fetch_add(buffered_lines_, std::memory_order_relaxed);
    state.dropped_lines.fetch_add(buffered_lines_, std::memory_order_relaxed);
    buffer_.clear();
  }
  buffered_lines_ = 0;
}

}  // namespace sluice::accesslog
