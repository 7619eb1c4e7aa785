// Load balancing end to end: sluice-controller reading manifests,
// sluice-proxy, and four echo backends that say who they are. Weighted
// split (canary weight) and round robin, cookie affinity, canary by header.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "test/support/http_client.h"
#include "test/support/process.h"

namespace sluice {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Fetch;
using testing::Process;

// Services: web (backends a, b, c), sticky (the same three, with cookie
// affinity), web-v2 (backend v2, the canary). PORT_A.. are replaced.
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
    dir_ = testing::MakeTempDir("lb-e2e");
    std::string manifests = dir_ + "/manifests";
    std::filesystem::create_directories(manifests);
    std::string backend = testing::RunfilePath("test/backend/sluice-echo-backend");
    std::string slices;
    for (const char* name : {"a", "b", "c", "v2"}) {
      int port = testing::FreePort();
      ports_[name] = port;
      backends_.push_back(std::make_unique<Process>(
          std::vector<std::string>{backend, "--listen", "127.0.0.1:" + std::to_string(port), "--name", name},
          dir_ + "/" + name + ".log"));
      if (std::string(name) == "v2") {
        slices += Slice("web-v2-1", "web-v2", port);
      } else {
        slices += Slice(std::string("web-") + name, "web", port);
        slices += Slice(std::string("sticky-") + name, "sticky", port);
      }
    }
    testing::WriteFileAtomically(manifests + "/all.yaml",
                                 std::regex_replace(kManifests, std::regex("SLICES\n"), slices.substr(0)));
    int grpc_port = testing::FreePort();
    proxy_port_ = testing::FreePort();
    admin_port_ = testing::FreePort();
    controller_ = std::make_unique<Process>(
        std::vector<std::string>{testing::RunfilePath("controlplane/main/sluice-controller"), "--manifests", manifests,
                                 "--grpc-listen", "127.0.0.1:" + std::to_string(grpc_port), "--admin-listen",
                                 "127.0.0.1:" + std::to_string(testing::FreePort())},
        dir_ + "/controller.log");
    // One worker: round robin state is per worker, so its order is exact.
    proxy_ = std::make_unique<Process>(
        std::vector<std::string>{testing::RunfilePath("dataplane/main/sluice-proxy"), "--controller",
                                 "127.0.0.1:" + std::to_string(grpc_port), "--http-listen",
                                 "127.0.0.1:" + std::to_string(proxy_port_), "--admin-listen",
                                 "127.0.0.1:" + std::to_string(admin_port_), "--workers", "1", "--node-id", "lb-e2e"},
        dir_ + "/proxy.log");
    for (auto& [name, port] : ports_) ASSERT_TRUE(testing::WaitForPort(port)) << name;
    auto deadline = Clock::now() + std::chrono::seconds(20);
    bool ready = false;
    while (!ready && Clock::now() < deadline) {
      ready = Fetch(admin_port_, "127.0.0.1", "/readyz").status == 200 &&
              Fetch(proxy_port_, "split.local", "/").status == 200;
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(ready) << testing::ReadFile(dir_ + "/proxy.log") << testing::ReadFile(dir_ + "/controller.log");
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- controller.log\n" << testing::ReadFile(dir_ + "/controller.log");
      std::cerr << "--- proxy.log\n" << testing::ReadFile(dir_ + "/proxy.log");
    }
  }

  std::string dir_;
  std::map<std::string, int> ports_;
  int proxy_port_ = 0, admin_port_ = 0;
  std::vector<std::unique_ptr<Process>> backends_;
  std::unique_ptr<Process> controller_, proxy_;
};

TEST_F(BalancingEndToEndTest, RoundRobinSpreadsEvenlyAndCanaryWeightSplitsTraffic) {
  testing::HttpConnection connection(proxy_port_);
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
  testing::HttpConnection connection(proxy_port_);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(connection.Get("split.local", "/", "X-Canary: always\r\n").Header("x-backend"), "v2");
    EXPECT_NE(connection.Get("split.local", "/", "X-Canary: never\r\n").Header("x-backend"), "v2");
  }
}

TEST_F(BalancingEndToEndTest, AffinityCookiePinsTheBackendAndHidesItsAddress) {
  testing::Response first = Fetch(proxy_port_, "sticky.local", "/");
  ASSERT_EQ(first.status, 200);
  std::string set_cookie = first.Header("set-cookie");
  ASSERT_TRUE(std::regex_match(set_cookie, std::regex("stick=[0-9a-f]{16}; Path=/; Max-Age=600; HttpOnly")))
      << set_cookie;
  EXPECT_EQ(set_cookie.find("127.0.0.1"), std::string::npos);
  std::string backend = first.Header("x-backend");
  std::string cookie = "Cookie: " + set_cookie.substr(0, set_cookie.find(';')) + "\r\n";
  for (int i = 0; i < 30; ++i) {
    testing::Response again = Fetch(proxy_port_, "sticky.local", "/", cookie);
    EXPECT_EQ(again.Header("x-backend"), backend);
    EXPECT_EQ(again.Header("set-cookie"), "") << "no new cookie while pinned";
  }
  // Without the cookie the requests spread (round robin) and each is pinned anew.
  std::map<std::string, int> unpinned;
  for (int i = 0; i < 9; ++i) {
    testing::Response r = Fetch(proxy_port_, "sticky.local", "/");
    EXPECT_NE(r.Header("set-cookie"), "");
    unpinned[r.Header("x-backend")]++;
  }
  EXPECT_EQ(unpinned.size(), 3u);

  // The pinned backend goes away: the next request fails over and is re-pinned.
  backends_[backend == "a" ? 0 : backend == "b" ? 1 : 2]->Kill();
  std::string moved_to;
  std::string new_cookie;
  for (int attempt = 0; attempt < 10 && moved_to.empty(); ++attempt) {
    testing::Response r = Fetch(proxy_port_, "sticky.local", "/", cookie);
    if (r.status == 200) {
      moved_to = r.Header("x-backend");
      new_cookie = r.Header("set-cookie");
    }
  }
  EXPECT_NE(moved_to, "");
  EXPECT_NE(moved_to, backend);
  EXPECT_NE(new_cookie, "");
}

}  // namespace
}  // namespace sluice
