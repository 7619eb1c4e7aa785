// The cache stages without sockets: coalesced misses waiting on a real
// EventLoop (the store's wake-up is posted to it, as from another worker),
// stale-if-error, and the outcome the access log and metrics read.
#include "dataplane/pipeline/cache_stage.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "dataplane/net/event_loop.h"
#include "dataplane/pipeline/body_source.h"
#include "dataplane/pipeline/cache_test_support.h"
#include "dataplane/pipeline/local_reply.h"
#include "dataplane/subrequest/scripted_client.h"

namespace sluice::pipeline {
namespace {

// Counts resumes and stops the loop at the first (each test runs its loop once).
class StopResumer final : public Resumer {
 public:
  explicit StopResumer(net::EventLoop* loop) : loop_(loop) {}
  void Resume() override {
    ++resumed;
    loop_->Stop();
  }
  int resumed = 0;

 private:
  net::EventLoop* loop_;
};

// One request as the exchange hands it to the chain.
struct Request {
  Request(net::EventLoop* loop, const std::string& path) : resumer(loop) {
    state.request.method = "GET";
    state.request.scheme = "http";
    state.request.authority = "cache.test";
    state.request.path = path;
    state.request.target = path;
    state.loop = loop;
    state.resumer = &resumer;
  }
  ExchangeState state;
  StopResumer resumer;
};

using cache_test::BodyOf;

class CacheStageTest : public ::testing::Test {
 protected:
  CacheStageTest() : store_(Options()), lookup_(options_, &store_), storer_(options_, &store_) {}

  static cache::StoreOptions Options() {
    cache::StoreOptions options;
    options.capacity_bytes = 4u << 20;
    options.max_object_bytes = 1u << 20;
    options.shards = 4;
    return options;
  }

  // The origin's response through the store stage: head, one body chunk, end.
  Verdict Respond(Request& r, int status, const std::string& fields, const std::string& body) {
    http::ResponseHead head = cache_test::HeadOf(status, fields);
    head.headers.Add("content-length", std::to_string(body.size()));
    Verdict verdict = storer_.OnResponseHead(r.state, head, /*local=*/false);
    if (verdict != Verdict::kContinue) return verdict;
    last_head_ = head;
    std::string_view chunk = body;
    storer_.OnResponseBody(r.state, chunk);
    std::string_view tail;
    storer_.OnResponseEnd(r.state, tail);
    return Verdict::kContinue;
  }

  // A fill under way for `filler` with `waiter` paused on it: the origin's
  // head (200, max-age=60, `length` as Content-Length unless negative) went
  // through the store stage.
  void StartFill(Request& filler, Request& waiter, int64_t length) {
    ASSERT_EQ(lookup_.OnRequestHead(filler.state), Verdict::kContinue);
    ASSERT_EQ(lookup_.OnRequestHead(waiter.state), Verdict::kPause);
    http::ResponseHead head;
    head.status = 200;
    head.headers.Add("cache-control", "max-age=60");
    head.headers.Add("content-type", "text/plain");
    if (length >= 0) head.headers.Add("content-length", std::to_string(length));
    ASSERT_EQ(storer_.OnResponseHead(filler.state, head, false), Verdict::kContinue);
  }

  // Runs the loop until a resumer stops it; a safety timer ends a test that
  // would otherwise hang (then `timed_out_`).
  void RunLoop() {
    net::EventLoop::TimerId guard = loop_.AddTimer(std::chrono::seconds(20), [this] {
      timed_out_ = true;
      loop_.Stop();
    });
    loop_.Run();
    loop_.CancelTimer(guard);
    EXPECT_FALSE(timed_out_) << "nothing resumed";
  }

