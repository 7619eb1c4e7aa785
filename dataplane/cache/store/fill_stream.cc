#include "dataplane/cache/store/fill_stream.h"

#include <algorithm>
#include <utility>

namespace sluice::cache {

FillStream::FillStream(std::shared_ptr<const CachedObject> head, int64_t length)
    : head_(std::move(head)), length_(length), buffer_(std::make_shared<std::string>()) {}

FillStream::State FillStream::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

size_t FillStream::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buffer_->size();
}

size_t FillStream::capacity() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buffer_->capacity();
}

std::shared_ptr<std::string> FillStream::buffer() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buffer_;
}

FillStream::Read FillStream::ReadAt(uint64_t offset, size_t max, const Waker& waker) {
  Read read;
  std::lock_guard<std::mutex> lock(mu_);
  read.state = state_;
  read.arrived = buffer_->size();
  if (state_ == State::kFailed) return read;
  if (offset < buffer_->size()) {
    const size_t n = std::min<uint64_t>(max, buffer_->size() - offset);
    read.data = std::string_view(buffer_->data() + offset, n);
    read.bytes = buffer_;
    return read;
  }
  if (state_ == State::kStreaming && waker != nullptr) wakers_.push_back(waker);
  return read;
}

void FillStream::Reserve(size_t capacity) {
  // Only this (the writer's) thread changes the buffer: reading it here
  // without the lock is safe, and the copy is made outside it.
  if (capacity <= buffer_->capacity()) return;
  auto grown = std::make_shared<std::string>();
  grown->reserve(capacity);
  grown->append(*buffer_);
  std::lock_guard<std::mutex> lock(mu_);
  buffer_ = std::move(grown);  // a reader holding the old one reads on from it
}

void FillStream::Append(std::string_view bytes) {
  // Never an in-place reallocation: readers hold views into the buffer.
  const size_t need = buffer_->size() + bytes.size();
  if (need > buffer_->capacity()) Reserve(std::max(need, 2 * buffer_->capacity()));
  std::vector<Waker> wakers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kStreaming) return;
    buffer_->append(bytes);
    wakers = TakeWakers();
  }
  for (const Waker& waker : wakers) (*waker)();
}

void FillStream::ShrinkToFit() {
  if (buffer_->capacity() <= buffer_->size() + buffer_->size() / 8 + 4096) return;
  auto exact = std::make_shared<std::string>(*buffer_);
  std::lock_guard<std::mutex> lock(mu_);
  buffer_ = std::move(exact);
}

void FillStream::End(State state) {
  std::vector<Waker> wakers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kStreaming) return;
    state_ = state;
    wakers = TakeWakers();
  }
  for (const Waker& waker : wakers) (*waker)();
}

std::vector<FillStream::Waker> FillStream::TakeWakers() {
  std::vector<Waker> taken;
  taken.swap(wakers_);
  return taken;
}

}  // namespace sluice::cache
