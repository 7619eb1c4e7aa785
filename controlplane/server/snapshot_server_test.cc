// The controller end of the snapshot stream, driven by a raw gRPC client so
// the test sees exactly what goes over the wire.
#include "controlplane/server/snapshot_server.h"

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "sluice/v1/snapshot_service.grpc.pb.h"

namespace sluice::server {
namespace {

using namespace std::chrono_literals;
using sluice::v1::StreamRequest;
using sluice::v1::StreamResponse;

sluice::v1::Snapshot MakeSnapshot(uint32_t web_port = 8080, bool with_api_host = true) {
  sluice::v1::Snapshot snapshot;
  auto* web = snapshot.add_virtual_hosts();
  web->set_name("web.example");
  auto* route = web->add_routes();
  route->set_path("/");
  route->set_cluster("default/web:80");
  if (with_api_host) {
    auto* api = snapshot.add_virtual_hosts();
    api->set_name("api.example");
    auto* api_route = api->add_routes();
    api_route->set_path("/v1");
    api_route->set_cluster("default/api:80");
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

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 3s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

// A proxy stand-in: opens the stream, queues every response, answers on
// demand.
class RawProxy {
 public:
  RawProxy(int port, std::string node_id) : node_id_(std::move(node_id)) {
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    stub_ = sluice::v1::SnapshotService::NewStub(channel_);
    stream_ = stub_->Stream(&context_);
    StreamRequest hello;
    hello.set_node_id(node_id_);
    stream_->Write(hello);
    reader_ = std::thread([this] {
      StreamResponse response;
      while (stream_->Read(&response)) {
        std::lock_guard lock(mu_);
        received_.push_back(response);
        cv_.notify_all();
      }
      std::lock_guard lock(mu_);
      ended_ = true;
      cv_.notify_all();
    });
  }
  ~RawProxy() {
    context_.TryCancel();
    reader_.join();
    stream_->Finish();
  }

  std::optional<StreamResponse> Next(std::chrono::milliseconds timeout = 3s) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !received_.empty() || ended_; })) return std::nullopt;
    if (received_.empty()) return std::nullopt;
    StreamResponse response = received_.front();
    received_.pop_front();
    return response;
  }
  bool Ended(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ended_; });
  }

  void Ack(const StreamResponse& response) { Answer(response, ""); }
  void Nack(const StreamResponse& response, const std::string& error) { Answer(response, error); }
  // An ACK that leaves one certificate out (what the proxy sends for a
  // certificate it cannot load).
  void PartialAck(const StreamResponse& response, const std::string& certificate, const std::string& why) {
    Answer(response, "", [&](StreamRequest& answer) {
      sluice::v1::ResourceError* rejected = answer.add_rejected_resources();
      rejected->mutable_resource()->set_type(sluice::v1::CERTIFICATE);
      rejected->mutable_resource()->set_name(certificate);
      rejected->set_error(why);
    });
  }

 private:
  void Answer(const StreamResponse& response, const std::string& error,
              const std::function<void(StreamRequest&)>& more = nullptr) {
    StreamRequest answer;
    answer.set_node_id(node_id_);
    answer.set_version(response.version());
    answer.set_nonce(response.nonce());
    answer.set_error_detail(error);
    if (error.empty()) applied_ = response.version();
    answer.set_applied_version(applied_);
    if (more) more(answer);
    ASSERT_TRUE(stream_->Write(answer));
  }

  std::string node_id_;
  std::string applied_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<sluice::v1::SnapshotService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<StreamRequest, StreamResponse>> stream_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamResponse> received_;
  bool ended_ = false;
};

class SnapshotServerTest : public ::testing::Test {
 protected:
  void StartServer(std::chrono::milliseconds debounce = 10ms, std::chrono::milliseconds cap = 50ms) {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.debounce = debounce;
    options.debounce_cap = cap;
    server_ = std::make_unique<SnapshotServer>(options);
    const sluice::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.message();
    ASSERT_GT(server_->bound_port(), 0);
  }

  // Publishes and waits until the server serves that content.
  std::string PublishAndWait(const sluice::v1::Snapshot& snapshot) {
    const std::string before = server_->current_version();
    server_->Publish(snapshot);
    EXPECT_TRUE(WaitFor([&] { return server_->current_version() != before; }));
    return server_->current_version();
  }

  // Connects a proxy and ACKs the full state.
  std::unique_ptr<RawProxy> ConnectAndAck(const std::string& node) {
    auto proxy = std::make_unique<RawProxy>(server_->bound_port(), node);
    auto full = proxy->Next();
    EXPECT_TRUE(full.has_value());
    if (full) proxy->Ack(*full);
    return proxy;
  }

