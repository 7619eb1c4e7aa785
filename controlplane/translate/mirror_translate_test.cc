// mirror-target / mirror-host / mirror-request-body: the target's Service
// becomes a Cluster of the snapshot and every route of the Ingress carries
// the MirrorPolicy; what cannot be mirrored is said and ignored.
#include <gtest/gtest.h>

#include "controlplane/translate/test_manifests.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

json Service(const std::string& ns, const std::string& name, int port) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"ports", json::array({{{"port", port}}})}}}};
}

json Ingress(const std::string& name, json annotations) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "Ingress"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"annotations", annotations}}},
          {"spec",
           {{"rules",
             json::array({{{"host", name + ".example.com"},
                           {"http",
                            {{"paths", json::array({{{"pathType", "Prefix"},
                                                     {"path", "/"},
                                                     {"backend", {{"service", {{"name", "web"}, {"port", {{"number", 80}}}}}}}}})}}}}})}}}};
}

std::string AllMessages(const Result& result) {
  std::string out;
  for (const Diagnostic& d : result.diagnostics) out += "\n  " + d.name + " [" + d.reason + "]: " + d.message;
  return out;
}

const v1::Route* RouteOf(const v1::Snapshot& snapshot, const std::string& host) {
  for (const v1::VirtualHost& vhost : snapshot.virtual_hosts()) {
    if (vhost.name() == host && vhost.routes_size() > 0) return &vhost.routes(0);
  }
  return nullptr;
}

class MirrorTranslateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Add(SluiceIngressClass(/*default_class=*/true));
    Add(Service("default", "web", 80));
    Add(Service("shadow", "recorder", 8080));
    Add(Service("default", "local", 80));
  }
  void Add(json object) { store_.Upsert(std::move(object), "test.yaml"); }
  store::Store store_;
};

TEST_F(MirrorTranslateTest, ClusterServiceNameBecomesTheMirrorCluster) {
  Add(Ingress("a", {{"nginx.ingress.kubernetes.io/mirror-target",
                     "http://recorder.shadow.svc.cluster.local:8080/mirror$request_uri"},
                    {"nginx.ingress.kubernetes.io/mirror-host", "copies.example"},
                    {"nginx.ingress.kubernetes.io/mirror-request-body", "off"}}));
  Result result = Translate(store_, Options());
  const v1::Route* route = RouteOf(result.snapshot, "a.example.com");
  ASSERT_NE(route, nullptr) << AllMessages(result);
  const v1::MirrorPolicy& mirror = route->policy().mirror();
  EXPECT_EQ(mirror.cluster(), "shadow/recorder:8080");
  EXPECT_EQ(mirror.path(), "/mirror$request_uri");
  EXPECT_EQ(mirror.host(), "copies.example");
  EXPECT_TRUE(mirror.drop_request_body());
  bool cluster = false;
  for (const v1::Cluster& c : result.snapshot.clusters()) cluster = cluster || c.name() == "shadow/recorder:8080";
  EXPECT_TRUE(cluster) << "the mirror's cluster is in the snapshot";
}

TEST_F(MirrorTranslateTest, ShortNamesAndDefaults) {
  Add(Ingress("b", {{"sluice.io/mirror-target", "http://local"}}));
  Add(Ingress("c", {{"nginx.ingress.kubernetes.io/mirror-target", "http://recorder.shadow:8080/$uri?from=c&$args"}}));
  Result result = Translate(store_, Options());
  const v1::Route* b = RouteOf(result.snapshot, "b.example.com");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->policy().mirror().cluster(), "default/local:80");
  EXPECT_EQ(b->policy().mirror().path(), "$request_uri");  // no path: the request's own
  EXPECT_EQ(b->policy().mirror().host(), "local");
  EXPECT_FALSE(b->policy().mirror().drop_request_body());
  const v1::Route* c = RouteOf(result.snapshot, "c.example.com");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->policy().mirror().cluster(), "shadow/recorder:8080");
  EXPECT_EQ(c->policy().mirror().host(), "recorder.shadow:8080");
}

TEST_F(MirrorTranslateTest, WhatCannotBeMirroredIsReportedAndIgnored) {
  const char* bad[] = {"https://recorder.shadow.svc.cluster.local/", "http://example.com/x",
                       "http://recorder.shadow.svc.cluster.local/$host", "ftp://recorder", "http://recorder:99999/",
                       "http://a.b.c.d/"};
  int i = 0;
  for (const char* target : bad) {
    Add(Ingress("bad" + std::to_string(i++), {{"nginx.ingress.kubernetes.io/mirror-target", target}}));
  }
  Add(Ingress("hostonly", {{"nginx.ingress.kubernetes.io/mirror-host", "x"}}));
  Result result = Translate(store_, Options());
  for (int j = 0; j < i; ++j) {
    const v1::Route* route = RouteOf(result.snapshot, "bad" + std::to_string(j) + ".example.com");
    ASSERT_NE(route, nullptr);
    EXPECT_FALSE(route->policy().has_mirror()) << bad[j];
  }
  int reported = 0;
  for (const Diagnostic& d : result.diagnostics) reported += d.reason == "InvalidAnnotation";
  EXPECT_EQ(reported, i + 1) << AllMessages(result);
}

TEST_F(MirrorTranslateTest, MissingServiceIsAWarningAndTheCopiesFailAtTheProxy) {
  Add(Ingress("d", {{"nginx.ingress.kubernetes.io/mirror-target", "http://nosuch.default.svc.cluster.local/"}}));
  Result result = Translate(store_, Options());
  const v1::Route* route = RouteOf(result.snapshot, "d.example.com");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->policy().mirror().cluster(), "default/nosuch:80");
  EXPECT_NE(AllMessages(result).find("ServiceNotFound"), std::string::npos) << AllMessages(result);
}

}  // namespace
}  // namespace sluice::translate
