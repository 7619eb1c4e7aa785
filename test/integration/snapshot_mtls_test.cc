// Mutual TLS on the snapshot stream, against the real sluice-controller
// binary (folder mode with TLS flags) and the proxy's SnapshotClient (the
// code sluice-proxy runs), on 127.0.0.1 with certificates made by openssl at
// test time:
//   - only a client certificate of the installation's CA that names the
//     proxy identity gets a snapshot: plaintext, no certificate, another CA
//     and another identity are all refused;
//   - the proxy refuses a controller whose certificate is from another CA or
//     for another name;
//   - certificates and CAs rotated (both ends, a new CA) while snapshots are
//     being pushed: every change arrives, the open stream is never dropped,
//     new handshakes use the new files, and after a controller restart the
//     proxy reconnects with its own rotated files;
//   - plaintext is refused off loopback unless --grpc-insecure /
//     --controller-insecure, and said on start when it is used;
//   - the sluice-proxy binary with its TLS flags gets ready.
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "base/grpc_tls/grpc_tls.h"
#include "dataplane/discovery/snapshot_client.h"
#include "test/support/certificate.h"
#include "test/support/http_client.h"
#include "test/support/process.h"
#include "test/support/snapshot_stream.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;

constexpr const char* kProxyIdentity = "spiffe://sluice/test/proxy";
constexpr const char* kControllerName = "controller.sluice.test";

// A directory laid out like a Kubernetes Secret volume: tls.crt, tls.key and
// ca.crt are symlinks into ..data, itself a symlink to a timestamped
// directory; an update writes a new directory and renames a new ..data
// over the old one, so a reader sees the old files or the new, never a mix.
class SecretVolume {
 public:
  explicit SecretVolume(std::string dir) : dir_(std::move(dir)) { std::filesystem::create_directories(dir_); }

  void Write(const std::string& cert, const std::string& key, const std::string& ca) {
    const std::string version = "..v" + std::to_string(++generation_);
    std::filesystem::create_directories(dir_ + "/" + version);
    testing::WriteFileAtomically(dir_ + "/" + version + "/tls.crt", cert);
    testing::WriteFileAtomically(dir_ + "/" + version + "/tls.key", key);
    testing::WriteFileAtomically(dir_ + "/" + version + "/ca.crt", ca);
    std::filesystem::create_symlink(version, dir_ + "/..data_tmp");
    std::filesystem::rename(dir_ + "/..data_tmp", dir_ + "/..data");
    for (const char* file : {"tls.crt", "tls.key", "ca.crt"}) {
      if (!std::filesystem::is_symlink(dir_ + "/" + file)) {
        std::filesystem::create_symlink(std::string("..data/") + file, dir_ + "/" + file);
      }
    }
  }
  grpc_tls::TlsFiles Files() const { return {dir_ + "/tls.crt", dir_ + "/tls.key", dir_ + "/ca.crt"}; }

 private:
  std::string dir_;
  int generation_ = 0;
};

class SnapshotMtlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("mtls");
    ASSERT_FALSE(dir_.empty());
    manifests_ = dir_ + "/manifests";
    std::filesystem::create_directories(manifests_);
    testing::WriteFileAtomically(manifests_ + "/demo.yaml", testing::OneEndpointManifests("10.1.0.1"));
    log_ = dir_ + "/controller.log";
    grpc_port_ = testing::FreePort();
    admin_port_ = testing::FreePort();

    // The installation's CA and its two certificates; then the impostors.
    MakeCa("ca", "sluice-test-ca");
    MakeCa("other-ca", "other-ca");
    MakeLeaf("controller", "ca", "sluice-controller", {std::string("DNS:") + kControllerName});
    MakeLeaf("proxy", "ca", "sluice-proxy", {std::string("URI:") + kProxyIdentity});
    MakeLeaf("intruder", "ca", "intruder", {"URI:spiffe://sluice/test/intruder", "DNS:intruder.test"});
    MakeLeaf("foreign-proxy", "other-ca", "sluice-proxy", {std::string("URI:") + kProxyIdentity});
    MakeLeaf("foreign-controller", "other-ca", "sluice-controller", {std::string("DNS:") + kControllerName});
  }

  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- controller log ---\n%s\n", testing::ReadFile(log_).c_str());
  }

  void MakeCa(const std::string& file, const std::string& name) {
    testing::Pem ca = testing::MakeCertificateAuthority(dir_, file, name);
    ASSERT_FALSE(ca.cert.empty()) << ca.openssl_output;
  }
  void MakeLeaf(const std::string& file, const std::string& ca, const std::string& name,
                const std::vector<std::string>& alt_names) {
    testing::Pem leaf = testing::MakeSignedCertificate(dir_, file, dir_, ca, name, alt_names);
    ASSERT_FALSE(leaf.cert.empty()) << leaf.openssl_output;
  }
  std::string File(const std::string& name) const { return dir_ + "/" + name; }
  std::string Pem(const std::string& name) const { return testing::ReadFile(File(name)); }

  // The controller with mutual TLS from `files` (its certificate, and the CA
  // client certificates must chain to), re-read every second.
  std::unique_ptr<testing::Process> StartController(const grpc_tls::TlsFiles& files) {
    auto process = std::make_unique<testing::Process>(
        std::vector<std::string>{testing::RunfilePath("controlplane/main/sluice-controller"), "--manifests",
                                 manifests_, "--grpc-listen", "127.0.0.1:" + std::to_string(grpc_port_),
                                 "--admin-listen", "127.0.0.1:" + std::to_string(admin_port_), "--grpc-tls-cert",
                                 files.cert, "--grpc-tls-key", files.key, "--grpc-client-ca", files.ca,
                                 "--grpc-client-identity", kProxyIdentity, "--grpc-tls-reload", "1s"},
        log_);
    EXPECT_TRUE(testing::WaitForPort(grpc_port_, 10s)) << testing::ReadFile(log_);
    return process;
  }
  std::unique_ptr<testing::Process> StartController() {
    return StartController({File("controller.crt"), File("controller.key"), File("ca.crt")});
  }

  discovery::ClientOptions Options(std::shared_ptr<grpc::ChannelCredentials> credentials,
                                   const std::string& node_id) const {
    discovery::ClientOptions options;
    options.controller_address = "127.0.0.1:" + std::to_string(grpc_port_);
    options.node_id = node_id;
    options.credentials = std::move(credentials);
    options.server_name = kControllerName;
    options.initial_backoff = 20ms;
    options.max_backoff = 200ms;
    return options;
  }
  discovery::ClientOptions MutualTls(const grpc_tls::TlsFiles& files, const std::string& node_id) const {
    return Options(grpc_tls::MutualTlsChannelCredentials(files, 1s), node_id);
  }
  discovery::ClientOptions MutualTls(const std::string& cert, const std::string& ca,
                                     const std::string& node_id) const {
    return MutualTls({File(cert + ".crt"), File(cert + ".key"), File(ca + ".crt")}, node_id);
  }

  // The node ids the controller lists on /nodes.
  std::vector<std::string> NodeIds() const {
    std::vector<std::string> ids;
    const testing::Response nodes = testing::Fetch(admin_port_, "127.0.0.1", "/nodes");
    const auto body = nlohmann::json::parse(nodes.body, nullptr, false);
    if (nodes.status != 200 || body.is_discarded()) return {"(no /nodes answer)"};
    for (const auto& node : body["nodes"]) ids.push_back(node["node"]);
    return ids;
  }
  // The controller's current version and the version `node` last ACKed.
  std::pair<std::string, std::string> Versions(const std::string& node) const {
    const testing::Response nodes = testing::Fetch(admin_port_, "127.0.0.1", "/nodes");
    const auto body = nlohmann::json::parse(nodes.body, nullptr, false);
    if (nodes.status != 200 || body.is_discarded()) return {};
    for (const auto& entry : body["nodes"]) {
      if (entry["node"] == node) return {body["version"], entry["applied_version"]};
    }
    return {body["version"], ""};
  }

  // A client the controller must not serve: it tries (several connection
  // attempts, each refused) and never receives a snapshot.
  void ExpectRefused(discovery::ClientOptions options) {
    const std::string node = options.node_id;
    testing::ServingState serving;
    discovery::SnapshotClient client(std::move(options), serving.Apply());
    client.Start();
    ASSERT_TRUE(testing::WaitUntil([&] { return client.stats().streams_started >= 4; }, 20s));
    client.Stop();
    EXPECT_EQ(serving.applies(), 0) << node;
    EXPECT_EQ(client.stats().full_states, 0u) << node;
    EXPECT_EQ(client.applied_version(), "") << node;
    const std::vector<std::string> nodes = NodeIds();
    EXPECT_EQ(std::count(nodes.begin(), nodes.end(), node), 0) << node << " reached the stream";
  }

  // A client that must be served: it gets the state and ACKs it.
  void ExpectServed(discovery::ClientOptions options, const std::string& endpoint = "10.1.0.1") {
    const std::string node = options.node_id;
    testing::ServingState serving;
    discovery::SnapshotClient client(std::move(options), serving.Apply());
    client.Start();
    ASSERT_TRUE(testing::WaitUntil([&] { return serving.EndpointAddress() == endpoint; }, 20s)) << node;
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          auto [current, acked] = Versions(node);
          return !current.empty() && acked == current;
        },
        10s))
        << node << " never ACKed the controller's version";
    client.Stop();
  }

  std::string dir_, manifests_, log_;
  int grpc_port_ = 0, admin_port_ = 0;
};

