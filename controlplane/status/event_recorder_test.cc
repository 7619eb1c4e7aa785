#include "controlplane/status/event_recorder.h"

#include <gtest/gtest.h>

namespace sluice::status {
namespace {

using std::chrono::seconds;

const Clock::time_point kStart = Clock::time_point(seconds(1700000000));

EventSpec Problem(const std::string& name, const std::string& reason = "ServiceNotFound") {
  return {"web", name, "uid-" + name, reason, "Service web/app not found", "Warning"};
}

TEST(EventAggregatorTest, APersistingProblemIsOneEvent) {
  EventAggregator aggregator(10, 1.0);
  auto first = aggregator.Observe({Problem("a")}, kStart);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(first[0].create);
  EXPECT_EQ(first[0].count, 1);
  EXPECT_EQ(first[0].event_name.rfind("a.", 0), 0u);
  // Translations that find the same problem again emit nothing.
  EXPECT_TRUE(aggregator.Observe({Problem("a")}, kStart + seconds(1)).empty());
  EXPECT_TRUE(aggregator.Observe({Problem("a")}, kStart + seconds(2)).empty());
}

TEST(EventAggregatorTest, AProblemThatComesBackBumpsTheCountOfTheSameEvent) {
  EventAggregator aggregator(10, 1.0);
  auto first = aggregator.Observe({Problem("a")}, kStart);
  EXPECT_TRUE(aggregator.Observe({}, kStart + seconds(1)).empty());
  auto again = aggregator.Observe({Problem("a")}, kStart + seconds(2));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_FALSE(again[0].create);
  EXPECT_EQ(again[0].count, 2);
  EXPECT_EQ(again[0].event_name, first[0].event_name);
  EXPECT_EQ(again[0].first, kStart);
  EXPECT_EQ(again[0].last, kStart + seconds(2));
  // A different reason on the same Ingress is a different Event.
  auto other = aggregator.Observe({Problem("a"), Problem("a", "Conflict")}, kStart + seconds(3));
  ASSERT_EQ(other.size(), 1u);
  EXPECT_TRUE(other[0].create);
}

TEST(EventAggregatorTest, RateLimitedProblemsAreRetriedLater) {
  EventAggregator aggregator(2, 1.0);
  std::vector<EventSpec> problems = {Problem("a"), Problem("b"), Problem("c"), Problem("d")};
  EXPECT_EQ(aggregator.Observe(problems, kStart).size(), 2u);           // the burst
  EXPECT_EQ(aggregator.Observe(problems, kStart).size(), 0u);           // no tokens left
  auto later = aggregator.Observe(problems, kStart + seconds(1));       // one token refilled
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].spec.name, "c");
  EXPECT_EQ(aggregator.Observe(problems, kStart + seconds(60)).size(), 1u);  // "d", then nothing pending
  EXPECT_EQ(aggregator.Observe(problems, kStart + seconds(120)).size(), 0u);
}

TEST(EventAggregatorTest, ForgetMakesTheNextEmissionACreate) {
  EventAggregator aggregator(10, 1.0);
  aggregator.Observe({Problem("a")}, kStart);
  aggregator.Forget(Problem("a"));
  auto again = aggregator.Observe({Problem("a")}, kStart + seconds(1));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].create);
  EXPECT_EQ(again[0].count, 1);
}

}  // namespace
}  // namespace sluice::status
