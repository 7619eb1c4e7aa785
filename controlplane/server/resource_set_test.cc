#include "controlplane/server/resource_set.h"

#include <gtest/gtest.h>

namespace sluice::server {
namespace {

sluice::v1::Snapshot TwoHostsOneCluster() {
  sluice::v1::Snapshot snapshot;
  auto* host = snapshot.add_virtual_hosts();
  host->set_name("b.example");
  auto* route = host->add_routes();
  route->set_path("/");
  route->set_cluster("default/web:80");
  snapshot.add_virtual_hosts()->set_name("a.example");
  auto* cluster = snapshot.add_clusters();
  cluster->set_name("default/web:80");
  auto* endpoint = cluster->add_endpoints();
  endpoint->set_address("10.0.0.1");
  endpoint->set_port(8080);
  return snapshot;
}

TEST(ResourceSetTest, VersionIsSixteenHexDigitsAndIndependentOfEmitOrder) {
  sluice::v1::Snapshot original = TwoHostsOneCluster();
  sluice::v1::Snapshot reordered = original;
  reordered.mutable_virtual_hosts()->SwapElements(0, 1);

  const ResourceSet a = BuildResourceSet(original);
  const ResourceSet b = BuildResourceSet(reordered);
  EXPECT_EQ(a.version.size(), 16u);
  EXPECT_EQ(a.version.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.resources.size(), 3u);
}

TEST(ResourceSetTest, AnyContentChangeChangesTheVersion) {
  sluice::v1::Snapshot changed = TwoHostsOneCluster();
  changed.mutable_clusters(0)->mutable_endpoints(0)->set_port(8081);
  EXPECT_NE(BuildResourceSet(TwoHostsOneCluster()).version, BuildResourceSet(changed).version);
  EXPECT_NE(BuildResourceSet(TwoHostsOneCluster()).version,
            BuildResourceSet(sluice::v1::Snapshot()).version);
}

TEST(ResourceSetTest, DuplicateNamesKeepTheFirstAndAreReported) {
  sluice::v1::Snapshot snapshot = TwoHostsOneCluster();
  auto* twin = snapshot.add_clusters();
  twin->set_name("default/web:80");
  std::vector<std::string> duplicates;
  const ResourceSet set = BuildResourceSet(snapshot, &duplicates);
  ASSERT_EQ(duplicates.size(), 1u);
  EXPECT_NE(duplicates[0].find("default/web:80"), std::string::npos);
  const auto& kept = set.resources.at({sluice::v1::CLUSTER, "default/web:80"});
  EXPECT_EQ(kept->resource.cluster().endpoints_size(), 1);
}

TEST(ResourceSetTest, FullResponseCarriesEverything) {
  const ResourceSet set = BuildResourceSet(TwoHostsOneCluster());
  const sluice::v1::StreamResponse response = BuildResponse(set, nullptr);
  EXPECT_TRUE(response.full_state());
  EXPECT_EQ(response.version(), set.version);
  EXPECT_EQ(response.resources_size(), 3);
  EXPECT_EQ(response.removed_size(), 0);
}

TEST(ResourceSetTest, DeltaCarriesOnlyChangedAddedAndRemoved) {
  const ResourceSet before = BuildResourceSet(TwoHostsOneCluster());
  sluice::v1::Snapshot after_snapshot = TwoHostsOneCluster();
  after_snapshot.mutable_clusters(0)->mutable_endpoints(0)->set_address("10.0.0.2");
  after_snapshot.mutable_virtual_hosts()->DeleteSubrange(1, 1);  // drops a.example
  after_snapshot.add_virtual_hosts()->set_name("c.example");
  const ResourceSet after = BuildResourceSet(after_snapshot);

  const ResourceHashes acked = HashesOf(before);
  const sluice::v1::StreamResponse delta = BuildResponse(after, &acked);
  EXPECT_FALSE(delta.full_state());
  ASSERT_EQ(delta.resources_size(), 2);
  EXPECT_EQ(delta.resources(0).virtual_host().name(), "c.example");
  EXPECT_EQ(delta.resources(1).cluster().endpoints(0).address(), "10.0.0.2");
  ASSERT_EQ(delta.removed_size(), 1);
  EXPECT_EQ(delta.removed(0).type(), sluice::v1::VIRTUAL_HOST);
  EXPECT_EQ(delta.removed(0).name(), "a.example");
}

}  // namespace
}  // namespace sluice::server
