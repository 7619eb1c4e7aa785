#include "dataplane/net/socket.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace sluice::net {
namespace {

TEST(AddressTest, ParsesListenAddresses) {
  auto v4 = ParseListenAddress("127.0.0.1:8080");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->ToString(), "127.0.0.1:8080");
  auto any = ParseListenAddress(":18000");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->ToString(), "0.0.0.0:18000");
  auto v6 = ParseListenAddress("[::1]:9901");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->ToString(), "[::1]:9901");
}

TEST(AddressTest, RejectsNamesAndBadPorts) {
  EXPECT_FALSE(ParseListenAddress("localhost:80").ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1").ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:99999").ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:8x").ok());
}

TEST(SocketTest, ListenReportsAddressInUse) {
  auto address = ParseListenAddress("127.0.0.1:0");
  ASSERT_TRUE(address.ok());
  auto fd = Listen(*address, false);
  ASSERT_TRUE(fd.ok());
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd.value(), reinterpret_cast<sockaddr*>(&bound), &len);
  Address taken;
  taken.storage = bound;
  taken.length = len;
  auto second = Listen(taken, false);
  EXPECT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on 127.0.0.1:"), std::string::npos);
  close(fd.value());
}

}  // namespace
}  // namespace sluice::net
