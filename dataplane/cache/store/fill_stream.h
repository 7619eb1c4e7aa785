#pragma once
// The bytes of a fill as they arrive from the origin, for the requests
// coalesced on it (store.h, "Streaming to waiters"). One writer (the Fill,
// on the filling worker's thread) and any number of readers on other
// workers' threads.
//
// The body is one buffer, the object's own: its bytes below size() never
// change, so a reader gets a view of them (no copy per reader) and keeps
// the buffer alive with a shared_ptr while it sends them. When the length
// is known (Content-Length) the buffer is allocated once at that size and
// never moves; otherwise it grows geometrically into a new buffer, and a
// reader still holding the old one reads on from it (its bytes are the
// same). When the fill completes, the buffer becomes the published
// object's body as it is.
//
// Readers never slow the writer: Append never waits, and a reader that
// lags only reads later from the same buffer. A reader that caught up
// leaves a waker (ReadAt) that the next Append or End calls once, from the
// writer's thread and without any lock held: it should only hand the news
// to the reader's own thread (EventLoop::Post).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/cache/store/cached_object.h"

namespace sluice::cache {

class FillStream {
 public:
  enum class State : uint8_t {
    kStreaming,  // more bytes may come
    kComplete,   // every byte arrived (the response ended normally)
    kFailed,     // abandoned or truncated: the bytes so far are not the response
  };
  using Waker = std::shared_ptr<const std::function<void()>>;

  // `head`: the stored response's head (its body empty); `length`: the
  // body's length when known, else -1.
  FillStream(std::shared_ptr<const CachedObject> head, int64_t length);
  FillStream(const FillStream&) = delete;
  FillStream& operator=(const FillStream&) = delete;

  const std::shared_ptr<const CachedObject>& head() const { return head_; }
  int64_t length() const { return length_; }
  State state() const;

  struct Read {
    std::string_view data;                   // valid while `bytes` is held
    std::shared_ptr<const std::string> bytes;
    State state = State::kStreaming;         // as of this read
    uint64_t arrived = 0;                    // bytes arrived so far, as of this read
  };
  // Up to `max` bytes from `offset`. When none have arrived there and the
  // fill goes on, `waker` (if any) is called once when more arrive or the
  // fill ends. A reader is done when it read up to the end of a kComplete
  // stream; a kFailed stream has nothing more for anyone.
  Read ReadAt(uint64_t offset, size_t max, const Waker& waker);

  // The writer's side (the Fill; one thread).
  // Makes room for `capacity` bytes in all (a new buffer when it must grow).
  void Reserve(size_t capacity);
  // Appends within the reserved capacity (the buffer never moves here).
  void Append(std::string_view bytes);
  void End(State state);
  size_t size() const;
  size_t capacity() const;
  // The buffer, for publishing it as the object's body once complete.
  std::shared_ptr<std::string> buffer() const;
  // Replaces a buffer with too much spare capacity by an exact copy
  // (after geometric growth), before it is published.
  void ShrinkToFit();

 private:
  std::vector<Waker> TakeWakers();  // called locked

  const std::shared_ptr<const CachedObject> head_;
  const int64_t length_;
  mutable std::mutex mu_;
  // Guarded by mu_. The bytes [0, size) of *buffer_ are immutable.
  std::shared_ptr<std::string> buffer_;
  State state_ = State::kStreaming;
  std::vector<Waker> wakers_;
};

}  // namespace sluice::cache
