// Rate limiting end to end: sluice-controller reading manifests,
// sluice-proxy (two workers: the limit must hold for the whole proxy), an
// echo backend, real clients on several loopback source addresses (curl
// --interface binds 127.0.0.2 and 127.0.0.3), and for cluster limits a
// redis-server started here with a second proxy sharing it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/shell.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Fetch;
using testing::HttpConnection;
using testing::Process;
using testing::ShellOutput;

// limited.local: 20 requests/s per client, burst 10, 127.0.0.3 exempt (the
// ingress-nginx names). global.local: 50/s, burst 25, across every proxy
// sharing the Redis (fail open); strict.local: the same, failing closed.
// After testing::DefaultIngressClass().
constexpr const char* kManifests = R"(SERVICE
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: inflight
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/limit-connections: "2"
spec:
  rules:
    - host: inflight.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: limited
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/limit-rps: "20"
    sluice.io/rate-limit-burst: "10"
    nginx.ingress.kubernetes.io/limit-whitelist: "127.0.0.3/32"
spec:
  rules:
    - host: limited.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: global
  namespace: shop
  annotations:
    sluice.io/rate-limit-rps: "50"
    sluice.io/rate-limit-burst: "25"
    sluice.io/rate-limit-scope: cluster
spec:
  rules:
    - host: global.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: strict
  namespace: shop
  annotations:
    sluice.io/rate-limit-rps: "100"
    sluice.io/rate-limit-scope: cluster
    sluice.io/rate-limit-fail: closed
spec:
  rules:
    - host: strict.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
)";

struct FloodResult {
  int ok = 0, limited = 0, other = 0;
  int closed = 0;  // no response: the connection closed first (reconnected; not in total())
  int other_status = 0;  // one of the `other` statuses, for the failure message
  double seconds = 0;
  int total() const { return ok + limited + other; }
};

// `threads` keep-alive connections from 127.0.0.1 to each of `ports`, each
// sending GETs as fast as the answers come: `per_thread` of them, or (when
// `duration` is set) until it has passed.
FloodResult Flood(const std::vector<int>& ports, const std::string& host, int threads, int per_thread,
                  std::chrono::milliseconds duration = {}) {
  std::atomic<int> ok{0}, limited{0}, other{0}, closed{0}, other_status{0};
  auto start = Clock::now();
  auto deadline = start + duration;
  std::vector<std::thread> workers;
  for (int port : ports) {
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, port] {
        auto connection = std::make_unique<HttpConnection>(port);
        for (int i = 0; duration.count() > 0 ? Clock::now() < deadline : i < per_thread; ++i) {
          testing::Response r = connection->Get(host, "/flood");
          if (r.status == 200) {
            ++ok;
          } else if (r.status == 429) {
            ++limited;
          } else if (r.status == 0) {
            ++closed;
          } else {
            ++other;
            other_status = r.status;
          }
          if (r.status == 0 || r.Header("connection") == "close") connection = std::make_unique<HttpConnection>(port);
        }
      });
    }
  }
  for (auto& worker : workers) worker.join();
  FloodResult result{ok.load(), limited.load(), other.load(), closed.load(), other_status.load()};
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

// The status and the seconds curl took for each of `count` GETs of `host`
// from `source` on one connection, at most `rate` ("10/s", curl --rate)
// when given.
std::vector<std::pair<int, double>> TimedCurlFrom(const std::string& source, int port, const std::string& host,
                                                  int count, const std::string& rate = "") {
  std::string urls;
  // Each URL its own -o: curl applies one to one URL.
  for (int i = 0; i < count; ++i) urls += " -o /dev/null http://127.0.0.1:" + std::to_string(port) + "/";
  std::string out = ShellOutput("timeout 60 curl -s -w '%{http_code} %{time_total}\\n' --max-time 5 --interface " +
                                source + (rate.empty() ? "" : " --rate " + rate) + " -H 'Host: " + host + "'" + urls);
  std::vector<std::pair<int, double>> answers;
  std::istringstream lines(out);
  int code;
  double seconds;
  while (lines >> code >> seconds) answers.emplace_back(code, seconds);
  return answers;
}

