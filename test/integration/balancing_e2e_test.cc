// Load balancing end to end: sluice-controller reading manifests,
// sluice-proxy, and four echo backends that say who they are. Weighted
// split (canary weight) and round robin, cookie affinity, canary by header,
// and per-route policies: three Ingresses routing to one Service port
// (web:80) with cookie affinity, a header hash and nothing, each balancing
// as annotated.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>

#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using testing::Fetch;
using testing::Process;

// Services: web (backends a, b, c), sticky (the same three, with cookie
// affinity), web-v2 (backend v2, the canary). SLICES is replaced.
// sticky.example (cookie affinity) and api.example (ring hash on X-User)
// route to web:80 as rr.local and split.local do (no annotations).
constexpr const char* kManifests = R"(apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: sluice
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec:
  controller: sluice.io/ingress-controller
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: lb}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: lb}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-v2, namespace: lb}
spec: {ports: [{name: http, port: 80}]}
SLICES
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: main, namespace: lb, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  rules:
    - host: split.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
    - host: rr.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: main-canary
  namespace: lb
  creationTimestamp: "2024-02-01T00:00:00Z"
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-weight: "30"
    nginx.ingress.kubernetes.io/canary-by-header: X-Canary
spec:
  rules:
    - host: split.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web-v2, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: sticky
  namespace: lb
  annotations:
    sluice.io/affinity: cookie
    sluice.io/session-cookie-name: stick
    sluice.io/session-cookie-max-age: "600"
spec:
  rules:
    - host: sticky.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: sticky, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: sticky-web
  namespace: lb
  creationTimestamp: "2024-03-01T00:00:00Z"
  annotations:
    nginx.ingress.kubernetes.io/affinity: cookie
    nginx.ingress.kubernetes.io/session-cookie-name: webstick
spec:
  rules:
    - host: sticky.example
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api-web
  namespace: lb
  creationTimestamp: "2024-04-01T00:00:00Z"
  annotations:
    nginx.ingress.kubernetes.io/upstream-hash-by: $http_x_user
spec:
  rules:
    - host: api.example
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
)";

std::string Slice(const std::string& name, const std::string& service, int port) {
  return "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " + name +
         "\n  namespace: lb\n  labels: {kubernetes.io/service-name: " + service +
         "}\naddressType: IPv4\nports: [{name: http, port: " + std::to_string(port) +
         ", protocol: TCP}]\nendpoints: [{addresses: [\"127.0.0.1\"], conditions: {ready: true}}]\n";
}

class BalancingEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string slices;
    for (const char* name : {"a", "b", "c", "v2"}) {
      int port = testing::FreePort();
      ports_[name] = port;
      backends_.push_back(cluster_.StartEchoBackend(name, port));
      if (std::string(name) == "v2") {
        slices += Slice("web-v2-1", "web-v2", port);
      } else {
        slices += Slice(std::string("web-") + name, "web", port);
        slices += Slice(std::string("sticky-") + name, "sticky", port);
      }
    }
    cluster_.WriteManifest("all.yaml", testing::ReplaceAll(kManifests, "SLICES\n", slices));
    cluster_.Start();
    for (auto& [name, port] : ports_) ASSERT_TRUE(testing::WaitForPort(port)) << name;
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          return Fetch(cluster_.admin_port(), "127.0.0.1", "/readyz").status == 200 &&
                 Fetch(cluster_.http_port(), "split.local", "/").status == 200;
        },
        std::chrono::seconds(20), std::chrono::milliseconds(50)))
        << cluster_.Logs();
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_.Logs();
  }

  std::map<std::string, int> ports_;
  std::vector<std::unique_ptr<Process>> backends_;
  // One worker: round robin state is per worker, so its order is exact.
  testing::SluiceCluster cluster_{{.name = "lb-e2e", .workers = 1, .node_id = "lb-e2e"}};
};

TEST_F(BalancingEndToEndTest, RoundRobinSpreadsEvenlyAndCanaryWeightSplitsTraffic) {
  testing::HttpConnection connection(cluster_.http_port());
  std::map<std::string, int> rr;
  for (int i = 0; i < 60; ++i) rr[connection.Get("rr.local", "/").Header("x-backend")]++;
  EXPECT_EQ(rr["a"], 20);
  EXPECT_EQ(rr["b"], 20);
  EXPECT_EQ(rr["c"], 20);

  std::map<std::string, int> split;
  constexpr int kRequests = 600;
  for (int i = 0; i < kRequests; ++i) split[connection.Get("split.local", "/").Header("x-backend")]++;
  // 30% canary: 180 expected, sigma ~11; the bound is over 4 sigma.
  EXPECT_NEAR(split["v2"], kRequests * 0.30, 50) << "canary share";
  EXPECT_EQ(split["v2"] + split["a"] + split["b"] + split["c"], kRequests);
  EXPECT_GT(split["a"], 0);
  EXPECT_GT(split["c"], 0);
}

TEST_F(BalancingEndToEndTest, CanaryHeaderAlwaysAndNever) {
  testing::HttpConnection connection(cluster_.http_port());
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(connection.Get("split.local", "/", "X-Canary: always\r\n").Header("x-backend"), "v2");
    EXPECT_NE(connection.Get("split.local", "/", "X-Canary: never\r\n").Header("x-backend"), "v2");
  }
}