  CacheStageOptions options_;
  cache::Store store_;
  CacheLookupStage lookup_;
  CacheStoreStage storer_;
  net::EventLoop loop_;
  bool timed_out_ = false;
  http::ResponseHead last_head_;
};

TEST_F(CacheStageTest, ConcurrentMissesWaitForOneFillAndAreServedFromIt) {
  Request filler(&loop_, "/a");
  Request waiter1(&loop_, "/a");
  Request waiter2(&loop_, "/a");
  ASSERT_EQ(lookup_.OnRequestHead(filler.state), Verdict::kContinue);  // goes to the origin
  EXPECT_EQ(filler.state.cache_outcome, CacheOutcome::kMiss);
  ASSERT_EQ(lookup_.OnRequestHead(waiter1.state), Verdict::kPause);
  ASSERT_EQ(lookup_.OnRequestHead(waiter2.state), Verdict::kPause);
  EXPECT_TRUE(waiter1.state.cache_waited);
  // The fill completes; the wake-ups are posted to the waiters' loop.
  ASSERT_EQ(Respond(filler, 200, "cache-control: max-age=60", "the body"), Verdict::kContinue);
  EXPECT_EQ(filler.state.cache_fill, CacheFill::kStored);
  EXPECT_EQ(waiter1.resumer.resumed, 0);  // never from inside the fill's thread: only through the loop
  RunLoop();
  EXPECT_EQ(waiter1.resumer.resumed, 1);
  EXPECT_EQ(waiter2.resumer.resumed, 1);
  for (Request* w : {&waiter1, &waiter2}) {
    EXPECT_TRUE(w->state.reply_when_resumed);
    EXPECT_EQ(w->state.cache_outcome, CacheOutcome::kCoalesced);
    EXPECT_EQ(w->state.reply.status, 200);
    EXPECT_EQ(BodyOf(w->state.reply), "the body");
    const std::string* status = w->state.reply.headers.Get("cache-status");
    ASSERT_NE(status, nullptr);
    EXPECT_NE(status->find("collapsed"), std::string::npos) << *status;
  }
  EXPECT_EQ(store_.stats().coalesced_waits, 2u);
}

// Only a response being stored needs the body hooks: others (and a local
// reply, a hit) may go out with sendfile(2) on a caching route.
TEST_F(CacheStageTest, OnlyAResponseBeingStoredNeedsItsBody) {
  Request stored(&loop_, "/s");
  ASSERT_EQ(lookup_.OnRequestHead(stored.state), Verdict::kContinue);
  http::ResponseHead head = cache_test::HeadOf(200, "cache-control: max-age=60");
  head.headers.Add("content-length", "4");
  ASSERT_EQ(storer_.OnResponseHead(stored.state, head, false), Verdict::kContinue);
  EXPECT_TRUE(storer_.WantsResponseBody(stored.state));
  std::string_view chunk = "body";
  storer_.OnResponseBody(stored.state, chunk);
  std::string_view tail;
  storer_.OnResponseEnd(stored.state, tail);
  EXPECT_EQ(stored.state.cache_fill, CacheFill::kStored);
  EXPECT_FALSE(storer_.WantsResponseBody(stored.state));

  Request passed(&loop_, "/p");
  ASSERT_EQ(lookup_.OnRequestHead(passed.state), Verdict::kContinue);
  ASSERT_EQ(Respond(passed, 200, "cache-control: private", "mine"), Verdict::kContinue);
  EXPECT_FALSE(storer_.WantsResponseBody(passed.state));

  Request hit(&loop_, "/s");
  ASSERT_EQ(lookup_.OnRequestHead(hit.state), Verdict::kReply);
  EXPECT_FALSE(storer_.WantsResponseBody(hit.state));
}

TEST_F(CacheStageTest, UncacheableResponseReleasesWaitersToTheOriginAtOnce) {
  Request filler(&loop_, "/u");
  Request waiter(&loop_, "/u");
  ASSERT_EQ(lookup_.OnRequestHead(filler.state), Verdict::kContinue);
  ASSERT_EQ(lookup_.OnRequestHead(waiter.state), Verdict::kPause);
  ASSERT_EQ(Respond(filler, 200, "cache-control: private", "mine"), Verdict::kContinue);
  EXPECT_EQ(filler.state.cache_outcome, CacheOutcome::kPass);
  RunLoop();
  EXPECT_EQ(waiter.resumer.resumed, 1);
  EXPECT_FALSE(waiter.state.reply_when_resumed);  // goes on to the origin
  EXPECT_EQ(waiter.state.cache_outcome, CacheOutcome::kPass);
  // The key is hit-for-pass now: the next miss neither waits nor fills.
  Request later(&loop_, "/u");
  EXPECT_EQ(lookup_.OnRequestHead(later.state), Verdict::kContinue);
  EXPECT_EQ(later.state.cache_outcome, CacheOutcome::kPass);
}

TEST_F(CacheStageTest, TruncatedFillIsNotStoredAndItsWaitersGoToTheOrigin) {
  Request filler(&loop_, "/t");
  Request waiter(&loop_, "/t");
  ASSERT_EQ(lookup_.OnRequestHead(filler.state), Verdict::kContinue);
  ASSERT_EQ(lookup_.OnRequestHead(waiter.state), Verdict::kPause);
  http::ResponseHead head;
  head.headers.Add("cache-control", "max-age=60");
  head.headers.Add("content-length", "100");
  ASSERT_EQ(storer_.OnResponseHead(filler.state, head, false), Verdict::kContinue);
  std::string_view chunk = "only ten b";
  storer_.OnResponseBody(filler.state, chunk);
  std::string_view tail;
  storer_.OnResponseEnd(filler.state, tail);  // 10 of 100 bytes
  EXPECT_EQ(filler.state.cache_fill, CacheFill::kAbandoned);
  RunLoop();
  EXPECT_EQ(waiter.resumer.resumed, 1);
  EXPECT_FALSE(waiter.state.reply_when_resumed);
  EXPECT_EQ(store_.Find(cache::PrimaryKey("http", "cache.test", "/t")), nullptr);
}

// The fill's body streams to its waiters as it arrives: a waiter is
// answered once the head is known storable, reads what came so far, and
// is woken on its loop for the rest; a miss coming meanwhile is answered
// from the stream at once.
TEST_F(CacheStageTest, WaitersStreamTheFillAsItArrives) {
  Request filler(&loop_, "/big");
  Request waiter(&loop_, "/big");
  ASSERT_NO_FATAL_FAILURE(StartFill(filler, waiter, 10));
  std::string_view chunk = "hello";
  storer_.OnResponseBody(filler.state, chunk);
  RunLoop();  // the fill is not complete
  EXPECT_EQ(waiter.resumer.resumed, 1);
  ASSERT_TRUE(waiter.state.reply_when_resumed);
  EXPECT_EQ(waiter.state.cache_outcome, CacheOutcome::kCoalesced);
  LocalReply& reply = waiter.state.reply;
  EXPECT_EQ(reply.status, 200);
  EXPECT_NE(reply.headers.Get("age"), nullptr);
  EXPECT_EQ(*reply.headers.Get("content-type"), "text/plain");
  const std::string* status = reply.headers.Get("cache-status");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->rfind("sluice; hit; ttl=", 0), 0u) << *status;
  EXPECT_NE(status->find("; collapsed; detail=streamed"), std::string::npos) << *status;
  ASSERT_NE(reply.source, nullptr);
  EXPECT_EQ(reply.source->length(), 10);  // Content-Length for the client
  BodySource::Chunk got = reply.source->Next(1 << 16);
  EXPECT_EQ(got.data, "hello");
  EXPECT_FALSE(got.end);
  got = reply.source->Next(1 << 16);  // nothing now
  EXPECT_TRUE(got.data.empty());
  EXPECT_FALSE(got.end || got.failed);
  // A miss now: answered at once, no pause.
  Request late(&loop_, "/big");
  ASSERT_EQ(lookup_.OnRequestHead(late.state), Verdict::kReply);
  EXPECT_EQ(late.state.cache_outcome, CacheOutcome::kCoalesced);
  EXPECT_TRUE(late.state.cache_waited);
  // The rest arrives: the waiter is woken on its loop.
  int ready = 0;
  reply.source->SetReady([&] {
    ++ready;
    loop_.Stop();
  });
  chunk = "world";
  storer_.OnResponseBody(filler.state, chunk);
  std::string_view tail;
  storer_.OnResponseEnd(filler.state, tail);
  EXPECT_EQ(filler.state.cache_fill, CacheFill::kStored);
  RunLoop();
  EXPECT_EQ(ready, 1);
  got = reply.source->Next(1 << 16);
  EXPECT_EQ(got.data, "world");
  EXPECT_TRUE(got.end);
  EXPECT_EQ(BodyOf(late.state.reply), "helloworld");
  EXPECT_EQ(store_.stats().coalesced_waits, 2u);
}

// The fill is cut short after its waiter got bytes (the filling client
// went away, or the origin reset): the waiter's body fails (the exchange
// cuts its response), nothing is stored, and the next miss fills again.
TEST_F(CacheStageTest, AFillCutShortFailsTheWaitersStreamingIt) {
  Request filler(&loop_, "/cut");
  Request waiter(&loop_, "/cut");
  ASSERT_NO_FATAL_FAILURE(StartFill(filler, waiter, 100));
  std::string_view chunk = "only ten b";
  storer_.OnResponseBody(filler.state, chunk);
  RunLoop();
  ASSERT_TRUE(waiter.state.reply_when_resumed);
  ASSERT_NE(waiter.state.reply.source, nullptr);
  EXPECT_EQ(waiter.state.reply.source->Next(1 << 16).data, "only ten b");
  storer_.OnComplete(filler.state);  // cut short
  EXPECT_EQ(filler.state.cache_fill, CacheFill::kAbandoned);
  BodySource::Chunk got = waiter.state.reply.source->Next(1 << 16);
  EXPECT_TRUE(got.failed);
  EXPECT_FALSE(got.end);
  EXPECT_EQ(store_.Find(cache::PrimaryKey("http", "cache.test", "/cut")), nullptr);
  Request next(&loop_, "/cut");
  EXPECT_EQ(lookup_.OnRequestHead(next.state), Verdict::kContinue);
  EXPECT_EQ(next.state.cache_outcome, CacheOutcome::kMiss);
}

// A body of unknown length is not streamed (it may outgrow the maximum
// object size after a waiter was answered): its waiters wait for the end.
TEST_F(CacheStageTest, ABodyOfUnknownLengthIsServedToWaitersWhenComplete) {
  Request filler(&loop_, "/chunked");
  Request waiter(&loop_, "/chunked");
  ASSERT_NO_FATAL_FAILURE(StartFill(filler, waiter, -1));
  std::string_view chunk = "part";
  storer_.OnResponseBody(filler.state, chunk);
  Request late(&loop_, "/chunked");
  EXPECT_EQ(lookup_.OnRequestHead(late.state), Verdict::kPause);  // waits too
  std::string_view tail;
  storer_.OnResponseEnd(filler.state, tail);
  RunLoop();
  EXPECT_EQ(waiter.resumer.resumed, 1);
  EXPECT_TRUE(waiter.state.reply_when_resumed);
  EXPECT_EQ(BodyOf(waiter.state.reply), "part");
  const std::string* status = waiter.state.reply.headers.Get("cache-status");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->find("streamed"), std::string::npos) << *status;
}

