#pragma once
// A growable byte buffer with a read cursor: bytes are appended at the end
// and consumed from the front without moving memory on every consume.
#include <sys/types.h>

#include <cstring>
#include <memory>
#include <string_view>

namespace sluice::net {

class Buffer {
 public:
  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }

  void Consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void Append(std::string_view bytes) {
    Reserve(bytes.size());
    std::memcpy(data_.get() + end_, bytes.data(), bytes.size());
    end_ += bytes.size();
  }
  // Room for at least `n` more bytes at the end.
  void Reserve(size_t n) {
    if (capacity_ - end_ >= n) return;
    if (begin_ > 0 && capacity_ - (end_ - begin_) >= n && begin_ >= (end_ - begin_)) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);  // cheap: little live data
      end_ -= begin_;
      begin_ = 0;
      return;
    }
    size_t live = end_ - begin_;
    size_t capacity = capacity_ == 0 ? 4096 : capacity_;
    while (capacity - live < n) capacity *= 2;
    // Not value-initialised: zero-filling 16-64 KiB per read buffer was most
    // of the proxy's instructions per request (callgrind).
    auto data = std::make_unique_for_overwrite<char[]>(capacity);
    if (live > 0) std::memcpy(data.get(), data_.get() + begin_, live);
    data_ = std::move(data);
    capacity_ = capacity;
    begin_ = 0;
    end_ = live;
  }
  char* write_ptr() { return data_.get() + end_; }
  size_t writable() const { return capacity_ - end_; }
  void Commit(size_t n) { end_ += n; }
  // Frees the memory of an empty buffer (idle keep-alive connections should
  // cost little).
  void ShrinkIfEmpty() {
    if (empty() && capacity_ > 0) {
      data_.reset();
      capacity_ = begin_ = end_ = 0;
    }
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace sluice::net