TEST_F(SnapshotMtlsTest, TheInstallationsProxyCertificateGetsASnapshotAndAcksIt) {
  auto controller = StartController();
  ExpectServed(MutualTls("proxy", "ca", "good-proxy"));
  EXPECT_NE(testing::ReadFile(log_).find("snapshot stream uses mutual TLS"), std::string::npos);
}

TEST_F(SnapshotMtlsTest, PlaintextAndNoClientCertificateAreRefused) {
  auto controller = StartController();
  ExpectRefused(Options(grpc::InsecureChannelCredentials(), "plaintext-client"));
  // TLS that trusts the controller but shows no certificate of its own.
  grpc::SslCredentialsOptions server_only;
  server_only.pem_root_certs = Pem("ca.crt");
  ExpectRefused(Options(grpc::SslCredentials(server_only), "anonymous-client"));
  ExpectServed(MutualTls("proxy", "ca", "good-proxy"));  // the controller itself is fine
}

TEST_F(SnapshotMtlsTest, AClientCertificateFromAnotherCaIsRefused) {
  auto controller = StartController();
  // It names the proxy identity and trusts the real CA: only its issuer is wrong.
  ExpectRefused(MutualTls({File("foreign-proxy.crt"), File("foreign-proxy.key"), File("ca.crt")}, "foreign-proxy"));
  ExpectServed(MutualTls("proxy", "ca", "good-proxy"));
}

TEST_F(SnapshotMtlsTest, AClientCertificateOfTheCaWithoutTheProxyIdentityIsRefused) {
  auto controller = StartController();
  ExpectRefused(MutualTls("intruder", "ca", "intruder"));
  EXPECT_NE(testing::ReadFile(log_).find("does not name spiffe://sluice/test/proxy"), std::string::npos);
  ExpectServed(MutualTls("proxy", "ca", "good-proxy"));
}

TEST_F(SnapshotMtlsTest, TheProxyRefusesAControllerFromAnotherCaOrWithAnotherName) {
  {
    // The controller trusts our proxy, but its own certificate is foreign.
    auto controller = StartController({File("foreign-controller.crt"), File("foreign-controller.key"), File("ca.crt")});
    ExpectRefused(MutualTls("proxy", "ca", "proxy-facing-foreign-controller"));
    controller->Signal(SIGTERM);
    EXPECT_EQ(controller->Wait(10s), 0);
  }
  auto controller = StartController();
  discovery::ClientOptions elsewhere = MutualTls("proxy", "ca", "proxy-expecting-another-name");
  elsewhere.server_name = "elsewhere.sluice.test";
  ExpectRefused(std::move(elsewhere));
  ExpectServed(MutualTls("proxy", "ca", "good-proxy"));
}

