#include "controlplane/main/flags.h"

#include <gtest/gtest.h>

namespace sluice::controller {
namespace {

TEST(FlagsTest, DefaultsMatchTheDocumentedInterface) {
  auto flags = ParseFlags({});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->grpc_listen, "127.0.0.1:18000");
  EXPECT_EQ(flags->grpc_tls_reload, std::chrono::seconds(10));
  EXPECT_FALSE(flags->grpc_insecure);
  EXPECT_EQ(flags->admin_listen, "127.0.0.1:9902");
  EXPECT_EQ(flags->ingress_class_controller, "sluice.io/ingress-controller");
  EXPECT_TRUE(flags->watch_namespace.empty());
}

TEST(FlagsTest, SpaceAndEqualsFormsBothWork) {
  auto flags = ParseFlags({"--manifests", "deploy/examples", "--grpc-listen=127.0.0.1:0",
                           "--watch-namespace", "team-a", "--admin-listen=:9999"});
  ASSERT_TRUE(flags.ok()) << flags.status().message();
  EXPECT_EQ(flags->manifests_dir, "deploy/examples");
  EXPECT_EQ(flags->grpc_listen, "127.0.0.1:0");
  EXPECT_EQ(flags->watch_namespace, "team-a");
  EXPECT_EQ(flags->admin_listen, ":9999");
}

TEST(FlagsTest, UnknownFlagIsAnError) {
  auto flags = ParseFlags({"--manifest", "x"});
  ASSERT_FALSE(flags.ok());
  EXPECT_EQ(flags.status().message(), "unknown flag --manifest (see --help)");
}

TEST(FlagsTest, MissingValueIsAnError) {
  auto at_end = ParseFlags({"--manifests"});
  ASSERT_FALSE(at_end.ok());
  EXPECT_EQ(at_end.status().message(), "--manifests needs a value (see --help)");
  auto followed_by_flag = ParseFlags({"--grpc-listen", "--manifests", "x"});
  EXPECT_FALSE(followed_by_flag.ok());
}

TEST(FlagsTest, PositionalArgumentsAndBothSourcesAreErrors) {
  EXPECT_FALSE(ParseFlags({"deploy/examples"}).ok());
  EXPECT_FALSE(ParseFlags({"--manifests", "a", "--kubeconfig", "b"}).ok());
}

TEST(FlagsTest, HelpAndVersion) {
  auto flags = ParseFlags({"--help", "--version"});
  ASSERT_TRUE(flags.ok());
  EXPECT_TRUE(flags->help);
  EXPECT_TRUE(flags->version);
  EXPECT_NE(UsageText().find("--grpc-listen"), std::string::npos);
}

TEST(FlagsTest, KubernetesModeFlagsAsTheHelmChartPassesThem) {
  auto flags = ParseFlags({"--ingress-class-controller=sluice.io/ingress-controller", "--grpc-listen=:18000",
                           "--admin-listen=0.0.0.0:9902", "--election-id=sluice-leader",
                           "--publish-service=sluice/sluice-proxy", "--watch-namespace=team-a",
                           "--grpc-tls-cert=/etc/sluice/snapshot-tls/tls.crt",
                           "--grpc-tls-key=/etc/sluice/snapshot-tls/tls.key",
                           "--grpc-client-ca=/etc/sluice/snapshot-tls/ca.crt",
                           "--grpc-client-identity=sluice-proxy.sluice.sluice.internal"});
  ASSERT_TRUE(flags.ok()) << flags.status().message();
  EXPECT_TRUE(flags->manifests_dir.empty());  // in-cluster
  EXPECT_EQ(flags->grpc_client_ca, "/etc/sluice/snapshot-tls/ca.crt");
  EXPECT_EQ(flags->grpc_client_identity, "sluice-proxy.sluice.sluice.internal");
  EXPECT_EQ(flags->election_id, "sluice-leader");
  EXPECT_EQ(flags->publish_service, "sluice/sluice-proxy");
  EXPECT_EQ(flags->lease_duration, std::chrono::seconds(15));
  EXPECT_EQ(flags->renew_deadline, std::chrono::seconds(10));
  EXPECT_EQ(flags->retry_period, std::chrono::seconds(2));

  auto defaults = ParseFlags({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->election_id, "sluice-controller-leader");
  EXPECT_TRUE(defaults->election_namespace.empty());
}

TEST(FlagsTest, PublishStatusAddressesAndLeaseTimings) {
  auto flags = ParseFlags({"--kubeconfig", "kc", "--publish-status-address", "10.0.0.1, lb.example.com,",
                           "--lease-duration=3s", "--renew-deadline", "2000ms", "--retry-period=0.5",
                           "--election-namespace", "ops"});
  ASSERT_TRUE(flags.ok()) << flags.status().message();
  EXPECT_EQ(flags->publish_status_addresses, (std::vector<std::string>{"10.0.0.1", "lb.example.com"}));
  EXPECT_EQ(flags->lease_duration, std::chrono::seconds(3));
  EXPECT_EQ(flags->renew_deadline, std::chrono::seconds(2));
  EXPECT_EQ(flags->retry_period, std::chrono::milliseconds(500));
  EXPECT_EQ(flags->election_namespace, "ops");
}

TEST(FlagsTest, BadKubernetesModeFlagsAreOneLineErrors) {
  EXPECT_EQ(ParseFlags({"--publish-service=just-a-name"}).status().message(),
            "--publish-service must be NAMESPACE/NAME, got \"just-a-name\"");
  EXPECT_EQ(ParseFlags({"--lease-duration=soon"}).status().message(),
            "--lease-duration: \"soon\" is not a duration (e.g. 15s, 500ms, 1m)");
  EXPECT_EQ(ParseFlags({"--lease-duration=5s"}).status().message(),
            "--renew-deadline must be shorter than --lease-duration");
  EXPECT_EQ(ParseFlags({"--retry-period=10s"}).status().message(),
            "--retry-period must be shorter than --renew-deadline");
  EXPECT_EQ(ParseDuration("1m").value(), std::chrono::minutes(1));
  EXPECT_FALSE(ParseDuration("-1s").ok());
  EXPECT_FALSE(ParseDuration("0").ok());
}

TEST(FlagsTest, PlaintextSnapshotStreamOnlyOnLoopbackOrWhenAskedFor) {
  EXPECT_TRUE(ParseFlags({"--grpc-listen=127.0.0.1:18000"}).ok());
  EXPECT_TRUE(ParseFlags({"--grpc-listen=[::1]:18000"}).ok());
  const auto everywhere = ParseFlags({"--grpc-listen=:18000"});
  ASSERT_FALSE(everywhere.ok());
  EXPECT_NE(everywhere.status().message().find("--grpc-listen :18000 is not a loopback address"), std::string::npos)
      << everywhere.status().message();
  EXPECT_FALSE(ParseFlags({"--grpc-listen=10.0.0.7:18000"}).ok());
  auto insecure = ParseFlags({"--grpc-listen=:18000", "--grpc-insecure"});
  ASSERT_TRUE(insecure.ok()) << insecure.status().message();
  EXPECT_TRUE(insecure->grpc_insecure);
}

TEST(FlagsTest, MutualTlsFlagsGoTogether) {
  const std::vector<std::string> tls = {"--grpc-listen=:18000", "--grpc-tls-cert=c", "--grpc-tls-key=k",
                                        "--grpc-client-ca=ca", "--grpc-client-identity=spiffe://sluice/x/proxy",
                                        "--grpc-tls-reload=2s"};
  auto complete = ParseFlags(tls);
  ASSERT_TRUE(complete.ok()) << complete.status().message();
  EXPECT_EQ(complete->grpc_tls_reload, std::chrono::seconds(2));

  EXPECT_EQ(ParseFlags({"--grpc-listen=:18000", "--grpc-tls-cert=c", "--grpc-tls-key=k"}).status().message(),
            "--grpc-tls-cert, --grpc-tls-key and --grpc-client-ca go together");
  EXPECT_NE(ParseFlags({"--grpc-tls-cert=c", "--grpc-tls-key=k", "--grpc-client-ca=ca"})
                .status()
                .message()
                .find("--grpc-client-identity is needed"),
            std::string::npos);
  std::vector<std::string> contradictory = tls;
  contradictory.push_back("--grpc-insecure");
  EXPECT_EQ(ParseFlags(contradictory).status().message(), "--grpc-insecure contradicts --grpc-tls-cert; choose one");
  EXPECT_FALSE(ParseFlags({"--grpc-client-identity=x"}).ok());
}

}  // namespace
}  // namespace sluice::controller