std::vector<int> CurlFrom(const std::string& source, int port, const std::string& host, int count,
                          const std::string& rate = "") {
  std::vector<int> codes;
  for (auto [code, seconds] : TimedCurlFrom(source, port, host, count, rate)) codes.push_back(code);
  return codes;
}

int Count(const std::vector<int>& codes, int status) {
  int n = 0;
  for (int code : codes) n += code == status;
  return n;
}

class RateLimitEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cluster_mode_) StartAll({});
  }

  void StartAll(std::vector<std::string> extra_proxy_flags) {
    web_port_ = testing::FreePort();
    cluster_ = std::make_unique<testing::SluiceCluster>(testing::SluiceClusterOptions{
        .name = "ratelimit", .workers = 2, .access_log = "off", .extra_proxy_flags = extra_proxy_flags});
    web_ = cluster_->StartEchoBackend("web", web_port_);
    cluster_->WriteManifest("all.yaml", testing::DefaultIngressClass() + "---\n" + testing::ReplaceAll(kManifests, "SERVICE",
                                                            testing::ServiceAndSlice("web", "shop", web_port_)));
    cluster_->Start();
    ASSERT_TRUE(testing::WaitForPort(web_port_));
    ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Logs();
    ASSERT_TRUE(testing::WaitUntil([&] { return Fetch(cluster_->http_port(), "strict.local", "/").status != 404; },
                                   std::chrono::seconds(15), std::chrono::milliseconds(50)))
        << cluster_->Logs();
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs();
  }

  bool cluster_mode_ = false;
  int web_port_ = 0;
  std::unique_ptr<testing::SluiceCluster> cluster_;
  std::unique_ptr<Process> web_;
};

TEST_F(RateLimitEndToEndTest, FloodFromOneAddressIsLimitedWhileAnotherAddressKeepsFullService) {
  // 127.0.0.2 sends at half the limit (10/s) during the whole flood.
  std::vector<int> other_codes;
  std::thread other([&] { other_codes = CurlFrom("127.0.0.2", cluster_->http_port(), "limited.local", 20, "10/s"); });
  FloodResult flood = Flood({cluster_->http_port()}, "limited.local", 4, 150);
  other.join();

  EXPECT_EQ(flood.other, 0) << "status " << flood.other_status;
  // At least ten times the limit was offered...
  EXPECT_GE(flood.total() / flood.seconds, 200.0) << flood.total() << " in " << flood.seconds << "s";
  // ...and the burst (11) plus the rate (20/s) passed, over both workers.
  EXPECT_GE(flood.ok, 11);
  EXPECT_LE(flood.ok, 11 + 20 * flood.seconds * 1.1 + 2) << flood.seconds << "s";
  EXPECT_GT(flood.limited, flood.total() / 2);
  ASSERT_EQ(other_codes.size(), 20u);
  EXPECT_EQ(Count(other_codes, 200), 20);
}

TEST_F(RateLimitEndToEndTest, RefusalCarriesRetryAfterAndTheRateLimitFields) {
  HttpConnection connection(cluster_->http_port());
  testing::Response refused;
  for (int i = 0; i < 100 && refused.status != 429; ++i) refused = connection.Get("limited.local", "/");
  ASSERT_EQ(refused.status, 429);
  EXPECT_EQ(refused.Header("retry-after"), "1");
  EXPECT_EQ(refused.Header("ratelimit-policy"), "\"1s\";q=20;w=1");
  EXPECT_EQ(refused.Header("ratelimit"), "\"1s\";r=0;t=1");
  EXPECT_EQ(refused.Header("cache-control"), "no-store");
  EXPECT_EQ(refused.body, "too many requests\n");
  // The connection stays usable (a refusal is not an error of the client's).
  EXPECT_EQ(connection.Get("limited.local", "/").status == 0, false);
}