TEST_F(CacheStageTest, WaitTimesOutToTheOrigin) {
  options_.wait_timeout_ms = 30;
  CacheLookupStage lookup(options_, &store_);
  Request filler(&loop_, "/slow");
  Request waiter(&loop_, "/slow");
  ASSERT_EQ(lookup.OnRequestHead(filler.state), Verdict::kContinue);
  ASSERT_EQ(lookup.OnRequestHead(waiter.state), Verdict::kPause);
  RunLoop();  // the fill never ends
  EXPECT_EQ(waiter.resumer.resumed, 1);
  EXPECT_FALSE(waiter.state.reply_when_resumed);
  EXPECT_EQ(waiter.state.cache_outcome, CacheOutcome::kMiss);
}

TEST_F(CacheStageTest, AWaiterThatGoesAwayIsNeverResumedAndOthersAre) {
  Request filler(&loop_, "/g");
  auto gone = std::make_unique<Request>(&loop_, "/g");
  Request stays(&loop_, "/g");
  ASSERT_EQ(lookup_.OnRequestHead(filler.state), Verdict::kContinue);
  ASSERT_EQ(lookup_.OnRequestHead(gone->state), Verdict::kPause);
  ASSERT_EQ(lookup_.OnRequestHead(stays.state), Verdict::kPause);
  gone.reset();  // the client went away: its StageData cancels the wait and the timer
  ASSERT_EQ(Respond(filler, 200, "cache-control: max-age=60", "x"), Verdict::kContinue);
  RunLoop();
  EXPECT_EQ(stays.resumer.resumed, 1);
  EXPECT_EQ(BodyOf(stays.state.reply), "x");
}

