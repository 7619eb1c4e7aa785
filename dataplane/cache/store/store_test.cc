#include "dataplane/cache/store/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "dataplane/cache/store/test_object.h"

namespace sluice::cache {
namespace {

StoreOptions Options(size_t capacity, size_t shards = 1, size_t max_object = 1u << 20) {
  StoreOptions o;
  o.capacity_bytes = capacity;
  o.shards = shards;
  o.max_object_bytes = max_object;
  return o;
}

TEST(Store, InsertFindReplaceRemove) {
  Store store(Options(1 << 20));
  EXPECT_EQ(store.Find("http://a/x"), nullptr);
  ASSERT_TRUE(store.Insert(TestObject("http://a/x", 100)));
  std::shared_ptr<const CachedObject> hit = store.Find("http://a/x");
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->body->size(), 100u);
  EXPECT_EQ(hit->charge, ChargeOf(*hit));
  const uint64_t first_sequence = hit->sequence;
  ASSERT_TRUE(store.Insert(TestObject("http://a/x", 50, 'y')));
  std::shared_ptr<const CachedObject> replaced = store.Find("http://a/x");
  EXPECT_EQ(*replaced->body, std::string(50, 'y'));
  EXPECT_GT(replaced->sequence, first_sequence);
  EXPECT_EQ(*hit->body, std::string(100, 'x'));  // the old one lives on while held
  EXPECT_EQ(store.stats().objects, 1u);
  EXPECT_EQ(store.stats().bytes, replaced->charge);
  ASSERT_TRUE(store.Insert(TestObject("http://a/y/1", 10)));
  ASSERT_TRUE(store.Insert(TestObject("http://a/y/2", 10)));
  ASSERT_TRUE(store.Insert(TestObject("http://b/y/3", 10)));
  EXPECT_EQ(store.RemovePrefix("http://a/y/"), 2u);
  EXPECT_TRUE(store.Remove("http://a/x"));
  EXPECT_FALSE(store.Remove("http://a/x"));
  EXPECT_NE(store.Find("http://b/y/3"), nullptr);
  EXPECT_EQ(store.stats().objects, 1u);
  EXPECT_TRUE(store.CheckInvariants());
}

// The charge counts every heap byte the object owns plus a fixed overhead.
TEST(Store, ChargeIsExact) {
  CachedObject small;
  small.key = "k";
  const size_t base = ChargeOf(small);
  CachedObject o;
  o.key = std::string(100, 'k');
  o.body = std::make_shared<const std::string>(1000, 'b');
  o.headers.Add(std::string(40, 'n'), std::string(50, 'v'));
  o.vary = {std::string(20, 'a')};
  const size_t expected = base + (o.key.capacity() + 1) + (o.body->capacity() + 1) +
                          o.headers.entries().capacity() * sizeof(http::Header) + 41 + 51 +
                          o.vary.capacity() * sizeof(std::string) + 21;
  EXPECT_EQ(ChargeOf(o), expected);
}

TEST(Store, NeverAboveTheBudgetWithMixedSizes) {
  const size_t capacity = 256 * 1024;
  Store store(Options(capacity, 4, 32 * 1024));
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<size_t> size(0, 40 * 1024);
  size_t rejected_too_large = 0;
  for (int i = 0; i < 5000; ++i) {
    const size_t bytes = size(rng);
    const bool ok = store.Insert(TestObject("k" + std::to_string(rng() % 500), bytes));
    if (bytes > store.max_object_bytes()) {
      EXPECT_FALSE(ok);
      ++rejected_too_large;
    }
    if (i % 7 == 0) store.Find("k" + std::to_string(rng() % 500));
    ASSERT_LE(store.stats().bytes + store.stats().reserved_bytes, store.capacity_bytes());
  }
  EXPECT_GT(rejected_too_large, 0u);
  EXPECT_LE(store.capacity_bytes(), capacity);
  EXPECT_GT(store.stats().evictions, 0u);
  EXPECT_TRUE(store.CheckInvariants());
}

// S3-FIFO: objects hit while in the small FIFO survive a scan of one-hit
// wonders; plain FIFO/LRU without hits would lose them.
TEST(Store, S3FifoKeepsHitObjectsThroughAScan) {
  CachedObject probe;
  probe.key = "key-000000";
  probe.headers.Add("content-type", "text/plain");
  probe.body = std::make_shared<const std::string>(100, 'x');
  const size_t charge = ChargeOf(probe);
  Store store(Options(charge * 100));
  for (int i = 0; i < 20; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "key-%06d", i);
    ASSERT_TRUE(store.Insert(TestObject(key, 100)));
    ASSERT_NE(store.Find(key), nullptr);  // one hit each
  }
  // A scan of 1000 keys seen once.
  for (int i = 1000; i < 2000; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "key-%06d", i);
    ASSERT_TRUE(store.Insert(TestObject(key, 100)));
  }
  int kept = 0;
  for (int i = 0; i < 20; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "key-%06d", i);
    kept += store.Find(key) != nullptr;
  }
  EXPECT_EQ(kept, 20);
  // A key evicted from the small FIFO is in the ghost: inserted again it
  // goes to main, and survives the next scan without a hit.
  ASSERT_EQ(store.Find("key-001000"), nullptr);
  ASSERT_TRUE(store.Insert(TestObject("key-001000", 100)));
  for (int i = 3000; i < 3050; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "key-%06d", i);
    ASSERT_TRUE(store.Insert(TestObject(key, 100)));
  }
  EXPECT_NE(store.Find("key-001000"), nullptr);
  EXPECT_TRUE(store.CheckInvariants());
}

