// Translation of the load-balancing, affinity and canary annotations: what
// lands in the snapshot's routes (the balancing policy is per route, in
// RoutePolicy.load_balancing), and what is reported.
#include <gtest/gtest.h>

#include "controlplane/translate/test_manifests.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

using nlohmann::json;
using Severity = Diagnostic::Severity;

class BalancingTranslateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Add(SluiceIngressClass());
    for (const char* name : {"web", "web-v2", "web-v3", "api"}) Add(ShopService(name));
  }
  void Add(json object) { store_.Upsert(std::move(object), "test.yaml"); }
  Result Run() { return Translate(store_, {}); }

  static const v1::Cluster* FindCluster(const Result& result, const std::string& name) {
    for (const v1::Cluster& c : result.snapshot.clusters()) {
      if (c.name() == name) return &c;
    }
    return nullptr;
  }
  static const v1::Route* FindRoute(const Result& result, const std::string& host, const std::string& path) {
    for (const v1::VirtualHost& vhost : result.snapshot.virtual_hosts()) {
      if (vhost.name() != host) continue;
      for (const v1::Route& route : vhost.routes()) {
        if (route.path() == path) return &route;
      }
    }
    return nullptr;
  }
  static std::string Diagnostics(const Result& result, Severity severity) {
    std::string out;
    for (const Diagnostic& d : result.diagnostics) {
      if (d.severity == severity) out += d.ns + "/" + d.name + ": " + d.message + "\n";
    }
    return out;
  }

  store::Store store_;
};

TEST_F(BalancingTranslateTest, PolicyHashKeyAndAffinityLandOnTheRoute) {
  Add(ShopIngress("shop", "", {{"sluice.io/load-balance", "maglev"}, {"sluice.io/hash-key", "cookie:user"},
                           {"sluice.io/affinity", "cookie"}, {"sluice.io/session-cookie-max-age", "600"}},
              "shop.example", "/", "web"));
  Result result = Run();
  const v1::Route* route = FindRoute(result, "shop.example", "/");
  ASSERT_NE(route, nullptr);
  const v1::LoadBalancingPolicy& policy = route->policy().load_balancing();
  EXPECT_EQ(policy.algorithm(), v1::LoadBalancingPolicy::MAGLEV);
  EXPECT_EQ(policy.hash_key().source(), v1::HashKey::COOKIE);
  EXPECT_EQ(policy.hash_key().name(), "user");
  EXPECT_TRUE(policy.affinity().enabled());
  EXPECT_EQ(policy.affinity().max_age_seconds(), 600u);
  const v1::Cluster* cluster = FindCluster(result, "shop/web:80");
  ASSERT_NE(cluster, nullptr);
  EXPECT_EQ(Diagnostics(result, Severity::kWarning), "");
}

TEST_F(BalancingTranslateTest, NoAnnotationsLeaveTheRouteAtItsDefaults) {
  Add(ShopIngress("shop", "", json::object(), "shop.example", "/", "web"));
  Result result = Run();
  const v1::Route* route = FindRoute(result, "shop.example", "/");
  ASSERT_NE(route, nullptr);
  EXPECT_FALSE(route->has_policy()) << "no annotations: the same bytes as before policies existed";
  EXPECT_FALSE(route->policy().has_load_balancing());
}

TEST_F(BalancingTranslateTest, InvalidAnnotationIsAWarningAndTheDefaultApplies) {
  Add(ShopIngress("shop", "", {{"sluice.io/load-balance", "fastest"}}, "shop.example", "/", "web"));
  Result result = Run();
  EXPECT_FALSE(FindRoute(result, "shop.example", "/")->policy().has_load_balancing());
  std::string warnings = Diagnostics(result, Severity::kWarning);
  EXPECT_NE(warnings.find("shop/shop: sluice.io/load-balance \"fastest\": expected round-robin"), std::string::npos)
      << warnings;
  EXPECT_NE(warnings.find("annotation ignored"), std::string::npos);
}