TEST_F(CacheStageTest, AWaiterGoneAfterItsWakeUpWasPostedIsNotTouched) {
  Request filler(&loop_, "/p");
  auto gone = std::make_unique<Request>(&loop_, "/p");
  Request stays(&loop_, "/p");
  ASSERT_EQ(lookup_.OnRequestHead(filler.state), Verdict::kContinue);
  ASSERT_EQ(lookup_.OnRequestHead(gone->state), Verdict::kPause);
  ASSERT_EQ(lookup_.OnRequestHead(stays.state), Verdict::kPause);
  ASSERT_EQ(Respond(filler, 200, "cache-control: max-age=60", "y"), Verdict::kContinue);
  gone.reset();  // its wake-up is already queued on the loop (ASan: no use after free)
  RunLoop();
  EXPECT_EQ(stays.resumer.resumed, 1);
}

// A stored object that is stale (Age 100 > max-age 1) and may be served on
// an origin error for 600 s.
TEST_F(CacheStageTest, OriginErrorIsAnsweredWithTheStaleObject) {
  Request first(&loop_, "/s");
  ASSERT_EQ(lookup_.OnRequestHead(first.state), Verdict::kContinue);
  ASSERT_EQ(Respond(first, 200, "cache-control: max-age=1, stale-if-error=600\nage: 100", "old body"),
            Verdict::kContinue);
  ASSERT_EQ(first.state.cache_fill, CacheFill::kStored);

  Request second(&loop_, "/s");
  ASSERT_EQ(lookup_.OnRequestHead(second.state), Verdict::kContinue);  // stale: to the origin
  EXPECT_EQ(second.state.cache_outcome, CacheOutcome::kMiss);
  ASSERT_EQ(Respond(second, 503, "content-type: text/plain", "down"), Verdict::kReply);
  EXPECT_EQ(second.state.cache_outcome, CacheOutcome::kStale);
  EXPECT_EQ(second.state.reply.status, 200);
  EXPECT_EQ(BodyOf(second.state.reply), "old body");
  const std::string* status = second.state.reply.headers.Get("cache-status");
  ASSERT_NE(status, nullptr);
  EXPECT_NE(status->find("fwd=stale; fwd-status=503"), std::string::npos) << *status;
  EXPECT_NE(status->find("detail=stale-if-error"), std::string::npos) << *status;

  // The proxy's own 502 for a connect failure: replaced in place.
  Request third(&loop_, "/s");
  ASSERT_EQ(lookup_.OnRequestHead(third.state), Verdict::kContinue);
  third.state.error = ProxyError::Upstream(ErrorCode::kConnectFailed, "refused");
  third.state.reply.status = 502;
  third.state.reply.body = "upstream unavailable\n";
  http::ResponseHead head = BuildLocalReplyHead(third.state.reply, ReplyShape::Of(third.state.request));
  EXPECT_EQ(storer_.OnResponseHead(third.state, head, /*local=*/true), Verdict::kContinue);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(third.state.reply.status, 200);
  EXPECT_EQ(BodyOf(third.state.reply), "old body");
  ASSERT_NE(head.headers.Get("content-length"), nullptr);
  EXPECT_EQ(*head.headers.Get("content-length"), "8");
}