  std::optional<NodeStatus> Node(const std::string& id) {
    for (const NodeStatus& node : server_->Nodes()) {
      if (node.node_id == id) return node;
    }
    return std::nullopt;
  }

  std::unique_ptr<SnapshotServer> server_;
};

TEST_F(SnapshotServerTest, FirstResponseIsTheFullState) {
  StartServer();
  const std::string version = PublishAndWait(MakeSnapshot());
  EXPECT_EQ(version.size(), 16u);

  RawProxy proxy(server_->bound_port(), "proxy-a");
  auto full = proxy.Next();
  ASSERT_TRUE(full.has_value());
  EXPECT_TRUE(full->full_state());
  EXPECT_EQ(full->version(), version);
  EXPECT_FALSE(full->nonce().empty());
  EXPECT_EQ(full->resources_size(), 4);  // two hosts, two clusters
  EXPECT_EQ(full->removed_size(), 0);
}

TEST_F(SnapshotServerTest, StreamWaitsForTheFirstPublish) {
  StartServer();
  RawProxy proxy(server_->bound_port(), "early");
  EXPECT_FALSE(proxy.Next(200ms).has_value());
  server_->Publish(MakeSnapshot());
  auto full = proxy.Next();
  ASSERT_TRUE(full.has_value());
  EXPECT_TRUE(full->full_state());
}

TEST_F(SnapshotServerTest, SameManifestsGiveTheSameVersionAcrossServers) {
  StartServer();
  const std::string first = PublishAndWait(MakeSnapshot());
  server_->Shutdown();
  StartServer();
  EXPECT_EQ(PublishAndWait(MakeSnapshot()), first);
}

TEST_F(SnapshotServerTest, ChangedClusterIsSentAlone) {
  StartServer();
  PublishAndWait(MakeSnapshot(8080));
  auto proxy = ConnectAndAck("proxy-a");

  const std::string v2 = PublishAndWait(MakeSnapshot(8081));
  auto delta = proxy->Next();
  ASSERT_TRUE(delta.has_value());
  EXPECT_FALSE(delta->full_state());
  EXPECT_EQ(delta->version(), v2);
  ASSERT_EQ(delta->resources_size(), 1);
  EXPECT_EQ(delta->resources(0).cluster().name(), "default/web:80");
  EXPECT_EQ(delta->resources(0).cluster().endpoints(0).port(), 8081u);
  EXPECT_EQ(delta->removed_size(), 0);
}

TEST_F(SnapshotServerTest, PublishedChangeReachesProxiesAsTheDeltaAFullPublishWouldGive) {
  StartServer();
  PublishAndWait(MakeSnapshot(8080));
  auto proxy = ConnectAndAck("proxy-a");

  // The same state two ways: a change (new host, changed cluster, removed
  // host) and the whole snapshot.
  sluice::v1::Snapshot whole = MakeSnapshot(8081, /*with_api_host=*/false);
  auto* shop = whole.add_virtual_hosts();
  shop->set_name("shop.example");
  shop->add_routes()->set_cluster("default/web:80");
  SnapshotChange change;
  change.virtual_hosts.push_back(*shop);
  change.clusters.push_back(whole.clusters(0));
  change.removed_virtual_hosts.push_back("api.example");
  const std::string before = server_->current_version();
  server_->PublishChange(change);
  ASSERT_TRUE(WaitFor([&] { return server_->current_version() != before; }));
  auto delta = proxy->Next();
  ASSERT_TRUE(delta.has_value());
  EXPECT_FALSE(delta->full_state());
  ASSERT_EQ(delta->resources_size(), 2);
  EXPECT_EQ(delta->resources(0).virtual_host().name(), "shop.example");
  EXPECT_EQ(delta->resources(1).cluster().endpoints(0).port(), 8081u);
  ASSERT_EQ(delta->removed_size(), 1);
  EXPECT_EQ(delta->removed(0).name(), "api.example");
  const std::string changed = server_->current_version();
  EXPECT_EQ(delta->version(), changed);
  proxy->Ack(*delta);
  server_->Publish(whole);
  EXPECT_FALSE(proxy->Next(300ms).has_value()) << "the full publish of the same state must push nothing";
  EXPECT_EQ(server_->current_version(), changed);
  // A second proxy gets that state in full.
  auto late = std::make_unique<RawProxy>(server_->bound_port(), "proxy-b");
  auto full = late->Next();
  ASSERT_TRUE(full.has_value());
  EXPECT_TRUE(full->full_state());
  EXPECT_EQ(full->version(), changed);
  EXPECT_EQ(full->resources_size(), 4);  // 2 hosts, 2 clusters
}

