// A real worker on loopback in front of real echo backends (separate
// processes), driven by a real socket client.
#include "dataplane/proxy/worker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "test/support/http_client.h"
#include "test/support/process.h"

namespace sluice::proxy {
namespace {

using testing::Fetch;
using testing::HttpConnection;

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app_port_ = testing::FreePort();
    api_port_ = testing::FreePort();
    std::string backend = testing::RunfilePath("test/backend/sluice-echo-backend");
    app_ = std::make_unique<testing::Process>(
        std::vector<std::string>{backend, "--listen", "127.0.0.1:" + std::to_string(app_port_), "--name", "app"});
    api_ = std::make_unique<testing::Process>(
        std::vector<std::string>{backend, "--listen", "127.0.0.1:" + std::to_string(api_port_), "--name", "api"});
    ASSERT_TRUE(testing::WaitForPort(app_port_));
    ASSERT_TRUE(testing::WaitForPort(api_port_));
    config_.high_watermark = 64 * 1024;
    config_.low_watermark = 16 * 1024;
    worker_ = std::make_unique<Worker>(0, &config_);
    proxy_port_ = testing::FreePort();
    auto address = net::ParseListenAddress("127.0.0.1:" + std::to_string(proxy_port_));
    ASSERT_TRUE(worker_->Listen(*address).ok());
    worker_->Start();
  }

  void TearDown() override { worker_->Stop(); }

  v1::Snapshot DemoSnapshot(int app_port, int api_port) {
    v1::Snapshot s;
    auto add_cluster = [&](const std::string& name, int port) {
      auto* c = s.add_clusters();
      c->set_name(name);
      auto* e = c->add_endpoints();
      e->set_address("127.0.0.1");
      e->set_port(port);
    };
    add_cluster("demo/app:80", app_port);
    add_cluster("demo/api:80", api_port);
    auto* vh = s.add_virtual_hosts();
    vh->set_name("demo.local");
    auto add_route = [&](v1::Route::PathMatch m, const std::string& path, const std::string& cluster) {
      auto* r = vh->add_routes();
      r->set_match(m);
      r->set_path(path);
      r->set_cluster(cluster);
    };
    add_route(v1::Route::PREFIX, "/api", "demo/api:80");
    add_route(v1::Route::PREFIX, "/", "demo/app:80");
    return s;
  }

  void Apply(const v1::Snapshot& s, const std::string& version) {
    auto compiled = snapshot::Compile(s, version);
    ASSERT_TRUE(compiled.ok()) << compiled.status().message();
    worker_->SetSnapshot(*compiled);
    for (int i = 0; i < 200 && worker_->applied_version() != version; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(worker_->applied_version(), version);
  }

  ProxyConfig config_;
  int app_port_ = 0, api_port_ = 0, proxy_port_ = 0;
  std::unique_ptr<testing::Process> app_, api_;
  std::unique_ptr<Worker> worker_;
};

TEST_F(WorkerTest, ListensOnlyOnceItHasAConfiguration) {
  // Bound but not listening: refused (another proxy on the port, or the
  // load balancer's next choice, serves), never a 503 from a proxy that
  // cannot route.
  HttpConnection early(proxy_port_);
  EXPECT_FALSE(early.connected());
  Apply(DemoSnapshot(app_port_, api_port_), "v1");
  EXPECT_EQ(Fetch(proxy_port_, "nowhere.local", "/").status, 404);
}

TEST_F(WorkerTest, RoutesByHostAndPathAndAnswers404OtherwIse) {
  Apply(DemoSnapshot(app_port_, api_port_), "v1");
  auto app = Fetch(proxy_port_, "demo.local", "/app/x");
  EXPECT_EQ(app.status, 200);
  EXPECT_EQ(app.Header("x-backend"), "app");
  auto api = Fetch(proxy_port_, "Demo.Local:8080", "/api/v1?q=1");
  EXPECT_EQ(api.Header("x-backend"), "api");
  EXPECT_NE(api.body.find("\"path\":\"/api/v1?q=1\""), std::string::npos);
  auto unknown = Fetch(proxy_port_, "other.local", "/");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body, "not found\n");
}

TEST_F(WorkerTest, SetsForwardedHeadersAndStripsHopByHopOnes) {
  Apply(DemoSnapshot(app_port_, api_port_), "v1");
  auto r = Fetch(proxy_port_, "demo.local", "/",
                 "X-Forwarded-For: 6.6.6.6\r\nConnection: x-secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"x-forwarded-for\":\"127.0.0.1\""), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("6.6.6.6"), std::string::npos);
  EXPECT_NE(r.body.find("\"x-forwarded-proto\":\"http\""), std::string::npos);
  EXPECT_NE(r.body.find("\"x-forwarded-host\":\"demo.local\""), std::string::npos);
  EXPECT_EQ(r.body.find("x-secret"), std::string::npos);
  EXPECT_EQ(r.body.find("keep-alive"), std::string::npos);
}

TEST_F(WorkerTest, KeepAliveReusesUpstreamConnectionsAndPipelinesInOrder) {
  Apply(DemoSnapshot(app_port_, api_port_), "v1");
  HttpConnection conn(proxy_port_);
  for (int i = 0; i < 5; ++i) {
    auto r = conn.Get("demo.local", "/n" + std::to_string(i));
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("/n" + std::to_string(i)), std::string::npos);
  }
  EXPECT_GE(worker_->stats().upstream_reuses.load(), 3u);
  ASSERT_TRUE(conn.SendRaw(
      "GET /api/first HTTP/1.1\r\nHost: demo.local\r\n\r\nGET /second HTTP/1.1\r\nHost: demo.local\r\n\r\n"));
  auto first = conn.ReadResponse();
  auto second = conn.ReadResponse();
  EXPECT_EQ(first.Header("x-backend"), "api");
  EXPECT_NE(first.body.find("/api/first"), std::string::npos);
  EXPECT_EQ(second.Header("x-backend"), "app");
  EXPECT_NE(second.body.find("/second"), std::string::npos);
}

