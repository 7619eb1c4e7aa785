#pragma once
// Where a response body comes from. The exchange moves bytes from a source
// to the client only while the client takes them (DownstreamStream's
// OutputFull / OnDownstreamWritable), whatever the source, so a cached
// object or a large file streams with the same flow control as an upstream
// response and nothing is read whole into memory.
//
// Sources:
//   upstream   push: the upstream stream delivers events and is paused and
//              resumed (UpstreamStream::PauseResponse/ResumeResponse in
//              dataplane/proxy/upstream_stream.h); not a BodySource
//   memory     MemoryBodySource: bytes the proxy holds (local replies, a
//              cache's memory tier)
//   file       FileBodySource: a range of an open file, read in blocks
//              (a cache's disk tier, static content); given the worker's
//              I/O threads (OffloadReadsTo), it has pages not in the page
//              cache read in there first and has nothing now meanwhile
//   transform  TransformedBodySource: another source through a
//              BodyTransform (compression of a file or a cached object);
//              on the upstream path a transform is a response-body stage
//   fill       FillBodySource (fill_body_source.h): a cache fill's bytes
//              as they arrive from the origin, for the requests coalesced
//              on it
// A file or a fill can have nothing now and more later; such a source says
// when to come back (SetReady), so a reader has one way to wait.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/pipeline/proxy_error.h"

namespace sluice::pipeline {

class IoOffload;  // io_pool.h

class BodySource {
 public:
  struct Chunk {
    std::string_view data;  // valid until the next call
    bool end = false;       // no more bytes after `data`
    bool failed = false;    // the source broke (then `error` says why)
  };
  virtual ~BodySource() = default;
  // Up to `max` bytes (max > 0). Empty data without `end`: nothing now.
  virtual Chunk Next(size_t max) = 0;
  // The whole length when known (Content-Length), else -1.
  virtual int64_t length() const { return -1; }
  // The bytes still to send are a range of an open file, which a plain
  // HTTP/1.1 connection sends with sendfile(2): no copy through user space.
  // Only FileBodySource says so; `length` 0: nothing is left.
  struct FileRange {
    int fd = -1;
    uint64_t offset = 0;
    uint64_t length = 0;
  };
  // False also while a file source waits for its next bytes to be read
  // into the page cache (then Next() has nothing now).
  virtual bool NextFileRange(FileRange* range) { return false; }
  // `n` bytes of NextFileRange's range went out by other means.
  virtual void Skip(uint64_t n) {}
  // After Next() returned nothing now (no data, no end), the source calls
  // `ready` on the reader's event loop (never from inside Next) when it has
  // something again: more bytes, the end or a failure. Sources that always
  // have their bytes at hand never return nothing now and ignore it.
  // Null forgets it (the reader is going away).
  virtual void SetReady(std::function<void()> ready) {}
  // The reader's worker's I/O threads, for reads that may wait on the disk:
  // a file source has bytes not in the page cache read in there before the
  // reader's loop sends them (sendfile or pread would block the loop and
  // every other connection on it), counting each in `offloaded` (may be
  // null). Given before the first Next(); sources that read nothing from
  // the disk ignore it. Null `io`: everything is read on the loop.
  virtual void OffloadReadsTo(IoOffload* io, std::atomic<uint64_t>* offloaded) {}
  // Why Next() failed.
  const ProxyError& error() const { return error_; }

 protected:
  ProxyError error_;
};

class MemoryBodySource final : public BodySource {
 public:
  explicit MemoryBodySource(std::string bytes) : owned_(std::move(bytes)), bytes_(owned_) {}
  // [offset, offset + length) of bytes shared with others (a static site's
  // file in the snapshot: no copy per response).
  MemoryBodySource(std::shared_ptr<const std::string> shared, size_t offset, size_t length)
      : shared_(std::move(shared)), bytes_(std::string_view(*shared_).substr(offset, length)) {}
  MemoryBodySource(const MemoryBodySource&) = delete;
  MemoryBodySource& operator=(const MemoryBodySource&) = delete;
  Chunk Next(size_t max) override;
  int64_t length() const override { return static_cast<int64_t>(bytes_.size()); }

