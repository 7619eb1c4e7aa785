#include "dataplane/discovery/resource_state.h"

#include <gtest/gtest.h>

namespace sluice::discovery {
namespace {

using sluice::v1::StreamResponse;

void AddHost(StreamResponse& response, const std::string& name, const std::string& cluster = "") {
  auto* host = response.add_resources()->mutable_virtual_host();
  host->set_name(name);
  if (!cluster.empty()) host->add_routes()->set_cluster(cluster);
}

void AddCluster(StreamResponse& response, const std::string& name, uint32_t port) {
  auto* cluster = response.add_resources()->mutable_cluster();
  cluster->set_name(name);
  auto* endpoint = cluster->add_endpoints();
  endpoint->set_address("10.0.0.1");
  endpoint->set_port(port);
}

void Remove(StreamResponse& response, sluice::v1::ResourceType type, const std::string& name) {
  auto* ref = response.add_removed();
  ref->set_type(type);
  ref->set_name(name);
}

ResourceState Base() {
  StreamResponse full;
  full.set_full_state(true);
  AddHost(full, "a.example", "ns/web:80");
  AddHost(full, "b.example");
  AddCluster(full, "ns/web:80", 8080);
  auto merged = ResourceState().Merge(full);
  EXPECT_TRUE(merged.ok()) << merged.status().message();
  return *merged;
}

TEST(ResourceStateTest, FullStateReplacesEverything) {
  StreamResponse full;
  full.set_full_state(true);
  AddHost(full, "c.example");
  auto merged = Base().Merge(full);
  ASSERT_TRUE(merged.ok());
  auto snapshot = merged->ToSnapshot();
  ASSERT_EQ(snapshot->virtual_hosts_size(), 1);
  EXPECT_EQ(snapshot->virtual_hosts(0).name(), "c.example");
  EXPECT_EQ(snapshot->clusters_size(), 0);
}

TEST(ResourceStateTest, DeltaUpsertsAndRemovesOnACopy) {
  const ResourceState base = Base();
  StreamResponse delta;
  AddCluster(delta, "ns/web:80", 9090);
  Remove(delta, sluice::v1::VIRTUAL_HOST, "b.example");
  auto merged = base.Merge(delta);
  ASSERT_TRUE(merged.ok()) << merged.status().message();

  auto snapshot = merged->ToSnapshot();
  ASSERT_EQ(snapshot->virtual_hosts_size(), 1);
  EXPECT_EQ(snapshot->virtual_hosts(0).name(), "a.example");
  EXPECT_EQ(snapshot->clusters(0).endpoints(0).port(), 9090u);
  // The original is untouched: a later NACK falls back to it.
  EXPECT_EQ(base.ToSnapshot()->virtual_hosts_size(), 2);
  EXPECT_EQ(base.ToSnapshot()->clusters(0).endpoints(0).port(), 8080u);
}

TEST(ResourceStateTest, RemovingSomethingUnknownIsAnError) {
  StreamResponse delta;
  Remove(delta, sluice::v1::CLUSTER, "ns/nope:80");
  auto merged = Base().Merge(delta);
  ASSERT_FALSE(merged.ok());
  EXPECT_NE(merged.status().message().find("ns/nope:80"), std::string::npos);
}

TEST(ResourceStateTest, ANameTwiceInOneResponseIsAnError) {
  StreamResponse delta;
  AddHost(delta, "x.example");
  AddHost(delta, "x.example");
  EXPECT_FALSE(Base().Merge(delta).ok());

  StreamResponse removed_and_added;
  Remove(removed_and_added, sluice::v1::VIRTUAL_HOST, "b.example");
  AddHost(removed_and_added, "b.example");
  EXPECT_FALSE(Base().Merge(removed_and_added).ok());
}

TEST(ResourceStateTest, ResourceWithoutKindOrRefWithoutTypeIsAnError) {
  StreamResponse empty_resource;
  empty_resource.add_resources();
  EXPECT_FALSE(Base().Merge(empty_resource).ok());

  StreamResponse untyped;
  Remove(untyped, sluice::v1::RESOURCE_TYPE_UNSPECIFIED, "b.example");
  EXPECT_FALSE(Base().Merge(untyped).ok());
}

// What makes an apply cost the delta: the merged state shares every
// resource it did not receive with the state it came from (same objects),
// and the maps tell exactly what differs.
TEST(ResourceStateTest, DeltaSharesEveryUntouchedResource) {
  ResourceState base = Base();
  StreamResponse delta;
  AddCluster(delta, "ns/web:80", 9090);
  Remove(delta, sluice::v1::VIRTUAL_HOST, "b.example");
  auto next = base.Merge(delta);
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_EQ(*next->sources().virtual_hosts.Find("a.example"), *base.sources().virtual_hosts.Find("a.example"));
  EXPECT_NE(*next->sources().clusters.Find("ns/web:80"), *base.sources().clusters.Find("ns/web:80"));
  EXPECT_EQ((*next->sources().clusters.Find("ns/web:80"))->endpoints(0).port(), 9090u);
  std::vector<std::string> changed;
  snapshot::SharedByName<sluice::v1::VirtualHost>::Diff(
      base.sources().virtual_hosts, next->sources().virtual_hosts,
      [&changed](const std::string& name, const auto*, const auto*) { changed.push_back(name); });
  EXPECT_EQ(changed, std::vector<std::string>{"b.example"});
}

}  // namespace
}  // namespace sluice::discovery
