#include "dataplane/balancer/round_robin.h"

#include <gtest/gtest.h>

#include <map>

namespace sluice::balancer {
namespace {

snapshot::CompiledCluster MakeCluster(std::vector<std::pair<std::string, uint32_t>> endpoints) {
  snapshot::CompiledCluster cluster;
  cluster.name = "ns/svc:80";
  for (auto& [key, weight] : endpoints) {
    snapshot::CompiledEndpoint e;
    e.key = key;
    e.weight = weight;
    cluster.endpoints.push_back(e);
  }
  return cluster;
}

TEST(RoundRobinTest, CyclesExactlyInWeightProportion) {
  auto cluster = MakeCluster({{"a", 2}, {"b", 1}, {"c", 1}});
  RoundRobin rr;
  std::map<std::string, int> counts;
  for (int i = 0; i < 400; ++i) counts[rr.Pick(cluster)->key]++;
  EXPECT_EQ(counts["a"], 200);
  EXPECT_EQ(counts["b"], 100);
  EXPECT_EQ(counts["c"], 100);
}

TEST(RoundRobinTest, SkipsTheFailedEndpointWhenAnotherExists) {
  auto cluster = MakeCluster({{"a", 1}, {"b", 1}});
  RoundRobin rr;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(rr.Pick(cluster, &cluster.endpoints[0])->key, "b");
  auto single = MakeCluster({{"a", 1}});
  EXPECT_EQ(rr.Pick(single, &single.endpoints[0])->key, "a");
  EXPECT_EQ(rr.Pick(MakeCluster({})), nullptr);
}

}  // namespace
}  // namespace sluice::balancer