// limit-connections: 2 requests in flight per client address for the whole
// proxy (two workers, five connections); a third gets 429 at once, another
// address is not affected, and the slots come back when requests end.
TEST_F(RateLimitEndToEndTest, RequestsInFlightPerClientAreLimitedAcrossWorkers) {
  constexpr int kConnections = 5;
  std::vector<int> codes(kConnections, 0);
  std::vector<std::thread> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.emplace_back([&, i] {
      HttpConnection connection(cluster_->http_port(), "127.0.0.1", 10000);
      codes[i] = connection.Get("inflight.local", "/slow/1500").status;
    });
  }
  // While those are held: another address gets its own two slots.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  HttpConnection other(cluster_->http_port(), "127.0.0.1", 5000, "127.0.0.2");
  testing::Response other_response = other.Get("inflight.local", "/");
  for (auto& client : clients) client.join();
  EXPECT_EQ(Count(codes, 200), 2) << ::testing::PrintToString(codes);
  EXPECT_EQ(Count(codes, 429), kConnections - 2) << ::testing::PrintToString(codes);
  EXPECT_EQ(other_response.status, 200);
  // Every slot was released when its request ended.
  for (int i = 0; i < 3; ++i) {
    HttpConnection again(cluster_->http_port());
    EXPECT_EQ(again.Get("inflight.local", "/").status, 200) << i;
  }
}

TEST_F(RateLimitEndToEndTest, ExemptAddressAndSeveralSourceAddressesAreCountedSeparately) {
  std::vector<int> exempt = CurlFrom("127.0.0.3", cluster_->http_port(), "limited.local", 60);
  EXPECT_EQ(Count(exempt, 200), 60);
  // Two more addresses, each with its own burst of 11 (as fast as curl goes).
  for (const char* source : {"127.0.0.4", "127.0.0.5"}) {
    std::vector<int> codes = CurlFrom(source, cluster_->http_port(), "limited.local", 40);
    EXPECT_GE(Count(codes, 200), 11) << source;
    EXPECT_GT(Count(codes, 429), 0) << source;
  }
}

// Two proxies sharing a redis-server started here (no persistence), both
// against the one controller.
class ClusterRateLimitEndToEndTest : public RateLimitEndToEndTest {
 protected:
  ClusterRateLimitEndToEndTest() { cluster_mode_ = true; }

  void SetUp() override {
    redis_port_ = testing::FreePort();
    redis_ = std::make_unique<Process>(std::vector<std::string>{"/usr/bin/redis-server", "--port",
                                                                std::to_string(redis_port_), "--bind", "127.0.0.1",
                                                                "--save", "", "--appendonly", "no"});
    ASSERT_TRUE(testing::WaitForPort(redis_port_));
    std::string redis = "redis://127.0.0.1:" + std::to_string(redis_port_);
    StartAll({"--ratelimit-redis", redis});
    second_http_port_ = testing::FreePort();
    int second_admin_port = testing::FreePort();
    second_ = cluster_->StartLogged(
        {testing::RunfilePath("dataplane/main/sluice-proxy"), "--controller",
         "127.0.0.1:" + std::to_string(cluster_->controller_port()), "--http-listen",
         "127.0.0.1:" + std::to_string(second_http_port_), "--admin-listen",
         "127.0.0.1:" + std::to_string(second_admin_port), "--workers", "2", "--node-id", "second", "--access-log",
         "off", "--ratelimit-redis", redis},
        "second.log");
    // Ready means every worker has the configuration (a flood's connections
    // land on both workers).
    ASSERT_TRUE(testing::WaitUntil([&] { return Fetch(second_admin_port, "127.0.0.1", "/readyz").status == 200; },
                                   std::chrono::seconds(15), std::chrono::milliseconds(50)))
        << cluster_->Read("second.log");
    ASSERT_TRUE(testing::WaitUntil([&] { return Fetch(second_http_port_, "strict.local", "/").status != 404; },
                                   std::chrono::seconds(15), std::chrono::milliseconds(50)))
        << cluster_->Read("second.log");
  }