TEST_F(WorkerTest, StreamsLargeBodiesBothWays) {
  Apply(DemoSnapshot(app_port_, api_port_), "v1");
  HttpConnection conn(proxy_port_);
  std::string body(3 * 1024 * 1024 + 7, 'b');
  ASSERT_TRUE(conn.SendRaw("POST /echo HTTP/1.1\r\nHost: demo.local\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body));
  auto echoed = conn.ReadResponse();
  ASSERT_EQ(echoed.status, 200);
  EXPECT_EQ(echoed.body.size(), body.size());
  EXPECT_EQ(echoed.body, body);
  ASSERT_TRUE(conn.SendRaw("POST /echo HTTP/1.1\r\nHost: demo.local\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  auto chunked = conn.ReadResponse();
  EXPECT_EQ(chunked.body, "hello world");
  auto big = conn.Get("demo.local", "/bytes/5000000");
  EXPECT_EQ(big.body.size(), 5000000u);
  auto big_chunked = conn.Get("demo.local", "/chunked/1000000");
  EXPECT_EQ(big_chunked.Header("transfer-encoding"), "chunked");
  EXPECT_EQ(big_chunked.body.size(), 1000000u);
}

TEST_F(WorkerTest, AnswersBadGatewayWhenTheUpstreamIsDown) {
  Apply(DemoSnapshot(testing::FreePort(), api_port_), "v1");
  auto r = Fetch(proxy_port_, "demo.local", "/");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.body, "upstream unavailable\n");
  EXPECT_EQ(r.Header("server"), "");
}

TEST_F(WorkerTest, RejectsMalformedRequestsWith400AndCloses) {
  Apply(DemoSnapshot(app_port_, api_port_), "v1");
  HttpConnection conn(proxy_port_);
  ASSERT_TRUE(conn.SendRaw("GET / HTTP/1.1\r\nHost: demo.local\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"));
  auto r = conn.ReadResponse();
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(conn.PeerClosed());
  HttpConnection no_host(proxy_port_);
  ASSERT_TRUE(no_host.SendRaw("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(no_host.ReadResponse().status, 400);
}

TEST_F(WorkerTest, SwapsSnapshotUnderAnOpenKeepAliveConnection) {
  Apply(DemoSnapshot(app_port_, api_port_), "v1");
  HttpConnection conn(proxy_port_);
  EXPECT_EQ(conn.Get("demo.local", "/x").Header("x-backend"), "app");
  Apply(DemoSnapshot(api_port_, app_port_), "v2");  // swap the two services' endpoints
  EXPECT_EQ(conn.Get("demo.local", "/x").Header("x-backend"), "api");
}

TEST_F(WorkerTest, Http10WithoutKeepAliveGetsACloseDelimitedResponse) {
  Apply(DemoSnapshot(app_port_, api_port_), "v1");
  HttpConnection conn(proxy_port_);
  ASSERT_TRUE(conn.SendRaw("GET /chunked/5000 HTTP/1.0\r\nHost: demo.local\r\n\r\n"));
  auto r = conn.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), 5000u);
  EXPECT_EQ(r.Header("transfer-encoding"), "");
  EXPECT_EQ(r.Header("connection"), "close");
}

TEST_F(WorkerTest, ServesEveryConnectionOfABurstLargerThanOneAcceptBatch) {
  // More connections queued at once than Accept takes per wakeup: the rest
  // must be picked up on later wakeups, none left waiting in the backlog.
  Apply(DemoSnapshot(app_port_, api_port_), "v1");
  constexpr int kConnections = 150;
  std::vector<std::unique_ptr<HttpConnection>> connections;
  for (int i = 0; i < kConnections; ++i) {
    connections.push_back(std::make_unique<HttpConnection>(proxy_port_));
    ASSERT_TRUE(connections.back()->connected()) << i;
  }
  int answered = 0;
  for (auto& c : connections) answered += c->Get("nowhere.local", "/").status == 404;
  EXPECT_EQ(answered, kConnections);
}

TEST_F(WorkerTest, OutOfFileDescriptorsPausesAcceptingThenServesTheWaitingClient) {
  Apply(DemoSnapshot(app_port_, api_port_), "v1");
  int client = socket(AF_INET, SOCK_STREAM, 0);  // before the limit: connect() needs no new fd
  ASSERT_GE(client, 0);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  int lowest_free = dup(0);
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);  // no new fd for anyone in this process
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(proxy_port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool connected = connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;  // queued: accept4 says EMFILE
  std::string request = "GET / HTTP/1.1\r\nhost: nowhere.local\r\nconnection: close\r\n\r\n";
  bool sent = connected && send(client, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a few accept retries, all EMFILE
  pollfd early{client, POLLIN, 0};
  int answered_early = poll(&early, 1, 0);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(connected);
  ASSERT_TRUE(sent);
  EXPECT_EQ(answered_early, 0) << "nothing can answer without a descriptor";
  // Descriptors are back: the waiting connection is accepted and answered,
  // although no new connection arrives to wake the listener.
  std::string response;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (response.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{client, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[1024];
    ssize_t n = recv(client, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  close(client);
  EXPECT_EQ(response.rfind("HTTP/1.1 404", 0), 0u) << response;
}

}  // namespace
}  // namespace sluice::proxy