// Both ends move to a new CA (new certificates, new bundles: the harshest
// rotation) in the middle of a stream of changes. The open stream carries on
// with the session it has (TLS does not re-check a peer after the
// handshake), so nothing is dropped and every change is delivered; new
// handshakes on the controller use the new files at once; and the proxy's
// own new files are what it presents when it next connects.
TEST_F(SnapshotMtlsTest, RotationUnderLoadLosesNoSnapshotAndKeepsTheStream) {
  MakeCa("new-ca", "sluice-test-ca-2");
  MakeLeaf("new-controller", "new-ca", "sluice-controller", {std::string("DNS:") + kControllerName});
  MakeLeaf("new-proxy", "new-ca", "sluice-proxy", {std::string("URI:") + kProxyIdentity});
  SecretVolume controller_volume(dir_ + "/controller-volume"), proxy_volume(dir_ + "/proxy-volume");
  controller_volume.Write(Pem("controller.crt"), Pem("controller.key"), Pem("ca.crt"));
  proxy_volume.Write(Pem("proxy.crt"), Pem("proxy.key"), Pem("ca.crt"));

  auto controller = StartController(controller_volume.Files());
  testing::ServingState serving;
  discovery::SnapshotClient client(MutualTls(proxy_volume.Files(), "rotating-proxy"), serving.Apply());
  client.Start();
  ASSERT_TRUE(testing::WaitUntil([&] { return serving.EndpointAddress() == "10.1.0.1"; }, 20s));

  // The load: one change after another, each waited for at the proxy, until
  // the rotation is over and at least kMinimumChanges went through.
  constexpr int kMinimumChanges = 20, kMaximumChanges = 400;
  std::atomic<int> delivered{0};
  std::atomic<bool> rotation_done{false}, lost{false};
  std::string lost_endpoint;
  std::thread pusher([&] {
    for (int i = 1; i <= kMaximumChanges && !(rotation_done && i > kMinimumChanges); ++i) {
      const std::string endpoint = "10.2." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
      testing::WriteFileAtomically(manifests_ + "/demo.yaml", testing::OneEndpointManifests(endpoint));
      if (!testing::WaitUntil([&] { return serving.EndpointAddress() == endpoint; }, 20s)) {
        lost_endpoint = endpoint;
        lost = true;
        return;
      }
      ++delivered;
    }
  });
  ASSERT_TRUE(testing::WaitUntil([&] { return delivered >= 5 || lost; }, 30s));

  controller_volume.Write(Pem("new-controller.crt"), Pem("new-controller.key"), Pem("new-ca.crt"));
  proxy_volume.Write(Pem("new-proxy.crt"), Pem("new-proxy.key"), Pem("new-ca.crt"));
  const int delivered_at_rotation = delivered;
  // New handshakes use the new files (the controller re-reads them within
  // its 1 s interval; no restart): a proxy of the new CA is served ...
  bool new_ca_served = false;
  {
    testing::ServingState probe_state;
    discovery::SnapshotClient probe(MutualTls("new-proxy", "new-ca", "new-ca-probe"), probe_state.Apply());
    probe.Start();
    new_ca_served = testing::WaitUntil([&] { return !probe_state.EndpointAddress().empty(); }, 20s);
  }
  // ... and one of the old CA no longer is, though its stream still runs.
  // (It trusts the new CA: the refusal is the controller's, not its own.)
  if (new_ca_served) {
    ExpectRefused(MutualTls({File("proxy.crt"), File("proxy.key"), File("new-ca.crt")}, "old-ca-probe"));
  }
  rotation_done = true;
  pusher.join();
  EXPECT_TRUE(new_ca_served) << "the controller never served a client of the new CA";
  ASSERT_FALSE(lost) << lost_endpoint << " never reached the proxy (" << delivered << " changes delivered)";
  EXPECT_GE(delivered, kMinimumChanges);
  EXPECT_GT(delivered, delivered_at_rotation) << "no change was pushed after the rotation";
  std::fprintf(stderr, "rotation under load: %d changes delivered, %d of them after the files were replaced\n",
               delivered.load(), delivered.load() - delivered_at_rotation);

  // The stream was never dropped: one stream, every response ACKed.
  EXPECT_EQ(client.stats().streams_started, 1u);
  EXPECT_EQ(client.stats().full_states, 1u);
  EXPECT_EQ(client.stats().nacks, 0u);
  EXPECT_TRUE(client.connected());
  // The proxy applied the last change before it sent the ACK: the
  // controller's /nodes may lag by that one message.
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        auto [current, acked] = Versions("rotating-proxy");
        return !current.empty() && acked == current;
      },
      10s))
      << "the last change was never ACKed";

  // A restarted controller has only the new CA: the proxy comes back with
  // its rotated certificate (the old one would be refused, see above) and
  // converges to the same state.
  const std::string endpoint = serving.EndpointAddress();
  controller->Signal(SIGTERM);
  EXPECT_EQ(controller->Wait(10s), 0);
  controller = StartController(controller_volume.Files());
  ASSERT_TRUE(testing::WaitUntil([&] { return client.stats().full_states == 2; }, 20s));
  EXPECT_EQ(client.stats().nacks, 0u);
  EXPECT_EQ(serving.EndpointAddress(), endpoint);
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        auto [now_current, now_acked] = Versions("rotating-proxy");
        return !now_current.empty() && now_acked == now_current;
      },
      10s));
  client.Stop();
}

