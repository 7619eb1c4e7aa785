// The cache stages over the disk tier, without sockets: an object stored
// through the stages is written through to disk; a new memory store (as
// after a restart) misses and the lookup pauses while the I/O pool opens
// the entry, then answers from the file (a FileBodySource: sendfile-able)
// with every RFC 9111 rule of a memory hit (Age, Cache-Status, HEAD, 304,
// Range, Vary, freshness).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <memory>
#include <string>
#include <thread>

#include "dataplane/cache/disk/disk_cache.h"
#include "dataplane/pipeline/body_source.h"
#include "dataplane/pipeline/cache_stage.h"
#include "dataplane/pipeline/cache_test_support.h"
#include "dataplane/pipeline/io_pool.h"
#include "dataplane/pipeline/local_reply.h"

namespace sluice::pipeline {
namespace {

// The pool's work runs on another thread, `done` when the test says (as
// the worker's loop would run it).
class ManualIo final : public IoOffload {
 public:
  struct Job {
    std::function<void()> work, done;
  };
  std::vector<Job> jobs;
  bool Submit(std::function<void()> work, std::function<void()> done) override {
    jobs.push_back({std::move(work), std::move(done)});
    return true;
  }
  void RunAll() {
    std::vector<Job> now = std::move(jobs);
    jobs.clear();
    for (Job& job : now) {
      std::thread pool_thread(job.work);
      pool_thread.join();
      job.done();
    }
  }
};

class CountingResumer final : public Resumer {
 public:
  void Resume() override { ++resumed; }
  int resumed = 0;
};

struct Request {
  explicit Request(const std::string& path, ManualIo* io) {
    state.request.method = "GET";
    state.request.scheme = "http";
    state.request.authority = "cache.test";
    state.request.path = path;
    state.request.target = path;
    state.resumer = &resumer;
    state.io = io;
  }
  ExchangeState state;
  CountingResumer resumer;
};

using cache_test::BodyOf;

cache::StoreOptions MemoryOptions() {
  cache::StoreOptions options;
  options.capacity_bytes = 4u << 20;
  options.max_object_bytes = 1u << 20;
  options.shards = 4;
  return options;
}

class CacheDiskStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp != nullptr ? tmp : "/tmp") + "/cache-disk-stage-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
    Restart();
  }

  // A new process: a new, empty memory store over the same directory.
  void Restart() {
    lookup_.reset();
    storer_.reset();
    store_.reset();
    disk_.reset();
    cache::disk::DiskOptions options;
    options.dir = dir_;
    disk_ = std::move(cache::disk::DiskCache::Open(options)).value();
    disk_->WaitForScan();
    store_ = std::make_unique<cache::Store>(MemoryOptions());
    store_->set_lower_tier(disk_.get());
    lookup_ = std::make_unique<CacheLookupStage>(options_, store_.get());
    storer_ = std::make_unique<CacheStoreStage>(options_, store_.get());
  }

  // A miss through both stages: the origin answers `fields` and `body`.
  void Fill(const std::string& path, const std::string& fields, const std::string& body,
            const std::string& accept_encoding = "") {
    Request r(path, nullptr);
    if (!accept_encoding.empty()) r.state.request.headers.Add("accept-encoding", accept_encoding);
    ASSERT_EQ(lookup_->OnRequestHead(r.state), Verdict::kContinue);
    http::ResponseHead head = cache_test::HeadOf(200, fields);
    head.headers.Add("content-length", std::to_string(body.size()));
    ASSERT_EQ(storer_->OnResponseHead(r.state, head, false), Verdict::kContinue);
    std::string_view chunk = body;
    storer_->OnResponseBody(r.state, chunk);
    std::string_view tail;
    storer_->OnResponseEnd(r.state, tail);
    ASSERT_EQ(r.state.cache_fill, CacheFill::kStored);
    disk_->Flush();
  }

  // A lookup that goes to disk: kPause, then the pool's job and its done.
  Verdict LookUpThroughDisk(Request& r) {
    Verdict first = lookup_->OnRequestHead(r.state);
    if (first != Verdict::kPause) return first;
    EXPECT_EQ(io_.jobs.size(), 1u);
    EXPECT_EQ(r.resumer.resumed, 0);  // nothing read on the loop
    io_.RunAll();
    EXPECT_EQ(r.resumer.resumed, 1);
    return r.state.reply_when_resumed ? Verdict::kReply : Verdict::kContinue;
  }

  std::string dir_;
  CacheStageOptions options_;
  std::unique_ptr<cache::disk::DiskCache> disk_;
  std::unique_ptr<cache::Store> store_;
  std::unique_ptr<CacheLookupStage> lookup_;
  std::unique_ptr<CacheStoreStage> storer_;
  ManualIo io_;
};

