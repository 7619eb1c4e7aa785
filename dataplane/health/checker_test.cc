// The checker against a real loopback origin (FakeUpstream): what it sends,
// when it flips health, and that one endpoint is checked once however many
// targets name it.
#include "dataplane/health/checker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "test/support/fake_upstream.h"

namespace sluice::health {
namespace {

using testing::FakeUpstream;

std::string StatusResponse(int status) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
}

CheckTarget Target(int port, std::shared_ptr<EndpointHealth> health, std::string path = "/healthz") {
  CheckTarget target;
  target.endpoint_key = "127.0.0.1:" + std::to_string(port);
  target.address = *net::MakeAddress("127.0.0.1", port);
  target.spec.path = std::move(path);
  target.spec.interval = std::chrono::milliseconds(40);
  target.spec.timeout = std::chrono::milliseconds(500);
  target.spec.healthy_threshold = 2;
  target.spec.unhealthy_threshold = 3;
  target.health = std::move(health);
  return target;
}

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

TEST(HealthCheckerTest, SendsAnHttpGetWithHostAndUserAgent) {
  FakeUpstream origin(FakeUpstream::Always(StatusResponse(200), true));
  auto health = std::make_shared<EndpointHealth>();
  HealthChecker checker;
  checker.Start();
  CheckTarget target = Target(origin.port(), health);
  target.spec.host = "app.example";
  checker.Update({target});
  ASSERT_TRUE(origin.WaitForRequests(1, std::chrono::seconds(5)));
  std::string head = origin.request_heads().at(0);
  EXPECT_TRUE(head.starts_with("GET /healthz HTTP/1.1\r\n")) << head;
  EXPECT_NE(head.find("Host: app.example\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("User-Agent: sluice-health-check\r\n"), std::string::npos) << head;
  EXPECT_TRUE(health->active_healthy.load());
  EXPECT_TRUE(health->actively_checked.load());
}

TEST(HealthCheckerTest, FlipsOnlyAfterTheThresholds) {
  std::atomic<int> status{200};
  FakeUpstream origin([&](const FakeUpstream::Request&) { return FakeUpstream::Reply{StatusResponse(status.load()), true}; });
  auto health = std::make_shared<EndpointHealth>();
  HealthChecker checker;
  checker.Start();
  checker.Update({Target(origin.port(), health)});
  ASSERT_TRUE(origin.WaitForRequests(2, std::chrono::seconds(5)));
  EXPECT_TRUE(health->active_healthy.load());

  status = 503;
  size_t at_flip = origin.request_count();
  ASSERT_TRUE(Eventually([&] { return !health->active_healthy.load(); }));
  // Three failing checks were needed; one of them may have been counted
  // before `at_flip` was read (it arrived just before, answered 503 after).
  EXPECT_GE(origin.request_count() - at_flip, 2u);
  EXPECT_FALSE(health->Available(0));

  status = 204;
  size_t at_recovery = origin.request_count();
  ASSERT_TRUE(Eventually([&] { return health->active_healthy.load(); }));
  EXPECT_GE(origin.request_count() - at_recovery, 1u);  // two passes needed, same race as above
}

TEST(HealthCheckerTest, UnreachableEndpointBecomesUnhealthy) {
  int port;
  {
    FakeUpstream gone(FakeUpstream::Silent());
    port = gone.port();
  }
  auto health = std::make_shared<EndpointHealth>();
  HealthChecker checker;
  checker.Start();
  checker.Update({Target(port, health)});
  ASSERT_TRUE(Eventually([&] { return !health->active_healthy.load(); }));
  EXPECT_GE(checker.checks_failed(), 3u);
}

TEST(HealthCheckerTest, TimeoutCountsAsAFailure) {
  FakeUpstream silent(FakeUpstream::Silent());
  auto health = std::make_shared<EndpointHealth>();
  HealthChecker checker;
  checker.Start();
  CheckTarget target = Target(silent.port(), health);
  target.spec.timeout = std::chrono::milliseconds(30);
  checker.Update({target});
  ASSERT_TRUE(Eventually([&] { return !health->active_healthy.load(); }));
}

TEST(HealthCheckerTest, OneCheckPerEndpointAndPathHoweverManyTargets) {
  FakeUpstream origin(FakeUpstream::Always(StatusResponse(200), true));
  auto health = std::make_shared<EndpointHealth>();
  HealthChecker checker;
  checker.Start();
  std::vector<CheckTarget> targets;
  for (int i = 0; i < 5; ++i) targets.push_back(Target(origin.port(), health));  // five routes/clusters
  checker.Update(targets);
  std::this_thread::sleep_for(std::chrono::milliseconds(420));
  size_t checks = origin.request_count();
  // ~10 intervals of 40 ms (+-10%, first one spread): one target's worth.
  EXPECT_GE(checks, 5u);
  EXPECT_LE(checks, 13u);
}

TEST(HealthCheckerTest, EndpointNoLongerCheckedIsHealthyAgainAndUpdatesKeepState) {
  FakeUpstream failing(FakeUpstream::Always(StatusResponse(500), true));
  auto health = std::make_shared<EndpointHealth>();
  HealthChecker checker;
  checker.Start();
  checker.Update({Target(failing.port(), health)});
  ASSERT_TRUE(Eventually([&] { return !health->active_healthy.load(); }));
  // The same target again (a new snapshot): still unhealthy, no reset.
  checker.Update({Target(failing.port(), health)});
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_FALSE(health->active_healthy.load());
  // Health check removed from the cluster: not checked, healthy.
  checker.Update({});
  ASSERT_TRUE(Eventually([&] { return health->active_healthy.load() && !health->actively_checked.load(); }));
}

TEST(HealthCheckerTest, ExpectedStatusRanges) {
  CheckSpec spec;
  EXPECT_TRUE(spec.Passes(200));
  EXPECT_TRUE(spec.Passes(399));
  EXPECT_FALSE(spec.Passes(404));
  spec.expected_statuses = {{200, 200}, {404, 404}};
  EXPECT_TRUE(spec.Passes(404));
  EXPECT_FALSE(spec.Passes(301));
}

}  // namespace
}  // namespace sluice::health