TEST_F(SnapshotServerTest, PublishedClustersPatchTheLastStateAsAFullPublishWould) {
  StartServer();
  PublishAndWait(MakeSnapshot(8080));
  auto proxy = ConnectAndAck("proxy-a");

  sluice::v1::Snapshot whole = MakeSnapshot(8081);
  const std::string before = server_->current_version();
  server_->PublishClusters({whole.clusters(0)});
  ASSERT_TRUE(WaitFor([&] { return server_->current_version() != before; }));
  auto delta = proxy->Next();
  ASSERT_TRUE(delta.has_value());
  ASSERT_EQ(delta->resources_size(), 1);
  EXPECT_EQ(delta->resources(0).cluster().endpoints(0).port(), 8081u);
  // Same state, same version as publishing the whole snapshot.
  const std::string patched = server_->current_version();
  EXPECT_EQ(delta->version(), patched);
  proxy->Ack(*delta);
  server_->Publish(whole);
  EXPECT_FALSE(proxy->Next(300ms).has_value()) << "the full publish of the same state must push nothing";
  EXPECT_EQ(server_->current_version(), patched);
}

TEST_F(SnapshotServerTest, RemovedVirtualHostArrivesAsRemovedRef) {
  StartServer();
  PublishAndWait(MakeSnapshot(8080, /*with_api_host=*/true));
  auto proxy = ConnectAndAck("proxy-a");

  PublishAndWait(MakeSnapshot(8080, /*with_api_host=*/false));
  auto delta = proxy->Next();
  ASSERT_TRUE(delta.has_value());
  EXPECT_FALSE(delta->full_state());
  EXPECT_EQ(delta->resources_size(), 0);
  ASSERT_EQ(delta->removed_size(), 1);
  EXPECT_EQ(delta->removed(0).type(), sluice::v1::VIRTUAL_HOST);
  EXPECT_EQ(delta->removed(0).name(), "api.example");
}

TEST_F(SnapshotServerTest, IdenticalPublishSendsNothing) {
  StartServer();
  const std::string version = PublishAndWait(MakeSnapshot());
  auto proxy = ConnectAndAck("proxy-a");

  sluice::v1::Snapshot same = MakeSnapshot();
  same.mutable_clusters()->SwapElements(0, 1);  // order does not matter either
  server_->Publish(same);
  EXPECT_FALSE(proxy->Next(300ms).has_value());
  EXPECT_EQ(server_->current_version(), version);
}

TEST_F(SnapshotServerTest, AckIsRecordedInNodes) {
  StartServer();
  const std::string version = PublishAndWait(MakeSnapshot());
  auto proxy = ConnectAndAck("proxy-a");
  ASSERT_TRUE(WaitFor([&] {
    auto node = Node("proxy-a");
    return node && node->applied_version == version;
  }));
  auto node = Node("proxy-a");
  EXPECT_TRUE(node->connected);
  EXPECT_TRUE(node->last_error.empty());
  EXPECT_NE(node->peer.find("127.0.0.1"), std::string::npos);
  EXPECT_NE(server_->NodesJson().find("\"proxy-a\""), std::string::npos);

  proxy.reset();
  EXPECT_TRUE(WaitFor([&] { return !Node("proxy-a")->connected; }));
}

TEST_F(SnapshotServerTest, PartialAckShowsRejectedResourcesUntilACleanAck) {
  StartServer();
  PublishAndWait(MakeSnapshot());
  RawProxy proxy(server_->bound_port(), "proxy-p");
  auto full = proxy.Next();
  ASSERT_TRUE(full.has_value());
  proxy.PartialAck(*full, "shop/bad-cert", "private key does not match the certificate");
  ASSERT_TRUE(WaitFor([&] {
    auto node = Node("proxy-p");
    return node && node->applied_version == full->version() && !node->rejected_resources.empty();
  }));
  auto node = Node("proxy-p");
  ASSERT_EQ(node->rejected_resources.size(), 1u);
  EXPECT_EQ(node->rejected_resources[0].type, "CERTIFICATE");
  EXPECT_EQ(node->rejected_resources[0].name, "shop/bad-cert");
  EXPECT_EQ(node->rejected_resources[0].error, "private key does not match the certificate");
  // What the /nodes admin page serves.
  nlohmann::json page = nlohmann::json::parse(server_->NodesJson());
  ASSERT_EQ(page["nodes"].size(), 1u);
  EXPECT_EQ(page["nodes"][0]["rejected_resources"],
            nlohmann::json::parse(R"([{"type": "CERTIFICATE", "name": "shop/bad-cert",
                                       "error": "private key does not match the certificate"}])"));

  // The next version is ACKed without rejections: the list empties.
  server_->Publish(MakeSnapshot(/*web_port=*/8081));
  auto delta = proxy.Next();
  ASSERT_TRUE(delta.has_value());
  proxy.Ack(*delta);
  EXPECT_TRUE(WaitFor([&] {
    auto acked = Node("proxy-p");
    return acked && acked->applied_version == delta->version() && acked->rejected_resources.empty();
  }));
  EXPECT_EQ(nlohmann::json::parse(server_->NodesJson())["nodes"][0]["rejected_resources"], nlohmann::json::array());
}