TEST_F(CacheStageTest, OriginErrorPassesWithoutStaleIfError) {
  Request first(&loop_, "/n");
  ASSERT_EQ(lookup_.OnRequestHead(first.state), Verdict::kContinue);
  ASSERT_EQ(Respond(first, 200, "cache-control: max-age=1\nage: 100", "old"), Verdict::kContinue);
  Request second(&loop_, "/n");
  ASSERT_EQ(lookup_.OnRequestHead(second.state), Verdict::kContinue);
  ASSERT_EQ(Respond(second, 503, "content-type: text/plain", "down"), Verdict::kContinue);
  EXPECT_EQ(last_head_.status, 503);
  // A 503 without freshness is not storable: the key is hit-for-pass.
  EXPECT_EQ(second.state.cache_outcome, CacheOutcome::kPass);
}

TEST_F(CacheStageTest, HitsAndBypassesAreNoted) {
  Request first(&loop_, "/h");
  ASSERT_EQ(lookup_.OnRequestHead(first.state), Verdict::kContinue);
  ASSERT_EQ(Respond(first, 200, "cache-control: max-age=60", "h"), Verdict::kContinue);
  Request hit(&loop_, "/h");
  EXPECT_EQ(lookup_.OnRequestHead(hit.state), Verdict::kReply);
  EXPECT_EQ(hit.state.cache_outcome, CacheOutcome::kHit);
  Request post(&loop_, "/h");
  post.state.request.method = "POST";
  EXPECT_EQ(lookup_.OnRequestHead(post.state), Verdict::kContinue);
  EXPECT_EQ(post.state.cache_outcome, CacheOutcome::kBypass);
  EXPECT_EQ(CacheOutcomeName(CacheOutcome::kCoalesced), "COALESCED");
}