TEST(Store, EvictedObjectSurvivesWhileHeld) {
  Store store(Options(64 * 1024, 1, 32 * 1024));
  // Held by a reader (as a hit streaming to a slow client holds it), but
  // never hit again, so S3-FIFO evicts it.
  std::shared_ptr<const CachedObject> held = TestObject("big", 30 * 1024, 'b');
  ASSERT_TRUE(store.Insert(std::const_pointer_cast<CachedObject>(held)));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store.Insert(TestObject("other" + std::to_string(i), 20 * 1024)));
  EXPECT_EQ(store.Find("big"), nullptr);
  EXPECT_EQ(*held->body, std::string(30 * 1024, 'b'));
}

TEST(Store, ObjectsOverTheMaximumSizeAreRejected) {
  Store store(Options(1 << 20, 1, 1000));
  EXPECT_FALSE(store.Insert(TestObject("a", 1001)));
  EXPECT_TRUE(store.Insert(TestObject("a", 1000)));
  // A fill whose Content-Length is over the maximum, or whose body grows over it.
  Admission a = store.Admit("b", 0, nullptr);
  ASSERT_EQ(a.kind, Admission::kFill);
  CachedObject head;
  EXPECT_FALSE(a.fill->Begin(head, 5000));
  EXPECT_TRUE(a.fill->finished());
  Admission b = store.Admit("c", 0, nullptr);
  ASSERT_TRUE(b.fill->Begin(head, -1));
  EXPECT_TRUE(b.fill->Append(std::string(600, 'x')));
  EXPECT_FALSE(b.fill->Append(std::string(600, 'x')));
  EXPECT_EQ(b.fill->Commit(), nullptr);
  EXPECT_EQ(store.Find("c"), nullptr);
  EXPECT_EQ(store.stats().reserved_bytes, 0u);
}

