// Translation of the health-check, outlier and retry annotations: what lands
// in the snapshot's clusters and routes, and what is reported.
#include <gtest/gtest.h>

#include "controlplane/translate/test_manifests.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

// An Ingress for `path` of shop.example to Service web.
json Ingress(const std::string& name, const std::string& created, json annotations, const std::string& path) {
  return ShopIngress(name, created, std::move(annotations), "shop.example", path, "web");
}

class HealthTranslateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Add(SluiceIngressClass());
    Add(ShopService("web"));
  }
  void Add(json object) { store_.Upsert(std::move(object), "test.yaml"); }
  const v1::Cluster& Web(const Result& result) {
    for (const v1::Cluster& c : result.snapshot.clusters()) {
      if (c.name() == "shop/web:80") return c;
    }
    ADD_FAILURE() << "no cluster shop/web:80";
    static v1::Cluster none;
    return none;
  }
  store::Store store_;
};

TEST_F(HealthTranslateTest, NoAnnotationsNoHealthPolicy) {
  Add(Ingress("plain", "2024-01-01T00:00:00Z", json::object(), "/"));
  Result result = Translate(store_, {});
  EXPECT_FALSE(Web(result).has_health_check());
  EXPECT_FALSE(Web(result).has_outlier_detection());
}

TEST_F(HealthTranslateTest, OldestIngressWithHealthAnnotationsDecidesForTheServicePort) {
  // The oldest Ingress sets nothing about health: the next one decides.
  Add(Ingress("a-oldest", "2024-01-01T00:00:00Z", json::object(), "/a"));
  Add(Ingress("b-older", "2024-02-01T00:00:00Z",
              {{"sluice.io/health-check-path", "/healthz"}, {"sluice.io/outlier-consecutive-failures", "3"}}, "/b"));
  Add(Ingress("c-newer", "2024-03-01T00:00:00Z",
              {{"sluice.io/health-check-path", "/other"}, {"sluice.io/health-check-interval", "bad"}}, "/c"));
  Result result = Translate(store_, {});
  EXPECT_EQ(Web(result).health_check().path(), "/healthz");
  EXPECT_EQ(Web(result).outlier_detection().consecutive_failures(), 3u);
  int problems = 0;
  for (const Diagnostic& d : result.diagnostics) {
    if (d.message.find("sluice.io/health-check-interval \"bad\"") != std::string::npos) ++problems;
  }
  EXPECT_EQ(problems, 1);  // reported once, naming the annotation
}

TEST_F(HealthTranslateTest, RetryAnnotationsGoOnTheIngressRoutes) {
  Add(Ingress("retrying", "2024-01-01T00:00:00Z",
              {{"nginx.ingress.kubernetes.io/proxy-next-upstream", "error http_503"},
               {"nginx.ingress.kubernetes.io/proxy-next-upstream-tries", "2"}},
              "/"));
  Result result = Translate(store_, {});
  ASSERT_EQ(result.snapshot.virtual_hosts_size(), 1);
  const v1::RetryPolicy& retry = result.snapshot.virtual_hosts(0).routes(0).policy().retry();
  EXPECT_EQ(retry.retries(), 1u);
  ASSERT_EQ(retry.retry_on_size(), 3);
  EXPECT_EQ(retry.retry_on(2), v1::RetryPolicy::STATUS_503);
}

}  // namespace
}  // namespace sluice::translate