// stale-while-revalidate (RFC 5861 §3): the stale object is answered at
// once and one conditional request per key goes to the route's cluster in
// the background.
class BackgroundRevalidationTest : public CacheStageTest {
 protected:
  BackgroundRevalidationTest() : background_lookup_(WithCluster(), &store_) {}
  static CacheStageOptions WithCluster() {
    CacheStageOptions options;
    options.background.cluster = "shop/web:80";
    return options;
  }
  // Stores "old body" for `path` with `fields`, through a first miss.
  void Fill(const std::string& path, const std::string& fields) {
    Request first(&loop_, path);
    ASSERT_EQ(background_lookup_.OnRequestHead(first.state), Verdict::kContinue);
    ASSERT_EQ(Respond(first, 200, fields, "old body"), Verdict::kContinue);
    ASSERT_EQ(first.state.cache_fill, CacheFill::kStored);
  }
  // A request for `path` through the lookup stage, with the client.
  Verdict Lookup(Request& r) {
    r.state.subrequests = &client_;
    r.state.request.headers.Add("accept-language", "de");
    r.state.request.headers.Add("if-none-match", "\"client-copy\"");
    return background_lookup_.OnRequestHead(r.state);
  }
  CacheLookupStage background_lookup_;
  subrequest::ScriptedClient client_;
};

TEST_F(BackgroundRevalidationTest, StaleIsAnsweredAndA304RefreshesItInTheBackground) {
  Fill("/swr", "cache-control: max-age=10, stale-while-revalidate=600\nage: 100\netag: \"v1\"");
  Request stale(&loop_, "/swr");
  ASSERT_EQ(Lookup(stale), Verdict::kReply);
  EXPECT_EQ(stale.state.cache_outcome, CacheOutcome::kStale);
  EXPECT_EQ(BodyOf(stale.state.reply), "old body");
  ASSERT_EQ(client_.detached.size(), 1u);
  const subrequest::Request& sent = client_.detached[0].first;
  EXPECT_EQ(sent.cluster, "shop/web:80");
  EXPECT_EQ(sent.path, "/swr");
  EXPECT_EQ(sent.authority, "cache.test");
  ASSERT_NE(sent.headers.Get("if-none-match"), nullptr);
  EXPECT_EQ(*sent.headers.Get("if-none-match"), "\"v1\"");  // ours, not the client's
  EXPECT_EQ(sent.headers.Count("if-none-match"), 1u);
  ASSERT_NE(sent.headers.Get("accept-language"), nullptr);  // the representation the client asks for

  // A second stale hit while it is out: answered, nothing more sent.
  Request again(&loop_, "/swr");
  ASSERT_EQ(Lookup(again), Verdict::kReply);
  EXPECT_EQ(client_.detached.size(), 1u);

  subrequest::Response not_modified;
  not_modified.status = 304;
  not_modified.headers.Add("cache-control", "max-age=300");
  not_modified.headers.Add("etag", "\"v1\"");
  not_modified.headers.Add("server", "backend/1.0");  // the backend's own: not stored
  client_.detached[0].second(std::move(not_modified));

  Request fresh(&loop_, "/swr");
  ASSERT_EQ(background_lookup_.OnRequestHead(fresh.state), Verdict::kReply);
  EXPECT_EQ(fresh.state.cache_outcome, CacheOutcome::kHit);
  EXPECT_EQ(BodyOf(fresh.state.reply), "old body");
  EXPECT_EQ(fresh.state.reply.headers.Get("server"), nullptr);
  const std::string* age = fresh.state.reply.headers.Get("age");
  ASSERT_NE(age, nullptr);
  EXPECT_EQ(*age, "0");
}