TEST(Fill, StreamsAndPublishesWhenComplete) {
  Store store(Options(1 << 20));
  Admission a = store.Admit("k", 0, nullptr);
  ASSERT_EQ(a.kind, Admission::kFill);
  CachedObject head;
  head.status = 200;
  head.headers.Add("content-type", "text/html");
  head.freshness.lifetime = 60;
  ASSERT_TRUE(a.fill->Begin(std::move(head), 10));
  EXPECT_GT(store.stats().reserved_bytes, 10u);  // reserved before the bytes came
  ASSERT_TRUE(a.fill->Append("hello"));
  EXPECT_EQ(store.Find("k"), nullptr);  // not visible until complete
  ASSERT_TRUE(a.fill->Append("world"));
  EXPECT_FALSE(a.fill->Append("!"));  // beyond Content-Length
  // That abandoned it; a new fill, unknown length, grows as it goes.
  Admission b = store.Admit("k", 0, nullptr);
  ASSERT_EQ(b.kind, Admission::kFill);
  ASSERT_TRUE(b.fill->Begin(CachedObject{}, -1));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(b.fill->Append(std::string(1000, 'a' + i % 26)));
  std::shared_ptr<const CachedObject> published = b.fill->Commit();
  ASSERT_NE(published, nullptr);
  EXPECT_EQ(published->key, "k");
  EXPECT_EQ(published->body->size(), 100000u);
  EXPECT_LE(published->body->capacity(), 100000u + 100000u / 8 + 4096);
  EXPECT_EQ(store.Find("k"), published);
  const StoreStats s = store.stats();
  EXPECT_EQ(s.reserved_bytes, 0u);
  EXPECT_EQ(s.bytes, published->charge);
  EXPECT_TRUE(store.CheckInvariants());
}

TEST(Fill, TruncatedBodyIsNeverStored) {
  Store store(Options(1 << 20));
  std::vector<FillOutcome> outcomes;
  Admission a = store.Admit("k", 0, nullptr);
  Admission w = store.Admit("k", 0, [&](FillOutcome o) { outcomes.push_back(o); });
  ASSERT_EQ(w.kind, Admission::kWait);
  ASSERT_TRUE(a.fill->Begin(CachedObject{}, 100));
  // The waiter streams it (its length is known).
  EXPECT_EQ(outcomes, std::vector<FillOutcome>{FillOutcome::kStreaming});
  std::shared_ptr<FillStream> stream = w.wait->stream();
  ASSERT_NE(stream, nullptr);
  ASSERT_TRUE(a.fill->Append(std::string(60, 'x')));
  EXPECT_EQ(a.fill->Commit(), nullptr);  // 60 of 100 bytes
  EXPECT_EQ(store.Find("k"), nullptr);
  // Its reader is told it failed, with nothing more to read.
  EXPECT_EQ(stream->state(), FillStream::State::kFailed);
  FillStream::Read read = stream->ReadAt(0, 1000, nullptr);
  EXPECT_EQ(read.state, FillStream::State::kFailed);
  EXPECT_TRUE(read.data.empty());
  EXPECT_EQ(store.stats().reserved_bytes, 0u);
}

TEST(Fill, DestroyedUnfinishedIsAbandoned) {
  Store store(Options(1 << 20));
  std::vector<FillOutcome> outcomes;
  Admission w;
  {
    Admission a = store.Admit("k", 0, nullptr);
    w = store.Admit("k", 0, [&](FillOutcome o) { outcomes.push_back(o); });
    ASSERT_TRUE(a.fill->Begin(CachedObject{}, -1));
    ASSERT_TRUE(a.fill->Append("partial"));
  }  // the client went away
  EXPECT_EQ(outcomes, std::vector<FillOutcome>{FillOutcome::kAbandoned});
  EXPECT_EQ(store.stats().reserved_bytes, 0u);
  // The next miss fills.
  EXPECT_EQ(store.Admit("k", 0, nullptr).kind, Admission::kFill);
}

