#include "controlplane/kube/backoff.h"

#include <gtest/gtest.h>

#include <set>

namespace sluice::kube {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, GrowsExponentiallyWithinJitterBoundsUpToTheCap) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Backoff backoff({milliseconds(100), milliseconds(1000), 2.0, 0.5}, seed);
    const int64_t bases[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int64_t base : bases) {
      const int64_t delay = backoff.Next().count();
      EXPECT_GE(delay, base);
      EXPECT_LT(delay, base + base / 2 + 1);
    }
  }
}

TEST(BackoffTest, JitterActuallySpreadsDelays) {
  std::set<int64_t> first_delays;
  for (uint64_t seed = 0; seed < 20; ++seed) first_delays.insert(Backoff({}, seed).Next().count());
  EXPECT_GT(first_delays.size(), 5u);
}

TEST(BackoffTest, ResetStartsOverAndRetryAfterIsAFloor) {
  Backoff backoff({milliseconds(100), milliseconds(10000), 2.0, 0.0}, 1);
  backoff.Next();
  backoff.Next();
  EXPECT_EQ(backoff.Next().count(), 400);
  backoff.Reset();
  EXPECT_EQ(backoff.Next().count(), 100);
  EXPECT_EQ(backoff.Next(std::chrono::seconds(3)).count(), 3000);
  EXPECT_EQ(backoff.Next(std::nullopt).count(), 400);
}

TEST(BackoffTest, RandomSecondsStaysInRange) {
  for (int i = 0; i < 200; ++i) {
    auto value = RandomSeconds(std::chrono::seconds(300), std::chrono::seconds(600)).count();
    EXPECT_GE(value, 300);
    EXPECT_LE(value, 600);
  }
}

TEST(BackoffTest, RetryAfterParsesDeltaSecondsOnly) {
  EXPECT_EQ(ParseRetryAfter("7")->count(), 7);
  EXPECT_EQ(ParseRetryAfter(" 12 ")->count(), 12);
  EXPECT_FALSE(ParseRetryAfter("").has_value());
  EXPECT_FALSE(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT").has_value());
}

}  // namespace
}  // namespace sluice::kube