TEST_F(CacheDiskStageTest, AfterARestartAMemoryMissIsAnsweredFromTheFile) {
  const std::string body(100000, 'd');
  Fill("/big", "cache-control: max-age=600\netag: \"v1\"\ncontent-type: text/plain", body);
  Restart();
  EXPECT_EQ(store_->stats().objects, 0u);

  Request r("/big", &io_);
  ASSERT_EQ(LookUpThroughDisk(r), Verdict::kReply);
  EXPECT_EQ(r.state.cache_outcome, CacheOutcome::kHit);
  EXPECT_EQ(r.state.reply.status, 200);
  EXPECT_NE(r.state.reply.headers.Get("age"), nullptr);
  EXPECT_EQ(r.state.reply.headers.Get("cache-status")->rfind("sluice; hit", 0), 0u);
  EXPECT_EQ(*r.state.reply.headers.Get("etag"), "\"v1\"");
  BodySource::FileRange range;
  ASSERT_TRUE(r.state.reply.source->NextFileRange(&range));  // sendfile-able
  EXPECT_EQ(range.length, body.size());
  EXPECT_EQ(r.state.reply.source->length(), static_cast<int64_t>(body.size()));
  EXPECT_EQ(BodyOf(r.state.reply), body);
  EXPECT_EQ(disk_->stats().hits, 1u);

  // HEAD, a conditional and a range, all from the file.
  Request head("/big", &io_);
  head.state.request.method = "HEAD";
  ASSERT_EQ(LookUpThroughDisk(head), Verdict::kReply);
  EXPECT_TRUE(head.state.reply.head_only);
  Request conditional("/big", &io_);
  conditional.state.request.headers.Add("if-none-match", "\"v1\"");
  ASSERT_EQ(LookUpThroughDisk(conditional), Verdict::kReply);
  EXPECT_EQ(conditional.state.reply.status, 304);
  Request ranged("/big", &io_);
  ranged.state.request.headers.Add("range", "bytes=10-19");
  ASSERT_EQ(LookUpThroughDisk(ranged), Verdict::kReply);
  EXPECT_EQ(ranged.state.reply.status, 206);
  EXPECT_EQ(*ranged.state.reply.headers.Get("content-range"), "bytes 10-19/100000");
  EXPECT_EQ(BodyOf(ranged.state.reply), std::string(10, 'd'));
  Request multi("/big", &io_);
  multi.state.request.headers.Add("range", "bytes=0-0,-1");
  ASSERT_EQ(LookUpThroughDisk(multi), Verdict::kReply);
  EXPECT_EQ(multi.state.reply.status, 206);
  EXPECT_EQ(multi.state.reply.headers.Get("content-type")->rfind("multipart/byteranges", 0), 0u);
  const std::string parts = BodyOf(multi.state.reply);
  EXPECT_NE(parts.find("content-range: bytes 0-0/100000"), std::string::npos) << parts;
  EXPECT_NE(parts.find("content-range: bytes 99999-99999/100000"), std::string::npos) << parts;
}

TEST_F(CacheDiskStageTest, NoDiskEntryIsAMissWithoutAPause) {
  Request r("/nothing", &io_);
  EXPECT_EQ(lookup_->OnRequestHead(r.state), Verdict::kContinue);
  EXPECT_TRUE(io_.jobs.empty());
  EXPECT_EQ(r.state.cache_outcome, CacheOutcome::kMiss);
}

// A stale disk entry is not answered: it is a miss that fills (and the
// origin's response replaces it in both tiers).
TEST_F(CacheDiskStageTest, AStaleEntryIsAMissThatFills) {
  Fill("/stale", "cache-control: max-age=0\netag: \"v1\"", "old");
  Restart();
  Request r("/stale", &io_);
  EXPECT_EQ(LookUpThroughDisk(r), Verdict::kContinue);
  EXPECT_EQ(r.state.cache_outcome, CacheOutcome::kMiss);
  EXPECT_EQ(disk_->stats().hits, 0u);
  // only-if-cached gets its 504 after the disk said no.
  Request only("/stale", &io_);
  only.state.request.headers.Add("cache-control", "only-if-cached");
  EXPECT_EQ(LookUpThroughDisk(only), Verdict::kReply);
  EXPECT_EQ(only.state.reply.status, 504);
}

// Vary on disk: the variant the request selects, never another one.
TEST_F(CacheDiskStageTest, VariantsAreSelectedByTheRequest) {
  Fill("/v", "cache-control: max-age=600\nvary: accept-encoding\ncontent-encoding: gzip", "gzipped", "gzip");
  Fill("/v", "cache-control: max-age=600\nvary: accept-encoding", "plain", "identity");
  Restart();
  Request gz("/v", &io_);
  gz.state.request.headers.Add("accept-encoding", "gzip");
  ASSERT_EQ(LookUpThroughDisk(gz), Verdict::kReply);
  EXPECT_EQ(BodyOf(gz.state.reply), "gzipped");
  Request plain("/v", &io_);
  plain.state.request.headers.Add("accept-encoding", "identity");
  ASSERT_EQ(LookUpThroughDisk(plain), Verdict::kReply);
  EXPECT_EQ(BodyOf(plain.state.reply), "plain");
  Request other("/v", &io_);
  other.state.request.headers.Add("accept-encoding", "br");
  EXPECT_EQ(LookUpThroughDisk(other), Verdict::kContinue);
}

// Invalidation by an unsafe method reaches the disk: no hit after a restart.
TEST_F(CacheDiskStageTest, UnsafeMethodInvalidatesTheDiskEntry) {
  Fill("/doc", "cache-control: max-age=600", "v1");
  Request post("/doc", nullptr);
  post.state.request.method = "POST";
  ASSERT_EQ(lookup_->OnRequestHead(post.state), Verdict::kContinue);
  http::ResponseHead ok;
  ok.status = 204;
  storer_->OnResponseHead(post.state, ok, false);
  disk_->Flush();
  Restart();
  Request r("/doc", &io_);
  EXPECT_EQ(lookup_->OnRequestHead(r.state), Verdict::kContinue);
  EXPECT_TRUE(io_.jobs.empty());
}

// The client went away while the pool opened the entry: nothing resumes.
TEST_F(CacheDiskStageTest, AnExchangeGoneMeanwhileIsNotResumed) {
  Fill("/gone", "cache-control: max-age=600", "bytes");
  Restart();
  auto r = std::make_unique<Request>("/gone", &io_);
  ASSERT_EQ(lookup_->OnRequestHead(r->state), Verdict::kPause);
  r.reset();
  io_.RunAll();  // must not touch the destroyed exchange (ASan)
}

}  // namespace
}  // namespace sluice::pipeline