TEST(Coalescing, WaitersAreToldAndLookUpAgain) {
  Store store(Options(1 << 20));
  Admission filler = store.Admit("k", 100, nullptr);
  ASSERT_EQ(filler.kind, Admission::kFill);
  std::vector<FillOutcome> outcomes;
  std::vector<Admission> waiters;
  for (int i = 0; i < 5; ++i) {
    waiters.push_back(store.Admit("k", 100, [&](FillOutcome o) { outcomes.push_back(o); }));
    ASSERT_EQ(waiters.back().kind, Admission::kWait);
  }
  // A cancelled waiter is never called.
  waiters.pop_back();
  // Unknown length: not streamed, the waiters hear of the end.
  ASSERT_TRUE(filler.fill->Begin(CachedObject{}, -1));
  EXPECT_TRUE(outcomes.empty());
  ASSERT_TRUE(filler.fill->Append("abc"));
  ASSERT_NE(filler.fill->Commit(), nullptr);
  EXPECT_EQ(outcomes, std::vector<FillOutcome>(4, FillOutcome::kPublished));
  Admission again = store.Admit("k", 100, nullptr);
  ASSERT_EQ(again.kind, Admission::kHit);
  EXPECT_EQ(*again.object->body, "abc");
  EXPECT_EQ(store.stats().coalesced_waits, 5u);
  // kRevalidate: a fill although an object is there.
  EXPECT_EQ(store.Admit("k", 100, nullptr, AdmitMode::kRevalidate).kind, Admission::kFill);
}

TEST(Coalescing, UncacheableReleasesWaitersAndRemembersThePass) {
  Store store(Options(1 << 20));
  Admission filler = store.Admit("k", 100, nullptr);
  std::vector<FillOutcome> outcomes;
  Admission w = store.Admit("k", 100, [&](FillOutcome o) { outcomes.push_back(o); });
  filler.fill->Uncacheable(/*pass_until=*/160);
  EXPECT_EQ(outcomes, std::vector<FillOutcome>{FillOutcome::kUncacheable});
  // Hit-for-pass: later misses go to the origin at once, no queueing.
  EXPECT_EQ(store.Admit("k", 120, nullptr).kind, Admission::kPass);
  EXPECT_EQ(store.Admit("k", 159, nullptr).kind, Admission::kPass);
  EXPECT_EQ(store.Admit("k", 160, nullptr).kind, Admission::kFill);
}

TEST(Coalescing, WaitersAreBounded) {
  StoreOptions options = Options(1 << 20);
  options.max_waiters_per_fill = 3;
  Store store(options);
  Admission filler = store.Admit("k", 0, nullptr);
  std::vector<Admission> waiters;
  for (int i = 0; i < 3; ++i) waiters.push_back(store.Admit("k", 0, [](FillOutcome) {}));
  EXPECT_EQ(store.Admit("k", 0, [](FillOutcome) {}).kind, Admission::kBusy);
  waiters.pop_back();  // a cancelled waiter frees its place
  EXPECT_EQ(store.Admit("k", 0, [](FillOutcome) {}).kind, Admission::kWait);
}

TEST(Store, FillReservationsCountAgainstTheBudget) {
  const size_t charge = ChargeOf(*TestObject("o0", 1000));
  Store store(Options(charge * 10, 1, charge * 10));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store.Insert(TestObject("o" + std::to_string(i), 1000)));
  EXPECT_EQ(store.stats().objects, 10u);
  Admission a = store.Admit("big", 0, nullptr);
  ASSERT_TRUE(a.fill->Begin(CachedObject{}, static_cast<int64_t>(charge * 5)));
  // Room was made before the bytes arrived.
  EXPECT_LE(store.stats().objects, 4u);
  EXPECT_LE(store.stats().bytes + store.stats().reserved_bytes, store.capacity_bytes());
  a.fill->Abandon();
  EXPECT_EQ(store.stats().reserved_bytes, 0u);
}