TEST_F(BalancingEndToEndTest, AffinityCookiePinsTheBackendAndHidesItsAddress) {
  testing::Response first = Fetch(cluster_.http_port(), "sticky.local", "/");
  ASSERT_EQ(first.status, 200);
  std::string set_cookie = first.Header("set-cookie");
  ASSERT_TRUE(std::regex_match(set_cookie, std::regex("stick=[0-9a-f]{16}; Path=/; Max-Age=600; HttpOnly")))
      << set_cookie;
  EXPECT_EQ(set_cookie.find("127.0.0.1"), std::string::npos);
  std::string backend = first.Header("x-backend");
  std::string cookie = "Cookie: " + set_cookie.substr(0, set_cookie.find(';')) + "\r\n";
  for (int i = 0; i < 30; ++i) {
    testing::Response again = Fetch(cluster_.http_port(), "sticky.local", "/", cookie);
    EXPECT_EQ(again.Header("x-backend"), backend);
    EXPECT_EQ(again.Header("set-cookie"), "") << "no new cookie while pinned";
  }
  // Without the cookie the requests spread (round robin) and each is pinned anew.
  std::map<std::string, int> unpinned;
  for (int i = 0; i < 9; ++i) {
    testing::Response r = Fetch(cluster_.http_port(), "sticky.local", "/");
    EXPECT_NE(r.Header("set-cookie"), "");
    unpinned[r.Header("x-backend")]++;
  }
  EXPECT_EQ(unpinned.size(), 3u);

  // The pinned backend goes away: the next request fails over and is re-pinned.
  backends_[backend == "a" ? 0 : backend == "b" ? 1 : 2]->Kill();
  std::string moved_to;
  std::string new_cookie;
  for (int attempt = 0; attempt < 10 && moved_to.empty(); ++attempt) {
    testing::Response r = Fetch(cluster_.http_port(), "sticky.local", "/", cookie);
    if (r.status == 200) {
      moved_to = r.Header("x-backend");
      new_cookie = r.Header("set-cookie");
    }
  }
  EXPECT_NE(moved_to, "");
  EXPECT_NE(moved_to, backend);
  EXPECT_NE(new_cookie, "");
}

// The issue's case: two Ingresses on one Service port with different
// policies (and a third without any) each get their own, and the controller
// reports no conflict.
TEST_F(BalancingEndToEndTest, EachIngressBalancesItsOwnPathsOnASharedServicePort) {
  // sticky.example: cookie affinity, pinned to one endpoint of web.
  testing::Response first = Fetch(cluster_.http_port(), "sticky.example", "/");
  ASSERT_EQ(first.status, 200);
  std::string set_cookie = first.Header("set-cookie");
  ASSERT_TRUE(std::regex_match(set_cookie, std::regex("webstick=[0-9a-f]{16}; Path=/; HttpOnly"))) << set_cookie;
  std::string pinned = first.Header("x-backend");
  ASSERT_TRUE(pinned == "a" || pinned == "b" || pinned == "c") << pinned;
  std::string cookie = "Cookie: " + set_cookie.substr(0, set_cookie.find(';')) + "\r\n";
  for (int i = 0; i < 20; ++i) {
    testing::Response again = Fetch(cluster_.http_port(), "sticky.example", "/", cookie);
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(again.Header("x-backend"), pinned) << "request " << i;
    EXPECT_EQ(again.Header("set-cookie"), "") << "no new cookie while pinned";
  }

  // api.example: ring hash on X-User over the same three endpoints; no
  // cookie (the other Ingress's affinity does not leak onto its paths).
  std::map<std::string, std::string> owner;
  std::set<std::string> used;
  for (int round = 0; round < 2; ++round) {
    for (int user = 0; user < 40; ++user) {
      std::string id = "user-" + std::to_string(user);
      testing::Response r = Fetch(cluster_.http_port(), "api.example", "/", "X-User: " + id + "\r\n");
      ASSERT_EQ(r.status, 200) << id;
      EXPECT_EQ(r.Header("set-cookie"), "") << id;
      std::string backend = r.Header("x-backend");
      auto [it, fresh] = owner.emplace(id, backend);
      EXPECT_EQ(it->second, backend) << id << " moved";
      used.insert(backend);
    }
  }
  // 40 keys over 3 endpoints: all three are used (a miss has p < 1e-6).
  EXPECT_EQ(used.size(), 3u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Fetch(cluster_.http_port(), "api.example", "/", "X-User: user-7\r\n").Header("x-backend"),
              owner["user-7"]);
  }

  // rr.local, the same Service port without annotations: plain round robin,
  // exact on the one worker, and no cookie.
  std::map<std::string, int> rr;
  for (int i = 0; i < 30; ++i) {
    testing::Response r = Fetch(cluster_.http_port(), "rr.local", "/");
    EXPECT_EQ(r.Header("set-cookie"), "");
    rr[r.Header("x-backend")]++;
  }
  EXPECT_EQ(rr["a"], 10);
  EXPECT_EQ(rr["b"], 10);
  EXPECT_EQ(rr["c"], 10);

  // The controller saw no conflict between the Ingresses.
  EXPECT_EQ(cluster_.Logs().find("load balancing \""), std::string::npos) << "a conflict warning";
}

}  // namespace
}  // namespace sluice
