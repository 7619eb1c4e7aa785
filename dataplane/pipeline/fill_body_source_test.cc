// FillBodySource without sockets: a fill's stream written from another
// thread, read on a real EventLoop that the wake-ups are posted to.
#include "dataplane/pipeline/fill_body_source.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "dataplane/cache/store/fill_stream.h"
#include "dataplane/net/event_loop.h"

namespace sluice::pipeline {
namespace {

using cache::FillStream;

std::shared_ptr<FillStream> Stream(int64_t length) {
  auto head = std::make_shared<cache::CachedObject>();
  head->status = 200;
  return std::make_shared<FillStream>(std::move(head), length);
}

// Runs `loop` until something stops it, at most 10 s.
bool RunLoop(net::EventLoop& loop) {
  bool timed_out = false;
  net::EventLoop::TimerId guard = loop.AddTimer(std::chrono::seconds(10), [&] {
    timed_out = true;
    loop.Stop();
  });
  loop.Run();
  loop.CancelTimer(guard);
  return !timed_out;
}

TEST(FillBodySource, HandsOutWhatArrivedAndIsWokenOnItsLoopForMore) {
  net::EventLoop loop;
  std::shared_ptr<FillStream> stream = Stream(10);
  FillBodySource source(stream, &loop);
  EXPECT_EQ(source.length(), 10);
  int ready = 0;
  source.SetReady([&] {
    ++ready;
    loop.Stop();
  });
  stream->Append("hello");
  BodySource::Chunk chunk = source.Next(1 << 16);
  EXPECT_EQ(chunk.data, "hello");
  EXPECT_FALSE(chunk.end);
  chunk = source.Next(1 << 16);  // nothing now
  EXPECT_TRUE(chunk.data.empty());
  EXPECT_FALSE(chunk.end);
  EXPECT_FALSE(chunk.failed);
  // The rest arrives on another thread (the filling worker's).
  std::thread writer([&] {
    stream->Append("world");
    stream->End(FillStream::State::kComplete);
  });
  writer.join();
  EXPECT_EQ(ready, 0);  // never called from the writer's thread: posted
  ASSERT_TRUE(RunLoop(loop));
  EXPECT_EQ(ready, 1);  // one wake-up for the append and the end together
  chunk = source.Next(3);
  EXPECT_EQ(chunk.data, "wor");
  EXPECT_FALSE(chunk.end);
  chunk = source.Next(1 << 16);
  EXPECT_EQ(chunk.data, "ld");
  EXPECT_TRUE(chunk.end);
}

TEST(FillBodySource, EndsWhenTheLastBytesCameBeforeTheEnd) {
  net::EventLoop loop;
  std::shared_ptr<FillStream> stream = Stream(4);
  FillBodySource source(stream, &loop);
  source.SetReady([&] { loop.Stop(); });
  stream->Append("abcd");
  BodySource::Chunk chunk = source.Next(1 << 16);
  EXPECT_EQ(chunk.data, "abcd");
  EXPECT_FALSE(chunk.end);  // not until the fill says it is complete
  EXPECT_TRUE(source.Next(1 << 16).data.empty());
  stream->End(FillStream::State::kComplete);
  ASSERT_TRUE(RunLoop(loop));
  chunk = source.Next(1 << 16);
  EXPECT_TRUE(chunk.data.empty());
  EXPECT_TRUE(chunk.end);
}

// An abandoned or truncated fill: the reader that had bytes fails (the
// exchange then cuts the response), it never ends normally.
TEST(FillBodySource, FailsWhenTheFillIsAbandoned) {
  net::EventLoop loop;
  std::shared_ptr<FillStream> stream = Stream(100);
  FillBodySource source(stream, &loop);
  source.SetReady([&] { loop.Stop(); });
  stream->Append("first half");
  EXPECT_EQ(source.Next(1 << 16).data, "first half");
  EXPECT_TRUE(source.Next(1 << 16).data.empty());
  stream->End(FillStream::State::kFailed);
  ASSERT_TRUE(RunLoop(loop));
  BodySource::Chunk chunk = source.Next(1 << 16);
  EXPECT_TRUE(chunk.failed);
  EXPECT_FALSE(chunk.end);
  EXPECT_EQ(source.error().code, ErrorCode::kReset);
}

// A response that went away while its wake-up was on its way is not
// touched (ASan), and the fill goes on for the others.
TEST(FillBodySource, ASourceGoneBeforeItsWakeUpIsNotTouched) {
  net::EventLoop loop;
  std::shared_ptr<FillStream> stream = Stream(6);
  auto gone = std::make_unique<FillBodySource>(stream, &loop);
  FillBodySource stays(stream, &loop);
  int gone_ready = 0, stays_ready = 0;
  gone->SetReady([&] { ++gone_ready; });
  stays.SetReady([&] {
    ++stays_ready;
    loop.Stop();
  });
  EXPECT_TRUE(gone->Next(1 << 16).data.empty());
  EXPECT_TRUE(stays.Next(1 << 16).data.empty());
  stream->Append("abc");  // both wake-ups are posted
  gone.reset();
  ASSERT_TRUE(RunLoop(loop));
  EXPECT_EQ(gone_ready, 0);
  EXPECT_EQ(stays_ready, 1);
  EXPECT_EQ(stays.Next(1 << 16).data, "abc");
}

// Wrappers pass the wake-up on to the fill they read.
TEST(FillBodySource, SequenceAndTransformPassSetReadyOn) {
  net::EventLoop loop;
  std::shared_ptr<FillStream> stream = Stream(2);
  std::vector<std::unique_ptr<BodySource>> parts;
  parts.push_back(std::make_unique<MemoryBodySource>(std::string("<")));
  parts.push_back(std::make_unique<FillBodySource>(stream, &loop));
  SequenceBodySource sequence(std::move(parts));
  int ready = 0;
  sequence.SetReady([&] {
    ++ready;
    loop.Stop();
  });
  EXPECT_EQ(sequence.Next(1 << 16).data, "<");
  EXPECT_TRUE(sequence.Next(1 << 16).data.empty());
  stream->Append("ok");
  ASSERT_TRUE(RunLoop(loop));
  EXPECT_EQ(ready, 1);
  EXPECT_EQ(sequence.Next(1 << 16).data, "ok");
}

}  // namespace
}  // namespace sluice::pipeline