 private:
  std::string owned_;
  std::shared_ptr<const std::string> shared_;
  std::string_view bytes_;  // into owned_ or *shared_
  size_t offset_ = 0;
};

// Several sources one after the other (a multipart/byteranges body: each
// part's head, then its range of the file).
class SequenceBodySource final : public BodySource {
 public:
  explicit SequenceBodySource(std::vector<std::unique_ptr<BodySource>> parts);
  Chunk Next(size_t max) override;
  int64_t length() const override { return length_; }
  void SetReady(std::function<void()> ready) override;
  void OffloadReadsTo(IoOffload* io, std::atomic<uint64_t>* offloaded) override;

 private:
  std::vector<std::unique_ptr<BodySource>> parts_;
  size_t current_ = 0;
  int64_t length_ = 0;
};

// An open descriptor shared by the responses reading it (a static site's
// file, kept by a worker's open-file cache): closed with its last holder.
// Readers use pread/sendfile with explicit offsets, never the shared file
// position.
class FileHandle {
 public:
  explicit FileHandle(int fd) : fd_(fd) {}
  ~FileHandle();
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// [offset, offset + length) of an open file, read with pread in blocks of
// at most `block` bytes. Owns (and closes) `fd`, or shares `file`.
//
// With the worker's I/O threads (OffloadReadsTo), the bytes go out only once
// they are in the page cache: before each megabyte it asks the kernel
// (fs::RangeResidency, one cachestat(2)); when pages are missing an I/O
// thread reads them in (fs::WarmRange) while NextFileRange says "not a
// file" and Next() "nothing now", and the ready callback (SetReady) follows
// on the loop. So a cold file never stalls the loop, as nginx's `aio
// threads`; a file in memory costs one system call per megabyte.
class FileBodySource final : public BodySource {
 public:
  FileBodySource(int fd, uint64_t offset, uint64_t length, size_t block = 64 * 1024);
  FileBodySource(std::shared_ptr<const FileHandle> file, uint64_t offset, uint64_t length,
                 size_t block = 64 * 1024);
  ~FileBodySource() override;
  FileBodySource(const FileBodySource&) = delete;
  FileBodySource& operator=(const FileBodySource&) = delete;
  Chunk Next(size_t max) override;
  int64_t length() const override { return static_cast<int64_t>(length_); }
  bool NextFileRange(FileRange* range) override;
  void Skip(uint64_t n) override { next_ += std::min(n, end_ - next_); }
  void SetReady(std::function<void()> ready) override { ready_ = std::move(ready); }
  void OffloadReadsTo(IoOffload* io, std::atomic<uint64_t>* offloaded) override {
    io_ = io;
    offloaded_ = offloaded;
  }

 private:
  // True while the bytes at next_ are being read in on an I/O thread (and
  // starts that when they are not in the page cache).
  bool WaitingForReadIn();

  std::shared_ptr<const FileHandle> file_;
  int fd_;
  uint64_t next_;
  uint64_t end_;
  uint64_t length_;
  size_t block_;
  std::unique_ptr<char[]> buffer_;
  size_t buffer_size_ = 0;
  // Off-the-loop read-in (OffloadReadsTo): bytes before resident_until_ are
  // in the page cache (or were checked); `self_` lets an I/O thread's answer
  // find this source, or nothing once it is gone.
  IoOffload* io_ = nullptr;
  std::atomic<uint64_t>* offloaded_ = nullptr;
  std::function<void()> ready_;
  uint64_t resident_until_ = 0;
  bool reading_in_ = false;
  std::shared_ptr<FileBodySource*> self_;
};

// Turns a stream of bytes into another, chunk by chunk (compression).
class BodyTransform {
 public:
  virtual ~BodyTransform() = default;
  // Appends to `out` what `in` turns into; `end`: the input is complete
  // (flush everything). False on failure.
  virtual bool Transform(std::string_view in, bool end, std::string& out) = 0;
};

class TransformedBodySource final : public BodySource {
 public:
  TransformedBodySource(std::unique_ptr<BodySource> source, std::unique_ptr<BodyTransform> transform)
      : source_(std::move(source)), transform_(std::move(transform)) {}
  Chunk Next(size_t max) override;
  void SetReady(std::function<void()> ready) override { source_->SetReady(std::move(ready)); }
  void OffloadReadsTo(IoOffload* io, std::atomic<uint64_t>* offloaded) override {
    source_->OffloadReadsTo(io, offloaded);
  }

 private:
  std::unique_ptr<BodySource> source_;
  std::unique_ptr<BodyTransform> transform_;
  std::string out_;
  size_t out_offset_ = 0;
  bool source_done_ = false;
};

}  // namespace sluice::pipeline
