#include "dataplane/proxy_protocol/proxy_protocol.h"

#include <gtest/gtest.h>

#include "test/support/proxy_header.h"

namespace sluice::proxy_protocol {
namespace {

using testing::ProxyV1;
using testing::ProxyV2;

TEST(ProxyProtocolV1Test, Table) {
  struct Case {
    std::string input;
    Status status;
    const char* source;  // kDone and not local: the address
    int source_port;
  } cases[] = {
      {"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n", Status::kDone, "192.0.2.1", 56324},
      {"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", Status::kDone, "2001:db8::1", 1},
      {"PROXY TCP6 ::ffff:192.0.2.1 ::1 0 80\r\n", Status::kDone, "192.0.2.1", 0},
      {"PROXY UNKNOWN\r\n", Status::kDone, nullptr, 0},
      {"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", Status::kDone, nullptr, 0},
      // Incomplete beginnings wait for more.
      {"", Status::kNeedMore, nullptr, 0},
      {"PRO", Status::kNeedMore, nullptr, 0},
      {"PROXY ", Status::kNeedMore, nullptr, 0},
      {"PROXY TCP4 192.0.2.1 198.51.100.2 5632", Status::kNeedMore, nullptr, 0},
      {"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r", Status::kNeedMore, nullptr, 0},
      // Anything else is refused at once.
      {"GET / HTTP/1.1\r\n", Status::kInvalid, nullptr, 0},
      {"PROXX", Status::kInvalid, nullptr, 0},
      {"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n", Status::kInvalid, nullptr, 0},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n", Status::kInvalid, nullptr, 0},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX", Status::kInvalid, nullptr, 0},
      {"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", Status::kInvalid, nullptr, 0},
      {"PROXY TCP4 2001:db8::1 1.2.3.4 1 2\r\n", Status::kInvalid, nullptr, 0},
      {"PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n", Status::kInvalid, nullptr, 0},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n", Status::kInvalid, nullptr, 0},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n", Status::kInvalid, nullptr, 0},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", Status::kInvalid, nullptr, 0},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", Status::kInvalid, nullptr, 0},
      {"PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n", Status::kInvalid, nullptr, 0},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 1 -2\r\n", Status::kInvalid, nullptr, 0},
      {"PROXY " + std::string(120, 'A'), Status::kInvalid, nullptr, 0},
  };
  for (const Case& c : cases) {
    Result result = Parse(c.input);
    EXPECT_EQ(result.status, c.status) << c.input;
    if (c.status != Status::kDone || result.status != Status::kDone) continue;
    EXPECT_EQ(result.header.version, 1);
    EXPECT_EQ(result.length, c.input.find("\r\n") + 2) << c.input;
    if (c.source == nullptr) {
      EXPECT_TRUE(result.header.local) << c.input;
    } else {
      EXPECT_FALSE(result.header.local);
      EXPECT_EQ(result.header.source.ToString(), c.source);
      EXPECT_EQ(result.header.source_port, c.source_port);
    }
  }
}

TEST(ProxyProtocolV1Test, LongestValidHeaderFits) {
  std::string longest = ProxyV1("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
                                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
  EXPECT_LE(longest.size(), kMaxV1Length);
  EXPECT_EQ(Parse(longest).status, Status::kDone);
}

TEST(ProxyProtocolV2Test, AddressesOfBothFamilies) {
  std::string v4 = ProxyV2("192.0.2.1", 56324, "198.51.100.2", 443);
  Result result = Parse(v4 + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(result.status, Status::kDone);
  EXPECT_EQ(result.length, v4.size());
  EXPECT_EQ(result.header.version, 2);
  EXPECT_FALSE(result.header.local);
  EXPECT_EQ(result.header.source.ToString(), "192.0.2.1");
  EXPECT_EQ(result.header.source_port, 56324);
  EXPECT_EQ(result.header.destination.ToString(), "198.51.100.2");
  EXPECT_EQ(result.header.destination_port, 443);

  std::string v6 = ProxyV2("2001:db8::1", 1, "2001:db8::2", 2);
  result = Parse(v6);
  ASSERT_EQ(result.status, Status::kDone);
  EXPECT_EQ(result.header.source.ToString(), "2001:db8::1");
  EXPECT_EQ(result.length, v6.size());
}

TEST(ProxyProtocolV2Test, TlvsAreSkipped) {
  // PP2_TYPE_AUTHORITY "example.com" and an AWS VPC endpoint id TLV.
  std::string tlvs = std::string("\x02\x00\x0b", 3) + "example.com" + std::string("\xea\x00\x05\x01", 4) + "vpce";
  std::string header = ProxyV2("10.0.0.7", 1000, "10.0.0.1", 80, tlvs);
  Result result = Parse(header + "rest");
  ASSERT_EQ(result.status, Status::kDone);
  EXPECT_EQ(result.length, header.size());
  EXPECT_EQ(result.header.source.ToString(), "10.0.0.7");
}

TEST(ProxyProtocolV2Test, LocalUsesTheConnectionsAddress) {
  Result result = Parse(ProxyV2("10.0.0.7", 1000, "10.0.0.1", 80, {}, /*local=*/true));
  ASSERT_EQ(result.status, Status::kDone);
  EXPECT_TRUE(result.header.local);
  // LOCAL with no address block at all.
  std::string bare = std::string(testing::kProxyV2Signature) + std::string("\x20\x00\x00\x00", 4);
  result = Parse(bare);
  ASSERT_EQ(result.status, Status::kDone);
  EXPECT_TRUE(result.header.local);
  EXPECT_EQ(result.length, 16u);
  // PROXY over UNSPEC: no address either.
  result = Parse(std::string(testing::kProxyV2Signature) + std::string("\x21\x00\x00\x00", 4));
  ASSERT_EQ(result.status, Status::kDone);
  EXPECT_TRUE(result.header.local);
}

TEST(ProxyProtocolV2Test, IncompleteAndInvalid) {
  std::string header = ProxyV2("192.0.2.1", 1, "192.0.2.2", 2);
  for (size_t n = 1; n < header.size(); ++n) {
    EXPECT_EQ(Parse(header.substr(0, n)).status, Status::kNeedMore) << n;
  }
  auto with_byte = [&](size_t index, char value) {
    std::string changed = header;
    changed[index] = value;
    return Parse(changed).status;
  };
  EXPECT_EQ(with_byte(3, 'x'), Status::kInvalid);     // signature
  EXPECT_EQ(with_byte(12, '\x11'), Status::kInvalid);  // version 1 in a v2 header
  EXPECT_EQ(with_byte(12, '\x22'), Status::kInvalid);  // command 2
  EXPECT_EQ(with_byte(13, '\x12'), Status::kInvalid);  // INET over DGRAM
  EXPECT_EQ(with_byte(13, '\x41'), Status::kInvalid);  // family 4
  EXPECT_EQ(with_byte(15, '\x04'), Status::kInvalid);  // INET with a 4-byte block
  std::string huge = std::string(testing::kProxyV2Signature) + std::string("\x21\x11\x10\x01", 4);
  EXPECT_EQ(Parse(huge).status, Status::kInvalid);  // 4097 bytes
}

}  // namespace
}  // namespace sluice::proxy_protocol
