#include "dataplane/health/snapshot_health.h"

#include <gtest/gtest.h>

#include "dataplane/health/registry.h"

namespace sluice::health {
namespace {

v1::Snapshot TwoClustersSharingAnEndpoint(const std::string& path) {
  v1::Snapshot s;
  for (const char* name : {"demo/a:80", "demo/b:80"}) {
    auto* c = s.add_clusters();
    c->set_name(name);
    auto* e = c->add_endpoints();
    e->set_address("127.0.0.1");
    e->set_port(9001);
    c->mutable_health_check()->set_path(path);
  }
  s.mutable_clusters(1)->add_endpoints()->set_address("127.0.0.2");
  s.mutable_clusters(1)->mutable_endpoints(1)->set_port(9002);
  return s;
}

TEST(SnapshotHealthTest, RegistryKeepsHealthAcrossSnapshotsAndReleasesIt) {
  HealthRegistry registry;
  auto first = snapshot::Compile(TwoClustersSharingAnEndpoint("/healthz"), "v1", &registry);
  ASSERT_TRUE(first.ok());
  const auto& a = (*first)->FindCluster("demo/a:80")->endpoints[0];
  const auto& b = (*first)->FindCluster("demo/b:80")->endpoints[0];
  ASSERT_NE(a.health, nullptr);
  EXPECT_EQ(a.health, b.health);  // one object per endpoint key
  a.health->ejected_until_ns = 12345;
  auto second = snapshot::Compile(TwoClustersSharingAnEndpoint("/healthz"), "v2", &registry);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->FindCluster("demo/a:80")->endpoints[0].health->ejected_until_ns.load(), 12345);
  EXPECT_EQ(registry.live_count(), 2u);
  first->reset();
  second->reset();
  EXPECT_EQ(registry.live_count(), 0u);
  // Without a registry: untracked, as before.
  auto plain = snapshot::Compile(TwoClustersSharingAnEndpoint("/healthz"), "v3");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->FindCluster("demo/a:80")->endpoints[0].health, nullptr);
}

TEST(SnapshotHealthTest, TargetsOnlyForClustersWithAPath) {
  HealthRegistry registry;
  auto checked = snapshot::Compile(TwoClustersSharingAnEndpoint("/ready"), "v1", &registry);
  ASSERT_TRUE(checked.ok());
  std::vector<CheckTarget> targets = CheckTargets(**checked);
  ASSERT_EQ(targets.size(), 3u);  // the checker merges the two for 127.0.0.1:9001
  EXPECT_EQ(targets[0].endpoint_key, "127.0.0.1:9001");
  EXPECT_EQ(targets[0].spec.path, "/ready");
  EXPECT_EQ(targets[0].spec.interval, std::chrono::seconds(10));
  EXPECT_EQ(targets[0].spec.unhealthy_threshold, 3u);
  auto unchecked = snapshot::Compile(TwoClustersSharingAnEndpoint(""), "v2", &registry);
  ASSERT_TRUE(unchecked.ok());
  EXPECT_TRUE(CheckTargets(**unchecked).empty());
}

TEST(SnapshotHealthTest, MetricsAndJsonShowEachEndpoint) {
  HealthRegistry registry;
  auto compiled = snapshot::Compile(TwoClustersSharingAnEndpoint("/healthz"), "v1", &registry);
  ASSERT_TRUE(compiled.ok());
  auto& health = *(*compiled)->FindCluster("demo/b:80")->endpoints[1].health;
  health.ejected_until_ns = 5'000'000'000;
  health.ejection_count = 1;
  std::string metrics = HealthMetricsText(**compiled, 1'000'000'000);
  EXPECT_NE(metrics.find("sluice_endpoint_healthy{cluster=\"demo/b:80\",endpoint=\"127.0.0.2:9002\"} 0\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("sluice_endpoint_healthy{cluster=\"demo/a:80\",endpoint=\"127.0.0.1:9001\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("sluice_endpoint_ejected{cluster=\"demo/b:80\",endpoint=\"127.0.0.2:9002\"} 1\n"),
            std::string::npos);
  std::string json = HealthJson(**compiled, 1'000'000'000);
  EXPECT_NE(json.find("{\"endpoint\":\"127.0.0.2:9002\",\"available\":false,\"active_check\":\"off\","
                      "\"ejected_for_seconds\":4.0,\"ejections\":1}"),
            std::string::npos)
      << json;
}

}  // namespace
}  // namespace sluice::health
