#include "controlplane/kube/credentials.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace sluice::kube {
namespace {

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("credentials_test_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  std::filesystem::path dir_;
};

// "-----BEGIN CERTIFICATE-----\nCA\n" base64-encoded.
constexpr const char* kCaPem = "-----BEGIN CERTIFICATE-----\nCA\n";
constexpr const char* kCaData = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg==";

TEST(Base64Test, DecodesWithAndWithoutPaddingAndNewlines) {
  EXPECT_EQ(*DecodeBase64("aGVsbG8="), "hello");
  EXPECT_EQ(*DecodeBase64("aGVs\nbG8"), "hello");
  EXPECT_EQ(*DecodeBase64(kCaData), kCaPem);
  EXPECT_FALSE(DecodeBase64("not*base64").ok());
}

TEST_F(CredentialsTest, KubeconfigWithInlineDataAndToken) {
  std::string path = Write("config", std::string(R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: other
  cluster: {server: https://wrong:1}
- name: dev-cluster
  cluster:
    server: https://10.1.2.3:6443/
    certificate-authority-data: )") + kCaData + R"(
users:
- name: dev-user
  user:
    token: abc123
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: team-a}
)");
  Result<Credentials> credentials = LoadKubeconfig(path);
  ASSERT_TRUE(credentials.ok()) << credentials.status().message();
  EXPECT_EQ(credentials->server, "https://10.1.2.3:6443");
  EXPECT_EQ(credentials->ca_pem, kCaPem);
  EXPECT_EQ(credentials->token, "abc123");
  EXPECT_FALSE(credentials->insecure_skip_tls_verify);
  EXPECT_EQ(credentials->default_namespace, "team-a");
}

TEST_F(CredentialsTest, KubeconfigWithFilesRelativeToItsDirectoryAndInsecureFlag) {
  Write("ca.crt", "CA PEM");
  Write("client.crt", "CERT PEM");
  Write("client.key", "KEY PEM");
  Write("token", "file-token\n");
  std::string path = Write("config", R"(current-context: c
clusters:
- name: k
  cluster: {server: "http://127.0.0.1:8001", certificate-authority: ca.crt, insecure-skip-tls-verify: true}
users:
- name: u
  user: {client-certificate: client.crt, client-key: client.key, tokenFile: token}
contexts:
- name: c
  context: {cluster: k, user: u}
)");
  Result<Credentials> credentials = LoadKubeconfig(path);
  ASSERT_TRUE(credentials.ok()) << credentials.status().message();
  EXPECT_EQ(credentials->server, "http://127.0.0.1:8001");
  EXPECT_EQ(credentials->ca_pem, "CA PEM");
  EXPECT_EQ(credentials->client_cert_pem, "CERT PEM");
  EXPECT_EQ(credentials->client_key_pem, "KEY PEM");
  EXPECT_EQ(credentials->token_file, (dir_ / "token").string());
  EXPECT_TRUE(credentials->insecure_skip_tls_verify);
  TokenSource tokens(credentials->token, credentials->token_file);
  EXPECT_EQ(tokens.Get(), "file-token");
}

TEST_F(CredentialsTest, KubeconfigErrorsNameWhatIsMissing) {
  EXPECT_NE(LoadKubeconfig((dir_ / "absent").string()).status().message().find("cannot read"), std::string::npos);
  std::string no_context = Write("a", "clusters: []\n");
  EXPECT_NE(LoadKubeconfig(no_context).status().message().find("no current-context"), std::string::npos);
  std::string bad_cluster = Write("b", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: x}\n");
  EXPECT_NE(LoadKubeconfig(bad_cluster).status().message().find("cluster \"x\" not found"), std::string::npos);
  std::string no_key = Write("c", R"(current-context: c
clusters: [{name: k, cluster: {server: "https://a:1"}}]
users: [{name: u, user: {client-certificate-data: Q0VSVA==}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)");
  EXPECT_NE(LoadKubeconfig(no_key).status().message().find("client key"), std::string::npos);
}

TEST_F(CredentialsTest, InClusterReadsTheServiceAccountDirectory) {
  Write("token", "sa-token\n");
  Write("ca.crt", "CLUSTER CA");
  Write("namespace", "sluice\n");
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}};
  auto getenv = [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  Result<Credentials> credentials = LoadInCluster(dir_.string(), getenv);
  ASSERT_TRUE(credentials.ok()) << credentials.status().message();
  EXPECT_EQ(credentials->server, "https://10.96.0.1:443");
  EXPECT_EQ(credentials->ca_pem, "CLUSTER CA");
  EXPECT_EQ(credentials->default_namespace, "sluice");
  EXPECT_EQ(TokenSource(credentials->token, credentials->token_file).Get(), "sa-token");

  env.erase("KUBERNETES_SERVICE_HOST");
  Result<Credentials> outside = LoadInCluster(dir_.string(), getenv);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("--kubeconfig"), std::string::npos);
}

TEST_F(CredentialsTest, TokenFileIsReReadAfterInvalidateOrRefreshPeriod) {
  std::string file = Write("token", "one");
  TokenSource tokens("", file, std::chrono::seconds(3600));
  EXPECT_EQ(tokens.Get(), "one");
  Write("token", "two");
  EXPECT_EQ(tokens.Get(), "one");  // cached within the refresh period
  tokens.Invalidate();             // what a 401 does
  EXPECT_EQ(tokens.Get(), "two");

  TokenSource always("", file, std::chrono::seconds(0));
  Write("token", "three");
  EXPECT_EQ(always.Get(), "three");
}

}  // namespace
}  // namespace sluice::kube
