#include "dataplane/metrics/snapshot_series.h"

#include <gtest/gtest.h>

namespace sluice::metrics {
namespace {

v1::Snapshot Hosts(std::vector<std::string> hosts) {
  v1::Snapshot s;
  auto* cluster = s.add_clusters();
  cluster->set_name("demo/app:80");
  auto* endpoint = cluster->add_endpoints();
  endpoint->set_address("127.0.0.1");
  endpoint->set_port(9001);
  for (const std::string& host : hosts) {
    auto* vhost = s.add_virtual_hosts();
    vhost->set_name(host);
    auto* route = vhost->add_routes();
    route->set_path("/app/");
    route->set_cluster("demo/app:80");
    route->set_origin("demo/" + host.substr(0, host.find('.')));
  }
  return s;
}

snapshot::CompileOptions WithRegistry(SeriesRegistry* registry) {
  snapshot::CompileOptions options;
  options.chain.series = registry;
  return options;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(SnapshotSeries, LabelsFromTheConfigurationAndRemovedRoutesEnd) {
  SeriesRegistry registry(8, 4);
  auto first = snapshot::Compile(Hosts({"a.example", "b.example"}), "v1", nullptr, WithRegistry(&registry));
  ASSERT_TRUE(first.ok()) << first.status().message();
  WorkerSeries worker(8, 4);
  const snapshot::CompiledRoute* a = (*first)->Match("a.example", "/app/x?q=1");
  ASSERT_NE(a, nullptr);
  Record(*worker.route(a->metrics_slot), {.status = 200, .total_micros = 100});
  Record(*worker.cluster(a->cluster->metrics_slot), {.status = 200, .total_micros = 100});
  std::string text = SeriesText(registry, {&worker}, first->get());
  // The configured path, never the request's.
  EXPECT_NE(text.find("sluice_route_requests_total{namespace=\"demo\",ingress=\"a\",host=\"a.example\",path=\"/app/\","
                      "code_class=\"2xx\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("/app/x"), std::string::npos);
  EXPECT_NE(text.find("sluice_cluster_requests_total{cluster=\"demo/app:80\",code_class=\"2xx\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(Count(text, "sluice_route_request_duration_seconds_count{"), 2u);

  // b.example is removed: its series is no longer exported.
  auto second = snapshot::Compile(Hosts({"a.example"}), "v2", nullptr, WithRegistry(&registry), first->get());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->Match("a.example", "/app/")->metrics_slot, a->metrics_slot);  // counters run on
  text = SeriesText(registry, {&worker}, second->get());
  EXPECT_EQ(text.find("b.example"), std::string::npos);
  EXPECT_EQ(Count(text, "sluice_route_request_duration_seconds_count{"), 1u);
}

TEST(SnapshotSeries, OverflowSharesOneSeriesUntilSlotsAreReclaimed) {
  SeriesRegistry registry(2, 4);
  WorkerSeries worker(2, 4);
  auto first = snapshot::Compile(Hosts({"a.example", "b.example", "c.example"}), "v1", nullptr,
                                 WithRegistry(&registry));
  ASSERT_TRUE(first.ok());
  std::string text = SeriesText(registry, {&worker}, first->get());
  EXPECT_EQ(Count(text, "sluice_route_request_duration_seconds_count{"), 3u) << text;  // 2 + overflow
  EXPECT_NE(text.find("overflow=\"true\""), std::string::npos);
  EXPECT_TRUE(registry.overflowed());

  // Two hosts go, two new ones come: once the old snapshot is no longer
  // live, their slots are reclaimed and the new hosts get their own.
  auto second = snapshot::Compile(Hosts({"c.example"}), "v2", nullptr, WithRegistry(&registry), first->get());
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(ReclaimUnused(registry, {&worker}, {second->get()}));
  EXPECT_FALSE(ReclaimUnused(registry, {&worker}, {second->get()}));  // nothing overflowed since
  auto third = snapshot::Compile(Hosts({"d.example", "e.example"}), "v3", nullptr, WithRegistry(&registry));
  ASSERT_TRUE(third.ok());
  text = SeriesText(registry, {&worker}, third->get());
  EXPECT_NE(text.find("host=\"d.example\""), std::string::npos) << text;
  EXPECT_NE(text.find("host=\"e.example\""), std::string::npos) << text;
  EXPECT_EQ(text.find("overflow=\"true\""), std::string::npos) << text;
}

TEST(SnapshotSeries, WithoutRegistryNothingIsCounted) {
  auto compiled = snapshot::Compile(Hosts({"a.example"}), "v1");
  ASSERT_TRUE(compiled.ok());
  EXPECT_EQ((*compiled)->Match("a.example", "/app/")->metrics_slot, kNoSlot);
  WorkerSeries worker(1, 1);
  EXPECT_EQ(worker.route(kNoSlot), nullptr);
}

}  // namespace
}  // namespace sluice::metrics
