#include "test/support/cache_cluster.h"

#include <chrono>
#include <iostream>
#include <utility>

#include "test/support/manifests.h"
#include "test/support/observe.h"
#include "test/support/process.h"

namespace sluice::testing {

bool IsCacheHit(const Response& response) { return response.Header("cache-status").find("hit") != std::string::npos; }

void CacheClusterTest::MakeCluster(SluiceClusterOptions options) {
  cluster_ = std::make_unique<SluiceCluster>(std::move(options));
}

void CacheClusterTest::StartCluster(CachedRoute route) {
  route_ = std::move(route);
  std::string yaml = DefaultIngressClass() + "---\n" + ServiceAndSlice("origin", "cache", route_.origin_port) +
                     "---\n" + PrefixIngress("cached", "cache", route_.host, "origin", route_.annotations);
  for (const std::string& more : route_.more_manifests) yaml += "---\n" + more;
  cluster_->WriteManifest("all.yaml", yaml);
  cluster_->StartController();
  StartProxy();
}

void CacheClusterTest::StartProxy() {
  cluster_->StartProxy();
  ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Logs();
  ASSERT_TRUE(WaitUntil([&] { return Get(route_.probe_path).status == route_.probe_status; },
                        std::chrono::seconds(15), std::chrono::milliseconds(50)))
      << cluster_->Logs();
}

void CacheClusterTest::KillProxy() {
  cluster_->proxy().Kill();
  cluster_->proxy().Wait();
}

void CacheClusterTest::TearDown() {
  if (HasFailure() && cluster_) std::cerr << cluster_->Logs();
  // The proxy and the controller go before the test's origin (a member of
  // the derived fixture, destroyed before this class's members).
  cluster_.reset();
}

Response CacheClusterTest::Get(const std::string& path, const std::string& extra_headers) {
  return Fetch(cluster_->http_port(), route_.host, path, extra_headers);
}

std::string CacheClusterTest::ProxyMetrics() { return Fetch(cluster_->admin_port(), "127.0.0.1", "/metrics").body; }

double CacheClusterTest::ProxySample(const std::string& series) { return MetricSample(ProxyMetrics(), series); }

void CacheClusterTest::ExpectPromtoolPasses(const std::string& metrics, const std::string& file) {
  if (PromtoolInstalled()) {
    EXPECT_EQ(PromtoolVerdict(metrics, cluster_->Path(file)), "");
  }
}

}  // namespace sluice::testing
