#include "dataplane/pipeline/body_source.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dataplane/fs/page_cache.h"
#include "dataplane/pipeline/io_pool.h"

namespace sluice::pipeline {

namespace {
// How much a file source asks the page cache about, and reads in, at once:
// a file in memory costs one cachestat(2) per megabyte sent.
constexpr uint64_t kReadInChunk = 1 << 20;
}  // namespace

BodySource::Chunk MemoryBodySource::Next(size_t max) {
  size_t n = std::min(max, bytes_.size() - offset_);
  Chunk chunk;
  chunk.data = std::string_view(bytes_).substr(offset_, n);
  offset_ += n;
  chunk.end = offset_ == bytes_.size();
  return chunk;
}

FileBodySource::FileBodySource(int fd, uint64_t offset, uint64_t length, size_t block)
    : FileBodySource(std::make_shared<const FileHandle>(fd), offset, length, block) {}

FileBodySource::FileBodySource(std::shared_ptr<const FileHandle> file, uint64_t offset, uint64_t length,
                               size_t block)
    : file_(std::move(file)),
      fd_(file_->fd()),
      next_(offset),
      end_(offset + length),
      length_(length),
      block_(std::max<size_t>(block, 1)) {}

FileBodySource::~FileBodySource() {
  if (self_ != nullptr) *self_ = nullptr;  // a read-in's answer finds nothing to wake
}

FileHandle::~FileHandle() {
  if (fd_ >= 0) close(fd_);
}

SequenceBodySource::SequenceBodySource(std::vector<std::unique_ptr<BodySource>> parts) : parts_(std::move(parts)) {
  for (const auto& part : parts_) {
    if (part->length() < 0 || length_ < 0) {
      length_ = -1;
    } else {
      length_ += part->length();
    }
  }
}

void SequenceBodySource::SetReady(std::function<void()> ready) {
  for (const auto& part : parts_) part->SetReady(ready);
}

void SequenceBodySource::OffloadReadsTo(IoOffload* io, std::atomic<uint64_t>* offloaded) {
  for (const auto& part : parts_) part->OffloadReadsTo(io, offloaded);
}

BodySource::Chunk SequenceBodySource::Next(size_t max) {
  Chunk chunk;
  while (current_ < parts_.size()) {
    Chunk part = parts_[current_]->Next(max);
    if (part.failed) {
      error_ = parts_[current_]->error();
      return part;
    }
    if (part.end) ++current_;
    if (!part.data.empty() || !part.end) {
      part.end = current_ == parts_.size();
      return part;
    }
  }
  chunk.end = true;
  return chunk;
}

bool FileBodySource::WaitingForReadIn() {
  if (reading_in_) return true;
  if (io_ == nullptr || next_ >= end_ || next_ < resident_until_) return false;
  const uint64_t length = std::min(end_ - next_, kReadInChunk);
  const uint64_t until = next_ + length;
  if (fs::RangeResidency(fd_, next_, length) != fs::Residency::kNotResident) {
    resident_until_ = until;  // in memory, or the kernel cannot tell: read on the loop
    return false;
  }
  if (self_ == nullptr) self_ = std::make_shared<FileBodySource*>(this);
  // The work holds the descriptor open even if this source goes first; the
  // answer runs on the reader's loop, where this source lives and dies.
  const bool submitted = io_->Submit([file = file_, offset = next_, length] { fs::WarmRange(file->fd(), offset, length); },
                                     [self = self_, until] {
                                       FileBodySource* source = *self;
                                       if (source == nullptr) return;
                                       source->reading_in_ = false;
                                       source->resident_until_ = until;
                                       // A copy: the reader may drop this source from inside.
                                       if (std::function<void()> ready = source->ready_) ready();
                                     });
  if (!submitted) {  // the queue is full: read on the loop, as without the pool
    resident_until_ = until;
    return false;
  }
  reading_in_ = true;
  if (offloaded_ != nullptr) offloaded_->store(offloaded_->load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // single writer: the loop
  return true;
}

bool FileBodySource::NextFileRange(FileRange* range) {
  if (WaitingForReadIn()) return false;  // Next() has nothing now: the ready callback follows
  *range = FileRange{fd_, next_, end_ - next_};
  return true;
}

BodySource::Chunk FileBodySource::Next(size_t max) {
  Chunk chunk;
  if (next_ >= end_) {
    chunk.end = true;
    return chunk;
  }
  if (WaitingForReadIn()) return chunk;  // nothing now
  // Allocated on the first read, no larger than the file's range and not
  // zero-filled: a sendfile connection never reads, and a 1 KiB file must
  // not cost a 64 KiB memset (it was 73% of a static 1 KiB request).
  if (buffer_ == nullptr) {
    buffer_size_ = static_cast<size_t>(std::min<uint64_t>(block_, end_ - next_));
    buffer_.reset(new char[buffer_size_]);
  }
  size_t want = static_cast<size_t>(std::min<uint64_t>({max, buffer_size_, end_ - next_}));
  ssize_t n;
  do {
    n = pread(fd_, buffer_.get(), want, static_cast<off_t>(next_));
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    // A file that shrank under us, or an I/O error: the body cannot be
    // completed, and the client must not see a complete-looking response.
    chunk.failed = true;
    error_ = ProxyError::Proxy(ErrorCode::kReset, n == 0 ? "file ended early" : std::strerror(errno));
    return chunk;
  }
  next_ += static_cast<uint64_t>(n);
  chunk.data = std::string_view(buffer_.get(), static_cast<size_t>(n));
  chunk.end = next_ >= end_;
  return chunk;
}

BodySource::Chunk TransformedBodySource::Next(size_t max) {
  Chunk chunk;
  // Drain what the transform produced before reading more input.
  while (out_offset_ == out_.size() && !source_done_) {
    out_.clear();
    out_offset_ = 0;
    Chunk in = source_->Next(max);
    if (in.failed) {
      error_ = source_->error();
      chunk.failed = true;
      return chunk;
    }
    if (!transform_->Transform(in.data, in.end, out_)) {
      error_ = ProxyError::Proxy(ErrorCode::kReset, "body transform failed");
      chunk.failed = true;
      return chunk;
    }
    source_done_ = in.end;
    if (in.data.empty() && !in.end) return chunk;  // the source has nothing now
  }
  size_t n = std::min(max, out_.size() - out_offset_);
  chunk.data = std::string_view(out_).substr(out_offset_, n);
  out_offset_ += n;
  chunk.end = source_done_ && out_offset_ == out_.size();
  return chunk;
}

}  // namespace sluice::pipeline
