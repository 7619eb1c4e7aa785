#include "dataplane/ratelimit/bucket_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/balancer/hash.h"

namespace sluice::ratelimit {
namespace {

constexpr int64_t kSecond = 1000000;

int Passed(BucketTable& table, uint64_t key, const GcraLimit& limit, int64_t now, int tries) {
  int passed = 0;
  for (int i = 0; i < tries; ++i) passed += table.Take(key, limit, now).allowed;
  return passed;
}

TEST(GcraLimit, IntervalToleranceAndQuota) {
  GcraLimit limit = GcraLimit::Of(10, 1, 5);
  EXPECT_EQ(limit.interval_us, 100000);
  EXPECT_EQ(limit.tolerance_us, 500000);
  EXPECT_EQ(limit.quota, 6u);
  EXPECT_EQ(GcraLimit::Of(60, 60, 0).interval_us, kSecond);
}

TEST(BucketTable, BurstPlusOnePassAtOnceThenOnePerInterval) {
  BucketTable table(10);
  GcraLimit limit = GcraLimit::Of(10, 1, 5);
  int64_t now = 1000 * kSecond;
  EXPECT_EQ(Passed(table, 42, limit, now, 20), 6);  // burst 5: nginx lets 6 through at once
  Decision refused = table.Take(42, limit, now);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_us, 100000);
  // One interval later exactly one more.
  EXPECT_EQ(Passed(table, 42, limit, now + 100000, 5), 1);
  // A full period later the bucket is full again.
  EXPECT_EQ(Passed(table, 42, limit, now + 2 * kSecond, 20), 6);
}

TEST(BucketTable, RemainingAndResetDescribeTheBucket) {
  BucketTable table(10);
  GcraLimit limit = GcraLimit::Of(10, 1, 2);
  int64_t now = 5 * kSecond;
  Decision first = table.Take(7, limit, now);
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.remaining, 2u);
  EXPECT_EQ(first.reset_us, 100000);
  EXPECT_EQ(table.Take(7, limit, now).remaining, 1u);
  EXPECT_EQ(table.Take(7, limit, now).remaining, 0u);
  EXPECT_FALSE(table.Take(7, limit, now).allowed);
}

TEST(BucketTable, KeysAreIndependent) {
  BucketTable table(10);
  GcraLimit limit = GcraLimit::Of(1, 1, 0);
  int64_t now = kSecond;
  EXPECT_EQ(Passed(table, balancer::Hash64("a"), limit, now, 3), 1);
  EXPECT_EQ(Passed(table, balancer::Hash64("b"), limit, now, 3), 1);
}

TEST(BucketTable, MemoryIsBoundedAndIdleKeysAreReused) {
  BucketTable table(6);  // 64 slots
  GcraLimit limit = GcraLimit::Of(1, 1, 0);
  int64_t now = kSecond;
  // Far more keys than slots: first requests still pass (a key without a
  // slot is a full bucket), and live slots get taken over. Two keys whose
  // 18-bit tags are equal in one probe window share a bucket (here 16000
  // comparisons at 2^-18 each: a few percent chance of one such pair; in
  // the proxy's 2^17-slot table about 1 key in 16000 at full occupancy).
  int passed = 0;
  for (uint64_t i = 0; i < 1000; ++i) passed += table.Take(balancer::Hash64(std::to_string(i)), limit, now).allowed;
  EXPECT_GE(passed, 997);
  EXPECT_GT(table.evictions(), 0u);
  uint64_t evicted = table.evictions();
  // Once the buckets are full again (one second later) their slots are free:
  // new keys take them without evicting anything.
  for (uint64_t i = 1000; i < 1032; ++i) {
    EXPECT_TRUE(table.Take(balancer::Hash64(std::to_string(i)), limit, now + 2 * kSecond).allowed);
  }
  EXPECT_EQ(table.evictions(), evicted);
}

TEST(BucketTable, ThreadsSharingAKeyGetNoMoreThanTheLimit) {
  BucketTable table(10);
  GcraLimit limit = GcraLimit::Of(100, 1, 99);  // 100 at once, then 100/s
  int64_t now = 10 * kSecond;                   // frozen: only the burst may pass
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] { passed += Passed(table, 99, limit, now, 1000); });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(passed.load(), 100);
}

}  // namespace
}  // namespace sluice::ratelimit
