// Health checks, outlier detection and retries end to end: a real worker on
// loopback in front of real echo backends (separate processes), snapshots
// compiled with a health registry and an active checker, as sluice-proxy
// wires them, and a real socket client.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "dataplane/accesslog/access_log.h"
#include "dataplane/health/checker.h"
#include "dataplane/health/registry.h"
#include "dataplane/health/snapshot_health.h"
#include "dataplane/proxy/worker.h"
#include "test/support/fake_upstream.h"
#include "test/support/http_client.h"
#include "test/support/process.h"

namespace sluice::health {
namespace {

using testing::Fetch;
using testing::HttpConnection;

struct Backend {
  std::string name;
  int port = 0;
  std::unique_ptr<testing::Process> process;
  std::string key() const { return "127.0.0.1:" + std::to_string(port); }
};

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    worker_ = std::make_unique<proxy::Worker>(0, &config_);
    proxy_port_ = testing::FreePort();
    ASSERT_TRUE(worker_->Listen(*net::ParseListenAddress("127.0.0.1:" + std::to_string(proxy_port_))).ok());
    worker_->Start();
    checker_.Start();
  }

  void TearDown() override {
    checker_.Stop();
    worker_->Stop();
  }

  Backend StartBackend(const std::string& name) {
    Backend b;
    b.name = name;
    b.port = testing::FreePort();
    b.process = std::make_unique<testing::Process>(std::vector<std::string>{
        testing::RunfilePath("test/backend/sluice-echo-backend"), "--listen", b.key(), "--name", name});
    EXPECT_TRUE(testing::WaitForPort(b.port));
    return b;
  }

  // Direct to the backend, not through the proxy.
  static std::string Control(const Backend& b, const std::string& path) { return Fetch(b.port, "backend", path).body; }
  static int Count(const Backend& b, const std::string& path) {
    return std::atoi(Control(b, "/control/count?path=" + path).c_str());
  }

  // One cluster "demo/app:80" with these endpoints behind host demo.local.
  static v1::Snapshot AppSnapshot(const std::vector<int>& ports) {
    v1::Snapshot s;
    auto* c = s.add_clusters();
    c->set_name("demo/app:80");
    for (int port : ports) {
      auto* e = c->add_endpoints();
      e->set_address("127.0.0.1");
      e->set_port(port);
    }
    auto* vh = s.add_virtual_hosts();
    vh->set_name("demo.local");
    auto* r = vh->add_routes();
    r->set_path("/");
    r->set_cluster("demo/app:80");
    return s;
  }

