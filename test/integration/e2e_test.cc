// End to end with real processes on loopback: sluice-controller reading a
// folder of manifests, sluice-proxy, and two echo backends.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <regex>
#include <thread>

#include "test/support/http_client.h"
#include "test/support/process.h"

namespace sluice {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Fetch;
using testing::HttpConnection;
using testing::Process;

// Two Services with hand-written EndpointSlices, two Ingresses: the demo's
// shape. APP_PORT / API_PORT are replaced with the backends' ports.
constexpr const char* kManifests = R"(apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: sluice
  annotations:
    ingressclass.kubernetes.io/is-default-class: "true"
spec:
  controller: sluice.io/ingress-controller
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: demo}
spec:
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: demo}
spec:
  ports: [{port: 80, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: app-1
  namespace: demo
  labels: {kubernetes.io/service-name: app}
addressType: IPv4
ports: [{name: http, port: APP_PORT, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: api-1
  namespace: demo
  labels: {kubernetes.io/service-name: api}
addressType: IPv4
ports: [{port: API_PORT, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
)";

constexpr const char* kIngresses = R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: demo, namespace: demo}
spec:
  ingressClassName: sluice
  rules:
    - host: demo.local
      http:
        paths:
          - {path: /app, pathType: Prefix, backend: {service: {name: APP_TARGET, port: {number: 80}}}}
          - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
          - {path: /, pathType: Exact, backend: {service: {name: app, port: {name: http}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: wildcard, namespace: demo}
spec:
  rules:
    - host: "*.demo.local"
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  return std::regex_replace(text, std::regex(from), to);
}

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("e2e");
    manifests_ = dir_ + "/manifests";
    std::filesystem::create_directories(manifests_);
    app_port_ = testing::FreePort();
    api_port_ = testing::FreePort();
    std::string backend = testing::RunfilePath("test/backend/sluice-echo-backend");
    app_ = std::make_unique<Process>(
        std::vector<std::string>{backend, "--listen", "127.0.0.1:" + std::to_string(app_port_), "--name", "app"},
        dir_ + "/app.log");
    api_ = std::make_unique<Process>(
        std::vector<std::string>{backend, "--listen", "127.0.0.1:" + std::to_string(api_port_), "--name", "api"},
        dir_ + "/api.log");
    testing::WriteFileAtomically(manifests_ + "/services.yaml",
                                 Replace(Replace(kManifests, "APP_PORT", std::to_string(app_port_)), "API_PORT",
                                         std::to_string(api_port_)));
    WriteIngresses("app");
    grpc_port_ = testing::FreePort();
    controller_admin_port_ = testing::FreePort();
    proxy_port_ = testing::FreePort();
    proxy_admin_port_ = testing::FreePort();
    StartController();
    proxy_ = std::make_unique<Process>(
        std::vector<std::string>{testing::RunfilePath("dataplane/main/sluice-proxy"), "--controller",
                                 "127.0.0.1:" + std::to_string(grpc_port_), "--http-listen",
                                 "127.0.0.1:" + std::to_string(proxy_port_), "--admin-listen",
                                 "127.0.0.1:" + std::to_string(proxy_admin_port_), "--workers", "2", "--node-id",
                                 "e2e-proxy", "--access-log", dir_ + "/access.log"},
        dir_ + "/proxy.log");
    ASSERT_TRUE(testing::WaitForPort(app_port_));
    ASSERT_TRUE(testing::WaitForPort(api_port_));
    ASSERT_TRUE(WaitReady()) << testing::ReadFile(dir_ + "/proxy.log") << testing::ReadFile(dir_ + "/controller.log");
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- controller.log\n" << testing::ReadFile(dir_ + "/controller.log");
      std::cerr << "--- proxy.log\n" << testing::ReadFile(dir_ + "/proxy.log");
    }
  }

  void StartController() {
    controller_ = std::make_unique<Process>(
        std::vector<std::string>{testing::RunfilePath("controlplane/main/sluice-controller"), "--manifests",
                                 manifests_, "--grpc-listen", "127.0.0.1:" + std::to_string(grpc_port_),
                                 "--admin-listen", "127.0.0.1:" + std::to_string(controller_admin_port_)},
        dir_ + "/controller.log");
  }

  void WriteIngresses(const std::string& app_target) {
    testing::WriteFileAtomically(manifests_ + "/ingresses.yaml", Replace(kIngresses, "APP_TARGET", app_target));
  }

  bool WaitReady() {
    auto deadline = Clock::now() + std::chrono::seconds(15);
    while (Clock::now() < deadline) {
      if (Fetch(proxy_admin_port_, "127.0.0.1", "/readyz").status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::string BackendFor(const std::string& host, const std::string& path) {
    auto r = Fetch(proxy_port_, host, path);
    if (r.status != 200) return std::to_string(r.status);
    return r.Header("x-backend");
  }

  // Polls until `host``path` is served by `backend`; returns how long it took.
  std::chrono::milliseconds WaitForBackend(const std::string& host, const std::string& path,
                                           const std::string& backend, std::chrono::milliseconds limit) {
    auto start = Clock::now();
    while (Clock::now() - start < limit) {
      if (BackendFor(host, path) == backend) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::chrono::milliseconds::max();
  }

  std::string dir_, manifests_;
  int app_port_ = 0, api_port_ = 0, grpc_port_ = 0, controller_admin_port_ = 0, proxy_port_ = 0,
      proxy_admin_port_ = 0;
  std::unique_ptr<Process> app_, api_, controller_, proxy_;
};

TEST_F(EndToEndTest, RoutesByHostAndPath) {
  EXPECT_EQ(BackendFor("demo.local", "/app"), "app");
  EXPECT_EQ(BackendFor("demo.local", "/app/deeper?x=1"), "app");
  EXPECT_EQ(BackendFor("demo.local", "/api/users"), "api");
  EXPECT_EQ(BackendFor("demo.local", "/"), "app");            // Exact "/"
  EXPECT_EQ(BackendFor("demo.local", "/other"), "404");       // Exact "/" is not a prefix
  EXPECT_EQ(BackendFor("demo.local", "/application"), "404"); // element-wise prefix
  EXPECT_EQ(BackendFor("x.demo.local", "/anything"), "api");  // wildcard
  EXPECT_EQ(BackendFor("a.b.demo.local", "/"), "404");        // one label only
  EXPECT_EQ(BackendFor("unknown.example", "/"), "404");
}

TEST_F(EndToEndTest, WritesOneJsonAccessLogLinePerRequest) {
  ASSERT_EQ(Fetch(proxy_port_, "demo.local", "/app/logged?q=\"x").status, 200);
  ASSERT_EQ(Fetch(proxy_port_, "nowhere.local", "/missing").status, 404);
  std::string log;
  auto deadline = Clock::now() + std::chrono::seconds(3);
  // Each worker buffers its own lines and the writer thread drains them
  // independently, so the two lines may land in either order: wait for both.
  while (Clock::now() < deadline &&
         (log.find("/missing") == std::string::npos || log.find("/app/logged") == std::string::npos)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log = testing::ReadFile(dir_ + "/access.log");
  }
  EXPECT_NE(log.find(R"("method":"GET","host":"demo.local","path":"/app/logged?q=\"x","status":200)"), std::string::npos)
      << log;
  EXPECT_NE(log.find(R"("upstream":"127.0.0.1:)" + std::to_string(app_port_) + "\""), std::string::npos) << log;
  EXPECT_NE(log.find(R"("route":"demo/demo")"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("host":"nowhere.local","path":"/missing","status":404)"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("error":"no route")"), std::string::npos) << log;
}

TEST_F(EndToEndTest, ManifestEditReroutesWithinOneSecondAndKeepAliveConnectionSurvives) {
  HttpConnection keep_alive(proxy_port_);
  ASSERT_EQ(keep_alive.Get("demo.local", "/app").Header("x-backend"), "app");

  WriteIngresses("api");  // /app now goes to the api Service
  auto took = WaitForBackend("demo.local", "/app", "api", std::chrono::seconds(5));
  EXPECT_LT(took.count(), 1000) << "routing did not follow the manifest edit within 1 s";

  // The connection opened before the change still works, on the new routes.
  auto after = keep_alive.Get("demo.local", "/app");
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.Header("x-backend"), "api");
}

TEST_F(EndToEndTest, InvalidIngressIsReportedAndTheRestStillApplies) {
  testing::WriteFileAtomically(manifests_ + "/broken.yaml", R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: broken, namespace: demo}
spec:
  rules:
    - host: broken.local
      http:
        paths:
          - {path: no-leading-slash, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}
          - {path: /fine, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}
)");
  auto took = WaitForBackend("broken.local", "/fine", "app", std::chrono::seconds(5));
  EXPECT_LT(took.count(), 5000);
  EXPECT_EQ(BackendFor("demo.local", "/api"), "api");  // everything else unchanged
  std::string log = testing::ReadFile(dir_ + "/controller.log");
  EXPECT_NE(log.find("broken"), std::string::npos) << log;
  EXPECT_NE(log.find("no-leading-slash"), std::string::npos) << log;
  EXPECT_NE(log.find("broken.yaml"), std::string::npos) << log;
}

TEST_F(EndToEndTest, ProxyKeepsServingWithoutTheControllerAndResyncsWhenItReturns) {
  controller_->Kill();
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(BackendFor("demo.local", "/app"), "app");
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(Fetch(proxy_admin_port_, "127.0.0.1", "/readyz").status, 200);

  WriteIngresses("api");  // changed while the controller was away
  StartController();
  auto took = WaitForBackend("demo.local", "/app", "api", std::chrono::seconds(20));
  EXPECT_LT(took.count(), 20000) << "the proxy did not resync after the controller came back";
  EXPECT_EQ(BackendFor("demo.local", "/api"), "api");
}

TEST_F(EndToEndTest, SigtermDrainsInFlightRequestsAndExitsZero) {
  HttpConnection slow(proxy_port_);
  ASSERT_TRUE(slow.SendRaw("GET /slow/400 HTTP/1.1\r\nHost: x.demo.local\r\n\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  proxy_->Signal(SIGTERM);
  auto r = slow.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "slow\n");
  EXPECT_EQ(proxy_->Wait(std::chrono::seconds(10)), 0);
}

TEST_F(EndToEndTest, WebSocketTunnelsBothWaysAndSurvivesAConfigurationChange) {
  int ws_port = testing::FreePort();
  Process ws_server({"/usr/bin/python3", testing::RunfilePath("test/integration/ws_echo_server.py"),
                     std::to_string(ws_port)},
                    dir_ + "/ws_server.log");
  ASSERT_TRUE(testing::WaitForPort(ws_port)) << testing::ReadFile(dir_ + "/ws_server.log");
  std::string ws_manifest = manifests_ + "/ws.yaml";
  testing::WriteFileAtomically(ws_manifest, Replace(R"(apiVersion: v1
kind: Service
metadata: {name: ws, namespace: demo}
spec:
  ports: [{port: 80, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ws-1
  namespace: demo
  labels: {kubernetes.io/service-name: ws}
addressType: IPv4
ports: [{port: WS_PORT, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ws, namespace: demo}
spec:
  rules:
    - host: ws.local
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: ws, port: {number: 80}}}}
)",
                                                    "WS_PORT", std::to_string(ws_port)));
  // The plain HTTP GET gets the websockets server's own 426 answer once routed.
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline && Fetch(proxy_port_, "ws.local", "/").status == 404) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string client_log = dir_ + "/ws_client.log";
  Process client({"/usr/bin/python3", testing::RunfilePath("test/integration/ws_client_check.py"),
                  std::to_string(proxy_port_), "ws.local", ws_manifest},
                 client_log);
  EXPECT_EQ(client.Wait(std::chrono::seconds(20)), 0) << testing::ReadFile(client_log);
  EXPECT_EQ(BackendFor("demo.local", "/api"), "api");  // plain traffic unaffected
}

}  // namespace
}  // namespace sluice