// The case: two Ingresses, one Service port, each with its own
// policy. Each route gets its own; nobody is warned; the cluster is one.
TEST_F(BalancingTranslateTest, EachIngressRoutesToASharedServicePortWithItsOwnPolicy) {
  Add(ShopIngress("api", "2024-05-01T00:00:00Z",
              {{"nginx.ingress.kubernetes.io/upstream-hash-by", "$http_x_user"}}, "api.example", "/", "web"));
  Add(ShopIngress("sticky", "2024-01-01T00:00:00Z",
              {{"nginx.ingress.kubernetes.io/affinity", "cookie"},
               {"nginx.ingress.kubernetes.io/session-cookie-name", "stick"}},
              "sticky.example", "/", "web"));
  Add(ShopIngress("plain", "2024-06-01T00:00:00Z", json::object(), "plain.example", "/", "web"));
  Add(ShopIngress("random", "2024-07-01T00:00:00Z", {{"sluice.io/load-balance", "random"}}, "random.example", "/",
              "web"));
  Result result = Run();
  EXPECT_EQ(Diagnostics(result, Severity::kWarning) + Diagnostics(result, Severity::kError), "")
      << "different policies on one Service port are not a conflict";
  ASSERT_EQ(result.snapshot.clusters_size(), 1);
  EXPECT_NE(FindCluster(result, "shop/web:80"), nullptr);

  const v1::Route* api = FindRoute(result, "api.example", "/");
  const v1::Route* sticky = FindRoute(result, "sticky.example", "/");
  const v1::Route* plain = FindRoute(result, "plain.example", "/");
  const v1::Route* random = FindRoute(result, "random.example", "/");
  ASSERT_TRUE(api && sticky && plain && random);
  for (const v1::Route* route : {api, sticky, plain, random}) EXPECT_EQ(route->cluster(), "shop/web:80");

  EXPECT_EQ(api->policy().load_balancing().algorithm(), v1::LoadBalancingPolicy::RING_HASH);
  EXPECT_EQ(api->policy().load_balancing().hash_key().source(), v1::HashKey::HEADER);
  EXPECT_EQ(api->policy().load_balancing().hash_key().name(), "x-user");
  EXPECT_FALSE(api->policy().load_balancing().affinity().enabled());

  EXPECT_EQ(sticky->policy().load_balancing().algorithm(), v1::LoadBalancingPolicy::ROUND_ROBIN);
  EXPECT_TRUE(sticky->policy().load_balancing().affinity().enabled());
  EXPECT_EQ(sticky->policy().load_balancing().affinity().cookie_name(), "stick");
  EXPECT_FALSE(sticky->policy().load_balancing().has_hash_key());

  EXPECT_FALSE(plain->policy().has_load_balancing()) << "no annotations: the default, whatever the others ask";
  EXPECT_EQ(random->policy().load_balancing().algorithm(), v1::LoadBalancingPolicy::RANDOM);
}

TEST_F(BalancingTranslateTest, EveryRouteOfAnIngressAndItsDefaultBackendCarryItsPolicy) {
  json ingress = ShopIngress("shop", "", {{"sluice.io/load-balance", "least-request"}}, "shop.example", "/", "web");
  ingress["spec"]["rules"][0]["http"]["paths"].push_back(
      {{"pathType", "Exact"}, {"path", "/cart"}, {"backend", {{"service", {{"name", "api"}, {"port", {{"number", 80}}}}}}}});
  ingress["spec"]["defaultBackend"] = {{"service", {{"name", "web"}, {"port", {{"number", 80}}}}}};
  Add(ingress);
  Result result = Run();
  int routes = 0;
  for (const v1::VirtualHost& vhost : result.snapshot.virtual_hosts()) {
    for (const v1::Route& route : vhost.routes()) {
      ++routes;
      EXPECT_EQ(route.policy().load_balancing().algorithm(), v1::LoadBalancingPolicy::LEAST_REQUEST)
          << vhost.name() << " " << route.path();
    }
  }
  EXPECT_EQ(routes, 3);
}

TEST_F(BalancingTranslateTest, CanaryIngressBalancingAppliesToItsOwnService) {
  Add(ShopIngress("main", "2024-01-01T00:00:00Z", {{"sluice.io/affinity", "cookie"}}, "shop.example", "/", "web"));
  Add(ShopIngress("main-canary", "2024-02-01T00:00:00Z",
              {{"sluice.io/canary", "true"}, {"sluice.io/canary-weight", "10"}, {"sluice.io/load-balance", "random"}},
              "shop.example", "/", "web-v2"));
  Result result = Run();
  EXPECT_EQ(Diagnostics(result, Severity::kWarning) + Diagnostics(result, Severity::kError), "");
  const v1::Route* route = FindRoute(result, "shop.example", "/");
  ASSERT_NE(route, nullptr);
  EXPECT_TRUE(route->policy().load_balancing().affinity().enabled()) << "the primary's policy";
  EXPECT_EQ(route->canary().load_balancing().algorithm(), v1::LoadBalancingPolicy::RANDOM) << "the canary's own";
  EXPECT_FALSE(route->canary().load_balancing().affinity().enabled());
}

