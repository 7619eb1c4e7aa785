#include "controlplane/kube/kube_source.h"

#include <gtest/gtest.h>

namespace sluice::kube {
namespace {

using nlohmann::json;

json Service(const std::string& ns, const std::string& name, int port = 80) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"spec", {{"ports", {{{"port", port}}}}}}};
}

json Ingress(const std::string& ns, const std::string& name, const std::string& service) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "Ingress"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"spec", {{"defaultBackend", {{"service", {{"name", service}, {"port", {{"number", 80}}}}}}}}}};
}

TEST(ReplaceKindTest, RelistDeletesObjectsMissingFromTheNewList) {
  store::Store store;
  ASSERT_TRUE(ReplaceKind(store, "Ingress", {Ingress("a", "one", "web"), Ingress("a", "two", "web")}));
  ReplaceKind(store, "Service", {Service("a", "web"), Service("b", "other")});
  EXPECT_EQ(store.Objects("Ingress").size(), 2u);

  // "two" was deleted while the watch was down: the relist must drop it.
  EXPECT_TRUE(ReplaceKind(store, "Ingress", {Ingress("a", "one", "web")}));
  EXPECT_EQ(store.Objects("Ingress").size(), 1u);
  EXPECT_EQ(store.Find("Ingress", "a", "two"), nullptr);
  // Other kinds are untouched by an Ingress relist.
  EXPECT_EQ(store.Objects("Service").size(), 2u);
}

TEST(ReplaceKindTest, AnIdenticalRelistChangesNothing) {
  store::Store store;
  ReplaceKind(store, "Ingress", {Ingress("a", "one", "web")});
  ReplaceKind(store, "Service", {Service("a", "web")});
  EXPECT_FALSE(ReplaceKind(store, "Ingress", {Ingress("a", "one", "web")}));
  EXPECT_FALSE(ReplaceKind(store, "Service", {Service("a", "web")}));
  // A referenced Service that changed matters.
  EXPECT_TRUE(ReplaceKind(store, "Service", {Service("a", "web", 8080)}));
  // An empty list removes everything of the kind.
  EXPECT_TRUE(ReplaceKind(store, "Service", {}));
  EXPECT_TRUE(store.Objects("Service").empty());
}

TEST(ResourceKindTest, PathsFollowTheApiGroupsAndScope) {
  auto kinds = WatchedKinds();
  ASSERT_EQ(kinds.size(), 7u);
  EXPECT_EQ(kinds[0].CollectionPath(""), "/apis/networking.k8s.io/v1/ingresses");
  EXPECT_EQ(kinds[0].CollectionPath("team-a"), "/apis/networking.k8s.io/v1/namespaces/team-a/ingresses");
  EXPECT_EQ(kinds[1].CollectionPath("team-a"), "/apis/networking.k8s.io/v1/ingressclasses");  // cluster-scoped
  EXPECT_EQ(kinds[2].CollectionPath("team-a"), "/api/v1/namespaces/team-a/services");
  EXPECT_EQ(kinds[3].CollectionPath(""), "/apis/discovery.k8s.io/v1/endpointslices");
  // Secrets: not selected by type (Opaque CA bundles are read too), trimmed.
  EXPECT_EQ(kinds[4].kind, "Secret");
  EXPECT_EQ(kinds[4].field_selector, "type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1");
  ASSERT_NE(kinds[4].trim, nullptr);
  nlohmann::json opaque = {{"kind", "Secret"}, {"type", "Opaque"}, {"data", {{"password", "eA=="}}}};
  EXPECT_FALSE(kinds[4].trim(opaque));
  // Static sites and header sets: only labelled ConfigMaps (trimmed on
  // arrival: a selector cannot name two labels); the StaticSite CRD.
  ASSERT_GE(kinds.size(), 7u);
  EXPECT_EQ(kinds[5].kind, "ConfigMap");
  ASSERT_NE(kinds[5].trim, nullptr);
  nlohmann::json plain = {{"kind", "ConfigMap"}, {"metadata", {{"name", "x"}}}, {"data", {{"a", "b"}}}};
  EXPECT_FALSE(kinds[5].trim(plain));
  nlohmann::json headers = {{"kind", "ConfigMap"},
                            {"metadata", {{"name", "h"}, {"labels", {{"sluice.io/headers", "true"}}}}}};
  EXPECT_TRUE(kinds[5].trim(headers));
  nlohmann::json site = {{"kind", "ConfigMap"},
                         {"metadata", {{"name", "s"}, {"labels", {{"sluice.io/static-site", "true"}}}}}};
  EXPECT_TRUE(kinds[5].trim(site));
  EXPECT_EQ(kinds[6].CollectionPath("web"), "/apis/sluice.io/v1alpha1/namespaces/web/staticsites");
  EXPECT_FALSE(opaque.contains("data"));
}

}  // namespace
}  // namespace sluice::kube
