// /metrics of the proxy and of the controller after real traffic: both
// pass `promtool check metrics` (Debian's prometheus package; the test
// skips, saying so, only where promtool is not installed), per-route and
// per-cluster series carry the configured labels, and the request latency
// histogram's buckets and _count match the requests sent.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/observe.h"
#include "test/support/process.h"
#include "test/support/shell.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using testing::MetricSample;
using testing::Response;

// fast.local: the echo backend; slow.local/slow/ too (the test asks for
// /slow/MS there). Both in namespace "metrics".
std::string Manifests(int backend_port) {
  return testing::DefaultIngressClass() + "---\n" + testing::ServiceAndSlice("echo", "metrics", backend_port) +
         "---\n" + testing::PrefixIngress("fast", "metrics", "fast.local", "echo") + "---\n" +
         R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: slow, namespace: metrics}
spec:
  rules:
    - host: slow.local
      http:
        paths: [{path: /slow/, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
)";
}

class MetricsEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<testing::SluiceCluster>(
        testing::SluiceClusterOptions{.name = "metrics", .workers = 2, .https = true, .access_log = "off"});
    backend_port_ = testing::FreePort();
    backend_ = cluster_->StartEchoBackend("echo", backend_port_);
    cluster_->WriteManifest("all.yaml", Manifests(backend_port_));
    cluster_->Start();
    ASSERT_TRUE(testing::WaitForPort(backend_port_));
    ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Logs();
    ASSERT_TRUE(testing::WaitUntil([&] { return Get("fast.local", "/anything").status == 200; },
                                   std::chrono::seconds(15), std::chrono::milliseconds(50)))
        << cluster_->Logs();
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs();
  }

  Response Get(const std::string& host, const std::string& path) {
    return testing::Fetch(cluster_->http_port(), host, path);
  }
  std::string ProxyMetrics() { return testing::Fetch(cluster_->admin_port(), "127.0.0.1", "/metrics").body; }
  std::string ControllerMetrics() {
    return testing::Fetch(cluster_->controller_admin_port(), "127.0.0.1", "/metrics").body;
  }

  std::unique_ptr<testing::SluiceCluster> cluster_;
  int backend_port_ = 0;
  std::unique_ptr<testing::Process> backend_;
};

TEST_F(MetricsEndToEndTest, BothEndpointsPassPromtoolAfterTraffic) {
  if (!testing::PromtoolInstalled()) {
    GTEST_SKIP() << testing::kPromtool << " is not installed (Debian package prometheus; scripts/install-deps.sh installs it)";
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Get("fast.local", "/anything").status, 200);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Get("fast.local", "/status/503").status, 503);
  EXPECT_EQ(Get("fast.local", "/status/404").status, 404);
  EXPECT_EQ(Get("nowhere.local", "/").status, 404);  // no route: counted only proxy-wide
  std::string port = std::to_string(cluster_->https_port());
  EXPECT_EQ(testing::ShellOutput("timeout 20 curl -sk -o /dev/null -w '%{http_code}' --resolve fast.local:" + port +
                                 ":127.0.0.1 https://fast.local:" + port + "/anything"),
            "200");
  // A plain-HTTP request on the TLS port: a failed handshake with a reason.
  testing::ShellOutput("timeout 10 curl -s -o /dev/null http://127.0.0.1:" + port + "/ 2>&1");

  const std::string route = "namespace=\"metrics\",ingress=\"fast\",host=\"fast.local\",path=\"/\"";
  std::string proxy;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        proxy = ProxyMetrics();
        return MetricSample(proxy, "sluice_route_requests_total{" + route + ",code_class=\"5xx\"}") == 3 &&
               MetricSample(proxy, "sluice_tls_handshake_failures_by_reason_total{reason=\"http_request\"}") >= 1;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(50)))
      << proxy;
  EXPECT_GE(MetricSample(proxy, "sluice_route_requests_total{" + route + ",code_class=\"2xx\"}"), 6) << proxy;
  EXPECT_EQ(MetricSample(proxy, "sluice_route_requests_total{" + route + ",code_class=\"4xx\"}"), 1) << proxy;
  EXPECT_EQ(MetricSample(proxy, "sluice_cluster_requests_total{cluster=\"metrics/echo:80\",code_class=\"5xx\"}"), 3)
      << proxy;
  EXPECT_GT(MetricSample(proxy, "sluice_route_response_bytes_total{" + route + "}"), 0);
  EXPECT_EQ(MetricSample(proxy, "sluice_tls_handshakes_by_version_total{version=\"TLSv1.3\"}"), 1) << proxy;
  EXPECT_EQ(proxy.find("nowhere.local"), std::string::npos);  // request hosts never become labels
  EXPECT_EQ(proxy.find("/status/503"), std::string::npos);    // nor request paths
  EXPECT_EQ(MetricSample(proxy, "sluice_config_workers_behind"), 0);
  EXPECT_NE(proxy.find("\nsluice_config_info{version=\""), std::string::npos);
  EXPECT_GE(MetricSample(proxy, "sluice_config_apply_duration_seconds_count"), 1);
  EXPECT_EQ(MetricSample(proxy, "sluice_streams_active"), 0);
  EXPECT_EQ(testing::PromtoolVerdict(proxy, cluster_->Path("proxy.prom")), "");

  std::string controller;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        controller = ControllerMetrics();
        return MetricSample(controller, "sluice_controller_proxies_up_to_date") == 1;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(50)))
      << controller;
  EXPECT_EQ(MetricSample(controller, "sluice_controller_proxies_connected"), 1);
  EXPECT_EQ(MetricSample(controller, "sluice_controller_leader"), 1);  // --manifests mode: no election, it acts
  EXPECT_GE(MetricSample(controller, "sluice_controller_translate_duration_seconds_count{kind=\"manifests\"}"), 1)
      << controller;
  EXPECT_GE(MetricSample(controller, "sluice_controller_push_answers_total{result=\"ack\"}"), 1) << controller;
  EXPECT_GE(MetricSample(controller, "sluice_controller_push_duration_seconds_count"), 1);
  // The version the proxy serves is the one the controller publishes.
  size_t at = controller.find("\nsluice_controller_config_info{version=\"");
  ASSERT_NE(at, std::string::npos) << controller;
  std::string version = controller.substr(at + 40, controller.find('"', at + 40) - at - 40);
  EXPECT_NE(proxy.find("\nsluice_config_info{version=\"" + version + "\"} 1\n"), std::string::npos)
      << version << "\n" << proxy;
  EXPECT_EQ(testing::PromtoolVerdict(controller, cluster_->Path("controller.prom")), "");
}

