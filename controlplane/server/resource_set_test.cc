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
  EXPECT_EQ(a.size(), 3u);
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
  const ResourceEntry* kept = set.Find({sluice::v1::CLUSTER, "default/web:80"});
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->resource.cluster().endpoints_size(), 1);
  EXPECT_EQ(set.size(), 3u);
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

// Many resources, so that a change touches few of the buckets.
sluice::v1::Snapshot ManyHosts(int hosts) {
  sluice::v1::Snapshot snapshot;
  for (int i = 0; i < hosts; ++i) {
    auto* host = snapshot.add_virtual_hosts();
    host->set_name("h" + std::to_string(i) + ".example");
    auto* route = host->add_routes();
    route->set_path("/");
    route->set_cluster("default/web-" + std::to_string(i % 50) + ":80");
  }
  for (int i = 0; i < 50; ++i) snapshot.add_clusters()->set_name("default/web-" + std::to_string(i) + ":80");
  return snapshot;
}

TEST(ResourceSetTest, UpdatesGiveTheSameSetAsBuildingTheChangedSnapshot) {
  const sluice::v1::Snapshot before = ManyHosts(2000);
  const ResourceSet base = BuildResourceSet(before);

  sluice::v1::Snapshot after = before;
  after.mutable_virtual_hosts(7)->mutable_routes(0)->set_path("/seven");
  after.mutable_virtual_hosts()->DeleteSubrange(9, 1);  // h9.example
  after.add_clusters()->set_name("default/new:80");
  std::vector<ResourceUpdate> updates(3);
  updates[0].key = {sluice::v1::VIRTUAL_HOST, "h7.example"};
  *updates[0].resource.emplace().mutable_virtual_host() = after.virtual_hosts(7);
  updates[1].key = {sluice::v1::VIRTUAL_HOST, "h9.example"};
  updates[2].key = {sluice::v1::CLUSTER, "default/new:80"};
  updates[2].resource.emplace().mutable_cluster()->set_name("default/new:80");
  const ResourceSet updated = WithUpdates(base, updates);

  const ResourceSet rebuilt = BuildResourceSet(after);
  EXPECT_EQ(updated.version, rebuilt.version);
  EXPECT_NE(updated.version, base.version);
  EXPECT_EQ(updated.size(), rebuilt.size());
  EXPECT_EQ(updated.Find({sluice::v1::VIRTUAL_HOST, "h9.example"}), nullptr);
  EXPECT_EQ(updated.Find({sluice::v1::VIRTUAL_HOST, "h7.example"})->resource.virtual_host().routes(0).path(), "/seven");
  // Unchanged entries are shared, not copied; so are untouched buckets.
  EXPECT_EQ(updated.Find({sluice::v1::VIRTUAL_HOST, "h8.example"}), base.Find({sluice::v1::VIRTUAL_HOST, "h8.example"}));
  size_t shared = 0;
  for (size_t i = 0; i < ResourceSet::kBuckets; ++i) shared += updated.buckets[i] == base.buckets[i];
  EXPECT_GE(shared, ResourceSet::kBuckets - 3);

  // The delta from the acknowledged set is what the hash walk finds.
  const ResourceHashes acked = HashesOf(base);
  EXPECT_EQ(BuildResponse(updated, base).SerializeAsString(), BuildResponse(updated, &acked).SerializeAsString());
  const sluice::v1::StreamResponse delta = BuildResponse(updated, base);
  ASSERT_EQ(delta.resources_size(), 2);
  EXPECT_EQ(delta.resources(0).virtual_host().name(), "h7.example");
  EXPECT_EQ(delta.resources(1).cluster().name(), "default/new:80");
  ASSERT_EQ(delta.removed_size(), 1);
  EXPECT_EQ(delta.removed(0).name(), "h9.example");

  // Setting what is already there changes nothing.
  std::vector<ResourceUpdate> same(1);
  same[0].key = {sluice::v1::VIRTUAL_HOST, "h8.example"};
  *same[0].resource.emplace().mutable_virtual_host() = before.virtual_hosts(8);
  const ResourceSet unchanged = WithUpdates(base, same);
  EXPECT_EQ(unchanged.version, base.version);
  EXPECT_EQ(BuildResponse(unchanged, base).resources_size(), 0);
}

TEST(ResourceSetTest, RebuildingWithThePreviousSharesUnchangedBuckets) {
  const ResourceSet base = BuildResourceSet(ManyHosts(500));
  sluice::v1::Snapshot after = ManyHosts(500);
  after.mutable_clusters(3)->add_endpoints()->set_address("10.0.0.9");
  const ResourceSet rebuilt = BuildResourceSet(after, nullptr, &base);
  const sluice::v1::StreamResponse delta = BuildResponse(rebuilt, base);
  ASSERT_EQ(delta.resources_size(), 1);
  EXPECT_EQ(delta.resources(0).cluster().name(), "default/web-3:80");
  EXPECT_EQ(delta.removed_size(), 0);
}

}  // namespace
}  // namespace sluice::server
