// The access log after retries, on real loopback sockets. A try's failure
// used to be kept as a `const char*` into a temporary (a StatusOr's message,
// the response parser's error) and read by the access log at the end of the
// exchange, after the retry that succeeded: a use after free that ASan
// reports (scripts/test.sh runs this package under ASan). The error now is
// one owned ProxyError; this asserts what the log line says after a
// connect-failure retry and a malformed-response retry.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "dataplane/accesslog/access_log.h"
#include "dataplane/proxy/worker.h"
#include "test/support/fake_upstream.h"
#include "test/support/http_client.h"
#include "test/support/process.h"

namespace sluice::proxy {
namespace {

using namespace std::chrono_literals;
using testing::FakeUpstream;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(RetryAccessLog, RetriedRequestIsLoggedWithTheCauseOfItsRetries) {
  // A port nothing listens on (connect is refused),
  // an origin that answers garbage, and a good one.
  int refused_port = testing::FreePort();
  FakeUpstream garbage(FakeUpstream::Always("HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\nok"));
  FakeUpstream good(FakeUpstream::Always(FakeUpstream::OkResponse("fine")));

  std::string log_path = ::testing::TempDir() + "/retry_access_log_" + std::to_string(getpid()) + ".log";
  unlink(log_path.c_str());
  auto log = accesslog::AccessLog::OpenFile(log_path, accesslog::AccessLog::Options{});
  ASSERT_TRUE(log.ok());
  ProxyConfig config;
  auto worker = std::make_unique<Worker>(0, &config, log->get());
  int proxy_port = testing::FreePort();
  auto address = net::ParseListenAddress("127.0.0.1:" + std::to_string(proxy_port));
  ASSERT_TRUE(address.ok());
  ASSERT_TRUE(worker->Listen(*address).ok());
  worker->Start();

  v1::Snapshot s;
  auto* cluster = s.add_clusters();
  cluster->set_name("demo/app:80");
  for (int port : {refused_port, garbage.port(), good.port()}) {
    auto* endpoint = cluster->add_endpoints();
    endpoint->set_address("127.0.0.1");
    endpoint->set_port(static_cast<uint32_t>(port));
  }
  auto* vhost = s.add_virtual_hosts();
  vhost->set_name("demo.local");
  auto* route = vhost->add_routes();
  route->set_match(v1::Route::PREFIX);
  route->set_path("/");
  route->set_cluster("demo/app:80");
  // Room for both failures before the good endpoint, and no ejection that
  // would take a failing endpoint out of the rotation during the test.
  route->mutable_policy()->mutable_retry()->set_retries(2);
  route->mutable_policy()->mutable_retry()->set_budget_min_per_second(100);
  auto compiled = snapshot::Compile(s, "v1");
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  worker->SetSnapshot(*compiled);
  for (int i = 0; i < 400 && worker->applied_version() != "v1"; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(worker->applied_version(), "v1");

  // Round robin over three endpoints: some request starts at each of them.
  for (int i = 0; i < 6; ++i) {
    testing::Response response = testing::Fetch(proxy_port, "demo.local", "/r" + std::to_string(i));
    EXPECT_EQ(response.status, 200) << i;
    EXPECT_EQ(response.body, "fine") << i;
  }
  worker->Stop();
  worker.reset();  // flushes its writer
  log->reset();    // writes everything out

  std::string text = ReadFile(log_path);
  size_t lines = 0, refused_then_garbage = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    ++lines;
    EXPECT_NE(line.find("\"status\":200"), std::string::npos) << line;
    if (line.find("\"attempts\":3") != std::string::npos) {
      ++refused_then_garbage;
      // The last retry's cause, readable and whole.
      EXPECT_NE(line.find("\"error\":\""), std::string::npos) << line;
      EXPECT_NE(line.find("malformed status"), std::string::npos) << line;
    } else if (line.find("\"attempts\":2") != std::string::npos) {
      EXPECT_NE(line.find("\"error\":\""), std::string::npos) << line;
    }
  }
  EXPECT_EQ(lines, 6u) << text;
  EXPECT_GE(refused_then_garbage, 1u) << text;
  unlink(log_path.c_str());
}

}  // namespace
}  // namespace sluice::proxy
