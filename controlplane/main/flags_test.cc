#include "controlplane/main/flags.h"

#include <gtest/gtest.h>

namespace sluice::controller {
namespace {

TEST(FlagsTest, DefaultsMatchTheDocumentedInterface) {
  auto flags = ParseFlags({});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->grpc_listen, ":18000");
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

}  // namespace
}  // namespace sluice::controller