TEST_F(SnapshotServerTest, NackIsRecordedNotRetriedAndTheNextDeltaIsAgainstTheLastAck) {
  StartServer();
  const std::string v1 = PublishAndWait(MakeSnapshot(8080));
  auto proxy = ConnectAndAck("proxy-a");

  const std::string v2 = PublishAndWait(MakeSnapshot(8081));
  auto rejected = proxy->Next();
  ASSERT_TRUE(rejected.has_value());
  proxy->Nack(*rejected, "port 8081 is cursed");

  ASSERT_TRUE(WaitFor([&] { return Node("proxy-a")->last_error == "port 8081 is cursed"; }));
  EXPECT_EQ(Node("proxy-a")->last_nacked_version, v2);
  EXPECT_EQ(Node("proxy-a")->applied_version, v1);
  EXPECT_FALSE(proxy->Next(300ms).has_value()) << "a NACKed version must not be resent";

  // The next change is computed against v1 (what the proxy holds), so it
  // carries the web cluster again, plus the removal.
  const std::string v3 = PublishAndWait(MakeSnapshot(8082, /*with_api_host=*/false));
  auto next = proxy->Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_FALSE(next->full_state());
  EXPECT_EQ(next->version(), v3);
  ASSERT_EQ(next->resources_size(), 1);
  EXPECT_EQ(next->resources(0).cluster().endpoints(0).port(), 8082u);
  ASSERT_EQ(next->removed_size(), 1);
  EXPECT_EQ(next->removed(0).name(), "api.example");
}

TEST_F(SnapshotServerTest, NackedFullStateIsFollowedByAFullStateAgain) {
  StartServer();
  PublishAndWait(MakeSnapshot(8080));
  RawProxy proxy(server_->bound_port(), "proxy-a");
  auto first = proxy.Next();
  ASSERT_TRUE(first.has_value());
  proxy.Nack(*first, "nope");

  PublishAndWait(MakeSnapshot(8081));
  auto second = proxy.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->full_state()) << "nothing was ACKed on this stream yet";
  EXPECT_EQ(second->resources_size(), 4);
}

TEST_F(SnapshotServerTest, AtMostOneResponseOutstanding) {
  StartServer();
  PublishAndWait(MakeSnapshot(8080));
  auto proxy = ConnectAndAck("proxy-a");

  PublishAndWait(MakeSnapshot(8081));
  auto unanswered = proxy->Next();
  ASSERT_TRUE(unanswered.has_value());
  const std::string v3 = PublishAndWait(MakeSnapshot(8082));
  EXPECT_FALSE(proxy->Next(300ms).has_value());

  proxy->Ack(*unanswered);
  auto next = proxy->Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->version(), v3);
  EXPECT_NE(next->nonce(), unanswered->nonce());
  ASSERT_EQ(next->resources_size(), 1);
  EXPECT_EQ(next->resources(0).cluster().endpoints(0).port(), 8082u);
}

TEST_F(SnapshotServerTest, AnIsolatedChangeIsPushedWithoutWaitingForTheDebounce) {
  // A holdoff far longer than the wait below: only a leading-edge publish
  // can answer in time.
  StartServer(3s, 6s);
  PublishAndWait(MakeSnapshot(8000));
  auto proxy = ConnectAndAck("proxy-a");
  std::this_thread::sleep_for(3100ms);  // quiet for longer than the holdoff

  server_->Publish(MakeSnapshot(8001));
  auto response = proxy->Next(1500ms);
  ASSERT_TRUE(response.has_value()) << "a lone change must not wait for the 3 s holdoff";
  ASSERT_EQ(response->resources_size(), 1);
  EXPECT_EQ(response->resources(0).cluster().endpoints(0).port(), 8001u);
}

