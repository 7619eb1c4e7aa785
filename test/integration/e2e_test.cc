// End to end with real processes on loopback: sluice-controller reading a
// folder of manifests, sluice-proxy, and two echo backends.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <thread>

#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Fetch;
using testing::HttpConnection;
using testing::Process;
using testing::ReplaceAll;

// Two Services with hand-written EndpointSlices (app's below, with a named
// port; api's from ServiceAndSlice), two Ingresses: the demo's shape.
// APP_PORT is replaced with the backend's port.
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

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app_port_ = testing::FreePort();
    api_port_ = testing::FreePort();
    app_ = cluster_.StartEchoBackend("app", app_port_);
    api_ = cluster_.StartEchoBackend("api", api_port_);
    cluster_.WriteManifest("services.yaml", ReplaceAll(kManifests, "APP_PORT", std::to_string(app_port_)) +
                                                testing::ServiceAndSlice("api", "demo", api_port_));
    WriteIngresses("app");
    cluster_.Start();
    ASSERT_TRUE(testing::WaitForPort(app_port_));
    ASSERT_TRUE(testing::WaitForPort(api_port_));
    ASSERT_TRUE(cluster_.WaitReady()) << cluster_.Logs();
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_.Logs();
  }

  void WriteIngresses(const std::string& app_target) {
    cluster_.WriteManifest("ingresses.yaml", ReplaceAll(kIngresses, "APP_TARGET", app_target));
  }

  std::string BackendFor(const std::string& host, const std::string& path) {
    auto r = Fetch(cluster_.http_port(), host, path);
    if (r.status != 200) return std::to_string(r.status);
    return r.Header("x-backend");
  }

  // Polls until `host``path` is served by `backend`; returns how long it took.
  std::chrono::milliseconds WaitForBackend(const std::string& host, const std::string& path,
                                           const std::string& backend, std::chrono::milliseconds limit) {
    auto start = Clock::now();
    if (!testing::WaitUntil([&] { return BackendFor(host, path) == backend; }, limit, std::chrono::milliseconds(10))) {
      return std::chrono::milliseconds::max();
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  }

  int app_port_ = 0, api_port_ = 0;
  std::unique_ptr<Process> app_, api_;
  testing::SluiceCluster cluster_{{.name = "e2e", .workers = 2, .node_id = "e2e-proxy", .access_log = "access.log"}};
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
  ASSERT_EQ(Fetch(cluster_.http_port(), "demo.local", "/app/logged?q=\"x").status, 200);
  ASSERT_EQ(Fetch(cluster_.http_port(), "nowhere.local", "/missing").status, 404);
  std::string log;
  // Each worker buffers its own lines and the writer thread drains them
  // independently, so the two lines may land in either order: wait for both.
  testing::WaitUntil(
      [&] {
        log = cluster_.Read("access.log");
        return log.find("/missing") != std::string::npos && log.find("/app/logged") != std::string::npos;
      },
      std::chrono::seconds(3), std::chrono::milliseconds(50));
  EXPECT_NE(log.find(R"("method":"GET","host":"demo.local","path":"/app/logged?q=\"x","status":200)"), std::string::npos)
      << log;
  EXPECT_NE(log.find(R"("upstream":"127.0.0.1:)" + std::to_string(app_port_) + "\""), std::string::npos) << log;
  EXPECT_NE(log.find(R"("route":"demo/demo")"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("host":"nowhere.local","path":"/missing","status":404)"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("error":"no route")"), std::string::npos) << log;
}

TEST_F(EndToEndTest, ManifestEditReroutesWithinOneSecondAndKeepAliveConnectionSurvives) {
  HttpConnection keep_alive(cluster_.http_port());
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
  cluster_.WriteManifest("broken.yaml", R"(apiVersion: networking.k8s.io/v1
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
  std::string log = cluster_.Read("controller.log");
  EXPECT_NE(log.find("broken"), std::string::npos) << log;
  EXPECT_NE(log.find("no-leading-slash"), std::string::npos) << log;
  EXPECT_NE(log.find("broken.yaml"), std::string::npos) << log;
}

TEST_F(EndToEndTest, ProxyKeepsServingWithoutTheControllerAndResyncsWhenItReturns) {
  cluster_.controller().Kill();
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(BackendFor("demo.local", "/app"), "app");
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(Fetch(cluster_.admin_port(), "127.0.0.1", "/readyz").status, 200);

  WriteIngresses("api");  // changed while the controller was away
  cluster_.StartController();
  auto took = WaitForBackend("demo.local", "/app", "api", std::chrono::seconds(20));
  EXPECT_LT(took.count(), 20000) << "the proxy did not resync after the controller came back";
  EXPECT_EQ(BackendFor("demo.local", "/api"), "api");
}

TEST_F(EndToEndTest, SigtermDrainsInFlightRequestsAndExitsZero) {
  HttpConnection slow(cluster_.http_port());
  ASSERT_TRUE(slow.SendRaw("GET /slow/400 HTTP/1.1\r\nHost: x.demo.local\r\n\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  cluster_.proxy().Signal(SIGTERM);
  auto r = slow.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "slow\n");
  EXPECT_EQ(cluster_.proxy().Wait(std::chrono::seconds(10)), 0);
}

TEST_F(EndToEndTest, WebSocketTunnelsBothWaysAndSurvivesAConfigurationChange) {
  int ws_port = testing::FreePort();
  Process ws_server({"/usr/bin/python3", testing::RunfilePath("test/integration/ws_echo_server.py"),
                     std::to_string(ws_port)},
                    cluster_.Path("ws_server.log"));
  ASSERT_TRUE(testing::WaitForPort(ws_port)) << cluster_.Read("ws_server.log");
  std::string ws_manifest = cluster_.manifests_dir() + "/ws.yaml";
  testing::WriteFileAtomically(ws_manifest, ReplaceAll(R"(apiVersion: v1
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
  testing::WaitUntil([&] { return Fetch(cluster_.http_port(), "ws.local", "/").status != 404; },
                     std::chrono::seconds(5));
  std::string client_log = cluster_.Path("ws_client.log");
  Process client({"/usr/bin/python3", testing::RunfilePath("test/integration/ws_client_check.py"),
                  std::to_string(cluster_.http_port()), "ws.local", ws_manifest},
                 client_log);
  EXPECT_EQ(client.Wait(std::chrono::seconds(20)), 0) << testing::ReadFile(client_log);
  EXPECT_EQ(BackendFor("demo.local", "/api"), "api");  // plain traffic unaffected
}

}  // namespace
}  // namespace sluice
