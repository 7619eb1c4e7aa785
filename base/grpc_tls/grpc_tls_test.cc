#include "base/grpc_tls/grpc_tls.h"

#include <gtest/gtest.h>

#include "test/support/certificate.h"
#include "test/support/process.h"

namespace sluice::grpc_tls {
namespace {

TEST(IsLoopbackAddressTest, OnlyAddressesThisMachineAloneCanReach) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:18000"));
  EXPECT_TRUE(IsLoopbackAddress("127.3.4.5:1"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:18000"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:18000"));
  EXPECT_FALSE(IsLoopbackAddress(":18000"));  // all interfaces
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:18000"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:18000"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.7:18000"));
  EXPECT_FALSE(IsLoopbackAddress("sluice-controller.sluice.svc:18000"));
  EXPECT_FALSE(IsLoopbackAddress("128.0.0.1:18000"));
  // gRPC's address-list targets (two controller replicas): all or nothing.
  EXPECT_TRUE(IsLoopbackAddress("ipv4:127.0.0.1:1,127.0.0.2:2"));
  EXPECT_TRUE(IsLoopbackAddress("ipv6:[::1]:1"));
  EXPECT_FALSE(IsLoopbackAddress("ipv4:127.0.0.1:1,10.0.0.7:2"));
  EXPECT_FALSE(IsLoopbackAddress("ipv4:"));
  EXPECT_FALSE(IsLoopbackAddress("ipv4:127.0.0.1:1,"));
  EXPECT_FALSE(IsLoopbackAddress("dns:///127.0.0.1:1"));
}

class CheckFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("grpc_tls");
    ca_ = testing::MakeCertificateAuthority(dir_, "ca", "test-ca");
    ASSERT_FALSE(ca_.cert.empty()) << ca_.openssl_output;
    leaf_ = testing::MakeSignedCertificate(dir_, "leaf", dir_, "ca", "leaf", {"DNS:leaf.test"});
    ASSERT_FALSE(leaf_.cert.empty()) << leaf_.openssl_output;
    other_ = testing::MakeSignedCertificate(dir_, "other", dir_, "ca", "other", {"DNS:other.test"});
    ASSERT_FALSE(other_.cert.empty()) << other_.openssl_output;
  }
  std::string dir_;
  testing::Pem ca_, leaf_, other_;
};

TEST_F(CheckFilesTest, AcceptsAMatchingPairAndABundle) {
  EXPECT_TRUE(CheckFiles({dir_ + "/leaf.crt", dir_ + "/leaf.key", dir_ + "/ca.crt"}).ok());
}

TEST_F(CheckFilesTest, NamesTheFileThatIsWrong) {
  const Status missing = CheckFiles({dir_ + "/nope.crt", dir_ + "/leaf.key", dir_ + "/ca.crt"});
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("nope.crt: cannot read"), std::string::npos) << missing.message();

  const Status mismatch = CheckFiles({dir_ + "/leaf.crt", dir_ + "/other.key", dir_ + "/ca.crt"});
  EXPECT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.message().find("other.key is not the key of the certificate in"), std::string::npos)
      << mismatch.message();

  const Status key_as_ca = CheckFiles({dir_ + "/leaf.crt", dir_ + "/leaf.key", dir_ + "/leaf.key"});
  EXPECT_FALSE(key_as_ca.ok());
  EXPECT_NE(key_as_ca.message().find("leaf.key: no PEM certificate"), std::string::npos) << key_as_ca.message();

  EXPECT_FALSE(CheckFiles({dir_ + "/leaf.crt", "", dir_ + "/ca.crt"}).ok());
}

}  // namespace
}  // namespace sluice::grpc_tls