TEST_F(SnapshotServerTest, AChangeSoonAfterAPushWaitsOnlyForTheRestOfTheDebounce) {
  StartServer(1s, 5s);
  PublishAndWait(MakeSnapshot(8000));
  auto proxy = ConnectAndAck("proxy-a");
  std::this_thread::sleep_for(1100ms);  // quiet: the next publish is a leading edge
  server_->Publish(MakeSnapshot(8001));
  const auto pushed = std::chrono::steady_clock::now();
  auto first = proxy->Next(900ms);
  ASSERT_TRUE(first.has_value());
  proxy->Ack(*first);

  // 600 ms after that push: out 1 s after it (~400 ms from now), not 1 s
  // after this publish.
  std::this_thread::sleep_until(pushed + 600ms);
  const auto published = std::chrono::steady_clock::now();
  server_->Publish(MakeSnapshot(8002));
  auto second = proxy->Next(2s);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->resources(0).cluster().endpoints(0).port(), 8002u);
  EXPECT_LT(std::chrono::steady_clock::now() - published, 800ms);
  EXPECT_GE(std::chrono::steady_clock::now() - pushed, 950ms) << "at most one push per debounce";
}

TEST_F(SnapshotServerTest, DebounceCoalescesABurst) {
  StartServer(100ms, 500ms);
  PublishAndWait(MakeSnapshot(8000));
  auto proxy = ConnectAndAck("proxy-a");

  for (uint32_t i = 1; i <= 10; ++i) {
    server_->Publish(MakeSnapshot(8000 + i));
    std::this_thread::sleep_for(10ms);
  }
  // The first change of the burst goes out at once (leading edge), the
  // rest coalesce into the last state.
  std::vector<uint32_t> ports;
  while (ports.empty() || ports.back() != 8010u) {
    auto response = proxy->Next(2s);
    ASSERT_TRUE(response.has_value()) << "the burst's last state must arrive";
    ASSERT_EQ(response->resources_size(), 1);
    ports.push_back(response->resources(0).cluster().endpoints(0).port());
    proxy->Ack(*response);
    ASSERT_LE(ports.size(), 10u);
  }
  EXPECT_LE(ports.size(), 3u) << "10 publishes 10 ms apart must coalesce";
  EXPECT_FALSE(proxy->Next(400ms).has_value()) << "nothing after the burst's last state";
}

TEST_F(SnapshotServerTest, DebounceCapBoundsTheDelayOfASteadyTrickle) {
  StartServer(100ms, 300ms);
  PublishAndWait(MakeSnapshot(8000));
  auto proxy = ConnectAndAck("proxy-a");

  // A publish every 50 ms never leaves a 100 ms quiet gap; the cap must
  // still let a state out while the trickle goes on.
  const auto start = std::chrono::steady_clock::now();
  std::optional<StreamResponse> response;
  for (uint32_t i = 1; i <= 30 && !response; ++i) {
    server_->Publish(MakeSnapshot(8000 + i));
    response = proxy->Next(50ms);
  }
  ASSERT_TRUE(response.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST_F(SnapshotServerTest, ShutdownEndsOpenStreams) {
  StartServer();
  PublishAndWait(MakeSnapshot());
  auto proxy = ConnectAndAck("proxy-a");
  server_->Shutdown();
  EXPECT_TRUE(proxy->Ended(3s));
}

TEST_F(SnapshotServerTest, StartFailsWithTheAddressWhenThePortIsTaken) {
  StartServer();
  ServerOptions options;
  options.listen_address = "127.0.0.1:" + std::to_string(server_->bound_port());
  SnapshotServer second(options);
  const sluice::Status started = second.Start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.message().find(options.listen_address), std::string::npos);
}

}  // namespace
}  // namespace sluice::server

namespace sluice::server {
namespace {

TEST(SnapshotServerListenTest, LeadingColonMeansAllInterfaces) {
  ServerOptions options;
  options.listen_address = ":0";
  options.debounce = 1ms;
  options.debounce_cap = 5ms;
  SnapshotServer server(options);
  ASSERT_TRUE(server.Start().ok());
  server.Publish(MakeSnapshot());
  RawProxy proxy(server.bound_port(), "any-interface");  // dials 127.0.0.1
  auto full = proxy.Next();
  ASSERT_TRUE(full.has_value());
  EXPECT_TRUE(full->full_state());

  std::string version;
  const sluice::v1::Snapshot current = server.CurrentSnapshot(&version);
  EXPECT_EQ(version, full->version());
  EXPECT_EQ(current.virtual_hosts_size(), 2);
  EXPECT_EQ(current.clusters_size(), 2);
}

}  // namespace
}  // namespace sluice::server