  std::shared_ptr<const snapshot::CompiledSnapshot> Apply(const v1::Snapshot& s) {
    std::string version = "v" + std::to_string(++versions_);
    auto compiled = snapshot::Compile(s, version, &registry_);
    EXPECT_TRUE(compiled.ok()) << compiled.status().message();
    if (!compiled.ok()) return nullptr;
    worker_->SetSnapshot(*compiled);
    checker_.Update(CheckTargets(**compiled));  // as sluice-proxy does
    for (int i = 0; i < 400 && worker_->applied_version() != version; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(worker_->applied_version(), version);
    return *compiled;
  }

  static const EndpointHealth* HealthOf(const snapshot::CompiledSnapshot& s, const std::string& key) {
    for (const auto& e : s.FindCluster("demo/app:80")->endpoints) {
      if (e.key == key) return e.health.get();
    }
    return nullptr;
  }

  // Sequential GETs on one keep-alive connection: backend name -> count
  // ("status NNN" for non-200 answers).
  std::map<std::string, int> Send(int n, const std::string& path = "/") {
    std::map<std::string, int> seen;
    HttpConnection conn(proxy_port_);
    for (int i = 0; i < n; ++i) {
      auto r = conn.Get("demo.local", path);
      if (r.status == 200) {
        ++seen[r.Header("x-backend")];
      } else {
        ++seen["status " + std::to_string(r.status)];
        if (r.status == 0) conn = HttpConnection(proxy_port_);
      }
    }
    return seen;
  }

  proxy::ProxyConfig config_;
  std::unique_ptr<proxy::Worker> worker_;
  int proxy_port_ = 0;
  HealthRegistry registry_;
  HealthChecker checker_;
  int versions_ = 0;
};

TEST_F(FailoverTest, FailingBackendIsEjectedAndReturnsAfterTheEjectionTime) {
  Backend a = StartBackend("a"), b = StartBackend("b"), c = StartBackend("c");
  v1::Snapshot s = AppSnapshot({a.port, b.port, c.port});
  auto* outlier = s.mutable_clusters(0)->mutable_outlier_detection();
  outlier->set_consecutive_failures(3);
  outlier->set_base_ejection_time_ms(1500);
  auto compiled = Apply(s);
  ASSERT_NE(compiled, nullptr);
  Control(b, "/control/fail/503");  // 503 is not retried by default: the client sees it

  std::map<std::string, int> seen = Send(60);
  // Three 503s in a row from b eject it; then a and c answer everything.
  EXPECT_EQ(seen["status 503"], 3);
  EXPECT_EQ(seen["a"] + seen["c"], 57);
  EXPECT_FALSE(HealthOf(*compiled, b.key())->Available(
      std::chrono::duration_cast<std::chrono::nanoseconds>(net::Clock::now().time_since_epoch()).count()));
  EXPECT_EQ(worker_->stats().outlier_ejections.load(), 1u);

  // Fixed, and the ejection time passes: b takes requests again.
  Control(b, "/control/fail/0");
  std::this_thread::sleep_for(std::chrono::milliseconds(1700));
  seen = Send(30);
  EXPECT_GE(seen["b"], 5);
  EXPECT_EQ(seen["a"] + seen["b"] + seen["c"], 30);
}

TEST_F(FailoverTest, KilledBackendCostsNoClientErrorAndIsEjected) {
  Backend a = StartBackend("a"), b = StartBackend("b"), c = StartBackend("c");
  auto compiled = Apply(AppSnapshot({a.port, b.port, c.port}));
  ASSERT_NE(compiled, nullptr);
  EXPECT_EQ(Send(9).size(), 3u);  // all three answer
  b.process->Kill();
  b.process->Wait();
  std::map<std::string, int> seen = Send(60);
  // Connect failures are retried on another endpoint: no client error.
  EXPECT_EQ(seen["a"] + seen["c"], 60) << seen.size();
  uint64_t failures = worker_->stats().upstream_failures.load();
  EXPECT_GE(worker_->stats().upstream_retries.load(), 5u);
  // Ejected after 5 failures in a row: no more tries go to it.
  EXPECT_EQ(worker_->stats().outlier_ejections.load(), 1u);
  Send(30);
  EXPECT_EQ(worker_->stats().upstream_failures.load(), failures);
}

TEST_F(FailoverTest, ActiveChecksFlipHealthWithOneCheckPerEndpointHoweverManyRoutes) {
  Backend a = StartBackend("a"), b = StartBackend("b");
  v1::Snapshot s = AppSnapshot({a.port, b.port});
  // Three more clusters (and routes) on the same endpoint a, all checked.
  for (int i = 0; i < 3; ++i) {
    auto* c = s.add_clusters();
    c->set_name("demo/other" + std::to_string(i) + ":80");
    auto* e = c->add_endpoints();
    e->set_address("127.0.0.1");
    e->set_port(a.port);
    auto* r = s.mutable_virtual_hosts(0)->add_routes();
    r->set_path("/other" + std::to_string(i));
    r->set_cluster(c->name());
  }
  std::swap(*s.mutable_virtual_hosts(0)->mutable_routes(0), *s.mutable_virtual_hosts(0)->mutable_routes(3));
  for (auto& cluster : *s.mutable_clusters()) {
    auto* check = cluster.mutable_health_check();
    check->set_path("/healthz");
    check->set_interval_ms(100);
    check->set_unhealthy_threshold(3);
    check->set_healthy_threshold(2);
    cluster.mutable_outlier_detection()->set_disabled(true);  // only the active checks decide here
  }
  auto compiled = Apply(s);
  ASSERT_NE(compiled, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  int checks = Count(a, "/healthz");
  // ~10 intervals in 1 s for one check; four clusters use a: still one check.
  EXPECT_GE(checks, 6);
  EXPECT_LE(checks, 13);
  EXPECT_GE(Count(b, "/healthz"), 6);

  Control(a, "/control/fail/500");
  const EndpointHealth* health_a = HealthOf(*compiled, a.key());
  for (int i = 0; i < 300 && health_a->active_healthy.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(health_a->active_healthy.load());
  std::map<std::string, int> seen = Send(20);
  EXPECT_EQ(seen["b"], 20);  // the unhealthy endpoint gets nothing

  Control(a, "/control/fail/0");
  for (int i = 0; i < 300 && !health_a->active_healthy.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(health_a->active_healthy.load());
  seen = Send(20);
  EXPECT_GE(seen["a"], 5);
  EXPECT_EQ(seen["a"] + seen["b"], 20);
}

TEST_F(FailoverTest, RetriesGoToAnotherEndpointAndAreLogged) {
  std::string log_path = testing::MakeTempDir("failover") + "/access.log";
  auto access_log = accesslog::AccessLog::OpenFile(log_path, accesslog::AccessLog::Options{});
  ASSERT_TRUE(access_log.ok());
  worker_->Stop();
  worker_ = std::make_unique<proxy::Worker>(0, &config_, access_log->get());
  proxy_port_ = testing::FreePort();
  ASSERT_TRUE(worker_->Listen(*net::ParseListenAddress("127.0.0.1:" + std::to_string(proxy_port_))).ok());
  worker_->Start();

  Backend bad = StartBackend("bad"), good = StartBackend("good");
  Control(bad, "/control/fail/503");
  v1::Snapshot s = AppSnapshot({bad.port, good.port});
  s.mutable_clusters(0)->mutable_outlier_detection()->set_disabled(true);
  auto* retry = s.mutable_virtual_hosts(0)->mutable_routes(0)->mutable_policy()->mutable_retry();
  retry->add_retry_on(v1::RetryPolicy::STATUS_503);
  retry->set_budget_percent(100);  // the budget has its own test
  ASSERT_NE(Apply(s), nullptr);
  std::map<std::string, int> seen = Send(20, "/r");
  EXPECT_EQ(seen["good"], 20);
  int tried_bad = Count(bad, "/r");
  EXPECT_GE(tried_bad, 5);  // about half of the first tries
  EXPECT_EQ(Count(good, "/r"), 20);
  EXPECT_EQ(worker_->stats().upstream_retries.load(), static_cast<uint64_t>(tried_bad));
  worker_->Stop();  // flushes the access log writer
  worker_.reset();
  access_log->reset();
  std::string log = testing::ReadFile(log_path);
  EXPECT_NE(log.find("\"upstream\":\"" + bad.key() + ", " + good.key() + "\",\"attempts\":2"), std::string::npos)
      << log.substr(0, 2000);
  worker_ = std::make_unique<proxy::Worker>(0, &config_);  // for TearDown
}

TEST_F(FailoverTest, RetryBudgetBoundsTheAttemptsOnAFailingCluster) {
  Backend x = StartBackend("x"), y = StartBackend("y");
  Control(x, "/control/fail/503");
  Control(y, "/control/fail/503");
  v1::Snapshot s = AppSnapshot({x.port, y.port});
  s.mutable_clusters(0)->mutable_outlier_detection()->set_disabled(true);
  auto* retry = s.mutable_virtual_hosts(0)->mutable_routes(0)->mutable_policy()->mutable_retry();
  retry->add_retry_on(v1::RetryPolicy::STATUS_503);
  retry->set_retries(1);
  retry->set_budget_percent(20);
  retry->set_budget_min_per_second(3);
  ASSERT_NE(Apply(s), nullptr);
  auto start = std::chrono::steady_clock::now();
  std::map<std::string, int> seen = Send(200, "/b");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(seen["status 503"], 200);
  int attempts = Count(x, "/b") + Count(y, "/b");
  int retries = attempts - 200;
  // Without a budget every request would have been tried twice (400).
  EXPECT_LE(retries, 40 + 3 * static_cast<int>(seconds + 1)) << "seconds " << seconds;
  EXPECT_GE(retries, 3);
  EXPECT_GT(worker_->stats().retry_budget_exhausted.load(), 100u);
}

// A request head, then the body in two chunks with a pause between: the
// upstream fails after the body started and before it ended.
TEST_F(FailoverTest, StreamedPostIsNotRetriedButGetAndBufferedPostAre) {
  // Reads the head, then closes without answering (a reset before any response byte).
  testing::FakeUpstream bad([](const testing::FakeUpstream::Request&) { return testing::FakeUpstream::Reply{"", true}; });
  Backend good = StartBackend("good");
  v1::Snapshot s = AppSnapshot({bad.port(), good.port});
  s.mutable_clusters(0)->mutable_outlier_detection()->set_disabled(true);
  s.mutable_virtual_hosts(0)->mutable_routes(0)->mutable_policy()->mutable_retry()->set_budget_percent(100);
  ASSERT_NE(Apply(s), nullptr);

  int streamed_on_bad = 0, buffered_on_bad = 0, get_on_bad = 0;
  for (int i = 0; i < 8; ++i) {
    // Streamed POST: chunked, the second chunk only after a pause.
    size_t bad_before = bad.request_count();
    int good_before = Count(good, "/upload");
    HttpConnection conn(proxy_port_);
    conn.SendRaw("POST /upload HTTP/1.1\r\nHost: demo.local\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    conn.SendRaw("5\r\nworld\r\n0\r\n\r\n");
    auto r = conn.ReadResponse();
    if (bad.request_count() > bad_before) {
      ++streamed_on_bad;
      EXPECT_EQ(r.status, 502);  // not retried: the upstream may have acted on it
      EXPECT_EQ(Count(good, "/upload"), good_before);
    } else {
      EXPECT_EQ(r.status, 200);
    }
    // Small POST with its whole body at once: buffered, so retried.
    bad_before = bad.request_count();
    HttpConnection buffered(proxy_port_);
    buffered.SendRaw("POST /echo HTTP/1.1\r\nHost: demo.local\r\nContent-Length: 5\r\n\r\nhello");
    auto b = buffered.ReadResponse();
    EXPECT_EQ(b.status, 200);
    EXPECT_EQ(b.body, "hello");
    if (bad.request_count() > bad_before) ++buffered_on_bad;
    // GET: idempotent, retried on a reset.
    bad_before = bad.request_count();
    EXPECT_EQ(Fetch(proxy_port_, "demo.local", "/g").status, 200);
    if (bad.request_count() > bad_before) ++get_on_bad;
  }
  EXPECT_GE(streamed_on_bad, 1);
  EXPECT_GE(buffered_on_bad + get_on_bad, 1);
}

TEST_F(FailoverTest, RollingReplacementOfEveryEndpointUnderLoadLosesNoRequest) {
  std::vector<Backend> live;
  for (const char* name : {"old0", "old1", "old2"}) live.push_back(StartBackend(name));
  auto ports = [&] {
    std::vector<int> p;
    for (const Backend& b : live) p.push_back(b.port);
    return p;
  };
  ASSERT_NE(Apply(AppSnapshot(ports())), nullptr);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, errors{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&, t] {
      int n = 0;
      while (!stop.load() && n < 20000) {
        ++n;
        // Half the clients keep their connection, half open a new one each time.
        testing::Response r;
        if (t == 0) {
          r = Fetch(proxy_port_, "demo.local", "/roll");
        } else {
          thread_local std::unique_ptr<HttpConnection> conn;
          if (!conn) conn = std::make_unique<HttpConnection>(proxy_port_);
          r = conn->Get("demo.local", "/roll");
          if (r.status != 200) conn.reset();
        }
        (r.status == 200 ? ok : errors)++;
      }
    });
  }
  std::vector<Backend> retired;
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Backend replacement = StartBackend("new" + std::to_string(i));
    Backend old = std::move(live[static_cast<size_t>(i)]);
    live[static_cast<size_t>(i)] = std::move(replacement);
    ASSERT_NE(Apply(AppSnapshot(ports())), nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // drain what the old one still serves
    old.process->Kill();
    retired.push_back(std::move(old));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(ok.load(), 100);
  for (const Backend& b : live) EXPECT_GT(Count(b, "/roll"), 0) << b.name;
}

}  // namespace
}  // namespace sluice::health
