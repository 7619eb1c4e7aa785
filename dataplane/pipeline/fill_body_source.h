#pragma once
// A cache fill's body as it arrives from the origin, as the response body
// of a request coalesced on that fill (dataplane/cache/store/store.h,
// "Streaming to waiters"). It reads the fill's FillStream at its own
// client's pace (the exchange pulls only while the client takes bytes),
// sharing the fill's buffer (no copy per reader), and never holds the fill
// back. When it has caught up it returns nothing now and leaves a waker
// with the stream: the filling worker calls it from its own thread when
// more arrives, and it only posts the reader's `ready` to the reader's
// event loop (the only thread-safe entry point of a loop).
//
// A fill that is abandoned or truncated fails the source (Chunk::failed):
// the exchange then cuts the response (HTTP/1.1: the connection closes
// without the missing bytes or the last chunk; HTTP/2: RST_STREAM), so no
// client ever takes a truncated body for a complete one.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dataplane/cache/store/fill_stream.h"
#include "dataplane/net/event_loop.h"
#include "dataplane/pipeline/body_source.h"

namespace sluice::pipeline {

class FillBodySource final : public BodySource {
 public:
  // `loop`: the reader's own event loop.
  FillBodySource(std::shared_ptr<cache::FillStream> stream, net::EventLoop* loop);
  FillBodySource(const FillBodySource&) = delete;
  FillBodySource& operator=(const FillBodySource&) = delete;
  Chunk Next(size_t max) override;
  int64_t length() const override { return stream_->length(); }
  void SetReady(std::function<void()> ready) override { reader_->ready = std::move(ready); }

 private:
  // On the loop's thread only; the posted wake-up holds it weakly, so a
  // source gone meanwhile is not touched.
  struct Reader {
    std::function<void()> ready;
    bool armed = false;  // a waker is with the stream, not yet delivered
  };
  std::shared_ptr<cache::FillStream> stream_;
  std::shared_ptr<Reader> reader_;
  cache::FillStream::Waker waker_;
  std::shared_ptr<const std::string> held_;  // keeps the last chunk's bytes
  uint64_t offset_ = 0;
};

}  // namespace sluice::pipeline
