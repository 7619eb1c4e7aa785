#include "dataplane/snapshot/compiled_snapshot.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "dataplane/health/registry.h"
#include "test/routing_cases/routing_cases.h"

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

// REGEX routes (issue 18): compiled once with the snapshot; one whose
// expression does not compile is left out of its host and named (the
// proxy's partial ACK), never a NACK; an unchanged host keeps naming it when
// a later snapshot shares it; a redirect host needs no cluster.
TEST(CompiledSnapshotTest, RegexRoutesAndTheRefusalOfOneThatDoesNotCompile) {
  v1::Snapshot s = TwoHostSnapshot();
  auto* demo = s.mutable_virtual_hosts(0);
  auto* good = demo->add_routes();
  good->set_match(v1::Route::REGEX);
  good->set_path("/app/v[0-9]+/(.*)");
  good->set_cluster("demo/api:80");
  good->set_rewrite_target("/$1");
  good->set_origin("demo/regex");
  auto* bad = demo->add_routes();
  bad->set_match(v1::Route::REGEX);
  bad->set_path("/(?!admin)");
  bad->set_cluster("demo/api:80");
  bad->set_origin("demo/bad");
  auto* www = s.add_virtual_hosts();
  www->set_name("www.demo.local");
  auto* redirect = www->add_routes();
  redirect->set_path("/");
  redirect->mutable_policy()->mutable_redirect()->set_host("demo.local");
  redirect->mutable_policy()->mutable_redirect()->set_code(308);
  auto compiled = Compile(s, "v1");
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  const CompiledRoute* route = (*compiled)->Match("demo.local", "/APP/v2/x");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->origin, "demo/regex");
  EXPECT_NE(route->regex, nullptr);
  EXPECT_EQ((*compiled)->Match("demo.local", "/app/x")->cluster->name, "demo/app:http");
  std::vector<RouteProblem> problems = (*compiled)->route_problems();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].origin, "demo/bad");
  EXPECT_NE(problems[0].error.find("does not compile"), std::string::npos) << problems[0].error;
  EXPECT_EQ((*compiled)->route_count(), 6u);  // the bad one left out
  ASSERT_NE((*compiled)->Match("www.demo.local", "/x"), nullptr);

  // The next version shares the unchanged host: still named.
  auto next = Compile(s, "v2", nullptr, CompileOptions(), compiled->get());
  ASSERT_TRUE(next.ok());
  EXPECT_EQ((*next)->route_problems().size(), 1u);
  // Fixed: no longer named.
  demo->mutable_routes(demo->routes_size() - 1)->set_path("/admin");
  auto fixed = Compile(s, "v3", nullptr, CompileOptions(), next->get());
  ASSERT_TRUE(fixed.ok());
  EXPECT_TRUE((*fixed)->route_problems().empty());
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

// The shared case table (test/routing_cases), through the proxy's own
// entry point: one cluster per backend, one virtual host per rule host.
TEST(CompiledSnapshotTest, SharedRoutingCases) {
  for (const routing_cases::Case& c : routing_cases::Cases()) {
    v1::Snapshot s;
    std::set<std::string> clusters;
    for (const routing_cases::Path& p : c.paths) {
      if (clusters.insert(std::string(p.backend)).second) s.add_clusters()->set_name(std::string(p.backend));
      std::string host = p.host.empty() ? "*" : std::string(p.host);
      v1::VirtualHost* vhost = nullptr;
      for (v1::VirtualHost& v : *s.mutable_virtual_hosts()) {
        if (v.name() == host) vhost = &v;
      }
      if (vhost == nullptr) {
        vhost = s.add_virtual_hosts();
        vhost->set_name(host);
      }
      v1::Route* route = vhost->add_routes();
      route->set_match(p.type == "Exact" ? v1::Route::EXACT : v1::Route::PREFIX);
      route->set_path(std::string(p.path));
      route->set_cluster(std::string(p.backend));
    }
    auto compiled = Compile(s, "cases");
    ASSERT_TRUE(compiled.ok()) << c.name << ": " << compiled.status().message();
    for (const routing_cases::Request& r : c.requests) {
      const CompiledRoute* route = (*compiled)->Match(r.host, r.target);
      std::string got = route == nullptr ? "" : route->cluster->name;
      EXPECT_EQ(got, r.backend) << c.name << ": Host \"" << r.host << "\" " << r.target;
    }
  }
}

