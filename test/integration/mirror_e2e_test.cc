// Request mirroring end to end (mirror-target, mirror-host,
// mirror-request-body): sluice-controller and sluice-proxy as real
// processes, the echo backend as the main Service and scriptable origins
// (test/support/fake_upstream.h) as mirror Services. The mirror gets copies
// with their bodies and its own target and Host; a mirror that never
// answers does not slow the main path, and copies beyond the per-worker cap
// are dropped and counted.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "test/support/fake_upstream.h"
#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/observe.h"
#include "test/support/process.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using testing::FakeUpstream;
using testing::HttpConnection;
using testing::Response;

class MirrorEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app_port_ = testing::FreePort();
    app_ = cluster_.StartEchoBackend("app", app_port_);
    std::string annotations_copy =
        "nginx.ingress.kubernetes.io/mirror-target: \"http://mirror.demo.svc.cluster.local/copy$request_uri\"\n"
        "nginx.ingress.kubernetes.io/mirror-host: \"mirror.example\"\n";
    std::string annotations_nobody =
        "sluice.io/mirror-target: \"http://mirror.demo/nobody$uri\"\n"
        "nginx.ingress.kubernetes.io/mirror-request-body: \"off\"\n";
    std::string annotations_stalled = "nginx.ingress.kubernetes.io/mirror-target: \"http://stalled.demo.svc/$request_uri\"\n";
    cluster_.WriteManifest(
        "all.yaml", testing::DefaultIngressClass() + "---\n" + testing::ServiceAndSlice("app", "demo", app_port_) +
                        "---\n" + testing::ServiceAndSlice("mirror", "demo", mirror_.port()) + "---\n" +
                        testing::ServiceAndSlice("stalled", "demo", stalled_.port()) + "---\n" +
                        testing::PrefixIngress("copied", "demo", "copied.test", "app", annotations_copy) + "---\n" +
                        testing::PrefixIngress("nobody", "demo", "nobody.test", "app", annotations_nobody) + "---\n" +
                        testing::PrefixIngress("stalled", "demo", "stalled.test", "app", annotations_stalled));
    cluster_.Start();
    ASSERT_TRUE(testing::WaitForPort(app_port_));
    ASSERT_TRUE(cluster_.WaitReady()) << cluster_.Logs();
    ASSERT_TRUE(testing::WaitUntil([&] { return testing::Fetch(cluster_.http_port(), "nobody.test", "/ready").status == 200; },
                                   std::chrono::seconds(15), std::chrono::milliseconds(50)))
        << cluster_.Logs();
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_.Logs();
  }

  Response Post(const std::string& host, const std::string& path, const std::string& body) {
    HttpConnection conn(cluster_.http_port());
    conn.SendRaw("POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\ncontent-length: " + std::to_string(body.size()) +
                 "\r\n\r\n" + body);
    return conn.ReadResponse();
  }

  long Metric(const std::string& series) {
    return static_cast<long>(
        testing::MetricSample(testing::Fetch(cluster_.admin_port(), "127.0.0.1", "/metrics").body, series));
  }

  FakeUpstream mirror_{FakeUpstream::Always(FakeUpstream::OkResponse("mirror"))};
  FakeUpstream stalled_{FakeUpstream::Silent()};
  int app_port_ = 0;
  std::unique_ptr<testing::Process> app_;
  // One worker: the per-worker cap on copies in flight is the proxy's.
  testing::SluiceCluster cluster_{{.name = "mirror_e2e", .workers = 1}};
};

TEST_F(MirrorEndToEndTest, CopiesCarryTheBodyTheTargetAndTheHost) {
  Response main = Post("copied.test", "/submit?x=1", "hello-mirror-body");
  EXPECT_EQ(main.status, 200);
  EXPECT_EQ(main.Header("x-backend"), "app");  // the main answer is the main backend's
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return mirror_.all_received().find("hello-mirror-body") != std::string::npos; }, std::chrono::seconds(10),
      std::chrono::milliseconds(20)))
      << mirror_.all_received();
  std::string copy = mirror_.all_received();
  EXPECT_NE(copy.find("POST /copy/submit?x=1 HTTP/1.1\r\n"), std::string::npos) << copy;
  EXPECT_NE(copy.find("host: mirror.example\r\n"), std::string::npos) << copy;
  EXPECT_NE(copy.find("content-length: 17\r\n"), std::string::npos) << copy;
  EXPECT_NE(copy.find("x-forwarded-for: 127.0.0.1"), std::string::npos) << copy;
  EXPECT_TRUE(testing::WaitUntil([&] { return Metric("sluice_mirror_completed_total") >= 1; }, std::chrono::seconds(10),
                                 std::chrono::milliseconds(50)));
}

TEST_F(MirrorEndToEndTest, RequestBodyOffSendsTheCopyWithoutIt) {
  // The readiness probe in SetUp already sent one copy to /nobody/ready.
  Response main = Post("nobody.test", "/form?y=2", "secret-body");
  EXPECT_EQ(main.status, 200);
  ASSERT_TRUE(mirror_.WaitForRequests(2, std::chrono::seconds(10))) << mirror_.all_received();
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return mirror_.all_received().find("POST /nobody/form HTTP/1.1\r\n") != std::string::npos; },
      std::chrono::seconds(10), std::chrono::milliseconds(50)))
      << mirror_.all_received();
  std::string copy = mirror_.all_received();
  EXPECT_EQ(copy.find("secret-body"), std::string::npos) << copy;
  EXPECT_NE(copy.find("host: mirror.demo\r\n"), std::string::npos) << copy;  // the target's host by default
}

TEST_F(MirrorEndToEndTest, StalledMirrorNeverSlowsTheMainPathAndExtraCopiesAreDropped) {
  // The stalled mirror accepts and never answers: every copy stays in
  // flight (60 s response timeout), so after 64 the worker drops them.
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    auto before = std::chrono::steady_clock::now();
    Response main = Post("stalled.test", "/item/" + std::to_string(i), "payload");
    ASSERT_EQ(main.status, 200) << i;
    EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2)) << i;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_TRUE(stalled_.WaitForConnections(10, std::chrono::seconds(10)));
  long dropped = Metric("sluice_mirror_dropped_total");
  EXPECT_GE(dropped, 30) << "copies over the cap of 64 in flight";
  EXPECT_LE(dropped, 36 + 1);
}

}  // namespace
}  // namespace sluice