  void TearDown() override {
    RateLimitEndToEndTest::TearDown();
    if (HasFailure()) std::cerr << "--- second.log\n" << cluster_->Read("second.log");
  }

  int redis_port_ = 0, second_http_port_ = 0;
  std::unique_ptr<Process> redis_, second_;
};

TEST_F(ClusterRateLimitEndToEndTest, TwoProxiesHoldOneGlobalLimitWithinAFewPercent) {
  FloodResult flood = Flood({cluster_->http_port(), second_http_port_}, "global.local", 2, 0, std::chrono::seconds(4));
  EXPECT_EQ(flood.other, 0) << "status " << flood.other_status;
  EXPECT_LT(flood.closed, flood.total() / 1000 + 1);
  // The burst (26) once, then 50/s, for all the proxies together.
  double expected = 26 + 50 * flood.seconds;
  std::cout << "global limit: " << flood.ok << " allowed of " << flood.total() << " in " << flood.seconds
            << " s; the limit allows " << expected << "\n";
  EXPECT_GE(flood.total() / flood.seconds, 250.0) << "offered " << flood.total() << " in " << flood.seconds << "s";
  EXPECT_LE(flood.ok, expected * 1.05 + 2) << "allowed " << flood.ok << " in " << flood.seconds << "s";
  EXPECT_GE(flood.ok, expected * 0.95 - 4) << "allowed " << flood.ok << " in " << flood.seconds << "s";
}

TEST_F(ClusterRateLimitEndToEndTest, RedisKilledMidTrafficFailsOpenOrClosedAsDeclaredAndNeverStalls) {
  // With Redis: both routes answer a client under the limit.
  for (const char* host : {"global.local", "strict.local"}) {
    auto answers = TimedCurlFrom("127.0.0.6", cluster_->http_port(), host, 5, "20/s");
    ASSERT_EQ(answers.size(), 5u);
    for (auto [code, seconds] : answers) EXPECT_EQ(code, 200) << host;
  }
  redis_->Kill();
  redis_->Wait();
  // Fail closed: refused once the proxy noticed (bounded wait) ...
  ASSERT_TRUE(testing::WaitUntil([&] { return Fetch(cluster_->http_port(), "strict.local", "/").status == 429; },
                                 std::chrono::seconds(10), std::chrono::milliseconds(20)));
  // ... for every client, new ones included, each answered at once.
  auto strict = TimedCurlFrom("127.0.0.7", cluster_->http_port(), "strict.local", 10, "20/s");
  ASSERT_EQ(strict.size(), 10u);
  for (auto [code, seconds] : strict) {
    EXPECT_EQ(code, 429);
    EXPECT_LT(seconds, 0.5);
  }
  // Fail open (the default): clients under the limit keep full service,
  // on each proxy's own bucket, and no request waits on the dead Redis.
  for (int port : {cluster_->http_port(), second_http_port_}) {
    auto open = TimedCurlFrom("127.0.0.8", port, "global.local", 20, "20/s");
    ASSERT_EQ(open.size(), 20u);
    for (auto [code, seconds] : open) {
      EXPECT_EQ(code, 200);
      EXPECT_LT(seconds, 0.5);
    }
  }
  // And a flood on the fail-open route is still limited, per proxy.
  FloodResult flood = Flood({cluster_->http_port()}, "global.local", 2, 200);
  EXPECT_GT(flood.limited, 0);
  EXPECT_EQ(flood.other, 0) << "status " << flood.other_status;
}

}  // namespace
}  // namespace sluice
