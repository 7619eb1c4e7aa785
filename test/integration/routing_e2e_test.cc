// Regex paths, rewrites and redirects end to end (issue 18):
// sluice-controller reading manifests, sluice-proxy, an echo backend that
// says which path and fields reached it, and real HTTP/1.1 clients.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using testing::HttpConnection;
using testing::Response;

// After testing::DefaultIngressClass().
constexpr const char* kManifests = R"yaml(SERVICE
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: rewrite
  namespace: rt
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /$2
    nginx.ingress.kubernetes.io/x-forwarded-prefix: /something
spec:
  rules:
    - host: rewrite.local
      http:
        paths:
          - {path: "/something(/|$)(.*)", pathType: ImplementationSpecific, backend: {service: {name: echo, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-root
  namespace: rt
  annotations:
    nginx.ingress.kubernetes.io/app-root: /app1
    nginx.ingress.kubernetes.io/server-alias: alias.local, taken.local
spec:
  rules:
    - host: approot.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: taken
  namespace: rt
spec:
  rules:
    - host: taken.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: other, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: moved
  namespace: rt
  annotations:
    nginx.ingress.kubernetes.io/permanent-redirect: https://new.example/landing
    nginx.ingress.kubernetes.io/permanent-redirect-code: "308"
spec:
  rules:
    - host: moved.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: maintenance
  namespace: rt
  annotations:
    nginx.ingress.kubernetes.io/temporal-redirect: /maintenance.html
spec:
  rules:
    - host: temp.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: www
  namespace: rt
  annotations:
    nginx.ingress.kubernetes.io/from-to-www-redirect: "true"
    nginx.ingress.kubernetes.io/force-ssl-redirect: "false"
spec:
  rules:
    - host: www.shop.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: secure
  namespace: rt
  annotations:
    nginx.ingress.kubernetes.io/force-ssl-redirect: "true"
spec:
  rules:
    - host: secure.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bad-regex
  namespace: rt
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
spec:
  rules:
    - host: bad.local
      http:
        paths: [{path: "/(?!admin).*", pathType: ImplementationSpecific, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: regex
  namespace: rt
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
spec:
  rules:
    - host: regex.local
      http:
        paths:
          - {path: "/api/v[0-9]+/", pathType: ImplementationSpecific, backend: {service: {name: echo, port: {number: 80}}}}
          - {path: "/api", pathType: Prefix, backend: {service: {name: other, port: {number: 80}}}}
)yaml";

class RoutingEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<testing::SluiceCluster>(
        testing::SluiceClusterOptions{.name = "routing", .workers = 1, .access_log = "access.log"});
    echo_port_ = testing::FreePort();
    other_port_ = testing::FreePort();
    echo_ = cluster_->StartEchoBackend("echo", echo_port_);
    other_ = cluster_->StartEchoBackend("other", other_port_);
    std::string services =
        testing::ServiceAndSlice("echo", "rt", echo_port_) + "---\n" + testing::ServiceAndSlice("other", "rt", other_port_);
    cluster_->WriteManifest("all.yaml", testing::DefaultIngressClass() + "---\n" +
                                            testing::ReplaceAll(kManifests, "SERVICE", services));
    cluster_->Start();
    ASSERT_TRUE(testing::WaitForPort(echo_port_));
    ASSERT_TRUE(testing::WaitForPort(other_port_));
    ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Logs();
    ASSERT_TRUE(testing::WaitUntil([&] { return Get("regex.local", "/api/v1/").status == 200; },
                                   std::chrono::seconds(15), std::chrono::milliseconds(50)))
        << cluster_->Logs();
  }
  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs() << cluster_->Read("access.log");
  }

  Response Get(const std::string& host, const std::string& path, const std::string& extra = "") {
    HttpConnection conn(cluster_->http_port());
    if (!conn.connected()) return Response{};
    conn.SendRaw("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n");
    return conn.ReadResponse();
  }

  std::unique_ptr<testing::SluiceCluster> cluster_;
  int echo_port_ = 0, other_port_ = 0;
  std::unique_ptr<testing::Process> echo_, other_;
};

TEST_F(RoutingEndToEndTest, RewriteCapturesReachTheBackend) {
  Response r = Get("rewrite.local", "/something/new/page?x=1", "X-Forwarded-Prefix: /spoofed\r\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"path\":\"/new/page?x=1\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"x-forwarded-prefix\":\"/something\""), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("spoofed"), std::string::npos) << r.body;
  Response bare = Get("rewrite.local", "/SOMETHING");  // ~*: case-insensitive
  ASSERT_EQ(bare.status, 200) << bare.body;
  EXPECT_NE(bare.body.find("\"path\":\"/\""), std::string::npos) << bare.body;
  EXPECT_EQ(Get("rewrite.local", "/else").status, 404);
}

TEST_F(RoutingEndToEndTest, RegexPrecedenceLongestFirst) {
  Response versioned = Get("regex.local", "/api/v2/users");
  EXPECT_EQ(versioned.Header("x-backend"), "echo") << versioned.body;
  Response plain = Get("regex.local", "/api/users");
  EXPECT_EQ(plain.Header("x-backend"), "other") << plain.body;
}

TEST_F(RoutingEndToEndTest, AppRootAndServerAlias) {
  Response root = Get("approot.local:8080", "/");
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(root.Header("location"), "http://approot.local:8080/app1");
  Response app = Get("approot.local", "/app1");
  EXPECT_EQ(app.status, 200);
  EXPECT_EQ(app.Header("x-backend"), "echo");
  Response alias = Get("alias.local", "/app1/x");
  EXPECT_EQ(alias.status, 200) << alias.body;
  EXPECT_EQ(alias.Header("x-backend"), "echo");
  EXPECT_EQ(Get("alias.local", "/").Header("location"), "http://alias.local/app1");
  // Another Ingress routes taken.local as its host: the alias is ignored.
  EXPECT_EQ(Get("taken.local", "/app1").Header("x-backend"), "other");
}

TEST_F(RoutingEndToEndTest, RedirectsWithTheirLocationAndCode) {
  Response moved = Get("moved.local", "/any/where?q=1");
  EXPECT_EQ(moved.status, 308);
  EXPECT_EQ(moved.Header("location"), "https://new.example/landing");
  Response temp = Get("temp.local", "/x");
  EXPECT_EQ(temp.status, 302);
  EXPECT_EQ(temp.Header("location"), "/maintenance.html");
  Response www = Get("shop.local", "/a/b?c=d");
  EXPECT_EQ(www.status, 308);
  EXPECT_EQ(www.Header("location"), "http://www.shop.local/a/b?c=d");
  EXPECT_EQ(Get("www.shop.local", "/a").Header("x-backend"), "echo");
  // force-ssl-redirect on a host without TLS.
  Response secure = Get("secure.local", "/p?q=1");
  EXPECT_EQ(secure.status, 308);
  EXPECT_EQ(secure.Header("location"), "https://secure.local/p?q=1");
}

TEST_F(RoutingEndToEndTest, ABadRegexIngressIsRefusedWhileOthersServe) {
  EXPECT_EQ(Get("bad.local", "/anything").status, 404);
  EXPECT_EQ(Get("regex.local", "/api/v3/").status, 200);
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        std::string log = cluster_->Read("controller.log");
        return log.find("bad-regex") != std::string::npos &&
               log.find("is not a regular expression Sluice can use") != std::string::npos;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(100)))
      << cluster_->Read("controller.log");
}

}  // namespace
}  // namespace sluice
