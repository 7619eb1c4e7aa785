// Headers and CORS end to end (issue 18 item 3): sluice-controller reading
// manifests (Ingresses with upstream-vhost, proxy-set-headers,
// custom-headers and the CORS annotations, and the labelled ConfigMaps),
// sluice-proxy, a scriptable origin that records what it received, and
// real HTTP/1.1 clients on loopback sockets.
#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <string>

#include "test/support/fake_upstream.h"
#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using testing::FakeUpstream;
using testing::HttpConnection;
using testing::Response;

// headers.local: vhost, request and response header sets.
// cors.local: CORS for listed origins (one a wildcard), no credentials.
// any.local: CORS for every origin (ingress-nginx's defaults).
// After testing::DefaultIngressClass() and the Service.
constexpr const char* kManifests = R"(
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: to-backend
  namespace: web
  labels: {sluice.io/headers: "true"}
data:
  X-Team: checkout
  X-Client-Said: "proxy's value"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: to-client
  namespace: web
  labels: {sluice.io/headers: "true"}
data:
  X-Frame-Options: DENY
  Strict-Transport-Security: "max-age=60"
  Connection: close
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: headers
  namespace: web
  annotations:
    nginx.ingress.kubernetes.io/upstream-vhost: "backend.internal"
    sluice.io/proxy-set-headers: "to-backend"
    nginx.ingress.kubernetes.io/custom-headers: "web/to-client"
spec:
  rules:
    - host: headers.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: origin, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: cors
  namespace: web
  annotations:
    nginx.ingress.kubernetes.io/enable-cors: "true"
    nginx.ingress.kubernetes.io/cors-allow-origin: "https://app.example, https://*.shop.example"
    nginx.ingress.kubernetes.io/cors-allow-methods: "GET, PUT"
    nginx.ingress.kubernetes.io/cors-allow-credentials: "false"
    nginx.ingress.kubernetes.io/cors-expose-headers: "X-Count"
    nginx.ingress.kubernetes.io/cors-max-age: "600"
    # Preflights are answered before access control: none of these
    # clients is allowed, and they still get their preflight.
    sluice.io/allow-source-range: "203.0.113.0/24"
spec:
  rules:
    - host: cors.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: origin, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: any
  namespace: web
  annotations:
    nginx.ingress.kubernetes.io/enable-cors: "true"
spec:
  rules:
    - host: any.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: origin, port: {number: 80}}}}]
)";

class HeadersCorsEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    origin_ = std::make_unique<FakeUpstream>(FakeUpstream::Always(FakeUpstream::OkResponse(
        "from origin", "X-Frame-Options: SAMEORIGIN\r\nAccess-Control-Allow-Origin: https://origin.example\r\n")));
    cluster_ = std::make_unique<testing::SluiceCluster>(testing::SluiceClusterOptions{.name = "headers_cors"});
    cluster_->WriteManifest("all.yaml", testing::DefaultIngressClass() + "\n---\n" +
                                            testing::ServiceAndSlice("origin", "web", origin_->port()) + kManifests);
    cluster_->Start();
    ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Logs();
    ASSERT_TRUE(testing::WaitUntil([&] { return Send("GET", "headers.local", "").status == 200; },
                                   std::chrono::seconds(15), std::chrono::milliseconds(50)))
        << cluster_->Logs();
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs();
  }

  Response Send(const std::string& method, const std::string& host, const std::string& extra_headers) {
    HttpConnection conn(cluster_->http_port());
    if (!conn.connected()) return Response{};
    conn.SendRaw(method + " /items HTTP/1.1\r\nHost: " + host + "\r\n" + extra_headers + "\r\n");
    return conn.ReadResponse(method == "HEAD");
  }

  // The head of the last request the origin saw.
  std::string LastHead() {
    std::vector<std::string> heads = origin_->request_heads();
    return heads.empty() ? "" : heads.back();
  }

  std::unique_ptr<FakeUpstream> origin_;
  std::unique_ptr<testing::SluiceCluster> cluster_;
};