TEST(CompiledSnapshotTest, PrecedenceDoesNotDependOnSnapshotOrder) {
  v1::Snapshot s = TwoHostSnapshot();
  v1::VirtualHost* demo = s.mutable_virtual_hosts(0);
  demo->mutable_routes()->SwapElements(0, 1);  // Prefix /app listed before Exact /app
  v1::Route* root = demo->add_routes();
  root->set_match(v1::Route::PREFIX);
  root->set_path("/");
  root->set_cluster("demo/api:80");
  demo->mutable_routes()->SwapElements(0, 2);  // and "/" first of all
  auto compiled = Compile(s, "v1");
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  auto cluster_of = [&](std::string_view path) -> std::string {
    const CompiledRoute* r = (*compiled)->Match("demo.local", path);
    return r ? r->cluster->name + " " + r->path : "404";
  };
  EXPECT_EQ(cluster_of("/app"), "demo/api:80 /app");  // the Exact route
  EXPECT_EQ(cluster_of("/app/x"), "demo/app:http /app");
  EXPECT_EQ(cluster_of("/apps"), "demo/api:80 /");
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

// Clusters a, b, c (two endpoints each) and hosts routing to them: "*" to
// a, "b.local" to b split with c, "*.w.local" to a with a canary on c,
// "plain.local" to a only.
v1::Snapshot SharedHostsSnapshot() {
  v1::Snapshot s;
  for (const char* name : {"a", "b", "c"}) {
    auto* cluster = s.add_clusters();
    cluster->set_name(name);
    for (int port : {7001, 7002}) {
      auto* ep = cluster->add_endpoints();
      ep->set_address(std::string("127.0.0.") + std::to_string(1 + (name[0] - 'a')));
      ep->set_port(port);
    }
  }
  auto add_host = [&s](std::string name, std::string path, std::string cluster) {
    auto* vh = s.add_virtual_hosts();
    vh->set_name(name);
    auto* r = vh->add_routes();
    r->set_path(path);
    r->set_cluster(cluster);
    return r;
  };
  add_host("*", "/", "a");
  auto* split = add_host("b.local", "/api", "b");
  auto* w1 = split->add_weighted_clusters();
  w1->set_cluster("b");
  w1->set_weight(90);
  auto* w2 = split->add_weighted_clusters();
  w2->set_cluster("c");
  w2->set_weight(10);
  auto* canary = add_host("*.w.local", "/", "a");
  canary->mutable_canary()->set_cluster("c");
  canary->mutable_canary()->set_header("X-Canary");
  add_host("plain.local", "/p", "a");
  return s;
}

// What a request sees: route, clusters (primary, split, canary) and their
// endpoints with health objects.
std::string Describe(const CompiledSnapshot& snap, std::string_view host, std::string_view path) {
  const CompiledRoute* route = snap.Match(host, path);
  if (route == nullptr) return "404";
  auto cluster = [](const CompiledCluster* c) {
    if (c == nullptr) return std::string("-");
    std::string out = c->name + "[";
    for (const CompiledEndpoint& e : c->endpoints) {
      out += e.key + "/" + std::to_string(e.weight) + "/" + std::to_string(reinterpret_cast<uintptr_t>(e.health.get())) + " ";
    }
    return out + "]v" + std::to_string(c->endpoints_version) + "/" + c->source->name();
  };
  std::string out = route->path + " -> " + cluster(route->cluster);
  for (const CompiledWeightedCluster& w : route->weighted_clusters) out += " w" + std::to_string(w.weight) + ":" + cluster(w.cluster);
  out += " canary:" + cluster(route->canary.cluster) + ":" + route->canary.header;
  return out;
}

TEST(IncrementalCompileTest, RoutesLikeAFullCompileAndSharesUnchangedHosts) {
  health::HealthRegistry registry;
  auto previous = Compile(SharedHostsSnapshot(), "v1", &registry);
  ASSERT_TRUE(previous.ok()) << previous.status().message();

  v1::Snapshot next = SharedHostsSnapshot();
  next.mutable_clusters(1)->mutable_endpoints(0)->set_port(7009);  // cluster b: endpoint moved
  next.mutable_virtual_hosts(3)->mutable_routes(0)->set_path("/q");  // plain.local: new path
  auto* added = next.add_virtual_hosts();
  added->set_name("new.local");
  added->add_routes()->set_path("/");
  added->mutable_routes(0)->set_cluster("c");

  auto incremental = Compile(next, "v2", &registry, CompileOptions(), previous->get());
  auto full = Compile(next, "v2", &registry);
  ASSERT_TRUE(incremental.ok()) << incremental.status().message();
  ASSERT_TRUE(full.ok()) << full.status().message();
  const CompiledSnapshot& inc = **incremental;
  EXPECT_EQ(inc.version(), "v2");
  EXPECT_EQ(inc.route_count(), (*full)->route_count());
  for (auto [host, path] : std::vector<std::pair<std::string, std::string>>{
           {"b.local", "/api/x"}, {"x.w.local", "/"}, {"plain.local", "/q"}, {"plain.local", "/p"},
           {"new.local", "/z"}, {"other", "/"}, {"b.local", "/nope"}}) {
    EXPECT_EQ(Describe(inc, host, path), Describe(**full, host, path)) << host << path;
  }
  EXPECT_NE(Describe(inc, "b.local", "/api").find("127.0.0.2:7009"), std::string::npos);
  EXPECT_EQ(Describe(inc, "plain.local", "/p"), "404");  // the old path is gone

  const CompiledSnapshot& old = **previous;
  // Unchanged host, unchanged clusters: the very same objects.
  EXPECT_EQ(inc.FindVirtualHost("*"), old.FindVirtualHost("*"));
  EXPECT_EQ(inc.FindVirtualHost("*.w.local"), old.FindVirtualHost("*.w.local"));
  EXPECT_EQ(inc.FindCluster("a"), old.FindCluster("a"));
  EXPECT_EQ(inc.FindCluster("c"), old.FindCluster("c"));
  // Changed cluster, the host routing to it, the changed host: compiled again.
  EXPECT_NE(inc.FindCluster("b"), old.FindCluster("b"));
  ASSERT_NE(inc.FindVirtualHost("b.local"), nullptr);
  EXPECT_NE(inc.FindVirtualHost("b.local"), old.FindVirtualHost("b.local"));
  EXPECT_EQ(inc.FindVirtualHost("b.local")->routes[0].weighted_clusters[0].cluster, inc.FindCluster("b"));
  EXPECT_NE(inc.FindVirtualHost("plain.local"), old.FindVirtualHost("plain.local"));
  EXPECT_EQ(old.FindVirtualHost("new.local"), nullptr);

  // Shared parts outlive the snapshot they were compiled for.
  previous->reset();
  EXPECT_EQ(Describe(inc, "x.w.local", "/"), Describe(**full, "x.w.local", "/"));
}

TEST(IncrementalCompileTest, RejectsWhatAFullCompileRejects) {
  health::HealthRegistry registry;
  auto previous = Compile(SharedHostsSnapshot(), "v1", &registry);
  ASSERT_TRUE(previous.ok());
  // Cluster c removed while unchanged hosts still route to it.
  v1::Snapshot removed = SharedHostsSnapshot();
  removed.mutable_clusters()->RemoveLast();
  auto compiled = Compile(removed, "v2", &registry, CompileOptions(), previous->get());
  ASSERT_FALSE(compiled.ok());
  EXPECT_NE(compiled.status().message().find("unknown"), std::string::npos) << compiled.status().message();
  // The same cluster twice, and the same host twice.
  v1::Snapshot twice = SharedHostsSnapshot();
  *twice.add_clusters() = twice.clusters(0);
  EXPECT_FALSE(Compile(twice, "v3", &registry, CompileOptions(), previous->get()).ok());
  twice = SharedHostsSnapshot();
  *twice.add_virtual_hosts() = twice.virtual_hosts(0);
  EXPECT_FALSE(Compile(twice, "v4", &registry, CompileOptions(), previous->get()).ok());
  // Nothing changed: everything shared, still routes.
  auto same = Compile(SharedHostsSnapshot(), "v5", &registry, CompileOptions(), previous->get());
  ASSERT_TRUE(same.ok());
  EXPECT_EQ((*same)->FindVirtualHost("b.local"), (*previous)->FindVirtualHost("b.local"));
  EXPECT_EQ((*same)->Match("b.local", "/api")->cluster->name, "b");
}

// A chain of random deltas over shared sources, as the proxy applies them:
// each incremental compile routes exactly like a full compile of the same
// state, and shares every host whose resource and clusters did not change.
TEST(IncrementalCompileTest, AChainOfDeltasRoutesLikeAFullCompileAndSharesTheRest) {
  health::HealthRegistry registry;
  std::mt19937 random(11);
  auto cluster_name = [](int i) { return "ns/svc-" + std::to_string(i) + ":80"; };
  auto make_cluster = [&](int i, int port) {
    auto cluster = std::make_shared<v1::Cluster>();
    cluster->set_name(cluster_name(i));
    auto* ep = cluster->add_endpoints();
    ep->set_address("127.0.1." + std::to_string(i));
    ep->set_port(port);
    return std::shared_ptr<const v1::Cluster>(std::move(cluster));
  };
  auto host_name = [](int i) {
    return i == 0 ? std::string("*") : i % 10 == 1 ? "*.w" + std::to_string(i) + ".example" : "h" + std::to_string(i) + ".example";
  };
  auto make_host = [&](int i, int cluster, int other) {
    auto host = std::make_shared<v1::VirtualHost>();
    host->set_name(host_name(i));
    auto* exact = host->add_routes();
    exact->set_match(v1::Route::EXACT);
    exact->set_path("/exact");
    exact->set_cluster(cluster_name(other));
    auto* prefix = host->add_routes();
    prefix->set_path("/");
    prefix->set_cluster(cluster_name(cluster));
    if (i % 7 == 0) {
      auto* split = prefix->add_weighted_clusters();
      split->set_cluster(cluster_name(other));
      split->set_weight(1);
    }
    return std::shared_ptr<const v1::VirtualHost>(std::move(host));
  };
  constexpr int kClusters = 12, kHosts = 120;
  SnapshotSources sources;
  for (int i = 0; i < kClusters; ++i) sources.clusters.Set(cluster_name(i), make_cluster(i, 8000));
  for (int i = 0; i < kHosts; i += 2) sources.virtual_hosts.Set(host_name(i), make_host(i, i % kClusters, (i / 3) % kClusters));
  auto current = Compile(sources, "v0", &registry);
  ASSERT_TRUE(current.ok()) << current.status().message();

  for (int step = 1; step <= 150; ++step) {
    SnapshotSources next = sources;
    std::set<std::string> changed_clusters;
    const int kind = static_cast<int>(random() % 4);
    const int i = static_cast<int>(random() % kHosts);
    const int c = static_cast<int>(random() % kClusters);
    if (kind == 0) {  // endpoint change
      next.clusters.Set(cluster_name(c), make_cluster(c, 8000 + step));
      changed_clusters.insert(cluster_name(c));
    } else if (kind == 1) {  // host added or changed
      next.virtual_hosts.Set(host_name(i), make_host(i, c, (c + step) % kClusters));
    } else if (kind == 2) {  // host removed
      next.virtual_hosts.Erase(host_name(i));
    } else {  // the same content as a new object (a full state re-sent)
      next.clusters.Set(cluster_name(c), std::make_shared<const v1::Cluster>(**sources.clusters.Find(cluster_name(c))));
    }
    const std::string version = "v" + std::to_string(step);
    auto incremental = Compile(next, version, &registry, CompileOptions(), current->get());
    auto full = Compile(next, version, &registry);
    ASSERT_TRUE(incremental.ok()) << incremental.status().message();
    ASSERT_TRUE(full.ok()) << full.status().message();
    const CompiledSnapshot& inc = **incremental;
    const CompiledSnapshot& old = **current;
    ASSERT_EQ(inc.route_count(), (*full)->route_count()) << "step " << step;
    ASSERT_EQ(inc.virtual_host_count(), (*full)->virtual_host_count());
    ASSERT_EQ(inc.cluster_count(), (*full)->cluster_count());
    for (int h = 0; h < kHosts; ++h) {
      std::string host = host_name(h) == "*" ? "any.other" : host_name(h).starts_with("*.") ? "x" + host_name(h).substr(1) : host_name(h);
      for (const char* path : {"/exact", "/x"}) {
        ASSERT_EQ(Describe(inc, host, path), Describe(**full, host, path)) << "step " << step << " " << host << path;
      }
      const auto* before = sources.virtual_hosts.Find(host_name(h));
      const auto* after = next.virtual_hosts.Find(host_name(h));
      if (before != nullptr && after != nullptr && *before == *after) {
        bool routes_to_changed = false;
        for (const auto& route : (*after)->routes()) {
          routes_to_changed |= changed_clusters.contains(route.cluster());
          for (const auto& w : route.weighted_clusters()) routes_to_changed |= changed_clusters.contains(w.cluster());
        }
        const bool shared = inc.FindVirtualHost(host_name(h)) == old.FindVirtualHost(host_name(h));
        EXPECT_EQ(shared, !routes_to_changed) << "step " << step << " " << host_name(h);
      }
    }
    if (kind == 3) EXPECT_EQ(inc.FindCluster(cluster_name(c)), old.FindCluster(cluster_name(c)));
    sources = std::move(next);
    current = std::move(incremental);
  }
}

TEST(IncrementalCompileTest, RemovingAClusterStillInUseIsRejectedAndTheOldSnapshotIsUntouched) {
  health::HealthRegistry registry;
  auto previous = Compile(SharedHostsSnapshot(), "v1", &registry);
  ASSERT_TRUE(previous.ok());
  SnapshotSources next = (*previous)->sources();
  ASSERT_TRUE(next.clusters.Erase("b"));
  auto compiled = Compile(next, "v2", &registry, CompileOptions(), previous->get());
  ASSERT_FALSE(compiled.ok());
  EXPECT_NE(compiled.status().message().find("unknown cluster \"b\""), std::string::npos) << compiled.status().message();
  EXPECT_EQ((*previous)->Match("b.local", "/api")->cluster->name, "b");
  // Remove the host as well: accepted, and the host is gone.
  ASSERT_TRUE(next.virtual_hosts.Erase("b.local"));
  compiled = Compile(next, "v3", &registry, CompileOptions(), previous->get());
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  EXPECT_EQ((*compiled)->FindVirtualHost("b.local"), nullptr);
  EXPECT_EQ((*compiled)->Match("b.local", "/api")->cluster->name, "a");  // the catch-all
  EXPECT_EQ((*compiled)->FindCluster("b"), nullptr);
  EXPECT_EQ((*compiled)->SourceSnapshot().clusters_size(), 2);
}

TEST(IncrementalCompileTest, DnsClustersAreResolvedAgainOnEveryCompile) {
  v1::Snapshot s;
  auto* cluster = s.add_clusters();
  cluster->set_name("external");
  auto* ep = cluster->add_endpoints();
  ep->set_address("localhost");
  ep->set_port(80);
  auto* vh = s.add_virtual_hosts();
  vh->set_name("ext.local");
  vh->add_routes()->set_path("/");
  vh->mutable_routes(0)->set_cluster("external");
  auto first = Compile(s, "v1");
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto second = Compile((*first)->sources(), "v2", nullptr, CompileOptions(), first->get());
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_NE((*second)->FindCluster("external"), (*first)->FindCluster("external"));
  EXPECT_EQ((*second)->Match("ext.local", "/")->cluster, (*second)->FindCluster("external"));
}

}  // namespace
}  // namespace sluice::snapshot
