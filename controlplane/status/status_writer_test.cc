#include "controlplane/status/status_writer.h"

#include <gtest/gtest.h>

#include "controlplane/translate/test_manifests.h"

namespace sluice::status {
namespace {

using nlohmann::json;
using translate::IngressClass;

json Ingress(const std::string& name, json spec, json status = json::object()) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "Ingress"},
          {"metadata", {{"namespace", "web"}, {"name", name}, {"uid", "uid-" + name}, {"resourceVersion", "5"}}},
          {"spec", spec},
          {"status", status}};
}

TEST(CollectIngressesTest, OursByClassNameAnnotationOrDefaultClass) {
  store::Store store;
  store.Upsert(IngressClass("sluice", "sluice.io/ingress-controller", /*is_default=*/true), "api");
  store.Upsert(IngressClass("nginx", "k8s.io/ingress-nginx"), "api");
  store.Upsert(Ingress("by-name", {{"ingressClassName", "sluice"}}), "api");
  store.Upsert(Ingress("other", {{"ingressClassName", "nginx"}}), "api");
  json legacy = Ingress("legacy", json::object());
  legacy["metadata"]["annotations"] = {{"kubernetes.io/ingress.class", "sluice"}};
  store.Upsert(legacy, "api");
  store.Upsert(Ingress("classless", json::object(),
                       {{"loadBalancer", {{"ingress", {{{"ip", "10.0.0.1"}}}}}}}),
               "api");

  auto ingresses = CollectIngresses(store, "sluice.io/ingress-controller", "");
  ASSERT_EQ(ingresses.size(), 4u);  // sorted by namespace/name
  EXPECT_EQ(ingresses[0].name, "by-name");
  EXPECT_TRUE(ingresses[0].ours);
  EXPECT_EQ(ingresses[0].uid, "uid-by-name");
  EXPECT_EQ(ingresses[1].name, "classless");
  EXPECT_TRUE(ingresses[1].ours);  // our class is the default
  EXPECT_EQ(ingresses[1].load_balancer, json::parse(R"([{"ip":"10.0.0.1"}])"));
  EXPECT_TRUE(ingresses[2].ours);  // legacy annotation
  EXPECT_FALSE(ingresses[3].ours);
  EXPECT_TRUE(CollectIngresses(store, "sluice.io/ingress-controller", "elsewhere").empty());
}

TEST(AddressesTest, ServiceLoadBalancerThenExternalIpsThenClusterIp) {
  json service = json::parse(R"({"spec": {"clusterIP": "10.96.0.10", "externalIPs": ["192.0.2.1"]},
      "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}, {"hostname": "lb.example.com"}]}}})");
  EXPECT_EQ(AddressesFromService(service), (std::vector<std::string>{"203.0.113.5", "lb.example.com"}));
  service.erase("status");
  EXPECT_EQ(AddressesFromService(service), std::vector<std::string>{"192.0.2.1"});
  service["spec"].erase("externalIPs");
  EXPECT_EQ(AddressesFromService(service), std::vector<std::string>{"10.96.0.10"});
  service["spec"]["clusterIP"] = "None";
  EXPECT_TRUE(AddressesFromService(service).empty());
  EXPECT_EQ(LoadBalancerIngress({"lb.example.com", "10.0.0.2", "10.0.0.2", "fd00::1"}),
            json::parse(R"([{"hostname":"lb.example.com"},{"ip":"10.0.0.2"},{"ip":"fd00::1"}])"));
}

TEST(PlanStatusUpdatesTest, WritesOnlyDifferencesAndClearsWhatStoppedBeingOurs) {
  const json desired = LoadBalancerIngress({"10.0.0.7", "10.0.0.8"});
  std::vector<IngressState> ingresses(4);
  ingresses[0] = {"web", "fresh", "", "1", true, json::array()};
  ingresses[1] = {"web", "same", "", "1", true, json::parse(R"([{"ip":"10.0.0.8"},{"ip":"10.0.0.7"}])")};
  ingresses[2] = {"web", "left-us", "", "1", false, desired};
  ingresses[3] = {"web", "someone-elses", "", "1", false, json::parse(R"([{"ip":"192.0.2.9"}])")};
  auto updates = PlanStatusUpdates(ingresses, desired);
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0].name, "fresh");
  EXPECT_EQ(updates[0].load_balancer, desired);
  EXPECT_EQ(updates[1].name, "left-us");
  EXPECT_TRUE(updates[1].load_balancer.empty());
  // No known address yet: nothing is written or erased.
  EXPECT_TRUE(PlanStatusUpdates(ingresses, json::array()).empty());
}

}  // namespace
}  // namespace sluice::status
