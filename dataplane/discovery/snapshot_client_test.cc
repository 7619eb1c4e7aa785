// The proxy end of the snapshot stream against the real controller server,
// both in this process on 127.0.0.1.
#include "dataplane/discovery/snapshot_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>
#include <vector>

#include "controlplane/server/snapshot_server.h"

namespace sluice::discovery {
namespace {

using namespace std::chrono_literals;
using sluice::server::ServerOptions;
using sluice::server::SnapshotServer;

sluice::v1::Snapshot MakeSnapshot(uint32_t web_port = 8080, bool with_api_host = true) {
  sluice::v1::Snapshot snapshot;
  auto* web = snapshot.add_virtual_hosts();
  web->set_name("web.example");
  web->add_routes()->set_cluster("default/web:80");
  if (with_api_host) {
    auto* api = snapshot.add_virtual_hosts();
    api->set_name("api.example");
    api->add_routes()->set_cluster("default/api:80");
  }
  for (const auto& [name, port] : {std::pair{"default/web:80", web_port}, {"default/api:80", 9000u}}) {
    auto* cluster = snapshot.add_clusters();
    cluster->set_name(name);
    auto* endpoint = cluster->add_endpoints();
    endpoint->set_address("10.0.0.7");
    endpoint->set_port(port);
  }
  return snapshot;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

uint32_t WebPort(const sluice::v1::Snapshot& snapshot) {
  for (const auto& cluster : snapshot.clusters()) {
    if (cluster.name() == "default/web:80") return cluster.endpoints(0).port();
  }
  return 0;
}

// The proxy's side of apply(): records what it was given and rejects any
// state whose web cluster points at port 6666.
class FakeProxy {
 public:
  ApplyFn Apply() {
    return [this](std::shared_ptr<const sluice::v1::Snapshot> state, const std::string& version) {
      std::lock_guard lock(mu_);
      ++calls_;
      if (WebPort(*state) == 6666) return sluice::Status::Error("port 6666 is not allowed");
      serving_ = std::move(state);
      serving_version_ = version;
      return sluice::Status::Ok();
    };
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::shared_ptr<const sluice::v1::Snapshot> serving() {
    std::lock_guard lock(mu_);
    return serving_;
  }
  std::string serving_version() {
    std::lock_guard lock(mu_);
    return serving_version_;
  }

 private:
  std::mutex mu_;
  int calls_ = 0;
  std::shared_ptr<const sluice::v1::Snapshot> serving_;
  std::string serving_version_;
};

class SnapshotClientTest : public ::testing::Test {
 protected:
  void StartServer(int port = 0) {
    ServerOptions options;
    options.listen_address = "127.0.0.1:" + std::to_string(port);
    options.debounce = 10ms;
    options.debounce_cap = 50ms;
    server_ = std::make_unique<SnapshotServer>(options);
    const sluice::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.message();
  }

  std::string PublishAndWait(const sluice::v1::Snapshot& snapshot) {
    const std::string before = server_->current_version();
    server_->Publish(snapshot);
    EXPECT_TRUE(WaitFor([&] { return server_->current_version() != before; }));
    return server_->current_version();
  }

  void StartClient(const std::string& address) {
    ClientOptions options;
    options.controller_address = address;
    options.node_id = "proxy-1";
    options.initial_backoff = 50ms;
    options.max_backoff = 200ms;
    client_ = std::make_unique<SnapshotClient>(options, proxy_.Apply());
    client_->Start();
  }
  void StartClient() { StartClient("127.0.0.1:" + std::to_string(server_->bound_port())); }

  std::optional<sluice::server::NodeStatus> Node() {
    for (const auto& node : server_->Nodes()) {
      if (node.node_id == "proxy-1") return node;
    }
    return std::nullopt;
  }

  void TearDown() override {
    if (client_) client_->Stop();
    if (server_) server_->Shutdown();
  }

  FakeProxy proxy_;
  std::unique_ptr<SnapshotServer> server_;
  std::unique_ptr<SnapshotClient> client_;
};

TEST_F(SnapshotClientTest, AppliesTheFullStateAndAcksIt) {
  StartServer();
  const std::string version = PublishAndWait(MakeSnapshot());
  StartClient();

  ASSERT_TRUE(WaitFor([&] { return client_->applied_version() == version; }));
  EXPECT_TRUE(client_->connected());
  EXPECT_EQ(proxy_.serving_version(), version);
  EXPECT_EQ(proxy_.serving()->virtual_hosts_size(), 2);
  EXPECT_EQ(proxy_.serving()->clusters_size(), 2);
  EXPECT_TRUE(WaitFor([&] { return Node() && Node()->applied_version == version; }));
}

TEST_F(SnapshotClientTest, DeltasAreMergedIntoTheCompleteState) {
  StartServer();
  PublishAndWait(MakeSnapshot(8080));
  StartClient();
  ASSERT_TRUE(WaitFor([&] { return !client_->applied_version().empty(); }));

  const std::string v2 = PublishAndWait(MakeSnapshot(8081, /*with_api_host=*/false));
  ASSERT_TRUE(WaitFor([&] { return client_->applied_version() == v2; }));
  auto serving = proxy_.serving();
  ASSERT_EQ(serving->virtual_hosts_size(), 1);
  EXPECT_EQ(serving->virtual_hosts(0).name(), "web.example");
  EXPECT_EQ(serving->clusters_size(), 2);  // the unchanged cluster is still there
  EXPECT_EQ(WebPort(*serving), 8081u);
  EXPECT_EQ(client_->stats().full_states, 1u);
  EXPECT_EQ(client_->stats().deltas, 1u);
}

TEST_F(SnapshotClientTest, NackKeepsTheOldStateAndTheNextGoodStateIsApplied) {
  StartServer();
  const std::string v1 = PublishAndWait(MakeSnapshot(8080));
  StartClient();
  ASSERT_TRUE(WaitFor([&] { return client_->applied_version() == v1; }));
  const int calls_before = proxy_.calls();

  const std::string bad = PublishAndWait(MakeSnapshot(6666));
  ASSERT_TRUE(WaitFor([&] { return Node() && !Node()->last_error.empty(); }));
  EXPECT_EQ(Node()->last_error, "port 6666 is not allowed");
  EXPECT_EQ(Node()->last_nacked_version, bad);
  EXPECT_EQ(Node()->applied_version, v1);
  EXPECT_EQ(client_->applied_version(), v1);
  EXPECT_EQ(proxy_.calls(), calls_before + 1);
  EXPECT_EQ(WebPort(*proxy_.serving()), 8080u);
  EXPECT_EQ(client_->stats().nacks, 1u);

  const std::string v3 = PublishAndWait(MakeSnapshot(8082));
  ASSERT_TRUE(WaitFor([&] { return client_->applied_version() == v3; }));
  EXPECT_EQ(WebPort(*proxy_.serving()), 8082u);
  EXPECT_EQ(proxy_.serving()->virtual_hosts_size(), 2);
  EXPECT_TRUE(WaitFor([&] { return Node()->applied_version == v3; }));
}

TEST_F(SnapshotClientTest, ReconnectsAfterAServerRestartAndTakesTheFullState) {
  StartServer();
  const int port = server_->bound_port();
  const std::string v1 = PublishAndWait(MakeSnapshot(8080, /*with_api_host=*/true));
  StartClient();
  ASSERT_TRUE(WaitFor([&] { return client_->applied_version() == v1; }));

  server_->Shutdown();
  ASSERT_TRUE(WaitFor([&] { return !client_->connected(); }));
  std::this_thread::sleep_for(300ms);  // a few failed reconnects
  EXPECT_EQ(client_->applied_version(), v1) << "state must survive the outage";
  EXPECT_EQ(proxy_.serving()->virtual_hosts_size(), 2);

  // The restarted controller has one host fewer. Only a full state (not a
  // delta against the new stream's empty ACK set) can remove it.
  StartServer(port);
  const std::string v2 = PublishAndWait(MakeSnapshot(8080, /*with_api_host=*/false));
  ASSERT_TRUE(WaitFor([&] { return client_->applied_version() == v2; }));
  EXPECT_TRUE(client_->connected());
  ASSERT_EQ(proxy_.serving()->virtual_hosts_size(), 1);
  EXPECT_EQ(proxy_.serving()->virtual_hosts(0).name(), "web.example");
  EXPECT_EQ(client_->stats().full_states, 2u);
  EXPECT_GE(client_->stats().streams_started, 3u);  // at least one refused attempt
}

TEST_F(SnapshotClientTest, StopIsPromptWhileTheControllerIsUnreachable) {
  // A port that was free a moment ago: connection refused.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);

  StartClient("127.0.0.1:" + std::to_string(ntohs(address.sin_port)));
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(client_->connected());
  EXPECT_EQ(proxy_.calls(), 0);
  const auto start = std::chrono::steady_clock::now();
  client_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST_F(SnapshotClientTest, StopEndsAnOpenStream) {
  StartServer();
  PublishAndWait(MakeSnapshot());
  StartClient();
  ASSERT_TRUE(WaitFor([&] { return client_->connected(); }));
  const auto start = std::chrono::steady_clock::now();
  client_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_TRUE(WaitFor([&] { return Node() && !Node()->connected; }));
}

}  // namespace
}  // namespace sluice::discovery