TEST_F(SnapshotMtlsTest, PlaintextIsRefusedOffLoopbackUnlessAskedForAndAlwaysSaid) {
  const std::string controller_binary = testing::RunfilePath("controlplane/main/sluice-controller");
  const std::string admin = "127.0.0.1:" + std::to_string(admin_port_);
  {
    testing::Process refused({controller_binary, "--manifests", manifests_, "--grpc-listen",
                              "0.0.0.0:" + std::to_string(grpc_port_), "--admin-listen", admin},
                             log_);
    EXPECT_EQ(refused.Wait(10s), 2);
    EXPECT_NE(testing::ReadFile(log_).find("is not a loopback address"), std::string::npos);
  }
  {
    testing::Process loopback({controller_binary, "--manifests", manifests_, "--grpc-listen",
                               "127.0.0.1:" + std::to_string(grpc_port_), "--admin-listen", admin},
                              log_);
    ASSERT_TRUE(testing::WaitForPort(grpc_port_, 10s));
    EXPECT_NE(testing::ReadFile(log_).find("snapshot stream is plaintext, on loopback only"), std::string::npos);
    loopback.Signal(SIGTERM);
    EXPECT_EQ(loopback.Wait(10s), 0);
  }
  {
    testing::Process insecure({controller_binary, "--manifests", manifests_, "--grpc-listen",
                               "0.0.0.0:" + std::to_string(grpc_port_), "--admin-listen", admin, "--grpc-insecure"},
                              log_);
    ASSERT_TRUE(testing::WaitForPort(grpc_port_, 10s));
    EXPECT_NE(testing::ReadFile(log_).find("snapshot stream is PLAINTEXT on a non-loopback address"),
              std::string::npos);
    insecure.Signal(SIGTERM);
    EXPECT_EQ(insecure.Wait(10s), 0);
  }
  const std::string proxy_binary = testing::RunfilePath("dataplane/main/sluice-proxy");
  const std::string proxy_log = dir_ + "/proxy.log";
  testing::Process proxy({proxy_binary, "--controller", "10.0.0.7:18000", "--http-listen",
                          "127.0.0.1:" + std::to_string(testing::FreePort()), "--admin-listen",
                          "127.0.0.1:" + std::to_string(testing::FreePort())},
                         proxy_log);
  EXPECT_EQ(proxy.Wait(10s), 2);
  EXPECT_NE(testing::ReadFile(proxy_log).find("is not a loopback address"), std::string::npos)
      << testing::ReadFile(proxy_log);
}

TEST_F(SnapshotMtlsTest, TheProxyBinaryWithItsTlsFlagsGetsReady) {
  auto controller = StartController();
  const int proxy_admin = testing::FreePort();
  const std::string proxy_log = dir_ + "/proxy.log";
  testing::Process proxy(
      {testing::RunfilePath("dataplane/main/sluice-proxy"), "--controller", "127.0.0.1:" + std::to_string(grpc_port_),
       "--controller-tls-cert", File("proxy.crt"), "--controller-tls-key", File("proxy.key"), "--controller-ca",
       File("ca.crt"), "--controller-server-name", kControllerName, "--http-listen",
       "127.0.0.1:" + std::to_string(testing::FreePort()), "--admin-listen", "127.0.0.1:" + std::to_string(proxy_admin),
       "--node-id", "proxy-binary", "--workers", "1", "--access-log", "off"},
      proxy_log);
  EXPECT_TRUE(testing::WaitUntil(
      [&] { return testing::Fetch(proxy_admin, "127.0.0.1", "/readyz").status == 200; }, 20s))
      << testing::ReadFile(proxy_log);
  EXPECT_NE(testing::ReadFile(proxy_log).find("controller stream uses mutual TLS"), std::string::npos);
  const std::vector<std::string> nodes = NodeIds();
  EXPECT_EQ(std::count(nodes.begin(), nodes.end(), "proxy-binary"), 1);
}

}  // namespace
}  // namespace sluice
