#pragma once
// The proxy's access log: one JSON line per request (format: json_line.h),
// written without ever blocking a worker's event loop.
//
// Data flow: each worker thread owns a Writer and formats lines into the
// Writer's private buffer (no lock, no syscall). A full buffer (64 KiB), or
// whatever is buffered when the worker calls Flush() from its periodic timer,
// is handed to the one writer thread by moving the string into a queue under
// a mutex held for a few pointer moves: once per buffer, never per request.
// The writer thread does the (blocking) write(2)s. Since a line is always
// whole inside one buffer and only one thread writes the fd, lines from
// different workers never interleave.
//
// Back-pressure: if the output is slower than the traffic and more than
// max_pending_bytes are queued, a worker's buffer is discarded instead of
// queued and its lines are counted as dropped. Workers never wait, and
// memory stays bounded by max_pending_bytes plus one buffer per worker.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/accesslog/json_line.h"
#include "base/status.h"

namespace sluice::accesslog {

// One per process: owns the writer thread.
class AccessLog {
 public:
  struct Options {
    // Where lines go. Not closed by AccessLog (stdout by default); use
    // OpenFile for a file that the AccessLog owns.
    int fd = 1;
    // Bytes handed to the writer thread and not yet written beyond which new
    // buffers are dropped.
    size_t max_pending_bytes = 8 << 20;
    // How often each worker should call Writer::Flush() (on a loop timer), i.e.
    // the most a line waits in a quiet worker's buffer. AccessLog itself cannot
    // flush a worker's buffer: that would need a lock on every Log().
    std::chrono::milliseconds flush_interval{100};
  };

  // A Writer hands its buffer over once it holds at least this many bytes.
  static constexpr size_t kHandOverBytes = 64 << 10;

  explicit AccessLog(Options options);
  // Opens `path` with O_APPEND|O_CREAT (0644) and logs there; the fd is
  // closed by the destructor. options.fd is ignored.
  static Result<std::unique_ptr<AccessLog>> OpenFile(const std::string& path, Options options);
  // Writes everything already handed over (waiting for the output if it is
  // slow), then joins the writer thread. Flush or destroy the Writers first:
  // lines still in a Writer's own buffer are not visible to the AccessLog.
  // A Writer used after this point drops (and counts) its lines.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  class Writer;
  // One per worker thread. Thread-safe to call; the Writer itself must then
  // only be used by one thread at a time. May outlive the AccessLog.
  std::unique_ptr<Writer> NewWriter();

  // Totals over all writers, including lines lost to write(2) errors such as
  // EPIPE or ENOSPC; readable from any thread (e.g. for /metrics).
  uint64_t dropped_lines() const;
  uint64_t written_lines() const;
  std::chrono::milliseconds flush_interval() const;

  struct State;  // shared by the AccessLog, its Writers and the writer thread

 private:
  AccessLog(Options options, bool owns_fd);
  std::shared_ptr<State> state_;
};

class AccessLog::Writer {
 public:
  // Hands over what is still buffered.
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Formats `entry` into the buffer; hands the buffer over when it exceeds
  // kHandOverBytes. Never blocks, never makes a syscall.
  void Log(const Entry& entry);
  // Hands over whatever is buffered (no-op when empty). Never blocks on the
  // output; call it from a timer every flush_interval().
  void Flush();
  // Lines of this writer discarded at hand-over because the output could not
  // keep up (or the AccessLog is gone). Lines lost to a failing write(2) count
  // only in AccessLog::dropped_lines(). Readable from any thread.
  uint64_t dropped_lines() const { return dropped_lines_.load(std::memory_order_relaxed); }

 private:
  friend class AccessLog;
  explicit Writer(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
  std::string buffer_;
  uint64_t buffered_lines_ = 0;
  std::atomic<uint64_t> dropped_lines_{0};
};

}  // namespace sluice::accesslog
