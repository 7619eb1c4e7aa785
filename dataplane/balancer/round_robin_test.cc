#include "dataplane/balancer/round_robin.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::balancer {
namespace {

std::string Sequence(const std::vector<uint32_t>& weights, int picks, std::vector<bool> eligible = {}) {
  std::vector<int64_t> current(weights.size(), 0);
  if (eligible.empty()) eligible.assign(weights.size(), true);
  std::string out;
  for (int i = 0; i < picks; ++i) {
    size_t chosen = SmoothWeightedPick(
        current, [&](size_t j) { return weights[j]; }, [&](size_t j) { return static_cast<bool>(eligible[j]); });
    out += chosen == kNoEndpoint ? '-' : static_cast<char>('a' + chosen);
  }
  return out;
}

TEST(SmoothWeightedRoundRobinTest, InterleavesLikeNginx) {
  // nginx's documented example: 5, 1, 1 -> a a b a c a a, not a a a a a b c.
  EXPECT_EQ(Sequence({5, 1, 1}, 7), "aabacaa");
  EXPECT_EQ(Sequence({5, 1, 1}, 14), "aabacaaaabacaa");
  EXPECT_EQ(Sequence({1, 1, 1}, 6), "abcabc");
  EXPECT_EQ(Sequence({2, 1}, 6), "abaaba");
}

TEST(SmoothWeightedRoundRobinTest, ExactProportionsOverWholeCycles) {
  std::vector<uint32_t> weights = {3, 2, 1, 4};
  std::string seq = Sequence(weights, 1000);
  EXPECT_EQ(std::count(seq.begin(), seq.end(), 'a'), 300);
  EXPECT_EQ(std::count(seq.begin(), seq.end(), 'b'), 200);
  EXPECT_EQ(std::count(seq.begin(), seq.end(), 'c'), 100);
  EXPECT_EQ(std::count(seq.begin(), seq.end(), 'd'), 400);
}

TEST(SmoothWeightedRoundRobinTest, IneligibleEndpointsSitOut) {
  EXPECT_EQ(Sequence({5, 1, 1}, 6, {true, false, true}), "aaacaa");  // as 5, 1
  EXPECT_EQ(Sequence({1, 1}, 3, {false, false}), "---");
}

}  // namespace
}  // namespace sluice::balancer
