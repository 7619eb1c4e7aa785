#include "dataplane/health/retry_budget.h"

#include <gtest/gtest.h>

namespace sluice::health {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(RetryBudgetTest, AllowsThePercentageOfRecentRequests) {
  RetryBudget budget;
  int64_t now = 100 * kSecond;
  for (int i = 0; i < 1000; ++i) budget.RecordRequest(now);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += budget.TryAcquireRetry(now, 20, 0) ? 1 : 0;
  EXPECT_EQ(allowed, 200);
}

TEST(RetryBudgetTest, LowTrafficStillGetsTheMinimumPerSecond) {
  RetryBudget budget;
  int64_t now = 100 * kSecond;
  budget.RecordRequest(now);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += budget.TryAcquireRetry(now, 20, 3) ? 1 : 0;
  EXPECT_EQ(allowed, 3);
  // The next second has its own minimum.
  EXPECT_TRUE(budget.TryAcquireRetry(now + kSecond, 20, 3));
}

TEST(RetryBudgetTest, OldRequestsLeaveTheWindow) {
  RetryBudget budget;
  int64_t now = 100 * kSecond;
  for (int i = 0; i < 100; ++i) budget.RecordRequest(now);
  EXPECT_EQ(budget.requests_in_window(now + 9 * kSecond), 100u);
  EXPECT_TRUE(budget.TryAcquireRetry(now + 9 * kSecond, 20, 0));
  EXPECT_EQ(budget.requests_in_window(now + 10 * kSecond), 0u);
  EXPECT_FALSE(budget.TryAcquireRetry(now + 10 * kSecond, 20, 0));
  // After a long pause everything is gone, retries included.
  for (int i = 0; i < 10; ++i) budget.RecordRequest(now + 1000 * kSecond);
  EXPECT_EQ(budget.retries_in_window(now + 1000 * kSecond), 0u);
  EXPECT_EQ(budget.requests_in_window(now + 1000 * kSecond), 10u);
  EXPECT_TRUE(budget.TryAcquireRetry(now + 1000 * kSecond, 10, 0));
  EXPECT_FALSE(budget.TryAcquireRetry(now + 1000 * kSecond, 10, 0));
}

TEST(RetryBudgetTest, RetriesOfAFailingClusterStayBoundedUnderSustainedLoad) {
  // 100 requests per second for a minute, each wanting two retries: the
  // retries never exceed 20% (plus nothing, with no floor).
  RetryBudget budget;
  uint64_t retries = 0, requests = 0;
  for (int second = 0; second < 60; ++second) {
    for (int i = 0; i < 100; ++i) {
      int64_t now = (1000 + second) * kSecond + i * (kSecond / 100);
      budget.RecordRequest(now);
      ++requests;
      for (int r = 0; r < 2; ++r) retries += budget.TryAcquireRetry(now, 20, 0) ? 1 : 0;
    }
  }
  EXPECT_LE(retries * 100, requests * 20);
  EXPECT_GE(retries * 100, requests * 18);  // and the budget is used, not starved
}

// Each cluster name has its own budget, whichever was asked for last.
TEST(RetryBudgetsTest, ClustersAskedInTurnKeepTheirOwnBudgets) {
  RetryBudgets budgets;
  const std::string a = "default/a:80", b = "default/b:80";
  const int64_t now = 1000 * kSecond;
  for (int i = 0; i < 10; ++i) {
    budgets.For(a).RecordRequest(now);
    budgets.For(b).RecordRequest(now);
    budgets.For(b).RecordRequest(now);
  }
  EXPECT_EQ(budgets.For(a).requests_in_window(now), 10u);
  EXPECT_EQ(budgets.For(b).requests_in_window(now), 20u);
  EXPECT_EQ(&budgets.For(std::string("default/a:80")), &budgets.For(a));  // by name, not by the string's address
  EXPECT_NE(&budgets.For(a), &budgets.For(b));
  EXPECT_EQ(budgets.For("default/c:80").requests_in_window(now), 0u);
}

}  // namespace
}  // namespace sluice::health