TEST_F(HeadersCorsEndToEndTest, UpstreamSeesTheVhostAndTheSetHeaders) {
  Response response = Send("GET", "headers.local", "X-Client-Said: spoofed\r\nX-Team: spoofed\r\n");
  ASSERT_EQ(response.status, 200);
  std::string head = LastHead();
  EXPECT_NE(head.find("\r\nhost: backend.internal\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("x-forwarded-host: headers.local\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("x-team: checkout\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("x-client-said: proxy's value\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("spoofed"), std::string::npos) << "the client's fields of those names are replaced:\n" << head;

  // The client sees the custom response fields, replacing the origin's.
  EXPECT_EQ(response.Header("x-frame-options"), "DENY");
  EXPECT_EQ(response.headers.Count("x-frame-options"), 1u);
  EXPECT_EQ(response.Header("strict-transport-security"), "max-age=60");
  EXPECT_EQ(response.body, "from origin");
  // "Connection: close" was refused by the controller (hop-by-hop), with an Event.
  EXPECT_NE(response.Header("connection"), "close");
  EXPECT_NE(cluster_->Read("controller.log").find("Connection"), std::string::npos) << cluster_->Read("controller.log");
}

TEST_F(HeadersCorsEndToEndTest, PreflightFromAnAllowedOriginIsAnsweredByTheProxy) {
  size_t before = origin_->request_count();
  for (const char* origin : {"https://app.example", "https://eu.shop.example"}) {
    Response response = Send("OPTIONS", "cors.local",
                             std::string("Origin: ") + origin +
                                 "\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: "
                                 "content-type\r\n");
    EXPECT_EQ(response.status, 204) << origin;
    EXPECT_EQ(response.Header("access-control-allow-origin"), origin);
    EXPECT_EQ(response.Header("vary"), "Origin");
    EXPECT_EQ(response.Header("access-control-allow-methods"), "GET, PUT");
    EXPECT_EQ(response.Header("access-control-max-age"), "600");
    EXPECT_EQ(response.Header("access-control-expose-headers"), "X-Count");
    EXPECT_EQ(response.Header("access-control-allow-credentials"), "");
    EXPECT_NE(response.Header("access-control-allow-headers"), "");
  }
  EXPECT_EQ(origin_->request_count(), before) << "a preflight never reaches the backend";
}

TEST_F(HeadersCorsEndToEndTest, NotAllowedOriginsGetNoCorsFields) {
  // cors.local only lets 203.0.113.0/24 through to the backend: a
  // disallowed preflight goes on like any OPTIONS and meets the 403.
  for (const char* origin : {"https://evil.example", "https://a.b.shop.example", "http://app.example"}) {
    Response response =
        Send("OPTIONS", "cors.local", std::string("Origin: ") + origin + "\r\nAccess-Control-Request-Method: PUT\r\n");
    EXPECT_EQ(response.status, 403) << origin;
    EXPECT_EQ(response.Header("access-control-allow-origin"), "") << origin;
  }
  // A refused simple request from an allowed origin still carries the
  // fields, so the page can read the refusal.
  Response refused = Send("GET", "cors.local", "Origin: https://app.example\r\n");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.Header("access-control-allow-origin"), "https://app.example");
}

TEST_F(HeadersCorsEndToEndTest, SimpleRequestsWithAnyOrigin) {
  Response response = Send("GET", "any.local", "Origin: https://whoever.example\r\n");
  ASSERT_EQ(response.status, 200);
  // ingress-nginx's defaults: "*", credentials true (browsers then refuse
  // credentialed requests; documented), the default methods and max-age.
  EXPECT_EQ(response.Header("access-control-allow-origin"), "*");
  EXPECT_EQ(response.headers.Count("access-control-allow-origin"), 1u) << "the origin's own is replaced";
  EXPECT_EQ(response.Header("access-control-allow-credentials"), "true");
  EXPECT_EQ(response.Header("access-control-allow-methods"), "GET, PUT, POST, DELETE, PATCH, OPTIONS");
  EXPECT_EQ(response.Header("access-control-max-age"), "1728000");
  EXPECT_EQ(response.Header("vary"), "");
  EXPECT_EQ(response.body, "from origin");

  // Without Origin: the origin's response as it is.
  Response plain = Send("GET", "any.local", "");
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(plain.Header("access-control-allow-origin"), "https://origin.example");
  EXPECT_EQ(plain.Header("access-control-allow-methods"), "");

  // A wildcard preflight is answered too.
  size_t before = origin_->request_count();
  Response preflight =
      Send("OPTIONS", "any.local", "Origin: https://whoever.example\r\nAccess-Control-Request-Method: DELETE\r\n");
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.Header("access-control-allow-origin"), "*");
  EXPECT_EQ(origin_->request_count(), before);
}

}  // namespace
}  // namespace sluice