TEST_F(BackgroundRevalidationTest, ANewResponseAtTheOriginRemovesTheStoredOne) {
  Fill("/changed", "cache-control: max-age=10, stale-while-revalidate=600\nage: 100\nlast-modified: Tue, 01 Dec 2026 10:00:00 GMT");
  Request stale(&loop_, "/changed");
  ASSERT_EQ(Lookup(stale), Verdict::kReply);
  ASSERT_EQ(client_.detached.size(), 1u);
  EXPECT_NE(client_.detached[0].first.headers.Get("if-modified-since"), nullptr);
  subrequest::Response changed;
  changed.status = 200;
  changed.truncated = true;
  client_.detached[0].second(std::move(changed));
  // The next request is a miss: fetched through the route's stages.
  Request next(&loop_, "/changed");
  ASSERT_EQ(background_lookup_.OnRequestHead(next.state), Verdict::kContinue);
  EXPECT_EQ(next.state.cache_outcome, CacheOutcome::kMiss);
}

TEST_F(BackgroundRevalidationTest, AnOriginErrorKeepsTheStaleObject) {
  Fill("/down", "cache-control: max-age=10, stale-while-revalidate=600\nage: 100\netag: \"d\"");
  Request stale(&loop_, "/down");
  ASSERT_EQ(Lookup(stale), Verdict::kReply);
  ASSERT_EQ(client_.detached.size(), 1u);
  subrequest::Response failed;  // status 0: no answer
  failed.error = "connect refused";
  client_.detached[0].second(std::move(failed));
  // Still answered stale, and the next stale hit asks again.
  Request again(&loop_, "/down");
  ASSERT_EQ(Lookup(again), Verdict::kReply);
  EXPECT_EQ(BodyOf(again.state.reply), "old body");
  EXPECT_EQ(client_.detached.size(), 2u);
}

TEST_F(BackgroundRevalidationTest, NotWithoutAValidatorOrAClusterOrTheWindow) {
  Fill("/plain", "cache-control: max-age=10, stale-while-revalidate=600\nage: 100");
  Request no_validator(&loop_, "/plain");
  ASSERT_EQ(Lookup(no_validator), Verdict::kReply);
  EXPECT_EQ(client_.detached.size(), 0u);

  Fill("/v", "cache-control: max-age=10, stale-while-revalidate=600\nage: 100\netag: \"x\"");
  Request no_cluster(&loop_, "/v");
  no_cluster.state.subrequests = &client_;
  ASSERT_EQ(lookup_.OnRequestHead(no_cluster.state), Verdict::kReply);  // the fixture's stage: no cluster
  EXPECT_EQ(client_.detached.size(), 0u);

  Fill("/fresh", "cache-control: max-age=600, stale-while-revalidate=600\netag: \"f\"");
  Request fresh(&loop_, "/fresh");
  ASSERT_EQ(Lookup(fresh), Verdict::kReply);
  EXPECT_EQ(fresh.state.cache_outcome, CacheOutcome::kHit);
  EXPECT_EQ(client_.detached.size(), 0u);
}

}  // namespace
}  // namespace sluice::pipeline
