#include "dataplane/pipeline/fill_body_source.h"

#include <utility>

namespace sluice::pipeline {

FillBodySource::FillBodySource(std::shared_ptr<cache::FillStream> stream, net::EventLoop* loop)
    : stream_(std::move(stream)), reader_(std::make_shared<Reader>()) {
  // Called on the filling worker's thread, no lock held: only a Post.
  waker_ = std::make_shared<const std::function<void()>>([loop, weak = std::weak_ptr<Reader>(reader_)] {
    loop->Post([weak] {
      std::shared_ptr<Reader> reader = weak.lock();
      if (reader == nullptr) return;  // the response went away meanwhile
      reader->armed = false;
      if (reader->ready) reader->ready();
    });
  });
}

BodySource::Chunk FillBodySource::Next(size_t max) {
  Chunk chunk;
  // One waker at a time: the one left is called at the next change anyway.
  const bool arm = !reader_->armed;
  cache::FillStream::Read read = stream_->ReadAt(offset_, max, arm ? waker_ : nullptr);
  if (read.state == cache::FillStream::State::kFailed) {
    held_.reset();
    chunk.failed = true;
    error_ = ProxyError::Upstream(ErrorCode::kReset, "the cache fill this response streamed from was cut short");
    return chunk;
  }
  if (read.data.empty()) {
    chunk.end = read.state == cache::FillStream::State::kComplete && offset_ >= read.arrived;
    if (!chunk.end && arm) reader_->armed = true;  // nothing now: the waker brings `ready`
    return chunk;
  }
  held_ = std::move(read.bytes);
  offset_ += read.data.size();
  chunk.data = read.data;
  chunk.end = read.state == cache::FillStream::State::kComplete && offset_ >= read.arrived;
  return chunk;
}

}  // namespace sluice::pipeline