// Many threads, one store: lookups, fills, commits, abandons, removals and
// waits at once. Run under --config=asan (and TSan where available); the
// invariants and the budget must hold at the end, and every waiter must
// have been told exactly once.
TEST(Store, ConcurrentUse) {
  Store store(Options(512 * 1024, 8, 16 * 1024));
  std::atomic<int> callbacks{0};
  std::atomic<int> waits{0};
  std::atomic<int> fills{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      std::vector<std::unique_ptr<Wait>> pending;
      for (int i = 0; i < 20000; ++i) {
        const std::string key = "k" + std::to_string(rng() % 300);
        switch (rng() % 8) {
          case 0:
            store.Remove(key);
            break;
          case 1:
          case 2: {
            Admission a = store.Admit(key, i, [&](FillOutcome) { callbacks.fetch_add(1); });
            if (a.kind == Admission::kWait) {
              waits.fetch_add(1);
              // Keep some waits to the end, cancel others at once.
              if (rng() % 2) pending.push_back(std::move(a.wait));
            } else if (a.kind == Admission::kFill) {
              fills.fetch_add(1);
              if (!a.fill->Begin(CachedObject{}, -1)) break;
              const size_t chunks = rng() % 5;
              bool ok = true;
              for (size_t c = 0; c < chunks && ok; ++c) ok = a.fill->Append(std::string(rng() % 6000, 'z'));
              switch (rng() % 4) {
                case 0: a.fill->Abandon(); break;
                case 1: a.fill->Uncacheable(i + 2); break;
                default: a.fill->Commit(); break;
              }
            }
            break;
          }
          default: {
            std::shared_ptr<const CachedObject> o = store.Find(key);
            if (o != nullptr) {
              ASSERT_EQ(o->body->find_first_not_of('z'), std::string::npos);
            }
          }
        }
        if (pending.size() > 16) pending.erase(pending.begin(), pending.begin() + 8);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const StoreStats s = store.stats();
  EXPECT_LE(s.bytes, store.capacity_bytes());
  EXPECT_EQ(s.reserved_bytes, 0u);
  EXPECT_GT(fills.load(), 0);
  EXPECT_TRUE(store.CheckInvariants());
}

// 1,000 concurrent misses for one key from 8 threads: exactly one fill;
// every other caller waits and is told once.
TEST(Coalescing, ThousandConcurrentMissesOneFill) {
  Store store(Options(1 << 20, 8));
  std::atomic<int> fills{0}, waits{0}, told{0}, hits{0};
  std::atomic<bool> go{false};
  std::mutex fill_mu;
  std::unique_ptr<Fill> the_fill;
  std::vector<std::unique_ptr<Wait>> all_waits;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 125; ++i) {
        Admission a = store.Admit("hot", 0, [&](FillOutcome o) {
          if (o == FillOutcome::kStreaming) told.fetch_add(1);
        });
        std::lock_guard<std::mutex> lock(fill_mu);
        if (a.kind == Admission::kFill) {
          fills.fetch_add(1);
          the_fill = std::move(a.fill);
        } else if (a.kind == Admission::kWait) {
          waits.fetch_add(1);
          all_waits.push_back(std::move(a.wait));
        } else if (a.kind == Admission::kHit) {
          hits.fetch_add(1);
        }
      }
    });
  }
  go.store(true);
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(fills.load(), 1);
  EXPECT_EQ(waits.load(), 999);
  ASSERT_TRUE(the_fill->Begin(CachedObject{}, 2));
  EXPECT_EQ(told.load(), 999);  // every waiter streams from the one fill
  ASSERT_TRUE(the_fill->Append("ok"));
  ASSERT_NE(the_fill->Commit(), nullptr);
  all_waits.clear();
}

// ------------------------------------------------------------ streaming

CachedObject Head(int64_t lifetime = 60) {
  CachedObject head;
  head.status = 200;
  head.headers.Add("content-type", "text/plain");
  head.freshness.lifetime = lifetime;
  return head;
}

// A waker that counts its calls (a reader's EventLoop::Post in the proxy).
struct CountingWaker {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  FillStream::Waker waker = std::make_shared<const std::function<void()>>([calls = calls] { calls->fetch_add(1); });
};

