// The snapshot stream between the real sluice-controller binary and the
// proxy's SnapshotClient: full state first, a delta when a manifest changes,
// and after the controller is SIGKILLed the proxy keeps its state and takes a
// full state from the restarted controller.
#include <gtest/gtest.h>
#include <signal.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "dataplane/discovery/snapshot_client.h"
#include "test/support/http_client.h"
#include "test/support/process.h"
#include "test/support/snapshot_stream.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

class SnapshotProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = testing::RunfilePath("controlplane/main/sluice-controller");
    dir_ = testing::MakeTempDir("manifests");
    ASSERT_FALSE(dir_.empty());
    log_ = dir_ + "/../controller.log";
    grpc_port_ = testing::FreePort();
    admin_port_ = testing::FreePort();
  }

  std::unique_ptr<testing::Process> StartController() {
    auto process = std::make_unique<testing::Process>(
        std::vector<std::string>{binary_, "--manifests", dir_, "--grpc-listen",
                                 "127.0.0.1:" + std::to_string(grpc_port_), "--admin-listen",
                                 "127.0.0.1:" + std::to_string(admin_port_)},
        log_);
    EXPECT_TRUE(testing::WaitForPort(grpc_port_, 10s)) << testing::ReadFile(log_);
    return process;
  }

  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- controller log ---\n%s\n", testing::ReadFile(log_).c_str());
  }

  std::string binary_, dir_, log_;
  int grpc_port_ = 0, admin_port_ = 0;
};

TEST_F(SnapshotProtocolTest, FullStateDeltaAndRecoveryFromAControllerCrash) {
  testing::WriteFileAtomically(dir_ + "/demo.yaml", testing::OneEndpointManifests("10.1.0.1"));
  auto controller = StartController();

  testing::ServingState serving;
  discovery::ClientOptions options;
  options.controller_address = "127.0.0.1:" + std::to_string(grpc_port_);
  options.node_id = "integration-proxy";
  options.initial_backoff = 50ms;
  options.max_backoff = 400ms;
  discovery::SnapshotClient client(options, serving.Apply());
  client.Start();

  // 1. Full state first.
  ASSERT_TRUE(WaitFor([&] { return serving.EndpointAddress() == "10.1.0.1"; }, 10s));
  EXPECT_EQ(client.stats().full_states, 1u);
  EXPECT_EQ(client.stats().deltas, 0u);
  const std::string first_version = client.applied_version();
  EXPECT_EQ(first_version.size(), 16u);

  // 2. Edit the manifest: a delta within a second.
  const auto edited_at = std::chrono::steady_clock::now();
  testing::WriteFileAtomically(dir_ + "/demo.yaml", testing::OneEndpointManifests("10.1.0.2"));
  ASSERT_TRUE(WaitFor([&] { return serving.EndpointAddress() == "10.1.0.2"; }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - edited_at, 1s);
  EXPECT_EQ(client.stats().deltas, 1u);
  EXPECT_EQ(client.stats().full_states, 1u);
  const std::string edited_version = client.applied_version();
  EXPECT_NE(edited_version, first_version);

  // The controller reports the node on that version.
  ASSERT_TRUE(WaitFor(
      [&] {
        testing::Response nodes = testing::Fetch(admin_port_, "127.0.0.1", "/nodes");
        if (nodes.status != 200) return false;
        const auto body = nlohmann::json::parse(nodes.body, nullptr, false);
        return !body.is_discarded() && body["nodes"].size() == 1 &&
               body["nodes"][0]["node"] == "integration-proxy" &&
               body["nodes"][0]["applied_version"] == edited_version;
      },
      3s));

  // 3. SIGKILL: the proxy notices, keeps serving what it had.
  controller->Kill();
  ASSERT_TRUE(WaitFor([&] { return !client.connected(); }, 5s));
  const int applies_before_restart = serving.applies();
  std::this_thread::sleep_for(500ms);  // several failed reconnects
  EXPECT_EQ(serving.EndpointAddress(), "10.1.0.2");
  EXPECT_EQ(client.applied_version(), edited_version);
  EXPECT_EQ(serving.applies(), applies_before_restart);

  // 4. Restart: the client reconnects and gets a full state. Versions are
  // content addresses, so the same manifests give the same version.
  controller = StartController();
  ASSERT_TRUE(WaitFor([&] { return client.stats().full_states == 2; }, 10s));
  EXPECT_TRUE(WaitFor([&] { return client.connected(); }, 1s));
  EXPECT_EQ(client.applied_version(), edited_version);
  EXPECT_EQ(serving.EndpointAddress(), "10.1.0.2");

  // 5. SIGTERM: graceful exit 0.
  controller->Signal(SIGTERM);
  EXPECT_EQ(controller->Wait(10s), 0);
  client.Stop();
}

}  // namespace
}  // namespace sluice