TEST_F(BalancingTranslateTest, CanaryIngressAttachesToThePrimaryRoute) {
  Add(ShopIngress("main", "2024-01-01T00:00:00Z", json::object(), "shop.example", "/cart", "web"));
  Add(ShopIngress("main-canary", "2024-02-01T00:00:00Z",
              {{"nginx.ingress.kubernetes.io/canary", "true"},
               {"nginx.ingress.kubernetes.io/canary-weight", "20"},
               {"nginx.ingress.kubernetes.io/canary-by-header", "X-Canary"},
               {"nginx.ingress.kubernetes.io/canary-by-cookie", "canary"}},
              "shop.example", "/cart", "web-v2"));
  Result result = Run();
  EXPECT_EQ(Diagnostics(result, Severity::kWarning) + Diagnostics(result, Severity::kError), "");
  const v1::Route* route = FindRoute(result, "shop.example", "/cart");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->cluster(), "shop/web:80");
  EXPECT_EQ(route->origin(), "shop/main");
  EXPECT_EQ(route->canary().cluster(), "shop/web-v2:80");
  EXPECT_EQ(route->canary().header(), "x-canary");
  EXPECT_EQ(route->canary().cookie(), "canary");
  ASSERT_EQ(route->weighted_clusters_size(), 2);
  EXPECT_EQ(route->weighted_clusters(0).cluster(), "shop/web:80");
  EXPECT_EQ(route->weighted_clusters(0).weight(), 80u);
  EXPECT_EQ(route->weighted_clusters(1).cluster(), "shop/web-v2:80");
  EXPECT_EQ(route->weighted_clusters(1).weight(), 20u);
  EXPECT_NE(FindCluster(result, "shop/web-v2:80"), nullptr) << "the canary's cluster must be in the snapshot";
  EXPECT_EQ(result.snapshot.virtual_hosts_size(), 1);
}

TEST_F(BalancingTranslateTest, CanaryOlderThanItsPrimaryStillAttaches) {
  Add(ShopIngress("canary", "2023-01-01T00:00:00Z",
              {{"sluice.io/canary", "true"}, {"sluice.io/canary-by-header", "x-beta"},
               {"sluice.io/canary-by-header-value", "on"}},
              "shop.example", "/", "web-v2"));
  Add(ShopIngress("main", "2024-01-01T00:00:00Z", json::object(), "shop.example", "/", "web"));
  Result result = Run();
  const v1::Route* route = FindRoute(result, "shop.example", "/");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->cluster(), "shop/web:80");
  EXPECT_EQ(route->canary().cluster(), "shop/web-v2:80");
  EXPECT_EQ(route->canary().header_value(), "on");
  EXPECT_EQ(route->weighted_clusters_size(), 0);  // no weight: header only
}

TEST_F(BalancingTranslateTest, CanaryWithoutPrimaryIsAnError) {
  Add(ShopIngress("lonely", "", {{"sluice.io/canary", "true"}, {"sluice.io/canary-weight", "50"}}, "shop.example", "/",
              "web-v2"));
  Result result = Run();
  std::string errors = Diagnostics(result, Severity::kError);
  EXPECT_NE(errors.find("shop/lonely: spec.rules[0].http.paths[0]: host \"shop.example\" Prefix \"/\": canary Ingress "
                        "without a primary"),
            std::string::npos)
      << errors;
  EXPECT_EQ(result.snapshot.virtual_hosts_size(), 0) << "a canary creates no host of its own";
  EXPECT_EQ(FindCluster(result, "shop/web-v2:80"), nullptr);
}

TEST_F(BalancingTranslateTest, SecondCanaryForTheSameRouteIsAWarning) {
  Add(ShopIngress("main", "2024-01-01T00:00:00Z", json::object(), "shop.example", "/", "web"));
  Add(ShopIngress("canary-a", "2024-02-01T00:00:00Z", {{"sluice.io/canary", "true"}, {"sluice.io/canary-weight", "10"}},
              "shop.example", "/", "web-v2"));
  Add(ShopIngress("canary-b", "2024-03-01T00:00:00Z", {{"sluice.io/canary", "true"}, {"sluice.io/canary-weight", "90"}},
              "shop.example", "/", "web-v3"));
  Result result = Run();
  const v1::Route* route = FindRoute(result, "shop.example", "/");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->canary().cluster(), "shop/web-v2:80");
  EXPECT_EQ(route->weighted_clusters(1).weight(), 10u);
  std::string warnings = Diagnostics(result, Severity::kWarning);
  EXPECT_NE(warnings.find("shop/canary-b: spec.rules[0].http.paths[0]: host \"shop.example\" Prefix \"/\": the route "
                          "of Ingress shop/main already has a canary from Ingress shop/canary-a (older)"),
            std::string::npos)
      << warnings;
}

TEST_F(BalancingTranslateTest, WeightTotalSetsTheSplit) {
  Add(ShopIngress("main", "2024-01-01T00:00:00Z", json::object(), "shop.example", "/", "web"));
  Add(ShopIngress("canary", "2024-02-01T00:00:00Z",
              {{"sluice.io/canary", "true"}, {"sluice.io/canary-weight", "1"}, {"sluice.io/canary-weight-total", "1000"}},
              "shop.example", "/", "web-v2"));
  Result result = Run();
  const v1::Route* route = FindRoute(result, "shop.example", "/");
  ASSERT_NE(route, nullptr);
  ASSERT_EQ(route->weighted_clusters_size(), 2);
  EXPECT_EQ(route->weighted_clusters(0).weight(), 999u);
  EXPECT_EQ(route->weighted_clusters(1).weight(), 1u);
}

}  // namespace
}  // namespace sluice::translate