TEST(Streaming, WaitersReadTheBodyAsItArrives) {
  Store store(Options(1 << 20));
  Admission filler = store.Admit("k", 0, nullptr);
  std::vector<FillOutcome> outcomes;
  Admission early = store.Admit("k", 0, [&](FillOutcome o) { outcomes.push_back(o); });
  ASSERT_EQ(early.kind, Admission::kWait);
  EXPECT_EQ(early.wait->stream(), nullptr);  // nothing to read before the head
  ASSERT_TRUE(filler.fill->Begin(Head(), 10));
  // Told at once, not at the end.
  EXPECT_EQ(outcomes, std::vector<FillOutcome>{FillOutcome::kStreaming});
  std::shared_ptr<FillStream> stream = early.wait->stream();
  ASSERT_NE(stream, nullptr);
  ASSERT_NE(stream->head(), nullptr);
  EXPECT_EQ(stream->head()->status, 200);
  EXPECT_EQ(*stream->head()->headers.Get("content-type"), "text/plain");
  EXPECT_EQ(stream->length(), 10);
  // Nothing yet: the waker is left and called by the next append, once.
  CountingWaker w;
  FillStream::Read read = stream->ReadAt(0, 100, w.waker);
  EXPECT_TRUE(read.data.empty());
  EXPECT_EQ(read.state, FillStream::State::kStreaming);
  ASSERT_TRUE(filler.fill->Append("hello"));
  EXPECT_EQ(w.calls->load(), 1);
  read = stream->ReadAt(0, 100, w.waker);
  EXPECT_EQ(read.data, "hello");
  EXPECT_EQ(read.state, FillStream::State::kStreaming);
  // A miss admitted now reads the same stream at once.
  Admission late = store.Admit("k", 0, nullptr);
  ASSERT_EQ(late.kind, Admission::kStream);
  EXPECT_EQ(late.stream, stream);
  EXPECT_EQ(late.stream->ReadAt(2, 2, nullptr).data, "ll");
  ASSERT_TRUE(filler.fill->Append("world"));
  EXPECT_EQ(w.calls->load(), 1);  // it was not waiting: data was there
  EXPECT_TRUE(stream->ReadAt(10, 100, w.waker).data.empty());
  std::shared_ptr<const CachedObject> published = filler.fill->Commit();
  ASSERT_NE(published, nullptr);
  EXPECT_EQ(w.calls->load(), 2);  // the end wakes it too
  read = stream->ReadAt(5, 100, nullptr);
  EXPECT_EQ(read.data, "world");
  EXPECT_EQ(read.state, FillStream::State::kComplete);
  EXPECT_EQ(read.arrived, 10u);
  // The stream's buffer is the stored body: not copied at Commit.
  EXPECT_EQ(*published->body, "helloworld");
  EXPECT_EQ(published->body->data(), read.data.data() - 5);
  EXPECT_EQ(store.stats().coalesced_waits, 2u);  // the wait and the stream
  EXPECT_EQ(store.stats().reserved_bytes, 0u);
  EXPECT_TRUE(store.CheckInvariants());
  // Done: the next miss is a hit.
  EXPECT_EQ(store.Admit("k", 0, nullptr).kind, Admission::kHit);
}

// A reader that lags (its client is slow) holds bytes it was given while
// the fill goes on and even after it failed: no use after free, and the
// fill neither waits for it nor buffers anything for it.
TEST(Streaming, ASlowReaderNeverHoldsTheFillBack) {
  Store store(Options(1 << 20));
  Admission filler = store.Admit("k", 0, nullptr);
  ASSERT_TRUE(filler.fill->Begin(Head(), 300000));
  Admission slow = store.Admit("k", 0, nullptr);
  ASSERT_EQ(slow.kind, Admission::kStream);
  ASSERT_TRUE(filler.fill->Append(std::string(1000, 'a')));
  FillStream::Read held = slow.stream->ReadAt(0, 10, nullptr);
  const size_t reserved = store.stats().reserved_bytes;
  for (int i = 0; i < 299; ++i) ASSERT_TRUE(filler.fill->Append(std::string(1000, 'b')));
  // Reserved once for the whole known length: nothing more per reader.
  EXPECT_EQ(store.stats().reserved_bytes, reserved);
  filler.fill->Abandon();
  EXPECT_EQ(store.stats().reserved_bytes, 0u);
  EXPECT_EQ(held.data, std::string(10, 'a'));  // still readable (ASan)
  EXPECT_EQ(slow.stream->ReadAt(10, 10, nullptr).state, FillStream::State::kFailed);
  EXPECT_EQ(store.Find("k"), nullptr);
}

