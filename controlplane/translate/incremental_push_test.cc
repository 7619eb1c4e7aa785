// Translation + the snapshot server's delta: when only endpoints change, what
// a proxy receives is that one Cluster (a few hundred bytes), not the routes
// or the other clusters. This is what keeps endpoint churn in a large
// cluster cheap for every proxy.
#include <gtest/gtest.h>

#include <string>

#include "controlplane/server/resource_set.h"
#include "controlplane/store/store.h"
#include "controlplane/translate/test_manifests.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

json Service(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec", {{"ports", {{{"name", "http"}, {"port", 80}}}}}}};
}

json Slice(const std::string& service, const std::string& first_address) {
  json endpoints = json::array();
  endpoints.push_back({{"addresses", {first_address}}, {"conditions", {{"ready", true}}}});
  endpoints.push_back({{"addresses", {"10.1.0.2"}}, {"conditions", {{"ready", true}}}});
  endpoints.push_back({{"addresses", {"10.1.0.3"}}, {"conditions", {{"ready", true}}}});
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata", {{"name", service + "-abcde"}, {"namespace", "shop"},
                        {"labels", {{"kubernetes.io/service-name", service}}}}},
          {"addressType", "IPv4"},
          {"ports", {{{"name", "http"}, {"port", 8080}}}},
          {"endpoints", endpoints}};
}

class IncrementalPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_.Upsert(SluiceIngressClass(/*default_class=*/true),
                  "api");
    // 50 Ingresses over 50 Services: enough routes that a full push is large.
    for (int i = 0; i < 50; ++i) {
      std::string name = "svc-" + std::to_string(i);
      store_.Upsert(Service(name), "api");
      store_.Upsert(Slice(name, "10.1.0.1"), "api");
      json paths = json::array();
      for (const char* path : {"/a", "/b"}) {
        paths.push_back({{"path", std::string("/") + name + path},
                         {"pathType", "Prefix"},
                         {"backend", {{"service", {{"name", name}, {"port", {{"number", 80}}}}}}}});
      }
      store_.Upsert({{"apiVersion", "networking.k8s.io/v1"},
                     {"kind", "Ingress"},
                     {"metadata", {{"name", "ing-" + std::to_string(i)}, {"namespace", "shop"}}},
                     {"spec", {{"rules", {{{"host", "host-" + std::to_string(i) + ".example"},
                                           {"http", {{"paths", paths}}}}}}}}},
                    "api");
    }
  }

  server::ResourceSet Current() { return server::BuildResourceSet(Translate(store_, Options{}).snapshot); }

  store::Store store_;
};

TEST_F(IncrementalPushTest, EndpointChangePushesOnlyThatCluster) {
  server::ResourceSet before = Current();
  server::ResourceHashes acked = server::HashesOf(before);
  size_t full_bytes = server::BuildResponse(before, nullptr).ByteSizeLong();

  ASSERT_TRUE(store_.Upsert(Slice("svc-7", "10.1.0.99"), "api"));  // one pod replaced
  server::ResourceSet after = Current();
  v1::StreamResponse delta = server::BuildResponse(after, &acked);

  ASSERT_EQ(delta.resources_size(), 1) << delta.DebugString();
  EXPECT_TRUE(delta.resources(0).has_cluster());
  EXPECT_EQ(delta.resources(0).cluster().name(), "shop/svc-7:80");
  EXPECT_EQ(delta.removed_size(), 0);
  EXPECT_FALSE(delta.full_state());
  EXPECT_LT(delta.ByteSizeLong(), 1024u) << "an endpoint change is a few hundred bytes";
  EXPECT_GT(full_bytes, 20 * delta.ByteSizeLong()) << "and far smaller than the whole state";
  EXPECT_NE(after.version, before.version);
}

TEST_F(IncrementalPushTest, IngressChangePushesOnlyItsVirtualHost) {
  server::ResourceHashes acked = server::HashesOf(Current());
  json changed = store_.Find("Ingress", "shop", "ing-3")->object;
  changed["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/svc-3/renamed";
  ASSERT_TRUE(store_.Upsert(changed, "api"));
  v1::StreamResponse delta = server::BuildResponse(Current(), &acked);
  ASSERT_EQ(delta.resources_size(), 1) << delta.DebugString();
  EXPECT_EQ(delta.resources(0).virtual_host().name(), "host-3.example");
  EXPECT_LT(delta.ByteSizeLong(), 1024u);
}

TEST_F(IncrementalPushTest, UnchangedStateSendsNothing) {
  server::ResourceSet before = Current();
  server::ResourceHashes acked = server::HashesOf(before);
  // A status update on an Ingress is not a translation input.
  json with_status = store_.Find("Ingress", "shop", "ing-1")->object;
  with_status["status"] = {{"loadBalancer", {{"ingress", {{{"ip", "203.0.113.7"}}}}}}};
  store_.Upsert(with_status, "api");
  server::ResourceSet after = Current();
  EXPECT_EQ(after.version, before.version);
  EXPECT_EQ(server::BuildResponse(after, &acked).resources_size(), 0);
}

}  // namespace
}  // namespace sluice::translate
