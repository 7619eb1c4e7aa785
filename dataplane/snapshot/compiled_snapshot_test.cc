#include "dataplane/snapshot/compiled_snapshot.h"

#include <gtest/gtest.h>

namespace sluice::snapshot {
namespace {

v1::Snapshot TwoHostSnapshot() {
  v1::Snapshot s;
  auto* app = s.add_clusters();
  app->set_name("demo/app:http");
  auto* ep = app->add_endpoints();
  ep->set_address("127.0.0.1");
  ep->set_port(9001);
  auto* api = s.add_clusters();
  api->set_name("demo/api:80");
  auto add_route = [](v1::VirtualHost* vh, v1::Route::PathMatch m, std::string path, std::string cluster) {
    auto* r = vh->add_routes();
    r->set_match(m);
    r->set_path(path);
    r->set_cluster(cluster);
  };
  auto* demo = s.add_virtual_hosts();
  demo->set_name("demo.local");
  add_route(demo, v1::Route::EXACT, "/app", "demo/api:80");
  add_route(demo, v1::Route::PREFIX, "/app", "demo/app:http");
  auto* wild = s.add_virtual_hosts();
  wild->set_name("*.demo.local");
  add_route(wild, v1::Route::PREFIX, "/", "demo/api:80");
  auto* any = s.add_virtual_hosts();
  any->set_name("*");
  add_route(any, v1::Route::PREFIX, "/fallback/", "demo/app:http");
  return s;
}

TEST(CompiledSnapshotTest, RoutesByHostThenPathInOrder) {
  auto compiled = Compile(TwoHostSnapshot(), "v1");
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  const auto& snap = **compiled;
  EXPECT_EQ(snap.version(), "v1");
  auto cluster_of = [&](std::string_view host, std::string_view path) -> std::string {
    const CompiledRoute* r = snap.Match(host, path);
    return r ? r->cluster->name : "404";
  };
  EXPECT_EQ(cluster_of("demo.local", "/app"), "demo/api:80");  // Exact listed first
  EXPECT_EQ(cluster_of("DEMO.local:8080", "/app/x?y=1"), "demo/app:http");
  EXPECT_EQ(cluster_of("demo.local", "/app?x"), "demo/api:80");
  EXPECT_EQ(cluster_of("demo.local", "/apps"), "404");  // element-wise prefix; no fallthrough to "*"
  EXPECT_EQ(cluster_of("a.demo.local", "/anything"), "demo/api:80");
  EXPECT_EQ(cluster_of("a.b.demo.local", "/fallback"), "demo/app:http");  // wildcard is one label only
  EXPECT_EQ(cluster_of("demo.local.", "/app/"), "demo/app:http");         // trailing dot
  EXPECT_EQ(cluster_of("other", "/fallback/x"), "demo/app:http");         // trailing slash normalised
  EXPECT_EQ(cluster_of("other", "/fallbackx"), "404");
}

TEST(CompiledSnapshotTest, RejectsUnknownClusterWithItsName) {
  v1::Snapshot s = TwoHostSnapshot();
  s.mutable_virtual_hosts(0)->mutable_routes(0)->set_cluster("demo/missing:80");
  auto compiled = Compile(s, "v2");
  ASSERT_FALSE(compiled.ok());
  EXPECT_NE(compiled.status().message().find("unknown cluster \"demo/missing:80\""), std::string::npos);
}

TEST(CompiledSnapshotTest, RejectsDuplicateHostsBadNamesAndBadPorts) {
  v1::Snapshot dup = TwoHostSnapshot();
  dup.add_virtual_hosts()->set_name("demo.local");
  EXPECT_FALSE(Compile(dup, "x").ok());
  v1::Snapshot bad_name = TwoHostSnapshot();
  bad_name.mutable_virtual_hosts(0)->set_name("demo..local");
  EXPECT_FALSE(Compile(bad_name, "x").ok());
  v1::Snapshot bad_port = TwoHostSnapshot();
  bad_port.mutable_clusters(0)->mutable_endpoints(0)->set_port(70000);
  EXPECT_FALSE(Compile(bad_port, "x").ok());
}

TEST(CompiledSnapshotTest, NormalizesHosts) {
  EXPECT_EQ(NormalizeHost("Demo.Local:8080"), "demo.local");
  EXPECT_EQ(NormalizeHost("[::1]:8080"), "[::1]");
  EXPECT_EQ(NormalizeHost("example.com."), "example.com");
}

}  // namespace
}  // namespace sluice::snapshot