// Unknown length: the buffer grows into new ones; a reader holding an old
// one reads on from it, and readers see every byte in order.
TEST(Streaming, GrowingBufferKeepsReadersValid) {
  auto stream = std::make_shared<FillStream>(nullptr, -1);
  stream->Append("abc");
  FillStream::Read first = stream->ReadAt(0, 3, nullptr);
  for (int i = 0; i < 1000; ++i) stream->Append(std::string(100, 'd'));
  EXPECT_EQ(first.data, "abc");  // the old buffer lives on with its reader
  EXPECT_NE(stream->buffer()->data(), first.data.data());
  EXPECT_EQ(stream->ReadAt(3, 5, nullptr).data, "ddddd");
  stream->End(FillStream::State::kComplete);
  EXPECT_EQ(stream->ReadAt(100003, 5, nullptr).state, FillStream::State::kComplete);
}

// One writer, readers on other threads woken by their wakers (as the
// proxy's workers are): every reader gets every byte, in order, and the
// end. Run under ASan / TSan.
TEST(Streaming, ConcurrentReadersGetEveryByte) {
  Store store(Options(4 << 20, 4, 1 << 20));
  constexpr size_t kSize = 600000;
  std::string body(kSize, '\0');
  for (size_t i = 0; i < kSize; ++i) body[i] = static_cast<char>(i * 31 % 253);
  Admission filler = store.Admit("k", 0, nullptr);
  ASSERT_TRUE(filler.fill->Begin(Head(), kSize));
  constexpr int kReaders = 6;
  std::vector<std::string> got(kReaders);
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    Admission a = store.Admit("k", 0, nullptr);
    ASSERT_EQ(a.kind, Admission::kStream);
    readers.emplace_back([&got, r, stream = a.stream] {
      // Shared with the waker, which the writer may call after this reader is done.
      struct Signal {
        std::mutex mu;
        std::condition_variable cv;
        bool woken = false;
      };
      auto signal = std::make_shared<Signal>();
      auto waker = std::make_shared<const std::function<void()>>([signal] {
        std::lock_guard<std::mutex> lock(signal->mu);
        signal->woken = true;
        signal->cv.notify_one();
      });
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (std::chrono::steady_clock::now() < deadline) {
        FillStream::Read read = stream->ReadAt(got[r].size(), 1000 + r * 777, waker);
        got[r].append(read.data);
        if (read.state == FillStream::State::kComplete && got[r].size() == read.arrived) return;
        if (read.state == FillStream::State::kFailed) return;
        if (read.data.empty()) {
          std::unique_lock<std::mutex> lock(signal->mu);
          signal->cv.wait_for(lock, std::chrono::seconds(1), [&] { return signal->woken; });
          signal->woken = false;
        }
      }
    });
  }
  for (size_t at = 0; at < kSize; at += 4096) {
    ASSERT_TRUE(filler.fill->Append(std::string_view(body).substr(at, 4096)));
    if (at % (64 * 4096) == 0) std::this_thread::yield();
  }
  ASSERT_NE(filler.fill->Commit(), nullptr);
  for (std::thread& t : readers) t.join();
  for (int r = 0; r < kReaders; ++r) EXPECT_TRUE(got[r] == body) << "reader " << r << " got " << got[r].size();
}

}  // namespace
}  // namespace sluice::cache
