#pragma once
// Test-only: what every response-cache integration test starts before its
// own checks: one origin (the test's own: a FakeUpstream or the echo
// backend) behind a cached route, sluice-controller reading the manifests
// for it and sluice-proxy with the test's cache flags, both ready and the
// route answering. The tests derive their fixture from CacheClusterTest and
// keep only their origin, their flags and their checks.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "test/support/http_client.h"
#include "test/support/sluice_cluster.h"

namespace sluice::testing {

// The cached route: Service "origin" (port 80) in namespace "cache" with
// one endpoint at 127.0.0.1:`origin_port`, and Ingress "cached" sending
// every path of `host` to it, with `annotations` (the cache turned on).
struct CachedRoute {
  int origin_port = 0;
  std::string host = "cache.local";
  std::string annotations = "sluice.io/cache: \"on\"\n";
  // Further YAML documents for the same manifest file (each without a
  // trailing "---"), e.g. an uncached Ingress to the same origin.
  std::vector<std::string> more_manifests;
  // The route is up once GET `probe_path` on `host` answers `probe_status`
  // (the probe is a request like any other: it may fill the cache).
  std::string probe_path = "/ready";
  int probe_status = 404;
};

// Whether the proxy answered `response` from the cache (its Cache-Status).
bool IsCacheHit(const Response& response);

class CacheClusterTest : public ::testing::Test {
 protected:
  // Makes cluster_ (its directory and ports; nothing started), so that an
  // origin that needs it (the echo backend) can be started first. The
  // cache flags go in options.extra_proxy_flags.
  void MakeCluster(SluiceClusterOptions options);
  // Writes the manifests for `route`, starts the controller and the proxy
  // and waits until the proxy is ready and the route answers. Failures are
  // fatal: call it in ASSERT_NO_FATAL_FAILURE.
  void StartCluster(CachedRoute route);
  // Starts the proxy (again: after KillProxy) and waits as StartCluster does.
  void StartProxy();
  // SIGKILL (nothing flushed at exit) and waits until the proxy is gone.
  void KillProxy();
  void KillAndRestartProxy() {
    KillProxy();
    StartProxy();
  }

  // On a failure, the controller's and the proxy's logs; then stops both.
  void TearDown() override;

  // GET `path` of the cached host through the proxy, one connection each.
  Response Get(const std::string& path, const std::string& extra_headers = "");
  // The proxy's /metrics page, and one sample of it (-1 when absent).
  std::string ProxyMetrics();
  double ProxySample(const std::string& series);
  // promtool passes `metrics` (written to `file` in the cluster's
  // directory); checked only where promtool is installed.
  void ExpectPromtoolPasses(const std::string& metrics, const std::string& file = "proxy.prom");

  std::unique_ptr<SluiceCluster> cluster_;

 private:
  CachedRoute route_;
};

}  // namespace sluice::testing