TEST_F(MetricsEndToEndTest, LatencyHistogramBucketsAndCountMatchTheRequestsSent) {
  constexpr int kFast = 12, kSlow = 8;
  for (int i = 0; i < kFast; ++i) ASSERT_EQ(Get("fast.local", "/anything").status, 200);
  for (int i = 0; i < kSlow; ++i) ASSERT_EQ(Get("slow.local", "/slow/40").status, 200);

  // The path as the route carries it: the controller writes a Prefix path
  // without its trailing slash.
  const std::string slow = "namespace=\"metrics\",ingress=\"slow\",host=\"slow.local\",path=\"/slow\"";
  const std::string name = "sluice_route_request_duration_seconds";
  std::string text;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        text = ProxyMetrics();
        return MetricSample(text, name + "_count{" + slow + "}") == kSlow;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(50)))
      << text;
  // Every slow request took at least 40 ms: none below the 25 ms bucket,
  // all of them in +Inf and (on any sane machine) below 10 s.
  EXPECT_EQ(MetricSample(text, name + "_bucket{" + slow + ",le=\"0.001\"}"), 0) << text;
  EXPECT_EQ(MetricSample(text, name + "_bucket{" + slow + ",le=\"0.025\"}"), 0) << text;
  EXPECT_EQ(MetricSample(text, name + "_bucket{" + slow + ",le=\"+Inf\"}"), kSlow);
  EXPECT_EQ(MetricSample(text, name + "_bucket{" + slow + ",le=\"10\"}"), kSlow);
  EXPECT_GE(MetricSample(text, name + "_sum{" + slow + "}"), kSlow * 0.040);
  // The upstream histogram saw them too (the backend's 40 ms are its).
  EXPECT_EQ(MetricSample(text, "sluice_route_upstream_duration_seconds_count{" + slow + "}"), kSlow);
  EXPECT_EQ(MetricSample(text, "sluice_route_upstream_duration_seconds_bucket{" + slow + ",le=\"0.025\"}"), 0);

  // The fast route: the readiness probe's requests and ours; buckets are
  // cumulative and end at _count.
  const std::string fast = "namespace=\"metrics\",ingress=\"fast\",host=\"fast.local\",path=\"/\"";
  double count = MetricSample(text, name + "_count{" + fast + "}");
  double ok = MetricSample(text, "sluice_route_requests_total{" + fast + ",code_class=\"2xx\"}");
  EXPECT_GE(count, kFast);
  EXPECT_EQ(count, ok);  // every request was a 200
  double previous = 0;
  for (const char* le : {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
                         "10", "+Inf"}) {
    double bucket = MetricSample(text, name + "_bucket{" + fast + ",le=\"" + le + "\"}");
    EXPECT_GE(bucket, previous) << le;
    previous = bucket;
  }
  EXPECT_EQ(previous, count);
  // Per cluster: both routes go to the same Service.
  double cluster_count = MetricSample(text, "sluice_cluster_request_duration_seconds_count{cluster=\"metrics/echo:80\"}");
  EXPECT_EQ(cluster_count, count + kSlow) << text;
}

}  // namespace
}  // namespace sluice
